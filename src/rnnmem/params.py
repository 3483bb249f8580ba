"""params.yaml and run.yaml, typed and checked: the one home of every setting.

`load` reads the file once, as DVC reads it (YAML 1.2, where `3e-3` is a number), and
returns `Params`, one frozen dataclass per section; `load_run` reads run.yaml, the few
settings that say how to run rather than what comes out, into `RunSettings`. No field has a
default, so every key must be in its file: a missing one, a typo, a wrong type, an unknown
key or an out-of-range value stops the stage in one line naming the key, the value and what
is allowed, before any work is done, and so do settings valid alone that make a result
meaningless together (a context window as long as an observation). Profiles
(profiles/*.yaml) hold only the keys they change and are merged into params.yaml by
`rnnmem.profile`.

Stage scripts read settings as attribute chains of what `load` returns (`run.memory.swaps`,
or a section bound to a name or an annotated argument first); a section handed on whole (to
`dataclasses.asdict`, to the training loop) counts as read whole. tests/test_dvc_yaml.py reads
those chains to check that each stage declares in dvc.yaml exactly the parameters it reads.
The library (models, data, analysis, training) never imports this module: the stages hand it
values.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.events import AliasEvent

from rnnmem.data.text8 import model_chars
from rnnmem.errors import UserError
from rnnmem.kinds import INITS, KINDS, NESTED

PARAMS_FILE = Path("params.yaml")
RUN_FILE = Path("run.yaml")
# Keys that say how to run, once in params.yaml: where each lives now (a params.yaml from
# before the move gets that one line, not "unknown key").
MOVED = {
    "corpus.text8_url": "run.yaml (text8_url)",
    "corpus.timeout_s": "run.yaml (timeout_s)",
    "corpus.retries": "run.yaml (retries)",
    "corpus.text8_zip": "dvc.yaml (paths: text8_zip)",
    "train.device": "run.yaml (device)",
    "train.checkpoint_every": "run.yaml (checkpoint_every)",
}
Init = Literal[INITS]  # type: ignore[valid-type] - the names the model builder knows
# An analysis sentence's characters as the model reads it (digits spelled out): connectivity
# grows with the square of the length; one model takes ~6 s and ~0.7 GB at 1000 (2-core CPU).
# The `rnnmem connectivity` command holds its text to the same bound.
MAX_SENTENCE_CHARS = 1000
MAX_TOP_K = 10  # words listed per position of a connectivity figure (and by the command)


class ParamsError(UserError):
    """A value of a settings file refused: `problem` names it, `keys` are the dotted keys it
    is about, so that a command that merged a profile into params.yaml can name the profile
    when the value came from there (`in_file`)."""

    def __init__(
        self, problem: str, keys: Sequence[str] = (), file: str | os.PathLike = PARAMS_FILE
    ) -> None:
        super().__init__(f"{file}: {problem}")
        self.problem, self.keys = problem, tuple(keys)

    def in_file(self, file: str | os.PathLike) -> ParamsError:
        return ParamsError(self.problem, self.keys, file)


def _shown(value: Any, most: int = 80) -> str:
    """A value as the user wrote it, cut to one short line (a list may be long)."""
    text = repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."


def _rule(check, allowed: str):
    """A field whose value must satisfy `check`; `allowed` is told to the user."""
    return field(metadata={"check": check, "allowed": allowed})


def positive(most: float = math.inf):
    allowed = "a number > 0" + (f" and <= {most:,g}" if most < math.inf else "")
    return _rule(lambda v: 0 < v <= most, allowed)


def between(least: int, most: int):
    """An integer in [least, most]: sizes are bounded so an absurd one fails here, not later
    with an exhausted memory or a run that never ends."""
    return _rule(lambda v: least <= v <= most, f"an integer from {least:,} to {most:,}")


def seed():
    return between(0, 2**32 - 1)  # what numpy, torch and Python all accept


def sentences():
    """Sentences to analyse: each costs time and memory quadratic in its length, measured as
    the model reads it ("1999" is "one nine nine nine", 19 characters)."""
    return _rule(
        lambda v: len(v) <= 100 and all(s and model_chars(s) <= MAX_SENTENCE_CHARS for s in v),
        f"a list of at most 100 sentences, each of 1 to {MAX_SENTENCE_CHARS:,} characters as "
        "the model reads it (digits spelled out)",
    )


def fraction():
    return _rule(lambda v: 0 < v < 1, "a number strictly between 0 and 1")


@dataclass(frozen=True)
class CorpusParams:
    """Where the text comes from: the generated probe corpus, text8, or a local file."""

    source: Literal["probe", "text8", "file"]
    seed: int = seed()
    probe_chars: int = between(10_000, 500_000_000)
    file_path: str
    min_words: int = between(1, 100_000_000)
    # text8 or a file: only its first max_chars characters (cut at a word); 0: all of it
    max_chars: int = between(0, 10**9)


@dataclass(frozen=True)
class DatasetParams:
    """The autocomplete dataset: vocabulary, observation length and splits."""

    # One word would be every guess, and right every time: accuracy 1.0 that means nothing.
    vocab_size: int = _rule(
        lambda v: 2 <= v <= 1_000_000,
        "an integer from 2 to 1,000,000 (with one word every guess is right)",
    )
    max_length: int = between(2, 100_000)
    valid_fraction: float = fraction()
    test_fraction: float = fraction()
    seed: int = seed()

    def __post_init__(self) -> None:
        if self.valid_fraction + self.test_fraction >= 1:
            raise ParamsError(
                f"dataset.valid_fraction + dataset.test_fraction = "
                f"{self.valid_fraction + self.test_fraction:g}; allowed: a sum < 1",
                ("dataset.valid_fraction", "dataset.test_fraction"),
            )


@dataclass(frozen=True)
class ModelParams:
    """One recurrent model: its size, how its weights start, and `learning_rate`, which
    overrides train.learning_rate for this model alone (null: train's), so that sweeping one
    model's rate retrains no other. `depth` is the Nested LSTM's nesting: only models.nlstm
    has the key, and the others' depth is None."""

    units: int = between(1, 8192)
    layers: int = between(1, 64)
    depth: int | None = _rule(lambda v: v is None or 1 <= v <= 16, "an integer from 1 to 16")
    init: Init
    learning_rate: float | None = _rule(
        lambda v: v is None or 0 < v <= 10, "null or a number > 0 and <= 10"
    )


@dataclass(frozen=True)
class TrainParams:
    """Optimisation shared by all models; each run's seed comes from the top-level seeds."""

    batch_size: int = between(1, 65_536)
    epochs: int = between(1, 10_000)
    learning_rate: float = positive(most=10)
    clip_grad_norm: float = _rule(
        lambda v: 0 <= v <= 1e6, "a number from 0 to 1e6 (0 turns clipping off)"
    )
    log_every: int = between(1, 10**9)  # steps between two rows of the training curves
    threads: int = between(0, 1024)  # torch CPU threads; 0: automatic, from the core count
    precision: Literal["fp32", "tf32", "bf16"]  # tf32 and bf16 matter on a GPU
    eval_every: int = between(1, 10**9)  # steps between two validations (and at the end)
    max_steps: int = between(0, 10**9)  # cap on training steps; 0: the whole epochs
    patience: int = between(0, 10**6)  # stop after this many validations without a better loss


@dataclass(frozen=True)
class AnalysisParams:
    """Connectivity and prefix-accuracy settings."""

    sentences: list[str] = sentences()
    aggregate_observations: int = between(1, 100_000)
    top_k: int = between(1, MAX_TOP_K)


@dataclass(frozen=True)
class MemoryParams:
    """Behavioural memory, connectivity against behaviour, context ablation and the long-range
    probe (docs/design.md, Memory against ground truth)."""

    attribution_observations: int = between(1, 100_000)  # observations whose pairs get AUCs
    swaps: int = between(1, 5)  # alternative names per pair: intervention and AUC controls
    min_gap: float = fraction()  # referent minus placebo top-1 a bucket needs for the span
    ablation_observations: int = between(1, 100_000)  # observations rerun through each window
    # Each window must be shorter than dataset.max_length (checked in `load`): one that long
    # sees whole observations, and would report full context as a measured result.
    windows: list[int] = _rule(
        lambda v: 1 <= len(v) <= 20 and all(1 <= w <= 10_000 for w in v) and len(set(v)) == len(v),
        "a list of 1 to 20 distinct window lengths, each of 1 to 10,000 characters",
    )
    ablation_tolerance_nats: float = positive(most=10)  # loss a window may add and match
    long_probe_seed: int = seed()  # the long-range test set's text
    long_probe_pairs: int = between(1, 10_000)  # planted pairs per distance bucket, at least
    long_probe_length: int = between(400, 10_000)  # characters per observation, at most
    # validation observations (those holding a planted pair) each training snapshot is scored on
    recall_observations: int = between(1, 100_000)
    # memory on any text (words that repeat): the most frequent words, named without memory,
    # are left out, and a swap effect (nats) a distance bucket needs for the natural span
    common_words: int = between(0, 1_000_000)
    min_effect_nats: float = positive(most=10)
    seed: int = seed()  # bootstrap resampling and the alternative names


@dataclass(frozen=True)
class RunSettings:
    """run.yaml: how to run, not what comes out. No stage declares these, so changing one
    reruns nothing and `dvc exp show` lists none: the download is checked against text8's
    known size whatever its source, resumable state only saves time, and a device changes
    results only within float rounding (tests/test_cuda.py)."""

    text8_url: str
    timeout_s: float = positive(most=3600)  # each read of the download waits at most this
    retries: int = between(0, 100)
    device: Literal["auto", "cpu", "cuda"]  # training and every analysis; auto: a GPU if any
    checkpoint_every: int = between(1, 10**9)  # training steps between two resumable saves


class Models(dict[str, ModelParams]):
    """The `models` section: the models the pipeline runs, by kind, in params.yaml's order."""

    def __missing__(self, kind: str) -> ModelParams:
        raise UserError(
            f"params.yaml: no models.{kind}; the models are {', '.join(self)}; add {kind} there"
        )


@dataclass(frozen=True)
class Params:
    """The whole of params.yaml. Every model is trained, evaluated and analysed once per seed
    of `seeds`; the list sits outside `train` so that adding a seed leaves the other seeds'
    stages cached."""

    corpus: CorpusParams
    dataset: DatasetParams
    train: TrainParams
    analysis: AnalysisParams
    memory: MemoryParams
    models: Models
    seeds: list[int]


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


def _mapping(raw: Any, name: str) -> dict:
    if not isinstance(raw, dict):
        raise ParamsError(f"{name} must be a mapping of keys, got {_shown(raw)}", (name,))
    return raw


def parse_section(
    cls: type[Section], raw: Any, name: str, file: str | os.PathLike = PARAMS_FILE
) -> Section:
    """Check `raw` (a mapping from YAML) against dataclass `cls`, every field a key of it;
    `name` is its dotted key in `file` ("" for the whole file)."""
    raw = _mapping(raw, name) if name else raw
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{name}." if name else ""
    for key in raw:
        if key not in fields:
            raise ParamsError(
                f"unknown key {prefix}{_name(key)}; allowed keys: {', '.join(fields)}",
                (f"{prefix}{key}",),
                file,
            )
    for key, f in fields.items():
        dotted = f"{prefix}{key}"
        if key not in raw:
            raise ParamsError(f"missing key {dotted} ({_describe(hints[key])})", (dotted,), file)
        value = raw[key]
        if not _type_ok(value, hints[key]):
            allowed = _describe(hints[key])
            raise ParamsError(f"{dotted} = {_shown(value)}; allowed: {allowed}", (dotted,), file)
        check = f.metadata.get("check")
        if check is not None and not check(value):
            allowed = f.metadata["allowed"]
            raise ParamsError(f"{dotted} = {_shown(value)}; allowed: {allowed}", (dotted,), file)
    return cls(**{k: _convert(v, hints[k]) for k, v in raw.items()})


def _models(raw: Any) -> Models:
    """The `models` section: a mapping of known kinds, at least one; only nlstm has a depth."""
    raw = _mapping(raw, "models")
    for kind in raw:
        if kind not in KINDS:
            raise ParamsError(
                f"unknown key models.{_name(kind)}; allowed: {', '.join(KINDS)}",
                (f"models.{kind}",),
            )
    if not raw:
        raise ParamsError(f"models is empty; give at least one of {', '.join(KINDS)}", ("models",))
    models = Models()
    for kind, section in raw.items():
        section = _mapping(section, f"models.{kind}")
        if kind != NESTED:
            if "depth" in section:
                raise ParamsError(
                    f"unknown key models.{kind}.depth; only models.{NESTED} has a depth",
                    (f"models.{kind}.depth",),
                )
            section = {**section, "depth": None}
        models[kind] = parse_section(ModelParams, section, f"models.{kind}")
        if models[kind].depth is None and kind == NESTED:
            raise ParamsError(
                f"models.{kind}.depth = None; allowed: an integer from 1 to 16",
                (f"models.{kind}.depth",),
            )
    return models


def _seeds(seeds: Any) -> list[int]:
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
        raise ParamsError(
            f"seeds = {_shown(seeds)}; allowed: a list of 1 to 1,000 distinct integers from 0 "
            "to 4,294,967,295, written without a decimal point or exponent",
            ("seeds",),
        )
    return seeds


def _windows_fit(dataset: DatasetParams, memory: MemoryParams) -> None:
    """A context window must be shorter than the longest observation, or it sees everything."""
    longest = max(memory.windows)
    if longest >= dataset.max_length:
        raise ParamsError(
            f"memory.windows holds {longest} but dataset.max_length = {dataset.max_length}; "
            "keep every window below dataset.max_length (a window that long sees whole "
            "observations)",
            ("memory.windows", "dataset.max_length"),
        )


SECTIONS = get_type_hints(Params)  # section name -> its type
MAX_PARAMS_BYTES = 1 << 20


def read_params(path: str | os.PathLike = PARAMS_FILE) -> dict[str, Any]:
    """The whole params file as a mapping, read as DVC reads it (YAML 1.2), or one line
    naming what is wrong: unreadable, not YAML, or a section this project does not have."""
    raw = _read_mapping(path, f"a mapping of sections ({', '.join(SECTIONS)})")
    unknown = [_name(key) for key in raw if key not in SECTIONS]
    if unknown:
        raise ParamsError(
            f"unknown section {', '.join(unknown)}; allowed: {', '.join(SECTIONS)}",
            [str(key) for key in raw if key not in SECTIONS],
            path,
        )
    return raw


def _read_mapping(path: str | os.PathLike, shape: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping (`shape` says which), or one line saying why not."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise UserError(f"{path} not found; run from the project root (beside dvc.yaml)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is unreadable ({err}); fix or restore it") from None
    raw = parse_yaml(text, path)
    if not isinstance(raw, dict):
        raise UserError(f"{path} must be {shape}")
    return raw


def parse_yaml(text: str, path: str | os.PathLike) -> Any:
    """A settings file's `text` read as DVC reads it (YAML 1.2), or one line naming what is
    wrong. Its size is capped and aliases (`*name`) are refused before anything is built: a
    few hundred bytes of nested aliases stand for gigabytes."""
    if len(text) > MAX_PARAMS_BYTES:
        raise UserError(
            f"{path} is over {MAX_PARAMS_BYTES:,} characters; a settings file is "
            "a few kB: check that it is the right file"
        )
    yaml = YAML(typ="safe", pure=True)
    try:
        for event in yaml.parse(text):
            if isinstance(event, AliasEvent):
                raise UserError(
                    f"{path} uses the YAML alias *{event.anchor} at line "
                    f"{event.start_mark.line + 1}; aliases are not allowed: write the value out"
                )
        return yaml.load(text)
    except (YAMLError, RecursionError, ValueError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path} is not valid YAML{where}; fix the syntax there") from None


def validate(raw: dict[str, Any]) -> Params:
    """`Params` from the mapping `read_params` gives, every section present and checked, and
    checked against each other."""
    for name in SECTIONS:
        if name not in raw:
            raise ParamsError(f"missing section {name}", (name,))
    if isinstance(raw["train"], dict) and "seed" in raw["train"]:
        raise ParamsError(
            "train.seed is replaced by the top-level seeds list; move it", ("train.seed",)
        )
    for dotted, home in MOVED.items():
        section, key = dotted.split(".")
        if isinstance(raw[section], dict) and key in raw[section]:
            raise ParamsError(
                f"{dotted} says how to run, not what comes out, and lives in {home} now; move "
                "it there",
                (dotted,),
            )
    sections = {
        name: parse_section(cls, raw[name], name)
        for name, cls in SECTIONS.items()
        if name not in ("seeds", "models")
    }
    run = Params(**sections, seeds=_seeds(raw["seeds"]), models=_models(raw["models"]))
    _windows_fit(run.dataset, run.memory)
    return run


def load(path: str | os.PathLike = PARAMS_FILE) -> Params:
    """The whole of params.yaml, validated (see `validate`)."""
    return validate(read_params(path))


def load_run(path: str | os.PathLike = RUN_FILE) -> RunSettings:
    """run.yaml, checked as params.yaml is: every key present, each value allowed."""
    return parse_section(RunSettings, _read_mapping(path, "a mapping of keys"), "", path)
