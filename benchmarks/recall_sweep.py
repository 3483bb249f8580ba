"""Is the LSTM's failure to recall real? A sweep of DVC experiments, and its table.

`queue` queues one DVC experiment per (model, init, learning rate): the model trained with
every seed in --seeds for up to --steps steps (no early stop), only its `recall@<model>-<seed>`
stages as targets, so nothing else reruns. `table` reads each experiment's per-seed recall
metrics from its experiment commit and prints steps to recall per configuration (median and
range over seeds, or "not within N steps"). Run from the repository root:

    python benchmarks/recall_sweep.py queue --models lstm nlstm
    dvc queue start -j 2          # two at a time on 2 cores (one torch thread each)
    python benchmarks/recall_sweep.py table
"""

from __future__ import annotations

import argparse
import json
import subprocess

import numpy as np
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
        model, train = params["models"][kind], params["train"]
        runs = []
        for seed in params["seeds"]:
            text = _show(ref, f"reports/recall/seeds/{kind}/seed{seed}/metrics.json")
            curve = _show(ref, f"reports/recall/seeds/{kind}/seed{seed}/curve.csv")
            if text is not None:
                last = curve.strip().splitlines()[-1].split(",")
                runs.append((json.loads(text)["steps_to_recall"], float(last[1])))
        steps = [s for s, _ in runs if s is not None]
        if steps:
            reached = f"{np.median(steps):.0f} ({min(steps)}-{max(steps)})"
        else:
            reached = f"not within {train['max_steps']:,} steps"
        gaps = " / ".join(f"{g:.3f}" for _, g in runs)
        rows.append(
            f"| {kind} | {model['init']} | {model['learning_rate']} | {len(steps)} of "
            f"{len(runs)} | {reached} | {gaps} |"
        )
    print(
        "| model | init | learning rate | seeds that recall | steps to recall, median (range) "
        "| recall gap at the last step, per seed |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


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
    commands.add_parser("table", help="print the table of finished experiments").set_defaults(
        run=table
    )
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
