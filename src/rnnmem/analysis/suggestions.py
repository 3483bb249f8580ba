"""The words a model suggests: its k best real words at each character, best first.

One rule for every caller (test metrics, the report's sentences, the `rnnmem` command), the
one validation uses (`rnnmem.models.objective.best_words`): `<pad>` and `<unknown>` are never
ranked, and probabilities are the full softmax's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from rnnmem.data.dataset import PAD
from rnnmem.models.objective import best_words


@torch.no_grad()
def suggestions(
    model: nn.Module, source: np.ndarray, words: Sequence[str], k: int
) -> list[list[tuple[str, float]]]:
    """What autocomplete offers at every character of one sequence: the k best real words
    (`best_words`) with their probabilities under the full softmax, best first."""
    ids = torch.as_tensor(source, device=next(model.parameters()).device)
    probs = torch.softmax(model(ids[None])[0].float(), dim=-1)
    best_probs, best = best_words(probs, k)
    return [
        [(words[w], p) for w, p in zip(row, row_probs, strict=True) if w != PAD]
        for row, row_probs in zip(best.tolist(), best_probs.tolist(), strict=True)
    ]
