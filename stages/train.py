"""Stage `train@<kind>-<seed>`: fit one model on the train split, resuming any checkpoint.

Writes the model of the lowest validation loss, the snapshots (before the first step and at
every validation) and, through dvclive, the training curves and the run's metrics (the last
curve values, training_seconds, capped_while_improving and kept_step, the step of the model
written) to the `--live` folder."""

import dataclasses

from rnnmem import params
from rnnmem.data.dataset import load_split, load_vocab
from rnnmem.device import memory_of, resolve_device
from rnnmem.kinds import KINDS
from rnnmem.models.checkpoint import ModelSpec
from rnnmem.stage import parse_arguments, run_stage
from rnnmem.training.train import fingerprint, train


def main() -> None:
    # First: a seed list DVC expanded into `train@gru-1.0` is named here, in one line, before
    # argparse refuses the "1.0" it was handed; a stray train.seed is refused too.
    run, how = params.load(), params.load_run()
    args = parse_arguments(
        __doc__,
        kinds=KINDS,
        seed=True,
        makers=dict(data="build"),
        data="the dataset folder",
        model="the model file to write",
        checkpoints="folder for the resumable training state (removed when done)",
        live="dvclive folder: curves under plots/, the run's metrics.json",
        snapshots="folder for the model at every validation (step-NNNNNNNN.pt)",
    )
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
