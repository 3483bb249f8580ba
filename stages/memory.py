"""Stage `memory@<kind>-<seed>`: how far back one trained model remembers, against ground truth.

On a corpus with planted pairs (the probe): referent accuracy and log-probability by distance
beside the placebo level, the antecedent-swap intervention, memory span, and the connectivity
AUC of antecedent against a matched control. On any corpus: the context-ablation curve and
effective context. Writes metrics.json, the curves and warnings.json (also printed: a model
that learned no recall) to reports/memory/seeds/<kind>/seed<seed>/; `aggregate@<kind>` combines
the seeds. Every interval is `<metric>_ci_low` / `<metric>_ci_high`.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from rnnmem import params
from rnnmem.analysis import ablation, dependency, memory
from rnnmem.analysis.connectivity import connectivity_matrix
from rnnmem.data import probe
from rnnmem.data.dataset import load_split, load_vocab
from rnnmem.device import resolve_device
from rnnmem.models.checkpoint import load_model
from rnnmem.stage import UserError, path_options, run_stage, write_csv, write_json


def _plain(value):
    """JSON-safe: NaN and infinities become null, numpy numbers Python ones."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return value if not isinstance(value, float) or np.isfinite(value) else None


def _split_intervals(metrics: dict) -> dict:
    """`<metric>_interval: [low, high]` as the `<metric>_ci_low` / `_ci_high` pair every other
    metrics file of the project uses."""
    out = {}
    for key, value in metrics.items():
        if key.endswith("_interval"):
            name = key.removesuffix("_interval")
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = value
        else:
            out[key] = value
    return out


def _warnings(metrics: dict) -> list[str]:
    """What a reader must know before trusting the figures: a model that learned no recall."""
    if metrics.get("memory_span_chars") == 0:
        return [
            "memory span 0: referents are named no better than placebos"
            " (profiles/memory.yaml trains a GRU that remembers; docs/memory.md)"
        ]
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=params.MODEL_KINDS)
    parser.add_argument("seed", type=int)
    path_options(
        parser,
        data="the dataset folder",
        dependencies="the corpus's planted pairs (parquet)",
        model="the trained model file",
        out="folder for metrics.json, the curves and warnings.json",
    )
    args = parser.parse_args()
    kind, seed, data, pairs = args.kind, args.seed, args.data, args.dependencies
    settings = params.load("memory")
    batch_size = params.load("train").batch_size
    device = resolve_device(params.load("train").device)
    model, _, _ = load_model(args.model, device)
    vocab = load_vocab(data)
    test = load_split(data, "test")
    if test.offset is None:
        raise UserError(f"{data} has no observation offsets; rerun `dvc repro build`")
    if not pairs.is_file():
        raise UserError(f"{pairs} not found; run `dvc repro download`")
    out = args.out

    items = memory.planted_items(test, pd.read_parquet(pairs))
    metrics: dict = {"model": kind, "seed": seed}
    if (items["kind"] == probe.RECALL).any():
        scores = memory.referent_scores(model, test, items, batch_size)
        classes = [names for _, names in probe.NAME_CLASSES]
        effects = memory.intervention_effects(
            model, test, items, classes, vocab.chars, batch_size, settings.seed
        )
        curve, summary = memory.memory_curve(items, scores, effects, seed=settings.seed)
        pairs = dependency.connectivity_pairs(
            model, test, items, connectivity_matrix, settings.connectivity_observations
        )
        by_distance, connectivity = dependency.connectivity_summary(
            items, pairs, effects, seed=settings.seed
        )
        metrics |= summary | connectivity
        write_csv(out / "curve.csv", curve)
        write_csv(out / "connectivity.csv", by_distance)
    else:  # no planted pairs (text8, a user's file): only the ablation applies
        metrics |= dict.fromkeys(
            (
                "memory_span_chars",
                "referent_top1_k1",
                "placebo_top1_k1",
                "intervention_effect_k1",
                "connectivity_auc_k1",
            )
        )
        # DVC expects every declared output: the curves are written without rows.
        write_csv(out / "curve.csv", pd.DataFrame(columns=["distance", "pairs", "top1_k1"]))
        write_csv(out / "connectivity.csv", pd.DataFrame(columns=["distance", "pairs", "auc_k1"]))

    rows = np.arange(min(settings.ablation_observations, len(test)))
    windows, context = ablation.context_ablation(
        model, test, rows, sorted(settings.windows), settings.seed
    )
    full = windows[windows["label"] == "full"]
    metrics |= context | {"full_cross_entropy": float(full["cross_entropy"].item())}
    write_csv(out / "ablation.csv", windows[windows["label"] != "full"].drop(columns="label"))
    write_json(out / "metrics.json", _plain(_split_intervals(metrics)))
    notes = _warnings(metrics)
    write_json(out / "warnings.json", notes)
    for note in notes:
        print(f"warning: {kind}: {note}", file=sys.stderr)
    span, effect = metrics["memory_span_chars"], metrics["intervention_effect_k1"]
    print(
        f"{kind}: memory span {span} chars, intervention effect (k = 1) {effect}, "
        f"connectivity AUC (k = 1) {metrics['connectivity_auc_k1']}, "
        f"effective context {metrics['effective_context_chars']} chars"
    )


if __name__ == "__main__":
    run_stage(main)
