"""Stage `build`: the corpus -> the autocomplete dataset folder and its statistics.

Reads the `dataset` section of params.yaml; the work is `rnnmem.data.dataset.build`. A test
split too small for its intervals to mean anything is flagged, and so is an observation
length that leaves out most of the words.
"""

from __future__ import annotations

import sys

from rnnmem import params
from rnnmem.data import dataset
from rnnmem.files import atomic_dir, write_json
from rnnmem.stage import parse_arguments, run_stage

# Test observations below which the bootstrap over observations gives no meaningful interval.
MIN_TEST_OBSERVATIONS = 20


def dropped_words(stats: dict, max_length: int) -> str | None:
    """What to say when dataset.max_length leaves out most of the corpus's words (a word needs
    a space before it, so a word of max_length letters or more fits no observation)."""
    share = stats["dropped_words"] / stats["words"]
    if share <= 0.5:
        return None
    return (
        f"dataset.max_length = {max_length} leaves out {share:.0%} of the corpus's words "
        f"({stats['dropped_words']:,} of {stats['words']:,}: those of {max_length} letters or "
        "more); the dataset describes what is left; raise dataset.max_length"
    )


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
    dropped = dropped_words(built.stats, settings.max_length)
    if dropped:
        print(f"warning: {dropped}", file=sys.stderr)
    if sizes["test"] < MIN_TEST_OBSERVATIONS:
        print(
            f"warning: the test split holds {sizes['test']} observations, fewer than "
            f"{MIN_TEST_OBSERVATIONS}: intervals resampled from so few mean little; use a larger "
            "corpus or raise dataset.test_fraction",
            file=sys.stderr,
        )


if __name__ == "__main__":
    run_stage(main)
