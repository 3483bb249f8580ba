"""The training loop (DESIGN section 5): Adam on the masked loss, resumable to the bit.

A run is a pure function of its inputs: the model is built right after seeding torch,
and the batches of epoch e are a pure function of (seed, e). A checkpoint therefore only
needs the model and optimizer state, the step, torch's RNG state, the training curves
logged so far and the half-filled running means; a run resumed from it replays exactly
what the uninterrupted run would have done. The dvclive directory is rebuilt from the
curves in the checkpoint rather than appended to, so a kill between two checkpoints
never leaves duplicated or orphaned rows behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from dvclive import Live
from tqdm import tqdm

from rnnmem.dataset import Split
from rnnmem.metrics import masked_accuracy, masked_loss, predict
from rnnmem.models import LanguageModel, ModelSpec, resolve_device, save_model
from rnnmem.params import ModelParams, TrainParams
from rnnmem.stage import UserError, atomic_path

BUCKET_BATCHES = 50  # batches per length-sorted chunk: less padding, still well mixed


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Row indices of every batch of one epoch, in training order.

    Rows are shuffled, cut into chunks of BUCKET_BATCHES batches, each chunk is sorted by
    length and cut into batches (so a batch's rows have similar lengths and little
    padding), and the batch order is shuffled again. Depends only on (seed, epoch).
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    for start in range(0, len(order), BUCKET_BATCHES * batch_size):
        chunk = order[start : start + BUCKET_BATCHES * batch_size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def dataset_hash(directory: str | Path) -> str:
    """SHA-256 over the names and bytes of every file in a built dataset directory."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def fingerprint(kind: str, model: ModelParams, train: TrainParams, dataset_dir: str | Path) -> str:
    """What a checkpoint must match to be resumed: model and train params plus the data."""
    payload = {
        "kind": kind,
        "model": asdict(model),
        "train": asdict(train),
        "dataset": dataset_hash(dataset_dir),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class Checkpoints:
    """The newest resumable state of one run, kept as `step-NNNNNNNN.pt` in `directory`."""

    def __init__(self, directory: str | Path, fingerprint: str) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("step-*.pt"), reverse=True)

    def load(self) -> dict[str, Any] | None:
        """The newest checkpoint of this very run; stale or unreadable ones are deleted."""
        for path in self._files():
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                matches = state.get("fingerprint") == self.fingerprint
            except Exception:  # noqa: BLE001 - any unreadable checkpoint is just stale
                matches = False
            if matches:
                return state
            tqdm.write(f"removing stale checkpoint {path} (other params or data)")
            path.unlink()
        return None

    def save(self, state: dict[str, Any]) -> None:
        """Write atomically, then drop the older checkpoints."""
        path = self.directory / f"step-{state['step']:08d}.pt"
        with atomic_path(path) as tmp:
            torch.save({**state, "fingerprint": self.fingerprint}, tmp)
        for older in self._files():
            if older != path:
                older.unlink()

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class Curves:
    """Training curves: dvclive files plus the same rows kept in memory for checkpoints.

    Rows are logged at the training step they describe, so `dvc plots` draws them against
    steps. On resume the dvclive directory is wiped and rewritten from the saved rows.
    """

    def __init__(self, directory: str | Path, rows: list[dict[str, float]]) -> None:
        self.live = Live(dir=str(directory), dvcyaml=False, save_dvc_exp=False, resume=False)
        self.rows: list[dict[str, float]] = []
        for row in rows:
            self.log(**row)

    def log(self, step: int, **values: float) -> None:
        self.live.step = step
        for name, value in values.items():
            self.live.log_metric(name, value)
        self.live.make_summary()
        self.rows.append({"step": step, **values})


def _summary(sums: list[float]) -> dict[str, float]:
    loss, accuracy, batches = sums
    return {"train/loss": loss / batches, "train/accuracy": accuracy / batches}


def train(
    spec: ModelSpec,
    params: TrainParams,
    train_split: Split,
    valid_split: Split,
    *,
    output: str | Path,
    checkpoint_dir: str | Path,
    live_dir: str | Path,
    fingerprint: str,
) -> dict[str, Any]:
    """Train a model of `spec` and save it to `output`; returns its meta and training time.

    The saved meta holds only what the run determines, so equal weights give an identical
    model.pt; the wall-clock `training_seconds` is returned beside it, not stored in it.

    Resumes from the newest checkpoint in `checkpoint_dir` whose fingerprint matches and
    deletes the checkpoints once `output` is written. The train curves are means over the
    batches since the previous row; valid rows come with every checkpoint and at the end.
    """
    if len(train_split) == 0 or len(valid_split) == 0:
        raise UserError("the train or valid split is empty; use a larger corpus and rerun build")
    device = resolve_device(params.device)
    torch.manual_seed(params.seed)
    model: LanguageModel = spec.build().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
    source = torch.from_numpy(train_split.source)
    target = torch.from_numpy(train_split.target)
    steps_per_epoch = math.ceil(len(train_split) / params.batch_size)
    total = steps_per_epoch * params.epochs

    checkpoints = Checkpoints(checkpoint_dir, fingerprint)
    state = checkpoints.load()
    if state is None:
        step, rows, sums, seconds = 0, [], [0.0, 0.0, 0], 0.0
    else:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        step, rows, sums, seconds = state["step"], state["rows"], state["sums"], state["seconds"]
        tqdm.write(f"resuming {spec.kind} from step {step} of {total}")
    curves = Curves(live_dir, rows)

    valid: dict[str, float] = {}
    started = time.perf_counter() - seconds
    batches, batches_epoch = [], -1
    with tqdm(total=total, initial=step, desc=f"train {spec.kind}", unit="step") as bar:
        while step < total:
            epoch, position = divmod(step, steps_per_epoch)
            if epoch != batches_epoch:
                batches = epoch_batches(train_split.length, params.batch_size, params.seed, epoch)
                batches_epoch = epoch
            index = batches[position]
            width = int(train_split.length[index].max())  # cut the batch to its longest row
            x = source[index, :width].to(device)
            y = target[index, :width].to(device)

            model.train()
            logits = model(x)
            loss = masked_loss(logits, y)
            step += 1
            value = loss.item()
            if not math.isfinite(value):
                raise UserError(
                    f"training {spec.kind} diverged: loss is {value} at step {step}; "
                    "lower train.learning_rate or set train.clip_grad_norm in params.yaml"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if params.clip_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), params.clip_grad_norm)
            optimizer.step()
            sums = [sums[0] + value, sums[1] + masked_accuracy(logits, y).item(), sums[2] + 1]
            bar.update(1)

            if step % params.log_every == 0 or step == total:
                curves.log(step, **_summary(sums))
                bar.set_postfix(loss=f"{sums[0] / sums[2]:.3f}")
                sums = [0.0, 0.0, 0]
            if step % params.checkpoint_every == 0 or step == total:
                seen = predict(model, valid_split, params.batch_size, device, top=1, desc="valid")
                valid = {"valid/loss": seen.cross_entropy, "valid/accuracy": seen.accuracy}
                curves.log(step, **valid)
            if step % params.checkpoint_every == 0 and step < total:
                checkpoints.save(
                    {
                        "step": step,  # epoch and batch are divmod(step, steps_per_epoch)
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "cuda_rng": torch.cuda.get_rng_state(device)
                        if device.type == "cuda"
                        else torch.empty(0, dtype=torch.uint8),
                        "rows": curves.rows,
                        "sums": sums,
                        "seconds": time.perf_counter() - started,
                    }
                )

    seconds = time.perf_counter() - started
    meta = {
        "steps": total,
        "epochs": params.epochs,
        "seed": params.seed,
        "batch_size": params.batch_size,
        "learning_rate": params.learning_rate,
        "clip_grad_norm": params.clip_grad_norm,
        "device": str(device),
        "valid_cross_entropy": valid["valid/loss"],
        "valid_accuracy": valid["valid/accuracy"],
    }
    save_model(output, model, spec, meta)
    checkpoints.clear()
    return {**meta, "training_seconds": seconds}
