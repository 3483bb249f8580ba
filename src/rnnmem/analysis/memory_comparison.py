"""Memory compared between models, paired on the same resampled observations.

The memory stage keeps, per model and seed, the tables its measures come from: every planted
item with its scores, every swap's intervention effect and every attribution comparison. Here
each model's memory span, intervention effect and connectivity AUCs are recomputed on one
bootstrap of the test observations, the `Resampling` of `memory.seed` over the observations
that hold planted items (the same for every model, since they read the same test split), with
the same draws of swaps and of names. Over several seeds a model's measure, in the sample and
in each replicate, is its mean over seeds. The difference A - B of two models is then paired:
what the drawn observations have in common cancels, as for the test metrics' comparisons.
A memory span that reaches the farthest distance the probe tests is only a lower bound: the
span rows name the models where it does (`censored`), so that A - B is read as a bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from rnnmem.analysis import dependency, intervention, memory
from rnnmem.analysis.stats import Resampling, interval

INTERVAL = "paired bootstrap over test observations (95 %), seeds averaged per replicate"
TABLES = ("items", "effects", "attribution")  # <name>.parquet, in MemoryTables' order


@dataclass(frozen=True)
class MemoryTables:
    """One run's per-pair tables, as the memory stage writes them."""

    items: pd.DataFrame  # planted items joined with their referent scores
    effects: pd.DataFrame  # one row per (item, swap)
    attribution: pd.DataFrame  # one row per (item, k, alternative name)


def measures(
    tables: MemoryTables,
    resampling: Resampling,
    names: dependency.NameDraws,
    min_gap: float,
    seed: int,
) -> tuple[dict[str, tuple[float, np.ndarray]], bool]:
    """Each compared measure of one run, in the sample and in every replicate, and whether
    its memory span is censored (reaches the farthest distance tested)."""
    items = tables.items
    span, reps, censored, _ = memory.memory_span(items, resampling, memory.BUCKET_EDGES, min_gap)
    found = {"memory_span_chars": (span, reps)}
    resamples = len(resampling.weights)
    for k in (0, 1):
        pairs = intervention.pair_effects(items, tables.effects, f"effect_k{k}", resamples, seed)
        found[f"intervention_effect_k{k}"] = pairs.estimate(resampling)
    for k in (0, 1):
        for name, signed in (("connectivity_auc", False), ("signed_auc", True)):
            found[f"{name}_k{k}"] = dependency.auc(
                items, tables.attribution, k, signed, resampling, names
            )
    return found, censored


def paired_memory(
    runs: Mapping[str, Sequence[MemoryTables]],
    classes: Sequence[Sequence[str]],
    min_gap: float,
    seed: int,
) -> list[dict[str, Any]]:
    """For each pair of models and each measure: A - B (each model's mean over its seeds)
    with its paired-bootstrap interval, and whether 0 lies outside it; the span rows also
    list which of A and B have a span censored in some seed (a mean that is a lower bound)."""
    first = next(iter(runs.values()))[0].items
    observations = np.sort(first["observation"].to_numpy())
    for kind, tables in runs.items():
        for table in tables:
            if not np.array_equal(np.sort(table.items["observation"].to_numpy()), observations):
                raise ValueError(f"{kind}'s planted items differ from the other models'")
    resampling = Resampling.over(observations, seed)
    names = dependency.NameDraws.over(classes, len(resampling.weights), seed)
    per_model, censored = {}, set()
    for kind, tables in runs.items():
        found, spans_censored = zip(
            *(measures(t, resampling, names, min_gap, seed) for t in tables), strict=True
        )
        if any(spans_censored):
            censored.add(kind)
        per_model[kind] = {
            name: (
                float(np.mean([f[name][0] for f in found])),
                np.mean([f[name][1] for f in found], axis=0),
            )
            for name in found[0]
        }
    rows = []
    for a, b in combinations(per_model, 2):
        for name, (value_a, reps_a) in per_model[a].items():
            value_b, reps_b = per_model[b][name]
            low, high = interval(reps_a - reps_b)
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "metric": name,
                    "difference": float(value_a - value_b),
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "significant": bool(np.isfinite(low) and (low > 0 or high < 0)),
                }
            )
            if name == "memory_span_chars":
                rows[-1]["censored"] = [kind for kind in (a, b) if kind in censored]
    return rows
