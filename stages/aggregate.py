"""Stage `aggregate@<kind>`: one model's results over the seeds in params.yaml, with intervals.

Writes reports/metrics/<kind>.json (each metric's mean and 95 % interval, the seed count and
which interval), reports/prefix/<kind>.csv (prefix accuracy with a top-1 band) and
reports/connectivity/<kind>/ (metrics and distance profile over seeds, and the first seed's
sentences for the heat maps) and reports/memory/<kind>.json with the memory curves under
reports/memory/<kind>/ (means over seeds; one seed keeps its own bootstrap intervals).
"""

import argparse
from pathlib import Path

import pandas as pd

from rnnmem import params
from rnnmem.analysis import aggregate
from rnnmem.analysis.metrics import HEADLINE
from rnnmem.stage import read_json, run_stage, write_csv, write_json

MODEL_KEYS = (*HEADLINE, "parameters", "training_seconds", "capped_while_improving")
DISTANCE_KEYS = ("mean_connectivity", "mean_log_share", "share")
MEMORY_CURVES = {"curve.csv": "distance", "connectivity.csv": "distance", "ablation.csv": "window"}


def _memory_curve(paths: list[Path], x: str) -> pd.DataFrame:
    """One memory curve over seeds. The per-seed files bound each column `c` by `c_low` and
    `c_high`; they become `c_ci_low` / `c_ci_high`, the names `over_seeds` carries along."""
    tables = []
    for path in paths:
        table = pd.read_csv(path)
        bounds = {
            f"{c}_{side}": f"{c}_ci_{side}"
            for c in table.columns
            for side in ("low", "high")
            if c != x and f"{c}_{side}" in table.columns
        }
        tables.append(table.rename(columns=bounds))
    values = [c for c in tables[0].columns if c != x and not c.endswith(("_ci_low", "_ci_high"))]
    return aggregate.curve_over_seeds(tables, x, values)


def _memory(kind: str, seeds: list[int]) -> None:
    folders = [Path(f"reports/memory/seeds/{kind}/seed{s}") for s in seeds]
    fixes = [f"run `dvc repro memory@{kind}-{s}`" for s in seeds]
    runs = [read_json(d / "metrics.json", fix) for d, fix in zip(folders, fixes, strict=True)]
    keys = [
        key
        for key, value in runs[0].items()
        if key != "seed"
        and not key.endswith(("_ci_low", "_ci_high"))
        and (value is None or isinstance(value, int | float))
    ]
    write_json(f"reports/memory/{kind}.json", aggregate.over_seeds(runs, keys))
    for name, x in MEMORY_CURVES.items():
        write_csv(f"reports/memory/{kind}/{name}", _memory_curve([d / name for d in folders], x))
    notes = [read_json(d / "warnings.json", fix) for d, fix in zip(folders, fixes, strict=True)]
    seen = [f"seed {s}: {note}" for s, run in zip(seeds, notes, strict=True) for note in run]
    write_json(f"reports/memory/{kind}/warnings.json", seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=params.MODEL_KINDS)
    kind = parser.parse_args().kind
    seeds = params.load_seeds()
    runs = [
        read_json(
            f"reports/metrics/seeds/{kind}/seed{s}.json", f"run `dvc repro evaluate@{kind}-{s}`"
        )
        for s in seeds
    ]
    write_json(f"reports/metrics/{kind}.json", aggregate.over_seeds(runs, MODEL_KEYS))
    frames = [
        aggregate.read_predictions(
            f"data/predictions/{kind}/seed{s}.parquet", f"run `dvc repro evaluate@{kind}-{s}`"
        )
        for s in seeds
    ]
    prefix = aggregate.prefix_table(frames, runs[0]["test_observations"])
    write_csv(f"reports/prefix/{kind}.csv", prefix)

    folders = [f"reports/connectivity/seeds/{kind}/seed{s}" for s in seeds]
    fixes = [f"run `dvc repro connectivity@{kind}-{s}`" for s in seeds]
    links = [read_json(f"{d}/metrics.json", fix) for d, fix in zip(folders, fixes, strict=True)]
    out = f"reports/connectivity/{kind}"
    keys = [k for k in links[0] if not k.endswith(("_ci_low", "_ci_high"))]
    write_json(f"{out}/metrics.json", aggregate.over_seeds(links, keys))
    tables = [pd.read_csv(f"{d}/distance.csv") for d in folders]
    write_csv(f"{out}/distance.csv", aggregate.curve_over_seeds(tables, "distance", DISTANCE_KEYS))
    sentences = read_json(f"{folders[0]}/sentences.json", fixes[0])
    write_json(f"{out}/sentences.json", {**sentences, "seed": seeds[0]})
    _memory(kind, seeds)


if __name__ == "__main__":
    run_stage(main)
