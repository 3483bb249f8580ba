"""What the report page and docs/results.md both say: the findings, the caveats, and every
table as rows of text cells.

The model tables follow the registry (its rows for that table, in order, under their labels,
each cell written by `formatting.cell`); the paired comparisons and the article's table take
their labels and units from it too. The page and the Markdown writer render these same rows,
so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rnnmem.analysis import registry
from rnnmem.analysis.memory import rule
from rnnmem.report import article, findings, formatting, plots
from rnnmem.report.inputs import ReportInputs

# Said once, in place of every planted-pair section, on a corpus without planted pairs.
NO_PAIRS = (
    "The corpus plants no recall pairs: the planted-pair measures (recall gap, span, "
    "intervention, attribution AUCs, half-life, recall over training) do not apply; memory is "
    "read from words that repeat."
)
# The baselines' rows under the test metrics: their prefix accuracy, from the baseline stage.
BASELINES = {"dictionary": "dictionary baseline", "ngram": "n-gram baseline"}


@dataclass(frozen=True)
class Row:
    """One line of a table. A row about a model or a baseline names its `kind`, and its first
    cell is then the row's header."""

    cells: list[str]
    kind: str | None = None


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[Row] = field(default_factory=list)


def label(kind: str) -> str:
    return plots.LABELS.get(kind) or BASELINES.get(kind, kind)


def prefix_top1(table: pd.DataFrame, k: int, column: str = "top1") -> float | None:
    if column not in table:
        return None
    rows = table.loc[table["k"] == k, column]
    return float(rows.iloc[0]) if len(rows) else None


def _baseline(inputs: ReportInputs, kind: str) -> pd.DataFrame:
    return inputs.dictionary if kind == "dictionary" else inputs.ngram


def model_table(inputs: ReportInputs, name: registry.Table) -> Table:
    """A registry table: a row per model, a column per registry row of that table. The
    test metrics add the baselines' prefix accuracy, the memory measures the warnings."""
    metrics = [m for m in registry.table(name) if inputs.planted or not m.planted]
    warnings = ["warnings"] if name == "memory" else []
    table = Table(["model", *(m.label for m in metrics), *warnings])
    for model in inputs.models:
        cells = [formatting.cell(m, model.measures(m.source)) for m in metrics]
        cells += ["; ".join(model.memory_warnings) or "none" for _ in warnings]
        table.rows.append(Row([label(model.kind), *cells], model.kind))
    if name == "metrics":
        for kind, title in BASELINES.items():
            prefix = {
                f"prefix_top1_k{k}": prefix_top1(_baseline(inputs, kind), k) for k in range(3)
            }
            cells = [formatting.cell(m, prefix) if m.name in prefix else "" for m in metrics]
            table.rows.append(Row([title, *cells], kind))
    return table


def data_table(inputs: ReportInputs) -> Table:
    """The run's data and the baselines' figures on the planted pairs, one per line."""
    rows = [
        Row([m.label, formatting.cell(m, inputs.measures(m.source))])
        for m in registry.table("data")
        if inputs.planted or not m.planted
    ]
    return Table(["measure", "value"], rows)


def comparison_table(comparisons: Mapping[str, Any], key: str = "comparisons") -> Table:
    """Every pair of models on every compared metric (`comparisons`) or memory measure
    (`memory_comparisons`, none on a corpus without planted pairs): the difference A - B on
    the same observations, its paired interval and whether that excludes zero."""
    table = Table(["models (A - B)", "metric", "difference", "95 % interval", "significant"])
    for row in comparisons.get(key, []):
        metric = registry.BY_NAME[row["metric"]]
        low, high = (formatting.difference(metric, row[side]) for side in ("ci_low", "ci_high"))
        cells = [
            f"{label(row['a'])} - {label(row['b'])}",
            metric.label,
            formatting.difference(metric, row["difference"], unit=True),
            f"[{low}, {high}]",
            "yes" if row["significant"] else "no",
        ]
        table.rows.append(Row(cells))
    return table


def ablation_table(inputs: ReportInputs) -> Table:
    """The loss each context window adds over full context, per model and window, with its
    interval: the curve the effective context is read from, so that a reader sees how far
    each window is from full context and not only where a tolerance cuts it."""
    windows = sorted({int(w) for m in inputs.models for w in m.ablation["window"]})
    table = Table(["model", *(f"last {w} characters" for w in windows)])
    for model in inputs.models:
        by_window = model.ablation.set_index("window")
        cells = []
        for window in windows:
            if window not in by_window.index:
                cells.append(formatting.MISSING)
                continue
            row = by_window.loc[window]
            shown = f"{row['difference']:+.4f}"
            if pd.notna(row.get("difference_ci_low")) and pd.notna(row.get("difference_ci_high")):
                shown += f" [{row['difference_ci_low']:+.4f}, {row['difference_ci_high']:+.4f}]"
            cells.append(shown)
        table.rows.append(Row([label(model.kind), *cells], model.kind))
    return table


def ngram_reading(inputs: ReportInputs) -> str:
    """What the n-gram baseline, which has no memory, makes of the planted pairs: its referent
    and matched placebo top-1 at k = 1 and the gap, read by the recall rule. Empty without
    planted pairs."""
    figures = inputs.baseline
    if figures.get("ngram_recall_gap_k1") is None:
        return ""
    shown = {
        name: formatting.with_interval(registry.BY_NAME[f"ngram_{name}_k1"], figures)
        for name in ("referent_top1", "placebo_top1", "recall_gap")
    }
    levels = (
        f"The n-gram baseline (the previous two words and the typed letter, no memory) names a "
        f"referent at k = 1 in {shown['referent_top1']} of cases against "
        f"{shown['placebo_top1']} for placebos of the same names and positions, a gap of "
        f"{shown['recall_gap']}"
    )
    min_gap = next((m.memory["min_gap"] for m in inputs.models if "min_gap" in m.memory), None)
    low, high = (figures.get(f"ngram_recall_gap_k1_ci_{side}") for side in ("low", "high"))
    reading = rule.verdict(low, high, min_gap) if min_gap is not None else "none"
    return (
        levels
        + {
            "recalls": ": local context alone separates referents from placebos, so part of a "
            "model's gap may come from it.",
            "below": ": local context alone favours placebos.",
            "none": ": local context alone does not separate referents from placebos.",
        }[reading]
    )


def paper_table(inputs: ReportInputs) -> Table:
    """The article's table line by line beside ours: its value, ours, our interval, the seeds
    and the definition used."""
    header = ["model", "metric", "article", "ours", "95 % interval", "seeds", "definition used"]
    table = Table(header)
    for model in inputs.models:
        for key, paper in article.PAPER.get(model.kind, {}).items():
            metric = registry.BY_NAME[key]
            value, _, interval = formatting.cell(metric, model.metrics).partition(" ")
            cells = [label(model.kind), metric.label, formatting.value(metric, paper), value]
            cells += [interval or formatting.MISSING, str(model.metrics["seeds"])]
            table.rows.append(Row([*cells, article.DEFINITIONS[key]]))
    return table


def interval(inputs: ReportInputs) -> str:
    """Which interval the models' brackets are (bootstrap for one seed, Student t for more)."""
    return inputs.models[0].metrics.get("interval", "none") if inputs.models else "none"


def tables(inputs: ReportInputs) -> dict[str, Table]:
    """Every table of the report by name; docs/results.md shows the same, in this order."""
    found = {"metrics": model_table(inputs, "metrics")}
    found["comparisons"] = comparison_table(inputs.comparisons)
    if inputs.planted:  # without planted pairs these would be empty: the page says so once
        found["recall"] = model_table(inputs, "recall")
    found["memory"] = model_table(inputs, "memory")
    if inputs.planted:
        found["memory_comparisons"] = comparison_table(inputs.comparisons, "memory_comparisons")
    found["natural_comparisons"] = comparison_table(inputs.comparisons, "natural_comparisons")
    found["ablation"] = ablation_table(inputs)
    found["data"] = data_table(inputs)
    if inputs.paper:
        found["paper"] = paper_table(inputs)
    return found


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
        for kind, what, meaning in [
            ("dictionary", "the dictionary baseline (no context at all)", "its context"),
            ("ngram", "the n-gram baseline (the previous two words)", "its longer-context"),
        ]:
            below, level = [], []  # the k where the interval stays under it, or reaches it
            for k in range(3):
                reading = findings.against_baseline(
                    prefix_top1(model.prefix, k),
                    prefix_top1(model.prefix, k, "top1_ci_high"),
                    prefix_top1(_baseline(inputs, kind), k),
                )
                if reading is not None:
                    (below if reading == "below" else level).append(str(k))
            if below:
                ks = ", ".join(below)
                mine.append(f"below {what} at k = {ks}: {meaning} figures say little")
            if level:
                ks = ", ".join(level)
                mine.append(
                    f"level with {what} at k = {ks} (below it, but inside its 95 % interval): "
                    f"no gain in {meaning} prediction shows there"
                )
    return notes


def findings_of(inputs: ReportInputs) -> list[str]:
    """The opening sentences (see `findings`): one per model, then each pair of models, then
    what the brackets mean."""
    natural = inputs.comparisons.get("natural_comparisons", [])
    lines = [] if inputs.planted else [NO_PAIRS]  # said once, not once a model
    for model in inputs.models:
        versus = next(
            (r for r in natural if r["a"] == model.kind and r["b"] == findings.NGRAM), None
        )
        if inputs.planted:
            lines.append(findings.model_finding(label(model.kind), model.memory))
        found = findings.natural_finding(label(model.kind), model.memory, versus)
        lines += [found] if found else []
    lines += findings.difference_findings(
        [*inputs.comparisons.get("memory_comparisons", []), *natural], plots.LABELS
    )
    if inputs.models:
        lines.append(findings.interval_note(inputs.models[0].memory))
    return lines


def caveats(inputs: ReportInputs) -> list[str]:
    """One line per model that has anything to warn of."""
    return findings.caveats(training_warnings(inputs), plots.LABELS)
