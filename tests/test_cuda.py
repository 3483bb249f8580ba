"""On a CUDA GPU: the same models, gradients, fast path and connectivity as on the CPU.

Every test here is marked `cuda` and skipped, with its reason shown by `pytest -ra`, where
no GPU is present.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from shipped import nesting
from test_train import PARAMS, make_dataset, run

from rnnmem.analysis.connectivity import connectivity_matrices, connectivity_matrix_loop
from rnnmem.models.language_model import build_model
from rnnmem.models.nested_lstm import NestedLSTM
from rnnmem.models.objective import masked_loss

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine"),
]
KINDS = [("gru", 2), ("lstm", 2), ("nlstm", 2)]


@pytest.fixture(autouse=True)
def exact_float32():
    """TF32 off, so that CUDA and the CPU compute in the same precision."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def loss_and_grads(model, source, target):
    model.zero_grad(set_to_none=True)
    loss = masked_loss(model(source), target)
    loss.backward()
    return loss.detach().cpu(), [p.grad.cpu() for p in model.parameters()]


@pytest.mark.parametrize(("kind", "layers"), KINDS)
def test_forward_and_backward_equal_the_cpu(kind, layers):
    torch.manual_seed(0)
    model = build_model(kind, 28, 60, 32, layers, nesting(kind), "reference")
    source = torch.randint(1, 28, (8, 40))
    target = torch.randint(2, 60, (8, 40))
    cpu_loss, cpu_grads = loss_and_grads(model, source, target)
    gpu_loss, gpu_grads = loss_and_grads(model.cuda(), source.cuda(), target.cuda())
    torch.testing.assert_close(gpu_loss, cpu_loss, rtol=1e-5, atol=1e-6)
    for gpu, cpu in zip(gpu_grads, cpu_grads, strict=True):
        torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_nested_lstm_cuda_graphs_equal_the_reference(dtype):
    torch.manual_seed(0)
    reference = NestedLSTM(16, 32, depth=2).cuda()
    graphed = NestedLSTM(16, 32, depth=2).cuda()
    graphed.load_state_dict(reference.state_dict())
    graphed.cuda_graphs = True
    for steps in (20, 20, 35):  # a replay with new data, then a second shape
        x = torch.randn(4, steps, 16, device="cuda")
        outputs = []
        for layer in (reference, graphed):
            layer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                hidden, _ = layer(x)
            hidden.float().square().sum().backward()
            outputs.append((hidden.float(), [p.grad for p in layer.parameters()]))
        (ref_hidden, ref_grads), (hidden, grads) = outputs
        torch.testing.assert_close(hidden, ref_hidden, rtol=1e-5, atol=1e-6)
        for grad, ref in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(grad, ref, rtol=1e-4, atol=1e-6)
    assert graphed.cuda_graphs and len(graphed._graphed) == 2


@pytest.mark.parametrize(("kind", "layers"), KINDS)
def test_connectivity_equals_the_cpu_and_the_loop_reference(kind, layers):
    torch.manual_seed(0)
    model = build_model(kind, 28, 60, 16, layers, nesting(kind), "reference").eval()
    sources = [torch.randint(1, 28, (n,)) for n in (30, 17)]
    targets = [torch.randint(2, 60, (n,)) for n in (30, 17)]
    cpu = connectivity_matrices(model, sources, targets)
    model.cuda()
    gpu = connectivity_matrices(model, [s.cuda() for s in sources], [t.cuda() for t in targets])
    loop = connectivity_matrix_loop(model, sources[1].cuda(), targets[1].cuda()).double()
    for on_gpu, on_cpu in zip(gpu, cpu, strict=True):
        torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-4, atol=1e-6 * on_cpu.max())
    torch.testing.assert_close(gpu[1], loop, rtol=1e-4, atol=1e-6 * loop.max().item())
    assert not model.training


@pytest.mark.parametrize("kind", ["gru", "lstm", "nlstm"])
@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_training_on_the_gpu_stays_finite(tmp_path_factory, tmp_path, monkeypatch, kind, precision):
    data = make_dataset(tmp_path_factory.mktemp("data") / "autocomplete", n_words=1500)
    monkeypatch.chdir(tmp_path)
    params = dataclasses.replace(PARAMS, precision=precision, epochs=1)
    meta = run(data, tmp_path / "run", params=params, kind=kind, device="cuda")
    assert meta["device"] == "cuda"
    assert 0 < meta["valid_cross_entropy"] < 10
