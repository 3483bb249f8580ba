"""The corpus: text8 (downloaded or local), or any text file normalized the way text8 was.

Everything that leaves this module is in text8 format: only `a`-`z` and single
spaces. The download resumes a partial file, gives up after an overall deadline or
below a minimum rate, and never lets a zip it fetched that failed its checks be trusted
on the next run; a zip or text file the user supplied is never renamed or deleted.
Downloads and decompressed input are bounded, so neither an endless server nor a small
archive can fill the disk or exhaust memory.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import http.client
import os
import stat
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rnnmem.data.text8 import text8_filter
from rnnmem.errors import FixableError, InputError
from rnnmem.files import write_json
from rnnmem.progress import progress

TEXT8_SIZE = 100_000_000  # bytes in the `text8` member of the official zip
TEXT8_MEMBER = "text8"
TEXT8_ZIP_SIZE = 31_344_016  # bytes of the official text8.zip
# A download stops here: twice the official zip leaves room for a mirror that compresses less,
# and an address that streams without end fills no disk.
MAX_DOWNLOAD_BYTES = 2 * TEXT8_ZIP_SIZE
CHUNK = 1 << 16
MAX_TEXT_BYTES = 1 << 30  # a local corpus, decompressed: 10x text8, a few GB of memory
FILE_DIGEST = "corpus_file_sha256"  # a local corpus's `file_digest`, as a record names it
DOWNLOAD_DEADLINE_S = 3600.0  # all attempts together: text8's 31 MB zip at >= 9 kB/s
MIN_RATE = 4096  # bytes per second, averaged over RATE_WINDOW_S; slower is a stall
RATE_WINDOW_S = 60.0

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


def first_chars(text: str, max_chars: int) -> str:
    """The first `max_chars` characters of a text8-format text, cut back to the last whole
    word (0: the whole text), so a run can take a slice of a large corpus."""
    if not max_chars or len(text) <= max_chars:
        return text
    cut = text.rfind(" ", 0, max_chars + 1)
    return text[: cut if cut > 0 else max_chars].strip()


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
        reason = str(err.reason).splitlines()[0] if err.reason else ""
        return f"HTTP {err.code} {reason}".strip()
    if isinstance(err, urllib.error.URLError):
        return " ".join(str(err.reason).split())
    if isinstance(err, TimeoutError):
        return " ".join(str(err).split()) or "timed out"
    if isinstance(err, http.client.IncompleteRead):
        return "connection closed before the end of the file"
    return " ".join(str(err).split()) or type(err).__name__


class _Pace:
    """The download's clock: an overall deadline, and a minimum rate over each window."""

    def __init__(self, deadline_s: float, min_rate: float, window_s: float) -> None:
        self.deadline = time.monotonic() + deadline_s
        self.deadline_s, self.min_rate, self.window_s = deadline_s, min_rate, window_s
        self.start_window(time.monotonic())

    def start_window(self, now: float) -> None:
        self.window_start, self.window_bytes = now, 0

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, received: int) -> None:
        """Raise TimeoutError past the deadline or when the last window was too slow."""
        now = time.monotonic()
        if now > self.deadline:
            raise TimeoutError(f"not finished within the deadline of {self.deadline_s:g} s")
        self.window_bytes += received
        if now - self.window_start >= self.window_s:
            rate = self.window_bytes / (now - self.window_start)
            if rate < self.min_rate:
                raise TimeoutError(
                    f"stalled at {rate:.0f} bytes/s, below the minimum of {self.min_rate:g}"
                )
            self.start_window(now)


class _TooLarge(FixableError):
    """The server sends more than a download may hold: retrying cannot help."""


def _too_large(url: str, part: Path, max_bytes: int) -> _TooLarge:
    part.unlink(missing_ok=True)
    return _TooLarge(
        f"{url} sends more than {max_bytes:,} bytes (text8.zip has {TEXT8_ZIP_SIZE:,}); "
        "stopped and deleted the partial download; check text8_url in run.yaml"
    )


def _fetch(url: str, part: Path, timeout_s: float, pace: _Pace, max_bytes: int) -> None:
    """Fetch `url` into `part`, continuing from the bytes already there when the server allows.

    A 206 answer appends to the partial file; a 200 means the server ignored the
    Range header, so the file starts over. Each read waits at most `timeout_s`; more than
    `max_bytes` in all, announced or received, ends the download (`_TooLarge`).
    """
    have = part.stat().st_size if part.exists() else 0
    if have > max_bytes:
        part.unlink()
        have = 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    request = urllib.request.Request(url, headers=headers)
    timeout = max(0.1, min(timeout_s, pace.left()))
    pace.start_window(time.monotonic())
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if response.status == 206:
            if not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
                part.unlink()
                raise OSError("server resumed at the wrong offset")
        else:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        if total is not None and total > max_bytes:
            raise _too_large(url, part, max_bytes)
        with (
            open(part, "ab" if have else "wb") as f,
            progress(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"download {part.name.removesuffix('.part')}",
            ) as bar,
        ):
            while chunk := response.read1(CHUNK):  # whatever arrived: the clock keeps running
                if f.tell() + len(chunk) > max_bytes:
                    f.close()
                    raise _too_large(url, part, max_bytes)
                f.write(chunk)
                bar.update(len(chunk))
                pace.check(len(chunk))
    if total is not None and part.stat().st_size != total:
        raise OSError("connection closed before the end of the file")


def download(
    url: str,
    dest: str | os.PathLike,
    timeout_s: float,
    retries: int,
    backoff_s: float = 1.0,
    deadline_s: float = DOWNLOAD_DEADLINE_S,
    min_rate: float = MIN_RATE,
    rate_window_s: float = RATE_WINDOW_S,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Path:
    """Download `url` to `dest`, retrying with exponential backoff and resuming `<dest>.part`.

    `dest` appears only once the whole file has arrived, so an interrupted
    download is resumed next time instead of being mistaken for a finished one. All
    attempts together end at `deadline_s`; a window of `rate_window_s` below `min_rate`
    bytes/s ends an attempt, so a server that trickles cannot hold the stage forever; a file
    over `max_bytes` is refused (and not kept to resume), so one that never ends cannot fill
    the disk.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.is_symlink() or part.exists() and not part.is_file():
        raise FixableError(f"{part} is not a regular file; move it away so the download can resume")
    pace = _Pace(deadline_s, min_rate, rate_window_s)
    for attempt in range(retries + 1):
        try:
            _fetch(url, part, timeout_s, pace, max_bytes)
            os.replace(part, dest)
            return dest
        except (OSError, http.client.HTTPException) as err:
            error = err
            if isinstance(err, urllib.error.HTTPError):
                if err.code == 416:  # partial file is not a prefix the server knows: start over
                    part.unlink(missing_ok=True)
                elif err.code < 500:  # refused, not found, redirect loop: retrying cannot help
                    break
            wait = backoff_s * 2**attempt
            if attempt == retries or pace.left() <= wait:
                break
            time.sleep(wait)
    raise FixableError(
        f"cannot download {url}: {_describe(error)}; place the zip at {dest} yourself, "
        f"or set corpus.source: probe (the offline default)"
    )


# --- text8: read and verify ------------------------------------------------------------


def _text8_problem(path: Path, expected_size: int) -> tuple[str, bytes]:
    """(problem, data): problem is empty when the zip holds a good text8 member."""
    try:
        with zipfile.ZipFile(path) as archive:
            # The size the archive declares, checked before anything is unpacked: reading
            # stops there, so a member that claims little cannot unpack to more.
            declared = archive.getinfo(TEXT8_MEMBER).file_size
            if declared != expected_size:
                problem = f"member {TEXT8_MEMBER!r} declares {declared:,} bytes"
                return f"{problem}, expected {expected_size:,}", b""
            data = archive.read(TEXT8_MEMBER)  # reading a member in full checks its CRC
    except KeyError:
        return f"no member named {TEXT8_MEMBER!r}", b""
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
        return " ".join(str(err).split()) or type(err).__name__, b""
    return _format_problem(data) or "", data


def read_text8_zip(
    path: str | os.PathLike, expected_size: int = TEXT8_SIZE, downloaded: bool = False
) -> str:
    """The text of a text8 zip after checking its CRC, its size and its alphabet.

    A zip this run `downloaded` that fails is moved aside to `<zip>.corrupt`, so the
    next run downloads a fresh copy instead of trusting it; a zip that was already
    there may be the user's own, so it is left exactly as it is.
    """
    path = Path(path)
    _regular_file(path, "the text8 zip")
    problem, data = _text8_problem(path, expected_size)
    if problem and downloaded:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        raise FixableError(
            f"the download at {path} is not a valid text8 zip ({problem}); moved it to "
            f"{aside} (delete that); rerun to download it again"
        )
    if problem:
        raise FixableError(
            f"{path} is not a valid text8 zip ({problem}); put the official text8.zip "
            f"there, or move that file away to download it"
        )
    return data.decode("ascii")


# --- any local text file ---------------------------------------------------------------


def _regular_file(path: Path, key: str) -> None:
    """Refuse a missing path, a directory, or a device or FIFO (also behind a symlink),
    each with its own message: reading /dev/zero or a FIFO would never end."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FixableError(f"{key} {path} not found; point it at a file") from None
    except OSError as err:
        raise FixableError(f"cannot read {key} {path} ({err.strerror}); check it") from None
    if stat.S_ISDIR(mode):
        raise FixableError(f"{key} {path} is a directory; point it at a file in it")
    if not stat.S_ISREG(mode):
        raise FixableError(
            f"{key} {path} is a device or FIFO, not a regular file; copy it to a file"
        )


def _bounded_read(f: BinaryIO, path: Path, max_bytes: int) -> bytes:
    data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FixableError(
            f"{path} holds more than {max_bytes:,} bytes of text (decompressed); allowed: at "
            f"most {max_bytes:,}; use a smaller file"
        )
    return data


def _read_bytes(path: Path, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """The raw bytes of a plain, .gz, .bz2 or .zip (one member) file, at most `max_bytes`."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            with gzip.open(path) as f:
                return _bounded_read(f, path, max_bytes)
        if suffix == ".bz2":
            with bz2.open(path) as f:
                return _bounded_read(f, path, max_bytes)
        if suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) != 1:
                    what = "no file" if not members else f"{len(members)} files"
                    raise FixableError(f"{path} holds {what}; zip exactly one text file")
                with archive.open(members[0]) as f:
                    return _bounded_read(f, path, max_bytes)
        with open(path, "rb") as f:
            return _bounded_read(f, path, max_bytes)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise FixableError(f"cannot read {path} ({reason}); check corpus.file_path") from None


def _corpus_file(path: str | os.PathLike) -> Path:
    """corpus.file_path as a path to a regular file, or one line saying what it is instead."""
    if not str(path):
        raise FixableError(
            "corpus.source is file but corpus.file_path is empty; set it in params.yaml"
        )
    path = Path(path)
    _regular_file(path, "corpus.file_path")
    return path


def file_digest(path: str | os.PathLike, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """SHA-256 of the corpus file as it is on disk (compressed or not), read in blocks: what
    the pipeline records to rerun the download when the file changes. A file over
    `max_bytes` is refused here, as reading it would be."""
    path = _corpus_file(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise FixableError(
            f"{path} holds {size:,} bytes; allowed: at most {max_bytes:,}; use a smaller file"
        )
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_text_file(path: str | os.PathLike, min_words: int, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A local UTF-8 text file, normalized with `text8_filter`; refuses binary, tiny or (once
    decompressed) over `max_bytes` input."""
    path = _corpus_file(path)
    data = _read_bytes(path, max_bytes)
    if not data.strip():
        raise FixableError(f"{path} is empty; point corpus.file_path at a text file")
    if b"\0" in data:
        raise FixableError(f"{path} looks binary (it holds NUL bytes); use a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FixableError(
            f"{path} is not UTF-8 text (bad byte at offset {err.start}); convert it to UTF-8"
        ) from None
    text = text8_filter(text)
    words = count_words(text.encode("ascii"))
    if words < min_words:
        raise FixableError(
            f"{path} has {words:,} words after normalization, fewer than corpus.min_words = "
            f"{min_words:,}; use a longer text or lower corpus.min_words"
        )
    return text


# --- what the stage calls ----------------------------------------------------------------


def load_text8(
    url: str,
    zip_path: str | os.PathLike,
    timeout_s: float,
    retries: int,
    expected_size: int = TEXT8_SIZE,
    backoff_s: float = 1.0,
) -> str:
    """The text of text8 from `zip_path`, downloaded from `url` only when absent."""
    zip_path = Path(zip_path)
    downloaded = not zip_path.exists() and not zip_path.is_symlink()
    if downloaded:
        download(url, zip_path, timeout_s, retries, backoff_s)
    return read_text8_zip(zip_path, expected_size, downloaded)


def read_dependencies(path: str | os.PathLike) -> pd.DataFrame:
    """dependencies.parquet as `save` wrote it, or an `InputError` naming the file."""
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise InputError(f"{path} not found", path) from None
    except (pa.ArrowException, OSError) as err:
        reason = " ".join(str(err).split())[:120]
        raise InputError(f"{path} is corrupt ({reason})", path) from None
    if not table.schema.equals(DEPENDENCIES_SCHEMA):
        raise InputError(f"{path} does not hold the planted dependencies table", path)
    return table.to_pandas()


def empty_dependencies() -> pd.DataFrame:
    """The dependencies table with no rows: text8 and file corpora have no planted ones."""
    return DEPENDENCIES_SCHEMA.empty_table().to_pandas()


def save(
    directory: str | os.PathLike, source: str, origin: str, text: str, deps: pd.DataFrame
) -> None:
    """Write corpus.txt, meta.json and dependencies.parquet to `directory`.

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
