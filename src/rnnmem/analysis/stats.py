"""Uncertainty for every compared number: bootstrap over observations and t-intervals over seeds.

Test observations (rows of the test split) are the independent units, not characters: the
characters of one row share their context. So a metric is written as a ratio of
per-observation sums (e.g. correct predictions / scored positions), and the bootstrap
resamples whole observations. Two models scored on the same observations are compared
with the paired bootstrap: one resample of observations serves both models, so what the
observations have in common cancels out of the difference. Over training seeds the
interval is Student's t.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000
CHUNK = 250  # resamples drawn at once, so memory stays at CHUNK x observations


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95 % interval; low/high are None when there is nothing to vary."""

    estimate: float
    low: float | None
    high: float | None

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero (for differences)."""
        return self.low is not None and (self.low > 0 or self.high < 0)


def _ratio(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return numerators / denominators


def _draw(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """[resamples, n] multiplicities: a bootstrap sample is n rows drawn with replacement."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def resample_weights(n: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """[resamples, n] multiplicities of n observations in each bootstrap sample.

    Kept and reused when several statistics of the same observations must move together
    (e.g. every distance bucket and the placebo level of one memory curve)."""
    return _draw(np.random.default_rng(seed), n, resamples)


def _resampled_sums(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Sums of `values` [n, ...] over `resamples` bootstrap samples of its n rows: [resamples, ...].

    Drawn CHUNK samples at a time, the same draws as `resample_weights(n, resamples, seed)`.
    """
    rng = np.random.default_rng(seed)
    n = len(values)
    flat = values.reshape(n, -1).astype(np.float64)
    parts = [
        _draw(rng, n, min(CHUNK, resamples - start)) @ flat for start in range(0, resamples, CHUNK)
    ]
    return np.concatenate(parts).reshape(resamples, *values.shape[1:])


def group_means(
    values: np.ndarray, groups: np.ndarray, weights: np.ndarray, universe: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean of `values` (several per observation) and its bootstrap replicates.

    `groups` names each value's observation; `universe` lists every observation in the column
    order of `weights` (from `resample_weights`), and one without values counts 0. A replicate
    is the ratio of weighted sums, so an observation weighs by how many values it holds.
    """
    column = np.searchsorted(universe, groups)
    sums = np.bincount(column, weights=values, minlength=len(universe))
    counts = np.bincount(column, minlength=len(universe)).astype(np.float64)
    replicates = _ratio(weights @ sums, weights @ counts)
    return float(values.mean()) if len(values) else float("nan"), replicates


@dataclass(frozen=True)
class Resampling:
    """One bootstrap of observations shared by several statistics: every memory measure of a
    test set, and every model scored on it, draws the same observations, so their replicates
    move together and a difference between two of them is paired."""

    universe: np.ndarray  # sorted observation ids; column j of `weights` is universe[j]
    weights: np.ndarray  # [resamples, len(universe)] multiplicities (`resample_weights`)

    @classmethod
    def over(cls, observations: np.ndarray, seed: int = 0, resamples: int = RESAMPLES):
        """The bootstrap of the distinct `observations`, drawn from `seed`."""
        universe = np.unique(np.asarray(observations))
        if not len(universe):
            return cls(universe, np.zeros((resamples, 0)))
        return cls(universe, resample_weights(len(universe), resamples, seed))

    def columns(self, observations: np.ndarray) -> np.ndarray:
        """The column of `weights` that holds each observation."""
        observations = np.asarray(observations)
        column = np.searchsorted(self.universe, observations)
        inside = column < len(self.universe)
        if not (inside.all() and (self.universe[column[inside]] == observations).all()):
            raise ValueError("values of observations outside the resampled universe")
        return column

    def weights_of(self, observations: np.ndarray) -> np.ndarray:
        """[resamples, n]: how often each replicate draws the observation of each of n values."""
        return self.weights[:, self.columns(observations)]

    def totals(self, values: np.ndarray, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sums of `values` [n, ...] (row i from observation `observations[i]`) over the sample
        and over each replicate: ([...], [resamples, ...])."""
        values = np.asarray(values, dtype=np.float64)
        per = np.zeros((len(self.universe), *values.shape[1:]))
        np.add.at(per, self.columns(observations), values)
        reps = self.weights @ per.reshape(len(self.universe), -1)
        return values.sum(0), reps.reshape(len(self.weights), *values.shape[1:])

    def grouped(
        self, values: np.ndarray, groups: np.ndarray, observations: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sums of `values` [v] by group (`groups`, ints below n) over the sample and over
        each replicate: ([n], [resamples, n]). What `totals` of one-hot rows gives, without
        the one-hot matrix: many groups (a name in a position bin) cost no more than few."""
        values = np.asarray(values, dtype=np.float64)
        groups = np.asarray(groups)
        sample = np.bincount(groups, weights=values, minlength=n)
        reps = np.zeros((len(self.weights), n))
        if len(groups):
            order = np.argsort(groups, kind="stable")
            ordered = groups[order]
            starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            weighted = self.weights[:, self.columns(observations)[order]] * values[order]
            reps[:, ordered[starts]] = np.add.reduceat(weighted, starts, axis=1)
        return sample, reps

    def mean(self, values: np.ndarray, observations: np.ndarray) -> tuple[float, np.ndarray]:
        """`group_means` of `values` on this bootstrap."""
        values = np.asarray(values, dtype=np.float64)
        self.columns(observations)
        return group_means(values, np.asarray(observations), self.weights, self.universe)


def interval(replicates: np.ndarray, level: float = LEVEL):
    """Percentile interval of bootstrap replicates along the first axis, NaN and infinite ones
    ignored (NaN where none is finite): floats for one statistic, arrays for several."""
    replicates = np.asarray(replicates, dtype=np.float64)
    if not len(replicates):
        return float("nan"), float("nan")
    draws = np.where(np.isfinite(replicates), replicates, np.nan)
    tail = (1 - level) / 2 * 100
    with warnings.catch_warnings():  # an all-NaN column is an answer (NaN), not a problem
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(draws, [tail, 100 - tail], axis=0)
    return (float(low), float(high)) if draws.ndim == 1 else (low, high)


def with_interval(summary: dict, key: str, value: float, replicates: np.ndarray) -> None:
    """Put `value` under `key` in `summary` and its percentile interval over `replicates` under
    `<key>_interval`, as [low, high]."""
    summary[key] = value
    summary[f"{key}_interval"] = list(interval(replicates))


def bootstrap_ratio(
    numerators: np.ndarray,
    denominators: np.ndarray,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate and percentile-bootstrap interval of sum(numerators) / sum(denominators).

    Both arrays are [n_observations, ...]: any trailing shape holds several metrics at once,
    each resampled with the same observations. Returns (estimate, low, high) of that
    trailing shape; NaN where a metric has no denominator.
    """
    numerators, denominators = np.asarray(numerators), np.asarray(denominators)
    if numerators.shape != denominators.shape or len(numerators) == 0:
        raise ValueError("numerators and denominators must have one equal, non-empty shape")
    estimate = _ratio(numerators.sum(0), denominators.sum(0))
    both = np.stack([numerators, denominators], axis=1)
    sums = _resampled_sums(both, resamples, seed)
    low, high = interval(_ratio(sums[:, 0], sums[:, 1]), level)
    return estimate, low, high


def paired_bootstrap(
    numerators_a: np.ndarray,
    denominators_a: np.ndarray,
    numerators_b: np.ndarray,
    denominators_b: np.ndarray,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference A - B of two ratio metrics on the same observations, with its interval.

    Row i of every array is observation i; each resample draws rows once and scores both
    models on them. Returns (difference, low, high) like `bootstrap_ratio`.
    """
    arrays = [np.asarray(a) for a in (numerators_a, denominators_a, numerators_b, denominators_b)]
    if len({a.shape for a in arrays}) != 1 or len(arrays[0]) == 0:
        raise ValueError("both models need the same non-empty observations, in the same order")
    totals = [a.sum(0) for a in arrays]
    estimate = _ratio(totals[0], totals[1]) - _ratio(totals[2], totals[3])
    sums = _resampled_sums(np.stack(arrays, axis=1), resamples, seed)
    draws = _ratio(sums[:, 0], sums[:, 1]) - _ratio(sums[:, 2], sums[:, 3])
    low, high = interval(draws, level)
    return estimate, low, high


def t_quantile(df: int, level: float = LEVEL) -> float:
    """Student's t quantile at (1 + level) / 2 for `df` degrees of freedom, exact for any df:
    the half-width factor of a two-sided interval (95 %: 12.706 at df 1, 2.040 at 31)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    # Imported here: only an interval over two or more seeds needs scipy (0.4 s to import).
    from scipy.special import stdtrit

    return float(stdtrit(df, (1 + level) / 2))


def t_interval(values: list[float] | np.ndarray) -> Interval:
    """Mean of per-seed values with its 95 % Student-t interval (None for a single seed)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        raise ValueError("a t-interval needs at least one value")
    mean = float(values.mean())
    if len(values) == 1:
        return Interval(mean, None, None)
    half = t_quantile(len(values) - 1) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return Interval(mean, mean - half, mean + half)
