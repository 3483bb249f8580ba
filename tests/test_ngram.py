"""The n-gram-plus-prefix baseline: known counts give known guesses, and it backs off; the
baseline stage flags a test split with too few planted pairs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pipeline_repo import stage_argv
from shipped import dataset_settings, params_file

from rnnmem.analysis.memory.planted import planted_items
from rnnmem.analysis.metrics import dictionary_completion
from rnnmem.analysis.ngram import NGram, previous_words
from rnnmem.data import corpus, probe
from rnnmem.data.dataset import (
    CHARS,
    PAD,
    Split,
    Vocab,
    build,
    encode_sentence,
    letters_typed,
    load_split,
    write,
)

WORDS = ["<pad>", "<unknown>", "the", "said", "bob", "ben", "bill", "ate", "cake", "tea", "cat"]


def split_of(sentences: list[str]) -> Split:
    vocab = Vocab(chars=list(CHARS), words=WORDS)
    encoded = [encode_sentence(s, vocab)[:2] for s in sentences]
    width = max(len(s) for s, _ in encoded)
    source = np.zeros((len(encoded), width), dtype=np.int64)
    target = np.zeros_like(source)
    for i, (s, t) in enumerate(encoded):
        source[i, : len(s)], target[i, : len(t)] = s, t
    return Split(source, target, np.array([len(s) for s, _ in encoded]))


TRAIN = split_of(["the cat said bill ate the cake"] * 3 + ["ben said bob ate tea"] + ["bob"])


def test_previous_words_are_the_two_words_before_the_current_one():
    split = split_of(["the cat ate tea"])
    second, first = previous_words(split.source, split.target)
    starts = np.flatnonzero(split.source[0] == 1)
    assert first[0, starts].tolist() == [PAD, 2, 10, 7]
    assert second[0, starts].tolist() == [PAD, PAD, 2, 10]
    assert (first[0, starts[2] : starts[3]] == 10).all()  # the whole word "ate" sees "cat"


def test_trigram_guess_beats_the_dictionary_where_the_context_decides():
    model = NGram(WORDS, TRAIN)
    test = split_of(["the cat said bill"])
    second, first = previous_words(test.source, test.target)
    k = letters_typed(test.source)
    at = (slice(None), np.flatnonzero(test.source[0] == 1)[3])  # " bill", nothing typed
    guesses = model.guesses(second[at], first[at], test.target[at], k[at])
    assert guesses[0, 0] == WORDS.index("bill")
    dictionary = dictionary_completion(WORDS, test.target[at], k[at])
    assert dictionary[0, 0] == WORDS.index("the")


def test_backs_off_to_bigram_then_dictionary_and_respects_the_prefix():
    model = NGram(WORDS, TRAIN)
    # unseen pair (tea, said): bigram after "said" ranks bill (3) over bob (1), then dictionary
    guess = model._guess(WORDS.index("tea"), WORDS.index("said"), "")
    assert guess[:2] == [WORDS.index("bill"), WORDS.index("bob")]
    assert len(guess) == 3 and len(set(guess)) == 3
    typed = model._guess(WORDS.index("tea"), WORDS.index("said"), "be")
    assert typed == [WORDS.index("ben")]  # only one vocabulary word starts with "be"
    for prefix in ("b", "c", "t"):
        assert all(WORDS[w].startswith(prefix) for w in model._guess(0, 0, prefix))


@pytest.mark.slow  # runs a stage end to end
@pytest.mark.parametrize(("test_fraction", "few"), [(0.05, True), (0.3, False)])
def test_baseline_stage_flags_a_test_split_with_few_planted_pairs(
    tmp_path: Path, test_fraction: float, few: bool
) -> None:
    """A memory span or AUC from a dozen pairs means little: the stage that first counts the
    test split's pairs says so, and records the count beside the baselines."""
    text, deps = probe.generate(40_000, seed=0)
    (tmp_path / "data" / "corpus").mkdir(parents=True)
    corpus.save(tmp_path / "data" / "corpus", "probe", "probe seed 0", text, deps)
    settings = dataset_settings(vocab_size=150, max_length=200, test_fraction=test_fraction)
    params_file(tmp_path, "dataset: {vocab_size: 150, max_length: 200}")  # memory.common_words
    (tmp_path / "data" / "autocomplete").mkdir()
    write(build(text.encode(), **settings), tmp_path / "data" / "autocomplete")
    items = planted_items(load_split(tmp_path / "data" / "autocomplete", "test"), deps)
    pairs = int((items["kind"] == probe.RECALL).sum())
    assert (pairs < 20) == few
    done = subprocess.run(
        stage_argv("baseline"), cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert (
        json.loads((tmp_path / "reports" / "baseline.json").read_text())["test_referent_pairs"]
        == pairs
    )
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning")]
    assert warnings == (
        [
            f"warning: the test split holds {pairs} planted pairs, fewer than 20: memory spans "
            "and connectivity AUCs from so few mean little; raise corpus.probe_chars or "
            "dataset.test_fraction, or dataset.max_length if the pairs do not fit in its "
            "observations"
        ]
        if pairs < 20
        else []
    )
