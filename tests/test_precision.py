"""train.precision: every model trains under bfloat16 autocast, on the CPU as on a GPU."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from shipped import nesting, with_changes, write_yaml
from test_train import PARAMS, make_dataset, run

from rnnmem import params
from rnnmem.models.language_model import build_model
from rnnmem.models.nested_lstm import NestedLSTM
from rnnmem.models.objective import masked_loss
from rnnmem.stage import UserError

KINDS = [("gru", 2), ("lstm", 2), ("nlstm", 2)]


def grads_in(kind: str, layers: int, bf16: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Loss and parameter gradients of a small random model, with or without bf16 autocast."""
    torch.manual_seed(0)
    model = build_model(kind, 28, 50, 32, layers, nesting(kind), "reference")
    source = torch.randint(1, 28, (4, 30), generator=torch.Generator().manual_seed(1))
    target = torch.randint(2, 50, (4, 30), generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = masked_loss(model(source), target)
    loss.backward()
    return loss.detach(), [p.grad for p in model.parameters()]


@pytest.mark.parametrize("kind, layers", KINDS)
def test_bf16_forward_and_backward_are_finite_and_near_float32(kind, layers):
    loss, grads = grads_in(kind, layers, bf16=True)
    ref_loss, ref_grads = grads_in(kind, layers, bf16=False)
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads)
    assert all(g.dtype == torch.float32 for g in grads)  # parameters stay float32
    assert abs(loss - ref_loss) < 1e-2
    for g, ref in zip(grads, ref_grads, strict=True):
        assert (g - ref).norm() <= 0.05 * ref.norm() + 1e-6
    # and bf16 really ran: the output layer's gradient is not the float32 one
    assert not torch.equal(grads[-2], ref_grads[-2])


def test_nested_lstm_runs_its_recurrence_in_bf16_under_autocast():
    torch.manual_seed(0)
    layer = NestedLSTM(8, 16, depth=2)
    x = torch.randn(3, 10, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden, state = layer(x)
    assert hidden.dtype == torch.bfloat16 and all(s.dtype == torch.bfloat16 for s in state)
    hidden.float().sum().backward()
    assert all(
        p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all() for p in layer.parameters()
    )
    reference, _ = layer(x)
    assert reference.dtype == torch.float32
    assert (hidden.float() - reference).abs().max() < 0.05


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data") / "autocomplete", n_words=1500)


@pytest.mark.parametrize("kind", ["gru", "lstm", "nlstm"])
def test_every_model_trains_finite_under_bf16(dataset, tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    bf16 = dataclasses.replace(PARAMS, precision="bf16", epochs=1)
    meta = run(dataset, tmp_path / "bf16", params=bf16, kind=kind)
    assert 0 < meta["valid_cross_entropy"] < 10 and 0 <= meta["valid_accuracy"] <= 1
    assert (tmp_path / "bf16/model.pt").is_file()


def test_tf32_is_float32_on_the_cpu(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one = dataclasses.replace(PARAMS, epochs=1)
    fp32 = run(dataset, tmp_path / "fp32", params=one)
    tf32 = run(dataset, tmp_path / "tf32", params=dataclasses.replace(one, precision="tf32"))
    assert fp32["valid_cross_entropy"] == tf32["valid_cross_entropy"]


def test_unknown_precision_is_a_one_line_error(tmp_path):
    path = write_yaml(tmp_path / "params.yaml", with_changes({"train": {"precision": "fp16"}}))
    with pytest.raises(UserError, match=r"train.precision = 'fp16'; allowed: one of 'fp32'"):
        params.load(path)
