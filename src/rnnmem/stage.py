"""What every stage shares: one-line errors and outputs that appear whole or not at all.

A stage script is `main()` wrapped in `run_stage`. Problems the user can fix are
raised as `UserError` and printed as a single line; anything else is reported in
one line too, with the traceback kept for `RNNMEM_DEBUG=1`. Outputs are written
beside their final path and renamed into place, so a killed or failed stage never
leaves a half-written file that a later run would trust.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DEBUG_ENV = "RNNMEM_DEBUG"


class UserError(Exception):
    """A problem the user can fix; its message names the problem and the fix."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _os_error_line(err: OSError) -> str:
    where = f" ({err.filename})" if err.filename else ""
    if err.errno == errno.ENOSPC:
        return f"no space left on device{where}; free disk space or point data/ at a larger disk"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write{where}: {err.strerror}; make the output directory writable"
    return f"{err.strerror or err}{where}"


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's `main`, turning every failure into one line on stderr and exit code 1."""
    try:
        main()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - the whole point is one line for any failure
        if os.environ.get(DEBUG_ENV):
            raise
        if isinstance(err, UserError):
            line = str(err)
        elif isinstance(err, OSError):
            line = _os_error_line(err)
        else:
            line = f"unexpected {type(err).__name__}: {err} (set {DEBUG_ENV}=1 for the traceback)"
        print(f"error: {line}", file=sys.stderr)
        sys.exit(1)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes files private; outputs are ordinary files
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `path`; it replaces `path` only on success."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        tmp.chmod(0o777 & ~_umask())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a small text file (JSON, TSV, HTML) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write a small, human-readable JSON file (metrics, meta) atomically."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def read_json(path: str | os.PathLike, fix: str) -> Any:
    """A JSON input's content, or a one-line error naming the file and `fix` (how to remake it)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found; {fix}") from None
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is unreadable ({err}); {fix}") from None
