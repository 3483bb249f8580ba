"""Does a training configuration learn the probe's recall task? Memory span over training steps.

Trains one model on a built dataset the way `rnnmem.training.train.train` does (same seeding, model,
batches from `epoch_batches`, Adam, gradient clipping, masked loss), so step N here is the
pipeline's step N, but without validation, early stopping or checkpoints. Every
`--eval-every` steps it measures the memory curve with `rnnmem.analysis.memory.span` on the first
`--observations` rows of the validation split: referent against placebo top-1 at k = 1 by
distance bucket, and the memory span with its interval. Each evaluation is appended as one
JSON line to `--log`, so a sweep keeps the record of every run.

    OMP_NUM_THREADS=1 python benchmarks/memory_sweep.py --kind gru --units 128 --layers 1 \
        --init pytorch --steps 1500 --name gru1x128

Needs `data/autocomplete` and `data/corpus/dependencies.parquet` (`dvc repro build`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rnnmem.analysis.memory import planted, scoring, span
from rnnmem.analysis.stats import Resampling
from rnnmem.data.dataset import Split, load_split, load_vocab
from rnnmem.data.probe import RECALL
from rnnmem.files import json_text
from rnnmem.kinds import INITS, KINDS
from rnnmem.models.checkpoint import ModelSpec
from rnnmem.models.objective import masked_loss
from rnnmem.training.train import batch_tensors, epoch_batches


def subset(split: Split, rows: int) -> Split:
    """The first `rows` observations of a split (offsets kept, so planted pairs are found)."""
    keep = slice(0, rows)
    return Split(split.source[keep], split.target[keep], split.length[keep], split.offset[keep])


def evaluate(model: torch.nn.Module, split: Split, deps: pd.DataFrame, seed: int) -> dict:
    """Memory span, its interval and referent / placebo top-1 at k = 1, overall and by bucket."""
    items = planted.planted_items(split, deps)
    scores = scoring.referent_scores(model, split, items)
    resampling = Resampling.over(items["observation"].to_numpy(), seed)
    curve, summary = span.memory_curve(items, scores, resampling)
    recall = items["kind"] == RECALL
    return {
        "span": summary["memory_span_chars"],
        "span_interval": summary["memory_span_chars_interval"],
        "referent_top1_k1": round(float(scores["top1_k1"][recall].mean()), 4),
        "placebo_top1_k1": round(summary["placebo_top1_k1"], 4),
        "referent_top1_k0": round(float(scores["top1_k0"][recall].mean()), 4),
        "bucket_top1_k1": [round(v, 3) for v in curve["top1_k1"]],
        "bucket_top1_k1_low": [round(v, 3) for v in curve["top1_k1_low"]],
        "pairs": summary["pairs"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="run label in the log")
    parser.add_argument("--kind", choices=KINDS, default="gru")
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--depth", type=int, default=2, help="the Nested LSTM's (nlstm only)")
    parser.add_argument("--init", choices=INITS, default="pytorch")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--observations", type=int, default=400, help="validation rows scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="data/autocomplete")
    parser.add_argument("--deps", default="data/corpus/dependencies.parquet")
    parser.add_argument("--log", default="benchmarks/memory_runs.jsonl")
    args = parser.parse_args()

    torch.set_num_threads(1)
    vocab = load_vocab(args.data)
    train, valid = load_split(args.data, "train"), load_split(args.data, "valid")
    valid = subset(valid, args.observations)
    deps = pd.read_parquet(args.deps)
    spec = ModelSpec(
        args.kind,
        len(vocab.chars),
        len(vocab.words),
        args.units,
        args.layers,
        args.depth if args.kind == "nlstm" else None,
        args.init,
    )
    config = {k: v for k, v in vars(args).items() if k not in ("data", "deps", "log")}
    torch.manual_seed(args.seed)  # as rnnmem.training.train does: seed, then build
    model = spec.build()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = -(-len(train) // args.batch)
    started, losses, batches, epoch_seen = time.perf_counter(), [], [], -1
    for step in range(1, args.steps + 1):
        epoch, position = divmod(step - 1, steps_per_epoch)
        if epoch != epoch_seen:
            batches, epoch_seen = epoch_batches(train.length, args.batch, args.seed, epoch), epoch
        x, y = batch_tensors(train, batches[position], torch.device("cpu"))
        loss = masked_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        losses.append(loss.item())
        if step % args.eval_every and step != args.steps:
            continue
        paused = time.perf_counter()
        train_seconds = paused - started
        result = evaluate(model, valid, deps, args.seed)
        model.train()
        row = {
            **config,
            "step": step,
            "train_seconds": round(train_seconds, 1),
            "train_loss": round(float(np.mean(losses[-args.eval_every :])), 4),
            **result,
        }
        with Path(args.log).open("a") as log:
            log.write(json_text(row, indent=None))
        print(
            f"{args.name} step {step} {train_seconds:.0f}s loss {row['train_loss']:.3f} "
            f"span {row['span']} {row['span_interval']} ref k1 {row['referent_top1_k1']:.3f} "
            f"placebo k1 {row['placebo_top1_k1']:.3f} buckets {row['bucket_top1_k1']}",
            flush=True,
        )
        started += time.perf_counter() - paused  # evaluation is not training time


if __name__ == "__main__":
    main()
