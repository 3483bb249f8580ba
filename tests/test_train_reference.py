"""The training loop gives today's results bit for bit: weights, snapshots and curves of a
small run are held to tests/fixtures/train_reference.json.

The fixture was written by `reference_of` below, run on the loop as it stood before it was
rewritten to read top to bottom (main at 98864ed: `_train` in one 206-line function), with
torch 2.13.0's CPU build, one thread, on x86-64. Float sums depend on the thread count
(fixed here) and the CPU's vector instructions: on a machine whose CPU rounds differently
the old loop gave other weights too, and the fixture is rewritten there from the old loop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from test_train import PARAMS, make_dataset, run

from rnnmem.models.checkpoint import load_model

FIXTURE = Path(__file__).parent / "fixtures" / "train_reference.json"
# Two epochs, rows logged every 3 steps and validated every 7 (so a validation falls between
# two rows and the last row is short), gradients clipped, checkpoints every 5 steps, patience
# that does not end the run, the validation loss lowest at the end (the kept model is the last).
SCHEDULE = dataclasses.replace(PARAMS, threads=1, patience=3)
META_KEYS = ("steps", "stopped_by", "valid_cross_entropy", "valid_accuracy")
METRIC_KEYS = ("step", "train", "valid", "capped_while_improving")


def _weights_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for name, tensor in load_model(path)[0].state_dict().items():
        digest.update(name.encode() + b"\0" + tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def reference_of(root: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """What must not change: a digest of the weights of the model and of every snapshot,
    the curve files' text, the run's metrics (but the wall-clock time) and its meta."""
    live = root / "live"
    metrics = json.loads((live / "metrics.json").read_text())
    return {
        "weights": {
            str(path.relative_to(root)): _weights_digest(path)
            for path in [root / "model.pt", *sorted((root / "snapshots").iterdir())]
        },
        "curves": {
            str(path.relative_to(live)): path.read_text()
            for path in sorted((live / "plots").rglob("*.tsv"))
        },
        "metrics": {key: metrics[key] for key in METRIC_KEYS},
        "meta": {key: meta[key] for key in META_KEYS},
    }


def test_a_small_run_gives_the_weights_and_curves_of_the_loop_before_its_rewrite(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    dataset = make_dataset(tmp_path / "data")  # test_train's small corpus
    meta = run(dataset, tmp_path / "run", SCHEDULE, checkpoint_every=5)
    expected = json.loads(FIXTURE.read_text())
    assert reference_of(tmp_path / "run", meta) == expected
