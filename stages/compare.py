"""Stage `compare`: every pair of models on every headline metric and memory measure, and the
`dvc plots` tables.

Writes the comparisons (difference A - B with its paired-bootstrap 95 % interval over
the shared test observations, seed-pooled, and whether it is significant; the memory
measures under `memory_comparisons`, from the memory stages' per-pair tables) and one CSV
per top-level plot of dvc.yaml into a plots folder replaced whole. Each plot table is long: its
x, a `model` column naming the line (the models of params.yaml, and the baselines or placebos
a panel sets beside them) and the value, so dvc.yaml's panels name no model and follow
params.yaml's `models` (the `models` plot templates colour a line per `model`).
"""

import argparse
from pathlib import Path

import pandas as pd

from rnnmem import params
from rnnmem.analysis import aggregate
from rnnmem.analysis.memory import comparison
from rnnmem.data import probe
from rnnmem.files import atomic_dir, write_csv, write_json
from rnnmem.stage import UserError, made_by, path_options, read_json, run_stage

BASELINES = ("dictionary", "ngram")  # the baseline stage's prefix tables
# Training curves drawn with every model on one panel: table name -> dvclive metric.
TRAINING_CURVES = {
    "train_loss": "train/loss",
    "valid_loss": "valid/loss",
    "valid_accuracy": "valid/accuracy",
}


def _long(
    tables: dict[str, pd.DataFrame], x: str, y: str, value: str | None = None
) -> pd.DataFrame:
    """One plot table: columns `x`, model (each table's name) and `value` (default `y`), each
    table's `y` by `x`."""
    value = value or y
    lines = [
        pd.DataFrame({x: table[x], "model": name, value: table[y]})
        for name, table in tables.items()
    ]
    return pd.concat(lines, ignore_index=True)


def _training_curve(runs: Path, seeds: list[int], metric: str) -> pd.DataFrame:
    """One model's dvclive curve `metric` ("valid/loss") by step, the mean over seeds, in a
    column named as its last part ("loss")."""
    tables = [
        pd.read_csv(runs / f"seed{s}" / "plots" / "metrics" / f"{metric}.tsv", sep="\t")
        for s in seeds
    ]
    value = metric.split("/")[-1]
    return pd.concat(tables).groupby("step", as_index=False)[value].mean()


def _memory_tables(folder: Path, kinds: list[str], seeds: list[int]) -> dict | None:
    """Every run's per-pair memory tables, or None on a corpus without planted pairs."""
    runs = {}
    for kind in kinds:
        runs[kind] = []
        for s in seeds:
            run = folder / kind / f"seed{s}"
            fix = f"run `dvc repro memory@{kind}-{s}`"
            try:
                tables = [pd.read_parquet(run / f"{n}.parquet") for n in comparison.TABLES]
            except (FileNotFoundError, OSError):
                raise UserError(f"{run} lacks the memory stage's tables; {fix}") from None
            if not (tables[0]["kind"] == probe.RECALL).any():
                return None  # the memory stage found no planted pairs
            runs[kind].append(comparison.MemoryTables(*tables))
    return runs


def _natural_tables(folder: Path, kinds: list[str], seeds: list[int]) -> dict:
    """Every run's tables of memory on repeated words: (items with scores, swap effects)."""
    runs = {}
    for kind in kinds:
        runs[kind] = []
        for s in seeds:
            run = folder / kind / f"seed{s}"
            try:
                tables = [pd.read_parquet(run / f"{n}.parquet") for n in comparison.NATURAL_TABLES]
            except (FileNotFoundError, OSError):
                fix = f"run `dvc repro memory@{kind}-{s}`"
                raise UserError(f"{run} lacks the memory stage's tables; {fix}") from None
            runs[kind].append(tuple(tables))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    path_options(
        parser,
        predictions="folder of <model>/seed<N>.parquet, every run's test predictions",
        metrics="folder of seeds/<model>/seed<N>.json, every run's test metrics",
        prefix="folder of <model>.csv and the baselines' prefix-accuracy tables",
        connectivity="folder of <model>/distance.csv",
        memory="folder of <model>/<curve>.csv",
        recall="folder of <model>/curve.csv, recall over training",
        memory_items="folder of <model>/seed<N>/, every run's per-pair memory tables",
        natural="folder of items.parquet, the test split's word starts with the n-gram's hits",
        out="JSON file of the comparisons to write",
        train="folder of <model>/seed<N>/, every run's dvclive curves",
        plots="folder for the top-level plots' tables",
    )
    args = parser.parse_args()
    run = params.load()
    seeds, kinds = run.seeds, list(run.models)
    pooled = {}
    for kind in kinds:
        sums = []
        for s in seeds:
            fix = f"run `dvc repro evaluate@{kind}-{s}`"
            metrics = read_json(args.metrics / "seeds" / kind / f"seed{s}.json", fix)
            path = args.predictions / kind / f"seed{s}.parquet"
            made_by({path: f"evaluate@{kind}-{s}"})
            frame = aggregate.read_predictions(path)
            n = metrics["test_observations"]
            sums.append(aggregate.prediction_sums(frame, n))
        pooled[kind] = aggregate.pooled(sums)
    settings = run.memory
    made_by({args.natural: "baseline"})
    ngram = pd.read_parquet(args.natural / "items.parquet")
    natural = _natural_tables(args.memory_items, kinds, seeds)
    planted = _memory_tables(args.memory_items, kinds, seeds)
    comparisons = {
        "seeds": len(seeds),
        "interval": "paired bootstrap over test observations (95 %), seeds pooled",
        "comparisons": aggregate.paired_comparisons(pooled),
        "memory_interval": comparison.INTERVAL,
        "memory_comparisons": []
        if planted is None
        else comparison.paired_memory(planted, [n for _, n in probe.NAME_CLASSES], settings.seed),
        "natural_comparisons": comparison.paired_natural(natural, ngram, settings.seed),
    }
    write_json(args.out, comparisons)

    prefix = {name: pd.read_csv(args.prefix / f"{name}.csv") for name in (*kinds, *BASELINES)}
    distance = {kind: pd.read_csv(args.connectivity / kind / "distance.csv") for kind in kinds}
    memory_curves = {kind: pd.read_csv(args.memory / kind / "curve.csv") for kind in kinds}
    lines = [_long(memory_curves, "distance", "top1_k1")]
    if planted is not None:  # without planted pairs the curves have no placebo column
        placebos = {f"{kind}_placebo": table for kind, table in memory_curves.items()}
        lines.append(_long(placebos, "distance", "placebo_top1_k1", "top1_k1"))
    tables = {
        "prefix_accuracy": _long(prefix, "k", "top1"),
        "connectivity_distance": _long(distance, "distance", "mean_connectivity"),
        "memory_curve": pd.concat(lines, ignore_index=True),
    }
    for name, table, x, y in [
        ("memory_connectivity_auc", "connectivity", "distance", "connectivity_auc_k0"),
        ("memory_long_range", "long_curve", "distance", "gap_k1"),
        ("context_ablation", "ablation", "window", "difference"),
        ("natural_memory_curve", "natural", "distance", "swap_effect_k1"),
    ]:
        curves = {kind: pd.read_csv(args.memory / kind / f"{table}.csv") for kind in kinds}
        tables[name] = _long(curves, x, y)
    recall = {kind: pd.read_csv(args.recall / kind / "curve.csv") for kind in kinds}
    tables["recall_gap"] = _long(recall, "step", "gap")
    for name, metric in TRAINING_CURVES.items():
        curves = {kind: _training_curve(args.train / kind, seeds, metric) for kind in kinds}
        tables[name] = _long(curves, "step", metric.split("/")[-1])
    with atomic_dir(args.plots) as out:
        for name, table in tables.items():
            write_csv(out / f"{name}.csv", table)


if __name__ == "__main__":
    run_stage(main)
