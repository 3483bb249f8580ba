"""What the report reads, checked: the small files the stages leave under reports/.

`load_inputs` gathers them for every model; a missing or malformed file is a one-line error
naming the file and the stage to run, and a value where a number belongs is refused here,
never shown or formatted. Which metrics a model's files must hold follows the registry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnmem.analysis import registry
from rnnmem.kinds import KINDS
from rnnmem.stage import UserError, read_json

CURVES = ("train/loss", "valid/loss", "train/accuracy", "valid/accuracy")
METRIC_KEYS = tuple(m.name for m in registry.METRICS if m.source == "metrics")
CONNECTIVITY_KEYS = ("current_word_share", "earlier_words_share")
# Measured on any corpus; every other memory measure needs planted pairs and may be null.
MEMORY_KEYS = ("effective_context_chars",)
# Beside the memory measures: censored seeds (over_seeds' `<flag>_seeds`), the pairs behind
# an AUC, the farthest distance tested and what the recall stages trained over.
MEMORY_COUNTS = (
    *(f"{m.censored[0]}_seeds" for m in registry.METRICS if m.censored),
    *(m.pairs for m in registry.METRICS if m.pairs),
    "memory_span_tested_chars",
    "steps_trained",
    "validation_interval",
    "min_gap",
    "min_effect_nats",
    "ablation_tolerance_nats",
)
LONG_CURVE_COLUMNS = ("distance", "distance_middle", "pairs", "gap_k1")
MEMORY_CURVE_COLUMNS = ("distance", "pairs", "top1_k1", "placebo_top1_k1")
RECALL_CURVE_COLUMNS = ("step", "gap")
ABLATION_COLUMNS = ("window", "difference")
NATURAL_CURVE_COLUMNS = ("distance", "repeats", "swap_effect_k1")
PREFIX_COLUMNS = ("k", "top1", "top2", "top3", "count")
DISTANCE_COLUMNS = ("distance", "mean_connectivity", "share")


@dataclass(frozen=True)
class SentenceRow:
    """One model's view of a sentence: connectivity [T, T] and its top words per position."""

    kind: str
    matrix: np.ndarray
    top: list[list[tuple[str, float]]]


@dataclass(frozen=True)
class SentenceFigure:
    """The data behind one interactive connectivity figure: one sentence, one row per model."""

    text: str
    chars: list[str]
    targets: list[str]
    rows: list[SentenceRow]


@dataclass(frozen=True)
class ModelResults:
    """Everything the report shows about one model."""

    kind: str
    metrics: dict[str, Any]
    prefix: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    distance: pd.DataFrame
    connectivity: dict[str, Any]
    memory: dict[str, Any]
    memory_warnings: list[str]
    long_curve: pd.DataFrame  # the long-range probe's gap by distance (no rows: not measured)
    memory_curve: pd.DataFrame  # referents against placebos by distance (no rows: no pairs)
    recall_curve: pd.DataFrame  # the recall gap by training step (no rows: no pairs)
    ablation: pd.DataFrame  # the loss each context window adds, by window
    natural_curve: pd.DataFrame  # swap effect on repeated words by distance (no rows: none)

    def measures(self, source: registry.Source) -> dict[str, Any]:
        """The aggregate file a registry row reads its value from."""
        return {"metrics": self.metrics, "memory": self.memory, "connectivity": self.connectivity}[
            source
        ]


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, as read from reports/."""

    models: list[ModelResults]
    dictionary: pd.DataFrame
    sentences: list[SentenceFigure]
    comparisons: dict[str, Any]  # reports/comparisons.json: paired differences between models
    ngram: pd.DataFrame  # the n-gram-plus-prefix baseline's prefix accuracy
    baseline: dict[str, Any]  # reports/baseline.json: both baselines' figures
    dataset: dict[str, Any]  # reports/dataset.json, nested keys joined by "."
    paper: bool = False  # the run is the article's setup (profiles/paper.yaml on text8)

    def measures(self, source: registry.Source) -> dict[str, Any]:
        """The run's file a registry row of the data table reads its value from."""
        return self.dataset if source == "dataset" else self.baseline

    @property
    def planted(self) -> bool:
        """Whether the corpus plants recall pairs (the probe): the measures that need them
        apply. Without them (text8, a user's file) the report says so once and leaves them
        out."""
        return any(m.memory.get("recall_gap_k1") is not None for m in self.models)


def fix(stage: str) -> str:
    return f"run `dvc repro {stage}`"


def _read_json(path: Path, stage: str, keys: Sequence[str]) -> dict[str, Any]:
    data = read_json(path, fix(stage))
    missing = [key for key in keys if not isinstance(data, dict) or key not in data]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}; {fix(stage)}")
    return data


def _is_number(value: Any) -> bool:
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    return real and math.isfinite(value)


def _read_metrics(
    path: Path, stage: str, keys: Sequence[str], nullable: Sequence[str] = ()
) -> dict[str, Any]:
    """A metrics file whose `keys` (and any of `nullable` present, which may also be null)
    are finite numbers: a string there is refused, never shown or formatted."""
    data = _read_json(path, stage, keys)
    present = [*keys, *(k for k in nullable if k in data and k not in keys)]
    bad = [k for k in present if not (_is_number(data[k]) or k in nullable and data[k] is None)]
    if bad:
        raise UserError(f"{path}: {', '.join(bad)} must be numbers; {fix(stage)}")
    return data


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested keys joined by ".": {"observations": {"test": 35}} -> {"observations.test": 35}."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _run_figures(path: Path, stage: str, source: registry.Source) -> dict[str, Any]:
    """dataset.json or baseline.json, flattened; the registry's keys present must be numbers."""
    data = read_json(path, fix(stage))
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a mapping; {fix(stage)}")
    flat = _flat(data)
    keys = [m.name for m in registry.METRICS if m.source == source and m.name in flat]
    bad = [key for key in keys if not (_is_number(flat[key]) or flat[key] is None)]
    if bad:
        raise UserError(f"{path}: {', '.join(bad)} must be numbers; {fix(stage)}")
    return flat


def _read_table(
    path: Path, stage: str, columns: Sequence[str], sep: str = ",", empty: bool = False
) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep=sep)
    except FileNotFoundError:
        raise UserError(f"{path} not found; {fix(stage)}") from None
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is unreadable ({err}); {fix(stage)}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing or table.empty and not empty:
        what = f"lacks columns {', '.join(missing)}" if missing else "is empty"
        raise UserError(f"{path} {what}; {fix(stage)}")
    # a table without rows (a measure that does not apply) has no numbers to check
    text = [c for c in columns if len(table) and not pd.api.types.is_numeric_dtype(table[c])]
    if text:
        raise UserError(f"{path}: column {', '.join(text)} holds non-numbers; {fix(stage)}")
    return table


def _sentence_row(kind: str, raw: Any, path: Path) -> tuple[SentenceRow, dict[str, Any]]:
    """Check one entry of sentences.json and split it into its model row and shared text."""
    malformed = UserError(f"{path} has a malformed sentence; {fix(f'aggregate@{kind}')}")
    try:
        chars, targets, top = list(raw["chars"]), list(raw["targets"]), list(raw["top"])
        matrix = np.asarray(raw["matrix"], dtype=np.float64)
        top = [[(str(word), float(prob)) for word, prob in entries] for entries in top]
        text = str(raw["text"])
    except (KeyError, TypeError, ValueError):
        raise malformed from None
    steps = len(chars)
    shapes_agree = matrix.shape == (steps, steps) and len(targets) == len(top) == steps
    if steps == 0 or not shapes_agree or not np.isfinite(matrix).all():
        raise malformed
    return SentenceRow(kind, matrix, top), {"text": text, "chars": chars, "targets": targets}


def sentence_figure(views: Mapping[str, Any], sources: Mapping[str, Path]) -> SentenceFigure:
    """One figure from each model's view of the same sentence (a sentences.json entry, as
    `connectivity.sentence_view` makes it); `sources` names where each view came from."""
    rows, shared = [], None
    for kind, view in views.items():
        row, text = _sentence_row(kind, view, sources[kind])
        if shared is not None and text != shared:
            first = next(iter(sources.values()))
            raise UserError(
                f"{sources[kind]} and {first} hold different sentences; "
                f"{fix('connectivity')} so all models analyse analysis.sentences"
            )
        shared = text
        rows.append(row)
    return SentenceFigure(rows=rows, **shared)


def _model_results(reports: Path, kind: str, seed: int) -> ModelResults:
    """One model's aggregated results; its training curves are those of seed `seed`."""
    curves = {}
    for name in CURVES:
        path = reports / "train" / kind / f"seed{seed}" / "plots" / "metrics" / f"{name}.tsv"
        metric = name.split("/")[1]
        table = _read_table(path, f"train@{kind}-{seed}", ("step", metric), sep="\t")
        curves[name] = table[["step", metric]].rename(columns={metric: "value"})
    stage = f"aggregate@{kind}"
    analysis = reports / "connectivity" / kind
    memory = tuple(m.name for m in registry.METRICS if m.source == "memory")
    return ModelResults(
        kind=kind,
        metrics=_read_metrics(
            reports / "metrics" / f"{kind}.json",
            stage,
            METRIC_KEYS,
            (*METRIC_KEYS, "capped_while_improving_seeds"),
        ),
        prefix=_read_table(reports / "prefix" / f"{kind}.csv", stage, PREFIX_COLUMNS),
        curves=curves,
        distance=_read_table(analysis / "distance.csv", stage, DISTANCE_COLUMNS),
        connectivity=_read_metrics(
            analysis / "metrics.json", stage, CONNECTIVITY_KEYS, CONNECTIVITY_KEYS
        ),
        # Without planted pairs (text8, a user's file) only the ablation is measured.
        memory=_read_metrics(
            reports / "memory" / f"{kind}.json", stage, MEMORY_KEYS, (*memory, *MEMORY_COUNTS)
        ),
        memory_warnings=read_json(reports / "memory" / kind / "warnings.json", fix(stage)),
        # Without the probe's names in the vocabulary the long-range probe has no pairs.
        long_curve=_read_table(
            reports / "memory" / kind / "long_curve.csv", stage, LONG_CURVE_COLUMNS, empty=True
        ),
        memory_curve=_read_table(
            reports / "memory" / kind / "curve.csv", stage, MEMORY_CURVE_COLUMNS, empty=True
        ),
        recall_curve=_read_table(
            reports / "recall" / kind / "curve.csv", stage, RECALL_CURVE_COLUMNS, empty=True
        ),
        ablation=_read_table(reports / "memory" / kind / "ablation.csv", stage, ABLATION_COLUMNS),
        natural_curve=_read_table(
            reports / "memory" / kind / "natural.csv", stage, NATURAL_CURVE_COLUMNS, empty=True
        ),
    )


def load_inputs(
    reports: Path = Path("reports"),
    kinds: Sequence[str] = KINDS,
    seed: int = 0,
    paper: bool = False,
) -> ReportInputs:
    """Read every stage's report files for `kinds`; a missing file names the stage to run.

    `seed` picks the run whose training curves are shown; `paper` fills the comparison
    with the article's table (only meaningful for the article's setup)."""
    models = [_model_results(reports, kind, seed) for kind in kinds]
    paths = {kind: reports / "connectivity" / kind / "sentences.json" for kind in kinds}
    views = {}
    for kind, path in paths.items():
        views[kind] = _read_json(path, f"aggregate@{kind}", ("sentences",))["sentences"]
        if not isinstance(views[kind], list):
            raise UserError(f"{path} has no list of sentences; {fix(f'aggregate@{kind}')}")
    counts = {kind: len(entries) for kind, entries in views.items()}
    if len(set(counts.values())) > 1:
        raise UserError(
            f"the models analysed different numbers of sentences ({counts}); {fix('connectivity')}"
        )
    figures = [
        sentence_figure({kind: entries[index] for kind, entries in views.items()}, paths)
        for index in range(min(counts.values(), default=0))
    ]
    dictionary = _read_table(reports / "prefix" / "dictionary.csv", "baseline", PREFIX_COLUMNS)
    ngram = _read_table(reports / "prefix" / "ngram.csv", "baseline", PREFIX_COLUMNS)
    baseline = _run_figures(reports / "baseline.json", "baseline", "baseline")
    dataset = _run_figures(reports / "dataset.json", "build", "dataset")
    keys = ("seeds", "interval", "comparisons")
    comparisons = _read_json(reports / "comparisons.json", "compare", keys)
    return ReportInputs(models, dictionary, figures, comparisons, ngram, baseline, dataset, paper)
