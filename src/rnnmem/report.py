"""The HTML report: every result of the pipeline in one page that opens from disk.

`load_inputs` gathers the small files the evaluate, baseline, train and connectivity
stages leave under reports/ (a missing one is a one-line error naming the stage to
run). `render` turns them into one self-contained HTML page (plots embedded as PNG
data URIs, CSS and JS inline from report_template.html, no network) plus the same
plots as PNG files. The interactive connectivity figure is also what `rnnmem
connectivity` writes for any sentence (`connectivity_page`).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnmem import plots
from rnnmem.params import MODEL_KINDS
from rnnmem.stage import UserError, atomic_dir, atomic_path, read_json

CURVES = ("train/loss", "valid/loss", "train/accuracy", "valid/accuracy")
METRIC_KEYS = (
    "cross_entropy",
    "accuracy",
    "parameters",
    "training_seconds",
    "prefix_top1_k0",
    "prefix_top1_k1",
    "prefix_top1_k2",
)
CONNECTIVITY_KEYS = ("current_word_share", "earlier_words_share", "dependency_hit_rate")
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


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, as read from reports/."""

    models: list[ModelResults]
    dictionary: pd.DataFrame
    sentences: list[SentenceFigure]


def _fix(stage: str) -> str:
    return f"run `dvc repro {stage}`"


def _read_json(path: Path, stage: str, keys: Sequence[str]) -> dict[str, Any]:
    data = read_json(path, _fix(stage))
    missing = [key for key in keys if not isinstance(data, dict) or key not in data]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}; {_fix(stage)}")
    return data


def _read_table(path: Path, stage: str, columns: Sequence[str], sep: str = ",") -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep=sep)
    except FileNotFoundError:
        raise UserError(f"{path} not found; {_fix(stage)}") from None
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is unreadable ({err}); {_fix(stage)}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing or table.empty:
        what = f"lacks columns {', '.join(missing)}" if missing else "is empty"
        raise UserError(f"{path} {what}; {_fix(stage)}")
    return table


def _sentence_row(kind: str, raw: Any, path: Path) -> tuple[SentenceRow, dict[str, Any]]:
    """Check one entry of sentences.json and split it into its model row and shared text."""
    malformed = UserError(f"{path} has a malformed sentence; {_fix(f'connectivity@{kind}')}")
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


def _model_results(reports: Path, kind: str) -> ModelResults:
    curves = {}
    for name in CURVES:
        path = reports / "train" / kind / "plots" / "metrics" / f"{name}.tsv"
        metric = name.split("/")[1]
        table = _read_table(path, f"train@{kind}", ("step", metric), sep="\t")
        curves[name] = table[["step", metric]].rename(columns={metric: "value"})
    evaluate, connectivity = f"evaluate@{kind}", f"connectivity@{kind}"
    analysis = reports / "connectivity" / kind
    return ModelResults(
        kind=kind,
        metrics=_read_json(reports / "metrics" / f"{kind}.json", evaluate, METRIC_KEYS),
        prefix=_read_table(reports / "prefix" / f"{kind}.csv", evaluate, PREFIX_COLUMNS),
        curves=curves,
        distance=_read_table(analysis / "distance.csv", connectivity, DISTANCE_COLUMNS),
        connectivity=_read_json(analysis / "metrics.json", connectivity, CONNECTIVITY_KEYS),
    )


def load_inputs(
    reports: Path = Path("reports"), kinds: Sequence[str] = MODEL_KINDS
) -> ReportInputs:
    """Read every stage's report files for `kinds`; a missing file names the stage to run."""
    models = [_model_results(reports, kind) for kind in kinds]
    paths = {kind: reports / "connectivity" / kind / "sentences.json" for kind in kinds}
    views = {}
    for kind, path in paths.items():
        views[kind] = _read_json(path, f"connectivity@{kind}", ("sentences",))["sentences"]
        if not isinstance(views[kind], list):
            raise UserError(f"{path} has no list of sentences; {_fix(f'connectivity@{kind}')}")
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
    return ReportInputs(models, dictionary, figures)


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


def _significant(value: float) -> float:
    return float(f"{value:.6g}")


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def figure_html(figure: SentenceFigure, index: int) -> str:
    """One interactive figure: `figure#sentence-<index>`, a row of `span.char[data-model]
    [data-pos]` per model and the `#predictions-<index>` panel, with its data inline."""
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
                    [_significant(v) for v in row.matrix[t, : t + 1]]
                    for t in range(len(row.matrix))
                ],
                "top": [[[w, _significant(p)] for w, p in entries] for entries in row.top],
            }
            for row in figure.rows
        ],
    }
    rows = []
    for row in figure.rows:
        spans = "".join(
            f'<span class="char" data-model="{html.escape(row.kind)}" data-pos="{t}">'
            f"{html.escape(char)}</span>"
            for t, char in enumerate(figure.chars)
        )
        label = html.escape(plots.LABELS.get(row.kind, row.kind))
        rows.append(
            f'<div class="sentence-row" data-model="{html.escape(row.kind)}">'
            f'<span class="model">{label}</span><span class="text">{spans}</span></div>'
        )
    parts = [
        f'<figure class="connectivity" id="sentence-{index}" data-sentence="{index}" tabindex="0">',
        f'<script type="application/json" class="figure-data">{_script_json(data)}</script>',
        *rows,
        f'<div class="predictions" id="predictions-{index}" aria-live="polite"></div>',
        f"<figcaption>Sentence {index + 1}: {html.escape(figure.text)}</figcaption>",
        "</figure>",
    ]
    return "\n".join(parts)


INTERACTIVE_CAPTION = (
    "Each row is the same sentence as read by one model. Hover over a character, click it, or "
    "click and then move with the &larr; &rarr; keys (Home, End) to choose the prediction made "
    "at that character. Every earlier character is shaded by its connectivity to that "
    "prediction: the squared gradient norm of the target word's logit with respect to that "
    "input character, scaled so the most connected character of each row is fully coloured. "
    "Characters after the chosen one are greyed out: the model has not read them yet. Below, "
    "the top words each model predicts there, with their probabilities; the target word is "
    "bold. Shading that reaches back into earlier words means the model uses long-term context."
)


def page(title: str, body: str) -> str:
    """A complete HTML page from the packaged template (inline CSS and JS, no network)."""
    template = resources.files("rnnmem").joinpath("report_template.html").read_text()
    return template.replace("{{title}}", html.escape(title)).replace("{{body}}", body)


def connectivity_page(figures: Sequence[SentenceFigure], title: str = "Connectivity") -> str:
    """A standalone page of interactive figures (what `rnnmem connectivity` writes)."""
    body = f'<h1>{html.escape(title)}</h1>\n<p class="caption">{INTERACTIVE_CAPTION}</p>\n'
    body += "\n".join(figure_html(f, i) for i, f in enumerate(figures))
    return page(title, body)


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


def _prefix_top1(table: pd.DataFrame, k: int) -> float | None:
    rows = table.loc[table["k"] == k, "top1"]
    return float(rows.iloc[0]) if len(rows) else None


def metrics_table(inputs: ReportInputs) -> str:
    header = (
        "<tr><th>model</th><th>cross entropy</th><th>accuracy</th><th>parameters</th>"
        "<th>training time</th><th>prefix top-1 k=0</th><th>k=1</th><th>k=2</th>"
        "<th>current-word share</th><th>dependency hit rate</th></tr>"
    )
    rows = []
    for model in inputs.models:
        m, c = model.metrics, model.connectivity
        notes = []
        if c.get("dependency_chance_rate") is not None:
            notes.append(f"chance {_percent(c['dependency_chance_rate'])}")
        if c.get("dependency_lift") is not None:
            notes.append(f"lift {c['dependency_lift']:.2g}")
        if c.get("dependencies_tested"):
            notes.append(f"n={c['dependencies_tested']}")
        hits = _percent(c["dependency_hit_rate"]) + (f" ({', '.join(notes)})" if notes else "")
        cells = [
            f"{m['cross_entropy']:.4f}",
            _percent(m["accuracy"]),
            f"{int(m['parameters']):,}",
            _duration(float(m["training_seconds"])),
            *(_percent(m[f"prefix_top1_k{k}"]) for k in range(3)),
            _percent(c["current_word_share"]),
            hits,
        ]
        label = html.escape(plots.LABELS.get(model.kind, model.kind))
        rows.append(
            f'<tr data-model="{html.escape(model.kind)}"><th scope="row">{label}</th>'
            + "".join(f"<td>{cell}</td>" for cell in cells)
            + "</tr>"
        )
    baseline = [_percent(_prefix_top1(inputs.dictionary, k)) for k in range(3)]
    rows.append(
        '<tr data-model="dictionary"><th scope="row">dictionary baseline</th>'
        + "<td></td>" * 4
        + "".join(f"<td>{cell}</td>" for cell in baseline)
        + "<td></td><td></td></tr>"
    )
    return (
        f'<table class="metrics" id="metrics-table">\n{header}\n' + "\n".join(rows) + "\n</table>"
    )


CAPTIONS = {
    "metrics": (
        "Test-set results. Cross entropy and accuracy count only characters whose target is a "
        "vocabulary word (not padding or &lt;unknown&gt;). Parameters are PyTorch's trainable "
        "counts: PyTorch's GRU and LSTM keep two biases per gate where TensorFlow keeps one, so "
        "they are a few thousand above the article's table. Prefix top-1 at k is the accuracy "
        "once k letters of the word are typed (k=0: the space before the word, where only "
        "context helps). Current-word share is the part of a prediction's connectivity that "
        "falls on the word being typed; the rest goes to earlier words. Dependency hit rate is "
        "the share of the probe corpus's planted long-range dependencies whose earlier word is "
        "the connectivity peak when the later word is predicted from its first letter, beside "
        "the rate expected by chance and the number tested (n/a without planted dependencies). "
        "Lift controls for distance: the earlier word's share of the prediction's connectivity "
        "divided by the model's typical (geometric-mean) share at the same distances, averaged "
        "geometrically over dependencies; about 1 when the model does not single it out."
    ),
    "training": (
        "Cross entropy (left) and accuracy (right) against optimizer steps, on training batches "
        "(solid) and on the validation set (dashed). Validation loss rising while training loss "
        "falls means overfitting; curves still falling at the end mean more training would help."
    ),
    "prefix": (
        "Top-1, top-2 and top-3 accuracy against k, the number of letters of the current word "
        "already typed (k=0 is the space before the word: the model must guess the next word "
        "from context alone). The dashed grey line is the dictionary baseline: the most frequent "
        "vocabulary word starting with the typed letters, without any context. The gap between a "
        "model and the baseline at small k is what the model takes from earlier words."
    ),
    "distance": (
        "Connectivity against distance, in characters, between an input character and the "
        "prediction it feeds (0 = the character just read), over test observations: the mean raw "
        "connectivity (left) and the mean share of a prediction's total connectivity (right), "
        "on log scales. A slower decay means the model keeps using characters further back."
    ),
    "share": (
        "How each model's connectivity splits between the word being predicted (its leading space "
        "and the letters typed so far) and all earlier words, averaged over predictions. A larger "
        "earlier-words share means predictions lean more on long-term context; the article found "
        "the GRU used earlier words most and the Nested LSTM least."
    ),
}


def _png(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="plot" alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def render(inputs: ReportInputs) -> tuple[str, dict[str, bytes]]:
    """The report page and its static figures (file name -> PNG bytes)."""
    kinds = [m.kind for m in inputs.models]
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
    }
    interactive = []
    for index, figure in enumerate(inputs.sentences):
        position = initial_position(figure)
        figures[f"connectivity_sentence_{index}.png"] = plots.heat_strip(
            figure.chars,
            {row.kind: row_intensity(row.matrix, position) for row in figure.rows},
            position,
            f"Connectivity to the prediction at character {position} "
            f"({figure.chars[position]!r} of target word {figure.targets[position]!r})",
        )
        interactive.append(figure_html(figure, index))
    sections = [
        ("metrics", "Test metrics", metrics_table(inputs)),
        ("training", "Training curves", _png(figures["training_curves.png"], "training curves")),
        ("prefix", "Prefix accuracy", _png(figures["prefix_accuracy.png"], "prefix accuracy")),
        (
            "distance",
            "Connectivity by distance",
            _png(figures["connectivity_distance.png"], "connectivity by distance"),
        ),
        ("share", "Current word vs earlier words", _png(figures["word_share.png"], "word share")),
    ]
    body = [
        "<h1>Memorization in recurrent networks</h1>",
        f'<p class="caption">Models: {", ".join(plots.LABELS.get(k, k) for k in kinds)}. '
        "How much do character-level autocomplete models rely on earlier words? Metrics alone "
        "do not say; connectivity (the gradient of a prediction with respect to each earlier "
        "input character) and prefix accuracy do.</p>",
        "<nav>"
        + "".join(f'<a href="#{key}">{title}</a>' for key, title, _ in sections)
        + '<a href="#connectivity">Interactive connectivity</a></nav>',
    ]
    for key, title, content in sections:
        body.append(
            f'<section id="{key}"><h2>{title}</h2>\n{content}\n'
            f'<p class="caption">{CAPTIONS[key]}</p></section>'
        )
    body.append(
        '<section id="connectivity"><h2>Interactive connectivity</h2>\n'
        + f'<p class="caption">{INTERACTIVE_CAPTION}</p>\n'
        + ("\n".join(interactive) or "<p>No sentences: set analysis.sentences in params.yaml.</p>")
        + "\n</section>"
    )
    return page("rnnmem report", "\n".join(body)), figures


def write_report(
    reports: Path = Path("reports"),
    index: Path = Path("reports/index.html"),
    figures_dir: Path = Path("reports/figures"),
) -> None:
    """Render the report from `reports` and write the page and its PNGs atomically."""
    text, figures = render(load_inputs(reports))
    with atomic_dir(figures_dir) as tmp:
        for name, data in figures.items():
            (tmp / name).write_bytes(data)
    with atomic_path(index) as tmp:
        tmp.write_text(text)
