"""Stage `baseline`: prefix accuracy on the test split of dictionary completion (no context) and
of the n-gram-plus-prefix model (the previous two words, counted on the train split); on a
corpus with planted pairs, also the n-gram's top-1 on referents and placebos, which says
whether local context alone can name them."""

import argparse

import numpy as np
import pandas as pd

from rnnmem.analysis.memory import planted_items
from rnnmem.analysis.metrics import dictionary_completion, prefix_accuracy
from rnnmem.analysis.ngram import NGram, previous_words
from rnnmem.data.dataset import letters_typed, load_split, load_vocab
from rnnmem.stage import path_options, run_stage, write_csv, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    path_options(
        parser,
        data="the dataset folder",
        dependencies="the corpus's planted pairs (parquet; may be absent)",
        prefix="folder for the baselines' prefix-accuracy tables",
        out="JSON file of the baselines' metrics",
    )
    args = parser.parse_args()
    test = load_split(args.data, "test")
    words = load_vocab(args.data).words
    typed = letters_typed(test.source)
    second, first = previous_words(test.source, test.target)
    ngram = NGram(words, load_split(args.data, "train"))
    k, target = typed.reshape(-1), test.target.reshape(-1)
    baselines = {
        "dictionary": dictionary_completion(words, target, k),
        "ngram": ngram.guesses(second.reshape(-1), first.reshape(-1), target, k),
    }
    metrics = {}
    for name, guesses in baselines.items():
        table = prefix_accuracy(k, target, guesses)
        write_csv(args.prefix / f"{name}.csv", table, float_format="%.6f")
        for j, top1 in zip(table["k"], table["top1"], strict=True):
            if j <= 2:
                metrics[f"{name}_top1_k{j}"] = float(top1)
    pairs = args.dependencies
    items = planted_items(test, pd.read_parquet(pairs)) if pairs.is_file() else None
    for kind in ("recall", "placebo"):
        if items is None or not (items["kind"] == kind).any():
            continue
        chosen = items[items["kind"] == kind]
        row = chosen["observation"].to_numpy()
        for j in (0, 1):
            at = (row, chosen["position"].to_numpy() + j)
            guesses = ngram.guesses(second[at], first[at], test.target[at], typed[at])
            hit = guesses[:, 0] == test.target[at]
            name = "referent" if kind == "recall" else "placebo"
            metrics[f"ngram_{name}_top1_k{j}"] = float(np.mean(hit))
    write_json(args.out, metrics)


if __name__ == "__main__":
    run_stage(main)
