"""Behavioural memory: does a model name a word better when its earlier mention is in reach?

The probe corpus plants pairs (an antecedent, then the same word again, the referent) and
placebos (a word of the same shape with no antecedent). For each, the model's log-probability
and top-1 hit of the referent word are read at k = 0 (the referent's leading space: nothing of
the word typed) and k = 1 (its first letter typed). Curves by distance bucket, beside the
placebo level, are the ground truth that connectivity is judged against; the intervention
(antecedent swapped for another word of its class and length) measures the antecedent's causal
effect. Intervals are bootstrap intervals that resample observations, not pairs: pairs in one
observation share the model's state and are not independent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from rnnmem.analysis.metrics import scored
from rnnmem.analysis.stats import RESAMPLES, group_means, interval, resample_weights
from rnnmem.data.dataset import Split
from rnnmem.data.probe import PLACEBO, RECALL

BUCKET_EDGES = (10, 30, 50, 70, 90, 110, 130, 150, 170, 190)  # distance buckets (lo, hi]
POSITION_BIN = 20  # characters: placebos are matched to referents within bins of this width
RECALL_GAP_COLUMNS = (
    "gap",
    "gap_low",
    "gap_high",
    "referent_top1_k1",
    "placebo_top1_k1",
    "pairs",
    "placebos",
)


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
def referent_scores(
    model: nn.Module,
    split: Split,
    items: pd.DataFrame,
    batch_size: int = 64,
    source: np.ndarray | None = None,
) -> pd.DataFrame:
    """Log-probability and top-1 hit of each item's word at k = 0 and k = 1.

    `source` replaces the split's characters (an intervention); the targets stay the split's.
    Returns columns logp_k0, top1_k0, logp_k1, top1_k1, aligned with `items`.
    """
    source = split.source if source is None else source
    device = next(model.parameters()).device
    rows = np.unique(items["observation"].to_numpy())
    index = {row: i for i, row in enumerate(rows)}
    batch_of = items["observation"].map(index).to_numpy()
    out = {name: np.zeros(len(items)) for name in ("logp_k0", "top1_k0", "logp_k1", "top1_k1")}
    target = torch.as_tensor(np.array(items["target"], dtype=np.int64))
    was_training = model.training
    model.eval()
    for first in range(0, len(rows), batch_size):
        chunk = rows[first : first + batch_size]
        width = int(split.length[chunk].max())
        x = torch.as_tensor(source[chunk, :width], device=device)
        log_probs = torch.log_softmax(model(x).float(), dim=-1).cpu()
        mine = np.flatnonzero((batch_of >= first) & (batch_of < first + len(chunk)))
        b = torch.as_tensor(batch_of[mine] - first)
        for k in (0, 1):
            t = torch.as_tensor(items["position"].to_numpy()[mine] + k)
            at = log_probs[b, t]
            out[f"logp_k{k}"][mine] = at.gather(1, target[mine, None])[:, 0].numpy()
            out[f"top1_k{k}"][mine] = (at.argmax(-1) == target[mine]).numpy()
    model.train(was_training)
    return pd.DataFrame(out, index=items.index)


def swap_antecedents(
    split: Split,
    items: pd.DataFrame,
    classes: Sequence[Sequence[str]],
    chars: Sequence[str],
    seed: int = 0,
) -> np.ndarray:
    """Sources with each recall item's antecedent replaced by another word of its class and
    length that does not occur in the observation (the intervention).

    `classes` are the word lists a word is exchangeable within (the probe's name classes);
    `items` must hold at most one recall item per observation, so that each referent sees
    only its own antecedent changed. An item with no possible replacement keeps its word.
    """
    recall = items[items["kind"] == RECALL]
    if recall["observation"].duplicated().any():
        raise ValueError("swap one antecedent per observation at a time")
    char_id = {c: i for i, c in enumerate(chars)}
    class_of = {w: c for c in classes for w in c}
    rng = np.random.default_rng(seed)
    source = split.source.copy()
    for row in recall.itertuples():
        n = split.length[row.observation]
        present = set("".join(chars[i] for i in source[row.observation, :n]).split())
        options = [
            w for w in class_of.get(row.word, ()) if len(w) == len(row.word) and w not in present
        ]
        if options:
            new = options[int(rng.integers(len(options)))]
            letters = [char_id[c] for c in new]
            source[row.observation, row.antecedent_start + 1 : row.antecedent_end] = letters
    return source


def intervention_effects(
    model: nn.Module,
    split: Split,
    items: pd.DataFrame,
    classes: Sequence[Sequence[str]],
    chars: Sequence[str],
    batch_size: int = 64,
    seed: int = 0,
) -> pd.DataFrame:
    """Drop in the referent's log-probability at k = 0 and k = 1 when its antecedent is
    swapped (see `swap_antecedents`); one pass per pair rank within an observation.

    Returns columns effect_k0, effect_k1 for the recall items (placebos are left out).
    """
    recall = items[items["kind"] == RECALL]
    before = referent_scores(model, split, recall, batch_size)
    rank = recall.groupby("observation").cumcount()
    effects = pd.DataFrame(index=recall.index, columns=["effect_k0", "effect_k1"], dtype=float)
    for r in range(int(rank.max()) + 1 if len(recall) else 0):
        chosen = recall[rank == r]
        swapped = swap_antecedents(split, chosen, classes, chars, seed + r)
        after = referent_scores(model, split, chosen, batch_size, source=swapped)
        for k in (0, 1):
            effects.loc[chosen.index, f"effect_k{k}"] = (
                before.loc[chosen.index, f"logp_k{k}"] - after[f"logp_k{k}"]
            )
    return effects


def bucket_of(distance: np.ndarray, edges: Sequence[int] = BUCKET_EDGES) -> np.ndarray:
    """Bucket index of each distance: bucket i is (edges[i], edges[i + 1]]; -1 outside."""
    index = np.searchsorted(np.asarray(edges), distance, side="left") - 1
    return np.where((distance > edges[0]) & (distance <= edges[-1]), index, -1)


def memory_curve(
    items: pd.DataFrame,
    scores: pd.DataFrame,
    effects: pd.DataFrame | None = None,
    edges: Sequence[int] = BUCKET_EDGES,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """Accuracy, log-probability (and intervention effect) by distance bucket, with intervals,
    and the summary: pooled placebo level and memory span.

    Memory span: the upper edge of the largest bucket such that it and every nearer bucket
    beat the pooled placebo top-1 accuracy at k = 1, that is, the bootstrap interval of (bucket
    accuracy minus placebo accuracy) lies above 0; 0 when the nearest bucket does not. Its
    interval comes from the span of each bootstrap replicate (bucket beats placebo there).
    """
    data = items.join(scores)
    if effects is not None:
        data = data.join(effects)
    universe = np.unique(data["observation"].to_numpy())
    weights = resample_weights(len(universe), seed=seed)
    placebo = data[data["kind"] == PLACEBO]
    recall = data[data["kind"] == RECALL]
    bucket = bucket_of(recall["distance"].to_numpy(), edges)

    def stat(frame: pd.DataFrame, column: str) -> tuple[float, np.ndarray]:
        values = frame[column].to_numpy(dtype=np.float64)
        return group_means(values, frame["observation"].to_numpy(), weights, universe)

    base, base_reps = stat(placebo, "top1_k1")
    rows, beats, rep_beats = [], [], []
    columns = ["top1_k0", "top1_k1", "logp_k0", "logp_k1"]
    if effects is not None:
        columns += ["effect_k0", "effect_k1"]
    for i in range(len(edges) - 1):
        chosen = recall[bucket == i]
        row = {"distance_low": edges[i], "distance": edges[i + 1], "pairs": len(chosen)}
        for column in columns:
            mean, reps = stat(chosen, column)
            row[column], (row[f"{column}_low"], row[f"{column}_high"]) = mean, interval(reps)
            if column == "top1_k1":
                low, _ = interval(reps - base_reps)
                beats.append(bool(low > 0))
                rep_beats.append(np.nan_to_num(reps - base_reps, nan=-1.0) > 0)
        for k in (0, 1):
            mean, reps = stat(placebo, f"top1_k{k}")
            row[f"placebo_top1_k{k}"] = mean
        rows.append(row)
    curve = pd.DataFrame(rows)
    span_reps = np.array([_span(list(b), edges) for b in np.array(rep_beats).T])
    summary = {
        "memory_span_chars": _span(beats, edges),
        "memory_span_chars_interval": list(interval(span_reps.astype(float))),
        "placebo_top1_k1": base,
        "placebo_top1_k1_interval": list(interval(base_reps)),
        "pairs": len(recall),
        "placebos": len(placebo),
        "observations": len(universe),
    }
    for k in (0, 1):
        mean, reps = stat(recall, f"top1_k{k}")
        summary[f"referent_top1_k{k}"] = mean
        summary[f"referent_top1_k{k}_interval"] = list(interval(reps))
        if effects is not None:
            mean, reps = stat(recall, f"effect_k{k}")
            summary[f"intervention_effect_k{k}"] = mean
            summary[f"intervention_effect_k{k}_interval"] = list(interval(reps))
    return curve, summary


def _span(beats: Sequence[bool], edges: Sequence[int]) -> int:
    """Upper edge of the last bucket of the leading run of beating buckets (0 if none)."""
    run = 0
    while run < len(beats) and beats[run]:
        run += 1
    return int(edges[run]) if run else 0


def recall_gap(
    items: pd.DataFrame, scores: pd.DataFrame, seed: int = 0, resamples: int = RESAMPLES
) -> dict[str, float]:
    """Referent minus position-matched placebo top-1 at k = 1, pooled over distances, with
    its bootstrap interval over observations (keys `RECALL_GAP_COLUMNS`).

    Placebos sit earlier in an observation than referents, and position alone moves
    accuracy, so the placebo level is taken at the referents' positions: within each
    `POSITION_BIN`-character bin of the prediction's position, referent minus placebo mean,
    averaged with the referents' counts as weights over the bins that hold both. Every
    bootstrap replicate applies the same rule to its resampled observations.
    """
    data = items.join(scores)
    referent = (data["kind"] == RECALL).to_numpy()
    placebo = (data["kind"] == PLACEBO).to_numpy()
    if not (referent.any() and placebo.any()):
        counts = [int(referent.sum()), int(placebo.sum())]
        return dict(zip(RECALL_GAP_COLUMNS, [float("nan")] * 5 + counts, strict=True))
    universe = np.unique(data["observation"].to_numpy())
    bins = int(data["position"].max()) // POSITION_BIN + 1
    column = np.searchsorted(universe, data["observation"].to_numpy())
    cell = column * bins + data["position"].to_numpy() // POSITION_BIN
    hit = data["top1_k1"].to_numpy(dtype=np.float64)
    size = len(universe) * bins

    def table(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(cell[mask], values[mask], minlength=size).reshape(-1, bins)

    ones = np.ones(len(data))
    sums = [table(referent, hit), table(referent, ones), table(placebo, hit), table(placebo, ones)]

    def gap(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Matched gap, referent and placebo level for each row of observation weights."""
        r_hit, r_n, p_hit, p_n = (weights @ t for t in sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            both = (r_n > 0) & (p_n > 0)
            share = np.where(both, r_n, 0) / np.where(both, r_n, 0).sum(-1, keepdims=True)
            r_mean = np.where(both, r_hit / r_n, 0)
            p_mean = np.where(both, p_hit / p_n, 0)
            r_level, p_level = (share * r_mean).sum(-1), (share * p_mean).sum(-1)
        return r_level - p_level, r_level, p_level

    point, r_level, p_level = gap(np.ones((1, len(universe))))
    reps, _, _ = gap(resample_weights(len(universe), resamples, seed))
    low, high = interval(reps)
    return {
        "gap": float(point[0]),
        "gap_low": low,
        "gap_high": high,
        "referent_top1_k1": float(r_level[0]),
        "placebo_top1_k1": float(p_level[0]),
        "pairs": int(referent.sum()),
        "placebos": int(placebo.sum()),
    }
