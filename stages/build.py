"""Stage `build`: the corpus -> the autocomplete dataset folder and its statistics.

Reads the `dataset` section of params.yaml; the work is `rnnmem.data.dataset.build`. A test
split too small for its intervals to mean anything is flagged.
"""

from __future__ import annotations

import sys

from rnnmem import params
from rnnmem.data import dataset
from rnnmem.files import atomic_dir, write_json
from rnnmem.stage import parse_arguments, run_stage

# Test observations below which the bootstrap over observations gives no meaningful interval.
MIN_TEST_OBSERVATIONS = 20


def main() -> None:
    args = parse_arguments(
        __doc__,
        makers=dict(corpus="download"),
        corpus="the corpus text file",
        out="the dataset folder",
        stats="JSON file of the dataset's statistics",
    )
    settings = params.load().dataset
    built = dataset.build(
        dataset.read_corpus(args.corpus),
        vocab_size=settings.vocab_size,
        max_length=settings.max_length,
        valid_fraction=settings.valid_fraction,
        test_fraction=settings.test_fraction,
        seed=settings.seed,
        name=str(args.corpus),
    )
    with atomic_dir(args.out) as tmp:
        dataset.write(built, tmp)
    write_json(args.stats, built.stats)
    sizes = built.stats["observations"]
    print(f"{args.out}: " + ", ".join(f"{n} {name}" for name, n in sizes.items()) + " observations")
    if sizes["test"] < MIN_TEST_OBSERVATIONS:
        print(
            f"warning: the test split holds {sizes['test']} observations, fewer than "
            f"{MIN_TEST_OBSERVATIONS}: intervals resampled from so few mean little; use a larger "
            "corpus or raise dataset.test_fraction",
            file=sys.stderr,
        )


if __name__ == "__main__":
    run_stage(main)
