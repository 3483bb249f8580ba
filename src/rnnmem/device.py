"""Where a stage runs: the torch device named by run.yaml's `device`, and how fast it adds."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from rnnmem.errors import FixableError


def resolve_device(name: str) -> torch.device:
    """The torch device for `device` in run.yaml: auto (GPU when present), cpu or cuda."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise FixableError(
                "device is cuda but no CUDA GPU is available; set it to auto or cpu in run.yaml"
            )
        return torch.device("cuda")
    raise FixableError(f"unknown device {name!r}; allowed: auto, cpu, cuda")


def memory_of(device: torch.device) -> tuple[int, str]:
    """(bytes, what they are) of the memory a model trained on `device` lives in: the GPU's
    own, or the machine's."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory, "the GPU's memory"
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"


@contextlib.contextmanager
def subnormals_flushed() -> Iterator[None]:
    """Subnormal floats flushed to zero inside, the process's default (off) restored after.

    A trained recurrent state decays into subnormal floats, which x86 CPUs handle dozens of
    times slower: the Nested LSTM's 300 default steps took 390 s, 118 s flushed. Results stay
    deterministic and differ only below about 1e-38."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
