"""The masked loss and accuracy, prefix accuracy and the dictionary-completion baseline."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnmem.analysis.metrics import (
    HEADLINE,
    Predictions,
    dictionary_completion,
    observation_sums,
    prefix_accuracy,
)
from rnnmem.analysis.prediction import predict
from rnnmem.data.dataset import PAD, UNKNOWN, Split
from rnnmem.models.objective import masked_accuracy, masked_loss


def test_pad_and_unknown_positions_do_not_change_the_loss():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 6)
    target = torch.tensor([[2, 3, 4, 5], [5, 4, 3, 2]])
    base = masked_loss(logits, target)
    wild = torch.randn(2, 3, 6) * 50  # arbitrary logits where nothing is scored
    extra = torch.tensor([[PAD, UNKNOWN, PAD], [UNKNOWN, UNKNOWN, PAD]])
    padded = masked_loss(torch.cat([logits, wild], 1), torch.cat([target, extra], 1))
    torch.testing.assert_close(padded, base)
    # ...and it is the plain mean cross entropy of the scored positions.
    plain = nn.functional.cross_entropy(logits.reshape(-1, 6), target.reshape(-1))
    torch.testing.assert_close(base, plain)


def test_unknown_target_is_masked_even_if_its_logit_wins():
    logits = torch.zeros(1, 2, 4)
    logits[0, 1, UNKNOWN] = 100.0
    only_first = masked_loss(logits[:, :1], torch.tensor([[2]]))
    both = masked_loss(logits, torch.tensor([[2, UNKNOWN]]))
    torch.testing.assert_close(both, only_first)
    assert math.isclose(both.item(), math.log(4), rel_tol=1e-6)


def test_loss_without_scored_positions_is_zero_not_nan():
    loss = masked_loss(torch.randn(1, 3, 5, requires_grad=True), torch.tensor([[PAD, UNKNOWN, 0]]))
    assert loss.item() == 0.0


def test_masked_accuracy_on_a_hand_example():
    # argmax per position: 2, 3, 4, 1, 2
    logits = torch.full((1, 5, 5), -1.0)
    for t, best in enumerate([2, 3, 4, 1, 2]):
        logits[0, t, best] = 1.0
    target = torch.tensor([[2, 4, 4, UNKNOWN, PAD]])  # scored: 2 (hit), 4 (miss), 4 (hit)
    assert masked_accuracy(logits, target).item() == pytest.approx(2 / 3)


def test_prefix_accuracy_by_letters_typed():
    k = np.array([0, 0, 1, 1, 1, 2, 0, -1, 1])
    target = np.array([5, 6, 5, 6, 7, 5, UNKNOWN, PAD, 7])
    top_words = np.array(
        [
            [5, 2, 3],  # k0 top1
            [2, 6, 3],  # k0 top2
            [2, 3, 5],  # k1 top3
            [2, 3, 4],  # k1 miss
            [7, 2, 3],  # k1 top1
            [2, 3, 4],  # k2 miss
            [UNKNOWN, 2, 3],  # unknown target: not scored even though "right"
            [PAD, 2, 3],  # pad
            [3, 7, 2],  # k1 top2
        ]
    )
    table = prefix_accuracy(k, target, top_words)
    assert list(table.columns) == ["k", "top1", "top2", "top3", "count"]
    assert table["k"].tolist() == [0, 1, 2]
    assert table["count"].tolist() == [2, 4, 1]
    assert table["top1"].tolist() == pytest.approx([1 / 2, 1 / 4, 0])
    assert table["top2"].tolist() == pytest.approx([2 / 2, 2 / 4, 0])
    assert table["top3"].tolist() == pytest.approx([2 / 2, 3 / 4, 0])


WORDS = ["<pad>", "<unknown>", "the", "of", "and", "then", "to", "there", "a", "th"]


def test_dictionary_completion_picks_the_most_frequent_words_with_the_typed_prefix():
    of, then, there, th = 3, 5, 7, 9
    target = np.array([then, then, then, then, then, there, of, UNKNOWN, PAD, th])
    k = np.array([0, 1, 2, 3, 4, 4, 1, 1, -1, 2])
    guesses = dictionary_completion(WORDS, target, k)
    expected = [
        [2, 3, 4],  # nothing typed: the most frequent words
        [2, 5, 6],  # "t": the, then, to
        [2, 5, 7],  # "th": the, then, there
        [2, 5, 7],  # "the"
        [5, PAD, PAD],  # "then": only then
        [7, PAD, PAD],  # "ther"
        [3, PAD, PAD],  # "o"
        [PAD, PAD, PAD],  # unknown target: not scored
        [PAD, PAD, PAD],  # pad
        [2, 5, 7],  # "th" typed while the word is "th"
    ]
    assert guesses.tolist() == expected
    table = prefix_accuracy(k, target, guesses)
    assert table.set_index("k")["top1"].to_dict() == pytest.approx({0: 0, 1: 0.5, 2: 0, 3: 0, 4: 1})


class Lookup(nn.Module):
    """A fixed 'model': logits depend only on the current character."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.table[source]


def test_predict_covers_every_non_pad_character_and_matches_the_loss():
    torch.manual_seed(0)
    model = Lookup(torch.randn(5, 7))
    source = np.array([[1, 2, 3, 0], [1, 4, 0, 0], [1, 2, 2, 3]])
    target = np.array([[2, 2, 5, 0], [UNKNOWN, 3, 0, 0], [6, 6, 6, 4]])
    split = Split(source, target, np.array([3, 2, 4]))
    seen = predict(model, split, batch_size=2, device=torch.device("cpu"), top=3)
    assert seen.observation.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert seen.position.tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 3]
    assert seen.target.tolist() == target[source != 0].tolist()
    logits = model.table.detach()[torch.from_numpy(source)]
    probs = torch.softmax(logits, -1)[torch.from_numpy(source != 0)]
    expected = probs[:, 2:].topk(3, dim=-1)  # real words only: ids 2..6
    assert seen.top_words.tolist() == (expected.indices + 2).tolist()
    np.testing.assert_allclose(seen.top_probs, expected.values.numpy(), rtol=1e-6)
    tensor_target = torch.from_numpy(target)
    assert seen.cross_entropy == pytest.approx(masked_loss(logits, tensor_target).item())
    assert seen.accuracy == pytest.approx(masked_accuracy(logits, tensor_target).item())


def _hand_predictions():
    # Two observations (rows 0 and 2; row 1 has no position), targets with one UNKNOWN.
    observation = np.array([0, 0, 0, 2, 2])
    target = np.array([5, UNKNOWN, 6, 5, 7])
    k = np.array([0, 1, 0, 1, 2])
    best = np.array([5, UNKNOWN, 7, 5, 7])  # right, right (unknown), wrong, right, right
    log_prob = np.log(np.array([0.5, 0.9, 0.25, 0.5, 0.125]))
    return observation, target, k, best, log_prob


def test_reference_accuracy_counts_unknown_targets_and_masked_accuracy_does_not():
    observation, target, k, best, log_prob = _hand_predictions()
    top = np.stack([best, best, best], axis=1)
    seen = Predictions(observation, k, target, top, np.ones_like(top, float), log_prob)
    assert seen.accuracy == pytest.approx(3 / 4)
    assert seen.reference_accuracy == pytest.approx(4 / 5)


def test_observation_sums_give_the_headline_metrics_as_ratios_and_keep_empty_rows():
    observation, target, k, best, log_prob = _hand_predictions()
    sums = observation_sums(observation, target, k, best, log_prob, n=3)
    assert len(sums) == 3 and (sums.iloc[1] == 0).all()
    total = sums.sum()
    metric = {name: total[num] / total[den] for name, (num, den) in HEADLINE.items()}
    expected_ce = -np.log([0.5, 0.25, 0.5, 0.125]).mean()
    assert metric["cross_entropy"] == pytest.approx(expected_ce)
    assert metric["accuracy"] == pytest.approx(3 / 4)
    assert metric["reference_accuracy"] == pytest.approx(4 / 5)
    assert metric["prefix_top1_k0"] == pytest.approx(1 / 2)  # 5 right, 6 wrong
    assert metric["prefix_top1_k1"] == pytest.approx(1.0)  # 5 right; the unknown is unscored
    assert metric["prefix_top1_k2"] == pytest.approx(1.0)
    assert list(sums["scored"]) == [2, 0, 2]
