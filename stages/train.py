"""Stage `train@<kind>-<seed>`: fit one model on the train split, resuming any checkpoint.

Writes the model, its snapshots (before the first step and at every validation) and, through
dvclive, the training curves and the run's metrics (the last curve values, training_seconds
and capped_while_improving) to the `--live` folder."""

import argparse

from rnnmem import params
from rnnmem.data.dataset import load_split, load_vocab
from rnnmem.models.checkpoint import ModelSpec
from rnnmem.stage import path_options, run_stage
from rnnmem.training.train import fingerprint, train


def main() -> None:
    # First: a seed list DVC expanded into `train@gru-1.0` is named here, in one line, before
    # argparse refuses the "1.0" it was handed; a stray train.seed is refused too.
    params.load_seeds()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=params.MODEL_KINDS)
    parser.add_argument("seed", type=int, help="training seed, one of params.yaml's seeds")
    path_options(
        parser,
        data="the dataset folder",
        model="the model file to write",
        checkpoints="folder for the resumable training state (removed when done)",
        live="dvclive folder: curves under plots/, the run's metrics.json",
        snapshots="folder for the model at every validation (step-NNNNNNNN.pt)",
    )
    args = parser.parse_args()
    model_params, train_params = params.load_run(args.kind, args.seed)
    vocab = load_vocab(args.data)
    spec = ModelSpec(args.kind, len(vocab.chars), len(vocab.words), **model_params.architecture())
    train(
        spec,
        train_params,
        load_split(args.data, "train"),
        load_split(args.data, "valid"),
        output=args.model,
        checkpoint_dir=args.checkpoints,
        live_dir=args.live,
        snapshot_dir=args.snapshots,
        fingerprint=fingerprint(args.kind, model_params, train_params, args.data),
    )


if __name__ == "__main__":
    run_stage(main)
