"""Stage connectivity@<kind>-<seed>: connectivity of the analysis sentences and test observations.

Writes to its `--out` folder sentences.json (one heat map per sentence of
analysis.sentences), distance.csv (connectivity by distance) and metrics.json (share on the
current word), computed on the first analysis.aggregate_observations test observations.
"""

from __future__ import annotations

import argparse
import json
import sys

from rnnmem import params
from rnnmem.analysis import connectivity, connectivity_summary
from rnnmem.data import dataset
from rnnmem.device import resolve_device
from rnnmem.models import checkpoint
from rnnmem.stage import path_options, run_stage, write_csv, write_json, write_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=params.MODEL_KINDS)
    parser.add_argument("seed", type=int, help="training seed, one of params.yaml's seeds")
    path_options(
        parser,
        data="the dataset folder",
        model="the trained model file",
        out="folder for sentences.json, distance.csv and metrics.json",
    )
    args = parser.parse_args()
    analysis = params.load("analysis")
    device = resolve_device(params.load("train").device)
    vocab = dataset.load_vocab(args.data)

    encoded = []
    for number, text in enumerate(analysis.sentences, start=1):
        source, target, unknown = dataset.encode_sentence(text, vocab)
        if unknown:
            print(
                f"warning: sentence {number}: not in the vocabulary, predicted as <unknown>: "
                + ", ".join(unknown),
                file=sys.stderr,
            )
        encoded.append((source, target))
    split = dataset.load_split(args.data, "test")
    model, _, _ = checkpoint.load_model(args.model, device)

    sentences = [
        connectivity.sentence_view(model, vocab, source, target, analysis.top_k)
        for source, target in encoded
    ]
    matrices = connectivity.observation_matrices(model, split, analysis.aggregate_observations)
    sources = [split.source[i, : len(m)] for i, m in enumerate(matrices)]
    targets = [split.target[i, : len(m)] for i, m in enumerate(matrices)]
    distance, metrics = connectivity_summary.summarize(matrices, sources, targets)

    out = args.out
    write_text(out / "sentences.json", json.dumps({"model": args.kind, "sentences": sentences}))
    write_csv(out / "distance.csv", distance, float_format=None)
    write_json(out / "metrics.json", metrics)


if __name__ == "__main__":
    run_stage(main)
