"""Training over several processes with torchrun: the same model as one process, on the CPU."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pipeline_repo import stage_argv
from shipped import run_file
from test_train import PARAMS, make_dataset, weights, write_project

from rnnmem.data.dataset import load_split
from rnnmem.training.train import _share


def test_shares_make_the_mean_of_the_process_losses_the_batch_loss():
    # rows with 3, 1, 0 and 2 scored targets (0 is <pad>, 1 is <unknown>)
    target = np.array([[2, 3, 4], [5, 1, 0], [1, 0, 0], [6, 7, 0]])
    rows0, share0 = _share(target, rank=0, world=2)
    rows1, share1 = _share(target, rank=1, world=2)
    assert rows0.tolist() == [0, 2] and rows1.tolist() == [1, 3]
    # rank 0 holds 3 of the 6 scored targets, rank 1 the other 3: mean loss weights 2 * 3 / 6
    assert share0 == share1 == 1.0
    rows, share = _share(target[:3], rank=1, world=2)  # rank 1: row 1, with 1 of 4 targets
    assert rows.tolist() == [1] and share == 2 * 1 / 4
    rows, share = _share(target[:1], rank=1, world=2)  # no row left for rank 1
    assert rows.tolist() == [0] and share == 0.0


def stage(root: Path, processes: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    result = subprocess.run(
        [*launcher, *stage_argv("train@gru-0")[1:]],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.mark.slow  # three stage processes: about 10 s on a quiet 2-core machine
def test_two_gloo_processes_train_the_same_model_as_one(tmp_path):
    data = make_dataset(tmp_path / "data", n_words=2000)
    assert len(load_split(data, "train")) % PARAMS.batch_size  # a last, smaller batch too
    params = dataclasses.replace(PARAMS, threads=1)
    for name in ("one", "two"):
        write_project(tmp_path / name, data, params)
        run_file(tmp_path / name, device="cpu", checkpoint_every=5)
    stage(tmp_path / "one", 1)
    stage(tmp_path / "two", 2)
    one = weights(tmp_path / "one/data/models/gru/seed0/model.pt")
    two = weights(tmp_path / "two/data/models/gru/seed0/model.pt")
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5)
    assert not torch.equal(one["dense.weight"], torch.zeros_like(one["dense.weight"]))
    curve = "reports/train/gru/seed0/plots/metrics/valid/loss.tsv"
    valid_one = np.loadtxt(tmp_path / "one" / curve, skiprows=1)
    valid_two = np.loadtxt(tmp_path / "two" / curve, skiprows=1)
    np.testing.assert_allclose(valid_two, valid_one, rtol=1e-4)
    assert not (tmp_path / "two/data/checkpoints/gru/seed0").exists()
