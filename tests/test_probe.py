"""The probe corpus: text8 format, deterministic, and planted pairs that really are where we say."""

from __future__ import annotations

import re
from collections import Counter
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from rnnmem import probe

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
    # whole documents: at least the size asked for, at most one document more
    assert 300_000 <= len(corpus.text) < 300_000 + 2_800
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
    assert set(deps["kind"]) == {"name", "topic"}


def test_documents_tile_the_text_and_have_100_to_400_words(corpus):
    docs = corpus.documents
    assert docs["start"].iloc[0] == 0
    assert (docs["start"].iloc[1:].to_numpy() == docs["end"].iloc[:-1].to_numpy()).all()
    counted = [corpus.text[d.start : d.end].count(" ") for d in docs.itertuples()]
    assert counted == docs["words"].tolist()
    assert docs["words"].between(100, 400).all()
    assert len(docs) > 100


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
        assert _is_word_at(text, row.antecedent_offset, row.antecedent_word), row
        assert _is_word_at(text, row.referent_offset, row.referent_word), row


def test_pairs_are_long_range_and_inside_their_document(corpus):
    deps = corpus.dependencies
    gap = deps["referent_offset"] - deps["antecedent_offset"]
    assert (gap >= 50).all()
    docs = corpus.documents.set_index("document").loc[deps["document"]]
    assert (deps["antecedent_offset"].to_numpy() > docs["start"].to_numpy()).all()
    assert (deps["referent_offset"].to_numpy() < docs["end"].to_numpy()).all()
    # every document plants at least one name pair and exactly one topic pair
    per_doc = deps.groupby(["document", "kind"]).size().unstack(fill_value=0)
    assert len(per_doc) == len(corpus.documents)
    assert (per_doc["name"] >= 1).all() and (per_doc["topic"] == 1).all()


def test_name_referent_has_no_other_clue_than_its_antecedent(corpus):
    """The name repeats, and it does not occur between the antecedent and the referent."""
    text = corpus.text
    names = corpus.dependencies[corpus.dependencies["kind"] == "name"]
    assert (names["antecedent_word"] == names["referent_word"]).all()
    assert set(names["referent_word"]) <= set(probe.PERSONS) | set(probe.PLACES)
    for row in names.itertuples():
        between = text[row.antecedent_offset + len(row.antecedent_word) : row.referent_offset]
        assert row.referent_word not in between.split()


def test_topic_referent_is_the_first_topic_word_after_the_topic(corpus):
    text = corpus.text
    topics = {t.name: t for t in probe.TOPICS}
    pairs = corpus.dependencies[corpus.dependencies["kind"] == "topic"]
    for row in pairs.itertuples():
        assert row.referent_word in topics[row.antecedent_word].words
        start = corpus.documents.loc[row.document, "start"]
        before = text[start : row.referent_offset].split()
        assert not TOPIC_WORDS.intersection(before), row


def test_topic_fixes_the_content_words_of_its_document(corpus):
    for doc in corpus.documents.itertuples():
        words = set(corpus.text[doc.start : doc.end].split())
        (own,) = [t for t in probe.TOPICS if t.name == doc.topic]
        assert words & TOPIC_WORDS <= own.words
        assert words & own.words


def test_word_lists_are_large_and_do_not_overlap():
    assert len(probe.TOPICS) >= 8
    assert len({t.name for t in probe.TOPICS}) == len(probe.TOPICS)
    for a, b in combinations(probe.TOPICS, 2):
        assert not a.words & b.words, (a.name, b.name)
    assert len(probe.PERSONS) >= 60 and len(probe.PLACES) >= 30
    groups = [
        TOPIC_WORDS | {t.name for t in probe.TOPICS},
        set(probe.PERSONS),
        set(probe.PLACES),
        set(probe.RARE_WORDS),
        set(probe.GENERAL_NOUNS + probe.GENERAL_PLURALS + probe.GENERAL_VERBS)
        | set(probe.GENERAL_ADJECTIVES + probe.ADVERBS + probe.PREPOSITIONS),
    ]
    assert sum(len(g) for g in groups) == len(set().union(*groups))
    for words in groups:
        assert all(re.fullmatch("[a-z]+", w) for w in words)


def test_a_and_an_agree_with_the_next_word(corpus):
    assert not re.search(r" a [aeiou]", corpus.text)
    assert not re.search(r" an [^aeiou]", corpus.text)


def test_frequencies_are_zipf_like(corpus):
    counts = Counter(corpus.text.split())
    ranked = np.array(sorted(counts.values(), reverse=True), dtype=float)
    assert len(counts) >= 400
    assert counts.most_common(1)[0][0] == "the"
    assert ranked[:10].sum() / ranked.sum() > 0.25  # function words dominate
    ranks = np.arange(1, 301)
    slope = np.polyfit(np.log(ranks), np.log(ranked[:300]), 1)[0]
    assert -1.3 < slope < -0.7


def test_names_and_topic_words_fit_a_1024_word_vocabulary(large):
    counts = Counter(large.text.split())
    vocab = {w for w, _ in counts.most_common(1024)}
    planted = set(probe.PERSONS) | set(probe.PLACES) | TOPIC_WORDS
    assert planted <= vocab
    assert {t.name for t in probe.TOPICS} <= vocab
    coverage = sum(counts[w] for w in vocab) / sum(counts.values())
    assert 0.97 < coverage < 1  # rare words leave some unknown targets, not many
    assert len(large.dependencies) > 10_000


def test_names_are_not_guessable_from_frequency(large):
    """Every name is about equally common, so only the earlier mention says which one comes."""
    counts = Counter(large.text.split())
    for names in (probe.PERSONS, probe.PLACES):
        mentions = np.array([counts[n] for n in names])
        # about 20 documents per name, so sampling alone spreads the counts by this much
        assert 0.3 < mentions.min() / mentions.mean()
        assert mentions.max() / mentions.mean() < 2.5
