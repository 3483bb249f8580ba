"""The busy-machine benchmark measures what it says: every model at every thread setting, each
at the thread count that setting means, and ratios of its own times (tiny sizes: the figures
themselves are measured on purpose, see benchmarks/README.md, never asserted on)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnmem.training.train import thread_count

ROOT = Path(__file__).resolve().parents[1]
# Every row costs six workers, each starting torch (seconds on a busy machine): the kernel
# kinds (cuDNN-style GRU, the Nested LSTM's own) at the automatic count and one per core with
# OpenMP's passive wait, the one setting run with its own environment.
KINDS = ("gru", "nlstm")
VARIANTS = ("automatic", "per-core-passive")


@pytest.mark.slow
def test_busy_benchmark_runs_every_model_at_every_thread_setting(tmp_path: Path) -> None:
    rows_file = tmp_path / "rows.json"
    command = [sys.executable, str(ROOT / "benchmarks/bench_busy.py"), "--steps", "1"]
    tiny = ["--units", "32", "--words", "64", "--kinds", ",".join(KINDS)]
    tiny += ["--variants", ",".join(VARIANTS), "--json", str(rows_file)]
    done = subprocess.run([*command, *tiny], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    rows = json.loads(rows_file.read_text())
    assert [(r["model"], r["variant"]) for r in rows] == [(k, v) for k in KINDS for v in VARIANTS]
    cores = len(os.sched_getaffinity(0))
    threads = {"automatic": thread_count(0), "per-core-passive": cores}
    printed = [
        line.split()
        for line in done.stdout.splitlines()
        if line.split()[:1] in [[k] for k in KINDS]
    ]
    assert len(printed) == len(rows)
    for row, line in zip(rows, printed, strict=True):
        assert row["threads"] == threads[row["variant"]], row  # what the setting means here
        assert min(row["quiet"], row["busy"], row["sequence"], row["together"]) > 0
        assert row["busy_per_quiet"] == pytest.approx(row["busy"] / row["quiet"], rel=0.01)
        assert row["together_per_sequence"] == pytest.approx(
            row["together"] / row["sequence"], rel=0.01
        )
        # the table shows the same run: threads, and each ratio to its printed rounding
        assert line[1] == str(row["threads"]) and line[2] == f"({row['variant']})"
        assert float(line[-4]) == pytest.approx(row["busy_per_quiet"], abs=0.006)
        assert float(line[-1]) == pytest.approx(row["together_per_sequence"], abs=0.006)


def test_the_half_life_calibration_table_is_its_json_file():
    """benchmarks/README.md quotes benchmarks/half_life_calibration.json, row for row."""
    readme = (ROOT / "benchmarks/README.md").read_text()
    rows = json.loads((ROOT / "benchmarks/half_life_calibration.json").read_text())
    assert rows
    for row in rows:
        cells = [row[k] for k in ("pairs_per_bucket", "draws", "censored", "withheld")]
        cells.append(row['flagged if "excludes 0"'])
        assert "| " + " | ".join(map(str, cells)) + " |" in readme, row
