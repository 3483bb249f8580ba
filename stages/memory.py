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
from rnnmem.analysis.memory import (
    ablation,
    attribution,
    auc,
    half_life,
    intervention,
    natural,
    planted,
    scoring,
    span,
    swaps,
)
from rnnmem.analysis.stats import Resampling
from rnnmem.data import probe
from rnnmem.data.dataset import Split, load_split, load_vocab
from rnnmem.device import resolve_device
from rnnmem.files import atomic_dir, write_csv, write_json
from rnnmem.kinds import KINDS
from rnnmem.models.checkpoint import load_model
from rnnmem.stage import UserError, made_by, path_options, run_stage

# Measures that need planted pairs: null on a corpus without them.
PAIR_MEASURES = (
    "memory_span_chars",
    "memory_span_censored",
    "recalls_k1",
    "below_placebos_k1",
    "referent_top1_k1",
    "placebo_top1_k1",
    "recall_gap_k1",
    "intervention_effect_k1",
    "connectivity_auc_k0",
    "connectivity_auc_k1",
    "signed_auc_k0",
    "signed_auc_k1",
)
LONG_MEASURES = (
    "memory_half_life_chars",
    "memory_half_life_censored",
    "memory_half_life_censored_share",
    "memory_half_life_confounded",
    "memory_position_effect_k1",
    "long_near_early_gap_k1",
)
CURVES = {  # file -> the columns a file without rows keeps
    "curve.csv": ["distance", "pairs", "top1_k1", "placebo_top1_k1", "gap_k1", "effect_k1"],
    "connectivity.csv": ["distance", "pairs_k0", "connectivity_auc_k0", "signed_auc_k0"],
    "long_curve.csv": ["distance", "distance_middle", "pairs", "gap_k1"],
    "natural.csv": ["distance", "repeats", "repeat_gain_k1", "swap_effect_k1"],
}


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
    """What a reader must know before reading the figures: a model that shows no recall by
    the recall rule (its attribution AUCs and half-life then have nothing to find), one that
    names referents below placebos, a half-life withheld because position moves recall, and
    an effective context that the tolerance decides."""
    notes = []
    if metrics.get("recall_gap_k1") is not None and not metrics.get("recalls_k1"):
        notes.append(
            "no recall: the recall gap's 95 % interval does not lie above memory.min_gap, so "
            "the attribution AUCs and the half-life have nothing to find"
        )
    if metrics.get("below_placebos_k1"):
        notes.append("referents named below placebos at the same positions (interval under 0)")
    if metrics.get("memory_half_life_confounded"):
        notes.append(
            "half-life withheld: near pairs late in a long observation are recalled differently "
            "from early ones, so distance from the name and position in the text cannot be "
            "told apart"
        )
    if metrics.get("effective_context_tolerance_sensitive"):
        notes.append(
            "effective context changes for a tolerance between half and twice "
            "memory.ablation_tolerance_nats: read the added loss by window instead"
        )
    return notes


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
    scores = scoring.referent_scores(model, test, items, batch_size)
    classes = [names for _, names in probe.NAME_CLASSES]
    names = [
        intervention.alternatives(test, items, classes, settings.swaps, settings.seed, k == 1)
        for k in (0, 1)
    ]
    effects = intervention.intervention_effects(model, test, items, names[0], batch_size)
    curve, summary = span.memory_curve(items, scores, resampling, min_gap=settings.min_gap)
    by_effect, effect = swaps.effect_curve(items, effects, resampling, settings.seed)
    comparisons, truths = attribution.attribution(
        model, test, items, names, words, settings.attribution_observations
    )
    draws = auc.NameDraws.over(classes, len(resampling.weights), settings.seed)
    by_distance, aucs = auc.attribution_summary(items, comparisons, truths, resampling, draws)
    curves = {
        "curve.csv": curve.merge(by_effect, on="distance"),
        "connectivity.csv": by_distance,
    }
    tables = {"items": items.join(scores), "effects": effects, "attribution": comparisons}
    return summary | effect | aucs, curves, tables


def _long_range(
    model: nn.Module,
    folder: Path,
    settings: params.MemoryParams,
    late_from: int,
    batch_size: int,
) -> tuple[dict, pd.DataFrame]:
    """The memory curve and half-life on the long-range probe: (metrics, curve)."""
    long = load_split(folder, "test")
    items = planted.planted_items(long, pd.read_parquet(folder / "dependencies.parquet"))
    if not (items["kind"] == probe.RECALL).any():  # a vocabulary without the probe's names
        return dict.fromkeys(LONG_MEASURES), pd.DataFrame(columns=CURVES["long_curve.csv"])
    scores = scoring.referent_scores(model, long, items, batch_size)
    resampling = Resampling.over(items["observation"].to_numpy(), settings.seed)
    edges = probe.long_edges(settings.long_probe_length)
    curve, summary = half_life.half_life(
        items, scores, resampling, edges, late_from, settings.min_gap
    )
    return summary, curve


def _natural(
    model: nn.Module,
    test: Split,
    args: argparse.Namespace,
    settings: params.MemoryParams,
    max_length: int,
    batch_size: int,
    words: list[str],
) -> tuple[dict, pd.DataFrame, Tables]:
    """Memory on words that repeat (any corpus): repeat gain and swap effect by distance and
    pooled, and the natural span; the intact scores are the evaluate stage's predictions.
    Returns (metrics, curve, tables for the compare stage)."""
    items = pd.read_parquet(args.natural / "items.parquet")
    items = items.drop(columns=[c for c in items.columns if c.startswith("ngram_")])
    scores = natural.scores_from_predictions(items, pd.read_parquet(args.predictions))
    common = natural.common_words(load_split(args.data, "train"), settings.common_words)
    names = intervention.swap_words(test, items, words, common, settings.swaps, settings.seed)
    effects = intervention.swap_effects(model, test, items, scores, names, batch_size)
    data = items.join(scores)
    resampling = Resampling.over(items["observation"].to_numpy(), settings.seed)
    edges = natural.distance_edges(max_length)
    curve, summary = natural.natural_curve(
        data, effects, resampling, settings.seed, edges, settings.min_effect_nats
    )
    tables = {"natural": data.drop(columns="earlier"), "natural_effects": effects}
    return summary, curve, tables


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
        natural="the test split's word starts (the baseline stage's folder)",
        predictions="the model's test predictions (the evaluate stage's parquet)",
    )
    args = parser.parse_args()
    kind, seed, data, pairs = args.kind, args.seed, args.data, args.dependencies
    made_by(
        {
            data: "build",
            args.model: f"train@{kind}-{seed}",
            args.long_probe: "longprobe",
            args.natural: "baseline",
            args.predictions: f"evaluate@{kind}-{seed}",
        }
    )
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

    items = planted.planted_items(test, pd.read_parquet(pairs))
    metrics: dict = {"model": kind, "seed": seed}
    curves: Tables = {}
    # the compare stage reads every run's tables: without planted pairs they have no rows
    tables = {
        "items": items.assign(**dict.fromkeys(planted.SCORE_COLUMNS, 0.0)),
        "effects": pd.DataFrame(columns=intervention.EFFECT_COLUMNS),
        "attribution": pd.DataFrame(columns=attribution.COMPARISON_COLUMNS),
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
    found, curves["natural.csv"], kept = _natural(
        model, test, args, settings, max_length, batch_size, vocab.words
    )
    metrics |= found
    tables |= kept
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
        write_json(out / "metrics.json", _split_intervals(metrics))
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
        f" (censored: {metrics['effective_context_censored']}), swap effect on repeated words"
        f" (k = 1) {metrics['natural_swap_effect_k1']:.3f} nats"
    )


if __name__ == "__main__":
    run_stage(main)
