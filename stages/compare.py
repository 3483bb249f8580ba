"""Stage `compare`: every pair of models on every headline metric, and the `dvc plots` tables.

Writes reports/comparisons.json (difference A - B with its paired-bootstrap 95 % interval over
the shared test observations, seed-pooled, and whether it is significant) and one CSV per
top-level plot of dvc.yaml, with one column per model.
"""

from functools import reduce

import pandas as pd

from rnnmem import params
from rnnmem.analysis import aggregate
from rnnmem.stage import read_json, run_stage, write_csv, write_json


def _wide(tables: dict[str, pd.DataFrame], x: str, y: str) -> pd.DataFrame:
    """One CSV with column `x` and one column per table holding its `y`."""
    columns = [table[[x, y]].rename(columns={y: name}) for name, table in tables.items()]
    return reduce(lambda a, b: a.merge(b, "outer", on=x), columns).sort_values(x)


def main() -> None:
    seeds, kinds = params.load_seeds(), params.load_model_kinds()
    pooled = {}
    for kind in kinds:
        sums = []
        for s in seeds:
            fix = f"run `dvc repro evaluate@{kind}-{s}`"
            n = read_json(f"reports/metrics/seeds/{kind}/seed{s}.json", fix)["test_observations"]
            frame = aggregate.read_predictions(f"data/predictions/{kind}/seed{s}.parquet", fix)
            sums.append(aggregate.prediction_sums(frame, n))
        pooled[kind] = aggregate.pooled(sums)
    comparisons = {
        "seeds": len(seeds),
        "interval": "paired bootstrap over test observations (95 %), seeds pooled",
        "comparisons": aggregate.paired_comparisons(pooled),
    }
    write_json("reports/comparisons.json", comparisons)

    prefix = {kind: pd.read_csv(f"reports/prefix/{kind}.csv") for kind in kinds}
    prefix["dictionary"] = pd.read_csv("reports/prefix/dictionary.csv")
    prefix["ngram"] = pd.read_csv("reports/prefix/ngram.csv")
    write_csv("reports/plots/prefix_accuracy.csv", _wide(prefix, "k", "top1"))
    distance = {kind: pd.read_csv(f"reports/connectivity/{kind}/distance.csv") for kind in kinds}
    write_csv(
        "reports/plots/connectivity_distance.csv", _wide(distance, "distance", "mean_connectivity")
    )
    for name, table, x, y in [
        ("memory_curve", "curve", "distance", "top1_k1"),
        ("memory_connectivity_auc", "connectivity", "distance", "auc_k1"),
        ("context_ablation", "ablation", "window", "difference"),
    ]:
        curves = {kind: pd.read_csv(f"reports/memory/{kind}/{table}.csv") for kind in kinds}
        write_csv(f"reports/plots/{name}.csv", _wide(curves, x, y))


if __name__ == "__main__":
    run_stage(main)
