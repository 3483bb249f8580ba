"""Stage `train@<kind>`: fit one model on the train split, resuming from a checkpoint if any."""

import argparse

from rnnmem import params
from rnnmem.dataset import load_split, load_vocab
from rnnmem.models import ModelSpec
from rnnmem.stage import run_stage, write_json
from rnnmem.train import fingerprint, train

DATA = "data/autocomplete"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=params.MODEL_KINDS)
    kind = parser.parse_args().kind
    model_params = params.load_model(kind)
    train_params = params.load("train")
    vocab = load_vocab(DATA)
    spec = ModelSpec(kind, len(vocab.chars), len(vocab.words), **vars(model_params))
    result = train(
        spec,
        train_params,
        load_split(DATA, "train"),
        load_split(DATA, "valid"),
        output=f"data/models/{kind}/model.pt",
        checkpoint_dir=f"data/checkpoints/{kind}",
        live_dir=f"reports/train/{kind}",
        fingerprint=fingerprint(kind, model_params, train_params, DATA),
    )
    timing = {"training_seconds": result["training_seconds"], "steps": result["steps"]}
    write_json(f"data/models/{kind}/training.json", timing)


if __name__ == "__main__":
    run_stage(main)
