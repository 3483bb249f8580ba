"""The training loop: determinism, bit-identical resume after a kill, divergence, stale state."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from pipeline_repo import stage_argv
from shipped import SHIPPED, dataset_settings, nesting, run_file, with_changes, write_yaml

import rnnmem.training.train as training
from rnnmem.data.dataset import build, load_split, load_vocab, write
from rnnmem.errors import FixableError
from rnnmem.models.checkpoint import ModelSpec, load_model
from rnnmem.params import TrainParams
from rnnmem.training.train import Checkpoints, epoch_batches, fingerprint, thread_count, train

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the of and a to in is was that for on as with by he it at from his an are".split()
MODEL = dataclasses.replace(SHIPPED.models["gru"], units=16, layers=1)
PARAMS = dataclasses.replace(
    SHIPPED.train, batch_size=16, epochs=2, learning_rate=0.01, clip_grad_norm=1.0,
    log_every=3, eval_every=7,
)  # fmt: skip
CHECKPOINT_EVERY = 7
SEED = 0


def make_dataset(directory: Path, n_words: int = 3000) -> Path:
    """A small Zipf-like corpus built and stored exactly as the build stage does."""
    rng = np.random.default_rng(1)
    weights = 1 / np.arange(1, len(WORDS) + 1)
    text = " ".join(rng.choice(WORDS, size=n_words, p=weights / weights.sum()))
    built = build(text.encode(), **dataset_settings(vocab_size=14, max_length=40))
    directory.mkdir(parents=True)
    write(built, directory)
    return directory


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "autocomplete")


def run(
    dataset: Path,
    root: Path,
    params: TrainParams = PARAMS,
    kind: str = "gru",
    checkpoint_every: int = CHECKPOINT_EVERY,
    device: str = "cpu",
) -> dict:
    """Train in `root` (outputs under it) and return its meta."""
    vocab = load_vocab(dataset)
    shape = (MODEL.units, MODEL.layers, nesting(kind), MODEL.init)
    spec = ModelSpec(kind, len(vocab.chars), len(vocab.words), *shape, vocab.digest)
    return train(
        spec,
        params,
        load_split(dataset, "train"),
        load_split(dataset, "valid"),
        seed=SEED,
        output=root / "model.pt",
        checkpoint_dir=root / "checkpoints",
        live_dir=root / "live",
        snapshot_dir=root / "snapshots",
        fingerprint=print_of(params, dataset, spec),
        device=device,
        checkpoint_every=checkpoint_every,
    )


def print_of(params: TrainParams, dataset: Path, spec: ModelSpec | None = None) -> str:
    """The fingerprint the train stage gives a run of `params` (and `spec`) on `dataset`."""
    settings = {"spec": spec and dataclasses.asdict(spec), "schedule": dataclasses.asdict(params)}
    return fingerprint({**settings, "seed": SEED}, params.threads, dataset)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path)[0].state_dict()


def assert_same_run(
    a: Path, b: Path, model: str = "model.pt", live: str = "live", snapshots: str = "snapshots"
) -> None:
    """Same weights (model and snapshots) bit for bit, and the same dvclive files byte for
    byte but for the wall-clock training_seconds in the metrics."""
    names = sorted(p.name for p in (a / snapshots).iterdir())
    assert names == sorted(p.name for p in (b / snapshots).iterdir())
    for file in [model, *(f"{snapshots}/{name}" for name in names)]:
        left, right = weights(a / file), weights(b / file)
        assert left.keys() == right.keys()
        for name in left:
            assert torch.equal(left[name], right[name]), (file, name)
    files = sorted(p.relative_to(a / live) for p in (a / live).rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b / live) for p in (b / live).rglob("*") if p.is_file())
    assert Path("plots/metrics/train/loss.tsv") in files
    assert Path("plots/metrics/valid/accuracy.tsv") in files
    for name in files:
        left_text, right_text = ((root / live / name).read_text() for root in (a, b))
        if name == Path("metrics.json"):
            left_text, right_text = (
                {**json.loads(t), "training_seconds": None} for t in (left_text, right_text)
            )
        assert left_text == right_text, name


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
    # A snapshot before the first step and at every validation; the last is the model.
    snapshots = sorted((tmp_path / "a/snapshots").iterdir())
    validations = [0, *valid[:, 0].astype(int)]
    assert [p.name for p in snapshots] == [f"step-{s:08d}.pt" for s in validations]
    assert [load_model(p)[2]["step"] for p in snapshots] == validations
    final = weights(tmp_path / "a/model.pt")
    assert all(torch.equal(v, weights(snapshots[-1])[k]) for k, v in final.items())
    assert not torch.equal(weights(snapshots[0])["dense.weight"], final["dense.weight"])


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
    assert sorted(p.name for p in (tmp_path / "cut/checkpoints").iterdir()) == [
        "snapshots",
        "step-00000014.pt",
    ]
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
    out = capsys.readouterr().out
    assert "step-00000099.pt, starting over (unreadable: damaged or cut short)" in out
    assert "starting over (other params or data)" in out  # the checkpoint of learning rate 0.05
    run(dataset, tmp_path / "clean")
    assert_same_run(tmp_path / "clean", tmp_path / "stale")


def test_subnormals_are_flushed_while_training_and_the_default_comes_back(
    dataset, tmp_path, monkeypatch
):
    """Training runs with subnormal floats flushed to zero (they made the Nested LSTM's CPU
    steps 3 x slower) and leaves the process as it found it (Hypothesis, for one, checks)."""
    seen: list[float] = []
    loss = training.masked_loss

    def watched(*args, **kwargs):
        seen.append(float(torch.tensor([1e-40]) * 1.0))
        return loss(*args, **kwargs)

    monkeypatch.setattr(training, "masked_loss", watched)
    run(dataset, tmp_path)
    assert seen and set(seen) == {0.0}
    assert float(torch.tensor([1e-40]) * 1.0) > 0.0


def test_automatic_thread_count_is_half_the_cores_and_an_explicit_one_wins(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert thread_count(0) == 4
    assert thread_count(3) == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert thread_count(0) == 1


def test_the_limit_that_ended_training_is_named(dataset, tmp_path, monkeypatch, capsys):
    """Advice to raise train.max_steps is wrong when train.epochs or train.patience ended
    the run: the meta records which limit did, and the warning names it."""
    monkeypatch.chdir(tmp_path)
    ended = run(dataset, tmp_path / "epochs")  # 2 epochs: fewer steps than max_steps
    out = capsys.readouterr().out
    assert ended["stopped_by"] == "epochs" and not ended["capped_while_improving"]
    assert f"stopped at the end of train.epochs = 2 ({ended['steps']} steps) while" in out
    assert out.rstrip().endswith("raise train.epochs")
    per_epoch, budget = ended["steps"] / 2, PARAMS.max_steps
    assert (  # the budget the epochs left unused, in epochs
        f"training ended on train.epochs = 2 at step {ended['steps']}; train.max_steps = "
        f"{budget} would allow about {budget / per_epoch:.0f} epochs" in out
    )
    capped = run(dataset, tmp_path / "capped", dataclasses.replace(PARAMS, max_steps=21))
    out = capsys.readouterr().out
    assert capped["stopped_by"] == "max_steps" and capped["capped_while_improving"]
    assert "stopped at train.max_steps = 21 of" in out
    assert "raise train.max_steps or set it to 0 (no cap)" in out
    assert "training ended on train.epochs" not in out
    losses = iter(range(1, 100))  # every validation worse than the one before
    monkeypatch.setattr(
        training, "validate", lambda *a, **k: {"valid/loss": next(losses), "valid/accuracy": 0}
    )
    stalled = run(dataset, tmp_path / "stalled", dataclasses.replace(PARAMS, patience=1))
    assert stalled["stopped_by"] == "patience" and stalled["steps"] == 14
    assert "warning" not in capsys.readouterr().out  # not still falling: no advice to raise


@pytest.mark.slow  # runs a stage end to end
def test_evaluate_warns_below_either_baseline_naming_the_limit(dataset, tmp_path, monkeypatch):
    """The evaluate stage on a model that 2 epochs ended (not max_steps): below the dictionary
    it is undertrained, below the n-gram nothing shows longer context; both name train.epochs."""
    command = stage_argv("evaluate@gru-0")  # read from the project, before leaving it
    monkeypatch.chdir(tmp_path)
    meta = run(dataset, tmp_path / "run")
    write_yaml(tmp_path / "params.yaml", with_changes({}))
    run_file(tmp_path, device="cpu")
    shutil.copytree(dataset, tmp_path / "data" / "autocomplete")
    (tmp_path / "data" / "models" / "gru" / "seed0").mkdir(parents=True)
    (tmp_path / "run" / "model.pt").rename(
        tmp_path / "data" / "models" / "gru" / "seed0" / "model.pt"
    )
    baseline = {"dictionary_top1_k0": 1.0, "ngram_top1_k0": 1.0, "ngram_top1_k1": 1.0}
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "baseline.json").write_text(json.dumps(baseline))
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    limit = f"training ended after train.epochs = 2 ({meta['steps']} steps): raise it"
    assert [line for line in done.stderr.splitlines() if line.startswith("warning")] == [
        "warning: gru/seed0 is below the dictionary baseline (no context at all) at k = 0: "
        f"it is undertrained; {limit}",
        "warning: gru/seed0 is below the n-gram baseline (the previous two words) at k = 0, 1: "
        f"nothing shows that it uses longer context; {limit}",
    ]


@pytest.mark.slow  # runs a stage end to end
def test_a_seed_written_as_a_float_stops_the_train_stage_in_one_line(tmp_path):
    """seeds: [1.0] made DVC create train@gru-1.0, whose "1.0" argparse refused in a
    multi-line usage text; the seeds are now checked first."""
    write_yaml(tmp_path / "params.yaml", with_changes({"seeds": [1.0]}))
    python, script, kind, _, *paths = stage_argv("train@gru-0")
    done = subprocess.run(
        [python, script, kind, "1.0", *paths],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stderr == (
        "error: params.yaml: seeds = [1.0]; allowed: a list of 1 to 1,000 distinct integers "
        "from 0 to 4,294,967,295, written without a decimal point or exponent\n"
    )


def test_more_threads_than_cores_are_refused_not_lowered(dataset, monkeypatch):
    """1024 threads on 2 cores made each step about 60 times slower; lowering the count silently
    would change the run's identity (its weights depend on it), so it is refused."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert thread_count(2) == 2
    with pytest.raises(FixableError) as caught:
        thread_count(1024)
    assert str(caught.value) == (
        "train.threads = 1024 but this process may use 2 cores; set train.threads to at "
        "most 2 in params.yaml (0: automatic, half the cores)"
    )
    with pytest.raises(FixableError, match="train.threads = 1024"):  # the stage's first step
        print_of(dataclasses.replace(PARAMS, threads=1024), dataset)


def test_fingerprint_records_the_thread_count_not_how_it_was_asked_for(dataset, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(4)))
    automatic = print_of(dataclasses.replace(PARAMS, threads=0), dataset)
    assert automatic != print_of(dataclasses.replace(PARAMS, threads=1), dataset)
    two = dataclasses.replace(PARAMS, threads=2)
    # threads: 0 resolves to 2 here, yet the params differ: a changed params.yaml restarts.
    assert automatic != print_of(two, dataset)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(2)))
    assert automatic != print_of(dataclasses.replace(PARAMS, threads=0), dataset)


def test_a_checkpoint_of_another_thread_count_restarts_saying_so(
    dataset, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as patch:
        interrupt_after_checkpoints(patch, count=1)
        with pytest.raises(Killed):
            run(dataset, tmp_path / "cut", params=dataclasses.replace(PARAMS, threads=2))
    assert torch.load(next((tmp_path / "cut/checkpoints").glob("step-*.pt")))["threads"] == 2
    capsys.readouterr()
    previous = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        run(dataset, tmp_path / "cut", params=dataclasses.replace(PARAMS, threads=1))
        assert torch.get_num_threads() == 3  # the caller's setting is given back
    finally:
        torch.set_num_threads(previous)
    out = capsys.readouterr().out
    assert "written with 2 torch threads, this run uses 1" in out
    assert "resuming" not in out


def test_values_are_read_back_from_the_device_only_at_logged_rows(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reads: list[str] = []

    def spy(name: str, real):
        def read(self, *args, **kwargs):
            # Adam's step counters live on the host even beside a GPU: no device read.
            if "torch/optim" not in sys._getframe(1).f_code.co_filename:
                reads.append(name)
            return real(self, *args, **kwargs)

        return read

    for name in ("item", "tolist", "__bool__", "__int__", "__float__", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, spy(name, getattr(torch.Tensor, name)))
    params = dataclasses.replace(PARAMS, epochs=1, log_every=5, eval_every=99)
    with monkeypatch.context() as patch:  # only the loop: not saving the model
        patch.setattr(training, "save_model", lambda *args: None)
        steps = run(dataset, tmp_path / "r", params=params, checkpoint_every=99)["steps"]
    assert steps > 10
    # one read of the running sums per logged row, one of the validation sums at the end
    assert reads == ["tolist"] * (steps // 5 + (steps % 5 > 0) + 1)


def test_step_cap_while_validation_loss_falls_is_warned(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    losses = iter([3.0, 2.0])
    monkeypatch.setattr(
        training, "validate", lambda *args: {"valid/loss": next(losses), "valid/accuracy": 0.5}
    )
    capped = dataclasses.replace(PARAMS, max_steps=10, eval_every=5)
    assert run(dataset, tmp_path / "capped", params=capped)["steps"] == 10
    out = capsys.readouterr().out
    assert "stopped at train.max_steps = 10 of" in out and "(3.0000 -> 2.0000)" in out
    valid = np.loadtxt(tmp_path / "capped/live/plots/metrics/valid/loss.tsv", skiprows=1)
    assert valid[:, 0].tolist() == [5, 10]
    # The run's dvclive metrics say so, with its last step and what it took.
    summary = json.loads((tmp_path / "capped/live/metrics.json").read_text())
    assert summary["capped_while_improving"] == 1 and summary["step"] == 10
    assert summary["valid"]["loss"] == 2.0 and summary["training_seconds"] > 0


def test_patience_stops_after_evaluations_without_improvement(
    dataset, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    losses = iter([3.0, 2.0, 2.5, 2.1, 1.0])
    monkeypatch.setattr(
        training, "validate", lambda *args: {"valid/loss": next(losses), "valid/accuracy": 0.5}
    )
    patient = dataclasses.replace(PARAMS, patience=2, eval_every=3, log_every=2)
    meta = run(dataset, tmp_path / "patient", params=patient)
    assert meta["steps"] == 12  # 2.5 and 2.1 > 2.0: the model of step 6 is kept
    assert meta["kept_step"] == 6 and meta["valid_cross_entropy"] == 2.0
    out = capsys.readouterr().out
    assert "not improved for 2 evaluations" in out and "max_steps" not in out
    assert "stopping at step 12, keeping the model of step 6" in out
    train_loss = np.loadtxt(tmp_path / "patient/live/plots/metrics/train/loss.tsv", skiprows=1)
    assert train_loss[-1, 0] == 12
    summary = json.loads((tmp_path / "patient/live/metrics.json").read_text())
    assert summary["capped_while_improving"] == 0 and summary["step"] == 12
    assert summary["kept_step"] == 6


@pytest.mark.parametrize("patience", [2, 0])
def test_the_model_of_the_lowest_validation_loss_is_kept(dataset, tmp_path, monkeypatch, patience):
    """A validation loss that rises after a better step: model.pt holds that step's weights,
    whether patience stopped the run (2) or its steps ran out (0); every snapshot stays."""
    monkeypatch.chdir(tmp_path)
    real = training.validate
    losses = iter([3.0, 2.0, 2.5, 2.1, 2.2, 2.3])

    def rising(*args):  # the real accuracy, a loss lowest at the second validation
        return real(*args) | {"valid/loss": next(losses)}

    monkeypatch.setattr(training, "validate", rising)
    schedule = dataclasses.replace(PARAMS, patience=patience, eval_every=3, max_steps=18)
    meta = run(dataset, tmp_path / "run", params=schedule)
    assert meta["steps"] == (12 if patience else 18)
    assert meta["stopped_by"] == ("patience" if patience else "max_steps")
    assert meta["kept_step"] == 6 and meta["valid_cross_entropy"] == 2.0
    valid = np.loadtxt(tmp_path / "run/live/plots/metrics/valid/accuracy.tsv", skiprows=1)
    assert meta["valid_accuracy"] == valid[valid[:, 0] == 6, 1][0]
    snapshots = tmp_path / "run/snapshots"
    steps = [0, *range(3, meta["steps"] + 1, 3)]
    assert sorted(p.name for p in snapshots.iterdir()) == [f"step-{s:08d}.pt" for s in steps]
    kept = weights(tmp_path / "run/model.pt")
    for step, same in ((6, True), (meta["steps"], False)):
        snapshot = weights(snapshots / f"step-{step:08d}.pt")
        assert all(torch.equal(kept[k], snapshot[k]) for k in kept) == same, step
    assert load_model(tmp_path / "run/model.pt")[2]["kept_step"] == 6
    summary = json.loads((tmp_path / "run/live/metrics.json").read_text())
    assert summary["kept_step"] == 6 and summary["step"] == meta["steps"]


def test_nan_loss_stops_training_naming_the_step(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = []
    real = training.masked_loss

    def poisoned(logits, target):
        calls.append(1)
        loss = real(logits, target)
        return loss * float("nan") if len(calls) == 5 else loss

    monkeypatch.setattr(training, "masked_loss", poisoned)
    with pytest.raises(FixableError, match=r"loss is nan at step 5; lower train.learning_rate"):
        run(dataset, tmp_path / "nan")
    assert not (tmp_path / "nan/model.pt").exists()


def write_project(root: Path, dataset: Path, params: TrainParams) -> None:
    """A project directory the train stage can run in: params.yaml and the built dataset."""
    (root / "data").mkdir(parents=True)
    os.symlink(dataset, root / "data/autocomplete")
    model = {"units": MODEL.units, "layers": MODEL.layers}
    changes = {"models": {"gru": model}, "train": dataclasses.asdict(params), "seeds": [SEED]}
    write_yaml(root / "params.yaml", with_changes(changes))


def start_stage(root: Path) -> subprocess.Popen:
    """Run the train stage in `root`, its output going to root/log.txt (read by `log`)."""
    # One thread each: two runs share the cores, and both must sum in the same order.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("RNNMEM_DEBUG", None)
    with (root / "log.txt").open("w") as log:
        return subprocess.Popen(
            stage_argv("train@gru-0"),
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def log(root: Path) -> str:
    return (root / "log.txt").read_text()


@pytest.mark.slow
def test_stage_killed_with_sigkill_resumes_to_the_same_result(tmp_path):
    big = make_dataset(tmp_path / "big", n_words=8000)  # 40 steps per epoch, ~1 s in all
    params = dataclasses.replace(PARAMS, epochs=2, log_every=4)
    for name in ("whole", "cut"):
        write_project(tmp_path / name, big, params)
        run_file(tmp_path / name, device="cpu", checkpoint_every=10)
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
            "data/snapshots/gru/seed0",
        )
        assert not checkpoints.exists()
    finally:
        for process in started:  # never leave a stage running if an assertion failed
            if process.poll() is None:
                process.kill()
                process.wait()
