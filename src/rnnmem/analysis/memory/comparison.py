"""Memory compared between models, paired on the same resampled observations.

The memory stage keeps, per model and seed, the tables its measures come from: every planted
item with its scores, every swap's intervention effect and every attribution comparison. Here
each model's memory span, intervention effect and connectivity AUCs are recomputed on one
bootstrap of the test observations, the `Resampling` of `memory.seed` over the observations
that hold planted items (the same for every model, since they read the same test split), with
the same draws of swaps and of names. Over several seeds a model's measure, in the sample and
in each replicate, is its mean over seeds. The difference A - B of two models is then paired:
what the drawn observations have in common cancels, as for the test metrics' comparisons.
The memory span is not compared here: it is read off the buckets' intervals by the recall
rule (`rule.recalls`), so it has no bootstrap replicates to pair; the models' recall gaps
and bucket curves, each with its interval, say where they differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from rnnmem.analysis.memory import auc, natural, swaps
from rnnmem.analysis.memory.matching import matched_gap
from rnnmem.analysis.stats import Resampling, interval

INTERVAL = "paired bootstrap over test observations (95 %), seeds averaged per replicate"
TABLES = ("items", "effects", "attribution")  # <name>.parquet, in MemoryTables' order
NATURAL_TABLES = ("natural", "natural_effects")  # <name>.parquet: memory on repeated words
NGRAM = "ngram"  # the n-gram baseline, compared with the models on the repeat gain


@dataclass(frozen=True)
class MemoryTables:
    """One run's per-pair tables, as the memory stage writes them."""

    items: pd.DataFrame  # planted items joined with their referent scores
    effects: pd.DataFrame  # one row per (item, swap)
    attribution: pd.DataFrame  # one row per (item, k, alternative name)


def measures(
    tables: MemoryTables, resampling: Resampling, names: auc.NameDraws, seed: int
) -> dict[str, tuple[float, np.ndarray]]:
    """Each compared measure of one run, in the sample and in every replicate."""
    items = tables.items
    gap = matched_gap(items, "top1_k1", resampling)
    found = {"recall_gap_k1": (gap.gap, gap.gap_reps)}
    resamples = len(resampling.weights)
    for k in (0, 1):
        pairs = swaps.pair_effects(items, tables.effects, f"effect_k{k}", resamples, seed)
        found[f"intervention_effect_k{k}"] = pairs.estimate(resampling)
    for k in (0, 1):
        for name, signed in (("connectivity_auc", False), ("signed_auc", True)):
            found[f"{name}_k{k}"] = auc.auc(items, tables.attribution, k, signed, resampling, names)
    return found


def _row(a: str, b: str, name: str, one: tuple, other: tuple) -> dict[str, Any]:
    """A - B of one measure, each (value, replicates) on the same resampled observations."""
    low, high = interval(one[1] - other[1])
    return {
        "a": a,
        "b": b,
        "metric": name,
        "difference": float(one[0] - other[0]),
        "ci_low": float(low),
        "ci_high": float(high),
        "significant": bool(np.isfinite(low) and (low > 0 or high < 0)),
    }


def _over_seeds(found: Sequence[dict[str, tuple]]) -> dict[str, tuple[float, np.ndarray]]:
    """Each measure's mean over seeds, in the sample and in every replicate."""
    return {
        name: (
            float(np.mean([f[name][0] for f in found])),
            np.mean([f[name][1] for f in found], axis=0),
        )
        for name in found[0]
    }


def paired_natural(
    runs: Mapping[str, Sequence[tuple[pd.DataFrame, pd.DataFrame]]],
    ngram: pd.DataFrame,
    seed: int,
) -> list[dict[str, Any]]:
    """Memory on repeated words, paired: each model's repeat gain and swap effect at k = 1
    (mean over its seeds) against every other model's, and its repeat gain against the n-gram
    baseline's on the same items (`NGRAM`, from its ngram_top1_k1 hits), all on one bootstrap
    of the test observations that hold an eligible word start. `runs` hold each seed's
    (items with scores, swap effects) as the memory stage keeps them."""
    resampling = Resampling.over(ngram["observation"].to_numpy(), seed)
    resamples = len(resampling.weights)
    gain = "natural_repeat_gain_k1"
    per_model = {}
    for kind, tables in runs.items():
        found = []
        for items, effects in tables:
            measures = {gain: natural.repeat_gain(items, "top1_k1", resampling)["gain"]}
            if len(effects):
                pairs = swaps.pair_effects(items, effects, "effect_k1", resamples, seed)
                measures["natural_swap_effect_k1"] = pairs.estimate(resampling)
            found.append(measures)
        per_model[kind] = _over_seeds(found)
    rows = [
        _row(a, b, name, per_model[a][name], per_model[b][name])
        for a, b in combinations(per_model, 2)
        for name in per_model[a]
        if name in per_model[b]
    ]
    baseline = natural.repeat_gain(ngram, "ngram_top1_k1", resampling)["gain"]
    rows += [_row(kind, NGRAM, gain, found[gain], baseline) for kind, found in per_model.items()]
    return rows


def paired_memory(
    runs: Mapping[str, Sequence[MemoryTables]],
    classes: Sequence[Sequence[str]],
    seed: int,
) -> list[dict[str, Any]]:
    """For each pair of models and each measure: A - B (each model's mean over its seeds)
    with its paired-bootstrap interval, and whether 0 lies outside it."""
    first = next(iter(runs.values()))[0].items
    observations = np.sort(first["observation"].to_numpy())
    for kind, tables in runs.items():
        for table in tables:
            if not np.array_equal(np.sort(table.items["observation"].to_numpy()), observations):
                raise ValueError(f"{kind}'s planted items differ from the other models'")
    resampling = Resampling.over(observations, seed)
    names = auc.NameDraws.over(classes, len(resampling.weights), seed)
    per_model = {
        kind: _over_seeds([measures(t, resampling, names, seed) for t in tables])
        for kind, tables in runs.items()
    }
    rows = [
        _row(a, b, name, per_model[a][name], per_model[b][name])
        for a, b in combinations(per_model, 2)
        for name in per_model[a]
    ]
    return rows
