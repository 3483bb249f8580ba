"""Stage `train@<kind>-<seed>`: fit one model on the train split, resuming any checkpoint.

Writes the model, its snapshots (before the first step and at every validation) and, through
dvclive, the training curves and the run's metrics (the last curve values, training_seconds
and capped_while_improving) to the `--live` folder."""

import argparse
import dataclasses

from rnnmem import params
from rnnmem.data.dataset import load_split, load_vocab
from rnnmem.device import memory_of, resolve_device
from rnnmem.models.checkpoint import ModelSpec
from rnnmem.models.kinds import KINDS
from rnnmem.stage import made_by, path_options, run_stage
from rnnmem.training.train import fingerprint, train


def main() -> None:
    # First: a seed list DVC expanded into `train@gru-1.0` is named here, in one line, before
    # argparse refuses the "1.0" it was handed; a stray train.seed is refused too.
    run, how = params.load(), params.load_run()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
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
    made_by({args.data: "build"})
    model = run.models[args.kind]
    # The model's own learning rate, where it sets one, so that sweeping it retrains no other.
    rate = model.learning_rate if model.learning_rate is not None else run.train.learning_rate
    schedule = dataclasses.replace(run.train, learning_rate=rate)
    vocab = load_vocab(args.data)
    spec = ModelSpec(
        args.kind,
        len(vocab.chars),
        len(vocab.words),
        units=model.units,
        layers=model.layers,
        depth=model.depth,
        init=model.init,
        vocab_digest=vocab.digest,
    )
    # the validate stage checked this already for `dvc repro`; run by hand, it is checked here
    spec.check_trainable(*memory_of(resolve_device(how.device)))
    settings = {"spec": dataclasses.asdict(spec), "schedule": dataclasses.asdict(schedule)}
    train(
        spec,
        schedule,
        load_split(args.data, "train"),
        load_split(args.data, "valid"),
        seed=args.seed,
        output=args.model,
        checkpoint_dir=args.checkpoints,
        live_dir=args.live,
        snapshot_dir=args.snapshots,
        fingerprint=fingerprint({**settings, "seed": args.seed}, schedule.threads, args.data),
        device=how.device,
        checkpoint_every=how.checkpoint_every,
    )


if __name__ == "__main__":
    run_stage(main)
