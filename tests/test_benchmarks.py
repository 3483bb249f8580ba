"""The busy-machine benchmark runs end to end and prints its ratios (tiny sizes: the figures
themselves are measured on purpose, see benchmarks/README.md, never asserted on)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_busy_benchmark_prints_both_ratios() -> None:
    command = [sys.executable, str(ROOT / "benchmarks/bench_busy.py"), "--steps", "2"]
    tiny = ["--units", "64", "--words", "256", "--kinds", "gru", "--variants", "automatic"]
    done = subprocess.run([*command, *tiny], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("gru ")]
    assert [row[2] for row in rows] == ["(automatic)"]
    for row in rows:
        quiet, busy, ratio, sequence, together, ratio_together = map(float, row[-6:])
        assert min(quiet, busy, sequence, together) > 0
        # the printed times are rounded to 0.001 s, the ratios computed before rounding
        assert ratio == pytest.approx(busy / quiet, rel=0.2, abs=0.02)
        assert ratio_together == pytest.approx(together / sequence, rel=0.2, abs=0.02)
