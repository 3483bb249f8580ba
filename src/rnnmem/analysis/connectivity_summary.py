"""Connectivity summarized over many observations: the numbers the report compares.

Definitions: docs/design.md, Connectivity. From the matrices of `rnnmem.analysis.connectivity`:
a profile over distance, and the share of each prediction's connectivity spent on the word
being typed versus earlier words, with bootstrap intervals over observations.

Only predictions of real words count: the `<unknown>` logit is never trained (the loss skips
it), so its gradient says nothing about what the model has learned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rnnmem.analysis.stats import bootstrap_ratio
from rnnmem.data.dataset import UNKNOWN, letters_typed

FIRST_WORD_ID = UNKNOWN + 1  # ids below are <pad> and <unknown>


def _real_rows(matrix: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Indices of the rows that count: a real target word and some connectivity at all."""
    return np.flatnonzero((target >= FIRST_WORD_ID) & (matrix.sum(axis=1) > 0))


def distance_profile(matrices: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> pd.DataFrame:
    """Connectivity by distance d = t - t' over all counted rows of all matrices.

    mean_connectivity(d) is the mean raw entry M[t, t - d]; share(d) is the mean of the same
    entry divided by its row's total (so each prediction weighs the same and models whose
    gradients differ in scale stay comparable). mean_log_share(d) is the mean of the log of
    that share: entries span dozens of orders of magnitude, so this is the typical value where
    the plain mean follows the rare largest ones. All average over the rows t >= d.
    """
    size = max((len(m) for m in matrices), default=0)
    raw = np.zeros(size)
    logs = np.zeros(size)
    share = np.zeros(size)
    count = np.zeros(size)
    for matrix, target in zip(matrices, targets, strict=True):
        for t in _real_rows(matrix, target):
            row = matrix[t, t::-1].astype(np.float64)
            shares = row / row.sum()
            raw[: t + 1] += row
            logs[: t + 1] += _log(shares)
            share[: t + 1] += shares
            count[: t + 1] += 1
    seen = count > 0
    return pd.DataFrame(
        {
            "distance": np.flatnonzero(seen),
            "mean_connectivity": raw[seen] / count[seen],
            "mean_log_share": logs[seen] / count[seen],
            "share": share[seen] / count[seen],
        }
    )


def _log(values: np.ndarray) -> np.ndarray:
    """Natural log, with exact zeros floored at 1e-300."""
    return np.log(np.maximum(values, 1e-300))


def _current_word_shares(matrix: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per counted row of one sequence, the share of its connectivity on the current word."""
    starts = np.arange(len(source)) - letters_typed(source)
    rows = [t for t in _real_rows(matrix, target) if starts[t] > 0]
    return np.array([matrix[t, starts[t] : t + 1].sum() / matrix[t, : t + 1].sum() for t in rows])


def word_shares(
    matrices: Sequence[np.ndarray], sources: Sequence[np.ndarray], targets: Sequence[np.ndarray]
) -> tuple[float, float]:
    """Mean share of a row's connectivity on the current word, and on earlier words.

    The current word spans from its leading space up to t. Rows in a sequence's first word are
    left out (they have no earlier words to draw on). NaN when no row counts.
    """
    current = _mean_share(_shares_by_observation(matrices, sources, targets))
    return current, 1.0 - current


def _shares_by_observation(
    matrices: Sequence[np.ndarray], sources: Sequence[np.ndarray], targets: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """`_current_word_shares` of every sequence: the mean and its bootstrap both start here."""
    return [_current_word_shares(*seq) for seq in zip(matrices, sources, targets, strict=True)]


def _mean_share(per_observation: Sequence[np.ndarray]) -> float:
    """Mean over all rows of per-observation share arrays; NaN when there are none."""
    shares = np.concatenate([np.zeros(0), *per_observation])
    return float(shares.mean()) if len(shares) else float("nan")


def summarize(
    matrices: Sequence[np.ndarray], sources: Sequence[np.ndarray], targets: Sequence[np.ndarray]
) -> tuple[pd.DataFrame, dict]:
    """The distance profile and the word shares with their 95 % bootstrap intervals over
    observations (NaN where nothing could be measured).

    Whether a model uses a planted antecedent is judged against behaviour by the memory
    stage (connectivity AUC against a matched control), not here."""
    per_observation = _shares_by_observation(matrices, sources, targets)
    current = _mean_share(per_observation)
    metrics = {"current_word_share": current}
    sums = np.array([[s.sum(), len(s)] for s in per_observation]).reshape(-1, 2)
    low = high = float("nan")
    if len(sums) and sums[:, 1].sum() > 0:
        _, lows, highs = bootstrap_ratio(sums[:, :1], sums[:, 1:])
        low, high = float(lows[0]), float(highs[0])
    metrics |= {"current_word_share_ci_low": low, "current_word_share_ci_high": high}
    metrics["earlier_words_share"] = 1.0 - current
    metrics["earlier_words_share_ci_low"] = 1 - high
    metrics["earlier_words_share_ci_high"] = 1 - low
    return distance_profile(matrices, targets), metrics
