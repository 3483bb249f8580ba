"""Stage `aggregate@<kind>`: one model's results over the seeds in params.yaml, with intervals.

Writes the model's metrics (each metric's mean and 95 % interval, the seed count and which
interval; the test metrics with the train stage's training_seconds and
capped_while_improving), its prefix accuracy (with a top-1 band), its connectivity (metrics
and distance profile over seeds, and the first seed's sentences for the heat maps) and its
memory measures with their curves (means over seeds; one seed keeps its own bootstrap
intervals) and its recall over training (the gap by step over seeds, how many seeds recall and
the median steps to recall), each where dvc.yaml says, and the model's headline: the few of
these numbers the registry marks, the only ones DVC declares as metrics. A flag becomes the
number of seeds where it holds. The connectivity, memory-curve and recall folders are replaced
whole, so a run stopped halfway never leaves new files beside old ones.
"""

import argparse
from pathlib import Path

import pandas as pd

from rnnmem import params
from rnnmem.analysis import aggregate, registry
from rnnmem.analysis.metrics import HEADLINE
from rnnmem.files import atomic_dir, write_csv, write_json
from rnnmem.kinds import KINDS
from rnnmem.stage import made_by, parse_arguments, read_json, run_stage

TRAINING_KEYS = ("training_seconds", "capped_while_improving")  # from the train stage
TRAINING_FLAGS = ("capped_while_improving",)  # written as 0 or 1
MODEL_KEYS = (*HEADLINE, "parameters", *TRAINING_KEYS)
DISTANCE_KEYS = ("mean_connectivity", "mean_log_share", "share")
MEMORY_CURVES = {
    "curve.csv": "distance",
    "connectivity.csv": "distance",
    "long_curve.csv": "distance",
    "ablation.csv": "window",
    "natural.csv": "distance",
}
SEED_FOLDERS = [f"seed_{part}" for part in ("predictions", "metrics", "training")]
SEED_FOLDERS += [f"seed_{part}" for part in ("connectivity", "memory", "recall")]
MEMORY_FLAGS = (
    "memory_span_censored",
    "memory_half_life_censored",
    "memory_half_life_confounded",
    "effective_context_censored",
    "effective_context_tolerance_sensitive",
    "recalls_k1",
    "below_placebos_k1",
    "natural_span_censored",
    "natural_recalls_k1",
)


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


def _recall(args: argparse.Namespace, seeds: list[int]) -> dict:
    """Recall over training over the seeds: the mean gap by step (a curve), how many seeds
    recall, and the median steps to recall over those that do."""
    folders = [args.seed_recall / f"seed{s}" for s in seeds]
    fixes = [f"run `dvc repro recall@{args.kind}-{s}`" for s in seeds]
    runs = [read_json(d / "metrics.json", fix) for d, fix in zip(folders, fixes, strict=True)]
    curve = _memory_curve([d / "curve.csv" for d in folders], "step")
    with atomic_dir(args.recall) as out:
        write_csv(out / "curve.csv", curve)
    return aggregate.recall_over_seeds(runs)


def _memory(args: argparse.Namespace, seeds: list[int]) -> dict:
    """The memory measures over the seeds, with recall over training; their curves and the
    seeds' warnings go to the memory-curve folder."""
    folders = [args.seed_memory / f"seed{s}" for s in seeds]
    fixes = [f"run `dvc repro memory@{args.kind}-{s}`" for s in seeds]
    runs = [read_json(d / "metrics.json", fix) for d, fix in zip(folders, fixes, strict=True)]
    keys = [
        key
        for key, value in runs[0].items()
        if key != "seed"
        and not key.endswith(("_ci_low", "_ci_high"))
        and (value is None or isinstance(value, int | float))
    ]
    curves = {
        name: _memory_curve([d / name for d in folders], x) for name, x in MEMORY_CURVES.items()
    }
    notes = [read_json(d / "warnings.json", fix) for d, fix in zip(folders, fixes, strict=True)]
    seen = [f"seed {s}: {note}" for s, run in zip(seeds, notes, strict=True) for note in run]
    memory = aggregate.over_seeds(runs, keys, MEMORY_FLAGS) | _recall(args, seeds)
    settings = params.load().memory  # the bars the report reads the figures with
    memory |= {
        "min_gap": settings.min_gap,
        "min_effect_nats": settings.min_effect_nats,
        "ablation_tolerance_nats": settings.ablation_tolerance_nats,
    }
    write_json(args.memory, memory)
    with atomic_dir(args.memory_curves) as out:
        for name, curve in curves.items():
            write_csv(out / name, curve)
        write_json(out / "warnings.json", seen)
    return memory


def _run(args: argparse.Namespace, seed: int) -> dict:
    """One seed's test metrics with what its training took."""
    metrics = read_json(
        args.seed_metrics / f"seed{seed}.json", f"run `dvc repro evaluate@{args.kind}-{seed}`"
    )
    training = read_json(
        args.seed_training / f"seed{seed}" / "metrics.json",
        f"run `dvc repro train@{args.kind}-{seed}`",
    )
    return metrics | {key: training[key] for key in TRAINING_KEYS}


def main() -> None:
    args = parse_arguments(
        __doc__,
        kinds=KINDS,
        seed_predictions="folder of <model>/seed<N>.parquet, each run's test predictions",
        seed_metrics="folder of <model>/seed<N>.json, each run's test metrics",
        seed_training="folder of <model>/seed<N>/metrics.json, each run's training metrics",
        seed_connectivity="folder of <model>/seed<N>/, each run's connectivity",
        seed_memory="folder of <model>/seed<N>/, each run's memory measures",
        metrics="JSON file of the metrics over seeds to write",
        prefix="CSV file of the prefix accuracy over seeds to write",
        connectivity="folder for the connectivity over seeds",
        memory="JSON file of the memory measures over seeds to write",
        memory_curves="folder for the memory curves over seeds and their warnings",
        seed_recall="folder of <model>/seed<N>/, each run's recall over training",
        recall="folder for the recall-over-training curve over seeds",
        headline="JSON file of the model's headline metrics to write",
    )
    kind, seeds = args.kind, params.load().seeds
    # dvc.yaml hands every model's folders (one dependency for all models, not one each):
    # this model's runs are in the <model> subfolder of each.
    for name in SEED_FOLDERS:
        setattr(args, name, getattr(args, name) / kind)
    runs = [_run(args, s) for s in seeds]
    metrics = aggregate.over_seeds(runs, MODEL_KEYS, TRAINING_FLAGS)
    write_json(args.metrics, metrics)
    predictions = {
        args.seed_predictions / f"seed{s}.parquet": f"evaluate@{kind}-{s}" for s in seeds
    }
    made_by(predictions)
    frames = [aggregate.read_predictions(path) for path in predictions]
    prefix = aggregate.prefix_table(frames, runs[0]["test_observations"])
    write_csv(args.prefix, prefix)

    folders = [args.seed_connectivity / f"seed{s}" for s in seeds]
    fixes = [f"run `dvc repro connectivity@{kind}-{s}`" for s in seeds]
    links = [read_json(d / "metrics.json", fix) for d, fix in zip(folders, fixes, strict=True)]
    keys = [k for k in links[0] if not k.endswith(("_ci_low", "_ci_high"))]
    tables = [pd.read_csv(d / "distance.csv") for d in folders]
    sentences = read_json(folders[0] / "sentences.json", fixes[0])
    with atomic_dir(args.connectivity) as out:
        write_json(out / "metrics.json", aggregate.over_seeds(links, keys))
        write_csv(
            out / "distance.csv", aggregate.curve_over_seeds(tables, "distance", DISTANCE_KEYS)
        )
        write_json(out / "sentences.json", {**sentences, "seed": seeds[0]})
    memory = _memory(args, seeds)
    write_json(args.headline, registry.headline({"metrics": metrics, "memory": memory}))


if __name__ == "__main__":
    run_stage(main)
