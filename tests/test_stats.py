"""Bootstrap and t-intervals hit their nominal coverage; paired comparisons find planted gaps."""

import math

import numpy as np
import pytest

from rnnmem.analysis.stats import (
    bootstrap_ratio,
    group_means,
    interval,
    paired_bootstrap,
    resample_weights,
    t_interval,
    t_quantile,
)


def test_bootstrap_interval_of_a_bernoulli_mean_covers_the_truth_at_the_nominal_rate():
    rng = np.random.default_rng(1)
    p, n, trials = 0.3, 200, 300
    covered = 0
    for trial in range(trials):
        hits = (rng.random(n) < p).astype(float)
        estimate, low, high = bootstrap_ratio(hits, np.ones(n), resamples=400, seed=trial)
        assert estimate == pytest.approx(hits.mean())
        covered += low <= p <= high
    # 95 % nominal; with 300 trials the binomial sd is 1.3 %, so 0.91-0.99 allows ~3 sd.
    assert 0.91 <= covered / trials <= 0.99


def test_bootstrap_resamples_whole_observations_not_characters():
    # Each observation is all right or all wrong over 50 characters: the characters are not
    # independent, so the interval must be as wide as for 40 coin flips, not 2000.
    rng = np.random.default_rng(2)
    right = (rng.random(40) < 0.5).astype(float)
    _, low, high = bootstrap_ratio(right * 50, np.full(40, 50.0), seed=0)
    binomial_half_width = 1.96 * math.sqrt(0.25 / 40)
    assert high - low == pytest.approx(2 * binomial_half_width, rel=0.25)


def test_bootstrap_handles_several_metrics_at_once():
    numerators = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 2.0]])
    denominators = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 2.0]])
    estimate, low, high = bootstrap_ratio(numerators, denominators, resamples=200)
    np.testing.assert_allclose(estimate, [2 / 3, 4 / 5])
    assert (low <= estimate).all() and (estimate <= high).all()


def test_paired_bootstrap_calls_a_planted_difference_significant_and_a_null_one_not():
    rng = np.random.default_rng(3)
    n = 2000
    difficulty = rng.random(n)  # shared by both models: what pairing cancels
    a = (rng.random(n) < 0.2 + 0.6 * difficulty).astype(float)
    same = (rng.random(n) < 0.2 + 0.6 * difficulty).astype(float)
    worse = (rng.random(n) < 0.15 + 0.6 * difficulty).astype(float)
    ones = np.ones(n)
    diff, low, high = paired_bootstrap(a, ones, worse, ones, seed=0)
    assert low > 0 and diff == pytest.approx(a.mean() - worse.mean())
    _, low, high = paired_bootstrap(a, ones, same, ones, seed=0)
    assert low < 0 < high


def test_pairing_narrows_the_interval_when_observations_share_difficulty():
    rng = np.random.default_rng(4)
    n = 500
    scores = rng.random(n) * 10
    a, b = scores + rng.normal(0, 0.1, n), scores + rng.normal(0, 0.1, n)
    ones = np.ones(n)
    _, low, high = paired_bootstrap(a, ones, b, ones, seed=0)
    _, low_a, high_a = bootstrap_ratio(a, ones, seed=0)
    assert high - low < (high_a - low_a) / 10


def test_bootstrap_rejects_mismatched_observations():
    with pytest.raises(ValueError, match="same"):
        paired_bootstrap(np.ones(3), np.ones(3), np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="shape"):
        bootstrap_ratio(np.ones(3), np.ones(2))


def test_t_interval_on_a_hand_example_and_a_single_seed():
    interval = t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t_{0.975, 2} = 4.302653
    assert interval.estimate == 2.0
    assert interval.high - 2.0 == pytest.approx(4.302653 / math.sqrt(3))
    single = t_interval([0.5])
    assert (single.estimate, single.low, single.high) == (0.5, None, None)
    assert not single.significant


def test_t_interval_covers_a_normal_mean_at_the_nominal_rate_over_five_seeds():
    rng = np.random.default_rng(5)
    trials = 4000
    covered = sum(
        (lambda i: i.low <= 1.0 <= i.high)(t_interval(rng.normal(1.0, 2.0, 5)))
        for _ in range(trials)
    )
    assert 0.94 <= covered / trials <= 0.96  # sd of the rate: 0.35 %


def test_t_quantiles_are_exact_at_any_degrees_of_freedom():
    """Two-sided 95 % quantiles as printed tables give them (three decimals): past 30 degrees
    of freedom the table gave the normal's 1.960 (31 is 2.040), while 1,000 seeds are allowed."""
    known = {1: 12.706, 2: 4.303, 30: 2.042, 31: 2.040, 100: 1.984, 1000: 1.962}
    for df, quantile in known.items():
        assert t_quantile(df) == pytest.approx(quantile, abs=5e-4), df
    assert t_quantile(10**7) == pytest.approx(1.959964, abs=1e-6)  # the normal's, in the limit
    values = np.arange(32.0)  # 32 seeds: df 31
    half = t_interval(values).high - values.mean()
    assert half == pytest.approx(t_quantile(31) * values.std(ddof=1) / math.sqrt(32))


def test_group_bootstrap_resamples_observations_not_items():
    """Ten observations, each with 100 identical items: the interval is as wide as ten values
    give, not as narrow as a thousand independent ones would."""
    groups = np.repeat(np.arange(10), 100)
    values = np.repeat(np.arange(10, dtype=float), 100)
    weights = resample_weights(10, seed=0)
    mean, reps = group_means(values, groups, weights, np.arange(10))
    low, high = interval(reps)
    assert mean == 4.5 and low < 3.2 and high > 5.8


def test_group_means_and_bootstrap_ratio_are_one_bootstrap():
    """Per-observation sums through `bootstrap_ratio` and the items themselves through
    `group_means` with the same seed give the same replicates, so the same interval."""
    rng = np.random.default_rng(3)
    groups = np.sort(rng.integers(0, 30, size=200))
    values = (rng.random(200) < 0.4).astype(float)
    universe = np.unique(groups)
    sums = np.bincount(np.searchsorted(universe, groups), weights=values)
    counts = np.bincount(np.searchsorted(universe, groups)).astype(float)
    estimate, low, high = bootstrap_ratio(sums, counts, resamples=600, seed=5)
    mean, reps = group_means(values, groups, resample_weights(len(universe), 600, 5), universe)
    assert mean == pytest.approx(estimate)
    assert interval(reps) == pytest.approx((low, high))


def test_group_bootstrap_interval_covers_the_truth_at_the_nominal_rate():
    """Clustered data (observations with their own rate): the observation bootstrap's 95 %
    interval of the mean covers the true mean in 91-99 % of 200 trials."""
    rng = np.random.default_rng(4)
    covered, trials = 0, 200
    for trial in range(trials):
        rates = rng.beta(2, 3, size=60)  # true mean 0.4
        sizes = rng.integers(1, 8, size=60)
        groups = np.repeat(np.arange(60), sizes)
        values = (rng.random(len(groups)) < rates[groups]).astype(float)
        weights = resample_weights(60, 400, trial)
        _, reps = group_means(values, groups, weights, np.arange(60))
        low, high = interval(reps)
        covered += low <= 0.4 <= high
    assert 0.88 <= covered / trials <= 0.99


def test_interval_ignores_non_finite_replicates_and_is_nan_without_any():
    assert interval(np.array([np.nan, np.inf, 1.0, 1.0])) == (1.0, 1.0)
    low, high = interval(np.full(5, np.nan))
    assert np.isnan(low) and np.isnan(high)
