"""Training-step cost of the three models, side by side, and their parameter counts.

A training step is forward, backward and one Adam update on a random batch of 64
sequences of 200 characters; each size is timed again with a 2-word output layer, which
leaves the cost of the recurrent stack alone. The models are timed in turns (one step of
each model per round), so a burst of load from other processes hits all of them alike;
on a shared machine the figures are still noisy, the Nested LSTM / LSTM ratio less so.

    .venv/bin/python benchmarks/bench_models.py           # demo size, then paper size
    .venv/bin/python benchmarks/bench_models.py --quick   # demo size only
    python benchmarks/bench_models.py --device cuda --precision bf16   # on a GPU

Each row also projects the article's two epochs of text8 (14,278 steps) at that speed.

On a busy machine pass `--threads 1`: PyTorch's worker threads wait on each other at
every step of a recurrence, so a core taken by another process slows every model down
several-fold and at random. CPU time (of this process) is printed too: with one thread
it is the work done, and it hardly depends on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from rnnmem.models.language_model import build_model, count_parameters
from rnnmem.training.train import precision_context

N_CHARS = 28  # <pad>, space, a-z
# (units, words, timed rounds after one warm-up) per size; layers as in docs/design.md, Models.
SIZES = {"demo": (128, 1024, 5), "paper": (600, 16_386, 2)}
LAYERS = {"gru": 2, "lstm": 2, "nlstm": 1}
# The table of docs/design.md, Models (TensorFlow counts: one bias per gate, 27 input characters).
PAPER_TABLE = {
    "gru": (16_200, 4_323_600, 9_847_986),
    "lstm": (16_200, 5_764_800, 9_847_986),
    "nlstm": (16_200, 5_764_800, 9_847_986),
}


PAPER_STEPS = 14_278  # two epochs of text8 at batch 64


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, source, target, precision: str = "fp32"
) -> tuple[float, float]:
    """One forward, backward and Adam update; returns its wall-clock and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    optimizer.zero_grad(set_to_none=True)
    with precision_context(precision, source.device):
        logits = model(source)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), target.flatten())
    loss.backward()
    optimizer.step()
    if source.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def _model(kind: str, n_words: int, units: int, layers: int) -> torch.nn.Module:
    """A model of the article's shape: the Nested LSTM at depth 2, reference initialisation."""
    return build_model(
        kind, N_CHARS, n_words, units, layers, 2 if kind == "nlstm" else None, "reference"
    )


def compare(title: str, units: int, n_words: int, rounds: int, args: argparse.Namespace) -> None:
    """Time a training step of each model in turns and print the means and the ratio."""
    batch, steps, device = args.batch, args.steps, torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    source = torch.randint(1, N_CHARS, (batch, steps), generator=generator).to(device)
    target = torch.randint(0, n_words, (batch, steps), generator=generator).to(device)
    runs = {}
    for kind, layers in LAYERS.items():
        torch.manual_seed(0)
        model = _model(kind, n_words, units, layers).to(device)
        model.use_cuda_graphs(device.type == "cuda" and not args.reference)
        runs[kind] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))
    seconds: dict[str, list[tuple[float, float]]] = {kind: [] for kind in runs}
    for round_ in range(1 + rounds):
        for kind, (model, optimizer) in runs.items():
            took = train_step(model, optimizer, source, target, args.precision)
            if round_:  # round 0 is the warm-up
                seconds[kind].append(took)
    wall = {kind: sum(w for w, _ in s) / len(s) for kind, s in seconds.items()}
    cpu = {kind: sum(c for _, c in s) / len(s) for kind, s in seconds.items()}
    print(
        f"\n{title}: units {units}, {n_words} words, {N_CHARS} chars, batch {batch}, "
        f"{steps} steps; mean of {rounds} timed steps after 1 warm-up, "
        f"{torch.get_num_threads()} thread(s), {device_name(device)}, {args.precision}"
    )
    print(
        f"  {'model':6s} {'layers':16s} {'wall s/step':>11s} {'(min-max)':>13s} {'CPU s/step':>10s}"
        f" {'14,278 steps':>12s}"
    )
    for kind in runs:
        walls = [w for w, _ in seconds[kind]]
        layers = f"{LAYERS[kind]}" + (", depth 2" if kind == "nlstm" else "")
        print(
            f"  {kind:6s} {layers:16s} {wall[kind]:11.3f} "
            f"{f'({min(walls):.2f}-{max(walls):.2f})':>13s} {cpu[kind]:10.3f}"
            f" {wall[kind] * PAPER_STEPS / 60:8.1f} min"
        )
    print(
        f"  Nested LSTM / LSTM: {wall['nlstm'] / wall['lstm']:.2f} (wall clock), "
        f"{cpu['nlstm'] / cpu['lstm']:.2f} (CPU time)"
    )


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def print_paper_counts() -> None:
    units, n_words, _ = SIZES["paper"]
    print(f"\nparameters at paper size (units {units}, {n_words} words, {N_CHARS} chars)")
    print(f"  {'model':6s} {'part':10s} {'PyTorch':>11s} {'reference':>11s} {'diff':>7s}")
    for kind, layers in LAYERS.items():
        counts = count_parameters(_model(kind, n_words, units, layers))
        for part, design in zip(
            ("embedding", "recurrent", "dense"), PAPER_TABLE[kind], strict=True
        ):
            ours = counts[part]
            print(f"  {kind:6s} {part:10s} {ours:11,d} {design:11,d} {ours - design:+7,d}")
    print(
        f"  embedding: +{units:,}: the table counts 27 input characters, this project "
        f"has {N_CHARS} (<pad>, space, a-z)\n"
        f"  recurrent: nn.GRU / nn.LSTM keep a second bias per gate (b_ih and b_hh), "
        f"+{3 * units:,} (GRU) / +{4 * units:,} (LSTM) per layer, x {LAYERS['lstm']} layers;\n"
        "  the Nested LSTM has one bias per gate, like TensorFlow, and matches the table."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo size only")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200, help="characters per sequence")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (default: PyTorch's choice)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=("fp32", "tf32", "bf16"), default="fp32")
    parser.add_argument(
        "--reference", action="store_true", help="on a GPU: the Nested LSTM without CUDA graphs"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for name in ("demo",) if args.quick else ("demo", "paper"):
        units, n_words, rounds = SIZES[name]
        compare(f"{name} size", units, n_words, rounds, args)
        # The output layer is shared by all models and dominates at paper size; with two
        # output words what is left is the recurrent stack.
        compare(f"{name} size, recurrent stack only", units, 2, rounds, args)
    print_paper_counts()


if __name__ == "__main__":
    main()
