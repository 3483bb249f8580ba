"""How far back a model recalls planted pairs: the memory curve by distance bucket and the span.

Every bucket is read by the recall rule on its position- and name-matched gap at k = 1; the
span is the unbroken run of buckets that recall, from the nearest (`span_rule`, shared with
memory on words that repeat). A span through the last bucket is censored at the largest
distance planted: "at least", never "equal".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rnnmem.analysis.memory import rule
from rnnmem.analysis.memory.matching import PlaceboModel, matched_gap
from rnnmem.analysis.memory.planted import BUCKET_EDGES, SCORE_COLUMNS, bucket_of
from rnnmem.analysis.stats import Resampling, interval, with_interval
from rnnmem.data.probe import PLACEBO, RECALL


def span_rule(
    lows: np.ndarray, edges: Sequence[int], bar: float, tested: float
) -> tuple[float, bool]:
    """How far back a model recalls, from each distance bucket's interval (its lower bounds
    `lows`, NaN where a bucket holds nothing to read): the far edge of the last bucket of the
    unbroken run, from the nearest, that recalls (`rule.recalls` with `bar`; 0 when the nearest
    does not, and a bucket without items breaks the run). A run through the last bucket that
    holds items is censored: the span is then `tested`, the farthest distance the data holds.
    The planted span (gap in top-1, `memory.min_gap`) and the natural one (swap effect in nats,
    `memory.min_effect_nats`) are this one rule. Returns (span, censored)."""
    lows = np.asarray(lows, dtype=np.float64)
    held = np.flatnonzero(np.isfinite(lows))
    run = int(np.cumprod(np.atleast_1d(rule.recalls(lows, bar))).sum())
    if len(held) and run > held.max():
        return float(tested), True
    return (0.0 if run == 0 else float(edges[run])), False


def memory_curve(
    items: pd.DataFrame,
    scores: pd.DataFrame,
    resampling: Resampling,
    edges: Sequence[int] = BUCKET_EDGES,
    min_gap: float = 0.05,
) -> tuple[pd.DataFrame, dict]:
    """Accuracy and log-probability by distance bucket beside the position-matched placebo
    level, with intervals and whether each bucket recalls (`rule.recalls`), and the summary:
    pooled levels, the gap, its verdict and the memory span (`span_rule` on the buckets)."""
    data = items.join(scores)
    recall = (data["kind"] == RECALL).to_numpy()
    bucket = np.where(recall, bucket_of(data["distance"].to_numpy(), edges), -1)
    fits = {k: PlaceboModel.over(data, f"top1_k{k}", resampling) for k in (0, 1)}
    rows = []
    for i in range(len(edges) - 1):
        chosen = bucket == i
        row = {"distance_low": edges[i], "distance": edges[i + 1], "pairs": int(chosen.sum())}
        for column in SCORE_COLUMNS:
            frame = data[chosen]
            mean, reps = resampling.mean(frame[column], frame["observation"])
            row[column], (row[f"{column}_low"], row[f"{column}_high"]) = mean, interval(reps)
        row["placebo_top1_k0"] = matched_gap(data, "top1_k0", resampling, chosen, fits[0]).placebo
        matched = matched_gap(data, "top1_k1", resampling, chosen, fits[1])
        row["placebo_top1_k1"], row["gap_k1"] = matched.placebo, matched.gap
        row["placebo_top1_k1_low"], row["placebo_top1_k1_high"] = interval(matched.placebo_reps)
        row["gap_k1_low"], row["gap_k1_high"] = interval(matched.gap_reps)
        row["recalls"] = rule.recalls(row["gap_k1_low"], min_gap)
        rows.append(row)
    curve = pd.DataFrame(rows)
    planted = bucket >= 0
    tested = float(data.loc[planted, "distance"].max()) if planted.any() else 0.0
    span, censored = span_rule(curve["gap_k1_low"].to_numpy(), edges, min_gap, tested)
    pooled = matched_gap(data, "top1_k1", resampling, placebos=fits[1])
    low, high = interval(pooled.gap_reps)
    summary = {
        "memory_span_chars": span,
        "memory_span_censored": censored,
        "memory_span_tested_chars": tested,
        "recalls_k1": rule.recalls(low, min_gap),
        "below_placebos_k1": rule.verdict(low, high, min_gap) == "below",
        "pairs": int(recall.sum()),
        "placebos": int((data["kind"] == PLACEBO).sum()),
        "observations": len(np.unique(data["observation"])),
    }
    with_interval(summary, "placebo_top1_k1", pooled.placebo, pooled.placebo_reps)
    with_interval(summary, "recall_gap_k1", pooled.gap, pooled.gap_reps)
    for k in (0, 1):
        frame = data[recall]
        mean, reps = resampling.mean(frame[f"top1_k{k}"], frame["observation"])
        with_interval(summary, f"referent_top1_k{k}", mean, reps)
    return curve, summary
