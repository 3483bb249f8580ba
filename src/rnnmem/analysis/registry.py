"""Every metric a reader sees, in one table: what it is, whether DVC declares it, how it is shown.

One row per metric decides three things at once. The headline rows are the keys of
reports/headline/<model>.json, the only file DVC declares as a metric, so `dvc metrics diff`
and `dvc exp show` open on what a run is judged by; everything else stays in the aggregate
stage's detail files. The `table` of a row places it in a table of the report and of
docs/results.md, in row order, with its label; its unit says how its value, interval and
differences are written. A new metric is one row here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal


class Unit(StrEnum):
    """What a value counts, which decides how it is written."""

    RATE = "rate"  # a share of predictions, 0..1: a percentage
    RATE_GAP = "rate gap"  # a difference of two rates: percentage points
    NATS = "nats"
    CHARS = "characters"
    STEPS = "steps"
    COUNT = "count"
    SECONDS = "seconds"
    SCORE = "score"  # an AUC, 0..1, 0.5 = chance


# The file a value is read from: a model's aggregate files, or the run's dataset statistics and
# baseline figures.
Source = Literal["metrics", "memory", "connectivity", "dataset", "baseline"]
Table = Literal["metrics", "memory", "recall", "data"]  # the report's tables, by section


@dataclass(frozen=True)
class Metric:
    """One row of the registry.

    `censored` is (flag, sign): `<flag>_seeds` counts the seeds whose rule ran past what was
    tested, written "≥ 185" or "> 100". `beside` is a metric shown after this one ("a / b"),
    `pairs` the key counting the pairs behind a score ("0.71, 90 pairs"), and `bound` a key
    whose value bounds a null one ("> 300" steps when no seed recalled). `planted` marks a
    measure that needs planted pairs: on a corpus without them (text8, a user's file) the
    report leaves it out rather than show a column of n/a.
    """

    name: str
    unit: Unit
    label: str
    source: Source
    table: Table | None = None  # None: in comparisons or findings only
    headline: bool = False  # declared to DVC in reports/headline/<model>.json
    interval: bool = True  # the detail files carry <name>_ci_low and <name>_ci_high
    better: Literal["higher", "lower"] | None = None
    decimals: int = 1
    censored: tuple[str, str] | None = None
    beside: str | None = None
    pairs: str | None = None
    bound: str | None = None
    planted: bool = False


METRICS = (
    # Test metrics (reports/metrics/<model>.json), bootstrap or Student-t intervals.
    Metric("seeds", Unit.COUNT, "seeds", "metrics", "metrics", interval=False),
    Metric("cross_entropy", Unit.NATS, "cross entropy", "metrics", "metrics", headline=True,
           better="lower", decimals=4),
    Metric("accuracy", Unit.RATE, "accuracy (masked)", "metrics", "metrics", headline=True,
           better="higher"),
    Metric("reference_accuracy", Unit.RATE, "accuracy (reference)", "metrics", "metrics",
           better="higher"),
    Metric("parameters", Unit.COUNT, "parameters", "metrics", "metrics", interval=False),
    Metric("training_seconds", Unit.SECONDS, "training time", "metrics", "metrics",
           interval=False),
    *(
        Metric(f"prefix_top1_k{k}", Unit.RATE, f"prefix top-1 k={k}", "metrics", "metrics",
               headline=True, better="higher")
        for k in range(3)
    ),
    Metric("current_word_share", Unit.RATE, "current-word share", "connectivity", "metrics"),
    # Memory against ground truth (reports/memory/<model>.json).
    Metric("memory_span_chars", Unit.CHARS, "memory span (characters)", "memory", "memory",
           headline=True, better="higher", decimals=0, censored=("memory_span_censored", "≥"),
           planted=True),
    Metric("referent_top1_k1", Unit.RATE, "referent / matched placebo top-1, k=1",
           "memory", "memory", better="higher", beside="placebo_top1_k1", planted=True),
    Metric("placebo_top1_k1", Unit.RATE, "matched placebo top-1, k=1", "memory",
           planted=True),
    Metric("intervention_effect_k1", Unit.NATS, "intervention effect, k=1 (nats)", "memory",
           "memory", headline=True, better="higher", decimals=3, planted=True),
    Metric("intervention_effect_k0", Unit.NATS, "intervention effect, k=0 (nats)", "memory",
           better="higher", decimals=3, planted=True),
    *(
        Metric(f"{name}_k{k}", Unit.SCORE, f"{label}, k={k}", "memory", "memory",
               better="higher", decimals=3, pairs=f"attribution_pairs_k{k}", planted=True)
        for name, label in (("connectivity_auc", "connectivity AUC"),
                            ("signed_auc", "signed attribution AUC"))
        for k in (0, 1)
    ),
    Metric("memory_half_life_chars", Unit.CHARS, "memory half-life (characters)", "memory",
           "memory", better="higher", decimals=0, censored=("memory_half_life_censored", "≥"),
           planted=True),
    Metric("memory_half_life_censored_share", Unit.RATE, "half-life replicates censored",
           "memory", "memory", interval=False, decimals=0, planted=True),
    Metric("long_near_early_gap_k1", Unit.RATE_GAP,
           "half-life's reference gap, k=1 (near pairs inside the training length)", "memory",
           planted=True),
    Metric("memory_position_effect_k1", Unit.RATE_GAP,
           "position effect, k=1 (near pairs late - early in a long observation)", "memory",
           "memory", planted=True),
    Metric("effective_context_chars", Unit.CHARS, "effective context (characters)", "memory",
           "memory", decimals=0, censored=("effective_context_censored", ">")),
    # Memory on words that repeat (any corpus; analysis/memory/natural.py).
    Metric("natural_swap_effect_k1", Unit.NATS, "repeated words: swap effect, k=1 (nats)",
           "memory", "memory", headline=True, better="higher", decimals=3),
    Metric("natural_repeat_gain_k1", Unit.RATE_GAP,
           "repeated words: repeat gain, k=1 (repeats - first mentions)", "memory", "memory",
           better="higher"),
    Metric("natural_span_chars", Unit.CHARS, "repeated words: span (characters)", "memory",
           "memory", better="higher", decimals=0, censored=("natural_span_censored", "≥")),
    # Recall over training (the aggregate stage's memory file, from the recall stages).
    Metric("recall_gap_k1", Unit.RATE_GAP, "recall gap, k=1 (referent - placebo)", "memory",
           "recall", headline=True, better="higher", planted=True),
    Metric("recall_seeds", Unit.COUNT, "seeds that recall", "memory", "recall", headline=True,
           interval=False, better="higher", planted=True),
    Metric("steps_to_recall_median", Unit.STEPS, "steps to recall (median)", "memory", "recall",
           headline=True, interval=False, better="lower", decimals=0, bound="steps_trained",
           planted=True),
    # The run's data (reports/dataset.json, the build stage; nested keys joined by ".") and
    # the baselines' figures on the planted pairs (reports/baseline.json).
    *(
        Metric(f"observations.{split}", Unit.COUNT, f"{name} observations", "dataset", "data",
               interval=False)
        for split, name in (("train", "training"), ("valid", "validation"), ("test", "test"))
    ),
    Metric("vocab_size", Unit.COUNT, "vocabulary (words)", "dataset", "data", interval=False),
    Metric("token_coverage", Unit.RATE, "word tokens in the vocabulary", "dataset", "data",
           interval=False),
    Metric("words", Unit.COUNT, "words in the corpus", "dataset", "data", interval=False),
    Metric("distinct_words", Unit.COUNT, "distinct words in the corpus", "dataset", "data",
           interval=False),
    Metric("dropped_words", Unit.COUNT, "words too long for any observation (left out)",
           "dataset", "data", interval=False),
    Metric("test_referent_pairs", Unit.COUNT, "planted pairs in the test split", "baseline",
           "data", interval=False, planted=True),
    *(
        Metric(f"ngram_{kind}_top1_k{k}", Unit.RATE, f"n-gram baseline: {label} top-1, k={k}",
               "baseline", "data", planted=True)
        for k in (0, 1)
        for kind, label in (("referent", "referent"), ("placebo", "matched placebo"))
    ),
    *(
        Metric(f"ngram_recall_gap_k{k}", Unit.RATE_GAP, f"n-gram baseline: recall gap, k={k}",
               "baseline", "data", planted=True)
        for k in (0, 1)
    ),
    Metric("natural_repeats", Unit.COUNT, "repeated words in the test split", "baseline", "data",
           interval=False),
    Metric("ngram_repeat_gain_k1", Unit.RATE_GAP, "n-gram baseline: repeat gain, k=1",
           "baseline", "data"),
)  # fmt: skip
BY_NAME = {metric.name: metric for metric in METRICS}
HEADLINE = tuple(metric.name for metric in METRICS if metric.headline)


def table(name: Table) -> tuple[Metric, ...]:
    """The rows a table of the report shows, in order."""
    return tuple(metric for metric in METRICS if metric.table == name)


def headline(sources: Mapping[Source, Mapping[str, Any]]) -> dict[str, Any]:
    """One model's headline metrics, each read from its aggregate file (`sources`)."""
    return {name: sources[BY_NAME[name].source].get(name) for name in HEADLINE}
