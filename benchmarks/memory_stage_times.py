"""Wall time of each model's memory stage in two checkouts, side by side on one machine.

The memory stage's command of each model (as each checkout's dvc.yaml expands it) is run in
each checkout in turn, `--repeats` times, alternating, with its outputs sent to a scratch
folder, so that both checkouts meet the same load. Each checkout must hold a reproduced run
(`dvc repro`: its models, dataset and long-range probe). Prints a table (median seconds per
model and checkout, and their ratio) and the same as JSON with --json:

    python benchmarks/memory_stage_times.py --before ../before --after . --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUTPUT_OPTIONS = ("--out", "--items")  # the stage's outputs, sent to a scratch folder


def memory_command(checkout: Path, kind: str, seed: int, scratch: Path) -> list[str]:
    """The memory stage's command for (kind, seed) as the checkout's dvc.yaml expands it, with
    its outputs in `scratch`."""
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "--dry", "-f", "-s", f"memory@{kind}-{seed}"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(row for row in done.stdout.splitlines() if row.startswith("> python"))
    words = shlex.split(line.removeprefix("> "))
    for i, word in enumerate(words):
        if word in OUTPUT_OPTIONS:
            words[i + 1] = str(scratch / word.strip("-"))
    return [sys.executable, *words[1:]]


def timed(command: list[str], checkout: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    started = time.perf_counter()
    subprocess.run(command, cwd=checkout, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=Path("."))
    parser.add_argument("--models", nargs="+", default=["gru", "lstm", "nlstm"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for kind in args.models:
            commands = {
                name: memory_command(path, kind, 0, Path(scratch) / name / kind)
                for name, path in checkouts.items()
            }
            seconds = {name: [] for name in checkouts}
            for _ in range(args.repeats):
                for name, path in checkouts.items():
                    seconds[name].append(timed(commands[name], path))
            before, after = (statistics.median(seconds[n]) for n in ("before", "after"))
            rows.append({"model": kind, "before_s": before, "after_s": after,
                         "ratio": after / before, "runs": seconds})  # fmt: skip
            print(f"{kind}: before {before:.1f} s, after {after:.1f} s, x{after / before:.2f}",
                  file=sys.stderr)  # fmt: skip
    print("| model | before, s | after, s | after / before |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {row['before_s']:.1f} | {row['after_s']:.1f} | "
              f"{row['ratio']:.2f} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
