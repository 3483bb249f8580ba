"""Same params and seed give bit-identical model files on the CPU, also on a busy machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import make_dataset

ROOT = Path(__file__).resolve().parents[1]
RUNS = [("gru", 0), ("lstm", 0), ("nlstm", 0)]

# Trains each <kind>:<seed> of argv[3:] with 2 intra-op threads (so thread scheduling could
# matter) and writes <out>/<kind>-<seed>.pt; argv[1:3]: dataset directory, output directory.
TRAIN = """
import dataclasses, sys
from pathlib import Path
import torch
from rnnmem.data.dataset import load_split, load_vocab
from rnnmem.models.checkpoint import ModelSpec
from rnnmem.training.train import train
from shipped import SHIPPED, nesting

torch.set_num_threads(2)
data, out = Path(sys.argv[1]), Path(sys.argv[2])
vocab = load_vocab(data)
params = dataclasses.replace(SHIPPED.train, batch_size=16, epochs=1, learning_rate=0.01,
                             log_every=5)
for run in sys.argv[3:]:
    kind, seed = run.split(":")
    layers = 2 if kind != "nlstm" else 1
    shape = (24, layers, nesting(kind), SHIPPED.models[kind].init)
    spec = ModelSpec(kind, len(vocab.chars), len(vocab.words), *shape)
    name = f"{kind}-{seed}"
    train(spec, params, load_split(data, "train"), load_split(data, "valid"), seed=int(seed),
          output=out / f"{name}.pt", checkpoint_dir=out / f"ckpt-{name}",
          live_dir=out / f"live-{name}", snapshot_dir=out / f"snapshots-{name}",
          fingerprint=name, device="cpu", checkpoint_every=5)
"""
SPIN = "while True: pass"


def _train(dataset: Path, out: Path, runs: list[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT / 'tests'}"}
    env.pop("OMP_NUM_THREADS", None)
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(dataset), str(out), *(f"{k}:{s}" for k, s in runs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {(k, s): (out / f"{k}-{s}.pt").read_bytes() for k, s in runs}


@pytest.mark.slow
def test_same_seed_gives_identical_model_files_with_competing_cpu_load(tmp_path):
    dataset = make_dataset(tmp_path / "data", n_words=1500)
    quiet = _train(dataset, tmp_path / "quiet", [*RUNS, ("gru", 1)])
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(os.cpu_count() or 2)]
    try:
        busy = _train(dataset, tmp_path / "busy", RUNS)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    for run in RUNS:
        assert busy[run] == quiet[run], f"{run}: model file differs under load"
    assert quiet[("gru", 1)] != quiet[("gru", 0)]  # the seed does matter
