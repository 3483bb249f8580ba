"""Fixtures several test modules share."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_repo import reproduce_tiny


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory) -> Path:
    """The tiny pipeline, reproduced once per test session (see pipeline_repo)."""
    return reproduce_tiny(tmp_path_factory.mktemp("pipeline") / "repo")
