"""Placebos matched on position alone against name and position, on a run's own items.

For every model and seed of a finished run (the memory stage's per-pair tables under
data/memory/), the recall gap at k = 1 twice: with placebos matched to the referents on
position alone (every item given one name: the rule before names were matched) and on name
and position (`memory.matching`, the rule now), each with its 95 % bootstrap interval over the
same resampled test observations. A model without memory should read 0; one that leans toward
placebos on one matching and not the other shows what the matching removes. Writes a CSV (and
a JSON with the command) into a saved run's folder:

    python benchmarks/placebo_matching.py --run docs/runs/three-seeds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from rnnmem import params
from rnnmem.analysis.memory.matching import matched_gap
from rnnmem.analysis.stats import Resampling, interval
from rnnmem.files import write_csv, write_json


def gaps(items: pd.DataFrame, seed: int) -> dict[str, float]:
    """The two matchings' gaps at k = 1 with their intervals, on one resampling."""
    resampling = Resampling.over(items["observation"].to_numpy(), seed)
    found = {}
    for name, data in (("position", items.assign(word="")), ("named", items)):
        gap = matched_gap(data, "top1_k1", resampling)
        found[f"{name}_gap"] = gap.gap
        found[f"{name}_low"], found[f"{name}_high"] = interval(gap.gap_reps)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="the saved run's folder")
    parser.add_argument("--items", type=Path, default=Path("data/memory"))
    args = parser.parse_args()
    run = params.load()
    rows = []
    for kind in run.models:
        for seed in run.seeds:
            items = pd.read_parquet(args.items / kind / f"seed{seed}" / "items.parquet")
            rows.append({"model": kind, "seed": seed, **gaps(items, run.memory.seed)})
            print(rows[-1], file=sys.stderr)
    write_csv(args.run / "placebo_matching.csv", pd.DataFrame(rows))
    command = f"python benchmarks/placebo_matching.py --run {args.run}"
    write_json(args.run / "placebo_matching.json", {"command": command})


if __name__ == "__main__":
    main()
