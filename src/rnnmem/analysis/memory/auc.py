"""The connectivity AUCs: how often the antecedent's connectivity to the true referent beats its
connectivity to a swapped name (`attribution` computes them), with intervals.

The signed variant reads the gradient of the margin z_true - z_other times the input, summed
over the span: how much the span's characters, as given, push the true name above the other.
Its AUC is the probability that it is positive (ties half). Each pair contributes one
comparison per alternative name, each counted. The 0.5 holds over draws of names, and a fixed
model has quirks for each of a finite set of names, so the intervals resample names as well as
observations (`NameDraws`): on untrained GRUs with 64 names, observations alone gave intervals
that excluded 0.5 in 4 of 32 cases, the signed variant's most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnmem.analysis.memory.planted import BUCKET_EDGES, bucket_of
from rnnmem.analysis.stats import CHUNK, Resampling, interval

_NAME_STREAM = 2  # the names' random stream, apart from the observations' and the swaps'


def wins(comparisons: pd.DataFrame, signed: bool) -> np.ndarray:
    """Per comparison: 1 where the true referent wins, 0.5 on a tie, 0 otherwise; unsigned,
    connectivity to the true logit above the other's; signed, the margin's attribution above 0."""
    if signed:
        value = comparisons["signed"].to_numpy(dtype=np.float64)
        return (value > 0) + 0.5 * (value == 0)
    true = comparisons["true"].to_numpy(dtype=np.float64)
    other = comparisons["other"].to_numpy(dtype=np.float64)
    return (true > other) + 0.5 * (true == other)


@dataclass(frozen=True)
class NameDraws:
    """The names' side of the AUC's bootstrap: in each replicate every name of the classes is
    drawn again, with replacement, independently of the observations (a pigeonhole bootstrap
    of observations crossed with names). For a fixed model a name's quirks are shared by
    every pair it appears in, as the true referent or as the alternative, so resampling
    observations alone would understate the uncertainty of a finite set of names."""

    names: np.ndarray  # sorted; column j of `weights` is names[j]
    weights: np.ndarray  # [resamples, len(names)] multiplicities

    @classmethod
    def over(cls, classes: Sequence[Sequence[str]], resamples: int, seed: int) -> NameDraws:
        names = np.array(sorted({name for names in classes for name in names}))
        rng = np.random.default_rng([seed, _NAME_STREAM])
        weights = rng.multinomial(len(names), np.full(len(names), 1 / len(names)), resamples)
        return cls(names, weights.astype(np.float64))

    def columns(self, words: np.ndarray) -> np.ndarray:
        column = np.searchsorted(self.names, words)
        if not (column < len(self.names)).all() or (self.names[column] != words).any():
            raise ValueError("a compared name lies outside the resampled classes")
        return column


def auc(
    items: pd.DataFrame,
    comparisons: pd.DataFrame,
    k: int,
    signed: bool,
    resampling: Resampling,
    names: NameDraws,
) -> tuple[float, np.ndarray]:
    """The AUC at k over every comparison (see `wins`), and its replicates: each comparison
    weighs as often as its observation, its true referent and its alternative are drawn."""
    chosen = comparisons[comparisons["k"] == k]
    value = wins(chosen, signed)
    at = items.loc[chosen["item"]]
    observation = resampling.columns(at["observation"].to_numpy())
    true = names.columns(at["word"].to_numpy(dtype=str))
    other = names.columns(chosen["name"].to_numpy(dtype=str))
    reps = np.empty(len(resampling.weights))
    for start in range(0, len(reps), CHUNK):
        rows = slice(start, start + CHUNK)
        weight = resampling.weights[rows][:, observation] * names.weights[rows][:, true]
        weight *= names.weights[rows][:, other]
        with np.errstate(invalid="ignore", divide="ignore"):
            reps[rows] = weight @ value / weight.sum(1)
    return float(value.mean()) if len(value) else float("nan"), reps


def attribution_summary(
    items: pd.DataFrame,
    comparisons: pd.DataFrame,
    truths: pd.DataFrame,
    resampling: Resampling,
    names: NameDraws,
    edges: Sequence[int] = BUCKET_EDGES,
) -> tuple[pd.DataFrame, dict]:
    """Unsigned and signed AUC at k = 0 and k = 1, by distance bucket and overall, with
    bootstrap intervals over observations, the pairs and comparisons behind each, and the share
    of tied comparisons. (A rank correlation of connectivity with the intervention effect is
    not reported: it has no neutral value, a model without memory scores above 0.)"""
    summary: dict = {
        "attribution_observations": len(np.unique(items.loc[truths["item"], "observation"]))
    }
    bucket = bucket_of(items.loc[comparisons["item"], "distance"].to_numpy(), edges)
    rows = [{"distance_low": edges[i], "distance": edges[i + 1]} for i in range(len(edges) - 1)]
    for k in (0, 1):
        mine = (comparisons["k"] == k).to_numpy()
        summary[f"attribution_pairs_k{k}"] = comparisons.loc[mine, "item"].nunique()
        summary[f"attribution_comparisons_k{k}"] = int(mine.sum())
        tied = wins(comparisons[mine], False) == 0.5
        summary[f"attribution_ties_k{k}"] = float(tied.mean()) if mine.any() else None
        for name, signed in (("connectivity_auc", False), ("signed_auc", True)):
            mean, reps = auc(items, comparisons, k, signed, resampling, names)
            summary[f"{name}_k{k}"] = mean
            summary[f"{name}_k{k}_interval"] = list(interval(reps))
            for i, row in enumerate(rows):
                chosen = comparisons[mine & (bucket == i)]
                row[f"pairs_k{k}"] = chosen["item"].nunique()
                mean, reps = auc(items, chosen, k, signed, resampling, names)
                row[f"{name}_k{k}"] = mean
                row[f"{name}_k{k}_low"], row[f"{name}_k{k}_high"] = interval(reps)
    return pd.DataFrame(rows), summary
