"""Model files: the architecture, the weights and a checksum over both, written atomically.

A file changed on disk after training (edited, truncated, swapped for a foreign pickle) is
refused in one line (an `InputError` naming it), never run; so is a model trained on another
vocabulary than the one it is given to read with (its ids would name other words).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from rnnmem.data.dataset import Vocab
from rnnmem.errors import FixableError, InputError
from rnnmem.files import atomic_path
from rnnmem.models.language_model import LanguageModel, build_model, count_parameters

# What training holds per parameter: float32 weights, their gradients and Adam's two moments.
TRAINING_BYTES_PER_PARAMETER = 16


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model's architecture (saved beside its weights); `depth`
    is the Nested LSTM's nesting (None for the others). `vocab_digest` is the `Vocab.digest`
    of the vocabulary it is trained on (None in files written before it was recorded)."""

    kind: str
    n_chars: int
    n_words: int
    units: int
    layers: int
    depth: int | None
    init: str
    vocab_digest: str | None = None

    def build(self) -> LanguageModel:
        return build_model(
            self.kind, self.n_chars, self.n_words, self.units, self.layers, self.depth, self.init
        )

    def check_trainable(self, memory_bytes: int, memory: str) -> None:
        """Refuse a model whose training state alone would not fit `memory_bytes` (of
        `memory`, named in the message), before anything is allocated: its parameters are
        counted on PyTorch's meta device, which holds shapes and no data."""
        with torch.device("meta"):
            shapes = LanguageModel(
                self.kind, self.n_chars, self.n_words, self.units, self.layers, self.depth
            )
        count = count_parameters(shapes)["total"]
        need = count * TRAINING_BYTES_PER_PARAMETER
        if need > memory_bytes:
            nesting = f" of depth {self.depth}" if self.depth is not None else ""
            raise FixableError(
                f"models.{self.kind}: {self.units:,} units in {self.layers} layers{nesting} "
                f"make {count:,} parameters, about {need / 1e9:,.0f} GB to train (weights, "
                f"gradients and Adam's two moments at 4 bytes each), more than {memory} "
                f"({memory_bytes / 1e9:,.0f} GB); use fewer units or layers"
            )


def content_digest(spec: dict, state: dict[str, Tensor], meta: dict) -> str:
    """SHA-256 of a saved model's contents (spec, every tensor's name, dtype, shape and bytes,
    meta), so a file changed on disk after training is caught when it is loaded."""
    digest = hashlib.sha256(json.dumps([spec, meta], sort_keys=True).encode())
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{list(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_model(path: str | Path, model: nn.Module, spec: ModelSpec, meta: dict) -> None:
    """Write spec, weights (on CPU), `meta` (plain types only) and their checksum atomically."""
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    content = {"spec": asdict(spec), "state_dict": state, "meta": dict(meta)}
    content["sha256"] = content_digest(content["spec"], state, content["meta"])
    # Through a buffer: torch.save names the archive after the file, and the temp name is
    # random; equal weights must give equal bytes, or DVC reruns everything downstream.
    buffer = io.BytesIO()
    torch.save(content, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_model(
    path: str | Path, device: str | torch.device = "cpu", vocab: Vocab | None = None
) -> tuple[LanguageModel, ModelSpec, dict]:
    """Rebuild a model saved by `save_model`, in eval mode on `device`, after checking its
    checksum: a file damaged or edited since it was written is refused, never run. Given the
    `vocab` it will read and write words with, a model trained on another one (or on one it
    did not record) is refused too; every stage and command passes it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file {path} not found", path)
    try:
        with warnings.catch_warnings():  # torch warns before refusing a foreign pickle
            warnings.simplefilter("ignore")
            stored = torch.load(path, map_location="cpu", weights_only=True)
        state, saved_digest = stored["state_dict"], stored.get("sha256")
        digest = content_digest(stored["spec"], state, stored["meta"])
        spec = ModelSpec(**stored["spec"])
        model = spec.build()
        model.load_state_dict(state)
        meta = dict(stored["meta"])
    except (
        RuntimeError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        EOFError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        OverflowError,
    ) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if isinstance(err, pickle.UnpicklingError):
            reason = "it holds objects other than weights; not loaded"
        raise InputError(
            f"model file {path} is corrupt or incompatible ({reason[:120]})", path
        ) from err
    if saved_digest is None:
        raise InputError(f"model file {path} has no checksum (an older format)", path)
    if saved_digest != digest:
        raise InputError(
            f"model file {path} fails its checksum (changed on disk since it was written)", path
        )
    if vocab is not None and spec.vocab_digest != vocab.digest:
        if spec.vocab_digest is None:
            raise InputError(
                f"model file {path} records no vocabulary (written before model files did), "
                "so its word ids cannot be checked against the dataset's",
                path,
            )
        raise InputError(
            f"model file {path} was trained on another vocabulary than the dataset's "
            f"({spec.n_words:,} words, {len(vocab.words):,} in the dataset's): its ids would "
            "name other words",
            path,
        )
    return model.to(device).eval(), spec, meta
