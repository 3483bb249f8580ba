"""Problems a caller can fix, as the library and the pipeline raise them.

A message names the problem in one line and, where the library knows it, the fix. It never
says how a pipeline remakes a file: the stage scripts and the `rnnmem` command know which
stage writes each input, and add that (`rnnmem.stage.run_stage`). This module imports
nothing of the project, so params.yaml's schema can raise without the stage machinery.
"""

from __future__ import annotations

import os
from pathlib import Path


class FixableError(Exception):
    """A setting, an input or an output path that cannot work; the message says why."""


class InputError(FixableError):
    """An input file is missing, unreadable or not what this project writes: `path` is the
    file (or the folder holding it), so that whoever knows what writes it can say so."""

    def __init__(self, message: str, path: str | os.PathLike) -> None:
        super().__init__(message)
        self.path = Path(path)


class UserError(FixableError):
    """A problem the user can fix, raised by the pipeline's own code (params, stages, the
    `rnnmem` command); its message names the problem and the fix."""
