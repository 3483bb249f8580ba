"""Same params and seed give bit-identical model files on the CPU, also on a busy machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import make_dataset

ROOT = Path(__file__).resolve().parents[1]

# Trains every model kind with 2 intra-op threads (so thread scheduling could matter) and
# writes <out>/<kind>.pt; argv: dataset directory, output directory, seed.
TRAIN = """
import dataclasses, sys
from pathlib import Path
import torch
from rnnmem.data.dataset import load_split, load_vocab
from rnnmem.models.checkpoint import ModelSpec
from rnnmem.params import ModelParams, TrainParams
from rnnmem.training.train import fingerprint, train

torch.set_num_threads(2)
data, out, seed = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
params = TrainParams(batch_size=16, epochs=1, learning_rate=0.01, seed=seed, device="cpu",
                     checkpoint_every=5, log_every=5)
vocab = load_vocab(data)
for kind in ("gru", "lstm", "nlstm"):
    model = ModelParams(units=24, layers=2 if kind != "nlstm" else 1)
    spec = ModelSpec(kind, len(vocab.chars), len(vocab.words), **dataclasses.asdict(model))
    train(spec, params, load_split(data, "train"), load_split(data, "valid"),
          output=out / f"{kind}.pt", checkpoint_dir=out / f"ckpt-{kind}",
          live_dir=out / f"live-{kind}", fingerprint=fingerprint(kind, model, params, data))
"""
SPIN = "while True: pass"


def _train(dataset: Path, out: Path, seed: int = 0) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("OMP_NUM_THREADS", None)
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(dataset), str(out), str(seed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {kind: (out / f"{kind}.pt").read_bytes() for kind in ("gru", "lstm", "nlstm")}


@pytest.mark.slow
def test_same_seed_gives_identical_model_files_with_competing_cpu_load(tmp_path):
    dataset = make_dataset(tmp_path / "data", n_words=1500)
    quiet = _train(dataset, tmp_path / "quiet")
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(os.cpu_count() or 2)]
    try:
        busy = _train(dataset, tmp_path / "busy")
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    for kind in quiet:
        assert busy[kind] == quiet[kind], f"{kind}: model file differs under load"
    other = _train(dataset, tmp_path / "other", seed=1)
    assert all(other[kind] != quiet[kind] for kind in quiet)  # the seed does matter
