"""The Nested LSTM (Moniz and Krueger, 2018; docs/design.md, Models) as PyTorch modules.

`NestedLSTMCell` is the readable one-step definition. `NestedLSTM` runs a whole sequence
through `_NestedLSTMSequence`, one autograd node with a hand-written backward pass, and on a
GPU can replay it as CUDA graphs. `nested_lstm_activations` and `nested_lstm_derivatives` are
shared with the connectivity computation, which sweeps the same recurrence backwards.
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]


class NestedLSTMCell(nn.Module):
    """One step of a Nested LSTM of any depth >= 1 (depth 1 is a plain LSTM cell).

    `gates[0]` maps [x_t, h_{t-1}] and `gates[d]` (d >= 1) maps level d-1's
    (input-gated candidate, forget-gated cell) pair to 4 * hidden pre-activations in
    gate order i, j, f, o. The state is (h, c_0, ..., c_{depth-1}), outer to inner.
    """

    def __init__(
        self, input_size: int, hidden_size: int, depth: int, forget_bias: float = 1.0
    ) -> None:
        super().__init__()
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.depth = depth
        self.forget_bias = forget_bias
        widths = [input_size + hidden_size] + [2 * hidden_size] * (depth - 1)
        self.gates = nn.ModuleList(nn.Linear(w, 4 * hidden_size) for w in widths)
        for linear in self.gates:
            nn.init.zeros_(linear.bias)

    def initial_state(self, batch: int, like: Tensor) -> State:
        """All-zero state for `batch` sequences, on `like`'s device and dtype."""
        zeros = like.new_zeros(batch, self.hidden_size)
        return tuple(zeros for _ in range(self.depth + 1))

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, *cells = state
        level_input, level_hidden = x, h
        carried: list[Tensor] = []  # output gate per level
        new_cells: list[Tensor] = []
        for level, linear in enumerate(self.gates):
            i, j, f, o = linear(torch.cat([level_input, level_hidden], dim=1)).chunk(4, dim=1)
            candidate = j if level == 0 and self.depth > 1 else torch.tanh(j)
            level_input = torch.sigmoid(i) * candidate
            level_hidden = torch.sigmoid(f + self.forget_bias) * cells[level]
            carried.append(torch.sigmoid(o))
        # The innermost level is a plain LSTM update; each level's output is the new cell
        # of the level above it.
        cell = level_input + level_hidden
        for output_gate in reversed(carried):
            new_cells.append(cell)
            cell = torch.tanh(cell) * output_gate
        h = cell
        return h, (h, *reversed(new_cells))


def _steps(buffer: Tensor, start: int | None = None, stop: int | None = None) -> tuple[Tensor, ...]:
    """Per-time-step views of columns start:stop of a time-major buffer, made in one call."""
    return buffer[..., start:stop].unbind(0)


_BACKWARD_CHUNK = 16  # steps whose local derivatives are formed together


def nested_lstm_derivatives(
    gates: Tensor,
    cells: Tensor,
    tanh_cells: Tensor,
    factors: Tensor,
    cell_factors: Tensor,
    sig_slope: Tensor,
    raw_candidate: bool,
) -> None:
    """Fill `factors` and `cell_factors` (see `_NestedLSTMSequence.backward`) for some steps.

    `gates` are the activations (order j, i, f, o), `cells` the cells before each step,
    `tanh_cells` tanh of the cells after it; `sig_slope` is scratch space.
    """
    hid = cells.shape[-1]
    cand, sig = gates[..., :hid], gates[..., hid:]
    i_gate, o_gate = gates[..., hid : 2 * hid], gates[..., 3 * hid :]
    torch.mul(sig, sig, out=sig_slope)
    torch.sub(sig, sig_slope, out=sig_slope)  # sigmoid' = s - s^2
    i_slope, f_slope, o_slope = sig_slope.split(hid, dim=-1)
    f_j, f_i, f_f, f_o = factors.split(hid, dim=-1)
    if raw_candidate:
        f_j.copy_(i_gate)
    else:  # i * tanh'(j) = i - i * tanh(j)^2
        torch.mul(i_gate, cand, out=f_j).mul_(cand)
        torch.sub(i_gate, f_j, out=f_j)
    torch.mul(cand, i_slope, out=f_i)
    torch.mul(cells, f_slope, out=f_f)
    torch.mul(tanh_cells, o_slope, out=f_o)
    torch.mul(o_gate, tanh_cells, out=cell_factors).mul_(tanh_cells)
    torch.sub(o_gate, cell_factors, out=cell_factors)  # o * tanh'(c)


def nested_lstm_activations(
    depth: int, projected: Tensor, h0: Tensor, *rest: Tensor
) -> tuple[Tensor, list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
    """Run the Nested LSTM recurrence (the arguments of `_NestedLSTMSequence`) and keep every
    activation: hidden states [T + 1, B, H] (h0 first), per level the gates [T, B, 4H] (order
    j, i, f, o, activated), the cells [T + 1, B, H], tanh of the new cells [T, B, H], and per
    inner level its input pair [T, B, 2H]. The backward pass and connectivity both need them.
    """
    cells0, recurrent = rest[:depth], rest[depth].contiguous()
    weights, biases = rest[depth + 1 : 2 * depth], rest[2 * depth :]
    steps, batch, _ = projected.shape
    hid = h0.shape[1]
    new = projected.new_empty
    hs = new(steps + 1, batch, hid)
    gates = [new(steps, batch, 4 * hid) for _ in range(depth)]
    cells = [new(steps + 1, batch, hid) for _ in range(depth)]
    tanh_cells = [new(steps, batch, hid) for _ in range(depth)]
    inputs = [new(steps, batch, 2 * hid) for _ in range(depth - 1)]
    hs[0] = h0
    for level in range(depth):
        cells[level][0] = cells0[level]

    proj, h_t = projected.unbind(0), hs.unbind(0)
    g_all, g_j = [_steps(g) for g in gates], [_steps(g, 0, hid) for g in gates]
    g_i = [_steps(g, hid, 2 * hid) for g in gates]
    g_f = [_steps(g, 2 * hid, 3 * hid) for g in gates]
    g_o = [_steps(g, 3 * hid) for g in gates]
    g_sig = [_steps(g, hid) for g in gates]
    c_t, tc_t = [c.unbind(0) for c in cells], [tc.unbind(0) for tc in tanh_cells]
    in_all, in_u = [_steps(x) for x in inputs], [_steps(x, 0, hid) for x in inputs]
    in_v = [_steps(x, hid) for x in inputs]
    recurrent_t, weights_t = recurrent.t(), [w.t() for w in weights]
    inner = depth - 1
    for t in range(steps):
        torch.addmm(proj[t], h_t[t], recurrent_t, out=g_all[0][t])
        g_sig[0][t].sigmoid_()
        if depth == 1:  # plain LSTM; above an inner level the candidate stays linear
            g_j[0][t].tanh_()
        for level in range(1, depth):
            above = level - 1
            torch.mul(g_i[above][t], g_j[above][t], out=in_u[above][t])
            torch.mul(g_f[above][t], c_t[above][t], out=in_v[above][t])
            torch.addmm(biases[above], in_all[above][t], weights_t[above], out=g_all[level][t])
            g_sig[level][t].sigmoid_()
            g_j[level][t].tanh_()
        cell = torch.mul(g_f[inner][t], c_t[inner][t], out=c_t[inner][t + 1])
        cell.addcmul_(g_i[inner][t], g_j[inner][t])
        for level in reversed(range(depth)):
            torch.tanh(c_t[level][t + 1], out=tc_t[level][t])
            output = c_t[level - 1][t + 1] if level else h_t[t + 1]
            torch.mul(tc_t[level][t], g_o[level][t], out=output)
    return hs, gates, cells, tanh_cells, inputs


class _NestedLSTMSequence(torch.autograd.Function):
    """The Nested LSTM recurrence over a whole sequence with a hand-written backward pass.

    Autograd would record a dozen nodes per level and step; here the whole sequence is one
    node. Works time-major, with gates in the internal order j, i, f, o (the candidate,
    then the three sigmoid gates in one block) and the forget bias folded into the biases.
    The forward pass writes every activation into preallocated buffers; the backward pass
    forms the local derivatives of a chunk of steps at once, so that each step is only a
    few fused multiplies and one matrix product per level, and finally forms each weight
    gradient as one matrix product over all steps.

    Inputs: depth, level 0's projected inputs [T, B, 4H] (x W_x + b_0), h0, the depth
    initial cells, level 0's recurrent weight [4H, H], then the inner levels' weights
    [4H, 2H] and biases [4H]. Outputs: hidden states [T, B, H] and the final cells.
    """

    @staticmethod
    def forward(ctx, depth: int, projected: Tensor, h0: Tensor, *rest: Tensor):
        hs, gates, cells, tanh_cells, inputs = nested_lstm_activations(depth, projected, h0, *rest)
        recurrent, weights = rest[depth].contiguous(), rest[depth + 1 : 2 * depth]
        steps = projected.shape[0]
        ctx.depth = depth
        ctx.save_for_backward(hs, recurrent, *weights, *gates, *cells, *tanh_cells, *inputs)
        return (hs[1:].clone(), *(c[steps].clone() for c in cells))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_hs: Tensor | None, *grad_cells: Tensor | None):
        depth = ctx.depth
        hs, recurrent, *saved = ctx.saved_tensors
        weights, saved = saved[: depth - 1], saved[depth - 1 :]
        gates, cells, tanh_cells = (
            saved[:depth],
            saved[depth : 2 * depth],
            saved[2 * depth : 3 * depth],
        )
        inputs = saved[3 * depth :]
        steps, batch, hid = tanh_cells[0].shape
        if grad_hs is None:
            grad_hs = hs.new_zeros(steps, batch, hid)

        # Local derivatives are formed a chunk of steps at a time, in small reused buffers:
        # factors[level] holds, per gate block, d(pre-activation) / d(the gradient that
        # drives it): j and i by the level input, f by the forget-gated cell, o by the level
        # output; cell_factors[level] = d(level output) / d(level cell).
        chunk = min(steps, _BACKWARD_CHUNK)
        factors = [gates[0].new_empty(chunk, batch, 4 * hid) for _ in range(depth)]
        cell_factors = [gates[0].new_empty(chunk, batch, hid) for _ in range(depth)]
        sig_slope = gates[0].new_empty(chunk, batch, 3 * hid)
        k_t = [k.unbind(0) for k in cell_factors]
        fo_t = [_steps(f, 3 * hid) for f in factors]
        f_f = [_steps(f, 2 * hid, 3 * hid) for f in factors]
        # Blocks j, i (both driven by the level input) and j, i, f (innermost level, where
        # input and forget-gated cell get the same gradient) as [B, blocks, H] views.
        f_ji = [f[..., : 2 * hid].unflatten(-1, (2, hid)).unbind(0) for f in factors]
        f_jif = factors[-1][..., : 3 * hid].unflatten(-1, (3, hid)).unbind(0)

        grad_gates = [torch.empty_like(g) for g in gates]
        f_gate_t = [_steps(g, 2 * hid, 3 * hid) for g in gates]
        dz_all = [_steps(d) for d in grad_gates]
        dz_o = [_steps(d, 3 * hid) for d in grad_gates]
        dz_f = [_steps(d, 2 * hid, 3 * hid) for d in grad_gates]
        dz_ji = [d[..., : 2 * hid].unflatten(-1, (2, hid)).unbind(0) for d in grad_gates]
        dz_jif = grad_gates[-1][..., : 3 * hid].unflatten(-1, (3, hid)).unbind(0)
        grad_h_t = grad_hs.unbind(0)

        carry = [g.clone() if g is not None else hs.new_zeros(batch, hid) for g in grad_cells]
        inner = depth - 1
        grad_out = grad_h_t[steps - 1]
        for stop in range(steps, 0, -chunk):
            start = max(0, stop - chunk)
            size = stop - start
            for level in range(depth):
                nested_lstm_derivatives(
                    gates[level][start:stop],
                    cells[level][start:stop],
                    tanh_cells[level][start:stop],
                    factors[level][:size],
                    cell_factors[level][:size],
                    sig_slope[:size],
                    raw_candidate=level == 0 and depth > 1,
                )
            for t in reversed(range(start, stop)):
                k = t - start
                for level in range(depth):
                    torch.mul(grad_out, fo_t[level][k], out=dz_o[level][t])
                    grad_out = torch.addcmul(carry[level], grad_out, k_t[level][k])
                # The innermost cell is input + forget-gated cell: both get d(new cell).
                grad_in = grad_hid = grad_out
                for level in reversed(range(depth)):
                    if level == inner:
                        torch.mul(grad_out.unsqueeze(1), f_jif[k], out=dz_jif[t])
                    else:
                        torch.mul(grad_in.unsqueeze(1), f_ji[level][k], out=dz_ji[level][t])
                        torch.mul(grad_hid, f_f[level][k], out=dz_f[level][t])
                    carry[level] = grad_hid * f_gate_t[level][t]
                    if level:
                        pair = torch.mm(dz_all[level][t], weights[level - 1])
                        grad_in, grad_hid = pair.split(hid, 1)
                    elif t:
                        grad_out = torch.addmm(grad_h_t[t - 1], dz_all[0][t], recurrent)
                    else:
                        grad_out = torch.mm(dz_all[0][t], recurrent)

        if not any(ctx.needs_input_grad[depth + 3 :]):  # frozen weights: no weight gradients
            return (None, grad_gates[0], grad_out, *carry) + (None,) * (2 * depth - 1)
        flat = [g.view(steps * batch, 4 * hid) for g in grad_gates]
        grad_recurrent = flat[0].t().mm(hs[:-1].reshape(steps * batch, hid))
        grad_weights = [
            flat[level].t().mm(inputs[level - 1].view(steps * batch, 2 * hid))
            for level in range(1, depth)
        ]
        grad_biases = [flat[level].sum(0) for level in range(1, depth)]
        return (None, grad_gates[0], grad_out, *carry, grad_recurrent, *grad_weights, *grad_biases)


class RecurrenceInputs(NamedTuple):
    """The inputs of a Nested LSTM recurrence, gates in the internal order j, i, f, o and the
    forget bias folded into the biases."""

    depth: int
    projected: Tensor  # [T, B, 4H]: x W_x + b_0 for every step
    input_weight: Tensor  # W_x, [4H, input]: in `projected` already; for input gradients
    state: State  # h0 and the depth initial cells, each [B, H]
    recurrent: Tensor  # level 0's weight on h, [4H, H]
    weights: list[Tensor]  # levels 1..depth-1, [4H, 2H] each
    biases: list[Tensor]  # levels 1..depth-1, [4H] each

    def flat(self) -> tuple:
        """The positional arguments of `_NestedLSTMSequence` and `nested_lstm_activations`."""
        return (
            self.depth,
            self.projected,
            *self.state,
            self.recurrent,
            *self.weights,
            *self.biases,
        )


class NestedLSTM(nn.Module):
    """A Nested LSTM layer over a whole sequence: [batch, time, input] -> [batch, time, hidden].

    Same parameters and results as stepping `self.cell`, but the input part of level 0's
    gates is projected for all steps in one matrix product and the recurrence runs in
    `_NestedLSTMSequence`, so training costs about as much as PyTorch's fused LSTM.

    On a GPU that recurrence is a long chain of small kernels, each costing more to launch
    than to run. With `cuda_graphs` set, training replays it as one CUDA graph per input
    shape (forward and backward, captured once per shape by
    `torch.cuda.make_graphed_callables`), so its caller should keep to a few shapes. The
    graphs compute the same kernels as `_NestedLSTMSequence`, the readable reference, on
    the same inputs; they are used only while gradients are recorded, and a failed capture
    falls back to the reference with a warning.
    """

    def __init__(
        self, input_size: int, hidden_size: int, depth: int, forget_bias: float = 1.0
    ) -> None:
        super().__init__()
        self.cell = NestedLSTMCell(input_size, hidden_size, depth, forget_bias)
        hid = hidden_size
        # Gate order i, j, f, o -> j, i, f, o: the three sigmoid gates become one block.
        order = torch.cat(
            [torch.arange(hid, 2 * hid), torch.arange(0, hid), torch.arange(2 * hid, 4 * hid)]
        )
        self.register_buffer("_order", order, persistent=False)
        offset = torch.zeros(4 * hid)
        offset[2 * hid : 3 * hid] = forget_bias
        self.register_buffer("_forget_offset", offset, persistent=False)
        self.cuda_graphs = False
        self._graphed: dict[tuple, object] = {}  # input shapes, dtypes, grads -> graphed call

    def recurrence_inputs(self, x: Tensor, state: State | None = None) -> RecurrenceInputs:
        """What the recurrence needs for a batch [batch, time, input]; the input part of level
        0's gates is projected for all steps in one matrix product."""
        cell = self.cell
        if state is None:
            state = cell.initial_state(x.shape[0], x)
        weights = [linear.weight[self._order] for linear in cell.gates]
        biases = [linear.bias[self._order] + self._forget_offset for linear in cell.gates]
        input_weight, recurrent = weights[0].split([cell.input_size, cell.hidden_size], dim=1)
        projected = nn.functional.linear(x.transpose(0, 1), input_weight, biases[0])
        return RecurrenceInputs(
            cell.depth, projected, input_weight, tuple(state), recurrent, weights[1:], biases[1:]
        )

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        # Under autocast the projection comes out in the low precision (bfloat16); the
        # recurrence then runs wholly in that dtype, with autocast off, since its products
        # write into buffers of one dtype. Outside autocast everything stays float32.
        depth, *tensors = self.recurrence_inputs(x, state).flat()
        tensors = [t.to(tensors[0].dtype) for t in tensors]
        with torch.autocast(x.device.type, enabled=False):
            if self.cuda_graphs and x.is_cuda and torch.is_grad_enabled():
                hs, *cells = self._graphed_recurrence(tensors)(*tensors)
            else:
                hs, *cells = _NestedLSTMSequence.apply(depth, *tensors)
        return hs.transpose(0, 1), (hs[-1], *cells)

    def _graphed_recurrence(self, tensors: list[Tensor]):
        """`_NestedLSTMSequence` for inputs shaped like `tensors`, as replayed CUDA graphs.

        Its outputs live in the graph's own memory until the next call of the same shape,
        which is how a training step uses them (one forward, then one backward)."""
        reference = functools.partial(_NestedLSTMSequence.apply, self.cell.depth)
        key = tuple((t.shape, t.dtype, t.requires_grad) for t in tensors)
        if key not in self._graphed:
            sample = tuple(t.detach().clone().requires_grad_(t.requires_grad) for t in tensors)
            try:
                self._graphed[key] = torch.cuda.make_graphed_callables(reference, sample)
            except RuntimeError as err:
                warnings.warn(
                    f"Nested LSTM: CUDA graph capture failed ({str(err).splitlines()[0][:100]});"
                    " running the reference recurrence",
                    stacklevel=2,
                )
                self.cuda_graphs = False
                return reference
        return self._graphed[key]
