"""Stage `build`: the corpus -> the autocomplete dataset folder and its statistics.

Reads the `dataset` section of params.yaml; the work is `rnnmem.data.dataset.build`.
"""

from __future__ import annotations

import argparse

from rnnmem import params
from rnnmem.data import dataset
from rnnmem.stage import atomic_dir, path_options, run_stage, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    path_options(
        parser,
        corpus="the corpus text file",
        out="the dataset folder",
        stats="JSON file of the dataset's statistics",
    )
    args = parser.parse_args()
    settings = params.load("dataset")
    built = dataset.build(dataset.read_corpus(args.corpus), settings, name=args.corpus)
    with atomic_dir(args.out) as tmp:
        dataset.write(built, tmp)
    write_json(args.stats, built.stats)
    sizes = built.stats["observations"]
    print(f"{args.out}: " + ", ".join(f"{n} {name}" for name, n in sizes.items()) + " observations")


if __name__ == "__main__":
    run_stage(main)
