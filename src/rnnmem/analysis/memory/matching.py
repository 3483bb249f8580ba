"""Referents against placebos matched to them: the recall gap.

Placebos sit earlier in their observations than referents (a placebo is often a pair's first
mention), a model names a word differently early and late in an observation, and a model
without memory has favourite names: every referent-placebo comparison reads the placebos at
the referents' names and positions (`PlaceboModel`), and `matched_gap` is the one place that
does it, for a memory curve's buckets, the span, the long-range probe, recall over training and
the n-gram baseline. `recall_gap(items, scores, seed, resamples) -> (gap, low, high)` is the
pooled comparison at k = 1 with its 95 % bootstrap interval over observations. Intervals
resample observations, not pairs: pairs in one observation share the model's state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnmem.analysis.stats import RESAMPLES, Resampling, interval
from rnnmem.data.probe import PLACEBO, RECALL

POSITION_BIN = 20  # characters per position bin in which placebos are matched to referents
MIN_PLACEBOS = 30  # placebos a position bin needs; a bin with fewer joins its neighbour
SWEEPS = 200  # at most, backfitting the placebos' additive fit, until it moves by < TOLERANCE
TOLERANCE = 1e-9


def position_bins(positions: np.ndarray) -> np.ndarray:
    """Lower edges of the position bins in which placebos are matched to referents.

    `POSITION_BIN`-character bins, joined from the end of the observation backwards until
    each group holds `MIN_PLACEBOS` of the placebos at `positions` (a remainder at the start
    joins the group after it), so that a bootstrap replicate rarely leaves one empty. Two
    groups meet midway between their placebos, so a referent is matched to the group of its
    nearest placebos; referents later than every placebo, to the latest.
    """
    positions = np.asarray(positions, dtype=np.int64)
    counts = np.bincount(positions // POSITION_BIN)
    starts, held = [], 0
    for b in range(len(counts) - 1, -1, -1):
        held += counts[b]
        if held >= MIN_PLACEBOS:
            starts.append(b * POSITION_BIN)
            held = 0
    edges = [0]
    for start in sorted(starts)[1:]:
        below, above = positions[positions < start].max(), positions[positions >= start].min()
        edges.append(int(below + above + 1) // 2)
    return np.array(edges)


@dataclass(frozen=True)
class Gap:
    """Referents against position-matched placebos: each mean in the sample and in every
    bootstrap replicate ([resamples])."""

    referent: float
    referent_reps: np.ndarray
    placebo: float
    placebo_reps: np.ndarray

    @property
    def gap(self) -> float:
        return self.referent - self.placebo

    @property
    def gap_reps(self) -> np.ndarray:
        return self.referent_reps - self.placebo_reps


def _ratio(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return numerators / denominators


def _cells(items: pd.DataFrame, names: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each item's (name, position bin) cell, numbered name by name."""
    name = np.searchsorted(names, items["word"].to_numpy())
    position = np.searchsorted(edges, items["position"].to_numpy(), side="right") - 1
    return name * len(edges) + position


def _additive(counts: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """hit ~ a[name] + b[bin] from per-cell counts and sums [..., names, bins], by
    backfitting (each effect in turn the weighted mean of what the other leaves), read back
    at every cell; a name without placebos takes the mean name effect."""
    by_name, by_bin = (counts.sum(-1), sums.sum(-1)), (counts.sum(-2), sums.sum(-2))
    bins = np.zeros(by_bin[0].shape)
    for _ in range(SWEEPS):
        names = _ratio(by_name[1] - (counts @ bins[..., :, None])[..., 0], by_name[0])
        known = np.nan_to_num(names)
        before = bins
        bins = np.nan_to_num(
            _ratio(by_bin[1] - (known[..., None, :] @ counts)[..., 0, :], by_bin[0])
        )
        if np.abs(bins - before).max(initial=0.0) < TOLERANCE:
            break
    weight = counts.sum(-1)
    mean = _ratio((weight * known).sum(-1), weight.sum(-1))
    names = np.where(np.isfinite(names), names, mean[..., None])
    return names[..., :, None] + bins[..., None, :]


@dataclass(frozen=True)
class PlaceboModel:
    """How well a model names a placebo, by name and by position: hit ~ a[name] + b[bin],
    fitted on the placebos in the sample ([names, bins]) and in every bootstrap replicate
    ([resamples, names, bins]).

    Placebos are matched to referents on both: position, because a model names a word
    differently early and late in an observation, and name, because a model without memory
    has favourite names (the last ones training showed it, which differ from seed to seed),
    so a test set whose referents happen to carry other names than its placebos gives such a
    model a gap that is no memory at all (on the default run's shared test set, down to -0.04
    for a model without memory; about 0 on a fresh probe nine times larger). A referent's
    antecedent is a placebo of its name, so its name is always fitted; a name that no placebo
    of a replicate carries takes the mean name effect: position matching alone."""

    names: np.ndarray  # sorted words: axis -2 of `fit`
    edges: np.ndarray  # lower edges of the position bins (`position_bins`): axis -1
    fit: np.ndarray
    fit_reps: np.ndarray

    @classmethod
    def over(cls, data: pd.DataFrame, column: str, resampling: Resampling) -> PlaceboModel:
        """The additive fit of `column` on the placebos of `data` (items with a `word`)."""
        placebo = data[(data["kind"] == PLACEBO).to_numpy()]
        names = np.unique(data["word"].to_numpy())
        edges = position_bins(placebo["position"].to_numpy())
        shape = (len(names), len(edges))
        cells, observation = _cells(placebo, names, edges), placebo["observation"]
        values = placebo[column].to_numpy(dtype=np.float64)
        n = len(names) * len(edges)
        counts, counts_reps = resampling.grouped(np.ones(len(cells)), cells, observation, n)
        sums, sums_reps = resampling.grouped(values, cells, observation, n)
        return cls(
            names,
            edges,
            _additive(counts.reshape(shape), sums.reshape(shape)),
            _additive(counts_reps.reshape(-1, *shape), sums_reps.reshape(-1, *shape)),
        )

    def level(self, referents: pd.DataFrame, resampling: Resampling) -> tuple[float, np.ndarray]:
        """The placebo level at `referents`' names and positions: the fit read at each one's
        cell, averaged with the referents' weights in the sample and in every replicate."""
        shape = (len(self.names), len(self.edges))
        cells = _cells(referents, self.names, self.edges)
        share, share_reps = resampling.grouped(
            np.ones(len(cells)), cells, referents["observation"], shape[0] * shape[1]
        )
        share, share_reps = share.reshape(shape), share_reps.reshape(-1, *shape)
        sample = _ratio((share * self.fit).sum(), share.sum())
        return float(sample), _ratio(
            (share_reps * self.fit_reps).sum((-1, -2)), share_reps.sum((-1, -2))
        )


def matched_gap(
    data: pd.DataFrame,
    column: str,
    resampling: Resampling,
    referents: np.ndarray | None = None,
    placebos: PlaceboModel | None = None,
) -> Gap:
    """Mean of `column` over the chosen referents (a boolean mask over `data`; every recall
    item if None) against the placebo level matched to those referents' names and positions
    (`PlaceboModel`, fitted here unless a caller that reads many subsets passes it).

    `data` holds items (`planted_items`) with `column`. Fit and weights are recomputed in every
    replicate of `resampling`, so the interval carries the matching's own uncertainty. A
    replicate whose referents are all left out gives NaN.
    """
    chosen = (data["kind"] == RECALL).to_numpy() if referents is None else np.asarray(referents)
    recall = data[chosen]
    if placebos is None:
        placebos = PlaceboModel.over(data, column, resampling)
    referent, referent_reps = resampling.mean(recall[column], recall["observation"])
    placebo, placebo_reps = placebos.level(recall, resampling)
    return Gap(referent, referent_reps, placebo, placebo_reps)


def recall_gap(
    items: pd.DataFrame, scores: pd.DataFrame, seed: int = 0, resamples: int = RESAMPLES
) -> tuple[float, float, float]:
    """Referent minus position-matched placebo top-1 at k = 1, pooled over distances, with its
    95 % bootstrap interval over observations: (gap, low, high). `scores` are
    `referent_scores` of `items`."""
    resampling = Resampling.over(items["observation"].to_numpy(), seed, resamples)
    gap = matched_gap(items.join(scores), "top1_k1", resampling)
    low, high = interval(gap.gap_reps)
    return gap.gap, low, high
