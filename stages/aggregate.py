"""Stage `aggregate@<kind>`: one model's results over the seeds in params.yaml, with intervals.

Writes reports/metrics/<kind>.json (each metric's mean and 95 % interval, the seed count and
which interval), reports/prefix/<kind>.csv (prefix accuracy with a top-1 band) and
reports/connectivity/<kind>/ (metrics and distance profile over seeds, and the first seed's
sentences for the heat maps).
"""

import argparse

import pandas as pd

from rnnmem import aggregate, params
from rnnmem.metrics import HEADLINE
from rnnmem.stage import read_json, run_stage, write_json, write_text

MODEL_KEYS = (*HEADLINE, "parameters", "training_seconds")
DISTANCE_KEYS = ("mean_connectivity", "mean_log_share", "share")


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
    write_text(f"reports/prefix/{kind}.csv", prefix.to_csv(index=False, float_format="%.6g"))

    folders = [f"reports/connectivity/seeds/{kind}/seed{s}" for s in seeds]
    fixes = [f"run `dvc repro connectivity@{kind}-{s}`" for s in seeds]
    links = [read_json(f"{d}/metrics.json", fix) for d, fix in zip(folders, fixes, strict=True)]
    out = f"reports/connectivity/{kind}"
    write_json(f"{out}/metrics.json", aggregate.over_seeds(links, list(links[0])))
    tables = [pd.read_csv(f"{d}/distance.csv") for d in folders]
    distance = aggregate.distance_over_seeds(tables, DISTANCE_KEYS)
    write_text(f"{out}/distance.csv", distance.to_csv(index=False, float_format="%.6g"))
    sentences = read_json(f"{folders[0]}/sentences.json", fixes[0])
    write_json(f"{out}/sentences.json", {**sentences, "seed": seeds[0]})


if __name__ == "__main__":
    run_stage(main)
