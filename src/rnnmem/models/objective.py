"""What a model is trained and graded on (docs/design.md, Training and evaluation).

One mask runs through everything: a position is *scored* when its target is neither `<pad>` nor
`<unknown>` (`rnnmem.data.dataset.scored`). Padding is not text, and `<unknown>` is not a word
anyone would want suggested, so neither teaches nor grades the model. A model's guesses are its
best real words (`best_words`): the rule of the validation accuracy here, and of the test
metrics, the report's sentences and the `rnnmem` command, which read these from the analysis.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnmem.data.dataset import PAD, UNKNOWN, scored


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


def masked_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Mean softmax cross entropy over scored positions (0 when a batch has none).

    logits [..., n_words], target [...]; UNKNOWN is folded into PAD so one `ignore_index`
    skips both without copying the logits.
    """
    ignored = torch.where(target == UNKNOWN, PAD, target)
    total = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        ignored.reshape(-1),
        ignore_index=PAD,
        reduction="sum",
    )
    return total / scored(target).sum().clamp(min=1)


def masked_accuracy(logits: Tensor, target: Tensor) -> Tensor:
    """Share of scored positions whose best real word (`best_words`) is the target (0 when
    none): the rule of the test metrics, so validation and test accuracy agree."""
    mask = scored(target)
    correct = (best_words(logits, 1)[1][..., 0] == target) & mask
    return correct.sum() / mask.sum().clamp(min=1)
