"""Wall time of every stage of one `dvc repro`, the whole run, and its peak memory.

Run it in a clone whose pipeline has not run yet (or pass --force): it runs `dvc repro`
there, timestamps each stage as DVC starts it, and prints a Markdown table of seconds per
stage, the total, the peak resident memory of the largest process, and the machine's load
average before and after (on a shared machine, read the times beside the load).

    git clone -q . /tmp/fresh && cd /tmp/fresh && python benchmarks/stage_times.py
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time

STAGE = re.compile(r"^Running stage '([^']+)'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rerun every stage (dvc repro -f)")
    parser.add_argument("targets", nargs="*", help="stages to reproduce (default: all)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    command = ["dvc", "repro", *(["-f"] if args.force else []), *args.targets]
    started = time.perf_counter()
    marks: list[tuple[str, float]] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as run:
        for line in run.stdout:
            match = STAGE.match(line)
            if match:
                marks.append((match.group(1), time.perf_counter() - started))
                print(f"{marks[-1][1]:7.1f} s  {match.group(1)}", file=sys.stderr)
    total = time.perf_counter() - started
    if run.returncode:
        sys.exit(f"dvc repro failed (exit {run.returncode}); rerun it to see why")
    ends = [t for _, t in marks[1:]] + [total]
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"`{' '.join(command)}`, load average {load_before[0]:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after\n"
    )
    print("| stage | seconds |\n|---|---|")
    for (name, start), end in zip(marks, ends, strict=True):
        print(f"| {name} | {end - start:.1f} |")
    print(f"| **whole run** | **{total:.1f}** ({total / 60:.1f} min) |")
    print(f"\npeak resident memory of the largest process: {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
