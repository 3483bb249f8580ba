"""What the reference-faithful choices change: each model trained both ways, compared.

Trains a model twice on the pipeline's data (`dvc repro build` first) with params.yaml's
settings and its first seed: as the pipeline does (reference initialisation; PyTorch's
cuDNN-style GRU) and one parameter away, then compares their test metrics, paired on the
same test observations (A = variant, B = pipeline's way):

    python benchmarks/fidelity.py init gru     # PyTorch's default initialisation
    python benchmarks/fidelity.py tf-gru gru   # a TensorFlow-style GRU (reset gate before
                                               # the recurrent product), reference init

--units and --epochs shrink the models for a quick look on a busy machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rnnmem import params
from rnnmem.analysis.metrics import HEADLINE, observation_sums
from rnnmem.analysis.prediction import predict
from rnnmem.analysis.stats import paired_bootstrap
from rnnmem.data.dataset import letters_typed, load_split, load_vocab
from rnnmem.kinds import KINDS
from rnnmem.models.checkpoint import ModelSpec
from rnnmem.models.language_model import LanguageModel, reference_init_
from rnnmem.training.train import train

DATA = "data/autocomplete"


class TFGRULayer(nn.Module):
    """TensorFlow's GRUCell over a sequence: r, u = sigmoid([x, h] W_g + b_g);
    c = tanh([x, r * h] W_c + b_c); h' = u * h + (1 - u) * c. The reset gate scales h
    before the recurrent product (PyTorch's GRU scales the product's result)."""

    def __init__(self, size: int, init: str) -> None:
        super().__init__()
        self.gates = nn.Linear(2 * size, 2 * size)
        self.candidate = nn.Linear(2 * size, size)
        if init == "pytorch":  # as nn.GRU: every weight and bias uniform in +-1/sqrt(size)
            for tensor in self.parameters():
                nn.init.uniform_(tensor, -(size**-0.5), size**-0.5)
            return
        limit = (6.0 / (4 * size)) ** 0.5  # Glorot over TF's [2h, 2h] gates kernel
        nn.init.uniform_(self.gates.weight, -limit, limit)
        nn.init.constant_(self.gates.bias, 1.0)
        limit = (6.0 / (3 * size)) ** 0.5  # ... and its [2h, h] candidate kernel
        nn.init.uniform_(self.candidate.weight, -limit, limit)
        nn.init.zeros_(self.candidate.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        size = self.candidate.out_features
        w_gx, w_gh = self.gates.weight.split(size, dim=1)
        w_cx, w_ch = self.candidate.weight.split(size, dim=1)
        gates_x = nn.functional.linear(x, w_gx, self.gates.bias).unbind(1)
        cand_x = nn.functional.linear(x, w_cx, self.candidate.bias).unbind(1)
        h = x.new_zeros(x.shape[0], size)
        out = []
        for gx, cx in zip(gates_x, cand_x, strict=True):
            r, u = torch.sigmoid(gx + h @ w_gh.t()).chunk(2, dim=1)
            c = torch.tanh(cx + (r * h) @ w_ch.t())
            h = u * h + (1 - u) * c
            out.append(h)
        return torch.stack(out, dim=1), h


@dataclasses.dataclass(frozen=True)
class TFGRUSpec(ModelSpec):
    """A GRU language model whose recurrent stack is TFGRULayer, initialised as `init` says."""

    def build(self) -> LanguageModel:
        model = LanguageModel("nlstm", self.n_chars, self.n_words, self.units, 1, 1)
        if self.init == "reference":
            reference_init_(model)
        model.kind = "gru"
        layers = (TFGRULayer(self.units, self.init) for _ in range(self.layers))
        model.recurrent = nn.ModuleList(layers)
        return model


def _fit(spec: ModelSpec, train_params: params.TrainParams, seed: int) -> LanguageModel:
    """Train `spec` as the train stage would, in a scratch directory; the trained model."""
    with tempfile.TemporaryDirectory() as tmp:
        train(
            spec,
            train_params,
            load_split(DATA, "train"),
            load_split(DATA, "valid"),
            seed=seed,
            output=Path(tmp) / "model.pt",
            checkpoint_dir=Path(tmp) / "checkpoints",
            live_dir=Path(tmp) / "live",
            snapshot_dir=Path(tmp) / "snapshots",
            fingerprint="fidelity",
            device="cpu",
            checkpoint_every=params.load_run().checkpoint_every,
        )
        stored = torch.load(Path(tmp) / "model.pt", weights_only=True)
    model = spec.build()
    model.load_state_dict(stored["state_dict"])
    return model


def _sums(model: LanguageModel, batch_size: int) -> pd.DataFrame:
    test = load_split(DATA, "test")
    seen = predict(model, test, batch_size, torch.device("cpu"))
    k = letters_typed(test.source)[seen.observation, seen.position]
    best = seen.top_words[:, 0]
    return observation_sums(seen.observation, seen.target, k, best, seen.target_log_prob, len(test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=("init", "tf-gru"))
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--units", type=int, help="instead of models.<kind>.units")
    parser.add_argument("--epochs", type=int, help="instead of train.epochs")
    parser.add_argument(
        "--init",
        choices=("reference", "pytorch"),
        default="reference",
        help="tf-gru: both GRUs initialised this way",
    )
    args = parser.parse_args()
    run = params.load()
    seed, model_params = run.seeds[0], run.models[args.kind]
    units = args.units or model_params.units
    train_params = dataclasses.replace(run.train, epochs=args.epochs or run.train.epochs)
    vocab = load_vocab(DATA)
    shape = (args.kind, len(vocab.chars), len(vocab.words), units, model_params.layers)
    pipeline = ModelSpec(*shape, model_params.depth, init=args.init)
    if args.variant == "init":
        pipeline = ModelSpec(*shape, model_params.depth, init="reference")
        variant = ModelSpec(*shape, model_params.depth, init="pytorch")
    else:
        variant = TFGRUSpec(*shape, None, init=args.init)
    sums = {}
    for name, spec in (("variant", variant), ("pipeline", pipeline)):
        start = time.perf_counter()
        sums[name] = _sums(_fit(spec, train_params, seed), train_params.batch_size)
        print(
            f"{name}: trained and evaluated in {time.perf_counter() - start:.0f} s", file=sys.stderr
        )
    rows = {}
    a, b = sums["variant"], sums["pipeline"]
    for metric, (num, den) in HEADLINE.items():
        diff, low, high = paired_bootstrap(a[num], a[den], b[num], b[den])
        rows[metric] = {
            "variant": float(a[num].sum() / a[den].sum()),
            "pipeline": float(b[num].sum() / b[den].sum()),
            "difference": float(diff),
            "ci_low": float(low),
            "ci_high": float(high),
            "significant": bool(np.isfinite(low) and (low > 0 or high < 0)),
        }
    run = {"variant": args.variant, "kind": args.kind, "seed": seed, "units": units}
    run["init"] = pipeline.init
    run["epochs"] = train_params.epochs
    print(json.dumps({"run": run, "metrics": rows}, indent=1))


if __name__ == "__main__":
    main()
