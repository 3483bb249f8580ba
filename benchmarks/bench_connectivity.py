"""Connectivity in one backward sweep versus one backward pass per output step.

Times `connectivity_matrix` (one forward pass, then one backward sweep carrying a gradient
row per output step) against `connectivity_matrix_loop` (one forward pass, then T autograd
backward passes through a one-hot input) on random-weight models, checks that they agree
(largest difference over the largest entry), and prints both timings and the speed-up.
Target: at least 10x at T = 200, at both sizes, relative difference at most 1e-5.
Sizes: the demo models (128 units, 1024 words) by default; `--units 600 --words 16384` for
the article's size.

Then times `--batch` sequences batched across observations (`connectivity_matrices`) and
projects the time of 500 observations (target on one GPU at the article's size: <= 10 s).

    .venv/bin/python benchmarks/bench_connectivity.py [--units 128] [--words 1024] [--steps 200]
        [--batch 16] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch

from rnnmem.analysis.connectivity import (
    connectivity_matrices,
    connectivity_matrix,
    connectivity_matrix_loop,
)
from rnnmem.kinds import KINDS
from rnnmem.models.language_model import build_model

LAYERS = {"gru": 2, "lstm": 2, "nlstm": 1}
TARGET_SPEEDUP, TARGET_REL_DIFF = 10.0, 1e-5


def best_time(compute, repeats: int) -> tuple[float, torch.Tensor]:
    """Fastest of `repeats` runs (the machine is shared; the minimum is the least disturbed)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = compute()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--words", type=int, default=1024, help="vocabulary, <pad>/<unknown> aside")
    parser.add_argument("--steps", type=int, default=200, help="sequence length T")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch", type=int, default=16, help="observations batched together")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_words = args.words + 2
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(
        f"{name}: T={args.steps} units={args.units} words={n_words} threads={args.threads} "
        f"repeats={args.repeats} (best of)"
    )
    for kind in args.kinds:
        torch.manual_seed(0)
        depth = 2 if kind == "nlstm" else None
        model = build_model(kind, 28, n_words, args.units, LAYERS[kind], depth, "reference")
        model = model.eval().to(device)
        source = torch.randint(1, 28, (args.steps,), device=device)
        target = torch.randint(2, n_words, (args.steps,), device=device)
        inputs = (model, source, target)
        swept, fast = best_time(partial(connectivity_matrix, *inputs), args.repeats)
        looped, slow = best_time(partial(connectivity_matrix_loop, *inputs), args.repeats)
        rel = ((fast - slow).abs().max() / slow.abs().max()).item()
        met = looped / swept >= TARGET_SPEEDUP and rel <= TARGET_REL_DIFF
        print(
            f"{kind:6s} sweep {swept:8.3f} s   loop {looped:8.3f} s   "
            f"speed-up {looped / swept:6.1f}x   max rel diff {rel:.1e}   "
            f"{'target met' if met else 'BELOW TARGET'}"
        )
        sources = [torch.randint(1, 28, (args.steps,), device=device) for _ in range(args.batch)]
        targets = [torch.randint(2, n_words, (args.steps,), device=device) for _ in sources]
        batched, _ = best_time(partial(connectivity_matrices, model, sources, targets), 1)
        print(
            f"{'':6s} batched {args.batch}: {batched / args.batch:8.3f} s per observation "
            f"({swept * args.batch / batched:4.1f}x one at a time); "
            f"500 observations: {500 * batched / args.batch:7.1f} s"
        )


if __name__ == "__main__":
    main()
