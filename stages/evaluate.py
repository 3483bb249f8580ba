"""Stage `evaluate@<kind>`: test metrics, every test prediction and prefix accuracy."""

import argparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rnnmem import params
from rnnmem.dataset import letters_typed, load_split
from rnnmem.metrics import TOP, predict, prefix_accuracy
from rnnmem.models import count_parameters, load_model, resolve_device
from rnnmem.stage import atomic_path, read_json, run_stage, write_json, write_text

DATA = "data/autocomplete"


def _lists(values: np.ndarray) -> pa.ListArray:
    """[n, top] array -> list column of n rows."""
    offsets = np.arange(0, values.size + 1, values.shape[1], dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.reshape(-1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=params.MODEL_KINDS)
    kind = parser.parse_args().kind
    train_params = params.load("train")
    device = resolve_device(train_params.device)
    model, _, _ = load_model(f"data/models/{kind}/model.pt", device)
    training = read_json(f"data/models/{kind}/training.json", f"run `dvc repro train@{kind}`")
    test = load_split(DATA, "test")
    seen = predict(model, test, train_params.batch_size, device, desc=f"evaluate {kind}")
    k = letters_typed(test.source)[seen.observation, seen.position]
    prefix = prefix_accuracy(k, seen.target, seen.top_words)
    top1 = {int(j): float(v) for j, v in zip(prefix["k"], prefix["top1"], strict=True)}

    table = pa.table(
        {
            "observation": pa.array(seen.observation.astype(np.int32)),
            "position": pa.array(seen.position.astype(np.int32)),
            "target": pa.array(seen.target.astype(np.int32)),
            "k": pa.array(k.astype(np.int32)),
            "top_words": _lists(seen.top_words[:, :TOP].astype(np.int32)),
            "top_probs": _lists(seen.top_probs[:, :TOP].astype(np.float32)),
        }
    )
    with atomic_path(f"data/predictions/{kind}.parquet") as tmp:
        pq.write_table(table, tmp)
    write_text(f"reports/prefix/{kind}.csv", prefix.to_csv(index=False, float_format="%.6f"))
    metrics = {
        "cross_entropy": seen.cross_entropy,
        "accuracy": seen.accuracy,
        "parameters": count_parameters(model)["total"],
        "training_seconds": training["training_seconds"],
        **{f"prefix_top1_k{j}": top1.get(j) for j in range(3)},  # None: no such k
    }
    write_json(f"reports/metrics/{kind}.json", metrics)


if __name__ == "__main__":
    run_stage(main)
