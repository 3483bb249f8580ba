"""The probe corpus: text8 format, deterministic, and planted pairs that really are where we say."""

from __future__ import annotations

import re
from collections import Counter
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from rnnmem.data import dataset, probe

TEXT8 = re.compile(r"( [a-z]+)+")
TOPIC_WORDS = frozenset().union(*(t.words for t in probe.TOPICS))


@pytest.fixture(scope="module")
def corpus() -> probe.ProbeCorpus:
    return probe.build(300_000, seed=7)


@pytest.fixture(scope="module")
def large() -> probe.ProbeCorpus:
    """The default size, to check what a 1024-word vocabulary covers."""
    return probe.build(2_000_000, seed=0)


def test_same_seed_same_corpus_and_other_seed_differs():
    text, deps = probe.generate(30_000, seed=3)
    again, deps_again = probe.generate(30_000, seed=3)
    assert text == again
    pd.testing.assert_frame_equal(deps, deps_again)
    other, _ = probe.generate(30_000, seed=4)
    assert other != text


def test_text8_format_and_size(corpus):
    assert TEXT8.fullmatch(corpus.text)
    assert corpus.text.isascii()
    # whole observations: at least the size asked for, at most one observation more
    assert 300_000 <= len(corpus.text) <= 300_000 + probe.OBSERVATION_CHARS
    assert corpus.documents["end"].iloc[-1] == len(corpus.text)


def test_generate_is_build(corpus):
    text, deps = probe.generate(300_000, seed=7)
    assert text == corpus.text
    pd.testing.assert_frame_equal(deps, corpus.dependencies)


def test_rejects_empty_size():
    with pytest.raises(ValueError, match="n_chars"):
        probe.generate(0, seed=0)


def test_dependency_table_schema(corpus):
    deps = corpus.dependencies
    assert tuple(deps.columns) == probe.DEPENDENCY_COLUMNS
    assert deps["document"].dtype == np.int32
    assert deps["antecedent_offset"].dtype == np.int64
    assert deps["referent_offset"].dtype == np.int64
    for column in ("kind", "antecedent_word", "referent_word"):
        assert pd.api.types.is_string_dtype(deps[column])
    assert set(deps["kind"]) == {probe.RECALL, probe.PLACEBO}
    placebos = deps[deps["kind"] == probe.PLACEBO]
    assert (placebos["antecedent_offset"] == -1).all() and (placebos["antecedent_word"] == "").all()


def _is_word_at(text: str, offset: int, word: str) -> bool:
    end = offset + len(word)
    return (
        text[offset:end] == word
        and text[offset - 1] == " "
        and (end == len(text) or text[end] == " ")
    )


def test_every_offset_points_at_its_word(corpus):
    text, deps = corpus.text, corpus.dependencies
    for row in deps.itertuples():
        if row.kind == probe.RECALL:
            assert _is_word_at(text, row.antecedent_offset, row.antecedent_word), row
        assert _is_word_at(text, row.referent_offset, row.referent_word), row


def test_observations_are_cut_where_the_dataset_build_cuts_them(corpus):
    """The generator's observations are exactly the build's at the default max_length."""
    table, _, _ = dataset.encode_corpus(corpus.text.encode("ascii"), 100, probe.OBSERVATION_CHARS)
    offsets = table.column("offset").to_numpy()
    lengths = table.column("length").to_numpy()
    assert offsets.tolist() == corpus.documents["start"].tolist()
    assert (offsets + lengths).tolist() == corpus.documents["end"].tolist()


def test_every_pair_and_placebo_lies_inside_one_observation(corpus):
    deps = corpus.dependencies
    docs = corpus.documents.set_index("document").loc[deps["document"]]
    recall = (deps["kind"] == probe.RECALL).to_numpy()
    first = np.where(recall, deps["antecedent_offset"], deps["referent_offset"])
    assert (first - 1 >= docs["start"].to_numpy()).all()
    end = deps["referent_offset"] + deps["referent_word"].str.len()
    assert (end.to_numpy() <= docs["end"].to_numpy()).all()


def test_one_placebo_per_class_and_observation_a_pair_for_three_in_four(corpus):
    deps = corpus.dependencies
    counts = deps.groupby(["document", "kind"]).size().unstack(fill_value=0)
    assert len(counts) == len(corpus.documents)
    classes = len(probe.NAME_CLASSES)
    assert (counts[probe.PLACEBO] <= classes).all() and (counts[probe.RECALL] <= classes).all()
    assert (counts[probe.PLACEBO] == classes).mean() > 0.97
    # Each class is a pair (placebo, then referent) or, with chance P_LONE, a lone placebo.
    pairs_per_observation = counts[probe.RECALL].mean()
    assert abs(pairs_per_observation - classes * (1 - probe.P_LONE)) < 0.1


def test_placebos_cover_the_positions_of_the_referents(corpus):
    """Lone placebos sit where referents sit, so every 20-character bin of the referents'
    positions holds placebos to match them with (first mentions alone sit early)."""
    deps = corpus.dependencies
    starts = corpus.documents.set_index("document")["start"]
    position = deps["referent_offset"] - 1 - starts.loc[deps["document"]].to_numpy()
    bins = (position // 20).to_numpy()
    referents = np.bincount(bins[(deps["kind"] == probe.RECALL).to_numpy()], minlength=10)
    placebos = np.bincount(bins[(deps["kind"] == probe.PLACEBO).to_numpy()], minlength=10)
    busy = referents > 0.05 * referents.sum()
    assert busy[-2:].all()  # referents crowd the end of an observation
    assert (placebos[busy] > 0.15 * referents[busy]).all()


def test_distances_spread_evenly_over_10_to_190(corpus):
    deps = corpus.dependencies
    recall = deps[deps["kind"] == probe.RECALL]
    distance = recall["referent_offset"] - recall["antecedent_offset"]
    assert distance.min() >= 8 and distance.max() <= 190
    counts, _ = np.histogram(distance, bins=np.arange(10, 191, 20))
    assert counts.min() > 0.6 * counts.mean() and counts.max() < 1.3 * counts.mean()


def test_referent_is_known_only_from_its_antecedent(corpus):
    """The name repeats after the same cue, and nowhere else in its observation; a placebo's
    name does not occur earlier in its observation at all."""
    text = corpus.text
    cues = dict((name, cue) for cue, names in probe.NAME_CLASSES for name in names)
    starts = corpus.documents.set_index("document")["start"]
    for row in corpus.dependencies.itertuples():
        start = starts[row.document]
        before = text[start : row.referent_offset].split()
        assert before[-1] == cues[row.referent_word]
        expected = 1 if row.kind == probe.RECALL else 0
        assert before.count(row.referent_word) == expected, row


def test_cue_words_appear_only_before_a_name_of_their_class(corpus):
    words = corpus.text.split()
    for cue, names in probe.NAME_CLASSES:
        following = {words[i + 1] for i, w in enumerate(words[:-1]) if w == cue}
        assert following and following <= set(names)
        preceding = {words[i - 1] for i, w in enumerate(words) if w in names}
        assert preceding == {cue}


def test_word_lists_are_large_and_do_not_overlap():
    assert len(probe.TOPICS) >= 8
    for a, b in combinations(probe.TOPICS, 2):
        assert not a.words & b.words, (a.name, b.name)
    for _, names in probe.NAME_CLASSES:
        assert len(set(names)) == len(names) >= 60  # a 1-in-60 guess is under 2 %
    groups = [
        TOPIC_WORDS | {t.name for t in probe.TOPICS},
        *(set(names) for _, names in probe.NAME_CLASSES),
        {cue for cue, _ in probe.NAME_CLASSES},
        set(probe.RARE_WORDS),
        set(probe.GENERAL_NOUNS + probe.GENERAL_PLURALS + probe.GENERAL_VERBS)
        | set(probe.GENERAL_ADJECTIVES + probe.ADVERBS + probe.PREPOSITIONS),
    ]
    assert sum(len(g) for g in groups) == len(set().union(*groups))
    for words in groups:
        assert all(re.fullmatch("[a-z]+", w) for w in words)


def test_a_and_an_agree_with_the_next_word(corpus):
    text = re.sub(r" (said|near|aboard) [a-z]+", "", corpus.text)  # mentions cut in anywhere
    assert not re.search(r" a [aeiou]", text)
    assert not re.search(r" an [^aeiou]", text)


def test_frequencies_are_zipf_like(corpus):
    counts = Counter(corpus.text.split())
    ranked = np.array(sorted(counts.values(), reverse=True), dtype=float)
    assert len(counts) >= 400
    assert counts.most_common(1)[0][0] == "the"
    assert ranked[:10].sum() / ranked.sum() > 0.2  # function words dominate
    ranks = np.arange(1, 301)
    slope = np.polyfit(np.log(ranks), np.log(ranked[:300]), 1)[0]
    assert -1.3 < slope < -0.5


def test_names_fit_a_1024_word_vocabulary_and_are_equally_common(large):
    counts = Counter(large.text.split())
    vocab = {w for w, _ in counts.most_common(1024)}
    for _, names in probe.NAME_CLASSES:
        assert set(names) <= vocab
        mentions = np.array([counts[n] for n in names])
        # ~220 mentions a name, drawn two at a time (a pair) or one (a lone placebo)
        assert 0.6 < mentions.min() / mentions.mean() and mentions.max() / mentions.mean() < 1.4
    coverage = sum(counts[w] for w in vocab) / sum(counts.values())
    assert 0.97 < coverage < 1  # rare words leave some unknown targets, not many


def test_referent_is_never_within_two_words_of_its_antecedent(corpus):
    """An n-gram of the previous two words (the cue and the word before it) cannot name it."""
    text = corpus.text
    recall = corpus.dependencies[corpus.dependencies["kind"] == probe.RECALL]
    for row in recall.itertuples():
        before = text[row.antecedent_offset : row.referent_offset].split()
        assert len(before) >= 3, row  # antecedent, at least one other word, the cue


@pytest.fixture(scope="module")
def long() -> probe.ProbeCorpus:
    return probe.build_long(1000, 200, 15, seed=3)


def test_long_probe_fills_every_log_spaced_bucket_and_both_near_groups(long):
    edges = probe.long_edges(1000)
    assert edges[0] == 10 and edges[-1] == 950 and len(edges) == probe.LONG_BUCKETS + 1
    ratios = np.diff(np.log(edges))
    assert ratios.max() - ratios.min() < 0.05  # log-spaced, up to rounding
    deps, docs = long.dependencies, long.documents.set_index("document")
    recall = deps[deps["kind"] == probe.RECALL]
    distance = (recall["referent_offset"] - recall["antecedent_offset"]).to_numpy()
    counts, _ = np.histogram(distance, bins=edges)
    assert counts.min() >= 15
    start = docs.loc[recall["document"], "start"].to_numpy()
    near = distance <= probe.NEAR[1]
    early = near & (recall["referent_offset"].to_numpy() - 1 - start < 200)
    late = near & (recall["antecedent_offset"].to_numpy() - 1 - start >= 200)
    assert early.sum() >= 15 and late.sum() >= 15
    # a third of the pairs are planted near, half of them early and half late
    assert early.mean() > 0.15 and late.mean() > 0.15
    length = (docs["end"] - docs["start"]).to_numpy()
    assert length.max() <= 1000 and np.median(length) > 990


def test_long_probe_keeps_the_probes_words_and_its_guarantees(long):
    text = long.text
    assert TEXT8.fullmatch(text)
    for row in long.dependencies.itertuples():
        if row.kind == probe.RECALL:
            assert _is_word_at(text, row.antecedent_offset, row.antecedent_word), row
        assert _is_word_at(text, row.referent_offset, row.referent_word), row
    cues = dict((name, cue) for cue, names in probe.NAME_CLASSES for name in names)
    starts = long.documents.set_index("document")["start"]
    for row in long.dependencies.itertuples():
        before = text[starts[row.document] : row.referent_offset].split()
        assert before[-1] == cues[row.referent_word]
        assert before.count(row.referent_word) == (row.kind == probe.RECALL)


def test_long_probe_is_drawn_from_its_seed(long):
    again = probe.build_long(1000, 200, 15, seed=3)
    assert again.text == long.text
    pd.testing.assert_frame_equal(again.dependencies, long.dependencies)
    assert probe.build_long(1000, 200, 15, seed=4).text != long.text
    with pytest.raises(ValueError, match="late_from"):
        probe.build_long(250, 200, 15, seed=3)


def test_observations_encoded_with_a_vocabulary_are_the_builds(corpus):
    """The dataset build's own observations of the probe, encoded again from the text and
    the build's vocabulary, come out identical."""
    table, vocab, _ = dataset.encode_corpus(
        corpus.text.encode("ascii"), 300, probe.OBSERVATION_CHARS
    )
    docs = corpus.documents
    again = dataset.encode_observations(
        corpus.text, docs["start"].to_numpy(), docs["end"].to_numpy(), vocab
    )
    assert again.equals(table)
