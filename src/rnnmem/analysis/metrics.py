"""How well a model names the current word: its test metrics and prefix accuracy.

Every figure counts the positions training scores (`rnnmem.data.dataset.scored`), and guesses
are the model's best real words, as in training (`rnnmem.analysis.prediction` runs the model;
what is here needs neither torch nor the models, so the summaries load neither). Prefix
accuracy uses the same mask, so its count-weighted top-1 over all k is exactly the test
accuracy (definitions: docs/design.md, Training and evaluation; Prefix accuracy). The
dictionary-completion baseline guesses from the typed letters alone, the yardstick for what a
model draws from earlier words.

The reference implementation's accuracy counts `<unknown>` targets as well; it is kept
beside ours as `reference_accuracy`, so the article's numbers can be compared line by line.
Every headline metric is also available as per-observation sums (`observation_sums`),
which is what the bootstrap over observations resamples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnmem.data.dataset import PAD, scored

TOP = 3  # top-1/2/3 columns of the prefix accuracy tables


@dataclass(frozen=True)
class Predictions:
    """A model's view of every non-pad character of a split, flattened row by row."""

    observation: np.ndarray  # [n] row in the split
    position: np.ndarray  # [n] character index in the row
    target: np.ndarray  # [n] word id
    top_words: np.ndarray  # [n, top] most likely word ids, best first
    top_probs: np.ndarray  # [n, top] their probabilities (float32)
    target_log_prob: np.ndarray  # [n] log probability of the target

    @property
    def cross_entropy(self) -> float:
        """Mean cross entropy over scored positions, as the training loss defines it."""
        return float(-self.target_log_prob[scored(self.target)].mean())

    @property
    def accuracy(self) -> float:
        """Share of scored positions where the top word is the target."""
        mask = scored(self.target)
        return float((self.top_words[mask, 0] == self.target[mask]).mean())

    @property
    def reference_accuracy(self) -> float:
        """The reference's accuracy: like `accuracy`, but `<unknown>` targets count too."""
        mask = self.target != PAD
        return float((self.top_words[mask, 0] == self.target[mask]).mean())


def prefix_accuracy(k: np.ndarray, target: np.ndarray, top_words: np.ndarray) -> pd.DataFrame:
    """Top-1/2/3 accuracy by letters typed, over scored positions (docs/design.md, Prefix accuracy).

    k [n] letters of the current word seen (-1 = pad), target [n], top_words [n, >= 3]
    ranked guesses. Returns one row per k present: k, top1, top2, top3 (shares whose
    target is among the first 1, 2, 3 guesses) and count (positions scored).
    """
    k, target, top_words = np.asarray(k), np.asarray(target), np.asarray(top_words)
    mask = scored(target) & (k >= 0)
    hits = np.cumsum(top_words[mask, :TOP] == target[mask, None], axis=1) > 0
    frame = pd.DataFrame({f"top{j + 1}": hits[:, j] for j in range(TOP)})
    frame.insert(0, "k", k[mask].astype(np.int64))
    table = frame.groupby("k").agg(
        **{f"top{j + 1}": (f"top{j + 1}", "mean") for j in range(TOP)},
        count=("top1", "size"),
    )
    return table.reset_index()


def _completions(words: Sequence[str], top: int) -> dict[str, list[int]]:
    """For every prefix of a vocabulary word, its `top` most frequent completions' ids.

    Word ids from 2 on are ordered by falling corpus frequency, so scanning them in order
    and keeping the first `top` per prefix ranks the completions.
    """
    ranked: dict[str, list[int]] = {}
    for word_id in range(2, len(words)):
        word = words[word_id]
        for typed in range(len(word) + 1):
            ids = ranked.setdefault(word[:typed], [])
            if len(ids) < top:
                ids.append(word_id)
    return ranked


def dictionary_completion(
    words: Sequence[str], target: np.ndarray, k: np.ndarray, top: int = TOP
) -> np.ndarray:
    """The context-free baseline's ranked guesses [n, top] for each position.

    Guess j is the j-th most frequent vocabulary word that starts with the letters typed
    so far (k = 0: the most frequent words overall). At a scored position the typed letters
    are the first k letters of the target word itself (the source spells it), so they are
    read from the vocabulary and each distinct (word, k) pair is looked up once. Unscored
    positions, and ranks no word fills, get PAD, which never matches a scored target.
    """
    target, k = np.asarray(target), np.asarray(k)
    guesses = np.full((len(target), top), PAD, dtype=np.int64)
    mask = scored(target) & (k >= 0)
    if not mask.any():
        return guesses
    ranked = _completions(words, top)
    pairs, inverse = np.unique(
        np.stack([target[mask], k[mask]], axis=1), axis=0, return_inverse=True
    )
    table = np.full((len(pairs), top), PAD, dtype=np.int64)
    for row, (word_id, typed) in enumerate(pairs):
        ids = ranked[words[word_id][:typed]]
        table[row, : len(ids)] = ids
    guesses[mask] = table[inverse.reshape(-1)]
    return guesses


# Headline metrics as (numerator, denominator) columns of `observation_sums`: each metric is
# sum(numerator) / sum(denominator) over observations, which is what the bootstrap resamples.
HEADLINE = {
    "cross_entropy": ("loss", "scored"),
    "accuracy": ("correct", "scored"),
    "reference_accuracy": ("reference_correct", "reference_positions"),
    **{f"prefix_top1_k{j}": (f"k{j}_correct", f"k{j}_scored") for j in range(3)},
}


def prefix_sums(
    observation: np.ndarray, k: np.ndarray, target: np.ndarray, hit: np.ndarray, n: int, ks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per observation and letters typed: hits and scored positions, each [n, ks].

    observation [m] row of each position, k [m] letters typed (-1 = pad), target [m], hit [m]
    whether the guess counted was right; k >= ks is left out.
    """
    mask = scored(target) & (k >= 0) & (k < ks)
    cell = observation[mask].astype(np.int64) * ks + k[mask]
    hits = np.bincount(cell, weights=hit[mask], minlength=n * ks).reshape(n, ks)
    counts = np.bincount(cell, minlength=n * ks).reshape(n, ks).astype(np.float64)
    return hits, counts


def observation_sums(
    observation: np.ndarray,
    target: np.ndarray,
    k: np.ndarray,
    best: np.ndarray,
    target_log_prob: np.ndarray,
    n: int,
) -> pd.DataFrame:
    """The per-observation sums behind every headline metric (see HEADLINE), n rows.

    Arguments are per position as in `Predictions` (best = top-1 word); observations with no
    position still get a row of zeros, so two models' tables line up row for row.
    """
    observation = np.asarray(observation, dtype=np.int64)
    mask = scored(target)
    hit = (best == target).astype(np.float64)

    def total(values: np.ndarray, where: np.ndarray) -> np.ndarray:
        return np.bincount(observation[where], weights=values[where], minlength=n)

    columns = {
        "loss": total(-target_log_prob.astype(np.float64), mask),
        "scored": total(np.ones(len(target)), mask),
        "correct": total(hit, mask),
        "reference_correct": total(hit, target != PAD),
        "reference_positions": total(np.ones(len(target)), target != PAD),
    }
    hits, counts = prefix_sums(observation, k, target, hit, n, 3)
    for j in range(3):
        columns[f"k{j}_correct"], columns[f"k{j}_scored"] = hits[:, j], counts[:, j]
    return pd.DataFrame(columns)
