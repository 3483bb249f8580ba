"""How the half-life's rules behave on simulated models whose answer is known.

On the long-range probe as the longprobe stage writes it (at several `memory.long_probe_pairs`),
top-1 at k = 1 is drawn at random: placebos named with chance 0.25, referents with chance 0.5 at
every distance and position (a memory that never fades and does not care where it is). Printed
per pairs-per-bucket setting, over `--draws` draws:

- censored: draws whose half-life reads censored (the right answer: it never fades);
- withheld: draws whose half-life is withheld, confounded or without a reference gap;
- flagged if "excludes 0": draws whose position effect's interval excludes 0, the flag the
  rule would raise if its bar were 0 instead of `memory.min_gap` (there is no position effect).

    python benchmarks/half_life_calibration.py --pairs 20 50 --draws 60 > out.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from rnnmem.analysis.memory import half_life, planted
from rnnmem.analysis.stats import Resampling
from rnnmem.data import dataset, probe
from rnnmem.data.dataset import CHARS, Vocab
from rnnmem.files import json_text

LENGTH, LATE_FROM, MIN_GAP = 1000, 200, 0.05  # params.yaml's long probe and recall bar


def long_items(pairs: int, directory: Path) -> pd.DataFrame:
    """The planted items of the long-range probe with `pairs` per bucket."""
    corpus = probe.build_long(LENGTH, LATE_FROM, pairs, seed=0)
    words = ["<pad>", "<unknown>", *sorted(set(corpus.text.split()))]
    documents = corpus.documents
    table = dataset.encode_observations(
        corpus.text, documents["start"].to_numpy(), documents["end"].to_numpy(), Vocab(CHARS, words)
    )
    pq.write_table(table, directory / "test.parquet")
    split = dataset.load_split(directory, "test")
    return planted.planted_items(split, corpus.dependencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--draws", type=int, default=60)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    edges = probe.long_edges(LENGTH)
    found = []
    for pairs in args.pairs:
        items = long_items(pairs, Path(tempfile.mkdtemp()))
        resampling = Resampling.over(items["observation"].to_numpy(), 0, args.resamples)
        counts = {"censored": 0, "withheld": 0, 'flagged if "excludes 0"': 0}
        for draw in range(args.draws):
            rng = np.random.default_rng(draw)
            chance = np.where(items["kind"] == probe.RECALL, 0.5, 0.25)
            hits = (rng.random(len(items)) < chance).astype(np.float64)
            scores = pd.DataFrame({"top1_k1": hits}, index=items.index)
            _, summary = half_life.half_life(items, scores, resampling, edges, LATE_FROM, MIN_GAP)
            low, high = summary["memory_position_effect_k1_interval"]
            counts["censored"] += summary["memory_half_life_censored"] is True
            counts["withheld"] += summary["memory_half_life_chars"] is None
            counts['flagged if "excludes 0"'] += bool(low > 0 or high < 0)
        found.append({"pairs_per_bucket": pairs, "draws": args.draws, **counts})
        print(found[-1], file=sys.stderr)
    print(json_text(found))


if __name__ == "__main__":
    main()
