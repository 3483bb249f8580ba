"""Behavioural memory: does a model name a word better when its earlier mention is in reach?

The probe corpus plants pairs (an antecedent, then the same word again, the referent) and
placebos (a word of the same shape with no antecedent). For each, the model's log-probability
and top-1 hit of the referent word are read at k = 0 (the referent's leading space: nothing of
the word typed) and k = 1 (its first letter typed). Definitions: docs/design.md, Memory against
ground truth.

Placebos sit earlier in their observations than referents (a placebo is a pair's first
mention), and a model names a word differently early and late in an observation, so every
referent-placebo comparison weighs the placebos to the referents' positions: `matched_gap`
is the one place that does it, for a memory curve's buckets, the memory span, the long-range
probe and any caller. `recall_gap(items, scores, seed, resamples) -> (gap, low, high)` is the
pooled comparison with its interval: referent top-1 at k = 1 minus position-matched placebo
top-1, over all distances, 95 % bootstrap over observations.

Estimates that pick a distance (memory span, memory half-life) apply one rule to the sample
and to every bootstrap replicate; a rule that never stops inside the tested distances is
censored and gives the largest distance tested, with a flag. Intervals resample observations,
not pairs: pairs in one observation share the model's state and are not independent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from rnnmem.analysis import rule
from rnnmem.analysis.stats import RESAMPLES, Resampling, interval
from rnnmem.data.dataset import Split
from rnnmem.data.probe import PLACEBO, RECALL
from rnnmem.models.objective import best_words, scored

BUCKET_EDGES = (10, 30, 50, 70, 90, 110, 130, 150, 170, 190)  # distance buckets (lo, hi]
POSITION_BIN = 20  # characters per position bin in which placebos are matched to referents
MIN_PLACEBOS = 30  # placebos a position bin needs; a bin with fewer joins its neighbour
NEAR_CHARS = 30  # the half-life's reference gap pools the pairs at most this far apart
SCORE_COLUMNS = ("logp_k0", "top1_k0", "logp_k1", "top1_k1")


def planted_items(split: Split, dependencies: pd.DataFrame) -> pd.DataFrame:
    """Every planted pair and placebo that lies wholly inside one observation of `split`.

    Found by the observations' corpus offsets, so no text is searched. Columns: observation,
    kind (recall or placebo), position (row index of the referent's leading space: its k = 0
    prediction; k = 1 is the next), antecedent_start and antecedent_end (row span of the
    antecedent's leading space and letters; -1 for placebos), distance (referent offset minus
    antecedent offset; 0 for placebos), word (the referent word), target (its word id).
    """
    if split.offset is None:
        raise ValueError("the split has no observation offsets; rebuild the dataset")
    order = np.argsort(split.offset, kind="stable")
    starts = split.offset[order]
    referent = dependencies["referent_offset"].to_numpy() - 1  # its leading space
    slot = np.searchsorted(starts, referent, side="right") - 1
    observation = order[np.clip(slot, 0, None)]
    base = split.offset[observation]
    position = referent - base
    word = dependencies["referent_word"].to_numpy(dtype=object)
    word_len = np.array([len(w) for w in word], dtype=np.int64)
    recall = (dependencies["kind"] == RECALL).to_numpy()
    antecedent = dependencies["antecedent_offset"].to_numpy()
    start = np.where(recall, antecedent - 1 - base, -1)
    end = np.where(recall, start + 1 + dependencies["antecedent_word"].str.len().to_numpy(), -1)
    inside = (slot >= 0) & (position + word_len < split.length[observation])
    inside &= ~recall | (start >= 0)
    items = pd.DataFrame(
        {
            "observation": observation,
            "kind": dependencies["kind"].to_numpy(),
            "position": position,
            "antecedent_start": start,
            "antecedent_end": end,
            "distance": np.where(recall, dependencies["referent_offset"] - antecedent, 0),
            "word": word,
        }
    )[inside]
    items["target"] = split.target[items["observation"], items["position"]]
    items = items[scored(items["target"].to_numpy())]
    return items.sort_values(["observation", "position"]).reset_index(drop=True)


@torch.no_grad()
def predictions_at(
    model: nn.Module,
    sources: np.ndarray,
    row: np.ndarray,
    position: np.ndarray,
    target: np.ndarray,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Log-probability and top-1 hit (the model's best real word) of `target[i]` at
    `position[i]` (k = 0) and at the next character (k = 1) of sequence `sources[row[i]]`.

    `sources` [M, W] are character ids, PAD after each sequence's end; a sequence is run only
    as far as its queries need, and the output layer only where they read. Returns columns
    logp_k0, top1_k0, logp_k1, top1_k1, one row per query.
    """
    device = next(model.parameters()).device
    stop = np.zeros(len(sources), dtype=np.int64)
    np.maximum.at(stop, row, position + 2)
    order = np.argsort(stop, kind="stable")
    order = order[stop[order] > 0]  # similar lengths together: less padding
    batch_of = np.full(len(sources), -1)
    batch_of[order] = np.arange(len(order)) // batch_size
    slot = np.zeros(len(sources), dtype=np.int64)
    slot[order] = np.arange(len(order)) % batch_size
    queries = np.argsort(batch_of[row], kind="stable")
    bounds = np.searchsorted(batch_of[row][queries], np.arange(batch_of.max() + 2))
    out = {name: np.zeros(len(row)) for name in SCORE_COLUMNS}
    target = torch.as_tensor(np.array(target, dtype=np.int64), device=device)
    was_training = model.training
    model.eval()
    for batch in range(int(batch_of.max()) + 1):
        chunk = order[batch * batch_size : (batch + 1) * batch_size]
        width = int(stop[chunk].max())
        x = torch.as_tensor(sources[chunk, :width], device=device)
        hidden = model.hidden_states(model.embedding(x))
        mine = queries[bounds[batch] : bounds[batch + 1]]
        b = torch.as_tensor(slot[row[mine]], device=device)
        for k in (0, 1):
            t = torch.as_tensor(position[mine] + k, device=device)
            log_probs = torch.log_softmax(model.dense(hidden[b, t]).float(), dim=-1)
            wanted = target[mine]
            out[f"logp_k{k}"][mine] = log_probs.gather(1, wanted[:, None])[:, 0].cpu().numpy()
            best = best_words(log_probs, 1)[1][:, 0]
            out[f"top1_k{k}"][mine] = (best == wanted).cpu().numpy()
    model.train(was_training)
    return pd.DataFrame(out)


def referent_scores(
    model: nn.Module, split: Split, items: pd.DataFrame, batch_size: int = 64
) -> pd.DataFrame:
    """Log-probability and top-1 hit of each item's word at k = 0 and k = 1 (columns logp_k0,
    top1_k0, logp_k1, top1_k1), aligned with `items`."""
    scores = predictions_at(
        model,
        split.source,
        items["observation"].to_numpy(),
        items["position"].to_numpy(),
        items["target"].to_numpy(),
        batch_size,
    )
    return scores.set_axis(items.index)


def bucket_of(distance: np.ndarray, edges: Sequence[int] = BUCKET_EDGES) -> np.ndarray:
    """Bucket index of each distance: bucket i is (edges[i], edges[i + 1]]; -1 outside."""
    index = np.searchsorted(np.asarray(edges), distance, side="left") - 1
    return np.where((distance > edges[0]) & (distance <= edges[-1]), index, -1)


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


SWEEPS = 200  # at most, backfitting the placebos' additive fit, until it moves by < TOLERANCE
TOLERANCE = 1e-9


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


def span_rule(
    lows: np.ndarray, edges: Sequence[int], min_gap: float, tested: float
) -> tuple[float, bool]:
    """Memory span from each bucket's gap interval [buckets] (its lower bounds `lows`): the far
    edge of the last bucket of the unbroken run, from the nearest bucket, that recalls
    (`rule.recalls`: interval above `min_gap`; 0 when the nearest does not, and a bucket
    without pairs breaks the run). A run through the last bucket is censored: the span is
    then `tested`, the largest distance planted. Returns (span, censored)."""
    reached = np.atleast_1d(rule.recalls(np.asarray(lows, dtype=np.float64), min_gap))
    run = int(np.cumprod(reached).sum())
    if run == len(reached):
        return float(tested), True
    return (0.0 if run == 0 else float(edges[run])), False


def _with_interval(summary: dict, key: str, value: float, replicates: np.ndarray) -> None:
    summary[key] = value
    summary[f"{key}_interval"] = list(interval(replicates))


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
    _with_interval(summary, "placebo_top1_k1", pooled.placebo, pooled.placebo_reps)
    _with_interval(summary, "recall_gap_k1", pooled.gap, pooled.gap_reps)
    for k in (0, 1):
        frame = data[recall]
        mean, reps = resampling.mean(frame[f"top1_k{k}"], frame["observation"])
        _with_interval(summary, f"referent_top1_k{k}", mean, reps)
    return curve, summary


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
        _with_interval(summary, f"long_{key}_gap_k1", found[key].gap, found[key].gap_reps)
        summary[f"long_{key}_pairs"] = int(subset.sum())
    reference, position = found["near_early"], found["near_late"]
    effect_reps = position.gap_reps - reference.gap_reps
    _with_interval(summary, "memory_position_effect_k1", position.gap - reference.gap, effect_reps)
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
    _with_interval(summary, "memory_half_life_chars", float(value), reps)
    summary["memory_half_life_censored"] = bool(censored)
    measured = np.isfinite(reps)
    summary["memory_half_life_censored_share"] = (
        float(reps_censored[measured].mean()) if measured.any() else None
    )
    return curve, summary
