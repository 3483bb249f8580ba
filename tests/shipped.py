"""The shipped params.yaml as the tests build from it: a test names only the settings it
changes, and every other value is the one params.yaml holds (its one home)."""

from __future__ import annotations

import copy
import dataclasses
import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from rnnmem import params

ROOT = Path(__file__).resolve().parents[1]


def load_yaml(text: str) -> Any:
    """YAML read as DVC and params.py read it (YAML 1.2, where `1e-3` is a number)."""
    return YAML(typ="safe", pure=True).load(text)


def read_yaml(path: str | Path) -> Any:
    """A YAML file, read as `load_yaml` reads text."""
    return load_yaml(Path(path).read_text())


def yaml_text(data: Any) -> str:
    """`data` as block-style YAML, each value on one line."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 1 << 16
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def write_yaml(path: Path, data: Any) -> Path:
    """Write `data` to `path` as `yaml_text` gives it."""
    path.write_text(yaml_text(data))
    return path


SHIPPED = params.load(ROOT / "params.yaml")
RAW = read_yaml(ROOT / "params.yaml")


def dataset_settings(**changes: Any) -> dict[str, Any]:
    """Keyword arguments of `rnnmem.data.dataset.build`: params.yaml's dataset with `changes`."""
    return {**dataclasses.asdict(SHIPPED.dataset), **changes}


def nesting(kind: str) -> int | None:
    """The nesting depth params.yaml gives model `kind` (None but for the Nested LSTM)."""
    return SHIPPED.models[kind].depth


def _merge(base: dict, more: dict) -> dict:
    """`more` merged into `base` key by key (a mapping into a mapping, anything else replaced)."""
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def with_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The shipped params.yaml as a mapping with `changes` merged in (a list replaced whole);
    unlike a profile, keys params.yaml lacks are kept, so that tests can plant them."""
    return _merge(copy.deepcopy(RAW), changes)


def run_file(directory: Path, **changes: Any) -> Path:
    """directory/run.yaml: the shipped run.yaml with `changes` (device="cpu", ...)."""
    return write_yaml(directory / "run.yaml", read_yaml(ROOT / "run.yaml") | changes)


def params_file(directory: Path, snippet: str) -> Path:
    """directory/params.yaml: the shipped file with the YAML `snippet` merged in, each value
    written as the snippet spells it (`3e-3` stays 3e-3). A snippet that is not YAML, or not
    a mapping, is the whole file, as broken as it is."""
    yaml = YAML()
    try:
        changes = yaml.load(snippet)
    except YAMLError:
        changes = None
    path = directory / "params.yaml"
    if not isinstance(changes, dict):
        path.write_text(snippet)
        return path
    out = io.StringIO()
    yaml.dump(_merge(yaml.load((ROOT / "params.yaml").read_text()), changes), out)
    path.write_text(out.getvalue())
    return path
