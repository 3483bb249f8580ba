"""The HTML report: every result of the pipeline in one page that opens from disk.

`load_inputs` gathers the small files the evaluate, baseline, train and connectivity
stages leave under reports/ (a missing one is a one-line error naming the stage to
run). `render` turns them into one self-contained HTML page (plots embedded as PNG
data URIs, CSS and JS inline, no network) plus the same plots as PNG files. Pages are
rendered from the Jinja2 templates in templates/ with autoescaping, so text from any
input file is shown, never run. The interactive connectivity figure is also what `rnnmem
connectivity` writes for any sentence (`connectivity_page`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from rnnmem.files import atomic_dir, atomic_path, significant
from rnnmem.models.kinds import KINDS
from rnnmem.profile import holds
from rnnmem.report import findings, plots
from rnnmem.stage import UserError, read_json

CURVES = ("train/loss", "valid/loss", "train/accuracy", "valid/accuracy")
METRIC_KEYS = (
    "cross_entropy",
    "accuracy",
    "parameters",
    "training_seconds",
    "prefix_top1_k0",
    "prefix_top1_k1",
    "prefix_top1_k2",
    "reference_accuracy",
    "seeds",
)
CONNECTIVITY_KEYS = ("current_word_share", "earlier_words_share")
# The memory measures the report shows; each may be null (nothing measured on this corpus).
MEMORY_KEYS = (
    "memory_span_chars",
    "referent_top1_k1",
    "placebo_top1_k1",
    "intervention_effect_k1",
    "connectivity_auc_k0",
    "connectivity_auc_k1",
    "signed_auc_k0",
    "signed_auc_k1",
    "memory_half_life_chars",
    "recall_gap_k1",
    "steps_to_recall_median",
    "effective_context_chars",  # last: measured on any corpus
)
# Counts beside them: censored seeds (over_seeds' `<flag>_seeds`) and pairs behind an AUC.
MEMORY_COUNTS = (
    "memory_span_censored_seeds",
    "memory_half_life_censored_seeds",
    "effective_context_censored_seeds",
    "attribution_pairs_k0",
    "attribution_pairs_k1",
    "memory_span_tested_chars",
    "recall_seeds",
    "steps_trained",
    "validation_interval",
)
LONG_CURVE_COLUMNS = ("distance", "distance_middle", "pairs", "gap_k1")
MEMORY_CURVE_COLUMNS = ("distance", "pairs", "top1_k1", "placebo_top1_k1")
RECALL_CURVE_COLUMNS = ("step", "gap")
PREFIX_COLUMNS = ("k", "top1", "top2", "top3", "count")
DISTANCE_COLUMNS = ("distance", "mean_connectivity", "share")
UNKNOWN_WORD = "<unknown>"


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


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, as read from reports/."""

    models: list[ModelResults]
    dictionary: pd.DataFrame
    sentences: list[SentenceFigure]
    comparisons: dict[str, Any]  # reports/comparisons.json: paired differences between models
    ngram: pd.DataFrame  # the n-gram-plus-prefix baseline's prefix accuracy
    baseline: dict[str, Any]  # reports/baseline.json: both baselines' figures
    paper: bool = False  # the run is the article's setup (profiles/paper.yaml on text8)


def _fix(stage: str) -> str:
    return f"run `dvc repro {stage}`"


def _read_json(path: Path, stage: str, keys: Sequence[str]) -> dict[str, Any]:
    data = read_json(path, _fix(stage))
    missing = [key for key in keys if not isinstance(data, dict) or key not in data]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}; {_fix(stage)}")
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
        raise UserError(f"{path}: {', '.join(bad)} must be numbers; {_fix(stage)}")
    return data


def _read_table(
    path: Path, stage: str, columns: Sequence[str], sep: str = ",", empty: bool = False
) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep=sep)
    except FileNotFoundError:
        raise UserError(f"{path} not found; {_fix(stage)}") from None
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is unreadable ({err}); {_fix(stage)}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing or table.empty and not empty:
        what = f"lacks columns {', '.join(missing)}" if missing else "is empty"
        raise UserError(f"{path} {what}; {_fix(stage)}")
    text = [c for c in columns if not pd.api.types.is_numeric_dtype(table[c])]
    if text:
        raise UserError(f"{path}: column {', '.join(text)} holds non-numbers; {_fix(stage)}")
    return table


def _sentence_row(kind: str, raw: Any, path: Path) -> tuple[SentenceRow, dict[str, Any]]:
    """Check one entry of sentences.json and split it into its model row and shared text."""
    malformed = UserError(f"{path} has a malformed sentence; {_fix(f'aggregate@{kind}')}")
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
                f"{_fix('connectivity')} so all models analyse analysis.sentences"
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
    evaluate = connectivity = f"aggregate@{kind}"
    analysis = reports / "connectivity" / kind
    return ModelResults(
        kind=kind,
        metrics=_read_metrics(
            reports / "metrics" / f"{kind}.json",
            evaluate,
            METRIC_KEYS,
            (*METRIC_KEYS, "capped_while_improving_seeds"),
        ),
        prefix=_read_table(reports / "prefix" / f"{kind}.csv", evaluate, PREFIX_COLUMNS),
        curves=curves,
        distance=_read_table(analysis / "distance.csv", connectivity, DISTANCE_COLUMNS),
        connectivity=_read_metrics(
            analysis / "metrics.json", connectivity, CONNECTIVITY_KEYS, CONNECTIVITY_KEYS
        ),
        # Without planted pairs (text8, a user's file) only the ablation is measured.
        memory=_read_metrics(
            reports / "memory" / f"{kind}.json",
            evaluate,
            MEMORY_KEYS[-1:],
            (*MEMORY_KEYS, *MEMORY_COUNTS),
        ),
        memory_warnings=read_json(reports / "memory" / kind / "warnings.json", _fix(evaluate)),
        # Without the probe's names in the vocabulary the long-range probe has no pairs.
        long_curve=_read_table(
            reports / "memory" / kind / "long_curve.csv", evaluate, LONG_CURVE_COLUMNS, empty=True
        ),
        memory_curve=_read_table(
            reports / "memory" / kind / "curve.csv", evaluate, MEMORY_CURVE_COLUMNS, empty=True
        ),
        recall_curve=_read_table(
            reports / "recall" / kind / "curve.csv", evaluate, RECALL_CURVE_COLUMNS, empty=True
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
            raise UserError(f"{path} has no list of sentences; {_fix(f'aggregate@{kind}')}")
    counts = {kind: len(entries) for kind, entries in views.items()}
    if len(set(counts.values())) > 1:
        raise UserError(
            f"the models analysed different numbers of sentences ({counts}); {_fix('connectivity')}"
        )
    figures = [
        sentence_figure({kind: entries[index] for kind, entries in views.items()}, paths)
        for index in range(min(counts.values(), default=0))
    ]
    dictionary = _read_table(reports / "prefix" / "dictionary.csv", "baseline", PREFIX_COLUMNS)
    ngram = _read_table(reports / "prefix" / "ngram.csv", "baseline", PREFIX_COLUMNS)
    baseline = read_json(reports / "baseline.json", _fix("baseline"))
    keys = ("seeds", "interval", "comparisons")
    comparisons = _read_json(reports / "comparisons.json", "compare", keys)
    return ReportInputs(models, dictionary, figures, comparisons, ngram, baseline, paper)


def row_intensity(matrix: np.ndarray, position: int) -> np.ndarray:
    """Shading of every character for the prediction at `position`: its connectivity over the
    row's largest entry up to `position`, zero after it (the JS in the page does the same)."""
    row = np.zeros(len(matrix))
    weights = matrix[position, : position + 1]
    if weights.max() > 0:
        row[: position + 1] = weights / weights.max()
    return row


def initial_position(figure: SentenceFigure) -> int:
    """The character a figure opens on, as in the article's highlighted moments. Where the
    sentence repeats a word of four letters or more (a name given, then asked for again), the
    first letter of its last repetition: the prediction only memory can make. Otherwise the
    first letter of the word whose prediction leans most on earlier words (mean over models).
    Unknown words are passed over: their logit is never trained, so its gradient means
    little."""
    starts = [
        t
        for t in range(2, len(figure.chars))
        if figure.chars[t] != " "
        and figure.chars[t - 1] == " "
        and figure.targets[t] != UNKNOWN_WORD
    ]
    seen = {figure.targets[1]} if len(figure.chars) > 1 else set()
    repeated = []
    for t in starts:
        word = figure.targets[t]
        if word in seen and len(word) >= 4:
            repeated.append(t)
        seen.add(word)
    if repeated:
        return repeated[-1]
    best, best_score = len(figure.chars) - 1, -1.0
    for t in starts:
        shares = []
        for row in figure.rows:
            total = row.matrix[t, : t + 1].sum()
            shares.append(row.matrix[t, : t - 1].sum() / total if total > 0 else 0.0)
        score = float(np.mean(shares))
        if score > best_score:
            best, best_score = t, score
    return best


def _script_json(data: Any) -> Markup:
    """JSON safe inside a <script> element: no `<`, `>` or `&` can close it or open a comment."""
    text = json.dumps(data, separators=(",", ":"))
    for char in "<>&":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return Markup(text)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("rnnmem.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def page(template: str, title: str, **context: Any) -> str:
    """A complete HTML page from a packaged template: every value is HTML-escaped, the CSS and
    JS are inline, and the Content-Security-Policy allows exactly that CSS and JS (by hash),
    embedded images and nothing else, so no injected markup can run or load anything."""
    folder = resources.files("rnnmem.report").joinpath("templates")
    style, script = folder.joinpath("page.css").read_text(), folder.joinpath("page.js").read_text()
    csp = (
        f"default-src 'none'; img-src data:; style-src {_csp_hash(style)}; "
        f"script-src {_csp_hash(script)}"
    )
    return _ENV.get_template(template).render(
        title=title, csp=Markup(csp), style=Markup(style), script=Markup(script), **context
    )


def figure_context(figure: SentenceFigure, index: int) -> dict[str, Any]:
    """What templates/figure.html shows of one figure: `figure#sentence-<index>`, a row of
    `span.char[data-model][data-pos]` per model, and the data its script reads."""
    data = {
        "initial": initial_position(figure),
        "chars": figure.chars,
        "targets": figure.targets,
        "models": [
            {
                "kind": row.kind,
                "label": plots.LABELS.get(row.kind, row.kind),
                "rgb": ",".join(str(round(255 * c)) for c in plots.color(row.kind)),
                "matrix": [
                    [significant(v) for v in row.matrix[t, : t + 1]] for t in range(len(row.matrix))
                ],
                "top": [[[w, significant(p)] for w, p in entries] for entries in row.top],
            }
            for row in figure.rows
        ],
    }
    rows = [{"kind": r.kind, "label": plots.LABELS.get(r.kind, r.kind)} for r in figure.rows]
    return {
        "index": index,
        "text": figure.text,
        "chars": figure.chars,
        "rows": rows,
        "data": _script_json(data),
    }


def connectivity_page(figures: Sequence[SentenceFigure], title: str = "Connectivity") -> str:
    """A standalone page of interactive figures (what `rnnmem connectivity` writes)."""
    contexts = [figure_context(f, i) for i, f in enumerate(figures)]
    return page("connectivity.html", title, figures=contexts)


def _number(value: Any) -> float:
    """A metric as a float; None (nothing measured) becomes NaN."""
    return math.nan if value is None else float(value)


def _percent(value: Any) -> str:
    number = _number(value)
    return "n/a" if math.isnan(number) else f"{100 * number:.1f}%"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _with_interval(
    metrics: Mapping[str, Any],
    key: str,
    percent: bool = True,
    fmt: Callable[[Any], str] | None = None,
) -> str:
    """A metric and, when it has one, its 95 % interval: "70.6% [70.1, 71.0]". `fmt` formats
    the value and both bounds (default: percent, or four decimals)."""
    if fmt is None:
        fmt = _percent if percent else (lambda v: "n/a" if v is None else f"{v:.4f}")
    value, low, high = (metrics.get(key + end) for end in ("", "_ci_low", "_ci_high"))
    shown = fmt(value)
    if low is None or high is None or shown == "n/a":
        return shown
    bounds = [fmt(b).removesuffix("%") for b in (low, high)]
    return f"{shown} [{bounds[0]}, {bounds[1]}]"


def _prefix_top1(table: pd.DataFrame, k: int) -> float | None:
    rows = table.loc[table["k"] == k, "top1"]
    return float(rows.iloc[0]) if len(rows) else None


def metrics_rows(inputs: ReportInputs) -> list[dict[str, Any]]:
    """The metrics table as text cells, one row per model and one for the dictionary."""
    rows = []
    for model in inputs.models:
        m, c = model.metrics, model.connectivity
        cells = [
            str(m["seeds"]),
            _with_interval(m, "cross_entropy", percent=False),
            _with_interval(m, "accuracy"),
            _with_interval(m, "reference_accuracy"),
            f"{int(m['parameters']):,}",
            _duration(float(m["training_seconds"])),
            *(_with_interval(m, f"prefix_top1_k{k}") for k in range(3)),
            _with_interval(c, "current_word_share"),
        ]
        rows.append(
            {"kind": model.kind, "label": plots.LABELS.get(model.kind, model.kind), "cells": cells}
        )
    for kind, label, table in [
        ("dictionary", "dictionary baseline", inputs.dictionary),
        ("ngram", "n-gram baseline", inputs.ngram),
    ]:
        baseline = [_percent(_prefix_top1(table, k)) for k in range(3)]
        rows.append(
            {"kind": kind, "label": label, "cells": ["", "", "", "", "", "", *baseline, ""]}
        )
    return rows


def training_warnings(inputs: ReportInputs) -> dict[str, list[str]]:
    """Per model, what limits its figures: training cut off while it was still improving,
    prediction worse than the dictionary baseline, which uses no context, or worse than the
    n-gram baseline, whose margin is the evidence of longer context."""
    notes: dict[str, list[str]] = {}
    for model in inputs.models:
        mine = notes.setdefault(model.kind, [])
        capped = model.metrics.get("capped_while_improving_seeds")
        if capped:
            seeds = int(model.metrics["seeds"])
            mine.append(
                f"stopped at train.max_steps while its validation loss was still falling "
                f"(in {int(capped)} of {seeds} seeds): longer training would change its figures"
            )
        for table, what, meaning in [
            (inputs.dictionary, "the dictionary baseline (no context at all)", "its context"),
            (inputs.ngram, "the n-gram baseline (the previous two words)", "its longer-context"),
        ]:
            below = [
                str(k)
                for k in range(3)
                if (ours := _prefix_top1(model.prefix, k)) is not None
                and (theirs := _prefix_top1(table, k)) is not None
                and ours < theirs
            ]
            if below:
                mine.append(f"below {what} at k = {', '.join(below)}: {meaning} figures say little")
    return notes


def _chars(value: Any) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _censored(memory: Mapping[str, Any], key: str, flag: str, sign: str) -> str:
    """A distance or window with its interval, marked where the rule that finds it ran past
    what was tested: "≥ 185 [170, 185]" when every seed is censored, with the count when
    some are. A bound at the censoring value means at least that much too."""
    shown = _with_interval(memory, key, fmt=_chars)
    censored, seeds = memory.get(f"{flag}_seeds") or 0, int(memory.get("seeds", 1))
    if shown == "n/a" or not censored:
        return shown
    if censored == seeds:
        return f"{sign} {shown}"
    return f"{shown} (censored in {int(censored)} of {seeds} seeds)"


def _auc(memory: Mapping[str, Any], key: str, k: int) -> str:
    shown = _with_interval(memory, f"{key}_k{k}", fmt=lambda v: "n/a" if v is None else f"{v:.3f}")
    pairs = memory.get(f"attribution_pairs_k{k}")
    return shown if pairs is None or shown == "n/a" else f"{shown}, {pairs:,.0f} pairs"


def memory_rows(inputs: ReportInputs) -> list[dict[str, Any]]:
    """The Memory table: per model, each memory measure with its interval, and its warnings."""
    rows = []
    for model in inputs.models:
        m = model.memory
        half_life = _censored(m, "memory_half_life_chars", "memory_half_life_censored", "≥")
        cells = [
            _censored(m, "memory_span_chars", "memory_span_censored", "≥"),
            f"{_percent(m.get('referent_top1_k1'))} / {_percent(m.get('placebo_top1_k1'))}",
            _with_interval(m, "intervention_effect_k1", percent=False),
            *(_auc(m, "connectivity_auc", k) for k in (0, 1)),
            *(_auc(m, "signed_auc", k) for k in (0, 1)),
            half_life,
            _censored(m, "effective_context_chars", "effective_context_censored", ">"),
        ]
        rows.append(
            {
                "kind": model.kind,
                "label": plots.LABELS.get(model.kind, model.kind),
                "cells": cells,
                "warnings": "; ".join(model.memory_warnings) or "none",
            }
        )
    return rows


MEMORY_LABELS = {  # compared memory measure -> (label, decimals)
    "memory_span_chars": ("memory span (characters)", 0),
    "intervention_effect_k0": ("intervention effect k=0 (nats)", 3),
    "intervention_effect_k1": ("intervention effect k=1 (nats)", 3),
    **{f"connectivity_auc_k{k}": (f"connectivity AUC k={k}", 3) for k in (0, 1)},
    **{f"signed_auc_k{k}": (f"signed attribution AUC k={k}", 3) for k in (0, 1)},
}


def memory_comparison_rows(comparisons: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per pair of models and memory measure: A - B on the same resampled
    observations, its interval and significance (none on a corpus without planted pairs)."""
    rows = []
    for row in comparisons.get("memory_comparisons", []):
        label, digits = MEMORY_LABELS.get(row["metric"], (row["metric"], 3))
        rows.append(_difference_row(row, label, 1, digits, ""))
    return rows


def _difference_row(
    row: Mapping[str, Any], label: str, scale: int, digits: int, unit: str
) -> dict[str, str]:
    """A paired comparison as text cells: models, measure, difference, interval, significant."""

    def shown(value: Any) -> str:
        return "n/a" if value is None else f"{scale * value:+.{digits}f}"

    return {
        "pair": f"{plots.LABELS.get(row['a'], row['a'])} - {plots.LABELS.get(row['b'], row['b'])}",
        "metric": label,
        "difference": shown(row["difference"]) + unit,
        "interval": f"[{shown(row['ci_low'])}, {shown(row['ci_high'])}]",
        "significant": "yes" if row["significant"] is True else "no",
    }


METRIC_LABELS = {
    "cross_entropy": "cross entropy",
    "accuracy": "accuracy (masked)",
    "reference_accuracy": "accuracy (reference)",
    **{f"prefix_top1_k{k}": f"prefix top-1 k={k}" for k in range(3)},
}


def comparison_rows(comparisons: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per pair of models and metric: A - B, its paired interval, significance."""
    rows = []
    for row in comparisons["comparisons"]:
        percent = row["metric"] != "cross_entropy"
        label = METRIC_LABELS.get(row["metric"], row["metric"])
        rows.append(_difference_row(row, label, *((100, 1, " pt") if percent else (1, 4, ""))))
    return rows


# The article's test metrics (full text8, 600-unit models, one run each) and what they count.
PAPER = {
    "gru": {"cross_entropy": 2.1170, "reference_accuracy": 0.5201, "prefix_top1_k0": 0.165,
            "prefix_top1_k1": 0.383, "prefix_top1_k2": 0.556},
    "lstm": {"cross_entropy": 2.1713, "reference_accuracy": 0.5140, "prefix_top1_k0": 0.167,
             "prefix_top1_k1": 0.376},
    "nlstm": {"cross_entropy": 2.4950, "reference_accuracy": 0.4710, "prefix_top1_k0": 0.137,
              "prefix_top1_k1": 0.326},
}  # fmt: skip
DEFINITIONS = {
    "cross_entropy": "mean over characters whose target is neither <pad> nor <unknown>, "
    "as the article's loss",
    "reference_accuracy": "reference: <unknown> targets count, as in the article",
    **{
        f"prefix_top1_k{k}": "masked: <unknown> targets left out; the article's script "
        "also counts padding in fixed batches, so expect small differences"
        for k in range(3)
    },
}


def paper_rows(models: Sequence[ModelResults]) -> list[dict[str, str]]:
    """The article's table line by line beside ours: paper value, ours, interval, definition."""
    rows = []
    for model in models:
        for key, paper in PAPER.get(model.kind, {}).items():
            percent = key != "cross_entropy"
            ours = _with_interval(model.metrics, key, percent)
            value, _, interval = ours.partition(" ")
            rows.append(
                {
                    "model": plots.LABELS.get(model.kind, model.kind),
                    "metric": METRIC_LABELS[key],
                    "paper": _percent(paper) if percent else f"{paper:.4f}",
                    "ours": value,
                    "interval": interval or "n/a",
                    "seeds": str(model.metrics["seeds"]),
                    "definition": DEFINITIONS[key],
                }
            )
    return rows


def paper_profile(params: Mapping[str, Any], profile: Mapping[str, Any]) -> bool:
    """True when `params` is the article's setup: text8, and the dataset and models keys the
    profile sets at its values."""
    source = (params.get("corpus") or {}).get("source")
    same = all(
        holds(params.get(key) or {}, profile.get(key) or {}) for key in ("dataset", "models")
    )
    return source == "text8" and same


# The report's sections in page order: (id, heading); each is templates/sections/<id>.html.
SECTIONS = (
    ("recall", "Recall over training"),
    ("metrics", "Test metrics"),
    ("comparisons", "Paired comparisons"),
    ("training", "Training curves"),
    ("prefix", "Prefix accuracy"),
    ("distance", "Connectivity by distance"),
    ("share", "Current word vs earlier words"),
    ("memory", "Memory against ground truth"),
    ("connectivity", "Interactive connectivity"),
)


def findings_of(inputs: ReportInputs) -> list[str]:
    """The report's opening sentences (see `findings`): one per model, then each pair of
    models, then what the brackets mean."""
    lines = [
        findings.model_finding(plots.LABELS.get(m.kind, m.kind), m.memory) for m in inputs.models
    ]
    lines += findings.difference_findings(
        inputs.comparisons.get("memory_comparisons", []), plots.LABELS
    )
    if inputs.models:
        lines.append(findings.interval_note(inputs.models[0].memory))
    return lines


def _validation_interval(inputs: ReportInputs) -> str:
    steps = {m.memory.get("validation_interval") for m in inputs.models} - {None}
    return ", ".join(f"{int(s)}" for s in sorted(steps)) or "n/a"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render(inputs: ReportInputs) -> tuple[str, dict[str, bytes]]:
    """The report page and its static figures (file name -> PNG bytes)."""
    prefix = {m.kind: m.prefix for m in inputs.models} | {"dictionary": inputs.dictionary}
    figures = {
        "training_curves.png": plots.training_curves({m.kind: m.curves for m in inputs.models}),
        "prefix_accuracy.png": plots.prefix_accuracy(prefix),
        "connectivity_distance.png": plots.connectivity_distance(
            {m.kind: m.distance for m in inputs.models}
        ),
        "word_share.png": plots.word_share(
            {m.kind: _number(m.connectivity["current_word_share"]) for m in inputs.models}
        ),
        "memory_curve.png": plots.memory_curve({m.kind: m.memory_curve for m in inputs.models}),
        "recall_over_training.png": plots.recall_over_training(
            {m.kind: m.recall_curve for m in inputs.models},
            {m.kind: m.memory.get("steps_to_recall_median") for m in inputs.models},
        ),
        "memory_half_life.png": plots.memory_half_life(
            {m.kind: m.long_curve for m in inputs.models},
            {m.kind: m.memory.get("memory_half_life_chars") for m in inputs.models},
        ),
    }
    images = {name: _data_uri(png) for name, png in figures.items()}
    for index, figure in enumerate(inputs.sentences):
        position = initial_position(figure)
        figures[f"connectivity_sentence_{index}.png"] = plots.heat_strip(
            figure.chars,
            {row.kind: row_intensity(row.matrix, position) for row in figure.rows},
            position,
            f"Connectivity to the prediction at character {position} "
            f"({figure.chars[position]!r} of target word {figure.targets[position]!r})",
        )
    sections = SECTIONS + ((("paper", "Comparison with the article"),) if inputs.paper else ())
    text = page(
        "report.html",
        "rnnmem report",
        sections=sections,
        seeds=inputs.comparisons["seeds"],
        metrics_interval=inputs.models[0].metrics.get("interval", "none") if inputs.models else "",
        comparison_interval=inputs.comparisons["interval"],
        comparison_rows=comparison_rows(inputs.comparisons),
        paper_rows=paper_rows(inputs.models) if inputs.paper else [],
        labels=[plots.LABELS.get(m.kind, m.kind) for m in inputs.models],
        metrics_rows=metrics_rows(inputs),
        findings=findings_of(inputs),
        caveats=findings.caveats(training_warnings(inputs), plots.LABELS),
        validation_interval=_validation_interval(inputs),
        memory_rows=memory_rows(inputs),
        memory_comparison_rows=memory_comparison_rows(inputs.comparisons),
        memory_comparison_interval=inputs.comparisons.get("memory_interval", ""),
        ngram_referent=_percent(inputs.baseline.get("ngram_referent_top1_k0")),
        images=images,
        figures=[figure_context(f, i) for i, f in enumerate(inputs.sentences)],
    )
    return text, figures


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def results_markdown(inputs: ReportInputs) -> str:
    """The results page (docs/results.md): the headline numbers with their intervals and seed
    counts, the paired comparisons, and the article's table for the article's setup."""
    interval = inputs.models[0].metrics.get("interval", "none") if inputs.models else "none"
    header = ["model", "seeds", "cross entropy", "accuracy (masked)", "accuracy (reference)"]
    header += [f"prefix top-1 k={k}" for k in range(3)] + ["current-word share"]
    rows = [
        [
            plots.LABELS.get(m.kind, m.kind),
            str(m.metrics["seeds"]),
            _with_interval(m.metrics, "cross_entropy", percent=False),
            _with_interval(m.metrics, "accuracy"),
            _with_interval(m.metrics, "reference_accuracy"),
            *(_with_interval(m.metrics, f"prefix_top1_k{k}") for k in range(3)),
            _with_interval(m.connectivity, "current_word_share"),
        ]
        for m in inputs.models
    ]
    caveats = findings.caveats(training_warnings(inputs), plots.LABELS)
    lines = [
        "# Results",
        "",
        "Generated by the pipeline's `report` stage from reports/ (do not edit by hand).",
        "",
        "## Findings",
        "",
        *(line for finding in findings_of(inputs) for line in (finding, "")),
        *(["Caveats:", "", *(f"- {line}" for line in caveats), ""] if caveats else []),
        "## Test metrics",
        "",
        "Each number is a mean over the training seeds in the `seeds` column, with its 95 %",
        f"interval in brackets ({interval}). Masked accuracy leaves `<unknown>` targets out;",
        "reference accuracy counts them, as the article's code does.",
        "",
        *_markdown_table(header, rows),
        "",
        "## Paired comparisons",
        "",
        f"Difference A - B on the same test observations ({inputs.comparisons['interval']},",
        f"{inputs.comparisons['seeds']} seed(s) per model); significant at 95 % when the",
        "interval excludes zero.",
        "",
        *_markdown_table(
            ["models (A - B)", "metric", "difference", "95 % interval", "significant"],
            [list(r.values()) for r in comparison_rows(inputs.comparisons)],
        ),
    ]
    if inputs.paper:
        keys = ("model", "metric", "paper", "ours", "interval", "seeds", "definition")
        lines += ["", "## Comparison with the article", ""]
        lines += _markdown_table(
            ["model", "metric", "article", "ours", "95 % interval", "seeds", "definition used"],
            [[r[key] for key in keys] for r in paper_rows(inputs.models)],
        )
    return "\n".join(lines) + "\n"


def write_report(
    reports: Path = Path("reports"),
    index: Path = Path("reports/index.html"),
    figures_dir: Path = Path("reports/figures"),
    seed: int = 0,
    paper: bool = False,
    results: Path | None = None,
) -> None:
    """Render the report from `reports` and write the page and its PNGs atomically, and the
    results page to `results` when given."""
    inputs = load_inputs(reports, seed=seed, paper=paper)
    text, figures = render(inputs)
    if results is not None:
        with atomic_path(results) as tmp:
            tmp.write_text(results_markdown(inputs))
    with atomic_dir(figures_dir) as tmp:
        for name, data in figures.items():
            (tmp / name).write_bytes(data)
    with atomic_path(index) as tmp:
        tmp.write_text(text)
