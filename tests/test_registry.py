"""The metric registry: one row per metric, and the numbers written as its units say."""

from __future__ import annotations

import pytest

from rnnmem.analysis import metrics, registry
from rnnmem.analysis.registry import Metric, Unit
from rnnmem.report import formatting


def test_every_name_is_one_row_and_every_reference_a_row_or_a_count():
    names = [m.name for m in registry.METRICS]
    assert len(names) == len(set(names))
    assert registry.HEADLINE == tuple(m.name for m in registry.METRICS if m.headline)
    assert all(m.beside in registry.BY_NAME for m in registry.METRICS if m.beside)
    # Every metric the compare stage pairs has a label and a unit.
    assert set(metrics.HEADLINE) <= set(names)


def test_the_headline_is_what_dvc_reads():
    """About eight numbers a model, none an interval bound, each from its aggregate file."""
    assert 8 <= len(registry.HEADLINE) <= 12
    assert not [name for name in registry.HEADLINE if name.endswith(("_ci_low", "_ci_high"))]
    sources = {"metrics": {"cross_entropy": 2.5, "cross_entropy_ci_low": 2.4}, "memory": {}}
    found = registry.headline(sources)
    assert list(found) == list(registry.HEADLINE) and found["cross_entropy"] == 2.5
    assert found["recall_gap_k1"] is None  # not measured: null, never left out


@pytest.mark.parametrize(
    ("name", "measures", "shown"),
    [
        ("accuracy", {"accuracy": 0.7061, "accuracy_ci_low": 0.701, "accuracy_ci_high": 0.71},
         "70.6% [70.1, 71.0]"),
        ("cross_entropy", {"cross_entropy": 2.5}, "2.5000"),
        ("parameters", {"parameters": 123456}, "123,456"),
        ("training_seconds", {"training_seconds": 4000.0}, "66.7 min"),
        ("recall_gap_k1", {"recall_gap_k1": 0.38, "recall_gap_k1_ci_low": 0.3,
                           "recall_gap_k1_ci_high": 0.46}, "+38.0 pt [+30.0, +46.0]"),
        ("memory_span_chars", {"memory_span_chars": 185.0, "memory_span_chars_ci_low": 170.0,
                               "memory_span_chars_ci_high": 185.0,
                               "memory_span_censored_seeds": 1, "seeds": 1}, "≥ 185 [170, 185]"),
        ("memory_span_chars", {"memory_span_chars": 150.0, "memory_span_censored_seeds": 1,
                               "seeds": 3}, "150 (censored in 1 of 3 seeds)"),
        ("effective_context_chars", {"effective_context_chars": 100.0,
                                     "effective_context_censored_seeds": 2, "seeds": 2},
         "> 100"),
        ("steps_to_recall_median", {"steps_to_recall_median": None, "steps_trained": 300},
         "> 300"),
        ("steps_to_recall_median", {"steps_to_recall_median": 1250.0}, "1,250"),
        ("connectivity_auc_k0", {"connectivity_auc_k0": 0.712, "attribution_pairs_k0": 1234},
         "0.712, 1,234 pairs"),
        ("connectivity_auc_k0", {"connectivity_auc_k0": None, "attribution_pairs_k0": 0}, "n/a"),
        ("referent_top1_k1", {"referent_top1_k1": 0.62, "placebo_top1_k1": 0.24},
         "62.0% / 24.0%"),
        ("intervention_effect_k1", {}, "n/a"),
    ],
)  # fmt: skip
def test_a_cell_is_written_as_its_unit_says(name, measures, shown):
    assert formatting.cell(registry.BY_NAME[name], measures) == shown


def test_differences_are_signed_and_rates_in_points():
    accuracy, span = registry.BY_NAME["accuracy"], registry.BY_NAME["memory_span_chars"]
    assert formatting.difference(accuracy, -0.001, unit=True) == "-0.1 pt"
    assert formatting.difference(accuracy, 0.02) == "+2.0"  # an interval bound
    assert formatting.difference(span, 40.0, unit=True) == "+40"
    assert formatting.difference(span, None, unit=True) == "n/a"


def test_a_new_metric_is_one_row():
    """A row the registry gains is formatted by its unit alone."""
    gap = Metric("new_gap", Unit.RATE_GAP, "new gap", "memory", "memory", decimals=2)
    assert formatting.cell(gap, {"new_gap": -0.0123}) == "-1.23 pt"
