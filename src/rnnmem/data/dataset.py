"""The autocomplete dataset: corpus words -> character observations (docs/design.md, Dataset).

Each word is written as a space followed by its letters, so the model sees where a word
begins; every character's target is the id of the word it belongs to (the space before a
word included), which is why the first characters of a word are where context matters.
Observations hold whole words only. The build is vectorized with numpy and pyarrow so
full text8 stays near a minute; its only Python loop runs once per observation.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rnnmem.data.text8 import text8_filter
from rnnmem.errors import FixableError, InputError
from rnnmem.files import json_text, read_json
from rnnmem.progress import progress

if TYPE_CHECKING:
    from torch import Tensor

CHARS: list[str] = ["<pad>", " ", *"abcdefghijklmnopqrstuvwxyz"]
SPECIAL_WORDS = ("<pad>", "<unknown>")  # the first two words of every vocabulary
PAD = 0
UNKNOWN = 1
SPACE = 1
SPLITS = ("train", "valid", "test")
VOCAB_FILE = "vocab.json"
SCHEMA = pa.schema(
    [
        ("source", pa.list_(pa.int8())),
        ("target", pa.list_(pa.int32())),
        ("length", pa.int32()),
        ("offset", pa.int64()),  # where the observation's leading space is in the corpus
    ]
)


def scored(target: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """True where the target is a real vocabulary word (neither PAD nor UNKNOWN): the one mask
    the loss, the accuracy and every metric count by (`rnnmem.models.objective`). It lives here,
    beside the ids it compares, so the metrics need neither torch nor the models."""
    return (target != PAD) & (target != UNKNOWN)


# byte -> character id; bytes outside the text8 alphabet map to PAD (checked before use).
_CHAR_IDS = np.zeros(256, dtype=np.int8)
_CHAR_IDS[ord(" ")] = SPACE
_CHAR_IDS[ord("a") : ord("z") + 1] = np.arange(2, 28)
_ALPHABET = b" abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Vocab:
    """Input alphabet and output words; an id is the index in `chars` or `words`."""

    chars: list[str]
    words: list[str]
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # "<pad>" and "<unknown>" are not words a text can contain, so they are not looked up.
        ids = {word: i for i, word in enumerate(self.words) if i >= 2}
        object.__setattr__(self, "_ids", ids)

    def word_id(self, word: str) -> int:
        """The word's id, or UNKNOWN for a word outside the vocabulary."""
        return self._ids.get(word, UNKNOWN)

    @property
    def digest(self) -> str:
        """SHA-256 of the characters and words in order: a model file records the one it was
        trained on, since two vocabularies of one size give the same ids to other words."""
        text = json.dumps({"chars": self.chars, "words": self.words})
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Split:
    """One split as zero-padded int64 arrays: row i holds `length[i]` characters, then PAD.

    `offset[i]` is where row i's first character (a space) sits in the corpus text as the
    build reads it (one space before every word), so a position p of row i is corpus
    character `offset[i] + p`; None for splits made without a corpus.
    """

    source: np.ndarray
    target: np.ndarray
    length: np.ndarray
    offset: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.length)


@dataclass(frozen=True)
class Built:
    """A built dataset in memory: what `write` stores and the stage reports."""

    vocab: Vocab
    splits: dict[str, pa.Table]
    stats: dict[str, Any]


# ---------------------------------------------------------------- loading


def load_vocab(directory: str | Path) -> Vocab:
    """vocab.json of a built dataset, checked, or an `InputError` naming it."""
    path = Path(directory) / VOCAB_FILE
    raw = read_json(path)
    if (
        not isinstance(raw, dict)
        or raw.get("chars") != CHARS
        or not isinstance(words := raw.get("words"), list)
        or tuple(words[:2]) != SPECIAL_WORDS
        or not all(isinstance(w, str) for w in words)
    ):
        raise InputError(f"{path} is not a vocabulary of this project", path)
    return Vocab(chars=list(CHARS), words=words)


def load_split(directory: str | Path, name: str) -> Split:
    """One split (train, valid or test) as padded arrays, or an `InputError` naming it."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; allowed: {', '.join(SPLITS)}")
    path = Path(directory) / f"{name}.parquet"
    if not path.exists():
        raise InputError(f"{path} not found", path)
    try:
        return _padded(pq.read_table(path))
    except (pa.ArrowException, OSError, ValueError) as err:
        raise InputError(f"{path} is corrupt ({err})", path) from None


def _padded(table: pa.Table) -> Split:
    if not table.schema.equals(SCHEMA):
        expected = ", ".join(SCHEMA.names)
        raise ValueError(f"columns are {table.schema.names}, expected {expected}")
    if any(table.column(c).null_count for c in SCHEMA.names):
        raise ValueError("missing values")
    length = table.column("length").to_numpy().astype(np.int64)
    mask = np.arange(int(length.max(initial=0))) < length[:, None]
    arrays = []
    for column in ("source", "target"):
        lists = table.column(column).combine_chunks()
        sizes = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
        if not np.array_equal(sizes, length):
            raise ValueError(f"{column} lists disagree with the length column")
        values = lists.flatten().to_numpy()
        top = len(CHARS) if column == "source" else np.iinfo(np.int32).max
        if values.size and (values.min() < 1 or values.max() >= top):
            raise ValueError(f"{column} holds padding or ids out of range inside an observation")
        padded = np.zeros(mask.shape, dtype=np.int64)
        padded[mask] = values  # a row-major fill is row by row
        arrays.append(padded)
    offset = table.column("offset").to_numpy().astype(np.int64)
    return Split(source=arrays[0], target=arrays[1], length=length, offset=offset)


# ---------------------------------------------------------------- sentences


def _char_ids(text: bytes) -> np.ndarray:
    return _CHAR_IDS[np.frombuffer(text, dtype=np.uint8)]


def encode_sentence(text: str, vocab: Vocab) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Source and target ids of free text, as the dataset encodes it, and its unknown words.

    The text goes through the text8 filter first; each word becomes a space and its letters,
    all mapped to the word's id. Unknown words are listed once, in order of appearance.
    """
    words = text8_filter(text).split()
    if not words:
        raise FixableError(f"sentence {text!r} has no letters a-z; give at least one word")
    ids = [vocab.word_id(w) for w in words]
    source = _char_ids("".join(" " + w for w in words).encode("ascii")).astype(np.int64)
    target = np.repeat(np.array(ids, dtype=np.int64), [len(w) + 1 for w in words])
    unknown = list(dict.fromkeys(w for w, i in zip(words, ids, strict=True) if i == UNKNOWN))
    return source, target, unknown


def letters_typed(source: np.ndarray) -> np.ndarray:
    """Letters of the current word seen so far at each position (space 0, pad -1).

    Works along the last axis, so a single observation or a padded batch both fit.
    """
    source = np.asarray(source)
    position = np.arange(source.shape[-1])
    spaces = np.where(source == SPACE, position, -1)
    last_space = np.maximum.accumulate(spaces, axis=-1)
    # Letters before any space (not produced by the build) count from the start.
    return np.where(source == PAD, -1, position - last_space)


# ---------------------------------------------------------------- building


def read_corpus(path: str | Path) -> bytes:
    """The corpus file's bytes, or an `InputError` naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path} not found", path) from None


def _words(data: bytes, name: str) -> bytes:
    """The corpus as one space before every word: empty words (extra spaces) are dropped."""
    stray = data.translate(None, _ALPHABET)
    if stray:
        at = data.find(stray[:1])
        raise InputError(
            f"{name} has {chr(stray[0])!r} at byte {at}; only a-z and single spaces are allowed "
            "(text8 format)",
            name,
        )
    if b"  " in data:
        data = re.sub(rb"  +", b" ", data)
    data = data.strip(b" ")
    if not data:
        raise InputError(f"{name} holds no words", name)
    return b" " + data


def _vocabulary(words: pa.Array, vocab_size: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Vocabulary (<pad>, <unknown>, then by count), each token's id, each distinct count."""
    encoded = words.dictionary_encode()
    distinct = encoded.dictionary
    counts = np.bincount(encoded.indices.to_numpy(), minlength=len(distinct))
    if vocab_size > len(distinct):
        raise FixableError(
            f"dataset.vocab_size = {vocab_size} but the corpus has only {len(distinct)} distinct "
            f"words; set dataset.vocab_size <= {len(distinct)} in params.yaml"
        )
    ranked = pc.sort_indices(
        pa.table({"count": counts, "word": distinct}),
        sort_keys=[("count", "descending"), ("word", "ascending")],
    ).to_numpy()[:vocab_size]
    word_id = np.full(len(distinct), UNKNOWN, dtype=np.int32)
    word_id[ranked] = np.arange(2, vocab_size + 2, dtype=np.int32)
    vocab = [*SPECIAL_WORDS, *(w[1:] for w in distinct.take(ranked).to_pylist())]
    return vocab, word_id[encoded.indices.to_numpy()], counts


def _pack(bounds: np.ndarray, fits: np.ndarray, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy packing: first and stop word of each observation, in corpus order.

    `bounds[w]` is where word w starts (its space) and `bounds[-1]` the total length. A word
    that does not fit (`fits` false) is skipped and ends the observation before it, so no
    observation joins text across a gap.
    """
    n_words = len(bounds) - 1
    fitting = np.flatnonzero(fits)
    first: list[int] = []
    stop: list[int] = []
    word = int(fitting[0]) if len(fitting) else n_words
    with progress(total=n_words, desc="packing observations", unit="word", leave=False) as bar:
        while word < n_words:
            end = int(bounds.searchsorted(bounds[word] + max_length, side="right")) - 1
            if end == word:  # a word too long to fit: jump to the next one that fits
                later = np.searchsorted(fitting, word)
                end = int(fitting[later]) if later < len(fitting) else n_words
            else:
                first.append(word)
                stop.append(end)
            bar.update(end - word)
            word = end
    return np.array(first, dtype=np.int64), np.array(stop, dtype=np.int64)


def encode_corpus(
    data: bytes, vocab_size: int, max_length: int, name: str = "corpus"
) -> tuple[pa.Table, Vocab, dict[str, Any]]:
    """All observations of at most `max_length` characters in corpus order (before
    shuffling), the vocabulary of the `vocab_size` most frequent words and statistics.

    A word longer than `max_length - 1` letters cannot fit any observation: it is left out
    (counted as `dropped_words`) and the observations on either side of it do not join.
    """
    text = _words(data, name)
    stream = np.frombuffer(text, dtype=np.uint8)
    bounds = np.append(np.flatnonzero(stream == ord(" ")), len(stream))
    if bounds[-1] >= 2**31:
        raise FixableError(f"{name} is over 2 GiB; list columns hold at most 2^31 characters")
    n_words = len(bounds) - 1
    words = pa.LargeStringArray.from_buffers(n_words, pa.py_buffer(bounds), pa.py_buffer(text))
    vocab_words, token_ids, counts = _vocabulary(words, vocab_size)
    del words
    sizes = np.diff(bounds)
    fits = sizes <= max_length
    first, stop = _pack(bounds, fits, max_length)
    length = bounds[stop] - bounds[first]
    source = _CHAR_IDS[stream]
    target = np.repeat(token_ids, sizes)
    if not fits.all():
        kept = np.repeat(fits, sizes)
        source, target = source[kept], target[kept]
    offsets = pa.array(np.concatenate([[0], np.cumsum(length)]).astype(np.int32))
    table = pa.Table.from_arrays(
        [
            pa.ListArray.from_arrays(offsets, pa.array(source)),
            pa.ListArray.from_arrays(offsets, pa.array(target)),
            pa.array(length.astype(np.int32)),
            pa.array(bounds[first].astype(np.int64)),
        ],
        schema=SCHEMA,
    )
    in_vocab = int((token_ids != UNKNOWN).sum())
    stats = {
        "vocab_size": vocab_size,
        "token_coverage": in_vocab / n_words,
        "words": n_words,
        "distinct_words": len(counts),
        "dropped_words": int(n_words - fits.sum()),
    }
    return table, Vocab(chars=list(CHARS), words=vocab_words), stats


def encode_observations(text: str, starts: np.ndarray, ends: np.ndarray, vocab: Vocab) -> pa.Table:
    """Observations `text[start:end]` (each from a word's leading space to the end of a word)
    encoded with an existing vocabulary, in the dataset's schema: a test set a trained model
    reads exactly as it read its own."""
    data = text.encode("ascii")
    ids = np.array([vocab.word_id(w) for w in text.split()], dtype=np.int32)
    bounds = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord(" "))
    target = np.repeat(ids, np.diff(np.append(bounds, len(data))))
    source = _char_ids(data)
    pieces = [np.arange(s, e) for s, e in zip(starts, ends, strict=True)]
    where = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    length = np.asarray(ends) - np.asarray(starts)
    offsets = pa.array(np.concatenate([[0], np.cumsum(length)]).astype(np.int32))
    return pa.Table.from_arrays(
        [
            pa.ListArray.from_arrays(offsets, pa.array(source[where])),
            pa.ListArray.from_arrays(offsets, pa.array(target[where])),
            pa.array(length.astype(np.int32)),
            pa.array(np.asarray(starts).astype(np.int64)),
        ],
        schema=SCHEMA,
    )


def split_sizes(n: int, valid_fraction: float, test_fraction: float) -> dict[str, int]:
    """Observations per split: test and valid are `round(n * fraction)`, train the rest."""
    test = round(n * test_fraction)
    valid = round(n * valid_fraction)
    return {"train": n - test - valid, "valid": valid, "test": test}


def build(
    data: bytes,
    *,
    vocab_size: int,
    max_length: int,
    valid_fraction: float,
    test_fraction: float,
    seed: int,
    name: str = "corpus",
) -> Built:
    """The whole dataset from text8-format bytes (`encode_corpus`): shuffled with `seed` and
    split.

    After one shuffle of all observations, the first rows go to test, the next to valid and
    the rest to train, each keeping the shuffled order.
    """
    table, vocab, stats = encode_corpus(data, vocab_size, max_length, name)
    sizes = split_sizes(table.num_rows, valid_fraction, test_fraction)
    fractions = {"valid": valid_fraction, "test": test_fraction}
    empty = [split for split in fractions if sizes[split] < 1]
    if empty and sizes["train"] >= 1 and table.num_rows >= len(SPLITS):
        split = empty[0]  # too small a fraction of enough observations: name the fraction
        raise FixableError(
            f"dataset.{split}_fraction = {fractions[split]:g} gives the {split} split none of "
            f"the {table.num_rows:,} observations of {name}; raise it to "
            f"{1 / table.num_rows:.2g} or more, or use a larger corpus"
        )
    if min(sizes.values()) < 1:
        fix = "a smaller dataset.max_length (more, shorter observations)"
        if table.num_rows == 0 and stats["dropped_words"]:  # no word fits an observation
            fix = f"a dataset.max_length above {max_length} (every word is longer)"
        raise FixableError(
            f"{name} gives only {table.num_rows} observations, too few for train, valid and "
            f"test; use a larger corpus or {fix}"
        )
    order = np.random.default_rng(seed).permutation(table.num_rows)
    test, valid, train = np.split(order, [sizes["test"], sizes["test"] + sizes["valid"]])
    splits = {"train": table.take(train), "valid": table.take(valid), "test": table.take(test)}
    for split, part in splits.items():  # an unscored split trains, validates or grades nothing
        if not pc.any(pc.greater(pc.list_flatten(part.column("target")), UNKNOWN)).as_py():
            raise FixableError(
                f"{name}: every word of the {split} split is outside the vocabulary, so nothing "
                "there is scored; use a larger corpus or a larger dataset.vocab_size"
            )
    stats = {"observations": sizes, **stats}
    return Built(vocab=vocab, splits=splits, stats=stats)


def write(built: Built, directory: str | Path) -> None:
    """Store the splits as parquet and the vocabulary as JSON in `directory`."""
    directory = Path(directory)
    for name, table in built.splits.items():
        pq.write_table(table, directory / f"{name}.parquet")
    vocab = {"chars": built.vocab.chars, "words": built.vocab.words}
    (directory / VOCAB_FILE).write_text(json_text(vocab, indent=None))
