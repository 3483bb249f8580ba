"""The words a model suggests: its k best real words at each character, best first.

One rule for every caller (test metrics, the report's sentences, the `rnnmem` command):
`<pad>` and `<unknown>` are never ranked, and probabilities are the full softmax's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from rnnmem.data.dataset import PAD, UNKNOWN


def best_words(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k best real words at every position, best first: (their scores, their ids).

    `scores` [..., n_words] are logits, probabilities or log-probabilities (the ranking is the
    same). `<pad>` and `<unknown>` are never ranked: neither is a word to suggest, and the loss
    never trains them. At most n_words ranks come back; those no real word fills (a vocabulary
    of fewer than k words) hold `<pad>` with score -inf, which never matches a scored target.
    """
    reserved = torch.tensor([PAD, UNKNOWN], device=scores.device)
    ranked = scores.index_fill(-1, reserved, float("-inf"))
    best, words = ranked.topk(min(k, ranked.shape[-1]), dim=-1)
    return best, words.masked_fill(best == float("-inf"), PAD)


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
