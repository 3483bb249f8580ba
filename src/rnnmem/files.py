"""Outputs that appear whole or not at all, and the one way JSON is written (NaN as null).

Outputs are written beside their final path and renamed into place, so a killed or failed
writer never leaves a half-written file that a later run would trust; the temporary name
carries the writer's PID, so the next writer in that directory removes what a dead run left.
Only regular files and directories are ever replaced: a device, FIFO or socket at an output
path is refused, never turned into a file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnmem.errors import FixableError, InputError

if TYPE_CHECKING:
    import pandas as pd

# Temporary outputs: `.<final name>.pid<writer PID>.<random>.tmp` (older runs: no pid part).
_TEMP = re.compile(r"^\..+?(?:\.pid(\d+))?\.[A-Za-z0-9_]{8}\.tmp$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(directory: Path, untagged: bool = True) -> None:
    """Delete temporary outputs in `directory` whose writer is no longer running; with
    `untagged`, also those of older runs, which carry no PID (never in a user's folder,
    where such a name might be someone else's)."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None or (match.group(1) and _alive(int(match.group(1)))):
            continue
        if match.group(1) is None and not untagged:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _replaceable(final: Path, want_dir: bool) -> None:
    """Refuse to replace anything at `final` but what we write there: a regular file (or a
    symbolic link, which is replaced, not followed) for a file, a directory for a directory."""
    try:
        mode = os.lstat(final).st_mode
    except FileNotFoundError:
        return
    if want_dir:
        if stat.S_ISDIR(mode):
            return
    elif stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return
    if stat.S_ISDIR(mode):
        what = "a directory"
    elif stat.S_ISREG(mode):
        what = "a file"
    elif stat.S_ISLNK(mode):
        what = "a symbolic link"
    else:
        what = "a device, FIFO or socket"
    wanted = "a directory" if want_dir else "a regular file"
    raise FixableError(f"{final} is {what}, not {wanted}; refusing to replace it; use another path")


def _temp_prefix(final: Path) -> str:
    return f".{final.name}.pid{os.getpid()}."


@contextlib.contextmanager
def _named_as(final: Path) -> Iterator[None]:
    """An OSError about the hidden temporary name (or a file inside it) names `final`
    instead: that is the path the user gave, and the temporary one is gone by then. One that
    names no file (a write past the file-size limit) names `final` too."""
    try:
        yield
    except OSError as err:
        if err.filename is None and err.errno is not None:
            raise OSError(err.errno, err.strerror, str(final)) from None
        hidden = re.compile(re.escape(_temp_prefix(final)) + r"[A-Za-z0-9_]{8}\.tmp")
        named = isinstance(err.filename, str | os.PathLike)
        parts = Path(err.filename).parts if named else ()
        at = next((i for i, part in enumerate(parts) if hidden.fullmatch(part)), None)
        if at is None:
            raise
        raise OSError(err.errno, err.strerror, str(final.joinpath(*parts[at + 1 :]))) from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, follow_symlinks: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Only a regular file at `path` is replaced. A symbolic link is replaced by the file
    (pipeline outputs are ours, and DVC may link them into its cache, which must never be
    written through), or, with `follow_symlinks`, its target is written (a user's `-o`).
    """
    if not str(path):
        raise FixableError("the output path is empty; give a file name")
    final = Path(os.path.realpath(path) if follow_symlinks else path)
    _replaceable(final, want_dir=False)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final.parent, untagged=not follow_symlinks)
    with _named_as(final):
        fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(final), suffix=".tmp", dir=final.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            yield tmp
            tmp.chmod(0o666 & ~_umask())  # mkstemp makes files private; outputs are ordinary
            _replaceable(final, want_dir=False)  # again: it may have appeared meanwhile
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `path`; it replaces `path` only on success,
    and only if `path` is absent or a real directory that does not hold the working
    directory (`--out .` or an empty `--out` would otherwise delete the project)."""
    final = Path(path)
    if Path.cwd().is_relative_to(final.resolve()):
        raise FixableError(
            f"the output folder {str(path) or '(empty)'} holds the working directory; "
            "give a folder of its own"
        )
    _replaceable(final, want_dir=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final.parent)
    with _named_as(final):
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(final), suffix=".tmp", dir=final.parent))
        try:
            yield tmp
            tmp.chmod(0o777 & ~_umask())
            _replaceable(final, want_dir=True)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def significant(value: float, digits: int = 6) -> float:
    """`value` to `digits` significant digits: plenty for a figure, and small output files."""
    return float(f"{value:.{digits}g}")


def write_text(path: str | os.PathLike, text: str, follow_symlinks: bool = False) -> None:
    """Write a small text file (JSON, TSV, HTML) atomically (see `atomic_path`)."""
    with atomic_path(path, follow_symlinks) as tmp:
        tmp.write_text(text)


def write_texts(texts: Mapping[Path, str]) -> None:
    """Write small text files that belong together but share a folder with other outputs:
    each goes to its temporary path, and only once all are complete are they renamed into
    place, one right after the other. A stage that owns its folder uses `atomic_dir`."""
    with contextlib.ExitStack() as stack:
        temps = [stack.enter_context(atomic_path(path)) for path in texts]
        for tmp, text in zip(temps, texts.values(), strict=True):
            tmp.write_text(text)


def _plain(value: Any) -> Any:
    """`value` with NaN and infinities as None and numpy scalars as Python numbers: a measure
    that could not be taken is null in JSON, never a bare `NaN` that JSON does not allow."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        value = value.item()  # a numpy scalar (told apart without importing numpy)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(data: Any, indent: int | None = 2, separators: tuple[str, str] | None = None) -> str:
    """A JSON document ending in a newline, indented by `indent` (None: one line; `separators`
    as `json.dumps`). NaN and infinities become null and numpy scalars Python numbers;
    anything else JSON cannot hold is refused (TypeError or ValueError), never written."""
    return json.dumps(_plain(data), indent=indent, separators=separators, allow_nan=False) + "\n"


def csv_text(frame: pd.DataFrame, float_format: str | None = "%.6g") -> str:
    """A table without its index; floats to 6 significant digits unless told."""
    return frame.to_csv(index=False, float_format=float_format)


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's content, or an `InputError` naming the file (missing or unreadable)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path} not found", path) from None
    except (OSError, ValueError) as err:
        raise InputError(f"{path} is unreadable ({err})", path) from None


def write_json(path: str | os.PathLike, data: Any, indent: int | None = 2) -> None:
    """Write `json_text(data, indent)` atomically."""
    write_text(path, json_text(data, indent))


def write_csv(
    path: str | os.PathLike, frame: pd.DataFrame, float_format: str | None = "%.6g"
) -> None:
    """Write `csv_text(frame, float_format)` atomically."""
    write_text(path, csv_text(frame, float_format))
