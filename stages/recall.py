"""Stage `recall@<kind>-<seed>`: the recall gap at every training snapshot, and steps to recall.

Reads the snapshots the train stage kept (the model before the first step and at every
validation) and measures each on the planted pairs of the first `memory.recall_observations`
validation observations that hold one. Writes curve.csv (step, gap with its 95 % interval,
referent and position-matched placebo top-1 at k = 1) and metrics.json (steps_to_recall by
the recall rule with `memory.min_gap`, recall_reached, the validation interval that is its
resolution). On a corpus without planted
pairs it says so once and writes the curve without rows.
"""

from __future__ import annotations

import argparse

import pandas as pd

from rnnmem import params
from rnnmem.analysis.memory import recall
from rnnmem.analysis.memory.planted import planted_items
from rnnmem.data.dataset import load_split, load_vocab
from rnnmem.data.probe import RECALL
from rnnmem.device import resolve_device
from rnnmem.files import atomic_dir, write_csv, write_json
from rnnmem.kinds import KINDS
from rnnmem.models.checkpoint import load_model
from rnnmem.stage import UserError, made_by, path_options, run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("seed", type=int, help="training seed, one of params.yaml's seeds")
    path_options(
        parser,
        data="the dataset folder",
        dependencies="the corpus's planted pairs (parquet)",
        snapshots="the train stage's snapshot folder (step-NNNNNNNN.pt)",
        out="folder for curve.csv and metrics.json",
    )
    args = parser.parse_args()
    made_by({args.data: "build", args.snapshots: f"train@{args.kind}-{args.seed}"})
    run = params.load()
    settings, train = run.memory, run.train
    device = resolve_device(params.load_run().device)
    valid, vocab = load_split(args.data, "valid"), load_vocab(args.data)
    if not args.dependencies.is_file():
        raise UserError(f"{args.dependencies} not found; run `dvc repro download`")
    paths = sorted(args.snapshots.glob("step-*.pt"))
    if not paths:
        fix = f"run `dvc repro train@{args.kind}-{args.seed}`"
        raise UserError(f"{args.snapshots} holds no snapshots; {fix}")
    items = planted_items(valid, pd.read_parquet(args.dependencies))
    items = recall.first_observations(items, settings.recall_observations)
    run = f"{args.kind}/seed{args.seed}"
    if (items["kind"] == RECALL).any():
        snapshots = (
            (meta["step"], model)
            for model, _, meta in (load_model(path, device, vocab) for path in paths)
        )
        curve = recall.recall_curve(snapshots, valid, items, seed=settings.seed)
        reached = recall.steps_to_recall(curve["step"], curve["gap_low"], settings.min_gap)
        last = curve.iloc[-1]
        print(
            f"{run}: recall gap at step {int(last['step'])} {last['gap']:.3f} "
            f"[{last['gap_low']:.3f}, {last['gap_high']:.3f}]; steps to recall: "
            + (f"{reached}" if reached is not None else f"not within {int(last['step'])}")
        )
    else:
        print(f"{run}: the corpus has no planted pairs; recall over training is not measured")
        curve, reached = pd.DataFrame(columns=list(recall.CURVE_COLUMNS)), None
    metrics = {
        "steps_to_recall": reached,
        "steps_trained": max(int(p.stem.removeprefix("step-")) for p in paths),
        "recall_reached": reached is not None,
        "validation_interval": train.eval_every,
        "recall_pairs": int((items["kind"] == RECALL).sum()),
        "recall_observations": int(items["observation"].nunique()),
    }
    with atomic_dir(args.out) as tmp:
        write_csv(tmp / "curve.csv", curve)
        write_json(tmp / "metrics.json", metrics)


if __name__ == "__main__":
    run_stage(main)
