"""The models this project can build and the ways their weights can start, by name only, so
that what reads settings or prints labels imports neither torch nor `rnnmem.models`: a stage
that only reads params.yaml does not rerun when a model's code changes."""

from __future__ import annotations

KINDS = ("gru", "lstm", "nlstm")
LABELS = {"gru": "GRU", "lstm": "LSTM", "nlstm": "Nested LSTM"}  # each kind in prose
# As the reference code, PyTorch's defaults, chrono (gates that keep the state longer), or
# chrono on the forget gates only (`rnnmem.models.language_model.build_model`).
INITS = ("reference", "pytorch", "chrono", "chrono_forget")
NESTED = "nlstm"  # the one kind with a nesting depth
