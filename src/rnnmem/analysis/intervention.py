"""The intervention: what the antecedent causes, measured by changing it.

Each planted pair's antecedent is replaced, one at a time, by up to `count` other names of its
class and length that do not occur in its observation (`alternatives`, a seeded draw); the drop
in the referent's log-probability at k = 0 and k = 1 is the antecedent's causal effect, and a
pair's effect is the mean over its swaps (a short name class offers fewer candidates, so the
count is kept). Definitions: docs/design.md, Memory against ground truth.

The draw of names is part of the measurement, so the interval is a two-stage bootstrap: the
observations (the memory measures' shared `Resampling`), then each pair's swaps again, with
replacement, from a stream of its own seed. Two models scored with the same seed share both
stages, so their difference is paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch import nn

from rnnmem.analysis.memory import BUCKET_EDGES, bucket_of, predictions_at, referent_scores
from rnnmem.analysis.stats import CHUNK, Resampling, interval
from rnnmem.data.dataset import CHARS, Split
from rnnmem.data.probe import RECALL

EFFECT_COLUMNS = ["item", "swap", "name", "effect_k0", "effect_k1"]
_SWAP_STREAM = 1  # the second stage's random stream, apart from the first's observation draws


def alternatives(
    split: Split,
    items: pd.DataFrame,
    classes: Sequence[Sequence[str]],
    count: int,
    seed: int,
    first_letter: bool = False,
) -> pd.Series:
    """Up to `count` names for each recall item's antecedent, in the order drawn: of its class
    and length, absent from its observation and, with `first_letter`, starting with its first
    letter. `classes` are the word lists a word is exchangeable within (the probe's name
    classes). Indexed like the recall items; each value a tuple (empty: no candidate)."""
    recall = items[items["kind"] == RECALL]
    rng = np.random.default_rng([seed, int(first_letter)])
    class_of = {word: tuple(names) for names in classes for word in names}
    present: dict[int, set[str]] = {}
    drawn = []
    for row in recall.itertuples():
        if row.observation not in present:
            ids = split.source[row.observation, : split.length[row.observation]]
            present[row.observation] = set("".join(CHARS[i] for i in ids).split())
        options = [
            name
            for name in class_of.get(row.word, ())
            if len(name) == len(row.word)
            and name not in present[row.observation]
            and (not first_letter or name[0] == row.word[0])
        ]
        drawn.append(tuple(options[i] for i in rng.permutation(len(options))[:count]))
    return pd.Series(drawn, index=recall.index, dtype=object)


def intervention_effects(
    model: nn.Module,
    split: Split,
    items: pd.DataFrame,
    names: pd.Series,
    batch_size: int,
) -> pd.DataFrame:
    """The drop in each referent's log-probability at k = 0 and k = 1 when its antecedent is
    replaced by each of its `names` (from `alternatives`), every other character unchanged.

    One row per (item, swap): item (its index in `items`), swap (rank of the name in its
    draw), name, effect_k0, effect_k1.
    """
    recall = items.loc[names.index]
    swaps = [(item, j, name) for item, drawn in names.items() for j, name in enumerate(drawn)]
    if not swaps:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    item = np.array([s[0] for s in swaps])
    chosen = recall.loc[item]
    sources = split.source[chosen["observation"].to_numpy()].copy()
    char_id = {c: i for i, c in enumerate(CHARS)}
    for v, (_, _, name) in enumerate(swaps):
        start = int(chosen["antecedent_start"].iloc[v]) + 1
        sources[v, start : start + len(name)] = [char_id[c] for c in name]
    after = predictions_at(
        model,
        sources,
        np.arange(len(swaps)),
        chosen["position"].to_numpy(),
        chosen["target"].to_numpy(),
        batch_size,
    )
    before = referent_scores(model, split, recall, batch_size).loc[item]
    frame = pd.DataFrame(
        {"item": item, "swap": [s[1] for s in swaps], "name": [s[2] for s in swaps]}
    )
    for k in (0, 1):
        frame[f"effect_k{k}"] = before[f"logp_k{k}"].to_numpy() - after[f"logp_k{k}"].to_numpy()
    return frame


@dataclass(frozen=True)
class PairEffects:
    """Each pair's effect (the mean over its swaps) in the sample, [pairs], and in every
    replicate of the second bootstrap stage, [resamples, pairs]."""

    items: np.ndarray  # the pairs' indices in `items`
    observation: np.ndarray
    swaps: np.ndarray  # swaps per pair
    mean: np.ndarray
    reps: np.ndarray

    def estimate(
        self, resampling: Resampling, chosen: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """Mean effect over the chosen pairs (all if None), and its two-stage replicates: each
        replicate's observation draw weighs that replicate's pair means."""
        chosen = np.ones(len(self.items), dtype=bool) if chosen is None else chosen
        if not chosen.any():
            return float("nan"), np.full(len(resampling.weights), np.nan)
        weights = resampling.weights_of(self.observation[chosen])
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = (weights * self.reps[:, chosen]).sum(1) / weights.sum(1)
        return float(self.mean[chosen].mean()), reps


def pair_effects(
    items: pd.DataFrame, effects: pd.DataFrame, column: str, resamples: int, seed: int
) -> PairEffects:
    """`column` of `effects` (from `intervention_effects`) as each pair's mean over its swaps,
    and `resamples` second-stage replicates: each pair's swaps drawn again with replacement,
    from a stream of `seed` apart from the observations' draws."""
    table = effects.pivot(index="item", columns="swap", values=column)
    values = table.to_numpy(dtype=np.float64)
    counts = np.isfinite(values).sum(1)
    pairs, width = values.shape
    rng = np.random.default_rng([seed, _SWAP_STREAM])
    used = np.arange(width) < counts[:, None]
    reps = np.empty((resamples, pairs))
    for start in range(0, resamples, CHUNK):
        n = min(CHUNK, resamples - start)
        draw = (rng.random((n, pairs, width)) * counts[None, :, None]).astype(np.int64)
        picked = values[np.arange(pairs)[None, :, None], draw]
        reps[start : start + n] = np.where(used, picked, 0.0).sum(-1) / counts
    item = table.index.to_numpy()
    return PairEffects(
        items=item,
        observation=items.loc[item, "observation"].to_numpy(),
        swaps=counts,
        mean=np.nanmean(values, axis=1) if pairs else np.zeros(0),
        reps=reps,
    )


def effect_curve(
    items: pd.DataFrame,
    effects: pd.DataFrame,
    resampling: Resampling,
    seed: int,
    edges: Sequence[int] = BUCKET_EDGES,
) -> tuple[pd.DataFrame, dict]:
    """The intervention effect at k = 0 and k = 1 by distance bucket and overall, with
    two-stage bootstrap intervals, and how many swaps stand behind it."""
    resamples = len(resampling.weights)
    per_k = {k: pair_effects(items, effects, f"effect_k{k}", resamples, seed) for k in (0, 1)}
    first = per_k[0]
    bucket = bucket_of(items.loc[first.items, "distance"].to_numpy(), edges)
    rows = []
    for i in range(len(edges) - 1):
        row = {"distance": edges[i + 1], "swapped_pairs": int((bucket == i).sum())}
        for k, pairs in per_k.items():
            mean, reps = pairs.estimate(resampling, bucket == i)
            row[f"effect_k{k}"], (row[f"effect_k{k}_low"], row[f"effect_k{k}_high"]) = (
                mean,
                interval(reps),
            )
        rows.append(row)
    recall = int((items["kind"] == RECALL).sum())
    summary = {
        "intervention_pairs": len(first.items),
        "intervention_pairs_without_swap": recall - len(first.items),
        "intervention_swaps": int(first.swaps.sum()),
    }
    for k, pairs in per_k.items():
        mean, reps = pairs.estimate(resampling)
        summary[f"intervention_effect_k{k}"] = mean
        summary[f"intervention_effect_k{k}_interval"] = list(interval(reps))
    return pd.DataFrame(rows), summary
