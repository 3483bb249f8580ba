"""What every stage shares: one-line errors naming the stage to rerun, and a lock.

A stage script is `main()` wrapped in `run_stage`. Problems the user can fix are raised as
`UserError` (defined in `rnnmem.errors`), or as the library's `FixableError` (an `InputError`
names its file), and printed as a single line; anything else is reported in one line too, with
the traceback kept for `RNNMEM_DEBUG=1`. The library does not know the pipeline: a stage says
which stage writes each of its inputs (`made_by`), and a missing or damaged input ends in the
`dvc repro` that remakes it. A stage script (stages/*.py) holds a lock for its own outputs
while it runs, so a second copy refuses to start. Outputs are written whole or not at all
(`rnnmem.files`).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import itertools
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnmem import files
from rnnmem.errors import FixableError, InputError, UserError

DEBUG_ENV = "RNNMEM_DEBUG"
LOCK_DIR = Path(".dvc/tmp/rnnmem-locks")  # beside DVC's own locks, ignored by git


_makers: dict[Path, str] = {}  # input path -> the stage that writes it (`made_by`)


def made_by(makers: Mapping[str | os.PathLike, str]) -> None:
    """Name the stage that writes each input path of this run (`{args.data: "build"}`): an
    `InputError` about a file at or under one of them ends in the `dvc repro` that remakes it."""
    _makers.update({Path(path): stage for path, stage in makers.items()})


def _remake(missing: Path) -> str:
    """`; run `dvc repro <stage>`` for the stage that writes the file `missing`."""
    for path, stage in _makers.items():
        if missing == path or path in missing.parents:
            return f"; run `dvc repro {stage}`"
    return ""


def _missing_file(err: FileNotFoundError) -> str:
    """`<file> not found; run `dvc repro <stage>``: libraries (pyarrow) raise it with the path
    as the only argument, without errno or filename."""
    name = err.filename or (str(err.args[0]) if len(err.args) == 1 else str(err))
    return f"{name} not found" + _remake(Path(name))


def _os_error_line(err: OSError) -> str:
    where = f" ({err.filename})" if err.filename else ""
    if err.errno == errno.ENOSPC:
        disk = f"the disk holding {Path(err.filename).parent}" if err.filename else "that disk"
        return f"no space left on device{where}; free space on {disk}"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write{where}: {err.strerror}; make the output directory writable"
    if err.errno == errno.EFBIG:
        return (
            f"file too large{where}: the file-size limit was reached; raise it (`ulimit -f "
            "unlimited`) or write to a file system that allows larger files"
        )
    return f"{err.strerror or err}{where}"


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
        # A stage that computes (it imported torch) flushes subnormal floats to zero, as
        # training does (speed only); one that never imports torch does not load it for this.
        flushed = contextlib.nullcontext()
        if "torch" in sys.modules:
            from rnnmem.device import subnormals_flushed

            flushed = subnormals_flushed()
        with flushed:
            main()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - the whole point is one line for any failure
        if os.environ.get(DEBUG_ENV):
            raise
        if isinstance(err, FixableError):
            line = str(err) + (_remake(err.path) if isinstance(err, InputError) else "")
        elif isinstance(err, FileNotFoundError):
            line = _missing_file(err)
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


def parse_arguments(
    doc: str,
    *,
    kinds: Sequence[str] = (),
    seed: bool = False,
    makers: Mapping[str, str] | None = None,
    **paths: str,
) -> argparse.Namespace:
    """The opening every stage shares: its command line, described by the first line of `doc`
    (the script's docstring), with the model `kind` (one of `kinds`, where given) and the
    training `seed` (with `seed`) as positionals and one `--<path>` per entry of `paths` (see
    `path_options`). `makers` says which stage writes the input at a path option, as `made_by`
    takes it, in a text formatted with the arguments (`dict(model="train@{kind}-{seed}")`)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if kinds:
        parser.add_argument("kind", choices=kinds)
    if seed:
        parser.add_argument("seed", type=int, help="training seed, one of params.yaml's seeds")
    args = path_options(parser, **paths).parse_args()
    made_by(
        {getattr(args, path): stage.format(**vars(args)) for path, stage in (makers or {}).items()}
    )
    return args


def read_json(path: str | os.PathLike, fix: str) -> Any:
    """A JSON input's content, or a one-line error naming the file and `fix` (how to remake it)."""
    try:
        return files.read_json(path)
    except InputError as err:
        raise UserError(f"{err}; {fix}") from None
