"""Start-up time of the summary stages and of `rnnmem --help`, this checkout against another
revision (main by default), measured side by side in one run.

Each figure is the wall time of a fresh interpreter that imports a stage script without
running it (aggregate, compare, baseline), or prints `rnnmem --help`, and exits: what a stage
pays before its first line of work, and a user before the help appears. The two revisions'
runs alternate, so a busy moment on a shared machine falls on both; the table gives the
median over the repeats and whether torch was loaded. The other revision's `src/` and
`stages/` are taken with `git archive` into a temporary folder and put first on PYTHONPATH.

    python benchmarks/import_times.py              # this checkout against main
    python benchmarks/import_times.py --before HEAD~3 --repeats 11
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What each row runs in the child; its last printed line says whether torch was loaded.
LOADED = "import sys\nprint('torch' in sys.modules)"
STAGE = "import runpy\nrunpy.run_path('stages/{}.py', run_name='imported')\n"
HELP = "from rnnmem.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
ROWS = {
    **{f"stages/{name}.py": STAGE.format(name) for name in ("aggregate", "compare", "baseline")},
    "rnnmem --help": HELP,
    "python alone (for scale)": "",
}


def timed(code: str, tree: Path) -> tuple[float, bool]:
    """Wall seconds of a fresh interpreter running `code` in `tree`, and whether torch loaded."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code + LOADED],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    return seconds, done.stdout.strip().splitlines()[-1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="the revision to compare against")
    parser.add_argument("--repeats", type=int, default=7, help="runs of each row and revision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        before = Path(folder)
        archive = subprocess.run(
            ["git", "archive", args.before, "src", "stages"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        trees = {args.before: before, "this checkout": ROOT}
        print(
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f} "
            f"before; median of {args.repeats} alternated runs\n"
        )
        print(f"| what | {args.before} s | this checkout s | torch loaded |")
        print("|---|---|---|---|")
        for row, code in ROWS.items():
            times: dict[str, list[float]] = {side: [] for side in trees}
            loaded = {}
            for tree in trees.values():
                timed(code, tree)  # warm-up: byte-code caches, the file system's cache
            for _ in range(args.repeats):
                for side, tree in trees.items():
                    seconds, loaded[side] = timed(code, tree)
                    times[side].append(seconds)
            medians = [statistics.median(times[side]) for side in trees]
            torch = " / ".join("yes" if loaded[side] else "no" for side in trees)
            print(f"| {row} | {medians[0]:.2f} | {medians[1]:.2f} | {torch} |")
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
