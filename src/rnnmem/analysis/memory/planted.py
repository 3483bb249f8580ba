"""Planted pairs: the probe corpus's ground truth, found in a split's observations.

The probe corpus plants pairs (an antecedent, then the same word again, the referent) and
placebos (a word of the same shape with no antecedent). Each item is read at k = 0 (the
referent's leading space: nothing of the word typed) and k = 1 (its first letter typed);
distances fall in buckets (lo, hi].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rnnmem.data.dataset import Split, scored
from rnnmem.data.probe import RECALL

BUCKET_EDGES = (10, 30, 50, 70, 90, 110, 130, 150, 170, 190)  # distance buckets (lo, hi]
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


def bucket_of(distance: np.ndarray, edges: Sequence[int] = BUCKET_EDGES) -> np.ndarray:
    """Bucket index of each distance: bucket i is (edges[i], edges[i + 1]]; -1 outside."""
    index = np.searchsorted(np.asarray(edges), distance, side="left") - 1
    return np.where((distance > edges[0]) & (distance <= edges[-1]), index, -1)
