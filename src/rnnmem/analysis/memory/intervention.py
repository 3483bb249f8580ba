"""Interventions: what an earlier mention causes, measured by changing it.

Planted pairs: each antecedent is replaced, one at a time, by up to `count` other names of its
class and length that do not occur in its observation (`alternatives`). Words that repeat:
every earlier mention of the repeated word is replaced by up to `count` other eligible words
of its length absent from the observation (`swap_words`), so no copy is left to remember. The
drop in the later mention's log-probability at k = 0 and k = 1 is the earlier mention's causal
effect; `swaps` gives the interval. Definitions: docs/design.md, Memory against ground truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from torch import nn

from rnnmem.analysis.memory.scoring import predictions_at, referent_scores
from rnnmem.data.dataset import CHARS, Split
from rnnmem.data.probe import RECALL

EFFECT_COLUMNS = ["item", "swap", "name", "effect_k0", "effect_k1"]
_WORD_STREAM = 3  # the repeated words' swap draws, apart from the bootstrap's streams


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


def _effects(
    model: nn.Module,
    split: Split,
    items: pd.DataFrame,
    names: pd.Series,
    starts: Callable[[int], Sequence[int]],
    before: pd.DataFrame,
    batch_size: int,
) -> pd.DataFrame:
    """The drop in each item's log-probability at k = 0 and k = 1 (`before` minus after) when
    the words whose leading spaces are at `starts(item)` are replaced by each of the item's
    `names` in turn, every other character unchanged. One row per (item, swap):
    `EFFECT_COLUMNS`."""
    swaps = [(item, j, name) for item, drawn in names.items() for j, name in enumerate(drawn)]
    if not swaps:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    item = np.array([s[0] for s in swaps])
    chosen = items.loc[item]
    sources = split.source[chosen["observation"].to_numpy()].copy()
    char_id = {c: i for i, c in enumerate(CHARS)}
    for v, (index, _, name) in enumerate(swaps):
        letters = [char_id[c] for c in name]
        for start in starts(index):
            sources[v, start + 1 : start + 1 + len(name)] = letters
    after = predictions_at(
        model,
        sources,
        np.arange(len(swaps)),
        chosen["position"].to_numpy(),
        chosen["target"].to_numpy(),
        batch_size,
    )
    frame = pd.DataFrame(
        {"item": item, "swap": [s[1] for s in swaps], "name": [s[2] for s in swaps]}
    )
    before = before.loc[item]
    for k in (0, 1):
        frame[f"effect_k{k}"] = before[f"logp_k{k}"].to_numpy() - after[f"logp_k{k}"].to_numpy()
    return frame


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
    before = referent_scores(model, split, recall, batch_size)
    antecedent = items["antecedent_start"]
    return _effects(model, split, items, names, lambda i: [antecedent[i]], before, batch_size)


def swap_words(
    split: Split,
    items: pd.DataFrame,
    words: Sequence[str],
    common: np.ndarray,
    count: int,
    seed: int,
) -> pd.Series:
    """Up to `count` replacement words for each repeat's earlier mentions, in the order drawn:
    eligible (in the vocabulary, outside the common words), of the repeat's length and absent
    from its observation. Indexed like the repeats; each value a tuple."""
    skip = {0, 1, *(int(c) for c in common)}
    by_length: dict[int, list[str]] = {}
    for index, word in enumerate(words):
        if index not in skip:
            by_length.setdefault(len(word), []).append(word)
    rng = np.random.default_rng([seed, _WORD_STREAM])
    repeats = items[items["repeat"]]
    present: dict[int, set[str]] = {}
    drawn = []
    for row in repeats.itertuples():
        if row.observation not in present:
            ids = split.source[row.observation, : split.length[row.observation]]
            present[row.observation] = set("".join(CHARS[i] for i in ids).split())
        options = by_length.get(len(row.word), [])
        order = rng.permutation(len(options))
        picked = []
        for j in order:
            if options[j] not in present[row.observation]:
                picked.append(options[j])
                if len(picked) == count:
                    break
        drawn.append(tuple(picked))
    return pd.Series(drawn, index=repeats.index, dtype=object)


def swap_effects(
    model: nn.Module,
    split: Split,
    items: pd.DataFrame,
    scores: pd.DataFrame,
    names: pd.Series,
    batch_size: int,
) -> pd.DataFrame:
    """The drop in each repeat's log-probability at k = 0 and k = 1 when every earlier mention
    of its word is replaced by each of its `names` (from `swap_words`), every other character
    unchanged; `scores` are the intact ones. One row per (item, swap): `EFFECT_COLUMNS`."""
    earlier = items["earlier"]
    return _effects(model, split, items, names, lambda i: earlier[i], scores, batch_size)
