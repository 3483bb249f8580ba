"""Typed, validated views of params.yaml: one small dataclass per section.

Every stage loads its own sections through `load`, so a typo, a wrong type, an
unknown section or an out-of-range value stops the stage in one line naming the key,
the value and what is allowed, before any work is done. Settings that are valid alone but
make a result meaningless together (a context window as long as an observation) are
checked whichever of their sections a stage loads. The file is read as DVC reads
it (YAML 1.2, where `3e-3` is a number), and every default equals the shipped
params.yaml, so a missing key means what the shipped file says.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from ruamel.yaml import YAML, YAMLError

from rnnmem.stage import UserError

PARAMS_FILE = Path("params.yaml")
MODEL_KINDS = ("gru", "lstm", "nlstm")
MODEL_LABELS = {"gru": "GRU", "lstm": "LSTM", "nlstm": "Nested LSTM"}  # each kind in prose
# How a model's weights start (models/language_model.py): as the reference code, PyTorch's
# defaults, chrono (gates that keep the state longer), or chrono on the forget gates only.
Init = Literal["reference", "pytorch", "chrono", "chrono_forget"]
INITS = get_args(Init)


def _rule(check, allowed: str, default: Any = dataclasses.MISSING):
    """A dataclass field whose value must satisfy `check`; `allowed` is told to the user."""
    return field(default=default, metadata={"check": check, "allowed": allowed})


def positive(default: Any = dataclasses.MISSING, most: float = math.inf):
    allowed = "a number > 0" + (f" and <= {most:,g}" if most < math.inf else "")
    return _rule(lambda v: 0 < v <= most, allowed, default)


def between(least: int, most: int, default: Any = dataclasses.MISSING):
    """An integer in [least, most]: sizes are bounded so an absurd one fails here, not later
    with an exhausted memory or a run that never ends."""
    return _rule(lambda v: least <= v <= most, f"an integer from {least:,} to {most:,}", default)


def seed(default: Any = dataclasses.MISSING):
    return between(0, 2**32 - 1, default)  # what numpy, torch and Python all accept


def sentences():
    """Sentences to analyse: each costs time and memory quadratic in its length."""
    return _rule(
        lambda v: len(v) <= 100 and all(1 <= len(s) <= 1000 for s in v),
        "a list of at most 100 sentences, each of 1 to 1,000 characters",
    )


def fraction(default: Any = dataclasses.MISSING):
    return _rule(lambda v: 0 < v < 1, "a number strictly between 0 and 1", default)


@dataclass(frozen=True)
class CorpusParams:
    """Where the text comes from: the generated probe corpus, text8, or a local file."""

    source: Literal["probe", "text8", "file"] = "probe"
    seed: int = seed(0)
    probe_chars: int = between(10_000, 500_000_000, 3_000_000)
    text8_url: str = "http://mattmahoney.net/dc/text8.zip"
    text8_zip: str = "data/downloads/text8.zip"
    file_path: str = ""
    min_words: int = between(1, 100_000_000, 1000)
    timeout_s: float = positive(30.0, most=3600)
    retries: int = between(0, 100, 5)


@dataclass(frozen=True)
class DatasetParams:
    """The autocomplete dataset: vocabulary, observation length and splits."""

    # One word would be every guess, and right every time: accuracy 1.0 that means nothing.
    vocab_size: int = _rule(
        lambda v: 2 <= v <= 1_000_000,
        "an integer from 2 to 1,000,000 (with one word every guess is right)",
        1024,
    )
    max_length: int = between(2, 100_000, 200)
    valid_fraction: float = fraction(0.05)
    test_fraction: float = fraction(0.05)
    seed: int = seed(0)

    def __post_init__(self) -> None:
        if self.valid_fraction + self.test_fraction >= 1:
            raise UserError(
                f"params.yaml: dataset.valid_fraction + dataset.test_fraction = "
                f"{self.valid_fraction + self.test_fraction:g}; allowed: a sum < 1"
            )


@dataclass(frozen=True)
class ModelParams:
    """One recurrent model's size; `depth` is the Nested LSTM's nesting. Units and layers
    differ per model in params.yaml, so they have no default. `learning_rate` overrides
    train.learning_rate for this model alone (null: train's), so that sweeping one model's
    rate retrains no other."""

    units: int = between(1, 8192)
    layers: int = between(1, 64)
    depth: int = between(1, 16, 2)
    init: Init = "chrono"
    learning_rate: float | None = _rule(
        lambda v: v is None or 0 < v <= 10, "null or a number > 0 and <= 10", None
    )

    def architecture(self) -> dict[str, Any]:
        """The keys that shape the network (what a model file's spec holds)."""
        return {"units": self.units, "layers": self.layers, "depth": self.depth, "init": self.init}


@dataclass(frozen=True)
class TrainParams:
    """Optimisation shared by all models."""

    batch_size: int = between(1, 65_536, 32)
    epochs: int = between(1, 10_000, 2)
    learning_rate: float = positive(1e-2, most=10)
    seed: int = seed(0)  # set per run from the top-level seeds list, not params.yaml
    clip_grad_norm: float = _rule(
        lambda v: 0 <= v <= 1e6, "a number from 0 to 1e6 (0 turns clipping off)", 1.0
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = between(1, 10**9, 100)
    log_every: int = between(1, 10**9, 10)  # steps between two rows of the training curves
    threads: int = between(0, 1024, 0)  # torch CPU threads; 0: automatic, from the core count
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"  # tf32 and bf16 matter on a GPU
    eval_every: int = between(1, 10**9, 50)  # steps between two validations (and at the end)
    max_steps: int = between(0, 10**9, 300)  # cap on training steps; 0: the whole epochs
    patience: int = between(0, 10**6, 3)  # stop after this many validations without a better loss


@dataclass(frozen=True)
class AnalysisParams:
    """Connectivity and prefix-accuracy settings. The sentences are the shipped file's own
    choice, so they have no default."""

    sentences: list[str] = sentences()
    aggregate_observations: int = between(1, 100_000, 30)
    top_k: int = between(1, 10, 3)


@dataclass(frozen=True)
class MemoryParams:
    """Behavioural memory, connectivity against behaviour, context ablation and the long-range
    probe (docs/design.md, Memory against ground truth)."""

    attribution_observations: int = between(1, 100_000, 30)  # observations whose pairs get AUCs
    swaps: int = between(1, 5, 3)  # alternative names per pair: intervention and AUC controls
    min_gap: float = fraction(0.05)  # referent minus placebo top-1 a bucket needs for the span
    ablation_observations: int = between(1, 100_000, 40)  # observations rerun through each window
    # Each window must be shorter than dataset.max_length (checked in `load`): one that long
    # sees whole observations, and would report full context as a measured result.
    windows: list[int] = field(
        default_factory=lambda: [5, 10, 20, 50, 100],
        metadata={
            "check": lambda v: (
                1 <= len(v) <= 20 and all(1 <= w <= 10_000 for w in v) and len(set(v)) == len(v)
            ),
            "allowed": "a list of 1 to 20 distinct window lengths, each of 1 to 10,000 characters",
        },
    )
    ablation_tolerance_nats: float = positive(0.01, most=10)  # loss a window may add and match
    long_probe_seed: int = seed(0)  # the long-range test set's text
    long_probe_pairs: int = between(1, 10_000, 20)  # planted pairs per distance bucket, at least
    long_probe_length: int = between(400, 10_000, 1000)  # characters per observation, at most
    # validation observations (those holding a planted pair) each training snapshot is scored on
    recall_observations: int = between(1, 100_000, 200)
    seed: int = seed(0)  # bootstrap resampling and the alternative names


Section = TypeVar("Section")


def _type_ok(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is UnionType:
        return any(_type_ok(value, option) for option in get_args(hint))
    if hint is type(None):
        return value is None
    if origin is Literal:
        return value in get_args(hint)
    if origin is list:
        (item,) = get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:  # 2e6 is a YAML 1.2 float; a whole one is taken as the integer
        whole = isinstance(value, float) and math.isfinite(value) and value.is_integer()
        return whole or isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and math.isfinite(value)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is UnionType:
        return " or ".join(_describe(option) for option in get_args(hint))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if origin is list:
        return f"a list whose items are each {_describe(get_args(hint)[0])}"
    return {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
        type(None): "null",
    }.get(hint, hint.__name__)


def _name(key: Any) -> str:
    """A key as the user would type it, quoted when it is not a plain name (one line always)."""
    return key if isinstance(key, str) and key.isidentifier() else repr(key)


def _convert(value: Any, hint: Any) -> Any:
    """A checked value as its field's type: YAML's 2e6 is the integer 2000000."""
    if hint in (int, float):
        return hint(value)
    if get_origin(hint) is UnionType and value is not None:
        return _convert(value, next(h for h in get_args(hint) if _type_ok(value, h)))
    return value


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
                f"params.yaml: unknown key {name}.{_name(key)}; allowed keys: {', '.join(fields)}"
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
    values = {k: _convert(v, hints[k]) for k, v in raw.items()}
    return cls(**values)


_SECTIONS = {
    "corpus": CorpusParams,
    "dataset": DatasetParams,
    "train": TrainParams,
    "analysis": AnalysisParams,
    "memory": MemoryParams,
}
TOP_LEVEL = (*_SECTIONS, "models", "seeds")
MAX_PARAMS_BYTES = 1 << 20


def read_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The whole params file as a mapping, read as DVC reads it (YAML 1.2), or one line
    naming what is wrong: unreadable, not YAML, or a section this project does not have."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise UserError(f"{path} not found; run from the project root (beside dvc.yaml)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is unreadable ({err}); fix or restore it") from None
    if len(text) > MAX_PARAMS_BYTES:
        raise UserError(f"{path} is over {MAX_PARAMS_BYTES:,} characters; restore it")
    try:
        raw = YAML(typ="safe", pure=True).load(text)
    except (YAMLError, RecursionError, ValueError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path} is not valid YAML{where}; fix the syntax there") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} must be a mapping of sections ({', '.join(TOP_LEVEL)})")
    unknown = [_name(key) for key in raw if key not in TOP_LEVEL]
    if unknown:
        raise UserError(
            f"{path}: unknown section {', '.join(unknown)}; allowed: {', '.join(TOP_LEVEL)}"
        )
    return raw


def _windows_fit(dataset: DatasetParams, memory: MemoryParams) -> None:
    """A context window must be shorter than the longest observation, or it sees everything."""
    longest = max(memory.windows)
    if longest >= dataset.max_length:
        raise UserError(
            f"params.yaml: memory.windows holds {longest} but dataset.max_length = "
            f"{dataset.max_length}; keep every window below dataset.max_length (a window that "
            "long sees whole observations)"
        )


# Checks between sections, run when a stage loads either one: (sections, check).
_ACROSS = ((("dataset", "memory"), _windows_fit),)


def load(section: str, path: Path = PARAMS_FILE) -> Any:
    """The validated dataclass of one section (corpus, dataset, train, analysis or memory),
    checked against the other sections it must agree with."""
    raw = read_params(path)
    loaded = parse_section(_SECTIONS[section], raw.get(section), section)
    for names, check in _ACROSS:
        if section in names:
            parsed = [parse_section(_SECTIONS[name], raw.get(name), name) for name in names]
            check(*parsed)
    return loaded


def load_seeds(path: Path = PARAMS_FILE) -> list[int]:
    """The top-level `seeds` list: every model is trained, evaluated and analysed once per seed.

    It sits outside `train` so that adding a seed leaves the other seeds' stages cached.
    """
    raw = read_params(path)
    if "seed" in (raw.get("train") or {}):
        raise UserError("params.yaml: train.seed is replaced by the top-level seeds list; move it")
    seeds = raw.get("seeds", [0])
    # Written as integers (1, not 1.0 or 1e0): DVC names each seed's stages and passes the
    # seed on their command lines as it is written.
    ok = (
        isinstance(seeds, list)
        and 1 <= len(seeds) <= 1000
        and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
        and len(set(seeds)) == len(seeds)
        and all(0 <= s < 2**32 for s in seeds)
    )
    if not ok:
        raise UserError(
            f"params.yaml: seeds = {repr(seeds)[:80]}; allowed: a list of 1 to 1,000 distinct "
            "integers from 0 to 4,294,967,295, written without a decimal point or exponent"
        )
    return seeds


def load_model_kinds(path: Path = PARAMS_FILE) -> list[str]:
    """The models the pipeline runs: the keys of the `models` section (each validated)."""
    models = read_params(path).get("models") or {}
    kinds = [kind for kind in MODEL_KINDS if kind in (models if isinstance(models, dict) else {})]
    for kind in kinds or MODEL_KINDS[:1]:
        load_model(kind, path)
    return kinds


def load_run(kind: str, seed: int, path: Path = PARAMS_FILE) -> tuple[ModelParams, TrainParams]:
    """What one training run of model `kind` with `seed` uses: the model's section, and the
    train section with that seed and the model's own learning rate where it sets one."""
    load_seeds(path)  # rejects a stray train.seed
    model = load_model(kind, path)
    train = load("train", path)
    rate = model.learning_rate if model.learning_rate is not None else train.learning_rate
    return model, dataclasses.replace(train, seed=seed, learning_rate=rate)


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
                f"params.yaml: unknown key models.{_name(key)}; allowed: {', '.join(MODEL_KINDS)}"
            )
    raw = models.get(kind)
    if raw is None:
        raise UserError(f"params.yaml: missing section models.{kind} (units, layers)")
    if kind != "nlstm" and isinstance(raw, dict) and "depth" in raw:
        raise UserError(
            f"params.yaml: unknown key models.{kind}.depth; only models.nlstm has a depth"
        )
    return parse_section(ModelParams, raw, f"models.{kind}")
