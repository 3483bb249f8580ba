"""From per-(model, seed) results to the numbers the report compares, each with its interval.

One run's test metrics get a bootstrap interval over test observations. Over several seeds
a metric is the mean of the per-seed values with a Student-t interval over seeds (the seeds
are what varies between trainings); with one seed the run's bootstrap interval is kept.
Every aggregated metric says which interval it carries and how many seeds stand behind it.
Models are compared pairwise on the same test observations with the paired bootstrap, on
the seed-pooled per-observation sums (the mean over seeds of each metric).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from rnnmem.analysis.metrics import HEADLINE, TOP, observation_sums, prefix_sums
from rnnmem.analysis.stats import bootstrap_ratio, paired_bootstrap, t_interval
from rnnmem.errors import InputError

BOOTSTRAP = "bootstrap over test observations (95 %, percentile)"
T_OVER_SEEDS = "Student t over seeds (95 %)"


def run_metrics(sums: pd.DataFrame) -> dict[str, float]:
    """Each headline metric of one run with its bootstrap interval over observations.

    `sums` is `metrics.observation_sums`; keys `<metric>`, `<metric>_ci_low`, `<metric>_ci_high`
    (NaN where nothing was scored: null once written).
    """
    names = list(HEADLINE)
    numerators = sums[[HEADLINE[n][0] for n in names]].to_numpy()
    denominators = sums[[HEADLINE[n][1] for n in names]].to_numpy()
    estimate, low, high = bootstrap_ratio(numerators, denominators)
    out: dict[str, float] = {}
    for i, name in enumerate(names):
        out[name] = float(estimate[i])
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(low[i]), float(high[i])
    return out


def over_seeds(
    runs: Sequence[Mapping[str, Any]], keys: Sequence[str], flags: Sequence[str] = ()
) -> dict[str, Any]:
    """Mean of each metric in `keys` over the per-seed results `runs`, with its interval.

    Two or more seeds: Student-t interval over seeds. One seed: the run's own
    `<metric>_ci_low/_ci_high` when it has them (bootstrap), else none. A flag (a key in
    `flags`, or one some run gives as true or false) is never averaged: it becomes
    `<flag>_seeds`, the number of seeds where it is true. A metric some run could not measure
    (None) is averaged over the seeds that did, and `<metric>_null_seeds` says how many did not.
    """
    if not runs:
        raise ValueError("no runs to aggregate")
    out: dict[str, Any] = {"seeds": len(runs)}
    for key in keys:
        given = [run.get(key) for run in runs]
        values = [v for v in given if v is not None]
        if key in flags or any(isinstance(v, bool) for v in values):
            out[f"{key}_seeds"] = sum(bool(v) for v in values)
        elif not values:
            out[key], out[f"{key}_ci_low"], out[f"{key}_ci_high"] = None, None, None
        else:
            interval = t_interval(values)
            low, high = interval.low, interval.high
            if len(runs) == 1:
                low, high = runs[0].get(f"{key}_ci_low"), runs[0].get(f"{key}_ci_high")
            out[key], out[f"{key}_ci_low"], out[f"{key}_ci_high"] = interval.estimate, low, high
        if len(values) < len(runs):
            out[f"{key}_null_seeds"] = len(runs) - len(values)
    out["interval"] = T_OVER_SEEDS if len(runs) > 1 else BOOTSTRAP
    return out


def recall_over_seeds(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Steps to recall over seeds (the recall stage's metrics): how many seeds recall, and
    the median step over those that do (None if none). A count and a median, never a mean
    of a yes/no, and a seed that never recalls is counted, not dropped."""
    steps = [run["steps_to_recall"] for run in runs if run["steps_to_recall"] is not None]
    return {
        "recall_seeds": len(steps),
        "seeds": len(runs),
        "steps_to_recall_median": float(np.median(steps)) if steps else None,
        "validation_interval": runs[0]["validation_interval"],
        "steps_trained": max(run["steps_trained"] for run in runs),
    }


def pooled(sums: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per-observation sums added over seeds: every ratio is then the mean over seeds (the
    denominators are the same test positions for every seed)."""
    return sum(sums[1:], sums[0].copy())


def paired_comparisons(sums: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """For each pair of models and each headline metric: A - B with its paired-bootstrap
    interval over the shared test observations, and whether 0 lies outside it."""
    rows = []
    for a, b in combinations(sums, 2):
        if len(sums[a]) != len(sums[b]):
            raise ValueError(f"{a} and {b} were scored on different test observations")
        for metric, (num, den) in HEADLINE.items():
            diff, low, high = paired_bootstrap(
                sums[a][num], sums[a][den], sums[b][num], sums[b][den]
            )
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "metric": metric,
                    "difference": float(diff),
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "significant": bool(np.isfinite(low) and (low > 0 or high < 0)),
                }
            )
    return rows


def prefix_table(predictions: Sequence[pd.DataFrame], n: int) -> pd.DataFrame:
    """Top-1/2/3 accuracy by letters typed over all seeds' `predictions`, with a bootstrap band
    over observations for top-1 (columns k, top1, top1_ci_low, top1_ci_high, top2, top3, count).

    Each frame has per-position columns observation, k, target and top_words [TOP] of one seed
    on the same n test observations.
    """
    ks = max(int(frame["k"].max()) for frame in predictions) + 1
    hits = np.zeros((n, ks, TOP))
    counts = np.zeros((n, ks))
    for frame in predictions:
        observation, k, target = (frame[c].to_numpy() for c in ("observation", "k", "target"))
        top = np.stack(frame["top_words"].to_numpy())[:, :TOP]
        found = (np.cumsum(top == target[:, None], axis=1) > 0).astype(np.float64)
        for j in range(TOP):
            seed_hits, seed_counts = prefix_sums(observation, k, target, found[:, j], n, ks)
            hits[:, :, j] += seed_hits
        counts += seed_counts
    present = counts.sum(0) > 0
    estimate, low, high = bootstrap_ratio(hits[:, present, 0], counts[:, present])
    seeds = len(predictions)
    table = pd.DataFrame(
        {
            "k": np.flatnonzero(present),
            "top1": estimate,
            "top1_ci_low": low,
            "top1_ci_high": high,
            **{
                f"top{j + 1}": hits[:, present, j].sum(0) / counts[:, present].sum(0)
                for j in range(1, TOP)
            },
            "count": (counts[:, present].sum(0) / seeds).astype(np.int64),
        }
    )
    return table


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """A run's test predictions (the evaluate stage's parquet), or an `InputError` naming it."""
    try:
        return pd.read_parquet(path)
    except (FileNotFoundError, OSError):
        raise InputError(f"{path} not found or unreadable", path) from None


def prediction_sums(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """`metrics.observation_sums` of a predictions table over n test observations."""
    return observation_sums(
        frame["observation"].to_numpy(),
        frame["target"].to_numpy(),
        frame["k"].to_numpy(),
        frame["top_words"].str[0].to_numpy(),
        frame["target_log_prob"].to_numpy(),
        n,
    )


def curve_over_seeds(
    tables: Sequence[pd.DataFrame], x: str, columns: Sequence[str]
) -> pd.DataFrame:
    """A curve over seeds (connectivity by distance, memory by distance, ablation by window):
    per value of `x`, each column's mean and t-interval (one seed: its own interval)."""
    rows = []
    for value, group in pd.concat(tables).groupby(x):
        summary = over_seeds(group.to_dict("records"), columns)
        rows.append({x: value, **{k: v for k, v in summary.items() if k != "interval"}})
    if not rows:  # a curve without points (no planted pairs) keeps its header
        return pd.DataFrame(columns=[x, *columns])
    return pd.DataFrame(rows)
