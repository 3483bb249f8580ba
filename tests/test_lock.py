"""requirements.lock, which the Makefile installs with hashes required, holds to pyproject.toml:
every dependency pinned exactly, with its hashes, inside pyproject's range, and no range left
open past the next major version. torch stays out of it (the Makefile installs it by its pin, so
that the CPU build on disk is taken where there is one), and so do the CUDA build's packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DECLARED = [
    Requirement(line)
    for line in PROJECT["dependencies"] + sum(PROJECT["optional-dependencies"].values(), [])
]
# What only torch's CUDA build needs; nvidia-ml-py is dvclive's GPU monitor, not a CUDA runtime.
CUDA = re.compile(r"^(nvidia-(?!ml-py$)|cuda-|triton$)")


def _locked() -> dict[str, tuple[str, list[str]]]:
    """Each pinned line of the lock: name -> (the line's requirement, its hashes)."""
    pins = {}
    for line in LOCK.read_text().replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        name = canonicalize_name(re.split(r"[=<>!~ \[]", requirement, maxsplit=1)[0])
        pins[name] = (requirement, [o for o in options if o.startswith("--hash=sha256:")])
    return pins


def test_every_line_is_an_exact_pin_with_hashes():
    pins = _locked()
    assert len(pins) > 50  # the lock was read, not skipped
    for name, (requirement, hashes) in pins.items():
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!]+", requirement), requirement
        assert hashes, f"{name} has no hash"


def test_every_declared_dependency_is_locked_within_its_range_but_torch():
    pins = _locked()
    for requirement in DECLARED:
        name = canonicalize_name(requirement.name)
        if name == "torch":
            assert name not in pins, "torch is installed by its pin, not from the lock"
            continue
        assert name in pins, f"{name} is declared in pyproject.toml but not locked"
        version = pins[name][0].split("==")[1]
        assert requirement.specifier.contains(version), f"{name}=={version} {requirement}"


@pytest.mark.parametrize(
    "requirement",
    [r for r in DECLARED if {spec.operator for spec in r.specifier} != {"=="}],
    ids=lambda r: r.name,
)
def test_every_range_stops_below_the_next_major_version(requirement):
    """A range that pins no release stops below the major after the locked one: a new major of
    a library is taken on purpose, with the lock, not by the next fresh install."""
    locked = Version(_locked()[canonicalize_name(requirement.name)][0].split("==")[1])
    caps = [Version(spec.version) for spec in requirement.specifier if spec.operator == "<"]
    assert caps == [Version(str(locked.major + 1))], f"{requirement}: cap it <{locked.major + 1}"


def test_the_lock_holds_no_cuda_package():
    """`make lock` on a machine without torch's CPU build would resolve the CUDA build's
    dependencies (several GB); this catches such a lock before it is committed."""
    assert not [name for name in _locked() if CUDA.match(name)]
