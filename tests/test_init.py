"""Reference initialisation: TF's Glorot-uniform kernels, zero biases, forget/gate biases 1.0."""

import math

import pytest
import torch

from rnnmem.models.checkpoint import ModelSpec
from rnnmem.models.language_model import build_model
from rnnmem.stage import UserError

UNITS, CHARS, WORDS = 32, 28, 500


def _within_glorot(weight: torch.Tensor, fan_in: int, fan_out: int) -> None:
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert weight.abs().max() <= limit
    assert weight.abs().max() > 0.95 * limit  # uniform over the whole range, not narrower
    assert weight.var().item() == pytest.approx(limit**2 / 3, rel=0.15)


def test_reference_lstm_has_forget_bias_one_and_glorot_kernels():
    torch.manual_seed(0)
    model = build_model("lstm", CHARS, WORDS, UNITS, layers=2)
    rnn = model.recurrent
    for layer in range(2):
        bias = getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
        assert torch.equal(bias[UNITS : 2 * UNITS], torch.ones(UNITS))  # gate order i, f, g, o
        assert (
            torch.count_nonzero(bias[:UNITS]) == 0 and torch.count_nonzero(bias[2 * UNITS :]) == 0
        )
        for name in ("weight_ih", "weight_hh"):
            _within_glorot(getattr(rnn, f"{name}_l{layer}"), 2 * UNITS, 4 * UNITS)
    _within_glorot(model.dense.weight, UNITS, WORDS)
    assert torch.count_nonzero(model.dense.bias) == 0


def test_reference_gru_starts_reset_and_update_gates_at_one():
    torch.manual_seed(0)
    rnn = build_model("gru", CHARS, WORDS, UNITS, layers=1).recurrent
    bias = rnn.bias_ih_l0 + rnn.bias_hh_l0
    assert torch.equal(bias[: 2 * UNITS], torch.ones(2 * UNITS))
    assert torch.count_nonzero(bias[2 * UNITS :]) == 0
    _within_glorot(rnn.weight_hh_l0[: 2 * UNITS], 2 * UNITS, 2 * UNITS)
    _within_glorot(rnn.weight_hh_l0[2 * UNITS :], 2 * UNITS, UNITS)


def test_reference_embedding_is_uniform_over_the_trainable_rows_and_padding_is_zero():
    torch.manual_seed(0)
    embedding = build_model("nlstm", CHARS, WORDS, UNITS, layers=1).embedding.weight
    assert torch.count_nonzero(embedding[0]) == 0
    limit = math.sqrt(1 / (CHARS - 1))
    assert embedding[1:].abs().max() <= limit and embedding[1:].abs().max() > 0.95 * limit


def test_reference_nested_lstm_kernels_are_glorot_with_zero_biases():
    torch.manual_seed(0)
    layer = build_model("nlstm", CHARS, WORDS, UNITS, layers=1).recurrent[0]
    for linear in layer.cell.gates:
        _within_glorot(linear.weight, linear.in_features, linear.out_features)
        assert torch.count_nonzero(linear.bias) == 0


def test_pytorch_init_keeps_pytorchs_defaults_one_parameter_away():
    torch.manual_seed(0)
    rnn = build_model("lstm", CHARS, WORDS, UNITS, layers=1, init="pytorch").recurrent
    forget = rnn.bias_ih_l0[UNITS : 2 * UNITS]
    assert forget.abs().max() <= 1 / math.sqrt(UNITS) and forget.abs().max() > 0
    spec = ModelSpec("lstm", CHARS, WORDS, UNITS, 1, init="pytorch")
    torch.manual_seed(0)
    assert torch.equal(spec.build().recurrent.bias_ih_l0, rnn.bias_ih_l0)
    with pytest.raises(UserError, match="unknown init 'tf'; allowed: reference, pytorch"):
        build_model("lstm", CHARS, WORDS, UNITS, layers=1, init="tf")
