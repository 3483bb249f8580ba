"""Progress bars that live in a terminal and stay short in a log.

A tqdm bar redraws itself ten times a second, in place in a terminal. Written to a file or a
pipe (`dvc repro > log`, CI), every redraw stays: thousands per stage. Every bar of the project
is made by `progress`: in a terminal it is tqdm as it comes; elsewhere it redraws once each
tenth of its total (about ten times, besides the first and the last), never because time
passed, or once a minute when the total is unknown.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import IO, Any

from tqdm import tqdm

LOG_UPDATES = 10  # redraws of a bar of known total in a log, besides its first and last
LOG_INTERVAL = 60.0  # seconds between redraws in a log when the total is unknown


class _LogBar(tqdm):
    """A bar in a log: a new postfix (the training loss) waits for the next redraw."""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = False, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: float | None = None,
    initial: float = 0,
    file: IO[str] | None = None,
    **options: Any,
) -> tqdm:
    """A tqdm bar over `iterable` (or of `total`, moved by `update`) on `file` (stderr):
    tqdm's own in a terminal, a few lines in a log (see the module). `options` are tqdm's."""
    stream = file if file is not None else sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        # maxinterval: tqdm's monitor would otherwise lower miniters to 1 after a slow step.
        options |= {"maxinterval": math.inf}
        if total:
            steps = max(1, math.ceil((total - initial) / LOG_UPDATES))
            options |= {"miniters": steps, "mininterval": 0}
        else:
            options |= {"mininterval": LOG_INTERVAL}
        return _LogBar(iterable, total=total, initial=initial, file=file, **options)
    return tqdm(iterable, total=total, initial=initial, file=file, **options)
