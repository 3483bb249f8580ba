"""Training speed on a machine that is not idle: quiet, beside a busy process, two at once.

Each model's training steps (demo size by default) run in a child process at a given torch
thread count, in four situations, side by side in one run:

- quiet: alone (as quiet as the machine is: its load average is printed);
- busy: beside one CPU-bound process (a Python busy loop);
- sequence: two such jobs one after the other (the sum of their times);
- together: two such jobs at once (the time until both are done), as `dvc queue start --jobs 2`.

and prints busy / quiet and together / sequence. Targets: busy / quiet <= 1.6, together /
sequence <= 1.0. Thread counts compared: `train.threads: 0` (automatic, see
`rnnmem.training.train.thread_count`) and PyTorch's own default (one thread per core).
The latter also with OpenMP's passive wait policy (waiting threads sleep instead of spinning).

    .venv/bin/python benchmarks/bench_busy.py [--steps 5] [--units 128] [--kinds gru,lstm,nlstm]
        [--variants automatic,per-core,per-core-passive] [--json rows.json]

`--json` also writes every row unrounded, with the torch thread count each worker ran at.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from rnnmem.files import json_text

WORKER = [sys.executable, str(Path(__file__).resolve()), "--worker"]
# torch threads: `train.threads: 0`; one per core; one per core with OpenMP's passive wait
VARIANTS = ("automatic", "per-core", "per-core-passive")


def worker(kind: str, threads: int, steps: int, units: int, words: int, device: str) -> None:
    """Build a model, warm up one step, time `steps` training steps, print the seconds and the
    torch thread count they ran at."""
    import torch

    from rnnmem.models.language_model import build_model
    from rnnmem.models.objective import masked_loss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layers, depth = (1, 2) if kind == "nlstm" else (2, None)
    model = build_model(kind, 28, words, units, layers, depth, "reference").to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    source = torch.randint(1, 28, (64, 200), device=device)
    target = torch.randint(2, words, (64, 200), device=device)
    for step in range(1 + steps):
        if step == 1:
            started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        masked_loss(model(source), target).backward()
        optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    print(time.perf_counter() - started, torch.get_num_threads())


def start(kind: str, variant: tuple[int, str], args: argparse.Namespace) -> subprocess.Popen:
    """One worker at `variant` = (torch threads, OpenMP wait policy or "" for the default)."""
    threads, wait = variant
    command = [*WORKER, kind, str(threads), str(args.steps), str(args.units), str(args.words)]
    env = {**os.environ, "OMP_WAIT_POLICY": wait} if wait else None
    return subprocess.Popen([*command, args.device], stdout=subprocess.PIPE, text=True, env=env)


def wall(processes: list[subprocess.Popen], used: set[int]) -> float:
    """Seconds until all `processes` are done (the largest of their own timings); adds the
    thread counts they ran at to `used`."""
    times = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"worker failed with exit status {process.returncode}")
        seconds, threads = out.split()[-2:]
        times.append(float(seconds))
        used.add(int(threads))
    return max(times)


def measure(kind: str, variant: tuple[int, str], args: argparse.Namespace) -> dict[str, float]:
    used: set[int] = set()
    quiet = wall([start(kind, variant, args)], used)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = wall([start(kind, variant, args)], used)
    finally:
        hog.kill()
        hog.wait()
    sequence = wall([start(kind, variant, args)], used) + wall([start(kind, variant, args)], used)
    together = wall([start(kind, variant, args), start(kind, variant, args)], used)
    (threads,) = used  # every job of a row runs at the variant's count
    times = {"quiet": quiet, "busy": busy, "sequence": sequence, "together": together}
    return times | {"threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per job")
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--words", type=int, default=1024)
    parser.add_argument("--kinds", default="gru,lstm,nlstm")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"thread settings to compare, comma-separated among {', '.join(VARIANTS)}",
    )
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--json", type=Path, help="also write every row to this JSON file")
    args = parser.parse_args()

    from rnnmem.training.train import thread_count

    cores = len(os.sched_getaffinity(0))
    settings = {
        "automatic": (thread_count(0), ""),
        "per-core": (cores, ""),
        "per-core-passive": (cores, "PASSIVE"),
    }
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant {sorted(unknown)[0]!r}; choose among {', '.join(VARIANTS)}")
    variants = {label: settings[label] for label in args.variants.split(",")}
    print(
        f"{cores} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"before the run; {args.steps} steps of batch 64 x 200 chars, {args.units} units"
    )
    print(
        f"{'model':6s} {'threads':26s} {'quiet s':>8s} {'busy s':>8s} {'busy/quiet':>10s} "
        f"{'seq s':>8s} {'together s':>10s} {'together/seq':>12s}"
    )
    rows = []
    for kind in args.kinds.split(","):
        for label, variant in variants.items():
            t = measure(kind, variant, args)
            ratios = {
                "busy_per_quiet": t["busy"] / t["quiet"],
                "together_per_sequence": t["together"] / t["sequence"],
            }
            rows.append({"model": kind, "variant": label, **t, **ratios})
            threads = f"{t['threads']} ({label})"
            print(
                f"{kind:6s} {threads:26s} {t['quiet']:8.3f} {t['busy']:8.3f} "
                f"{ratios['busy_per_quiet']:10.2f} {t['sequence']:8.3f} {t['together']:10.3f} "
                f"{ratios['together_per_sequence']:12.2f}",
                flush=True,
            )
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json_text(rows, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, threads, steps, units, words, device = sys.argv[2:8]
        worker(kind, int(threads), int(steps), int(units), int(words), device)
    else:
        main()
