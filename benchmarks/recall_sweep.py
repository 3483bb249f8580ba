"""Is the LSTM's failure to recall real? A sweep of DVC experiments, and its table.

`queue` queues one DVC experiment per (model, init, learning rate): the model trained with
every seed in --seeds for up to --steps steps (no early stop), only its `recall@<model>-<seed>`
stages as targets, so nothing else reruns. `table` reads each experiment's per-seed recall
metrics from its experiment commit and prints steps to recall per configuration (median and
range over seeds, or "not within N steps"). Run from the repository root:

    python benchmarks/recall_sweep.py queue --models lstm nlstm
    dvc queue start -j 2          # two at a time on 2 cores (one torch thread each)
    python benchmarks/recall_sweep.py table --csv sweep.csv
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from pathlib import Path

import pandas as pd
from ruamel.yaml import YAML

INITS = ("chrono", "chrono_forget", "reference")
RATES = ("0.001", "0.003", "0.01")
PREFIX = "sweep-"


def name(kind: str, init: str, rate: str) -> str:
    return f"{PREFIX}{kind}-{init.replace('_', '')}-lr{rate.replace('.', 'p')}"


def queue(args: argparse.Namespace) -> None:
    seeds = ",".join(map(str, args.seeds))
    for kind in args.models:
        for init in args.inits:
            for rate in args.rates:
                settings = [
                    f"models.{kind}.init={init}",
                    f"models.{kind}.learning_rate={rate}",
                    f"train.max_steps={args.steps}",
                    "train.epochs=10",  # never the limit: 10 epochs are over 4,000 steps
                    "train.patience=0",
                    f"train.eval_every={args.eval_every}",
                    f"seeds=[{seeds}]",
                ]
                targets = [f"recall@{kind}-{seed}" for seed in args.seeds]
                command = ["dvc", "exp", "run", "--queue", "-n", name(kind, init, rate)]
                command += [option for s in settings for option in ("-S", s)] + targets
                print(" ".join(command))
                subprocess.run(command, check=True)


def _show(ref: str, path: str) -> str | None:
    done = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def table(args: argparse.Namespace) -> None:
    """Every finished sweep experiment's seeds, one row each: printed as a Markdown table and,
    with --csv, written for docs/runs (the columns docs/memory.md reads)."""
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)", "refs/exps"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    rows = []
    for ref in sorted(refs, key=lambda r: r.rsplit("/", 1)[-1]):
        label = ref.rsplit("/", 1)[-1]
        if not label.startswith(PREFIX):
            continue
        kind = label.removeprefix(PREFIX).split("-")[0]
        params = YAML(typ="safe", pure=True).load(_show(ref, "params.yaml"))  # YAML 1.2, as DVC
        model = params["models"][kind]
        for seed in params["seeds"]:
            text = _show(ref, f"reports/recall/seeds/{kind}/seed{seed}/metrics.json")
            curve = _show(ref, f"reports/recall/seeds/{kind}/seed{seed}/curve.csv")
            if text is None or curve is None:
                continue
            metrics = json.loads(text)
            last = pd.read_csv(io.StringIO(curve)).iloc[-1]
            rows.append(
                {
                    "model": kind,
                    "init": model["init"],
                    "learning_rate": model["learning_rate"],
                    "seed": seed,
                    "steps_trained": metrics["steps_trained"],
                    "steps_to_recall": metrics["steps_to_recall"],
                    "gap": last["gap"],
                    "gap_low": last["gap_low"],
                    "gap_high": last["gap_high"],
                }
            )
    found = pd.DataFrame(rows)
    print(found.to_markdown(index=False) if len(found) else "no finished sweep experiment")
    if args.csv:
        found.to_csv(args.csv, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    queued = commands.add_parser("queue", help="queue the sweep's experiments")
    queued.add_argument("--models", nargs="+", default=["lstm", "nlstm"])
    queued.add_argument("--inits", nargs="+", default=list(INITS))
    queued.add_argument("--rates", nargs="+", default=list(RATES))
    queued.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    queued.add_argument("--steps", type=int, default=2000)
    queued.add_argument("--eval-every", type=int, default=100)
    queued.set_defaults(run=queue)
    shown = commands.add_parser("table", help="print the table of finished experiments")
    shown.add_argument("--csv", type=Path, help="also write it to this CSV file")
    shown.set_defaults(run=table)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
