"""The HTML report: every result of the pipeline in one page that opens from disk.

`render` turns the checked inputs (`inputs.load_inputs`) into one self-contained HTML page
(plots embedded as PNG data URIs, CSS and JS inline, no network) plus the same plots as PNG
files: the findings and caveats first, then the memory curve, then one section per entry of
`SECTIONS`, its tables those of `content.tables`. Pages are rendered from the Jinja2 templates in
templates/ with autoescaping, so text from any input file is shown, never run. The
interactive connectivity figure is also what `rnnmem connectivity` writes for any sentence
(`connectivity_page`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from rnnmem.analysis import registry
from rnnmem.files import atomic_dir, atomic_path, json_text, significant
from rnnmem.kinds import KINDS
from rnnmem.report import content, formatting, plots
from rnnmem.report.inputs import ReportInputs, SentenceFigure, load_inputs
from rnnmem.report.results import results_markdown

UNKNOWN_WORD = "<unknown>"


def row_intensity(matrix: np.ndarray, position: int) -> np.ndarray:
    """Shading of every character for the prediction at `position`: its connectivity over the
    row's largest entry up to `position`, zero after it (the JS in the page does the same)."""
    row = np.zeros(len(matrix))
    weights = matrix[position, : position + 1]
    if weights.max() > 0:
        row[: position + 1] = weights / weights.max()
    return row


def initial_position(figure: SentenceFigure) -> int:
    """The character a figure opens on: the first letter of a word whose prediction leans most
    on earlier words (mean over models), as in the article's highlighted moments. Unknown
    words are passed over: their logit is never trained, so its gradient means little."""
    best, best_score = len(figure.chars) - 1, -1.0
    for t in range(2, len(figure.chars)):
        starts_word = figure.chars[t] != " " and figure.chars[t - 1] == " "
        if not starts_word or figure.targets[t] == UNKNOWN_WORD:
            continue
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
    text = json_text(data, indent=None, separators=(",", ":")).rstrip("\n")
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
                "label": content.label(row.kind),
                "rgb": ",".join(str(round(255 * c)) for c in plots.color(row.kind)),
                "matrix": [
                    [significant(v) for v in row.matrix[t, : t + 1]] for t in range(len(row.matrix))
                ],
                "top": [[[w, significant(p)] for w, p in entries] for entries in row.top],
            }
            for row in figure.rows
        ],
    }
    rows = [{"kind": r.kind, "label": content.label(r.kind)} for r in figure.rows]
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
    ("data", "Data"),
    ("connectivity", "Interactive connectivity"),
)


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
            {m.kind: formatting.number(m.connectivity["current_word_share"]) for m in inputs.models}
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
        "natural_memory_curve.png": plots.natural_memory_curve(
            {m.kind: m.natural_curve for m in inputs.models}
        ),
        "context_ablation.png": plots.context_ablation(
            {m.kind: m.ablation for m in inputs.models},
            next((m.memory.get("ablation_tolerance_nats") for m in inputs.models), None),
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
        metrics_interval=content.interval(inputs),
        comparison_interval=inputs.comparisons["interval"],
        labels=[content.label(m.kind) for m in inputs.models],
        findings=content.findings_of(inputs),
        caveats=content.caveats(inputs),
        tables=content.tables(inputs),
        headline=[registry.BY_NAME[name].label for name in registry.HEADLINE],
        validation_interval=_validation_interval(inputs),
        memory_comparison_interval=inputs.comparisons.get("memory_interval", ""),
        ngram_reading=content.ngram_reading(inputs),
        planted=inputs.planted,
        no_pairs=content.NO_PAIRS,
        images=images,
        figures=[figure_context(f, i) for i, f in enumerate(inputs.sentences)],
    )
    return text, figures


def write_report(
    reports: Path = Path("reports"),
    index: Path = Path("reports/index.html"),
    figures_dir: Path = Path("reports/figures"),
    seed: int = 0,
    paper: bool = False,
    results: Path | None = None,
    kinds: Sequence[str] = KINDS,
) -> None:
    """Render the report of models `kinds` from `reports` and write the page and its PNGs
    atomically, and the results page to `results` when given."""
    inputs = load_inputs(reports, kinds, seed, paper)
    text, figures = render(inputs)
    if results is not None:
        with atomic_path(results) as tmp:
            tmp.write_text(results_markdown(inputs))
    with atomic_dir(figures_dir) as tmp:
        for name, data in figures.items():
            (tmp / name).write_bytes(data)
    with atomic_path(index) as tmp:
        tmp.write_text(text)
