"""Stage connectivity@<kind>-<seed>: connectivity of the analysis sentences and test observations.

Writes to its `--out` folder, replaced whole, sentences.json (one heat map per sentence of
analysis.sentences), distance.csv (connectivity by distance) and metrics.json (share on the
current word), computed on the first analysis.aggregate_observations test observations.
A sentence mostly outside the vocabulary (the shipped one on another corpus) would be a
figure of `<unknown>` targets; the next unused test observation is drawn instead.
"""

from __future__ import annotations

import sys

import numpy as np

from rnnmem import params
from rnnmem.analysis import connectivity, connectivity_summary
from rnnmem.data import dataset
from rnnmem.device import resolve_device
from rnnmem.files import atomic_dir, write_csv, write_json
from rnnmem.kinds import KINDS
from rnnmem.models import checkpoint
from rnnmem.stage import parse_arguments, run_stage


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


def _encoded(
    sentences: list[str], vocab: dataset.Vocab, split: dataset.Split
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Source and target of each sentence to draw; one whose words are mostly unknown is
    replaced by the next unused test observation, saying so."""
    encoded, drawn = [], 0
    for number, text in enumerate(sentences, start=1):
        source, target, unknown = dataset.encode_sentence(text, vocab)
        starts = source == dataset.SPACE
        missing = int((target[starts] == dataset.UNKNOWN).sum())
        if 2 * missing > starts.sum() and drawn < len(split):
            _warn(
                f"sentence {number}: {missing} of {starts.sum()} words are not in the "
                f"vocabulary; drawing test observation {drawn + 1} instead (set "
                "analysis.sentences in params.yaml to text of this corpus)"
            )
            length = split.length[drawn]
            source, target = split.source[drawn, :length], split.target[drawn, :length]
            drawn += 1
        elif unknown:
            _warn(
                f"sentence {number}: not in the vocabulary, predicted as <unknown>: "
                + ", ".join(unknown)
            )
        encoded.append((source, target))
    return encoded


def main() -> None:
    args = parse_arguments(
        __doc__,
        kinds=KINDS,
        seed=True,
        makers=dict(data="build", model="train@{kind}-{seed}"),
        data="the dataset folder",
        model="the trained model file",
        out="folder for sentences.json, distance.csv and metrics.json",
    )
    run = params.load()
    analysis = run.analysis
    device = resolve_device(params.load_run().device)
    vocab = dataset.load_vocab(args.data)
    split = dataset.load_split(args.data, "test")
    encoded = _encoded(analysis.sentences, vocab, split)
    model, _, _ = checkpoint.load_model(args.model, device, vocab)

    sentences = [
        connectivity.sentence_view(model, vocab, source, target, analysis.top_k)
        for source, target in encoded
    ]
    matrices = connectivity.observation_matrices(model, split, analysis.aggregate_observations)
    sources = [split.source[i, : len(m)] for i, m in enumerate(matrices)]
    targets = [split.target[i, : len(m)] for i, m in enumerate(matrices)]
    distance, metrics = connectivity_summary.summarize(matrices, sources, targets)

    with atomic_dir(args.out) as out:
        write_json(
            out / "sentences.json", {"model": args.kind, "sentences": sentences}, indent=None
        )
        write_csv(out / "distance.csv", distance, float_format=None)
        write_json(out / "metrics.json", metrics)


if __name__ == "__main__":
    run_stage(main)
