"""Stage `train@<kind>-<seed>`: fit one model on the train split, resuming any checkpoint."""

import argparse
import dataclasses

from rnnmem import params
from rnnmem.data.dataset import load_split, load_vocab
from rnnmem.models.checkpoint import ModelSpec
from rnnmem.stage import run_stage, write_json
from rnnmem.training.train import fingerprint, train

DATA = "data/autocomplete"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=params.MODEL_KINDS)
    parser.add_argument("seed", type=int, help="training seed, one of params.yaml's seeds")
    args = parser.parse_args()
    kind, run = args.kind, f"{args.kind}/seed{args.seed}"
    params.load_seeds()  # rejects a stray train.seed
    model_params = params.load_model(kind)
    train_params = dataclasses.replace(params.load("train"), seed=args.seed)
    vocab = load_vocab(DATA)
    spec = ModelSpec(kind, len(vocab.chars), len(vocab.words), **vars(model_params))
    result = train(
        spec,
        train_params,
        load_split(DATA, "train"),
        load_split(DATA, "valid"),
        output=f"data/models/{run}/model.pt",
        checkpoint_dir=f"data/checkpoints/{run}",
        live_dir=f"reports/train/{run}",
        fingerprint=fingerprint(kind, model_params, train_params, DATA),
    )
    timing = {key: result[key] for key in ("training_seconds", "steps", "capped_while_improving")}
    write_json(f"data/models/{run}/training.json", timing)


if __name__ == "__main__":
    run_stage(main)
