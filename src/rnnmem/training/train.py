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
from rnnmem.models.checkpoint import ModelSpec, save_model
from rnnmem.models.language_model import LanguageModel
from rnnmem.models.objective import masked_accuracy, masked_loss, scored

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
                state = {}
            if state.get("fingerprint") == self.fingerprint:
                return state
            threads = state.get("threads", self.threads)
            reason = (
                f"written with {threads} torch threads, this run uses {self.threads} "
                "(weights depend on it; set train.threads to resume)"
                if threads != self.threads
                else "other params or data"
            )
            tqdm.write(f"removing stale checkpoint {path}, starting over ({reason})")
            path.unlink()
        return None

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

    def save(self, model: nn.Module, step: int) -> None:
        save_model(self.directory / f"step-{step:08d}.pt", model, self.spec, {"step": step})

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


def _summary(sums: list[float]) -> dict[str, float]:
    loss, accuracy, batches = sums
    return {"train/loss": loss / batches, "train/accuracy": accuracy / batches}


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
    """Train a model of `spec` from `seed` on `device` (auto, cpu or cuda) and save it to
    `output`; returns its meta and training time. Resumable state is saved to `checkpoint_dir`
    every `checkpoint_every` steps.

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
    `stopped_by` names which, so that later advice names the limit to change.

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
    autocast = precision_context(params.precision, device)
    torch.manual_seed(seed)
    model: LanguageModel = spec.build().to(device)
    graphs = device.type == "cuda"
    model.use_cuda_graphs(graphs)
    step_model = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
    steps_per_epoch = math.ceil(len(train_split) / params.batch_size)
    full = steps_per_epoch * params.epochs
    total = min(full, params.max_steps) if params.max_steps else full

    checkpoints = Checkpoints(checkpoint_dir, fingerprint, threads)
    state = None
    for turn in range(min(world, 2)):  # rank 0 first: it alone removes stale checkpoints
        if (rank > 0) == bool(turn):
            state = checkpoints.load()
        if world > 1:
            dist.barrier()
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
    snapshots = Snapshots(Path(checkpoint_dir) / "snapshots", spec)
    if rank == 0:
        snapshots.keep_until(step if state is not None else -1)
        if state is None:
            snapshots.save(model, 0)
    valid_losses = [row["valid/loss"] for row in rows if "valid/loss" in row]
    # On the device, read back only at a logged row or a checkpoint: loss, accuracy, batches,
    # and the first step whose loss was not finite (0: none) with that loss.
    running = torch.tensor([*sums, 0, 0], dtype=torch.float64, device=device)

    valid: dict[str, float] = {}
    started = time.perf_counter() - seconds
    batches, batches_epoch = [], -1
    bar = tqdm(total=total, initial=step, desc=f"train {spec.kind}", unit="step", disable=rank > 0)
    # Rank 0 alone writes the curves; `with` ends the dvclive run even when training fails.
    live = (
        Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False, resume=False)
        if rank == 0
        else contextlib.nullcontext()
    )
    with live, bar:
        curves = Curves(live, rows) if rank == 0 else None
        while step < total:
            epoch, position = divmod(step, steps_per_epoch)
            if epoch != batches_epoch:
                batches = epoch_batches(train_split.length, params.batch_size, seed, epoch)
                batches_epoch = epoch
            index = batches[position]
            width = int(train_split.length[index].max())  # cut the batch to its longest row
            if graphs:
                width = min(-(-width // GRAPH_WIDTH) * GRAPH_WIDTH, train_split.source.shape[1])
            mine, share = _share(train_split.target[index, :width], rank, world)
            x, y = batch_tensors(train_split, index[mine], device, width)

            with autocast:
                logits = step_model(x)
                loss = masked_loss(logits, y)
            step += 1
            optimizer.zero_grad(set_to_none=True)
            (loss * share if world > 1 else loss).backward()
            if params.clip_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), params.clip_grad_norm)
            optimizer.step()
            with torch.no_grad():
                loss = loss.double()
                first_bad = (running[3] == 0) & ~torch.isfinite(loss)
                running += torch.stack(
                    [
                        loss,
                        masked_accuracy(logits, y).double(),
                        torch.ones_like(loss),
                        first_bad * step,
                        torch.where(first_bad, loss, 0),
                    ]
                )
            bar.update(1)

            logged = step % params.log_every == 0 or step == total
            evaluate = step % params.eval_every == 0 or step == total
            checkpoint = step % checkpoint_every == 0 and step < total
            if not (logged or evaluate or checkpoint):
                continue
            if world > 1:  # curves: the mean over the processes
                dist.all_reduce(running[:3])
                running[:3] /= world
            *sums, bad_step, bad_loss = running.tolist()
            if bad_step or not math.isfinite(sums[0]):  # (another process's loss)
                where = f"at step {int(bad_step)}" if bad_step else f"by step {step}"
                raise FixableError(
                    f"training {spec.kind} diverged: loss is {bad_loss if bad_step else sums[0]} "
                    f"{where}; lower train.learning_rate or set train.clip_grad_norm in params.yaml"
                )
            sums[2] = round(sums[2])
            row = _summary(sums) if logged else {}  # one dvclive row per logged step
            if logged:
                bar.set_postfix(loss=f"{sums[0] / sums[2]:.3f}")
                sums = [0.0, 0.0, 0]
            running = torch.tensor([*sums, 0, 0], dtype=torch.float64, device=device)
            stop = False
            if evaluate:
                valid = validate(model, valid_split, params.batch_size, device, rank, world)
                valid_losses.append(valid["valid/loss"])
                stalled = len(valid_losses) - 1 - int(np.argmin(valid_losses))
                stop = bool(params.patience) and stalled >= params.patience and step < total
                if stop:
                    tqdm.write(
                        f"{spec.kind}: validation loss has not improved for {stalled} "
                        f"evaluations (train.patience); stopping at step {step}"
                    )
                    if sums[2]:  # the train row of the last batches
                        row = _summary(sums)
                row |= valid
            if row and rank == 0:
                curves.log(step, **row)
            if evaluate and rank == 0:
                snapshots.save(model, step)
            if stop:
                total = step
                break
            if checkpoint and rank == 0:
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
        falling = len(valid_losses) > 1 and valid_losses[-1] < valid_losses[-2]
        # The limit that ended training, so that advice names the one to change.
        if total < min(full, params.max_steps or full):
            stopped_by = "patience"
        elif total < full:
            stopped_by = "max_steps"
        else:
            stopped_by = "epochs"
        capped_while_improving = stopped_by == "max_steps" and falling
        if stopped_by != "patience" and falling and rank == 0:
            limit = {
                "max_steps": f"train.max_steps = {total} of {full}",
                "epochs": f"the end of train.epochs = {params.epochs} ({total} steps)",
            }[stopped_by]
            tqdm.write(
                f"warning: {spec.kind} stopped at {limit} while its validation loss was still "
                f"falling ({valid_losses[-2]:.4f} -> {valid_losses[-1]:.4f}); raise "
                f"train.{stopped_by}"
                + (" or set it to 0 (no cap)" if capped_while_improving else "")
            )
        meta = {
            "steps": total,
            "stopped_by": stopped_by,
            "epochs": params.epochs,
            "seed": seed,
            "batch_size": params.batch_size,
            "learning_rate": params.learning_rate,
            "clip_grad_norm": params.clip_grad_norm,
            "device": device.type,
            "valid_cross_entropy": valid["valid/loss"],
            "valid_accuracy": valid["valid/accuracy"],
            "capped_while_improving": capped_while_improving,
        }
        if rank == 0:
            save_model(output, model, spec, meta)
            snapshots.publish(snapshot_dir)
            checkpoints.clear()
            # The train stage's metrics: what the run took, beside its last curve values.
            live.summary |= {
                "training_seconds": seconds,
                "capped_while_improving": int(capped_while_improving),
            }
    return {**meta, "training_seconds": seconds}
