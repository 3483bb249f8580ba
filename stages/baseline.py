"""Stage `baseline`: prefix accuracy on the test split of dictionary completion (no context) and
of the n-gram-plus-prefix model (the previous two words, counted on the train split); on a
corpus with planted pairs, also the n-gram's top-1 on referents and on position-matched
placebos with the gap between them and their intervals, which says whether local context
alone can name a referent, and how many pairs the test split holds (too few for a memory
measure to mean anything is flagged). On any corpus, the test split's word starts for memory on
words that repeat (`analysis.memory.natural`), with the n-gram's hits and its repeat gain."""

import argparse
import sys

import numpy as np
import pandas as pd

from rnnmem import params
from rnnmem.analysis.memory import natural
from rnnmem.analysis.memory.matching import matched_gap
from rnnmem.analysis.memory.planted import planted_items
from rnnmem.analysis.metrics import dictionary_completion, prefix_accuracy
from rnnmem.analysis.ngram import NGram, previous_words
from rnnmem.analysis.stats import Resampling, interval
from rnnmem.data.corpus import read_dependencies
from rnnmem.data.dataset import Split, letters_typed, load_split, load_vocab
from rnnmem.data.probe import RECALL
from rnnmem.files import atomic_dir, csv_text, json_text, write_texts
from rnnmem.stage import made_by, path_options, run_stage

MIN_PAIRS = 20  # planted pairs in the test split below which memory measures are flagged


def _planted(
    ngram: NGram,
    test: Split,
    items: pd.DataFrame,
    second: np.ndarray,
    first: np.ndarray,
    typed: np.ndarray,
    seed: int,
) -> dict[str, float]:
    """The n-gram's top-1 on the referents and on the placebos weighed to the referents'
    positions (`matching.matched_gap`, as the models are read), and the gap between them, at
    k = 0 and k = 1, each with its 95 % bootstrap interval over test observations: can local
    context alone name a referent?"""
    row, position = items["observation"].to_numpy(), items["position"].to_numpy()
    hits = {}
    for j in (0, 1):
        at = (row, position + j)
        guesses = ngram.guesses(second[at], first[at], test.target[at], typed[at])
        hits[f"top1_k{j}"] = (guesses[:, 0] == test.target[at]).astype(np.float64)
    data = items.join(pd.DataFrame(hits, index=items.index))
    resampling = Resampling.over(row, seed)
    metrics = {}
    for j in (0, 1):
        gap = matched_gap(data, f"top1_k{j}", resampling)
        for name, value, reps in (
            ("referent_top1", gap.referent, gap.referent_reps),
            ("placebo_top1", gap.placebo, gap.placebo_reps),
            ("recall_gap", gap.gap, gap.gap_reps),
        ):
            key = f"ngram_{name}_k{j}"
            metrics[key] = float(value)
            metrics[f"{key}_ci_low"], metrics[f"{key}_ci_high"] = interval(reps)
    return metrics


def _natural(
    test: Split, train: Split, words: list[str], guesses: np.ndarray, settings: params.MemoryParams
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Memory on any text (words that repeat): the test split's eligible word starts with the
    n-gram's top-1 at k = 0 and k = 1 (`natural.word_starts`, one table every memory stage
    reads), and the n-gram's repeat gain with its interval, the bar a model's gain is read
    against: a second mention has other local context, and the n-gram, which has no memory,
    gains from it too."""
    items = natural.word_starts(test, words, natural.common_words(train, settings.common_words))
    flat = items["observation"].to_numpy() * test.source.shape[1] + items["position"].to_numpy()
    for j in (0, 1):
        hit = guesses[flat + j, 0] == test.target.reshape(-1)[flat + j]
        items[f"top1_k{j}"] = hit.astype(np.float64)
    metrics = {"natural_repeats": int(items["repeat"].sum())}
    keys = {"repeat": "ngram_repeat_top1", "first": "ngram_first_top1", "gain": "ngram_repeat_gain"}
    if items["repeat"].any():
        resampling = Resampling.over(items["observation"].to_numpy(), settings.seed)
        for j in (0, 1):
            for name, (value, reps) in natural.repeat_gain(items, f"top1_k{j}", resampling).items():
                key = f"{keys[name]}_k{j}"
                metrics[key] = value
                metrics[f"{key}_ci_low"], metrics[f"{key}_ci_high"] = interval(reps)
    return items.rename(columns={"top1_k0": "ngram_top1_k0", "top1_k1": "ngram_top1_k1"}), metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    path_options(
        parser,
        data="the dataset folder",
        dependencies="the corpus's planted pairs (parquet; may be absent)",
        prefix="folder for the baselines' prefix-accuracy tables",
        out="JSON file of the baselines' metrics",
        natural="folder for the test split's word starts (memory on any text), n-gram scored",
    )
    args = parser.parse_args()
    made_by({args.data: "build", args.dependencies: "download"})
    settings = params.load().memory
    test, train = load_split(args.data, "test"), load_split(args.data, "train")
    words = load_vocab(args.data).words
    typed = letters_typed(test.source)
    second, first = previous_words(test.source, test.target)
    ngram = NGram(words, train)
    k, target = typed.reshape(-1), test.target.reshape(-1)
    baselines = {
        "dictionary": dictionary_completion(words, target, k),
        "ngram": ngram.guesses(second.reshape(-1), first.reshape(-1), target, k),
    }
    # Everything is computed before anything is written, and the outputs are written as one
    # group: their folder is shared with the models' tables, so it cannot be replaced whole.
    texts, metrics = {}, {}
    for name, guesses in baselines.items():
        table = prefix_accuracy(k, target, guesses)
        texts[args.prefix / f"{name}.csv"] = csv_text(table, float_format="%.6f")
        for j, top1 in zip(table["k"], table["top1"], strict=True):
            if j <= 2:
                metrics[f"{name}_top1_k{j}"] = float(top1)
    pairs = args.dependencies
    planted = read_dependencies(pairs) if pairs.is_file() else None
    items = planted_items(test, planted) if planted is not None else None
    if items is not None and (items["kind"] == RECALL).any():
        metrics |= _planted(ngram, test, items, second, first, typed, settings.seed)
    starts, found = _natural(test, train, words, baselines["ngram"], settings)
    metrics |= found
    if planted is not None and len(planted):  # a corpus with planted pairs: enough in test?
        count = int((items["kind"] == RECALL).sum())
        metrics["test_referent_pairs"] = count
        if count < MIN_PAIRS:
            print(
                f"warning: the test split holds {count} planted pairs, fewer than {MIN_PAIRS}: "
                "memory spans and connectivity AUCs from so few mean little; raise "
                "corpus.probe_chars or dataset.test_fraction, or dataset.max_length if the "
                "pairs do not fit in its observations",
                file=sys.stderr,
            )
    texts[args.out] = json_text(metrics)
    with atomic_dir(args.natural) as out:
        starts.to_parquet(out / "items.parquet")
    write_texts(texts)


if __name__ == "__main__":
    run_stage(main)
