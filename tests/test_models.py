"""The Nested LSTM against the equations of docs/design.md, Models; the model files' contract."""

from __future__ import annotations

import pytest
import torch
from shipped import nesting
from torch import nn

from rnnmem.device import resolve_device
from rnnmem.errors import FixableError, InputError
from rnnmem.models import nested_lstm
from rnnmem.models.checkpoint import ModelSpec, load_model, save_model
from rnnmem.models.language_model import LanguageModel, build_model, count_parameters
from rnnmem.models.nested_lstm import NestedLSTM, NestedLSTMCell

FORGET_BIAS = 1.0
KINDS = [("gru", 2), ("lstm", 2), ("nlstm", 2)]


def reference_level(x, hidden, cells, weights, biases, level):
    """The equations of docs/design.md, Models, as the recursion they describe, one level a call.

    Returns (output of this level, new cells of this level and deeper).
    """
    depth = len(weights)
    pre = torch.cat([x, hidden], dim=1) @ weights[level].T + biases[level]
    i, j, f, o = pre.split(pre.shape[1] // 4, dim=1)
    if level == 0 and depth > 1:
        inner_input = torch.sigmoid(i) * j
    else:
        inner_input = torch.sigmoid(i) * torch.tanh(j)
    inner_hidden = torch.sigmoid(f + FORGET_BIAS) * cells[level]
    if level == depth - 1:
        new_cell = inner_input + inner_hidden
        deeper = []
    else:
        new_cell, deeper = reference_level(
            inner_input, inner_hidden, cells, weights, biases, level + 1
        )
    return torch.tanh(new_cell) * torch.sigmoid(o), [new_cell, *deeper]


def reference_step(x, state, weights, biases):
    h, *cells = state
    h, cells = reference_level(x, h, cells, weights, biases, 0)
    return h, (h, *cells)


def random_cell(depth, input_size=5, hidden=4, seed=0):
    """A double-precision cell with random (non-zero) biases, so that biases are tested too."""
    torch.manual_seed(seed)
    cell = NestedLSTMCell(input_size, hidden, depth).double()
    with torch.no_grad():
        for linear in cell.gates:
            linear.bias.normal_(0, 0.5)
    return cell


def random_state(depth, batch=3, hidden=4):
    return tuple(torch.randn(batch, hidden, dtype=torch.double) for _ in range(depth + 1))


def test_cell_parameters_and_initial_biases():
    cell = NestedLSTMCell(5, 4, depth=3)
    assert [tuple(g.weight.shape) for g in cell.gates] == [(16, 9), (16, 8), (16, 8)]
    assert all(torch.all(g.bias == 0) for g in cell.gates)
    with pytest.raises(ValueError):
        NestedLSTMCell(5, 4, depth=0)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_cell_matches_design_equations(depth):
    cell = random_cell(depth)
    weights = [g.weight.detach().clone() for g in cell.gates]
    biases = [g.bias.detach().clone() for g in cell.gates]
    start = state = ours = random_state(depth)
    for _ in range(4):
        x = torch.randn(3, 5, dtype=torch.double)
        h_ref, state = reference_step(x, state, weights, biases)
        h, ours = cell(x, ours)
        assert len(ours) == depth + 1
        torch.testing.assert_close(h, h_ref)
        for got, want in zip(ours, state, strict=True):
            torch.testing.assert_close(got, want)
    assert not torch.allclose(state[-1], start[-1])  # the innermost cell did move


def test_depth_one_is_a_plain_lstm_cell():
    cell = random_cell(1)
    weight, bias = cell.gates[0].weight.detach(), cell.gates[0].bias.detach()
    i, j, f, o = (torch.arange(4 * k, 4 * k + 4) for k in range(4))
    torch_order = torch.cat([i, f, j, o])  # nn.LSTMCell: i, f, g, o
    lstm = nn.LSTMCell(5, 4).double()
    with torch.no_grad():
        lstm.weight_ih.copy_(weight[torch_order, :5])
        lstm.weight_hh.copy_(weight[torch_order, 5:])
        forget = torch.zeros(16, dtype=torch.double)
        forget[4:8] = FORGET_BIAS  # nn.LSTMCell has no forget bias: fold it in
        lstm.bias_ih.copy_(bias[torch_order] + forget)
        lstm.bias_hh.zero_()
    h, c = random_state(1)
    state = (h, c)
    for _ in range(3):
        x = torch.randn(3, 5, dtype=torch.double)
        h, c = lstm(x, (h, c))
        _, state = cell(x, state)
        torch.testing.assert_close(state[0], h)
        torch.testing.assert_close(state[1], c)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_layer_equals_stepping_the_cell(depth, monkeypatch):
    monkeypatch.setattr(nested_lstm, "_BACKWARD_CHUNK", 4)  # 6 steps: a full and a partial chunk
    layer = NestedLSTM(5, 4, depth).double()
    layer.cell.load_state_dict(random_cell(depth).state_dict())
    x = torch.randn(3, 6, 5, dtype=torch.double, requires_grad=True)
    start = tuple(s.requires_grad_() for s in random_state(depth))
    out, final = layer(x, start)

    state, steps = start, []
    for t in range(x.shape[1]):
        h, state = layer.cell(x[:, t], state)
        steps.append(h)
    ref = torch.stack(steps, dim=1)
    torch.testing.assert_close(out, ref)
    for got, want in zip(final, state, strict=True):
        torch.testing.assert_close(got, want)

    # Same gradients for inputs, initial state and weights, through outputs and final state.
    weights = torch.randn_like(out)
    final_weights = [torch.randn_like(s) for s in final]
    wrt = [x, *start, *layer.parameters()]

    def loss(outputs, states):
        return (outputs * weights).sum() + sum(
            (s * w).sum() for s, w in zip(states, final_weights, strict=True)
        )

    got = torch.autograd.grad(loss(out, final), wrt)
    want = torch.autograd.grad(loss(ref, state), wrt)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)


def test_layer_without_gradients_gives_the_same_outputs():
    layer = NestedLSTM(5, 4, 2).double()
    x = torch.randn(2, 7, 5, dtype=torch.double)
    with torch.no_grad():
        plain, _ = layer(x)
    torch.testing.assert_close(plain, layer(x)[0].detach())


def test_layer_backward_can_run_twice_on_one_graph():
    """Connectivity differentiates one forward pass many times (retain_graph)."""
    layer = NestedLSTM(5, 4, 2).double()
    x = torch.randn(2, 7, 5, dtype=torch.double, requires_grad=True)
    out, _ = layer(x)
    first = torch.autograd.grad(out[:, 3].sum(), x, retain_graph=True)[0]
    torch.autograd.grad(out[:, 6].sum(), x, retain_graph=True)
    again = torch.autograd.grad(out[:, 3].sum(), x)[0]
    assert torch.equal(first, again)
    assert torch.all(first[:, 4:] == 0) and torch.all(first[:, :4].abs().sum(-1) > 0)


def tiny(kind, layers, seed=0):
    torch.manual_seed(seed)
    return build_model(
        kind, n_chars=28, n_words=50, units=8, layers=layers, depth=nesting(kind), init="reference"
    )


@pytest.mark.parametrize(("kind", "layers"), KINDS)
def test_shapes_and_gradients_reach_every_parameter(kind, layers):
    model = tiny(kind, layers)
    source = torch.randint(1, 28, (3, 9))
    source[0, 6:] = 0  # padding at the end of one sequence
    logits = model(source)
    assert logits.shape == (3, 9, 50)
    torch.testing.assert_close(logits, model.forward_embedded(model.embedding(source)))
    nn.functional.cross_entropy(logits.flatten(0, 1), torch.randint(0, 50, (27,))).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert torch.all(model.embedding.weight[0] == 0)
    assert torch.all(model.embedding.weight.grad[0] == 0)


def test_gradient_with_respect_to_embedded_inputs():
    model = tiny("nlstm", 2)
    embedded = model.embedding(torch.randint(1, 28, (2, 5))).detach().requires_grad_()
    logits = model.forward_embedded(embedded)
    (grad,) = torch.autograd.grad(logits[:, 3].sum(), embedded)
    assert torch.all(grad[:, 4] == 0)  # no influence from the future
    assert torch.all(grad[:, :4].abs().sum(-1) > 0)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_frozen_weights_give_the_same_input_gradient(depth):
    """With no weight gradient wanted the backward pass skips them; the input gradient stays."""
    layer = NestedLSTM(5, 4, depth).double()
    x = torch.randn(2, 7, 5, dtype=torch.double, requires_grad=True)
    (expected,) = torch.autograd.grad(layer(x)[0][:, 5].sum(), x)
    layer.requires_grad_(False)
    (frozen,) = torch.autograd.grad(layer(x)[0][:, 5].sum(), x)
    torch.testing.assert_close(frozen, expected)
    assert frozen.abs().sum() > 0


@pytest.mark.parametrize(("kind", "layers"), KINDS)
def test_logits_are_the_dense_layer_on_hidden_states(kind, layers):
    model = tiny(kind, layers)
    embedded = model.embedding(torch.randint(1, 28, (2, 6)))
    hidden = model.hidden_states(embedded)
    assert hidden.shape == (2, 6, 8)
    torch.testing.assert_close(model.forward_embedded(embedded), model.dense(hidden))


def test_unknown_kind_or_depth_is_refused():
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model("rnn", 28, 50, 8, 1, None, "reference")
    with pytest.raises(ValueError, match="unknown model kind 'rnn'; allowed: gru, lstm, nlstm"):
        LanguageModel("rnn", 28, 50, 8, 1, 2)  # not silently a Nested LSTM
    with pytest.raises(ValueError, match="depth must be an integer >= 1, got None"):
        LanguageModel("nlstm", 28, 50, 8, 1, None)  # no depth is no silent default either


@pytest.mark.parametrize(("kind", "layers"), KINDS)
def test_same_seed_same_model_and_outputs(kind, layers):
    source = torch.randint(1, 28, (2, 6))
    a, b, c = tiny(kind, layers), tiny(kind, layers), tiny(kind, layers, seed=1)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert torch.equal(a(source), b(source))
    assert not torch.equal(a(source), c(source))


def test_parameter_counts():
    counts = count_parameters(tiny("nlstm", 1))
    # Level 0: (8 + 8) inputs, level 1: (8 + 8); 4 * 8 gates with one bias each.
    assert counts == {
        "embedding": 28 * 8,
        "recurrent": 2 * (16 * 32 + 32),
        "dense": 8 * 50 + 50,
        "total": 28 * 8 + 2 * (16 * 32 + 32) + 8 * 50 + 50,
    }
    # PyTorch's LSTM has two biases per gate: 4 * units more per layer than the Nested LSTM.
    assert count_parameters(tiny("lstm", 2))["recurrent"] == counts["recurrent"] + 2 * 4 * 8


@pytest.mark.parametrize(("kind", "layers"), KINDS)
def test_save_and_load_round_trip(tmp_path, kind, layers):
    model = tiny(kind, layers)
    spec = ModelSpec(kind, 28, 50, 8, layers, nesting(kind), "reference")
    meta = {"training_seconds": 1.5, "steps": 3, "epochs": 1, "seed": 0}
    path = tmp_path / kind / "model.pt"
    save_model(path, model, spec, meta)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left
    loaded, loaded_spec, loaded_meta = load_model(path)
    assert loaded_spec == spec and loaded_meta == meta
    assert not loaded.training
    source = torch.randint(0, 28, (2, 7))
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(source), model(source))
    # Equal weights give equal bytes wherever they are saved (DVC compares outputs by hash).
    save_model(tmp_path / "elsewhere.pt", model, spec, meta)
    assert (tmp_path / "elsewhere.pt").read_bytes() == path.read_bytes()


def test_missing_model_file_names_the_file_and_no_stage(tmp_path):
    path = tmp_path / "lstm" / "model.pt"
    with pytest.raises(InputError, match=r"model file .*model.pt not found$") as caught:
        load_model(path)
    assert caught.value.path == path


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_dict"])
def test_corrupt_model_file_is_a_user_error(tmp_path, damage):
    path = tmp_path / "gru" / "model.pt"
    save_model(path, tiny("gru", 2), ModelSpec("gru", 28, 50, 8, 2, None, "reference"), {"seed": 0})
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    else:
        torch.save({"state_dict": {}}, path)
    with pytest.raises(InputError, match=r"corrupt") as caught:
        load_model(path)
    assert caught.value.path == path and "dvc" not in str(caught.value)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(FixableError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(FixableError, match="no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.parametrize(("kind", "layers"), KINDS)
def test_padding_columns_leave_earlier_logits_alone(kind, layers):
    """What lets training on a GPU round batch widths up (to reuse CUDA graphs)."""
    torch.manual_seed(0)
    model = build_model(kind, 28, 30, 16, layers, nesting(kind), "reference")
    source = torch.randint(1, 28, (3, 11))
    padded = torch.cat([source, torch.zeros(3, 9, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded)[:, :11], model(source), rtol=1e-5, atol=1e-6)


def test_cuda_graphs_are_left_alone_on_the_cpu():
    torch.manual_seed(0)
    model = build_model("nlstm", 28, 30, 16, 2, 2, "reference")
    source = torch.randint(1, 28, (3, 11))
    reference = model(source)
    model.use_cuda_graphs()
    assert all(layer.cuda_graphs for layer in model.recurrent)
    assert torch.equal(model(source), reference)
    assert all(not layer._graphed for layer in model.recurrent)
