"""The text8 filter, alone: what every text becomes before a model reads it. A module of its
own, without the corpus's table libraries, so that params.yaml's check can measure an
analysis sentence as the model will read it."""

from __future__ import annotations

_DIGITS = "zero one two three four five six seven eight nine".split()
_SPELLED = [(str(d).encode(), f" {word} ".encode()) for d, word in enumerate(_DIGITS)]
# Byte table: letters and digits stay, every other byte becomes a space.
_KEEP = bytes(c if c in b"abcdefghijklmnopqrstuvwxyz0123456789" else 32 for c in range(256))


def text8_filter(text: str) -> str:
    """Normalize any text like text8: lowercase, digits spelled out, anything else a space.

    Lowercasing comes first so accented capitals become accented letters, which
    (being outside `a`-`z`) turn into spaces, as text8's ASCII-only filter did.
    Leading and trailing spaces are dropped: the result is words joined by single spaces.
    """
    # Bytes and whole-buffer replaces rather than a regex: text8-sized input takes seconds.
    data = text.lower().encode("ascii", "replace").translate(_KEEP)  # non-ASCII -> "?" -> " "
    for digit, word in _SPELLED:
        data = data.replace(digit, word)
    while b"  " in data:  # each pass halves every run of spaces
        data = data.replace(b"  ", b" ")
    return data.strip(b" ").decode("ascii")


def model_chars(text: str) -> int:
    """Characters a model reads for `text`: its words after `text8_filter`, each after a space."""
    words = text8_filter(text)
    return len(words) + 1 if words else 0
