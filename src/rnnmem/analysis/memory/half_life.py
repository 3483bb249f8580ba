"""The long-range probe: how a model's recall fades with distance, out to nearly a thousand
characters, and whether that fading is about distance at all.

The half-life is where a least-squares line of the bucket gaps on log distance falls to half
the gap of near pairs inside the training length (`half_life_rule`): continuous in the data
over the whole tested range, censored ("≥") only when the line stays above half to the
farthest distance tested. Far pairs also sit far into the text, so the position effect (near
pairs late minus near pairs early) is measured beside it, and a half-life that position could
explain is withheld.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rnnmem.analysis.memory import rule
from rnnmem.analysis.memory.matching import PlaceboModel, matched_gap
from rnnmem.analysis.memory.planted import bucket_of
from rnnmem.analysis.stats import Resampling, interval, with_interval
from rnnmem.data.probe import RECALL

NEAR_CHARS = 30  # the half-life's reference gap pools the pairs at most this far apart


def half_life_rule(
    gaps: np.ndarray,
    weights: np.ndarray,
    reference: np.ndarray,
    distances: Sequence[float],
    nearest: float,
    tested: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Memory half-life of bucket gaps [..., buckets] against a reference gap [...]: where the
    least-squares line of the gaps on log distance (bucket i at `distances[i]`, weighted by
    `weights[i]`, NaN gaps left out) falls to half the reference. The line is read between the
    nearest distance tested (`nearest`: a line already at half there gives `nearest`) and the
    farthest (`tested`: a line still above half there is censored and gives `tested`), so the
    value moves continuously with the data over the whole tested range, and no one bucket
    decides it. Returns (half-life, censored), each of shape [...]; NaN where the reference
    or the line is not finite."""
    gaps = np.asarray(gaps, dtype=np.float64)
    x = np.log(np.asarray(distances, dtype=np.float64))
    w = np.where(np.isfinite(gaps), np.asarray(weights, dtype=np.float64), 0.0)
    g = np.nan_to_num(gaps)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = w.sum(-1)
        mean_x = (w * x).sum(-1) / total
        mean_g = (w * g).sum(-1) / total
        dx = x - mean_x[..., None]
        slope = (w * dx * (g - mean_g[..., None])).sum(-1) / (w * dx**2).sum(-1)
        half = np.asarray(reference, dtype=np.float64) / 2
        lo, hi = np.log(nearest), np.log(tested)
        at_lo = mean_g + slope * (lo - mean_x)
        at_hi = mean_g + slope * (hi - mean_x)
        crossing = np.exp(np.clip(mean_x + (half - mean_g) / slope, lo, hi))
    censored = at_hi > half
    value = np.where(at_lo <= half, float(nearest), np.where(censored, float(tested), crossing))
    undefined = ~(np.isfinite(at_lo) & np.isfinite(at_hi) & np.isfinite(half))
    return np.where(undefined, np.nan, value), censored & ~undefined


def half_life(
    items: pd.DataFrame,
    scores: pd.DataFrame,
    resampling: Resampling,
    edges: Sequence[int],
    late_from: int,
    min_gap: float,
) -> tuple[pd.DataFrame, dict]:
    """The long-range memory curve and the memory half-life, for the sample and every
    replicate: `half_life_rule` on each bucket's position-matched gap in top-1 at k = 1,
    against the reference gap of the near pairs (at most `NEAR_CHARS` apart) that lie before
    `late_from` characters into their observation, where training observations reached.

    On this probe far pairs also sit far into the observation, so distance and position move
    together. The position effect (the gap of near pairs wholly past `late_from` minus that of
    near pairs before it) says whether position alone changes recall; where its interval lies
    wholly beyond `min_gap` either way (the recall rule's bar for an effect that matters, read
    on its size) the half-life is withheld (null) and flagged confounded: the decay cannot be
    put down to distance. The half-life is null too when the reference does not recall
    (`rule.recalls`): there is nothing to halve. The share of replicates that are censored is
    reported beside it.
    """
    data = items.join(scores)
    recall = (data["kind"] == RECALL).to_numpy()
    distance = data["distance"].to_numpy()
    bucket = np.where(recall, bucket_of(distance, edges), -1)
    late = recall & (data["antecedent_start"].to_numpy() >= late_from)
    middles = np.sqrt(np.asarray(edges[:-1], dtype=np.float64) * np.asarray(edges[1:]))
    fit = PlaceboModel.over(data, "top1_k1", resampling)
    rows, gaps, gap_reps = [], [], []
    for i in range(len(edges) - 1):
        chosen = bucket == i
        matched = matched_gap(data, "top1_k1", resampling, chosen, fit)
        row = {
            "distance_low": edges[i],
            "distance": edges[i + 1],
            "distance_middle": middles[i],
            "pairs": int(chosen.sum()),
            "top1_k1": matched.referent,
            "placebo_top1_k1": matched.placebo,
            "gap_k1": matched.gap,
        }
        row["gap_k1_low"], row["gap_k1_high"] = interval(matched.gap_reps)
        in_late = matched_gap(data, "top1_k1", resampling, chosen & late, fit)
        row["late_pairs"] = int((chosen & late).sum())
        row["late_gap_k1"] = in_late.gap
        row["late_gap_k1_low"], row["late_gap_k1_high"] = interval(in_late.gap_reps)
        gaps.append(matched.gap)
        gap_reps.append(matched.gap_reps)
        rows.append(row)
    curve = pd.DataFrame(rows)
    near = recall & (distance <= NEAR_CHARS)
    early = near & (data["position"].to_numpy() < late_from)
    tested = float(distance[bucket >= 0].max()) if (bucket >= 0).any() else 0.0
    summary = {
        "long_probe_pairs": int(recall.sum()),
        "long_probe_observations": len(np.unique(data["observation"])),
        "long_probe_tested_chars": tested,
    }
    found = {}
    for key, subset in (("near", near), ("near_early", early), ("near_late", near & late)):
        found[key] = matched_gap(data, "top1_k1", resampling, subset, fit)
        with_interval(summary, f"long_{key}_gap_k1", found[key].gap, found[key].gap_reps)
        summary[f"long_{key}_pairs"] = int(subset.sum())
    reference, position = found["near_early"], found["near_late"]
    effect_reps = position.gap_reps - reference.gap_reps
    with_interval(summary, "memory_position_effect_k1", position.gap - reference.gap, effect_reps)
    low, high = interval(effect_reps)
    confounded = bool(rule.recalls(low, min_gap) or rule.recalls(-high, min_gap))
    summary["memory_half_life_confounded"] = confounded
    withheld = {
        "memory_half_life_chars": None,
        "memory_half_life_chars_interval": [None, None],
        "memory_half_life_censored": None,
        "memory_half_life_censored_share": None,
    }
    if confounded or not rule.recalls(interval(reference.gap_reps)[0], min_gap):
        return curve, summary | withheld
    weights, reach = curve["pairs"].to_numpy(), (middles, edges[0], tested)
    value, censored = half_life_rule(np.array(gaps), weights, reference.gap, *reach)
    reps, reps_censored = half_life_rule(np.array(gap_reps).T, weights, reference.gap_reps, *reach)
    with_interval(summary, "memory_half_life_chars", float(value), reps)
    summary["memory_half_life_censored"] = bool(censored)
    measured = np.isfinite(reps)
    summary["memory_half_life_censored_share"] = (
        float(reps_censored[measured].mean()) if measured.any() else None
    )
    return curve, summary
