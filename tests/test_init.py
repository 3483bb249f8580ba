"""Reference initialisation: TF's Glorot-uniform kernels, zero biases, forget/gate biases 1.0."""

import math

import pytest
import torch
from shipped import nesting

from rnnmem.models.checkpoint import ModelSpec
from rnnmem.models.language_model import build_model

UNITS, CHARS, WORDS = 32, 28, 500


def _within_glorot(weight: torch.Tensor, fan_in: int, fan_out: int) -> None:
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert weight.abs().max() <= limit
    assert weight.abs().max() > 0.95 * limit  # uniform over the whole range, not narrower
    assert weight.var().item() == pytest.approx(limit**2 / 3, rel=0.15)


def test_reference_lstm_has_forget_bias_one_and_glorot_kernels():
    torch.manual_seed(0)
    model = build_model("lstm", CHARS, WORDS, UNITS, 2, None, "reference")
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
    rnn = build_model("gru", CHARS, WORDS, UNITS, 1, None, "reference").recurrent
    bias = rnn.bias_ih_l0 + rnn.bias_hh_l0
    assert torch.equal(bias[: 2 * UNITS], torch.ones(2 * UNITS))
    assert torch.count_nonzero(bias[2 * UNITS :]) == 0
    _within_glorot(rnn.weight_hh_l0[: 2 * UNITS], 2 * UNITS, 2 * UNITS)
    _within_glorot(rnn.weight_hh_l0[2 * UNITS :], 2 * UNITS, UNITS)


def test_reference_embedding_is_uniform_over_the_trainable_rows_and_padding_is_zero():
    torch.manual_seed(0)
    embedding = build_model("nlstm", CHARS, WORDS, UNITS, 1, 2, "reference").embedding.weight
    assert torch.count_nonzero(embedding[0]) == 0
    limit = math.sqrt(1 / (CHARS - 1))
    assert embedding[1:].abs().max() <= limit and embedding[1:].abs().max() > 0.95 * limit


def test_reference_nested_lstm_kernels_are_glorot_with_zero_biases():
    torch.manual_seed(0)
    layer = build_model("nlstm", CHARS, WORDS, UNITS, 1, 2, "reference").recurrent[0]
    for linear in layer.cell.gates:
        _within_glorot(linear.weight, linear.in_features, linear.out_features)
        assert torch.count_nonzero(linear.bias) == 0


def test_pytorch_init_keeps_pytorchs_defaults_one_parameter_away():
    torch.manual_seed(0)
    rnn = build_model("lstm", CHARS, WORDS, UNITS, 1, None, "pytorch").recurrent
    forget = rnn.bias_ih_l0[UNITS : 2 * UNITS]
    assert forget.abs().max() <= 1 / math.sqrt(UNITS) and forget.abs().max() > 0
    spec = ModelSpec("lstm", CHARS, WORDS, UNITS, 1, None, "pytorch")
    torch.manual_seed(0)
    assert torch.equal(spec.build().recurrent.bias_ih_l0, rnn.bias_ih_l0)
    allowed = "reference, pytorch, chrono, chrono_forget"
    with pytest.raises(ValueError, match=f"unknown init 'tf'; allowed: {allowed}"):
        build_model("lstm", CHARS, WORDS, UNITS, 1, None, "tf")


@pytest.mark.parametrize("kind", ["gru", "lstm", "nlstm"])
def test_chrono_init_keeps_a_first_character_for_50_characters_where_pytorch_forgets_it(kind):
    """Two inputs that differ only in their first character: after 50 more characters the
    chrono-initialised state still tells them apart, PyTorch's default state hardly does."""
    torch.manual_seed(1)
    x = torch.randint(2, CHARS, (1, 51))
    y = x.clone()
    y[0, 0] = 2 if x[0, 0] != 2 else 3
    gaps = {}
    for init in ("pytorch", "chrono"):
        torch.manual_seed(0)
        model = build_model(kind, CHARS, WORDS, UNITS, 1, nesting(kind), init)
        with torch.no_grad():
            states = [model.hidden_states(model.embedding(s))[0, -1] for s in (x, y)]
        gaps[init] = (states[0] - states[1]).norm().item()
    assert gaps["chrono"] > 1e-4 and gaps["chrono"] > 1000 * gaps["pytorch"]


def test_chrono_gate_biases_are_log_uniform_timescales():
    torch.manual_seed(0)
    model = build_model("gru", CHARS, 10, 2000, 1, None, "chrono")
    keep = model.recurrent.bias_ih_l0[2000:4000] + model.recurrent.bias_hh_l0[2000:4000]
    # log(u), u uniform in [1, 199]: within [0, log 199], mean (199 log 199 - 198) / 198
    assert keep.min() >= 0 and keep.max() <= math.log(199)
    assert keep.mean().item() == pytest.approx((199 * math.log(199) - 198) / 198, abs=0.05)
    torch.manual_seed(0)
    rnn = build_model("lstm", CHARS, WORDS, UNITS, 1, None, "chrono").recurrent
    bias = rnn.bias_ih_l0 + rnn.bias_hh_l0
    assert torch.equal(bias[:UNITS], -bias[UNITS : 2 * UNITS])  # input gate = -forget gate


@pytest.mark.parametrize("kind", ["lstm", "nlstm"])
def test_chrono_forget_sets_the_forget_gate_and_leaves_the_input_gate_as_pytorch_has_it(kind):
    biases = {}
    for init in ("pytorch", "chrono", "chrono_forget"):
        torch.manual_seed(0)
        model = build_model(kind, CHARS, WORDS, UNITS, 1, nesting(kind), init)
        if kind == "lstm":
            rnn = model.recurrent
            bias = rnn.bias_ih_l0 + rnn.bias_hh_l0  # blocks i, f, g, o
            biases[init] = (bias[:UNITS], bias[UNITS : 2 * UNITS])
        else:
            cell = model.recurrent[0].cell
            bias = cell.gates[-1].bias  # blocks i, j, f, o of the innermost cell
            biases[init] = (bias[:UNITS], bias[2 * UNITS : 3 * UNITS] + cell.forget_bias)
    input_gate, forget_gate = biases["chrono_forget"]
    assert torch.equal(input_gate, biases["pytorch"][0])
    assert torch.equal(forget_gate, biases["chrono"][1])
    assert forget_gate.min() >= 0 and forget_gate.max() <= math.log(199)
    assert not torch.equal(biases["chrono"][0], biases["pytorch"][0])
