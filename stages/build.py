"""Stage `build`: data/corpus/corpus.txt -> data/autocomplete/ and reports/dataset.json.

Reads the `dataset` section of params.yaml; the work is `rnnmem.data.dataset.build`.
"""

from __future__ import annotations

import argparse

from rnnmem import params
from rnnmem.data import dataset
from rnnmem.stage import atomic_dir, run_stage, write_json

CORPUS = "data/corpus/corpus.txt"
OUTPUT = "data/autocomplete"
REPORT = "reports/dataset.json"


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    settings = params.load("dataset")
    built = dataset.build(dataset.read_corpus(CORPUS), settings, name=CORPUS)
    with atomic_dir(OUTPUT) as tmp:
        dataset.write(built, tmp)
    write_json(REPORT, built.stats)
    sizes = built.stats["observations"]
    print(f"{OUTPUT}: " + ", ".join(f"{n} {name}" for name, n in sizes.items()) + " observations")


if __name__ == "__main__":
    run_stage(main)
