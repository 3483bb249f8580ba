"""What every stage shares: one-line errors and outputs that appear whole or not at all.

A stage script is `main()` wrapped in `run_stage`. Problems the user can fix are
raised as `UserError` and printed as a single line; anything else is reported in
one line too, with the traceback kept for `RNNMEM_DEBUG=1`. Outputs are written
beside their final path and renamed into place, so a killed or failed stage never
leaves a half-written file that a later run would trust; the temporary name carries
the writer's PID, so the next writer in that directory removes what a dead run left.
Only regular files and directories are ever replaced: a device, FIFO or socket at an
output path is refused, never turned into a file. A stage script (stages/*.py) holds
a lock for its own outputs while it runs, so a second copy refuses to start.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import itertools
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

DEBUG_ENV = "RNNMEM_DEBUG"
LOCK_DIR = Path(".dvc/tmp/rnnmem-locks")  # beside DVC's own locks, ignored by git
# Temporary outputs: `.<final name>.pid<writer PID>.<random>.tmp` (older runs: no pid part).
_TEMP = re.compile(r"^\..+?(?:\.pid(\d+))?\.[A-Za-z0-9_]{8}\.tmp$")


class UserError(Exception):
    """A problem the user can fix; its message names the problem and the fix."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _os_error_line(err: OSError) -> str:
    where = f" ({err.filename})" if err.filename else ""
    if err.errno == errno.ENOSPC:
        disk = f"the disk holding {Path(err.filename).parent}" if err.filename else "that disk"
        return f"no space left on device{where}; free space on {disk}"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write{where}: {err.strerror}; make the output directory writable"
    return f"{err.strerror or err}{where}"


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


def _stage_lock_name() -> str | None:
    """`train-gru-0` for `python stages/train.py gru 0 --data ...`: the script and its
    positional arguments (the options after them name paths, too long for a file name).
    None outside a stage script, and on every torchrun rank but 0 (rank 0 speaks for the
    whole run)."""
    script = Path(sys.argv[0])
    if script.parent.name != "stages" or os.environ.get("RANK", "0") != "0":
        return None
    positional = itertools.takewhile(lambda arg: not arg.startswith("-"), sys.argv[1:])
    return "-".join([script.stem, *(re.sub(r"[^A-Za-z0-9_.]", "_", a) for a in positional)])


_held_locks: list[Any] = []  # open lock files stay open (and locked) until the process ends


def hold_lock(name: str, directory: Path = LOCK_DIR) -> None:
    """Take `<directory>/<name>.lock` for the life of this process, or refuse in one line
    naming the PID that holds it. The kernel drops the lock when its holder dies, even by
    SIGKILL, so a dead run never blocks the next one."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / f"{name}.lock", "a+")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise UserError(
            f"another copy of stage {name} (PID {holder}) is running on the same outputs; "
            f"wait for it to finish or stop it (kill {holder}), then rerun"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _held_locks.append(handle)


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's `main`, turning every failure into one line on stderr and exit code 1.

    Run as a stage script, it first takes that stage's lock (see `hold_lock`)."""
    try:
        name = _stage_lock_name()
        if name is not None:
            hold_lock(name)
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


def path_options(parser: argparse.ArgumentParser, **paths: str) -> argparse.ArgumentParser:
    """Add one required `--<name>` option per path (`help` text by name; underscores become
    dashes): a stage reads and writes only the paths dvc.yaml hands it."""
    for name, text in paths.items():
        parser.add_argument(f"--{name.replace('_', '-')}", required=True, type=Path, help=text)
    return parser


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
    raise UserError(f"{final} is {what}, not {wanted}; refusing to replace it; use another path")


def _temp_prefix(final: Path) -> str:
    return f".{final.name}.pid{os.getpid()}."


@contextlib.contextmanager
def _named_as(final: Path) -> Iterator[None]:
    """An OSError about the hidden temporary name (or a file inside it) names `final`
    instead: that is the path the user gave, and the temporary one is gone by then."""
    try:
        yield
    except OSError as err:
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
        raise UserError("the output path is empty; give a file name")
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
        raise UserError(
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


def json_text(data: Any) -> str:
    """A small, human-readable JSON document (metrics, meta)."""
    return json.dumps(data, indent=2) + "\n"


def csv_text(frame: pd.DataFrame, float_format: str | None = "%.6g") -> str:
    """A table without its index; floats to 6 significant digits unless told."""
    return frame.to_csv(index=False, float_format=float_format)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write `json_text(data)` atomically."""
    write_text(path, json_text(data))


def write_csv(
    path: str | os.PathLike, frame: pd.DataFrame, float_format: str | None = "%.6g"
) -> None:
    """Write `csv_text(frame, float_format)` atomically."""
    write_text(path, csv_text(frame, float_format))


def read_json(path: str | os.PathLike, fix: str) -> Any:
    """A JSON input's content, or a one-line error naming the file and `fix` (how to remake it)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found; {fix}") from None
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is unreadable ({err}); {fix}") from None
