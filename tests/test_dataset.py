"""The autocomplete dataset: alignment of characters and word targets, splits, loading, stage."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipeline_repo import stage_argv
from shipped import dataset_settings, with_changes

from rnnmem.data import dataset
from rnnmem.data.dataset import (
    CHARS,
    PAD,
    SPACE,
    UNKNOWN,
    Vocab,
    build,
    encode_corpus,
    encode_sentence,
    letters_typed,
    load_split,
    load_vocab,
    write,
)
from rnnmem.errors import FixableError, InputError

ROOT = Path(__file__).resolve().parents[1]
MAX_LENGTH = 24


def random_words(n: int, seed: int) -> list[str]:
    """Zipf-ish draws from a small vocabulary, with a few words too long for MAX_LENGTH."""
    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    vocab = ["".join(rng.choice(letters, size=rng.integers(1, 9))) for _ in range(300)]
    vocab += ["x" * MAX_LENGTH, "y" * (MAX_LENGTH + 5)]  # cannot fit: a space is needed too
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights[-2:] = weights[-3]
    return list(rng.choice(vocab, size=n, p=weights / weights.sum()))


WORDS = random_words(3000, seed=1)
CORPUS = (" " + " ".join(WORDS)).encode("ascii")
PARAMS = dataset_settings(
    vocab_size=40, max_length=MAX_LENGTH, valid_fraction=0.1, test_fraction=0.15, seed=3
)


def decode(ids) -> str:
    return "".join(CHARS[i] for i in ids)


@pytest.fixture(scope="module")
def encoded():
    return encode_corpus(CORPUS, PARAMS["vocab_size"], PARAMS["max_length"])


def test_vocabulary_is_most_frequent_words_ties_alphabetical(encoded):
    _, vocab, stats = encoded
    counts = Counter(WORDS)
    expected = sorted(counts, key=lambda w: (-counts[w], w))[: PARAMS["vocab_size"]]
    assert vocab.words == ["<pad>", "<unknown>", *expected]
    assert vocab.chars == CHARS and len(CHARS) == 28 and CHARS[SPACE] == " "
    assert stats["words"] == len(WORDS) and stats["distinct_words"] == len(counts)
    covered = sum(counts[w] for w in expected)
    assert stats["token_coverage"] == pytest.approx(covered / len(WORDS))


def test_observations_hold_whole_words_in_corpus_order(encoded):
    table, _, stats = encoded
    rows = table.to_pylist()
    texts = [decode(r["source"]) for r in rows]
    kept = [w for w in WORDS if len(w) < MAX_LENGTH]
    assert stats["dropped_words"] == len(WORDS) - len(kept) > 0
    assert "".join(texts) == "".join(" " + w for w in kept)
    for row, text in zip(rows, texts, strict=True):
        assert text.startswith(" ") and not text.endswith(" ")
        assert row["length"] == len(row["source"]) == len(row["target"]) <= MAX_LENGTH
        assert PAD not in row["source"]


def test_packing_is_greedy_and_never_joins_across_a_dropped_word(encoded):
    table, _, _ = encoded
    texts = [decode(s) for s in table.column("source").to_pylist()]
    # Word index in WORDS where each observation starts, found by walking the corpus.
    starts, position = [], 0
    for text in texts:
        while len(WORDS[position]) >= MAX_LENGTH:
            position += 1
        starts.append(position)
        position += len(text.split())
    for i in range(len(texts) - 1):
        gap = WORDS[starts[i] + len(texts[i].split()) : starts[i + 1]]
        next_word = WORDS[starts[i + 1]]
        if not gap:  # the next word would have overflowed this observation
            assert len(texts[i]) + 1 + len(next_word) > MAX_LENGTH
        else:
            assert all(len(w) >= MAX_LENGTH for w in gap)


def test_offsets_locate_every_observation_in_the_corpus(tmp_path):
    """Each row's offset is where its text starts in the corpus, also after a dropped word,
    in every split, so planted pairs are found by arithmetic, not by searching text."""
    built = build(CORPUS, **PARAMS)
    write(built, tmp_path)
    text = CORPUS.decode("ascii")
    for name in ("train", "valid", "test"):
        split = load_split(tmp_path, name)
        assert split.offset is not None and len(split.offset) == len(split)
        for i in range(len(split)):
            row = decode(split.source[i, : split.length[i]])
            assert text[split.offset[i] : split.offset[i] + len(row)] == row


def test_every_character_targets_its_word_and_oov_is_unknown(encoded):
    table, vocab, _ = encoded
    seen_unknown = False
    for row in table.to_pylist():
        target = np.array(row["target"])
        text = decode(row["source"])
        starts = [i for i, c in enumerate(text) if c == " "] + [len(text)]
        for begin, end in zip(starts[:-1], starts[1:], strict=True):
            word = text[begin + 1 : end]
            expected = vocab.words.index(word) if word in vocab.words else UNKNOWN
            assert (target[begin:end] == expected).all(), (word, target[begin:end])
            seen_unknown |= expected == UNKNOWN
    assert seen_unknown


def test_split_sizes_and_rows_are_a_shuffle_of_all_observations(encoded):
    table, _, _ = encoded
    built = build(CORPUS, **PARAMS)
    n = table.num_rows
    test, valid = round(n * PARAMS["test_fraction"]), round(n * PARAMS["valid_fraction"])
    sizes = {"train": n - test - valid, "valid": valid, "test": test}
    assert built.stats["observations"] == sizes
    assert {k: t.num_rows for k, t in built.splits.items()} == sizes
    all_rows = [
        tuple(s)
        for name in ("train", "valid", "test")
        for s in built.splits[name]["source"].to_pylist()
    ]
    assert sorted(all_rows) == sorted(tuple(s) for s in table["source"].to_pylist())
    assert built.splits["train"].schema.equals(dataset.SCHEMA)


def test_same_seed_same_dataset_other_seed_other_order():
    first, again = build(CORPUS, **PARAMS), build(CORPUS, **PARAMS)
    other = build(CORPUS, **{**PARAMS, "seed": 4})
    for name in ("train", "valid", "test"):
        assert first.splits[name].equals(again.splits[name])
    assert not first.splits["test"].equals(other.splits["test"])


def test_vocab_size_above_distinct_words_names_both_numbers():
    distinct = len(set(WORDS))
    with pytest.raises(FixableError, match=f"{distinct + 1}.*only {distinct} distinct"):
        encode_corpus(CORPUS, distinct + 1, MAX_LENGTH)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b" the Cat", "has 'C' at byte 5"),
        (b"the cat\n", "has '\\\\n' at byte 7"),
        (b"   ", "no words"),
    ],
)
def test_corpus_outside_text8_format_is_an_input_error(data, problem):
    with pytest.raises(InputError, match=problem) as caught:
        encode_corpus(data, PARAMS["vocab_size"], PARAMS["max_length"], name="corpus.txt")
    assert caught.value.path == Path("corpus.txt")


def test_extra_spaces_are_ignored():
    table, _, stats = encode_corpus(b"ab  cd ab ", 2, 8)
    assert stats["words"] == 3
    assert [decode(s) for s in table["source"].to_pylist()] == [" ab cd", " ab"]


def test_letters_typed_by_hand():
    source = np.array([[SPACE, 2, 3, SPACE, 4, PAD], [SPACE, SPACE, 5, 6, 7, PAD]])
    expected = np.array([[0, 1, 2, 0, 1, -1], [0, 0, 1, 2, 3, -1]])
    np.testing.assert_array_equal(letters_typed(source), expected)
    np.testing.assert_array_equal(letters_typed(source[0]), expected[0])


def test_encode_sentence_filters_and_lists_unknown_words():
    vocab = Vocab(chars=CHARS, words=["<pad>", "<unknown>", "the", "cat", "two"])
    source, target, unknown = encode_sentence("The CAT, 2 zebras; the ZEBRAS!", vocab)
    assert decode(source) == " the cat two zebras the zebras"
    assert source.dtype == target.dtype == np.int64 and source.shape == target.shape
    ids = [2] * 4 + [3] * 4 + [4] * 4 + [UNKNOWN] * 7 + [2] * 4 + [UNKNOWN] * 7
    np.testing.assert_array_equal(target, ids)
    assert unknown == ["zebras"]
    assert vocab.word_id("<pad>") == UNKNOWN
    with pytest.raises(FixableError, match="no letters"):
        encode_sentence(" ?! -- ", vocab)


def test_write_then_load_round_trip(tmp_path):
    built = build(CORPUS, **PARAMS)
    write(built, tmp_path)
    assert load_vocab(tmp_path) == built.vocab
    split = load_split(tmp_path, "valid")
    rows = built.splits["valid"].to_pylist()
    assert split.source.dtype == split.target.dtype == split.length.dtype == np.int64
    assert split.source.shape == (len(rows), max(r["length"] for r in rows)) == split.target.shape
    for i, row in enumerate(rows):
        n = row["length"]
        assert split.length[i] == n
        assert list(split.source[i, :n]) == row["source"] and not split.source[i, n:].any()
        assert list(split.target[i, :n]) == row["target"] and not split.target[i, n:].any()


def test_load_errors_name_the_file_and_no_stage(tmp_path):
    """The library says which file and what is wrong with it; the stage that reads the file
    knows which stage writes it (test_stage_end_to_end)."""
    cases = [
        ("train.parquet not found$", lambda: load_split(tmp_path, "train")),
        ("vocab.json not found$", lambda: load_vocab(tmp_path)),
    ]
    for message, load in cases:
        with pytest.raises(InputError, match=message) as caught:
            load()
        assert caught.value.path.parent == tmp_path
    (tmp_path / "train.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(InputError, match="train.parquet is corrupt") as caught:
        load_split(tmp_path, "train")
    assert "dvc" not in str(caught.value) and caught.value.path == tmp_path / "train.parquet"
    pq.write_table(pa.table({"source": [[1, 2]], "length": [2]}), tmp_path / "test.parquet")
    with pytest.raises(InputError, match="test.parquet is corrupt"):
        load_split(tmp_path, "test")
    bad_ids = pa.table({"source": [[1, 99]], "target": [[2, 2]], "length": [2], "offset": [0]})
    pq.write_table(bad_ids.cast(dataset.SCHEMA), tmp_path / "valid.parquet")
    with pytest.raises(InputError, match="valid.parquet is corrupt.*out of range"):
        load_split(tmp_path, "valid")
    (tmp_path / "vocab.json").write_text('{"chars": ["a"]')
    with pytest.raises(InputError, match="vocab.json"):
        load_vocab(tmp_path)
    with pytest.raises(ValueError, match="unknown split"):
        load_split(tmp_path, "dev")


def run_stage(cwd: Path, vocab_size: int, **changes: float) -> subprocess.CompletedProcess:
    params = with_changes(
        {
            "dataset": {**PARAMS, "vocab_size": vocab_size, **changes},
            "memory": {"windows": [5, 10, 20]},  # below MAX_LENGTH, as the params must be
        }
    )
    (cwd / "params.yaml").write_text(json.dumps(params))  # JSON is valid YAML
    return subprocess.run(stage_argv("build"), cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.slow  # runs a stage end to end
def test_stage_end_to_end(tmp_path):
    missing = run_stage(tmp_path, 40)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "error: data/corpus/corpus.txt not found; run `dvc repro download`"
    ]
    (tmp_path / "data" / "corpus").mkdir(parents=True)
    (tmp_path / "data" / "corpus" / "corpus.txt").write_bytes(CORPUS)
    too_big = run_stage(tmp_path, 10_000)
    lines = too_big.stderr.strip().splitlines()
    assert too_big.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "vocab_size = 10000" in lines[0]
    assert not (tmp_path / "data" / "autocomplete").exists()
    assert not list((tmp_path / "data").glob(".autocomplete*"))

    done = run_stage(tmp_path, 40)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "data" / "autocomplete"
    assert sorted(p.name for p in out.iterdir()) == [
        "test.parquet",
        "train.parquet",
        "valid.parquet",
        "vocab.json",
    ]
    report = json.loads((tmp_path / "reports" / "dataset.json").read_text())
    expected = build(CORPUS, **PARAMS).stats
    assert report == json.loads(json.dumps(expected))
    assert len(load_split(out, "train")) == report["observations"]["train"]
    assert len(load_vocab(out).words) == 40 + 2


def test_stage_flags_a_test_split_too_small_for_intervals(tmp_path):
    (tmp_path / "data" / "corpus").mkdir(parents=True)
    (tmp_path / "data" / "corpus" / "corpus.txt").write_bytes(CORPUS)
    done = run_stage(tmp_path, 40, test_fraction=0.02)
    assert done.returncode == 0, done.stderr
    test = json.loads((tmp_path / "reports" / "dataset.json").read_text())["observations"]["test"]
    assert test < 20
    assert [line for line in done.stderr.splitlines() if line.startswith("warning")] == [
        f"warning: the test split holds {test} observations, fewer than 20: intervals "
        "resampled from so few mean little; use a larger corpus or raise dataset.test_fraction"
    ]


def test_a_split_fraction_too_small_for_one_observation_is_named() -> None:
    with pytest.raises(FixableError) as caught:
        build(CORPUS, **{**PARAMS, "valid_fraction": 0.0001})
    n = build(CORPUS, **PARAMS).stats["observations"]
    total = n["train"] + n["valid"] + n["test"]
    assert str(caught.value) == (
        f"dataset.valid_fraction = 0.0001 gives the valid split none of the {total:,} "
        f"observations of corpus; raise it to {1 / total:.2g} or more, or use a larger corpus"
    )


def _build_stage():
    """stages/build.py as a module."""
    spec = importlib.util.spec_from_file_location("build_stage", ROOT / "stages" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_stage_warns_when_max_length_leaves_out_most_words() -> None:
    """A word needs a space before it: at max_length 5, words of 5 letters or more fit no
    observation, and the dataset silently describes the rest, unless the stage says so."""
    _, _, stats = encode_corpus(b" ab abcdef abcdefg abcdefgh", 3, 5)
    assert _build_stage().dropped_words(stats, 5) == (
        "dataset.max_length = 5 leaves out 75% of the corpus's words (3 of 4: those of 5 "
        "letters or more); the dataset describes what is left; raise dataset.max_length"
    )
    _, _, stats = encode_corpus(CORPUS, 40, MAX_LENGTH)  # two words too long of 3,000
    assert 0 < stats["dropped_words"] and _build_stage().dropped_words(stats, MAX_LENGTH) is None
