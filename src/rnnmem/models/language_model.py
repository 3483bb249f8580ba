"""The three recurrent language models (docs/design.md, Models) and their initialisation.

Each model is embedding -> recurrent stack -> dense layer to the word vocabulary. GRU and
LSTM are PyTorch's own layers; the Nested LSTM is `rnnmem.models.nested_lstm`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnmem.kinds import INITS, KINDS
from rnnmem.models.nested_lstm import NestedLSTM


class LanguageModel(nn.Module):
    """Characters -> embedding -> recurrent stack -> logits over the word vocabulary; `depth`
    is the Nested LSTM's nesting (None for the others)."""

    def __init__(
        self, kind: str, n_chars: int, n_words: int, units: int, layers: int, depth: int | None
    ) -> None:
        super().__init__()
        self.kind = kind
        self.embedding = nn.Embedding(n_chars, units, padding_idx=0)
        if kind == "gru":
            self.recurrent = nn.GRU(units, units, layers, batch_first=True)
        elif kind == "lstm":
            self.recurrent = nn.LSTM(units, units, layers, batch_first=True)
        elif kind == "nlstm":
            self.recurrent = nn.ModuleList(NestedLSTM(units, units, depth) for _ in range(layers))
        else:
            raise ValueError(f"unknown model kind {kind!r}; allowed: {', '.join(KINDS)}")
        self.dense = nn.Linear(units, n_words)

    def use_cuda_graphs(self, enabled: bool = True) -> None:
        """Replay the Nested LSTM recurrence as CUDA graphs while training on a GPU (no effect
        on GRU and LSTM, whose cuDNN kernels run each layer in one launch)."""
        for module in self.modules():
            if isinstance(module, NestedLSTM):
                module.cuda_graphs = enabled

    def hidden_states(self, embedded: Tensor) -> Tensor:
        """Top-layer hidden states [batch, time, units] from embedded inputs [batch, time, units].

        Separate from the logits so that a caller can look at the hidden states without
        paying for the large output layer.
        """
        if isinstance(self.recurrent, nn.ModuleList):
            hidden = embedded
            for layer in self.recurrent:
                hidden, _ = layer(hidden)
        elif embedded.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # oneDNN has no bfloat16 LSTM on CPUs without bfloat16 instructions (it fails to
            # build one), and gains nothing from it elsewhere: PyTorch's layers run in float32.
            with torch.autocast("cpu", enabled=False):
                hidden, _ = self.recurrent(embedded.float())
        else:
            hidden, _ = self.recurrent(embedded)
        return hidden

    def forward_embedded(self, embedded: Tensor) -> Tensor:
        """Logits from already embedded inputs [batch, time, units] (differentiable w.r.t. them)."""
        return self.dense(self.hidden_states(embedded))

    def forward(self, source: Tensor) -> Tensor:
        """Logits [batch, time, n_words] for character ids [batch, time]."""
        return self.forward_embedded(self.embedding(source))


def rnn_layer_weights(rnn: nn.RNNBase, layer: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Layer `layer` of PyTorch's nn.GRU / nn.LSTM as (w_ih, w_hh, b_ih, b_hh). Their rows are
    gate blocks of `hidden_size`, in PyTorch's order: r, z, n for the GRU, i, f, g, o for the
    LSTM."""
    return tuple(
        getattr(rnn, f"{name}_l{layer}")
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )


def _glorot_(weight: Tensor, fan_in: int, fan_out: int) -> None:
    """Glorot-uniform for a TensorFlow kernel of shape [fan_in, fan_out] that PyTorch keeps
    as one or several blocks; the fans are the whole TF kernel's, not the block's."""
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    nn.init.uniform_(weight, -limit, limit)


def reference_init_(model: LanguageModel) -> None:
    """Start `model` as the reference TensorFlow code does: Glorot-uniform kernels, zero
    biases, the embedding uniform in +-sqrt(1/trainable rows), the LSTM's forget gate at 1.0
    (TF's BasicLSTMCell adds 1.0 inside the cell; a trainable bias starting at 1.0 trains
    the same) and the GRU's reset and update gates at 1.0 (TF's GRUCell)."""
    units = model.embedding.embedding_dim
    with torch.no_grad():
        limit = (1.0 / (model.embedding.num_embeddings - 1)) ** 0.5
        nn.init.uniform_(model.embedding.weight, -limit, limit)
        model.embedding.weight[0].zero_()  # padding row
        _glorot_(model.dense.weight, units, model.dense.out_features)
        nn.init.zeros_(model.dense.bias)
        if isinstance(model.recurrent, nn.ModuleList):  # Nested LSTM: gates[d] is TF's W_d
            for layer in model.recurrent:
                for linear in layer.cell.gates:
                    _glorot_(linear.weight, linear.in_features, linear.out_features)
                    nn.init.zeros_(linear.bias)
            return
        rnn = model.recurrent
        for layer in range(rnn.num_layers):
            w_ih, w_hh, b_ih, b_hh = rnn_layer_weights(rnn, layer)
            fan_in = w_ih.shape[1] + units  # TF kernels map [x_t, h_{t-1}]
            nn.init.zeros_(b_ih)
            nn.init.zeros_(b_hh)
            if model.kind == "lstm":  # one kernel [in + h, 4h]; blocks i, f, g, o
                _glorot_(w_ih, fan_in, 4 * units)
                _glorot_(w_hh, fan_in, 4 * units)
                b_ih[units : 2 * units] = 1.0
            else:  # gates kernel [in + h, 2h] (r, z), candidate kernel [in + h, h]
                for weight in (w_ih, w_hh):
                    _glorot_(weight[: 2 * units], fan_in, 2 * units)
                    _glorot_(weight[2 * units :], fan_in, units)
                b_ih[: 2 * units] = 1.0


CHRONO_LONGEST = 200  # characters: the longest dependency chrono init plans for (an observation)


def chrono_init_(
    model: LanguageModel, longest: int = CHRONO_LONGEST, input_gate: bool = True
) -> None:
    """Chrono initialisation (Tallec and Ollivier, ICLR 2018) on top of PyTorch's defaults.

    A gate that keeps the state (the GRU's update gate, the LSTMs' forget gates) starts with
    bias log(u), u uniform in [1, longest - 1], and with `input_gate` the LSTMs' input gates
    with -log(u), so unit i first forgets over about u_i characters. PyTorch's zero-mean
    biases make every unit forget within a few characters, and a gradient from a referent 50
    characters on then vanishes before it reaches the antecedent it should learn to keep.
    Without `input_gate` the input gates keep PyTorch's biases (`chrono_forget`): the state
    lasts as long, but new input is written at full strength. The GRU has no input gate, so
    both variants start it the same.
    """
    units = model.embedding.embedding_dim

    def keep() -> Tensor:
        return torch.log(torch.empty(units).uniform_(1, longest - 1))

    with torch.no_grad():
        if isinstance(model.recurrent, nn.ModuleList):
            # The innermost cell is the one that carries the state from step to step (the
            # outer cells are recomputed from it); gate order i, j, f, o.
            for layer in model.recurrent:
                linear, bias = layer.cell.gates[-1], keep()
                linear.bias[2 * units : 3 * units] = bias - layer.cell.forget_bias
                if input_gate:
                    linear.bias[:units] = -bias
            return
        rnn = model.recurrent
        for layer in range(rnn.num_layers):
            _, _, b_ih, b_hh = rnn_layer_weights(rnn, layer)
            bias = keep()
            if model.kind == "lstm":  # blocks i, f, g, o
                b_ih[units : 2 * units] = bias
                b_hh[units : 2 * units] = 0
                if input_gate:
                    b_ih[:units], b_hh[:units] = -bias, 0
            else:  # blocks r, z, n; h_t = (1 - z) * n + z * h_{t-1}
                b_ih[units : 2 * units] = bias
                b_hh[units : 2 * units] = 0


def build_model(
    kind: str,
    n_chars: int,
    n_words: int,
    units: int,
    layers: int,
    depth: int | None,
    init: str,
) -> LanguageModel:
    """A freshly initialised model of `kind` (gru, lstm or nlstm); seed torch first.

    init `reference` starts it as the reference code does (`reference_init_`), `pytorch`
    keeps PyTorch's default initialisation (LSTM forget-gate bias 0, uniform +-1/sqrt(units)),
    `chrono` is PyTorch's with gate biases that keep the state longer (`chrono_init_`), and
    `chrono_forget` the same on the forget (update) gates only.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INITS)}")
    model = LanguageModel(kind, n_chars, n_words, units, layers, depth)
    if init == "reference":
        reference_init_(model)
    elif init in ("chrono", "chrono_forget"):
        chrono_init_(model, input_gate=init == "chrono")
    return model


def count_parameters(model: LanguageModel) -> dict[str, int]:
    """Trainable parameter counts split as in the table of docs/design.md, Models; and the total."""
    counts = {
        part: sum(p.numel() for p in getattr(model, part).parameters())
        for part in ("embedding", "recurrent", "dense")
    }
    counts["total"] = sum(counts.values())
    return counts
