"""Memory on any text: words that repeat are the ground truth.

Real text plants no pairs, but a word typed a second time inside one observation can be
completed from memory of its earlier mention. The items are the test split's *word starts*
(a word's leading space: its k = 0 prediction; k = 1 is its first letter), except the one that
opens an observation, whose word is in the vocabulary and outside the `common` most frequent
words of the training split (those are named without any memory). A *repeat* is such a word
that already began earlier in its observation, at a *distance* (characters between the two
first letters) to its nearest earlier mention; a *first mention* has no earlier one.

- **Repeat gain** (behaviour): top-1 on repeats minus top-1 on first mentions of the *same word
  types*, each type weighted by its repeats, so that word frequency cannot explain it. A second
  mention also has other local context than a first ("a ship ... the ship"), so a memoryless
  predictor gains too: the n-gram baseline's gain on the same items is its bar.
- **Swap effect** (cause, the primary measure): the repeat's log-probability with its earlier
  mentions intact minus with their letters replaced by another eligible word of the same
  length that does not occur in the observation (up to `count` swaps, averaged; every earlier
  mention is replaced, so no other copy of the word is left to remember). The repeat's own
  local context is untouched, so only memory of the earlier mention moves it. By distance
  bucket it is the natural memory curve; the natural span is read off it by the recall rule
  (`span.span_rule`, with the effect's own bar in nats).

On the probe corpus the planted referents are repeats of their antecedents, so these measures
must agree with the planted ones there (docs/design.md, Memory on real text).

The swaps themselves are in `intervention` (they run the model); this module is torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rnnmem.analysis.memory import rule
from rnnmem.analysis.memory.planted import bucket_of
from rnnmem.analysis.memory.span import span_rule
from rnnmem.analysis.memory.swaps import pair_effects
from rnnmem.analysis.stats import Resampling, interval, with_interval
from rnnmem.data.dataset import SPACE, Split, scored

ITEM_COLUMNS = ["observation", "position", "target", "word", "repeat", "distance", "earlier"]


def distance_edges(max_length: int) -> tuple[int, ...]:
    """Distance buckets (lo, hi] for repeats: 0-20, 20-50, 50-100, 100-200 characters, then
    doubling, up to the longest observation (a repeat is never farther)."""
    edges = [0, 20, 50, 100, 200]
    while edges[-1] < max_length:
        edges.append(2 * edges[-1])
    return tuple(e for e in edges if e < max_length) + (max_length,)


def common_words(train: Split, count: int) -> np.ndarray:
    """The ids of the `count` most frequent vocabulary words at the training split's word
    starts (ties by id)."""
    ids = train.target[train.source == SPACE]
    counts = np.bincount(ids[scored(ids)])
    order = np.lexsort((np.arange(len(counts)), -counts))
    return np.sort(order[counts[order] > 0][:count])


def word_starts(split: Split, words: Sequence[str], common: np.ndarray) -> pd.DataFrame:
    """Every eligible word start of `split` (see the module docstring), with whether it is a
    repeat, its distance to the nearest earlier mention (0 for a first mention) and the
    leading-space positions of all its earlier mentions (`earlier`). Columns `ITEM_COLUMNS`,
    sorted by observation and position."""
    rows, columns = np.nonzero(split.source == SPACE)  # row-major: in reading order
    targets = split.target[rows, columns]
    excluded = np.zeros(max(len(words), int(targets.max(initial=0)) + 1), dtype=bool)
    excluded[np.asarray(common, dtype=np.int64)] = True
    eligible = scored(targets) & ~excluded[targets] & (columns > 0)
    found, seen, last_row = [], {}, -1
    for row, column, target, keep in zip(rows, columns, targets, eligible, strict=True):
        if row != last_row:
            seen, last_row = {}, row
        before = seen.setdefault(int(target), [])
        if keep:
            distance = int(column - before[-1]) if before else 0
            word = words[target]
            found.append((row, column, target, word, bool(before), distance, tuple(before)))
        before.append(int(column))
    return pd.DataFrame(found, columns=ITEM_COLUMNS).astype(
        {"observation": np.int64, "position": np.int64, "target": np.int64, "distance": np.int64}
    )


def scores_from_predictions(items: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Log-probability and top-1 hit of each item's word at k = 0 and k = 1 (columns logp_k0,
    top1_k0, logp_k1, top1_k1), read off the evaluate stage's predictions (every test position:
    observation, position, target, top_words, target_log_prob) instead of a new forward pass."""
    table = predictions.set_index(["observation", "position"])
    out = {}
    for k in (0, 1):
        keys = pd.MultiIndex.from_arrays([items["observation"], items["position"] + k])
        found = table.reindex(keys)
        if found["target"].isna().any():
            raise ValueError("the predictions lack positions of the test split's word starts")
        out[f"logp_k{k}"] = found["target_log_prob"].to_numpy(dtype=np.float64)
        best = found["top_words"].str[0].to_numpy()
        out[f"top1_k{k}"] = (best == items["target"].to_numpy()).astype(np.float64)
    return pd.DataFrame(out, index=items.index)


def _type_sums(
    resampling: Resampling, observation: np.ndarray, kind: np.ndarray, values: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sums of `values` per word type (index `kind` < n), in the sample [n] and in every
    replicate [resamples, n]."""
    per = np.zeros((len(resampling.universe), n))
    np.add.at(per, (resampling.columns(observation), kind), values)
    return per.sum(0), resampling.weights @ per


def repeat_gain(
    items: pd.DataFrame, column: str, resampling: Resampling, chosen: np.ndarray | None = None
) -> dict[str, tuple[float, np.ndarray]]:
    """Top-1 (`column`) on the chosen repeats (all if None) against first mentions of the same
    word types weighted to those repeats' mix of types, in the sample and every replicate:
    {"repeat": ..., "first": ..., "gain": ...}, each (value, replicates). Types without a first
    mention in the split are left out, as are replicates that draw none of a type's first
    mentions (NaN there)."""
    repeat = items["repeat"].to_numpy()
    mine = repeat if chosen is None else repeat & np.asarray(chosen)
    types, kind = np.unique(items.loc[mine, "target"].to_numpy(), return_inverse=True)
    first = ~repeat & np.isin(items["target"].to_numpy(), types)
    first_kind = np.searchsorted(types, items.loc[first, "target"].to_numpy())
    hits = items[column].to_numpy(dtype=np.float64)
    observation = items["observation"].to_numpy()
    n = len(types)
    sums = {
        "repeat_hits": _type_sums(resampling, observation[mine], kind, hits[mine], n),
        "repeats": _type_sums(resampling, observation[mine], kind, np.ones(mine.sum()), n),
        "first_hits": _type_sums(resampling, observation[first], first_kind, hits[first], n),
        "firsts": _type_sums(resampling, observation[first], first_kind, np.ones(first.sum()), n),
    }
    found = {}
    for at in (0, 1):  # the sample, then the replicates
        r_hits, r_count, f_hits, f_count = (sums[key][at] for key in sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            usable = (r_count > 0) & (f_count > 0)
            weight = np.where(usable, r_count, 0.0)
            total = weight.sum(-1)
            level = (np.where(usable, r_hits, 0.0)).sum(-1) / total
            matched = (weight * np.where(usable, f_hits / f_count, 0.0)).sum(-1) / total
        found[at] = (level, matched, level - matched)
    return {
        name: (float(found[0][i]), np.asarray(found[1][i]))
        for i, name in enumerate(("repeat", "first", "gain"))
    }


def natural_curve(
    items: pd.DataFrame,
    effects: pd.DataFrame,
    resampling: Resampling,
    seed: int,
    edges: Sequence[int],
    min_effect: float,
) -> tuple[pd.DataFrame, dict]:
    """Repeat gain and swap effect at k = 0 and k = 1 by distance bucket and pooled, with their
    intervals (the swap effect's two-stage: observations, then each repeat's swaps), whether
    each bucket recalls by the swap effect at k = 1, and the natural span. `items` hold the
    top1_k0/top1_k1 columns of `scores_from_predictions`."""
    resamples = len(resampling.weights)
    repeat = items["repeat"].to_numpy()
    bucket = np.where(repeat, bucket_of(items["distance"].to_numpy(), edges), -1)
    nothing = (float("nan"), np.full(resamples, np.nan))
    per_k = {}
    if len(effects):
        per_k = {k: pair_effects(items, effects, f"effect_k{k}", resamples, seed) for k in (0, 1)}
        swapped = bucket_of(items.loc[per_k[0].items, "distance"].to_numpy(), edges)

    def effect(k: int, i: int | None = None) -> tuple[float, np.ndarray]:
        """The swap effect at k over bucket i's swapped repeats (all if None)."""
        if not per_k:
            return nothing
        return per_k[k].estimate(resampling, None if i is None else swapped == i)

    rows = []
    for i in range(len(edges) - 1):
        repeats = int((bucket == i).sum())
        row = {"distance_low": edges[i], "distance": edges[i + 1], "repeats": repeats}
        for k in (0, 1):
            for name, (value, reps) in (
                ("repeat_gain", repeat_gain(items, f"top1_k{k}", resampling, bucket == i)["gain"]),
                ("swap_effect", effect(k, i)),
            ):
                row[f"{name}_k{k}"] = value
                row[f"{name}_k{k}_low"], row[f"{name}_k{k}_high"] = interval(reps)
        row["recalls"] = bool(rule.recalls(row["swap_effect_k1_low"], min_effect))
        rows.append(row)
    curve = pd.DataFrame(rows)
    tested = float(items.loc[bucket >= 0, "distance"].max()) if (bucket >= 0).any() else 0.0
    lows = np.where(curve["repeats"] > 0, curve["swap_effect_k1_low"], np.nan)
    span, censored = span_rule(lows, edges, min_effect, tested)
    summary = {
        "natural_repeats": int(repeat.sum()),
        "natural_first_mentions": int((~repeat).sum()),
        "natural_types": int(items.loc[repeat, "target"].nunique()),
        "natural_swapped_repeats": len(per_k[0].items) if per_k else 0,
        "natural_swaps": int(per_k[0].swaps.sum()) if per_k else 0,
        "natural_span_chars": span,
        "natural_span_censored": censored,
        "natural_span_tested_chars": tested,
    }
    for k in (0, 1):
        found = repeat_gain(items, f"top1_k{k}", resampling)
        with_interval(summary, f"natural_repeat_gain_k{k}", *found["gain"])
        with_interval(summary, f"natural_repeat_top1_k{k}", *found["repeat"])
        with_interval(summary, f"natural_first_top1_k{k}", *found["first"])
        with_interval(summary, f"natural_swap_effect_k{k}", *effect(k))
    low = summary["natural_swap_effect_k1_interval"][0]
    summary["natural_recalls_k1"] = bool(rule.recalls(low, min_effect))
    return curve, summary
