"""Aggregation over seeds and the pairwise comparisons, on cases with known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from rnnmem.analysis.aggregate import (
    BOOTSTRAP,
    T_OVER_SEEDS,
    curve_over_seeds,
    over_seeds,
    paired_comparisons,
    pooled,
    prefix_table,
)
from rnnmem.analysis.metrics import HEADLINE, observation_sums
from rnnmem.data.dataset import UNKNOWN


def test_over_seeds_gives_the_mean_with_a_t_interval_and_the_seed_count():
    runs = [{"accuracy": v, "loss": None} for v in (0.5, 0.6, 0.7)]
    out = over_seeds(runs, ["accuracy", "loss"])
    assert out["seeds"] == 3 and out["interval"] == T_OVER_SEEDS
    assert out["accuracy"] == pytest.approx(0.6)
    half = 4.302653 * 0.1 / math.sqrt(3)  # t_{0.975, 2}
    assert out["accuracy_ci_low"] == pytest.approx(0.6 - half)
    assert out["accuracy_ci_high"] == pytest.approx(0.6 + half)
    assert out["loss"] is None and out["loss_ci_low"] is None
    assert out["loss_null_seeds"] == 3 and "accuracy_null_seeds" not in out


def test_a_flag_over_seeds_is_a_count_never_a_mean():
    runs = [
        {"censored": True, "capped": 1, "half_life": 300.0},
        {"censored": False, "capped": 0, "half_life": None},
        {"censored": True, "capped": 1, "half_life": 500.0},
    ]
    out = over_seeds(runs, ["censored", "capped", "half_life"], flags=["capped"])
    assert out["censored_seeds"] == 2 and out["capped_seeds"] == 2
    assert not {"censored", "censored_ci_low", "capped", "capped_ci_high"} & set(out)
    # a measure some seed could not give is averaged over the others, and counted
    assert out["half_life"] == 400 and out["half_life_null_seeds"] == 1
    one = over_seeds(runs[1:2], ["censored", "capped", "half_life"], flags=["capped"])
    assert one["censored_seeds"] == 0 and one["capped_seeds"] == 0
    assert one["half_life"] is None and one["half_life_null_seeds"] == 1


def test_curve_over_one_seed_keeps_its_bootstrap_band():
    table = pd.DataFrame({"distance": [30, 50], "gap": [0.4, 0.3]})
    table["gap_ci_low"], table["gap_ci_high"] = [0.3, 0.2], [0.5, 0.4]
    out = curve_over_seeds([table], "distance", ["gap"])
    assert out["gap_ci_low"].tolist() == [0.3, 0.2] and out["gap_ci_high"].tolist() == [0.5, 0.4]


def test_over_one_seed_keeps_that_runs_bootstrap_interval():
    run = {"accuracy": 0.6, "accuracy_ci_low": 0.55, "accuracy_ci_high": 0.65, "parameters": 9}
    out = over_seeds([run], ["accuracy", "parameters"])
    assert (out["accuracy"], out["accuracy_ci_low"], out["accuracy_ci_high"]) == (0.6, 0.55, 0.65)
    assert out["parameters"] == 9 and out["parameters_ci_low"] is None
    assert out["seeds"] == 1 and out["interval"] == BOOTSTRAP


def _predictions(best: np.ndarray) -> pd.DataFrame:
    # Observation i has two positions: k = 0 and k = 1, targets 5 and 6; one UNKNOWN at k = 2.
    n = len(best) // 2
    observation = np.repeat(np.arange(n), 2)
    return pd.DataFrame(
        {
            "observation": observation,
            "k": np.tile([0, 1], n),
            "target": np.tile([5, 6], n),
            "top_words": [np.array([b, 6, 5]) for b in best],
            "target_log_prob": np.log(np.where(best == np.tile([5, 6], n), 0.5, 0.25)),
        }
    )


def test_prefix_table_by_letters_typed_pools_seeds_without_counting_them_twice():
    # top-1 right at k = 0 for 3 of 4 observations, at k = 1 for 1 of 4; top-2 always right.
    best = np.array([5, 9, 5, 9, 5, 6, 9, 9])
    frame = _predictions(best)
    table = prefix_table([frame], n=4)
    assert list(table["k"]) == [0, 1]
    assert table["top1"].tolist() == pytest.approx([0.75, 0.25])
    assert table["top2"].tolist() == pytest.approx([0.75, 1.0])  # k=0: 6 then 5 -> top-2 miss
    assert table["top3"].tolist() == pytest.approx([1.0, 1.0])
    assert table["count"].tolist() == [4, 4]
    assert (table["top1_ci_low"] <= table["top1"]).all()
    twice = prefix_table([frame, frame], n=4)
    pd.testing.assert_frame_equal(twice[["k", "top1", "count"]], table[["k", "top1", "count"]])


def test_paired_comparisons_flag_the_better_model_and_not_identical_ones():
    rng = np.random.default_rng(0)
    n = 400
    good = np.where(rng.random(2 * n) < 0.8, np.tile([5, 6], n), 9)
    bad = np.where(rng.random(2 * n) < 0.4, np.tile([5, 6], n), 9)

    def sums(best):
        f = _predictions(best)
        top = np.stack(f["top_words"].to_numpy())[:, 0]
        return observation_sums(f["observation"], f["target"], f["k"], top, f["target_log_prob"], n)

    rows = paired_comparisons({"good": sums(good), "bad": sums(bad), "twin": sums(bad)})
    assert len(rows) == 3 * len(HEADLINE)
    by = {(r["a"], r["b"], r["metric"]): r for r in rows}
    assert by["good", "bad", "accuracy"]["significant"]
    assert by["good", "bad", "accuracy"]["ci_low"] > 0.3
    assert by["good", "bad", "cross_entropy"]["difference"] < 0
    assert not by["bad", "twin", "accuracy"]["significant"]
    assert by["bad", "twin", "accuracy"]["difference"] == 0


def test_pooled_sums_average_the_ratio_over_seeds():
    a = pd.DataFrame({"correct": [1.0, 0.0], "scored": [2.0, 2.0]})
    b = pd.DataFrame({"correct": [2.0, 1.0], "scored": [2.0, 2.0]})
    total = pooled([a, b]).sum()
    assert total["correct"] / total["scored"] == pytest.approx((1 / 4 + 3 / 4) / 2)
    assert a["correct"].tolist() == [1.0, 0.0]  # inputs untouched


def test_curve_over_seeds_averages_each_distance():
    tables = [pd.DataFrame({"distance": [0, 1], "share": [0.6, 0.4]}) for _ in range(2)]
    tables[1]["share"] = [0.8, 0.2]
    out = curve_over_seeds(tables, "distance", ["share"])
    assert out["share"].tolist() == pytest.approx([0.7, 0.3])
    assert (out["share_ci_low"] < out["share"]).all() and out["seeds"].tolist() == [2, 2]


def test_unknown_targets_stay_out_of_the_prefix_table():
    frame = _predictions(np.array([5, 6]))
    frame.loc[1, "target"] = UNKNOWN
    assert prefix_table([frame], n=1)["k"].tolist() == [0]
