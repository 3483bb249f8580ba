"""The training loop: Adam on the masked loss, resumable to the bit.

Definitions: docs/design.md, Training and evaluation.

A run is a pure function of its inputs: the model is built right after seeding torch,
and the batches of epoch e are a pure function of (seed, e). A checkpoint therefore only
needs the model and optimizer state, the step, torch's RNG state, the training curves
logged so far and the half-filled running means; a run resumed from it replays exactly
what the uninterrupted run would have done. The dvclive directory is rebuilt from the
curves in the checkpoint rather than appended to, so a kill between two checkpoints
never leaves duplicated or orphaned rows behind.

Float sums depend on how the CPU work is split between threads, so the thread count is
part of a run's identity (it is in the fingerprint). The loop never waits on a GPU
between two logged rows: running sums stay on the device and are read at `log_every`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from dvclive import Live
from torch import Tensor, nn
from tqdm import tqdm

from rnnmem.data.dataset import Split
from rnnmem.device import resolve_device, subnormals_flushed
from rnnmem.errors import FixableError
from rnnmem.files import atomic_dir, atomic_path
from rnnmem.models.checkpoint import ModelSpec, load_model, save_model
from rnnmem.models.language_model import LanguageModel
from rnnmem.models.objective import masked_accuracy, masked_loss, scored
from rnnmem.progress import progress

BUCKET_BATCHES = 50  # batches per length-sorted chunk: less padding, still well mixed
# On a GPU, batch widths are rounded up to a multiple of this, so that the Nested LSTM's
# CUDA graphs (one per input shape) are few. Padding columns do not change the result.
GRAPH_WIDTH = 50


class Schedule(Protocol):
    """What `train` reads of its settings (the pipeline hands it params.yaml's train section,
    with the model's own learning rate where it has one)."""

    batch_size: int
    epochs: int
    learning_rate: float
    clip_grad_norm: float  # 0: no clipping
    log_every: int  # steps between two rows of the training curves
    threads: int  # torch CPU threads; 0: automatic (`thread_count`)
    precision: str  # fp32, tf32 or bf16
    eval_every: int  # steps between two validations (and one at the end)
    max_steps: int  # 0: the whole epochs
    patience: int  # validations without a lower loss before stopping; 0: never


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


def thread_count(requested: int) -> int:
    """Torch CPU threads for `train.threads`: the value itself, or for 0 half the cores.

    The steps of a recurrence are small matrix products whose threads meet at every step,
    so one core taken by another process stalls them all; half the cores leave room for
    one other job (or a second queued experiment). A fixed function of the core count,
    never of the momentary load, so the same machine always gives the same weights. More
    threads than cores are refused, not lowered: the count is part of the run's identity,
    and each extra thread waits for a core at every step (steps dozens of times slower).
    """
    cores = len(os.sched_getaffinity(0))
    if requested > cores:
        raise FixableError(
            f"train.threads = {requested} but this process may use {cores} cores; "
            f"set train.threads to at most {cores} in params.yaml (0: automatic, half the cores)"
        )
    return requested or max(1, cores // 2)


def precision_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of `train.precision` for the training step; sets TF32 on CUDA.

    fp32 and tf32 run the model in float32 (tf32 lets CUDA matrix products round their
    inputs to 10-bit mantissas); bf16 runs it under bfloat16 autocast.
    """
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def dataset_hash(directory: str | Path) -> str:
    """SHA-256 over the names and bytes of every file in a built dataset directory."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def fingerprint(settings: Mapping[str, Any], threads: int, dataset_dir: str | Path) -> str:
    """What a checkpoint must match to be resumed: the run's `settings` (anything JSON can
    hold: the model, the schedule, the seed), the torch thread count `threads` gives on this
    machine, and the data."""
    payload = {
        "settings": settings,
        "threads": thread_count(threads),
        "dataset": dataset_hash(dataset_dir),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class Checkpoints:
    """The newest resumable state of one run, kept as `step-NNNNNNNN.pt` in `directory`."""

    def __init__(self, directory: str | Path, fingerprint: str, threads: int) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.threads = threads  # recorded in each checkpoint, to say why one is stale

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("step-*.pt"), reverse=True)

    def load(self) -> dict[str, Any] | None:
        """The newest checkpoint of this very run; stale or unreadable ones are deleted."""
        for path in self._files():
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception:  # noqa: BLE001 - any unreadable checkpoint is just stale
                state = None
            if state is not None and state.get("fingerprint") == self.fingerprint:
                return state
            reason = self._stale_reason(state)
            tqdm.write(f"removing stale checkpoint {path}, starting over ({reason})")
            path.unlink()
        return None

    def _stale_reason(self, state: dict[str, Any] | None) -> str:
        """Why a checkpoint (None: one torch could not read) is not this run's."""
        if state is None:
            return "unreadable: damaged or cut short"
        threads = state.get("threads", self.threads)
        if threads != self.threads:
            return (
                f"written with {threads} torch threads, this run uses {self.threads} "
                "(weights depend on it; set train.threads to resume)"
            )
        return "other params or data"

    def save(self, state: dict[str, Any]) -> None:
        """Write atomically, then drop the older checkpoints."""
        path = self.directory / f"step-{state['step']:08d}.pt"
        with atomic_path(path) as tmp:
            torch.save({**state, "fingerprint": self.fingerprint, "threads": self.threads}, tmp)
        for older in self._files():
            if older != path:
                older.unlink()

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class Snapshots:
    """The model at every validation, gathered beside the checkpoints while training runs
    (where a killed run's snapshots survive for the resumed one) and moved into place at the
    end."""

    def __init__(self, directory: Path, spec: ModelSpec) -> None:
        self.directory = directory
        self.spec = spec

    def keep_until(self, step: int) -> None:
        """Drop snapshots after `step` (a resumed run writes them again, identically);
        -1 drops them all (a run that starts over)."""
        for path in self.directory.glob("step-*.pt"):
            if int(path.stem.removeprefix("step-")) > step:
                path.unlink()

    def _path(self, step: int) -> Path:
        return self.directory / f"step-{step:08d}.pt"

    def save(self, model: nn.Module, step: int) -> None:
        save_model(self._path(step), model, self.spec, {"step": step})

    def weights(self, step: int) -> dict[str, Tensor]:
        """The weights of the snapshot taken at `step`."""
        return load_model(self._path(step))[0].state_dict()

    def publish(self, final: str | Path) -> None:
        """Move every snapshot into the folder `final`, replacing it whole."""
        with atomic_dir(final) as tmp:
            for path in sorted(self.directory.glob("step-*.pt")):
                os.replace(path, tmp / path.name)


class Curves:
    """Training curves: dvclive rows, also kept in memory for checkpoints.

    Each row is logged at the training step it describes, so `dvc plots` draws it against
    steps, and is closed with `next_step()`, which writes the summary and sends DVC Studio or
    the VS Code extension their live update. On resume the dvclive directory is wiped and
    rewritten from the saved rows.
    """

    def __init__(self, live: Live, rows: list[dict[str, float]]) -> None:
        self.live = live
        self.rows: list[dict[str, float]] = []
        for row in rows:
            self.log(**row)

    def log(self, step: int, **values: float) -> None:
        self.live.step = step
        for name, value in values.items():
            self.live.log_metric(name, value)
        self.live.next_step()
        self.rows.append({"step": step, **values})


@dataclass
class Sums:
    """The training curves' sums over the batches since the last train row; a checkpoint
    keeps them, so that a resumed run logs the row the whole run would have."""

    loss: float = 0.0
    accuracy: float = 0.0
    batches: int = 0

    def row(self) -> dict[str, float]:
        """The train row: the mean loss and accuracy over those batches."""
        return {
            "train/loss": self.loss / self.batches,
            "train/accuracy": self.accuracy / self.batches,
        }


class RunningSums:
    """`Sums` kept on the device while training runs, with the first step whose loss was not
    finite: the loop adds to them at every step and reads them back only at a train row, a
    validation or a checkpoint (one read), so it never waits on a GPU in between."""

    def __init__(self, sums: Sums, device: torch.device) -> None:
        # loss, accuracy, batches, the first step whose loss was not finite (0: none), its loss
        self._slots = torch.tensor(
            [sums.loss, sums.accuracy, sums.batches, 0, 0], dtype=torch.float64, device=device
        )

    @torch.no_grad()
    def add(self, step: int, loss: Tensor, logits: Tensor, target: Tensor) -> None:
        """Add the batch of `step` (its `loss`, and its accuracy from `logits` and `target`)."""
        loss = loss.double()
        first_bad = (self._slots[3] == 0) & ~torch.isfinite(loss)
        self._slots += torch.stack(
            [
                loss,
                masked_accuracy(logits, target).double(),
                torch.ones_like(loss),
                first_bad * step,
                torch.where(first_bad, loss, 0),
            ]
        )

    def read(self, world: int, kind: str, step: int) -> Sums:
        """The sums (under `torchrun`, the mean over the processes), read back at `step`; a
        loss that was not finite (in any process) stops the run naming where it happened."""
        if world > 1:
            dist.all_reduce(self._slots[:3])
            self._slots[:3] /= world
        loss, accuracy, batches, bad_step, bad_loss = self._slots.tolist()
        if bad_step or not math.isfinite(loss):  # (another process's loss)
            where = f"at step {int(bad_step)}" if bad_step else f"by step {step}"
            raise FixableError(
                f"training {kind} diverged: loss is {bad_loss if bad_step else loss} {where}; "
                "lower train.learning_rate or set train.clip_grad_norm in params.yaml"
            )
        return Sums(loss, accuracy, round(batches))


def batch_tensors(
    split: Split, rows: np.ndarray | slice, device: torch.device, width: int | None = None
) -> tuple[Tensor, Tensor]:
    """Source and target of `rows`, cut to `width` (default: their longest row), copied to
    `device` without waiting (through pinned memory on a GPU)."""
    width = width or int(split.length[rows].max())
    source = torch.from_numpy(split.source[rows, :width])
    target = torch.from_numpy(split.target[rows, :width])
    if device.type == "cuda":
        source, target = (t.pin_memory().to(device, non_blocking=True) for t in (source, target))
    return source, target


def _share(target: np.ndarray, rank: int, world: int) -> tuple[np.ndarray | slice, float]:
    """This process's rows of a batch with targets `target` (every world-th row from `rank`)
    and the weight of its mean loss that makes the mean of the processes' gradients the
    gradient of the whole batch's mean loss. A process left without rows (a batch smaller
    than the world) takes row 0 at weight 0."""
    if world == 1:
        return slice(None), 1.0
    counts = scored(target).sum(axis=1)
    rows = np.arange(rank, len(target), world)
    if len(rows) == 0:
        return np.arange(1), 0.0
    return rows, world * float(counts[rows].sum()) / max(1, int(counts.sum()))


class Batches:
    """Each step's batch, as this process's share of it on the device."""

    def __init__(
        self, split: Split, batch_size: int, seed: int, device: torch.device, rank: int, world: int
    ) -> None:
        self.split, self.batch_size, self.seed = split, batch_size, seed
        self.device, self.rank, self.world = device, rank, world
        self.steps_per_epoch = math.ceil(len(split) / batch_size)
        self._epoch, self._batches = -1, []

    def of_step(self, step: int) -> tuple[Tensor, Tensor, float]:
        """Source, target and loss weight (`_share`) of this process's rows of the batch that
        follows `step` steps, cut to the batch's longest row (on a GPU, a multiple of
        GRAPH_WIDTH)."""
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._batches = epoch_batches(self.split.length, self.batch_size, self.seed, epoch)
            self._epoch = epoch
        index = self._batches[position]
        width = int(self.split.length[index].max())
        if self.device.type == "cuda":
            width = min(-(-width // GRAPH_WIDTH) * GRAPH_WIDTH, self.split.source.shape[1])
        mine, share = _share(self.split.target[index, :width], self.rank, self.world)
        source, target = batch_tensors(self.split, index[mine], self.device, width)
        return source, target, share


class Learner:
    """The model built from the seed, its optimizer, and one training step (precision,
    clipping, and gradients averaged over the processes under `torchrun`)."""

    def __init__(
        self, spec: ModelSpec, params: Schedule, seed: int, device: torch.device, world: int
    ) -> None:
        self.autocast = precision_context(params.precision, device)
        torch.manual_seed(seed)
        self.model: LanguageModel = spec.build().to(device)
        self.model.use_cuda_graphs(device.type == "cuda")
        self.step_model = (
            nn.parallel.DistributedDataParallel(self.model) if world > 1 else self.model
        )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=params.learning_rate)
        self.clip, self.device, self.world = params.clip_grad_norm, device, world

    def step(self, source: Tensor, target: Tensor, share: float) -> tuple[Tensor, Tensor]:
        """One optimizer step on a batch (`share`: this process's weight); its loss and logits."""
        with self.autocast:
            logits = self.step_model(source)
            loss = masked_loss(logits, target)
        self.optimizer.zero_grad(set_to_none=True)
        (loss * share if self.world > 1 else loss).backward()
        if self.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        return loss, logits

    def state(self) -> dict[str, Any]:
        """The model, optimizer and RNG state a checkpoint holds."""
        cuda = self.device.type == "cuda"
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device)
            if cuda
            else torch.empty(0, dtype=torch.uint8),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from a checkpoint's `state()`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)


@torch.no_grad()
def validate(
    model: nn.Module,
    split: Split,
    batch_size: int,
    device: torch.device,
    rank: int = 0,
    world: int = 1,
) -> dict[str, float]:
    """Validation loss and accuracy over scored positions, in float32, read back once.

    Under `torchrun` each process takes every world-th batch and the sums are added up."""
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss, correct, count
    for start in range(rank * batch_size, len(split), world * batch_size):
        x, y = batch_tensors(split, slice(start, start + batch_size), device)
        logits = model(x).float()
        count = scored(y).sum()
        totals += torch.stack(
            [masked_loss(logits, y) * count, masked_accuracy(logits, y) * count, count]
        )
    model.train()
    if world > 1:
        dist.all_reduce(totals)
    loss, correct, count = totals.tolist()
    return {"valid/loss": loss / count, "valid/accuracy": correct / count}


@contextlib.contextmanager
def process_group(device: torch.device):
    """(rank, world size, device) of this process; under `torchrun`, joins its process group
    (NCCL on GPUs, one per process by LOCAL_RANK; gloo on the CPU) for the block."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield 0, 1, device
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield dist.get_rank(), world, device
    finally:
        dist.destroy_process_group()


def train(
    spec: ModelSpec,
    params: Schedule,
    train_split: Split,
    valid_split: Split,
    *,
    seed: int,
    output: str | Path,
    checkpoint_dir: str | Path,
    live_dir: str | Path,
    snapshot_dir: str | Path,
    fingerprint: str,
    device: str,
    checkpoint_every: int,
) -> dict[str, Any]:
    """Train a model of `spec` from `seed` on `device` (auto, cpu or cuda) and save the model
    of the lowest validation loss to `output`; returns its meta and training time. Resumable
    state is saved to `checkpoint_dir` every `checkpoint_every` steps.

    The model as it stands before the first step and at every validation is kept in
    `snapshot_dir` (`step-NNNNNNNN.pt`, model files like `output`), so that an analysis can
    follow what the model learned when, without training again.

    The saved meta holds only what the run determines, so equal weights give an identical
    model.pt; the wall-clock `training_seconds` is returned beside it, not stored in it.

    Resumes from the newest checkpoint in `checkpoint_dir` whose fingerprint matches and
    deletes the checkpoints once `output` is written. The train curves are means over the
    batches since the previous row; valid rows come every `eval_every` steps and at the end.
    Training ends after `epochs`, or at `max_steps` (either with a warning if the validation
    loss was still falling), or after `patience` validations without a lower loss; the meta's
    `stopped_by` names which, so that later advice names the limit to change. Either way the
    model kept is the one of the lowest validation loss (the first, on a tie): its step is the
    meta's and the dvclive metrics' `kept_step`, its validation values the meta's.

    Under `torchrun` with N processes each takes every N-th row of each batch and the
    gradients are averaged (DistributedDataParallel), weighted so that the step equals one
    process's step on the whole batch; only rank 0 writes curves, checkpoints and output.
    """
    if len(train_split) == 0 or len(valid_split) == 0:
        raise FixableError("the train or valid split is empty; use a larger corpus")
    threads = torch.get_num_threads()  # restored afterwards: the caller may run on
    try:
        with (
            subnormals_flushed(),
            process_group(resolve_device(device)) as (rank, world, torch_device),
        ):
            return _train(
                spec,
                params,
                train_split,
                valid_split,
                seed=seed,
                rank=rank,
                world=world,
                device=torch_device,
                output=output,
                checkpoint_dir=checkpoint_dir,
                checkpoint_every=checkpoint_every,
                live_dir=live_dir,
                snapshot_dir=snapshot_dir,
                fingerprint=fingerprint,
            )
    finally:
        torch.set_num_threads(threads)


@dataclass
class Progress:
    """Where a run stands, beside the model, optimizer and RNG state: its step, the curve
    rows logged so far, the sums of the next train row and the seconds it has taken."""

    step: int = 0
    rows: list[dict[str, float]] = field(default_factory=list)
    sums: Sums = field(default_factory=Sums)
    seconds: float = 0.0

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds of it (epoch and batch are divmod(step, steps_per_epoch))."""
        sums = [self.sums.loss, self.sums.accuracy, self.sums.batches]
        return {"step": self.step, "rows": self.rows, "sums": sums, "seconds": self.seconds}

    @classmethod
    def of(cls, state: Mapping[str, Any]) -> Progress:
        """The progress a checkpoint's `state()` holds."""
        return cls(state["step"], state["rows"], Sums(*state["sums"]), state["seconds"])


def _resume(checkpoints: Checkpoints, learner: Learner, rank: int, world: int) -> Progress | None:
    """The progress of this run's newest checkpoint, with `learner` restored from it; None
    when the run starts over. Under `torchrun` rank 0 reads first: it alone removes stale
    checkpoints."""
    state = None
    for turn in range(min(world, 2)):
        if (rank > 0) == bool(turn):
            state = checkpoints.load()
        if world > 1:
            dist.barrier()
    if state is None:
        return None
    learner.restore(state)
    return Progress.of(state)


def _snapshots(
    checkpoint_dir: str | Path, spec: ModelSpec, model: nn.Module, resumed: Progress | None
) -> Snapshots:
    """The snapshots of this run: those a resumed run has already taken, else the model before
    its first step."""
    snapshots = Snapshots(Path(checkpoint_dir) / "snapshots", spec)
    snapshots.keep_until(resumed.step if resumed else -1)
    if resumed is None:
        snapshots.save(model, 0)
    return snapshots


def _live(live_dir: str | Path, rank: int) -> contextlib.AbstractContextManager:
    """The dvclive run that rank 0 alone writes the curves to; `with` ends it even when
    training fails."""
    if rank > 0:
        return contextlib.nullcontext()
    return Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False, resume=False)


def _losses(validations: list[dict[str, float]]) -> list[float]:
    return [row["valid/loss"] for row in validations]


def _best(validations: list[dict[str, float]]) -> dict[str, float]:
    """The validation whose model is kept: the first with the lowest loss."""
    return validations[int(np.argmin(_losses(validations)))]


def _out_of_patience(validations: list[dict[str, float]], patience: int, kind: str) -> bool:
    """Whether `patience` validations have passed without a lower loss (never for 0)."""
    stalled = len(validations) - 1 - int(np.argmin(_losses(validations)))
    if not patience or stalled < patience:
        return False
    tqdm.write(
        f"{kind}: validation loss has not improved for {stalled} evaluations (train.patience); "
        f"stopping at step {validations[-1]['step']}, keeping the model of step "
        f"{_best(validations)['step']}"
    )
    return True


def _stopped_by(steps: int, full: int, max_steps: int) -> str:
    """The limit that ended a run of `steps` (`full`: the steps of the whole epochs), so that
    advice names the one to change."""
    if steps < min(full, max_steps or full):
        return "patience"
    return "max_steps" if steps < full else "epochs"


def _falling(validations: list[dict[str, float]]) -> bool:
    losses = _losses(validations)
    return len(losses) > 1 and losses[-1] < losses[-2]


def _advise_more_steps(
    kind: str,
    stopped_by: str,
    validations: list[dict[str, float]],
    steps: int,
    full: int,
    epochs: int,
) -> None:
    """Warn when the step cap or the epochs ended a run whose validation loss was still
    falling, naming the limit to raise."""
    if stopped_by == "patience" or not _falling(validations):
        return
    previous, last = _losses(validations)[-2:]
    limit = {
        "max_steps": f"train.max_steps = {steps} of {full}",
        "epochs": f"the end of train.epochs = {epochs} ({steps} steps)",
    }[stopped_by]
    tqdm.write(
        f"warning: {kind} stopped at {limit} while its validation loss was still "
        f"falling ({previous:.4f} -> {last:.4f}); raise train.{stopped_by}"
        + (" or set it to 0 (no cap)" if stopped_by == "max_steps" else "")
    )


def _say_epochs_ended(kind: str, stopped_by: str, steps: int, epochs: int, max_steps: int) -> None:
    """When the epochs, not the step budget, ended a run, say so and how many epochs the
    budget would allow: a small corpus runs out of epochs long before train.max_steps."""
    if stopped_by != "epochs":
        return
    budget = (
        f"train.max_steps = {max_steps:,} would allow about {max_steps * epochs / steps:.0f}"
        if max_steps
        else "train.max_steps = 0 sets no cap on"
    )
    tqdm.write(
        f"{kind}: training ended on train.epochs = {epochs} at step {steps:,}; {budget} epochs"
    )


def _meta(
    params: Schedule,
    seed: int,
    device: torch.device,
    steps: int,
    stopped_by: str,
    capped_while_improving: bool,
    kept: Mapping[str, float],
) -> dict[str, Any]:
    """What the model file records of its run: only what the run determines. The model is
    the one of the `kept` validation (its step and values)."""
    return {
        "steps": steps,
        "stopped_by": stopped_by,
        "epochs": params.epochs,
        "seed": seed,
        "batch_size": params.batch_size,
        "learning_rate": params.learning_rate,
        "clip_grad_norm": params.clip_grad_norm,
        "device": device.type,
        "kept_step": int(kept["step"]),
        "valid_cross_entropy": kept["valid/loss"],
        "valid_accuracy": kept["valid/accuracy"],
        "capped_while_improving": capped_while_improving,
    }


def _train(
    spec: ModelSpec,
    params: Schedule,
    train_split: Split,
    valid_split: Split,
    *,
    seed: int,
    rank: int,
    world: int,
    device: torch.device,
    output: str | Path,
    checkpoint_dir: str | Path,
    checkpoint_every: int,
    live_dir: str | Path,
    snapshot_dir: str | Path,
    fingerprint: str,
) -> dict[str, Any]:
    threads = thread_count(params.threads)
    torch.set_num_threads(threads)
    learner = Learner(spec, params, seed, device, world)
    batches = Batches(train_split, params.batch_size, seed, device, rank, world)
    full = batches.steps_per_epoch * params.epochs
    total = min(full, params.max_steps) if params.max_steps else full
    checkpoints = Checkpoints(checkpoint_dir, fingerprint, threads)
    resumed = _resume(checkpoints, learner, rank, world)
    if resumed is not None:
        tqdm.write(f"resuming {spec.kind} from step {resumed.step} of {total}")
    snapshots = _snapshots(checkpoint_dir, spec, learner.model, resumed) if rank == 0 else None
    so_far = resumed or Progress()
    step, running = so_far.step, RunningSums(so_far.sums, device)
    validations = [row for row in so_far.rows if "valid/loss" in row]
    started = time.perf_counter() - so_far.seconds
    bar = progress(
        total=total, initial=step, desc=f"train {spec.kind}", unit="step", disable=rank > 0
    )
    with _live(live_dir, rank) as live, bar:
        curves = Curves(live, so_far.rows) if rank == 0 else None
        while step < total:
            source, target, share = batches.of_step(step)
            loss, logits = learner.step(source, target, share)
            step += 1
            running.add(step, loss, logits, target)
            bar.update(1)

            logged = step % params.log_every == 0 or step == total
            evaluate = step % params.eval_every == 0 or step == total
            checkpoint = step % checkpoint_every == 0 and step < total
            if not (logged or evaluate or checkpoint):
                continue
            sums = running.read(world, spec.kind, step)
            row = sums.row() if logged else {}  # one dvclive row per logged step
            if logged:
                bar.set_postfix(loss=f"{sums.loss / sums.batches:.3f}")
                sums = Sums()
            running = RunningSums(sums, device)
            stop = False
            if evaluate:
                valid = validate(learner.model, valid_split, params.batch_size, device, rank, world)
                validations.append({"step": step, **valid})
                stop = step < total and _out_of_patience(validations, params.patience, spec.kind)
                if stop and sums.batches:  # the train row of the batches since the last one
                    row = sums.row()
                row |= valid
            if rank == 0:
                if row:
                    curves.log(step, **row)
                if evaluate:
                    snapshots.save(learner.model, step)
            if stop:
                break
            if checkpoint and rank == 0:
                now = Progress(step, curves.rows, sums, time.perf_counter() - started)
                checkpoints.save({**learner.state(), **now.state()})

        seconds = time.perf_counter() - started
        stopped_by = _stopped_by(step, full, params.max_steps)
        capped_while_improving = stopped_by == "max_steps" and _falling(validations)
        kept = _best(validations)
        meta = _meta(params, seed, device, step, stopped_by, capped_while_improving, kept)
        if rank == 0:
            _say_epochs_ended(spec.kind, stopped_by, step, params.epochs, params.max_steps)
            _advise_more_steps(spec.kind, stopped_by, validations, step, full, params.epochs)
            if kept["step"] < step:  # a later validation was worse: the best model is kept
                learner.model.load_state_dict(snapshots.weights(kept["step"]))
            save_model(output, learner.model, spec, meta)
            snapshots.publish(snapshot_dir)
            checkpoints.clear()
            # The train stage's metrics: what the run took and the step of the model kept,
            # beside its last curve values.
            live.summary |= {
                "training_seconds": seconds,
                "capped_while_improving": int(capped_while_improving),
                "kept_step": meta["kept_step"],
            }
    return {**meta, "training_seconds": seconds}
