"""Connectivity: how much each prediction depends on each earlier character.

Definitions: docs/design.md, Connectivity.

`connectivity_matrix` gives, for one sequence, entry [t, t'] = squared L2 norm of the gradient
of the target logit at step t with respect to the one-hot input at step t'. It is computed in
one backward sweep per batch of sequences (`connectivity_matrices`), checked against one
autograd pass per output step (`connectivity_matrix_loop`). `sentence_view` is one sentence
for the report; `rnnmem.analysis.connectivity_summary` turns many matrices into statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from rnnmem.analysis.suggestions import suggestions
from rnnmem.data.dataset import CHARS, Split, Vocab
from rnnmem.files import significant
from rnnmem.models.language_model import rnn_layer_weights
from rnnmem.models.nested_lstm import NestedLSTM, nested_lstm_activations, nested_lstm_derivatives
from rnnmem.progress import progress

RESCALE_EVERY = 8  # steps between two renormalizations of the carried gradients
# Observations whose connectivity is computed together: on a CPU 16 take about 0.6 x the
# time of one at a time; the sweep holds about 15 MB per 200-character observation.
OBSERVATION_BATCH = 16


class _Adjoint(Protocol):
    """One recurrent layer, run forward on a batch of sequences, as the backward sweep sees it.

    Every tensor is batch-first: [B, T, ...]. Row r of sequence b carries the gradient of
    that sequence's prediction at step r."""

    outputs: Tensor  # [B, T, H] hidden states: the next layer's input
    grad_out: Tensor  # [B, T, H] per row: gradient on this layer's output at the sweep's step
    carried: list[Tensor]  # the per-row gradients carried from step to step (grad_out first)

    def back(self, step: int, into: Tensor, input_map: Tensor) -> None:
        """Move rows step.. back through `step`: add (gate gradients @ input_map) into `into`
        and leave the output gradients of step - 1 in grad_out[:, step:]."""


class _GRUAdjoint:
    """One layer of PyTorch's GRU run on a batch, then swept backwards, all rows at once.

    r = sig(x W_ir + b_ir + h W_hr + b_hr), z likewise, n = tanh(x W_in + b_in + r (h W_hn +
    b_hn)), h' = n + z (h - n). Each pre-activation gradient is the incoming gradient times a
    per-step vector, so those vectors are formed once for all steps.
    """

    def __init__(self, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> None:
        batch, steps, hid = x.shape[0], x.shape[1], w_hh.shape[1]
        projected = torch.matmul(x, w_ih.t()).add_(b_ih)
        hidden = x.new_zeros(batch, steps + 1, hid)
        recurrent = x.new_empty(batch, steps, 3 * hid)  # h W_h + b_h
        act = x.new_empty(batch, steps, 3 * hid)  # r, z, n
        for t in range(steps):
            recurrent[:, t] = torch.addmm(b_hh, hidden[:, t], w_hh.t())
            act[:, t, : 2 * hid] = torch.sigmoid(
                projected[:, t, : 2 * hid] + recurrent[:, t, : 2 * hid]
            )
            new = torch.addcmul(
                projected[:, t, 2 * hid :], act[:, t, :hid], recurrent[:, t, 2 * hid :]
            )
            act[:, t, 2 * hid :] = torch.tanh(new)
            hidden[:, t + 1] = torch.lerp(
                act[:, t, 2 * hid :], hidden[:, t], act[:, t, hid : 2 * hid]
            )
        r, z, n = act.split(hid, -1)
        through_n = (1 - z) * (1 - n * n)
        r_factor = through_n * recurrent[..., 2 * hid :] * r * (1 - r)
        z_factor = (hidden[:, :-1] - n) * z * (1 - z)
        # d pre-activations [r, z, n] = [dh, dh, dh] * factors; on the recurrent side the
        # n block sits behind the reset gate.
        self.input_factors = torch.cat([r_factor, z_factor, through_n], -1)
        self.hidden_factors = torch.cat([r_factor, z_factor, through_n * r], -1)
        self.keep = z  # d h' / d h, directly
        self.w_hh = w_hh
        self.outputs = hidden[:, 1:]
        self.grad_out = x.new_zeros(batch, steps, hid)
        self.carried = [self.grad_out]

    def back(self, step: int, into: Tensor, input_map: Tensor) -> None:
        grad = self.grad_out[:, step:]
        tiled = grad.repeat(1, 1, 3)
        into.add_(torch.matmul(tiled * self.input_factors[:, step, None], input_map))
        tiled.mul_(self.hidden_factors[:, step, None])
        grad.copy_(torch.matmul(tiled, self.w_hh).addcmul_(grad, self.keep[:, step, None]))


class _LSTMAdjoint:
    """One layer of PyTorch's LSTM (gates i, f, g, o) run on a batch, then swept backwards,
    all rows at once: c' = f c + i g, h' = o tanh(c')."""

    def __init__(self, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> None:
        batch, steps, hid = x.shape[0], x.shape[1], w_hh.shape[1]
        projected = torch.matmul(x, w_ih.t()).add_(b_ih + b_hh)
        hidden = x.new_zeros(batch, steps + 1, hid)
        cells = x.new_zeros(batch, steps + 1, hid)
        act = x.new_empty(batch, steps, 4 * hid)
        for t in range(steps):
            pre = torch.addmm(projected[:, t], hidden[:, t], w_hh.t())
            i, f, g, o = pre.split(hid, -1)
            act[:, t] = torch.cat([i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()], -1)
            i, f, g, o = act[:, t].split(hid, -1)
            cells[:, t + 1] = torch.addcmul(f * cells[:, t], i, g)
            hidden[:, t + 1] = o * torch.tanh(cells[:, t + 1])
        i, f, g, o = act.split(hid, -1)
        tanh_cells = torch.tanh(cells[:, 1:])
        # d pre-activations = [dc, dc, dc, dh] * factors, where dc is the total cell gradient.
        self.factors = torch.cat(
            [
                g * i * (1 - i),
                cells[:, :-1] * f * (1 - f),
                i * (1 - g * g),
                tanh_cells * o * (1 - o),
            ],
            -1,
        )
        self.cell_factor = o * (1 - tanh_cells * tanh_cells)  # d h' / d c'
        self.forget = f
        self.w_hh = w_hh
        self.outputs = hidden[:, 1:]
        self.grad_out = x.new_zeros(batch, steps, hid)
        self.grad_cell = x.new_zeros(batch, steps, hid)
        self.carried = [self.grad_out, self.grad_cell]

    def back(self, step: int, into: Tensor, input_map: Tensor) -> None:
        grad, cell = self.grad_out[:, step:], self.grad_cell[:, step:]
        cell.addcmul_(grad, self.cell_factor[:, step, None])
        pre = torch.cat([cell, cell, cell, grad], -1).mul_(self.factors[:, step, None])
        cell.mul_(self.forget[:, step, None])
        into.add_(torch.matmul(pre, input_map))
        grad.copy_(torch.matmul(pre, self.w_hh))


class _NestedLSTMAdjoint:
    """One Nested LSTM layer run on a batch, then swept backwards, all rows at once. Shares the
    training code's forward pass and local derivatives (models/nested_lstm.py)."""

    def __init__(self, x: Tensor, layer: NestedLSTM) -> None:
        inputs = layer.recurrence_inputs(x)
        hidden, gates, cells, tanh_cells, _ = nested_lstm_activations(*inputs.flat())
        batch, steps = x.shape[0], x.shape[1]
        hid, depth = layer.cell.hidden_size, inputs.depth
        self.input_weight, self.recurrent = inputs.input_weight, inputs.recurrent
        self.weights = inputs.weights
        self.factors, self.cell_factors = [], []
        for level in range(depth):
            factors = x.new_empty(steps, batch, 4 * hid)
            cell_factors = x.new_empty(steps, batch, hid)
            nested_lstm_derivatives(
                gates[level],
                cells[level][:-1],
                tanh_cells[level],
                factors,
                cell_factors,
                x.new_empty(steps, batch, 3 * hid),
                raw_candidate=level == 0 and depth > 1,
            )
            self.factors.append(factors.transpose(0, 1))  # batch-first, like the rest
            self.cell_factors.append(cell_factors.transpose(0, 1))
        self.forget = [g[..., 2 * hid : 3 * hid].transpose(0, 1) for g in gates]
        self.outputs = hidden[1:].transpose(0, 1)
        self.grad_out = x.new_zeros(batch, steps, hid)
        self.grad_cells = [x.new_zeros(batch, steps, hid) for _ in range(depth)]
        self.carried = [self.grad_out, *self.grad_cells]

    def back(self, step: int, into: Tensor, input_map: Tensor) -> None:
        # Down: each level's output gradient adds into its cell's (the innermost cell is the
        # level's input plus its forget-gated cell, so both get that gradient).
        outputs, grad = [], self.grad_out[:, step:]
        for level, cell in enumerate(self.grad_cells):
            outputs.append(grad)
            grad = cell[:, step:].addcmul_(grad, self.cell_factors[level][:, step, None])
        grad_in = grad_hid = grad
        # Up: gate pre-activations [j, i, f, o] = [d in, d in, d hid, d out] * factors.
        for level in reversed(range(len(self.grad_cells))):
            pre = torch.cat([grad_in, grad_in, grad_hid, outputs[level]], -1)
            pre.mul_(self.factors[level][:, step, None])
            self.grad_cells[level][:, step:] = grad_hid * self.forget[level][:, step, None]
            if level:
                grad_in, grad_hid = torch.matmul(pre, self.weights[level - 1]).chunk(2, -1)
        into.add_(torch.matmul(pre, input_map))
        self.grad_out[:, step:] = torch.matmul(pre, self.recurrent)


def _layer_adjoint(recurrent: nn.Module, index: int, x: Tensor) -> tuple[_Adjoint, Tensor]:
    """Layer `index` of a recurrent stack run on `x` [B, T, input], and its input weight (in
    the gate order of its factors)."""
    if isinstance(recurrent, nn.ModuleList):  # Nested LSTM layers
        adjoint = _NestedLSTMAdjoint(x, recurrent[index])
        return adjoint, adjoint.input_weight
    weights = rnn_layer_weights(recurrent, index)
    kind = _GRUAdjoint if isinstance(recurrent, nn.GRU) else _LSTMAdjoint
    return kind(x, *weights), weights[0]


def _layer_adjoints(model: nn.Module, embedded: Tensor) -> list[tuple[_Adjoint, Tensor]]:
    """(adjoint, input map) per recurrent layer, bottom first, run on `embedded` [B, T, units].

    The input map turns a layer's gate gradients into gradients of its input; the bottom
    layer's is folded with the embedding, so that it gives the one-hot gradients directly.
    """
    recurrent = model.recurrent
    count = len(recurrent) if isinstance(recurrent, nn.ModuleList) else recurrent.num_layers
    layers, x = [], embedded
    for index in range(count):
        adjoint, input_map = _layer_adjoint(recurrent, index, x)
        if index == 0:
            input_map = input_map @ model.embedding.weight.t()
        layers.append((adjoint, input_map))
        x = adjoint.outputs
    return layers


def _rescale(carried: list[Tensor], exponent: Tensor) -> None:
    """Divide each row of the carried gradients by a power of two near its largest entry and
    add that power to the row's `exponent`. The power is capped at 2^126, the largest float32
    holds: a row that fell into the subnormal range comes back to at least 2^-23, not to 1."""
    peak = torch.stack([state.abs().amax(-1) for state in carried]).amax(0)
    power = torch.frexp(peak).exponent.clamp_(min=-126)  # 0 for an all-zero row
    scale = torch.ldexp(torch.ones_like(peak), -power)[..., None]
    for state in carried:
        state.mul_(scale)
    exponent += power


def _check_sequence(model: nn.Module, source: Tensor, target: Tensor) -> None:
    """Raise a clear ValueError for a sequence the computation would misread or fail on."""
    if source.dim() != 1 or source.numel() == 0:
        raise ValueError(
            f"source must be a non-empty 1-D tensor of character ids, got shape "
            f"{tuple(source.shape)}"
        )
    if target.shape != source.shape:
        raise ValueError(
            f"target shape {tuple(target.shape)} differs from source shape {tuple(source.shape)}"
        )
    for name, ids, size in (
        ("source", source, model.embedding.num_embeddings),
        ("target", target, model.dense.out_features),
    ):
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= size:
            raise ValueError(f"{name} ids must lie in [0, {size}), got {low}..{high}")


def connectivity_matrix(model: nn.Module, source: Tensor, target: Tensor) -> Tensor:
    """Connectivity [T, T] of one sequence (see `connectivity_matrices`)."""
    return connectivity_matrices(model, [source], [target])[0]


def connectivity_matrices(
    model: nn.Module, sources: Sequence[Tensor], targets: Sequence[Tensor]
) -> list[Tensor]:
    """Connectivity [T_b, T_b] of each sequence: one forward pass of the whole batch, then one
    backward sweep for all rows of all sequences.

    The forward pass stores every activation. The sweep then walks the steps from last to
    first carrying a gradient row per sequence and output step t: row t joins at step t (the
    target logit's gradient on the top hidden state, its row of the output layer) and every
    carried row moves one step back through matrix products with the recurrent weights; the
    per-step activations broadcast over the rows. So a matrix costs T^2 / 2 row-steps of
    input gradient, in T batched products per layer, with no autograd and no weight
    gradients. Entries above the diagonal are exactly zero (those rows have not joined yet).
    Shorter sequences are padded at the end: later steps never reach back into earlier
    rows' results, so each matrix is the one of its sequence alone, up to float rounding.

    Connectivity falls by dozens of orders of magnitude over a few hundred characters, past
    what float32 holds (and subnormal numbers slow the products many times over). So each
    row carries a power-of-two scale, renormalized every `RESCALE_EVERY` steps, and the
    result is float64. Tiny entries are then as accurate as large ones: as accurate as a
    float32 autograd pass would be without underflow. (A row that falls by more than 2^149
    within `RESCALE_EVERY` steps still underflows to zero; only saturated, scaled-up weights
    have been seen to do that.)
    """
    for source, target in zip(sources, targets, strict=True):
        _check_sequence(model, source, target)
    embedding = model.embedding.weight
    device = embedding.device
    lengths = [len(source) for source in sources]
    source = nn.utils.rnn.pad_sequence([s.to(device) for s in sources], batch_first=True)
    target = nn.utils.rnn.pad_sequence([t.to(device) for t in targets], batch_first=True)
    batch, steps = source.shape
    with torch.no_grad():
        layers = _layer_adjoints(model, model.embedding(source))
        carried = [state for adjoint, _ in layers for state in adjoint.carried]
        readout = model.dense.weight[target]  # d logit_t[y_t] / d top hidden state at t
        # Gradients with respect to the one-hot inputs, [sequence, input step, row, char],
        # row-scaled; `written` holds the power of two each was written with.
        input_grads = embedding.new_zeros(batch, steps, steps, embedding.shape[0])
        written = torch.zeros(batch, steps, steps, dtype=torch.float64, device=device)
        exponent = torch.zeros(batch, steps, dtype=torch.float64, device=device)  # per row
        for step in reversed(range(steps)):
            layers[-1][0].grad_out[:, step] = readout[:, step]  # row `step` joins
            for index in reversed(range(len(layers))):  # top layer first
                adjoint, input_map = layers[index]
                below = (
                    layers[index - 1][0].grad_out[:, step:]
                    if index
                    else input_grads[:, step, step:]
                )
                adjoint.back(step, below, input_map)
            written[:, step, step:] = exponent[:, step:]
            if step % RESCALE_EVERY == 0 and step:
                _rescale([state[:, step:] for state in carried], exponent[:, step:])
        squares = input_grads.double().square_().sum(-1) * torch.exp2(2 * written)
        matrices = squares.transpose(1, 2)
        return [matrices[b, :n, :n].contiguous() for b, n in enumerate(lengths)]


def connectivity_matrix_loop(model: nn.Module, source: Tensor, target: Tensor) -> Tensor:
    """The same matrix the slow, obvious way: one backward pass per output step, through an
    explicit one-hot input. The reference that tests and the benchmark check against.

    Runs the model in training mode (the models have no dropout, so the outputs are the
    same): cuDNN's recurrent layers only go backwards from there."""
    _check_sequence(model, source, target)
    weight = model.embedding.weight.detach()
    source = source.to(weight.device)
    was_training = model.training
    model.train()
    try:
        with torch.enable_grad():
            onehot = nn.functional.one_hot(source, weight.shape[0]).to(weight.dtype)
            onehot.requires_grad_(True)
            logits = model.forward_embedded((onehot @ weight)[None])[0]
            rows = []
            for t in range(len(source)):
                (grad,) = torch.autograd.grad(logits[t, target[t]], onehot, retain_graph=True)
                rows.append((grad**2).sum(-1))
    finally:
        model.train(was_training)
    return torch.stack(rows)


def decode(source: np.ndarray) -> str:
    """The text of a sequence of character ids (no padding)."""
    return "".join(CHARS[i] for i in source)


def _rounded(values: np.ndarray) -> list:
    """Nested lists of floats with 6 significant digits: plenty for a heat map, small JSON."""
    return np.vectorize(significant, otypes=[float])(values).tolist()


def sentence_view(
    model: nn.Module, vocab: Vocab, source: np.ndarray, target: np.ndarray, top_k: int
) -> dict:
    """One sentence for the report: its characters, targets, connectivity and top-k guesses."""
    device = model.embedding.weight.device
    ids = torch.as_tensor(source, device=device)
    matrix = connectivity_matrix(model, ids, torch.as_tensor(target, device=device))
    top = [
        [[word, significant(prob)] for word, prob in row]
        for row in suggestions(model, source, vocab.words, top_k)
    ]
    return {
        "text": decode(source).strip(),
        "chars": [vocab.chars[c] for c in source],
        "targets": [vocab.words[t] for t in target],
        "matrix": _rounded(matrix.cpu().numpy()),
        "top": top,
    }


def observation_matrices(
    model: nn.Module, split: Split, count: int, batch: int = OBSERVATION_BATCH
) -> list[np.ndarray]:
    """Connectivity of the first `count` observations of a split (already shuffled), `batch`
    observations at a time."""
    matrices = []
    with progress(total=min(count, len(split)), desc="connectivity", unit="observation") as bar:
        for start in range(0, min(count, len(split)), batch):
            rows = range(start, min(start + batch, count, len(split)))
            sources = [torch.as_tensor(split.source[i, : split.length[i]]) for i in rows]
            targets = [torch.as_tensor(split.target[i, : split.length[i]]) for i in rows]
            for matrix in connectivity_matrices(model, sources, targets):
                matrices.append(matrix.cpu().numpy())
            bar.update(len(rows))
    return matrices
