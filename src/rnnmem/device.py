"""Where a stage runs: the torch device named by train.device."""

from __future__ import annotations

import torch

from rnnmem.errors import FixableError


def resolve_device(name: str) -> torch.device:
    """The torch device for train.device: auto (GPU when present), cpu or cuda."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise FixableError(
                "train.device is cuda but no CUDA GPU is available; set it to auto or cpu"
            )
        return torch.device("cuda")
    raise FixableError(f"unknown device {name!r}; allowed: auto, cpu, cuda")
