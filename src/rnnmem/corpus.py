"""The corpus: text8 (downloaded or local), or any text file normalized the way text8 was.

Everything that leaves this module is in text8 format: only `a`-`z` and single
spaces (DESIGN section 2). The download resumes a partial file and never lets a
zip that failed its checks be trusted on the next run.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from rnnmem.params import CorpusParams
from rnnmem.stage import UserError, write_json

TEXT8_SIZE = 100_000_000  # bytes in the `text8` member of the official zip
TEXT8_MEMBER = "text8"
CHUNK = 1 << 16

# Planted long-range dependencies (probe corpus); empty for text8 and file sources.
DEPENDENCIES_SCHEMA = pa.schema(
    [
        ("document", pa.int32()),
        ("kind", pa.string()),
        ("antecedent_offset", pa.int64()),
        ("referent_offset", pa.int64()),
        ("antecedent_word", pa.string()),
        ("referent_word", pa.string()),
    ]
)

_ALPHABET = b"abcdefghijklmnopqrstuvwxyz "
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


def count_words(data: bytes) -> int:
    """Words in text8-format bytes, without splitting 100 MB into millions of strings."""
    if not data.strip(b" "):
        return 0
    return data.count(b" ") + 1 - data.startswith(b" ") - data.endswith(b" ")


def _format_problem(data: bytes) -> str | None:
    """Why `data` is not text8 format, or None when it is."""
    stray = data.translate(None, _ALPHABET)
    if stray:
        return f"contains byte {stray[:1]!r} outside a-z and space"
    if b"  " in data:
        return "contains repeated spaces"
    return None


# --- text8: download -------------------------------------------------------------------


def _describe(err: BaseException) -> str:
    """One short line for a network failure."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, http.client.IncompleteRead):
        return "connection closed before the end of the file"
    return " ".join(str(err).split()) or type(err).__name__


def _fetch(url: str, part: Path, timeout_s: float) -> None:
    """Fetch `url` into `part`, continuing from the bytes already there when the server allows.

    A 206 answer appends to the partial file; a 200 means the server ignored the
    Range header, so the file starts over.
    """
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        if response.status == 206:
            if not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
                part.unlink()
                raise OSError("server resumed at the wrong offset")
        else:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with (
            open(part, "ab" if have else "wb") as f,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"download {part.name.removesuffix('.part')}",
            ) as bar,
        ):
            while chunk := response.read(CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
    if total is not None and part.stat().st_size != total:
        raise OSError("connection closed before the end of the file")


def download(
    url: str, dest: str | os.PathLike, timeout_s: float, retries: int, backoff_s: float = 1.0
) -> Path:
    """Download `url` to `dest`, retrying with exponential backoff and resuming `<dest>.part`.

    `dest` appears only once the whole file has arrived, so an interrupted
    download is resumed next time instead of being mistaken for a finished one.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _fetch(url, part, timeout_s)
            os.replace(part, dest)
            return dest
        except (OSError, http.client.HTTPException) as err:
            error = err
            if isinstance(err, urllib.error.HTTPError):
                if err.code == 416:  # partial file is not a prefix the server knows: start over
                    part.unlink(missing_ok=True)
                elif 400 <= err.code < 500:
                    break
            if attempt < retries:
                time.sleep(backoff_s * 2**attempt)
    raise UserError(
        f"cannot download {url}: {_describe(error)}; place the zip at {dest} yourself, "
        f"or set corpus.source: probe (the offline default)"
    )


# --- text8: read and verify ------------------------------------------------------------


def _text8_problem(path: Path, expected_size: int) -> tuple[str, bytes]:
    """(problem, data): problem is empty when the zip holds a good text8 member."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read(TEXT8_MEMBER)  # reading a member in full checks its CRC
    except KeyError:
        return f"no member named {TEXT8_MEMBER!r}", b""
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
        return " ".join(str(err).split()) or type(err).__name__, b""
    if len(data) != expected_size:
        return f"member {TEXT8_MEMBER!r} has {len(data):,} bytes, expected {expected_size:,}", b""
    return _format_problem(data) or "", data


def read_text8_zip(path: str | os.PathLike, expected_size: int = TEXT8_SIZE) -> str:
    """The text of a text8 zip after checking its CRC, its size and its alphabet.

    A zip that fails is moved aside to `<zip>.corrupt`, so the next run downloads
    a fresh copy instead of trusting it.
    """
    path = Path(path)
    problem, data = _text8_problem(path, expected_size)
    if problem:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        raise UserError(
            f"{path} is not a valid text8 zip ({problem}); moved it to {aside} "
            f"(delete that); rerun to download it again"
        )
    return data.decode("ascii")


# --- any local text file ---------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """The raw bytes of a plain, .gz, .bz2 or .zip (first member) file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            with gzip.open(path) as f:
                return f.read()
        if suffix == ".bz2":
            with bz2.open(path) as f:
                return f.read()
        if suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if not members:
                    raise UserError(f"{path} holds no file; zip a text file and point at it")
                return archive.read(members[0])
        return path.read_bytes()
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise UserError(f"cannot read {path} ({reason}); check corpus.file_path") from None


def read_text_file(path: str | os.PathLike, min_words: int) -> str:
    """A local UTF-8 text file, normalized with `text8_filter`; refuses binary or tiny input."""
    if not str(path):
        raise UserError(
            "corpus.source is file but corpus.file_path is empty; set it in params.yaml"
        )
    path = Path(path)
    if not path.is_file():
        raise UserError(f"corpus.file_path {path} not found; point it at a text file")
    data = _read_bytes(path)
    if not data.strip():
        raise UserError(f"{path} is empty; point corpus.file_path at a text file")
    if b"\0" in data:
        raise UserError(f"{path} looks binary (it holds NUL bytes); use a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"{path} is not UTF-8 text (bad byte at offset {err.start}); convert it to UTF-8"
        ) from None
    text = text8_filter(text)
    words = count_words(text.encode("ascii"))
    if words < min_words:
        raise UserError(
            f"{path} has {words:,} words after normalization, fewer than corpus.min_words = "
            f"{min_words:,}; use a longer text or lower corpus.min_words"
        )
    return text


# --- what the stage calls ----------------------------------------------------------------


def load_text(
    params: CorpusParams, expected_size: int = TEXT8_SIZE, backoff_s: float = 1.0
) -> tuple[str, str]:
    """(text, origin) for the text8 or file source; the zip is downloaded only when absent."""
    if params.source == "text8":
        zip_path = Path(params.text8_zip)
        if not zip_path.exists():
            download(params.text8_url, zip_path, params.timeout_s, params.retries, backoff_s)
        return read_text8_zip(zip_path, expected_size), params.text8_url
    if params.source == "file":
        return read_text_file(params.file_path, params.min_words), params.file_path
    raise ValueError(f"load_text handles text8 and file, not {params.source!r}")


def empty_dependencies() -> pd.DataFrame:
    """The dependencies table with no rows: text8 and file corpora have no planted ones."""
    return DEPENDENCIES_SCHEMA.empty_table().to_pandas()


def save(
    directory: str | os.PathLike, source: str, origin: str, text: str, deps: pd.DataFrame
) -> None:
    """Write corpus.txt, meta.json and dependencies.parquet (the CONTRACTS layout) to `directory`.

    The text is checked against the text8 format first, so no later stage sees a bad corpus.
    """
    directory = Path(directory)
    data = text.encode("ascii")
    problem = _format_problem(data)
    if problem:
        raise ValueError(f"corpus from {origin} is not text8 format: {problem}")
    (directory / "corpus.txt").write_bytes(data)
    table = pa.Table.from_pandas(deps, schema=DEPENDENCIES_SCHEMA, preserve_index=False)
    pq.write_table(table, directory / "dependencies.parquet")
    meta = {
        "source": source,
        "origin": origin,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "words": count_words(data),
    }
    write_json(directory / "meta.json", meta)
