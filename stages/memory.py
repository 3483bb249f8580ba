"""Stage `memory@<kind>-<seed>`: how far back one trained model remembers, against ground truth.

On a corpus with planted pairs (the probe): referent accuracy and log-probability by distance
beside the position-matched placebo level, memory span, the antecedent-swap intervention, and
the connectivity AUC of the true referent against alternative names (unsigned and signed); on
the long-range probe (`longprobe` stage), the memory curve out to nearly a thousand characters
and the memory half-life. On any corpus: the context-ablation curve and effective context.
Writes metrics.json, the curves and warnings.json (also printed: a model that learned no recall)
to reports/memory/seeds/<kind>/seed<seed>/, and the per-pair tables the compare stage pairs
models on to data/memory/<kind>/seed<seed>/; each folder is replaced whole. `aggregate@<kind>`
combines the seeds. Every interval is `<metric>_ci_low` / `<metric>_ci_high`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from rnnmem import params
from rnnmem.analysis import ablation, dependency, intervention, memory
from rnnmem.analysis.stats import Resampling
from rnnmem.data import probe
from rnnmem.data.dataset import Split, load_split, load_vocab
from rnnmem.device import resolve_device
from rnnmem.files import atomic_dir, write_csv, write_json
from rnnmem.models.checkpoint import load_model
from rnnmem.models.kinds import KINDS
from rnnmem.stage import UserError, made_by, path_options, run_stage

# Measures that need planted pairs: null on a corpus without them.
PAIR_MEASURES = (
    "memory_span_chars",
    "memory_span_censored",
    "referent_top1_k1",
    "placebo_top1_k1",
    "recall_gap_k1",
    "intervention_effect_k1",
    "connectivity_auc_k0",
    "connectivity_auc_k1",
    "signed_auc_k0",
    "signed_auc_k1",
)
LONG_MEASURES = ("memory_half_life_chars", "memory_half_life_censored", "long_near_gap_k1")
CURVES = {  # file -> the columns a file without rows keeps
    "curve.csv": ["distance", "pairs", "top1_k1", "gap_k1", "effect_k1"],
    "connectivity.csv": ["distance", "pairs_k0", "connectivity_auc_k0", "signed_auc_k0"],
    "long_curve.csv": ["distance", "distance_middle", "pairs", "gap_k1"],
}


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
    """What a reader must know before reading the figures: a model that learned no recall
    (its attribution AUCs and half-life then have nothing to find)."""
    if metrics.get("memory_span_chars") == 0:
        return [
            "memory span 0: even the nearest referents are named no better than placebos"
            " (by less than memory.min_gap); this model learned no recall"
        ]
    return []


Tables = dict[str, pd.DataFrame]


def _planted(
    model: nn.Module,
    test: Split,
    items: pd.DataFrame,
    settings: params.MemoryParams,
    batch_size: int,
    words: list[str],
) -> tuple[dict, Tables, Tables]:
    """Everything measured on the test split's planted pairs: (metrics, curves, tables)."""
    resampling = Resampling.over(items["observation"].to_numpy(), settings.seed)
    scores = memory.referent_scores(model, test, items, batch_size)
    classes = [names for _, names in probe.NAME_CLASSES]
    names = [
        intervention.alternatives(test, items, classes, settings.swaps, settings.seed, k == 1)
        for k in (0, 1)
    ]
    effects = intervention.intervention_effects(model, test, items, names[0], batch_size)
    curve, summary = memory.memory_curve(items, scores, resampling, min_gap=settings.min_gap)
    by_effect, effect = intervention.effect_curve(items, effects, resampling, settings.seed)
    comparisons, truths = dependency.attribution(
        model, test, items, names, words, settings.attribution_observations
    )
    draws = dependency.NameDraws.over(classes, len(resampling.weights), settings.seed)
    by_distance, attribution = dependency.attribution_summary(
        items, comparisons, truths, effects, resampling, draws
    )
    curves = {
        "curve.csv": curve.merge(by_effect, on="distance"),
        "connectivity.csv": by_distance,
    }
    tables = {"items": items.join(scores), "effects": effects, "attribution": comparisons}
    return summary | effect | attribution, curves, tables


def _long_range(
    model: nn.Module,
    folder: Path,
    settings: params.MemoryParams,
    late_from: int,
    batch_size: int,
) -> tuple[dict, pd.DataFrame]:
    """The memory curve and half-life on the long-range probe: (metrics, curve)."""
    long = load_split(folder, "test")
    items = memory.planted_items(long, pd.read_parquet(folder / "dependencies.parquet"))
    if not (items["kind"] == probe.RECALL).any():  # a vocabulary without the probe's names
        return dict.fromkeys(LONG_MEASURES), pd.DataFrame(columns=CURVES["long_curve.csv"])
    scores = memory.referent_scores(model, long, items, batch_size)
    resampling = Resampling.over(items["observation"].to_numpy(), settings.seed)
    edges = probe.long_edges(settings.long_probe_length)
    curve, summary = memory.half_life(items, scores, resampling, edges, late_from)
    return summary, curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("seed", type=int)
    path_options(
        parser,
        data="the dataset folder",
        dependencies="the corpus's planted pairs (parquet)",
        long_probe="the long-range test set folder (the longprobe stage's)",
        model="the trained model file",
        out="folder for metrics.json, the curves and warnings.json",
        items="folder for the per-pair tables the compare stage reads",
    )
    args = parser.parse_args()
    kind, seed, data, pairs = args.kind, args.seed, args.data, args.dependencies
    made_by({data: "build", args.model: f"train@{kind}-{seed}", args.long_probe: "longprobe"})
    run = params.load()
    settings = run.memory
    max_length = run.dataset.max_length
    batch_size = run.train.batch_size
    device = resolve_device(params.load_run().device)
    vocab = load_vocab(data)
    model, _, _ = load_model(args.model, device, vocab)
    test = load_split(data, "test")
    if test.offset is None:
        raise UserError(f"{data} has no observation offsets; rerun `dvc repro build`")
    if not pairs.is_file():
        raise UserError(f"{pairs} not found; run `dvc repro download`")
    if not (args.long_probe / "dependencies.parquet").is_file():
        raise UserError(f"{args.long_probe} holds no long-range probe; run `dvc repro longprobe`")

    items = memory.planted_items(test, pd.read_parquet(pairs))
    metrics: dict = {"model": kind, "seed": seed}
    curves: Tables = {}
    # the compare stage reads every run's tables: without planted pairs they have no rows
    tables = {
        "items": items.assign(**dict.fromkeys(memory.SCORE_COLUMNS, 0.0)),
        "effects": pd.DataFrame(columns=intervention.EFFECT_COLUMNS),
        "attribution": pd.DataFrame(columns=dependency.COMPARISON_COLUMNS),
    }
    if (items["kind"] == probe.RECALL).any():
        found, curves, tables = _planted(model, test, items, settings, batch_size, vocab.words)
        metrics |= found
    else:  # no planted pairs (text8, a user's file): the ablation and the long probe apply
        metrics |= dict.fromkeys(PAIR_MEASURES)
    long_metrics, curves["long_curve.csv"] = _long_range(
        model, args.long_probe, settings, max_length, batch_size
    )
    metrics |= long_metrics
    windows = [w for w in sorted(settings.windows) if w < max_length]
    if not windows:
        raise UserError(
            f"every memory.windows entry is at least dataset.max_length = {max_length}; "
            "give shorter windows"
        )
    rows = np.arange(min(settings.ablation_observations, len(test)))
    ablated, context = ablation.context_ablation(
        model, test, rows, settings.ablation_tolerance_nats, windows, settings.seed
    )
    full = ablated[ablated["label"] == "full"]
    metrics |= context | {"full_cross_entropy": float(full["cross_entropy"].item())}
    notes = _warnings(metrics)
    with atomic_dir(args.out) as out, atomic_dir(args.items) as kept:
        for name, columns in CURVES.items():
            # DVC expects every declared output: a curve without planted pairs has no rows.
            write_csv(out / name, curves.get(name, pd.DataFrame(columns=columns)))
        write_csv(out / "ablation.csv", ablated[ablated["label"] != "full"].drop(columns="label"))
        write_json(out / "metrics.json", _plain(_split_intervals(metrics)))
        write_json(out / "warnings.json", notes)
        for name, table in tables.items():
            table.to_parquet(kept / f"{name}.parquet")
    for note in notes:
        print(f"warning: {kind}: {note}", file=sys.stderr)
    print(
        f"{kind}: memory span {metrics['memory_span_chars']} chars"
        f" (censored: {metrics['memory_span_censored']}), intervention effect (k = 1)"
        f" {metrics['intervention_effect_k1']}, connectivity AUC (k = 0)"
        f" {metrics['connectivity_auc_k0']}, half-life {metrics['memory_half_life_chars']}"
        f" chars, effective context {metrics['effective_context_chars']} chars"
        f" (censored: {metrics['effective_context_censored']})"
    )


if __name__ == "__main__":
    run_stage(main)
