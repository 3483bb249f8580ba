"""The training loop: determinism, bit-identical resume after a kill, divergence, stale state."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import rnnmem.train as training
from rnnmem.dataset import build, load_split, load_vocab, write
from rnnmem.models import ModelSpec, load_model
from rnnmem.params import DatasetParams, ModelParams, TrainParams
from rnnmem.stage import UserError
from rnnmem.train import Checkpoints, epoch_batches, fingerprint, train

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the of and a to in is was that for on as with by he it at from his an are".split()
MODEL = ModelParams(units=16, layers=1)
PARAMS = TrainParams(
    batch_size=16, epochs=2, learning_rate=0.01, seed=0, clip_grad_norm=1.0, device="cpu",
    checkpoint_every=7, log_every=3,
)  # fmt: skip


def make_dataset(directory: Path, n_words: int = 3000) -> Path:
    """A small Zipf-like corpus built and stored exactly as the build stage does."""
    rng = np.random.default_rng(1)
    weights = 1 / np.arange(1, len(WORDS) + 1)
    text = " ".join(rng.choice(WORDS, size=n_words, p=weights / weights.sum()))
    built = build(text.encode(), DatasetParams(vocab_size=14, max_length=40))
    directory.mkdir(parents=True)
    write(built, directory)
    return directory


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "autocomplete")


def run(dataset: Path, root: Path, params: TrainParams = PARAMS, kind: str = "gru") -> dict:
    """Train in `root` (outputs under it) and return its meta."""
    vocab = load_vocab(dataset)
    spec = ModelSpec(kind, len(vocab.chars), len(vocab.words), **dataclasses.asdict(MODEL))
    return train(
        spec,
        params,
        load_split(dataset, "train"),
        load_split(dataset, "valid"),
        output=root / "model.pt",
        checkpoint_dir=root / "checkpoints",
        live_dir=root / "live",
        fingerprint=fingerprint(kind, MODEL, params, dataset),
    )


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path)[0].state_dict()


def assert_same_run(a: Path, b: Path, model: str = "model.pt", live: str = "live") -> None:
    """Same weights bit for bit, and the same dvclive files byte for byte."""
    left, right = weights(a / model), weights(b / model)
    assert left.keys() == right.keys()
    for name in left:
        assert torch.equal(left[name], right[name]), name
    files = sorted(p.relative_to(a / live) for p in (a / live).rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b / live) for p in (b / live).rglob("*") if p.is_file())
    assert Path("plots/metrics/train/loss.tsv") in files
    assert Path("plots/metrics/valid/accuracy.tsv") in files
    for name in files:
        assert (a / live / name).read_text() == (b / live / name).read_text(), name


def test_epoch_batches_cover_every_row_once_and_depend_only_on_seed_and_epoch():
    lengths = np.random.default_rng(0).integers(1, 50, size=1000)
    batches = epoch_batches(lengths, 16, seed=3, epoch=1)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1000))
    assert len(batches) == 63 and max(len(b) for b in batches) == 16
    again = epoch_batches(lengths, 16, seed=3, epoch=1)
    assert all(np.array_equal(x, y) for x, y in zip(batches, again, strict=True))
    other = epoch_batches(lengths, 16, seed=3, epoch=2)
    assert not all(np.array_equal(x, y) for x, y in zip(batches, other, strict=True))
    # Bucketing: batches are far less ragged than random batches would be.
    spread = np.mean([np.ptp(lengths[b]) for b in batches if len(b) == 16])
    assert spread < 10


def test_same_seed_gives_identical_weights_and_curves(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run(dataset, tmp_path / "a")
    second = run(dataset, tmp_path / "b")
    assert_same_run(tmp_path / "a", tmp_path / "b")
    assert first["valid_cross_entropy"] == second["valid_cross_entropy"]
    assert first["steps"] == 2 * len(epoch_batches(load_split(dataset, "train").length, 16, 0, 0))
    assert not (tmp_path / "a" / "checkpoints").exists()  # removed after success
    # The curves are real: the loss falls, and valid rows sit at checkpoints and the end.
    loss = np.loadtxt(tmp_path / "a/live/plots/metrics/train/loss.tsv", skiprows=1)
    assert loss[-1, 1] < loss[0, 1]
    valid = np.loadtxt(tmp_path / "a/live/plots/metrics/valid/loss.tsv", skiprows=1)
    steps = first["steps"]
    assert valid[:, 0].tolist() == [*range(7, steps, 7), steps]


class Killed(Exception):
    """Stands in for the process dying right after a checkpoint is written."""


def interrupt_after_checkpoints(monkeypatch, count: int) -> None:
    save = Checkpoints.save
    saved = []

    def save_then_die(self, state):
        save(self, state)
        saved.append(state["step"])
        if len(saved) == count:
            raise Killed

    monkeypatch.setattr(Checkpoints, "save", save_then_die)


def test_resume_after_interruption_matches_an_uninterrupted_run(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(dataset, tmp_path / "whole")
    with monkeypatch.context() as patch:
        interrupt_after_checkpoints(patch, count=2)  # step 14: mid-epoch, mid-log-window
        with pytest.raises(Killed):
            run(dataset, tmp_path / "cut")
    assert [p.name for p in (tmp_path / "cut/checkpoints").iterdir()] == ["step-00000014.pt"]
    assert not (tmp_path / "cut/model.pt").exists()
    run(dataset, tmp_path / "cut")
    assert_same_run(tmp_path / "whole", tmp_path / "cut")


def test_a_checkpoint_of_other_params_is_not_resumed(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    other = dataclasses.replace(PARAMS, learning_rate=0.05)
    with monkeypatch.context() as patch:
        interrupt_after_checkpoints(patch, count=1)
        with pytest.raises(Killed):
            run(dataset, tmp_path / "stale", params=other)
    (tmp_path / "stale/checkpoints/step-00000099.pt").write_bytes(b"not a checkpoint")
    run(dataset, tmp_path / "stale")
    assert "removing stale checkpoint" in capsys.readouterr().out
    run(dataset, tmp_path / "clean")
    assert_same_run(tmp_path / "clean", tmp_path / "stale")


def test_nan_loss_stops_training_naming_the_step(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = []
    real = training.masked_loss

    def poisoned(logits, target):
        calls.append(1)
        loss = real(logits, target)
        return loss * float("nan") if len(calls) == 5 else loss

    monkeypatch.setattr(training, "masked_loss", poisoned)
    with pytest.raises(UserError, match=r"loss is nan at step 5; lower train.learning_rate"):
        run(dataset, tmp_path / "nan")
    assert not (tmp_path / "nan/model.pt").exists()


def write_project(root: Path, dataset: Path, params: TrainParams) -> None:
    """A project directory the train stage can run in: params.yaml and the built dataset."""
    (root / "data").mkdir(parents=True)
    os.symlink(dataset, root / "data/autocomplete")
    model = {"units": MODEL.units, "layers": MODEL.layers}
    train = dataclasses.asdict(params)
    config = {"models": {"gru": model}, "train": train, "seeds": [train.pop("seed")]}
    (root / "params.yaml").write_text(yaml.safe_dump(config))


def start_stage(root: Path) -> subprocess.Popen:
    """Run the train stage in `root`, its output going to root/log.txt (read by `log`)."""
    # One thread each: two runs share the cores, and both must sum in the same order.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("RNNMEM_DEBUG", None)
    with (root / "log.txt").open("w") as log:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "stages/train.py"), "gru", "0"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def log(root: Path) -> str:
    return (root / "log.txt").read_text()


def test_stage_killed_with_sigkill_resumes_to_the_same_result(tmp_path):
    big = make_dataset(tmp_path / "big", n_words=8000)  # 40 steps per epoch, ~1 s in all
    params = dataclasses.replace(PARAMS, epochs=2, checkpoint_every=10, log_every=4)
    for name in ("whole", "cut"):
        write_project(tmp_path / name, big, params)
    reference = start_stage(tmp_path / "whole")
    started = [reference]
    try:
        cut = start_stage(tmp_path / "cut")
        started.append(cut)
        checkpoints = tmp_path / "cut/data/checkpoints/gru/seed0"
        deadline = time.monotonic() + 60
        while not list(checkpoints.glob("step-*.pt")) and cut.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.005)
        cut.send_signal(signal.SIGKILL)
        cut.wait()
        assert cut.returncode == -signal.SIGKILL, "the stage ended before it could be killed"
        assert not (tmp_path / "cut/data/models/gru/seed0/model.pt").exists()

        resumed = start_stage(tmp_path / "cut")
        started.append(resumed)
        assert resumed.wait(timeout=120) == 0, log(tmp_path / "cut")
        assert "resuming gru from step" in log(tmp_path / "cut")
        assert reference.wait(timeout=120) == 0, log(tmp_path / "whole")
        assert_same_run(
            tmp_path / "whole",
            tmp_path / "cut",
            "data/models/gru/seed0/model.pt",
            "reports/train/gru/seed0",
        )
        assert not checkpoints.exists()
    finally:
        for process in started:  # never leave a stage running if an assertion failed
            if process.poll() is None:
                process.kill()
                process.wait()
