"""Effects of swaps, with the swap draw in the interval: a two-stage bootstrap.

An intervention (`intervention`) replaces an earlier mention by several drawn words, one at a
time; an item's effect is the mean over its swaps. The draw of words is part of the
measurement, so the interval resamples the observations (the memory measures' shared
`Resampling`), then each item's swaps again, with replacement, from a stream of its own seed.
Two models scored with the same seed share both stages, so their difference is paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnmem.analysis.memory.planted import BUCKET_EDGES, bucket_of
from rnnmem.analysis.stats import CHUNK, Resampling, interval
from rnnmem.data.probe import RECALL

_SWAP_STREAM = 1  # the second stage's random stream, apart from the first's observation draws


@dataclass(frozen=True)
class PairEffects:
    """Each pair's effect (the mean over its swaps) in the sample, [pairs], and in every
    replicate of the second bootstrap stage, [resamples, pairs]."""

    items: np.ndarray  # the pairs' indices in `items`
    observation: np.ndarray
    swaps: np.ndarray  # swaps per pair
    mean: np.ndarray
    reps: np.ndarray

    def estimate(
        self, resampling: Resampling, chosen: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """Mean effect over the chosen pairs (all if None), and its two-stage replicates: each
        replicate's observation draw weighs that replicate's pair means."""
        chosen = np.ones(len(self.items), dtype=bool) if chosen is None else chosen
        if not chosen.any():
            return float("nan"), np.full(len(resampling.weights), np.nan)
        weights = resampling.weights_of(self.observation[chosen])
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = (weights * self.reps[:, chosen]).sum(1) / weights.sum(1)
        return float(self.mean[chosen].mean()), reps


def pair_effects(
    items: pd.DataFrame, effects: pd.DataFrame, column: str, resamples: int, seed: int
) -> PairEffects:
    """`column` of `effects` (from `intervention_effects`) as each pair's mean over its swaps,
    and `resamples` second-stage replicates: each pair's swaps drawn again with replacement,
    from a stream of `seed` apart from the observations' draws."""
    table = effects.pivot(index="item", columns="swap", values=column)
    values = table.to_numpy(dtype=np.float64)
    counts = np.isfinite(values).sum(1)
    pairs, width = values.shape
    rng = np.random.default_rng([seed, _SWAP_STREAM])
    used = np.arange(width) < counts[:, None]
    reps = np.empty((resamples, pairs))
    for start in range(0, resamples, CHUNK):
        n = min(CHUNK, resamples - start)
        draw = (rng.random((n, pairs, width)) * counts[None, :, None]).astype(np.int64)
        picked = values[np.arange(pairs)[None, :, None], draw]
        reps[start : start + n] = np.where(used, picked, 0.0).sum(-1) / counts
    item = table.index.to_numpy()
    return PairEffects(
        items=item,
        observation=items.loc[item, "observation"].to_numpy(),
        swaps=counts,
        mean=np.nanmean(values, axis=1) if pairs else np.zeros(0),
        reps=reps,
    )


def effect_curve(
    items: pd.DataFrame,
    effects: pd.DataFrame,
    resampling: Resampling,
    seed: int,
    edges: Sequence[int] = BUCKET_EDGES,
) -> tuple[pd.DataFrame, dict]:
    """The intervention effect at k = 0 and k = 1 by distance bucket and overall, with
    two-stage bootstrap intervals, and how many swaps stand behind it."""
    resamples = len(resampling.weights)
    per_k = {k: pair_effects(items, effects, f"effect_k{k}", resamples, seed) for k in (0, 1)}
    first = per_k[0]
    bucket = bucket_of(items.loc[first.items, "distance"].to_numpy(), edges)
    rows = []
    for i in range(len(edges) - 1):
        row = {"distance": edges[i + 1], "swapped_pairs": int((bucket == i).sum())}
        for k, pairs in per_k.items():
            mean, reps = pairs.estimate(resampling, bucket == i)
            row[f"effect_k{k}"], (row[f"effect_k{k}_low"], row[f"effect_k{k}_high"]) = (
                mean,
                interval(reps),
            )
        rows.append(row)
    recall = int((items["kind"] == RECALL).sum())
    summary = {
        "intervention_pairs": len(first.items),
        "intervention_pairs_without_swap": recall - len(first.items),
        "intervention_swaps": int(first.swaps.sum()),
    }
    for k, pairs in per_k.items():
        mean, reps = pairs.estimate(resampling)
        summary[f"intervention_effect_k{k}"] = mean
        summary[f"intervention_effect_k{k}_interval"] = list(interval(reps))
    return pd.DataFrame(rows), summary
