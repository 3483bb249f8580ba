"""Typed, validated views of params.yaml: one small dataclass per section.

Every stage loads its own sections through `load`, so a typo, a wrong type or an
out-of-range value stops the stage in one line naming the key, the value and
what is allowed, before any work is done.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from rnnmem.stage import UserError

PARAMS_FILE = Path("params.yaml")
MODEL_KINDS = ("gru", "lstm", "nlstm")
INITS = ("reference", "pytorch")  # how a model's weights start (models.build_model)


def _rule(check, allowed: str, default: Any = dataclasses.MISSING):
    """A dataclass field whose value must satisfy `check`; `allowed` is told to the user."""
    return field(default=default, metadata={"check": check, "allowed": allowed})


def positive(default: Any = dataclasses.MISSING):
    return _rule(lambda v: v > 0, "a number > 0", default)


def non_negative(default: Any = dataclasses.MISSING):
    return _rule(lambda v: v >= 0, "a number >= 0", default)


def fraction(default: Any = dataclasses.MISSING):
    return _rule(lambda v: 0 < v < 1, "a number strictly between 0 and 1", default)


@dataclass(frozen=True)
class CorpusParams:
    """Where the text comes from (DESIGN section 2)."""

    source: Literal["probe", "text8", "file"] = "probe"
    seed: int = non_negative(0)
    probe_chars: int = _rule(lambda v: v >= 10_000, "an integer >= 10000", 2_500_000)
    text8_url: str = "http://mattmahoney.net/dc/text8.zip"
    text8_zip: str = "data/downloads/text8.zip"
    file_path: str = ""
    min_words: int = positive(1000)
    timeout_s: float = positive(30.0)
    retries: int = non_negative(5)


@dataclass(frozen=True)
class DatasetParams:
    """The autocomplete dataset (DESIGN section 3)."""

    vocab_size: int = positive(2048)
    max_length: int = _rule(lambda v: v >= 2, "an integer >= 2", 200)
    valid_fraction: float = fraction(0.05)
    test_fraction: float = fraction(0.05)
    seed: int = non_negative(0)

    def __post_init__(self) -> None:
        if self.valid_fraction + self.test_fraction >= 1:
            raise UserError(
                f"params.yaml: dataset.valid_fraction + dataset.test_fraction = "
                f"{self.valid_fraction + self.test_fraction:g}; allowed: a sum < 1"
            )


@dataclass(frozen=True)
class ModelParams:
    """One recurrent model's size (DESIGN section 4); `depth` is the Nested LSTM's nesting,
    `init` how its weights start: as the reference code (default) or PyTorch's defaults."""

    units: int = positive()
    layers: int = positive()
    depth: int = positive(2)
    init: Literal["reference", "pytorch"] = "reference"


@dataclass(frozen=True)
class TrainParams:
    """Optimisation shared by all models (DESIGN section 5)."""

    batch_size: int = positive(64)
    epochs: int = positive(2)
    learning_rate: float = positive(1e-3)
    seed: int = non_negative(0)  # set per run from the top-level seeds list, not params.yaml
    clip_grad_norm: float = _rule(lambda v: v >= 0, "a number >= 0 (0 turns clipping off)", 0.0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = positive(100)
    log_every: int = positive(10)  # steps between two rows of the training curves


@dataclass(frozen=True)
class AnalysisParams:
    """Connectivity and prefix-accuracy settings (DESIGN sections 6 and 7)."""

    sentences: list[str] = field(default_factory=list)
    aggregate_observations: int = positive(200)
    top_k: int = _rule(lambda v: 1 <= v <= 10, "an integer from 1 to 10", 3)


Section = TypeVar("Section")


def _type_ok(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is Literal:
        return value in get_args(hint)
    if origin is list:
        (item,) = get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and math.isfinite(value)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if origin is list:
        return f"a list whose items are each {_describe(get_args(hint)[0])}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        hint, hint.__name__
    )


def parse_section(cls: type[Section], raw: Any, name: str) -> Section:
    """Check `raw` (a mapping from YAML) against dataclass `cls`; `name` is its dotted key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"params.yaml: {name} must be a mapping of keys, got {raw!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise UserError(
                f"params.yaml: unknown key {name}.{key}; allowed keys: {', '.join(fields)}"
            )
    for key, f in fields.items():
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        if key not in raw:
            if not has_default:
                raise UserError(f"params.yaml: missing key {name}.{key} ({_describe(hints[key])})")
            continue
        value = raw[key]
        if not _type_ok(value, hints[key]):
            raise UserError(
                f"params.yaml: {name}.{key} = {value!r}; allowed: {_describe(hints[key])}"
            )
        check = f.metadata.get("check")
        if check is not None and not check(value):
            allowed = f.metadata["allowed"]
            raise UserError(f"params.yaml: {name}.{key} = {value!r}; allowed: {allowed}")
    values = {k: (float(v) if hints[k] is float else v) for k, v in raw.items()}
    return cls(**values)


def read_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The whole params file as a mapping, or a one-line error if it cannot be read."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found; run from the project root (beside dvc.yaml)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path} is not valid YAML{where}; fix the syntax there") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} must be a mapping of sections (corpus, dataset, ...)")
    return raw


_SECTIONS = {
    "corpus": CorpusParams,
    "dataset": DatasetParams,
    "train": TrainParams,
    "analysis": AnalysisParams,
}


def load(section: str, path: Path = PARAMS_FILE) -> Any:
    """The validated dataclass of one section: corpus, dataset, train or analysis."""
    return parse_section(_SECTIONS[section], read_params(path).get(section), section)


def load_seeds(path: Path = PARAMS_FILE) -> list[int]:
    """The top-level `seeds` list: every model is trained, evaluated and analysed once per seed.

    It sits outside `train` so that adding a seed leaves the other seeds' stages cached.
    """
    raw = read_params(path)
    if "seed" in (raw.get("train") or {}):
        raise UserError("params.yaml: train.seed is replaced by the top-level seeds list; move it")
    seeds = raw.get("seeds", [0])
    ok = isinstance(seeds, list) and seeds and _type_ok(seeds, list[int])
    if not ok or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UserError(
            f"params.yaml: seeds = {seeds!r}; allowed: a non-empty list of distinct integers >= 0"
        )
    return seeds


def load_model_kinds(path: Path = PARAMS_FILE) -> list[str]:
    """The models the pipeline runs: the keys of the `models` section (each validated)."""
    models = read_params(path).get("models") or {}
    kinds = [kind for kind in MODEL_KINDS if kind in (models if isinstance(models, dict) else {})]
    for kind in kinds or MODEL_KINDS[:1]:
        load_model(kind, path)
    return kinds


def load_model(kind: str, path: Path = PARAMS_FILE) -> ModelParams:
    """The validated `models.<kind>` section; depth is only meaningful for nlstm."""
    if kind not in MODEL_KINDS:
        raise UserError(f"unknown model {kind!r}; allowed: {', '.join(MODEL_KINDS)}")
    models = read_params(path).get("models") or {}
    if not isinstance(models, dict):
        raise UserError("params.yaml: models must be a mapping with gru, lstm and nlstm")
    for key in models:
        if key not in MODEL_KINDS:
            raise UserError(
                f"params.yaml: unknown key models.{key}; allowed: {', '.join(MODEL_KINDS)}"
            )
    raw = models.get(kind)
    if raw is None:
        raise UserError(f"params.yaml: missing section models.{kind} (units, layers)")
    if kind != "nlstm" and isinstance(raw, dict) and "depth" in raw:
        raise UserError(
            f"params.yaml: unknown key models.{kind}.depth; only models.nlstm has a depth"
        )
    return parse_section(ModelParams, raw, f"models.{kind}")
