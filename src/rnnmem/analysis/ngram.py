"""The n-gram-plus-prefix baseline: the bar a model must clear before "uses context" means more
than "uses the previous word or two".

A word trigram with back-off, counted on the train split within observations (a model sees no
more): the guesses for a position are the most frequent words after the previous two words that
start with the letters typed so far, then after the previous word, then the most frequent words
overall (dictionary completion), without repeats.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from rnnmem.analysis.metrics import TOP, _completions
from rnnmem.data.dataset import PAD, SPACE, Split, scored


def previous_words(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the two words before the current one at every position ([rows, T] each; PAD
    where the observation has no such word). A word's id is its target at its leading space."""
    starts = source == SPACE
    index = np.cumsum(starts, axis=1) - 1  # current word's number in its row
    rows = np.arange(len(source))[:, None]
    words = np.full((len(source), source.shape[1] + 2), PAD, dtype=np.int64)
    r, c = np.nonzero(starts)
    words[r, index[r, c] + 2] = target[r, c]  # two PAD words in front
    safe = np.maximum(index, 0)
    return words[rows, safe], words[rows, safe + 1]


class NGram:
    """Trigram and bigram counts of word ids, with the vocabulary for prefix completion."""

    def __init__(self, words: Sequence[str], train: Split) -> None:
        self.words = list(words)
        self.trigram: dict[tuple[int, int], Counter] = defaultdict(Counter)
        self.bigram: dict[int, Counter] = defaultdict(Counter)
        second, first = previous_words(train.source, train.target)
        at = (train.source == SPACE) & scored(train.target)
        for a, b, w in zip(second[at], first[at], train.target[at], strict=True):
            self.trigram[(int(a), int(b))][int(w)] += 1
            self.bigram[int(b)][int(w)] += 1
        self.ranked = {
            key: [w for w, _ in sorted(c.items(), key=lambda x: (-x[1], x[0]))]
            for table in (self.trigram, self.bigram)
            for key, c in table.items()
        }
        self.dictionary = _completions(self.words, TOP)
        self.cache: dict[tuple, list[int]] = {}

    def _top(self, key: tuple[int, int] | int, prefix: str) -> list[int]:
        """The TOP most frequent continuations of `key` that start with `prefix` (cached)."""
        cached = self.cache.get((key, prefix))
        if cached is None:
            candidates = (w for w in self.ranked.get(key, ()) if self.words[w].startswith(prefix))
            cached = self.cache[(key, prefix)] = list(itertools.islice(candidates, TOP))
        return cached

    def _guess(self, second: int, first: int, prefix: str) -> list[int]:
        found: list[int] = []
        for candidates in (
            self._top((second, first), prefix),
            self._top(first, prefix),
            self.dictionary.get(prefix, ()),
        ):
            found.extend(w for w in candidates if w not in found)
        return found[:TOP]

    def guesses(
        self, second: np.ndarray, first: np.ndarray, target: np.ndarray, k: np.ndarray
    ) -> np.ndarray:
        """Ranked guesses [n, TOP] per position (PAD where none or the position is unscored);
        the typed letters are the target's first k, as in `metrics.dictionary_completion`."""
        out = np.full((len(target), TOP), PAD, dtype=np.int64)
        mask = scored(target) & (k >= 0)
        keys = np.stack([second[mask], first[mask], target[mask], k[mask]], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        table = np.full((len(unique), TOP), PAD, dtype=np.int64)
        for row, (a, b, w, typed) in enumerate(unique):
            ids = self._guess(int(a), int(b), self.words[w][:typed])
            table[row, : len(ids)] = ids
        out[mask] = table[inverse.reshape(-1)]
        return out
