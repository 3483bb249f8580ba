"""Stage `evaluate@<kind>-<seed>`: one run's test metrics with intervals, and every prediction.

Warns when the model is below a baseline, with advice naming the limit that ended training."""

import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rnnmem import params
from rnnmem.analysis.aggregate import run_metrics
from rnnmem.analysis.metrics import TOP, observation_sums
from rnnmem.analysis.prediction import predict
from rnnmem.data.dataset import letters_typed, load_split, load_vocab
from rnnmem.device import resolve_device
from rnnmem.files import atomic_path, write_json
from rnnmem.kinds import KINDS
from rnnmem.models.checkpoint import load_model
from rnnmem.models.language_model import count_parameters
from rnnmem.stage import parse_arguments, read_json, run_stage


def _lists(values: np.ndarray) -> pa.ListArray:
    """[n, top] array -> list column of n rows."""
    offsets = np.arange(0, values.size + 1, values.shape[1], dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.reshape(-1)))


# Baselines a model must beat, at k = 0, 1 and 2 letters typed (the headline prefix
# accuracies; further in, both are nearly certain and a point difference is noise): name in
# baseline.json -> (what it is, what being below it means).
BELOW = {
    "dictionary": ("the dictionary baseline (no context at all)", "it is undertrained"),
    "ngram": (
        "the n-gram baseline (the previous two words)",
        "nothing shows that it uses longer context",
    ),
}


def _advice(meta: dict) -> str:
    """What to change, naming the limit that ended the model's training."""
    steps, epochs = meta.get("steps"), meta.get("epochs")
    return {
        "max_steps": f"training stopped at train.max_steps = {steps}: raise it (0: no cap)",
        "epochs": f"training ended after train.epochs = {epochs} ({steps} steps): raise it",
        "patience": (
            f"training stopped at step {steps} when the validation loss stopped falling "
            "(train.patience): lower train.learning_rate or raise train.patience"
        ),
    }.get(meta.get("stopped_by"), "train it longer (train.max_steps, train.epochs)")


def main() -> None:
    args = parse_arguments(
        __doc__,
        kinds=KINDS,
        seed=True,
        makers=dict(data="build", model="train@{kind}-{seed}"),
        data="the dataset folder",
        model="the trained model file",
        baseline="the baselines' metrics (JSON)",
        predictions="parquet file of every test prediction to write",
        metrics="JSON file of the test metrics to write",
    )
    run = f"{args.kind}/seed{args.seed}"
    settings = params.load().train
    device = resolve_device(params.load_run().device)
    model, _, meta = load_model(args.model, device, load_vocab(args.data))
    test = load_split(args.data, "test")
    seen = predict(model, test, settings.batch_size, device, desc=f"evaluate {run}")
    k = letters_typed(test.source)[seen.observation, seen.position]

    table = pa.table(
        {
            "observation": pa.array(seen.observation.astype(np.int32)),
            "position": pa.array(seen.position.astype(np.int32)),
            "target": pa.array(seen.target.astype(np.int32)),
            "k": pa.array(k.astype(np.int32)),
            "top_words": _lists(seen.top_words[:, :TOP].astype(np.int32)),
            "top_probs": _lists(seen.top_probs[:, :TOP].astype(np.float32)),
            "target_log_prob": pa.array(seen.target_log_prob.astype(np.float32)),
        }
    )
    with atomic_path(args.predictions) as tmp:
        pq.write_table(table, tmp)
    sums = observation_sums(
        seen.observation, seen.target, k, seen.top_words[:, 0], seen.target_log_prob, len(test)
    )
    metrics = {
        **run_metrics(sums),
        "parameters": count_parameters(model)["total"],
        "seed": args.seed,
        "test_observations": len(test),
    }
    write_json(args.metrics, metrics)
    baseline = read_json(args.baseline, "run `dvc repro baseline`")
    for name, (what, meaning) in BELOW.items():
        below = [
            k
            for k in range(3)
            if metrics.get(f"prefix_top1_k{k}") is not None
            and f"{name}_top1_k{k}" in baseline
            and metrics[f"prefix_top1_k{k}"] < baseline[f"{name}_top1_k{k}"]
        ]
        if below:
            print(
                f"warning: {run} is below {what} at k = {', '.join(map(str, below))}: "
                f"{meaning}; {_advice(meta)}",
                file=sys.stderr,
            )


if __name__ == "__main__":
    run_stage(main)
