"""The one top-k rule: real words only, full-softmax probabilities, <pad> where none is left."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnmem.analysis.suggestions import suggestions
from rnnmem.data.dataset import PAD
from rnnmem.models.objective import best_words


def test_best_words_ranks_real_words_only_and_fills_missing_ranks_with_pad():
    # <pad> and <unknown> score highest but are never ranked; two real words exist.
    scores = torch.tensor([[9.0, 8.0, 0.5, 2.0], [9.0, 8.0, 3.0, -1.0]])
    best, words = best_words(scores, 3)
    assert words.tolist() == [[3, 2, PAD], [2, 3, PAD]]
    assert best.tolist() == [[2.0, 0.5, -math.inf], [3.0, -1.0, -math.inf]]
    # Asking for more ranks than the vocabulary has words gives one rank per word at most.
    assert best_words(scores, 10**9)[1].tolist() == [[3, 2, PAD, PAD], [2, 3, PAD, PAD]]


def test_suggestions_are_best_words_with_full_softmax_probabilities():
    table = torch.tensor([[0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 1.0, 2.0]])
    lookup = nn.Embedding.from_pretrained(table)  # a 'model': char id -> its row of logits
    words = ["<pad>", "<unknown>", "ab", "cd"]
    probs = torch.softmax(table[1], -1)  # <pad> and <unknown> keep their share of the mass
    offered = suggestions(lookup, np.array([1, 1]), words, 5)
    assert [[w for w, _ in row] for row in offered] == [["cd", "ab"]] * 2  # no <pad> filler
    assert [p for _, p in offered[0]] == pytest.approx([probs[3].item(), probs[2].item()])
