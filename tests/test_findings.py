"""The report's findings are written from the metrics: what they say follows the numbers."""

from __future__ import annotations

import numpy as np
import pytest

from rnnmem.analysis.memory import rule
from rnnmem.report import findings

LABELS = {"gru": "GRU", "lstm": "LSTM", "nlstm": "Nested LSTM"}


def memory(**changes) -> dict:
    """Aggregated memory measures of one seed, as reports/memory/<model>.json holds them."""
    base = {
        "seeds": 1,
        "recall_seeds": 1,
        "steps_to_recall_median": 150.0,
        "validation_interval": 50,
        "steps_trained": 300,
        "recall_gap_k1": 0.38,
        "recall_gap_k1_ci_low": 0.30,
        "recall_gap_k1_ci_high": 0.46,
        "referent_top1_k1": 0.62,
        "referent_top1_k1_ci_low": 0.58,
        "referent_top1_k1_ci_high": 0.66,
        "placebo_top1_k1": 0.24,
        "placebo_top1_k1_ci_low": 0.19,
        "placebo_top1_k1_ci_high": 0.29,
        "memory_span_chars": 185.0,
        "memory_span_chars_ci_low": 185.0,
        "memory_span_chars_ci_high": 185.0,
        "memory_span_censored_seeds": 1,
        "memory_span_tested_chars": 185,
        "intervention_effect_k1": 1.21,
        "intervention_effect_k1_ci_low": 1.1,
        "intervention_effect_k1_ci_high": 1.3,
        "min_gap": 0.05,
    }
    return base | changes


def test_a_model_that_recalls_is_said_to_with_its_figures():
    text = findings.model_finding("GRU", memory())
    assert text.startswith("GRU recalls the planted names: on the test pairs")
    assert "62 % [58, 66] of cases against 24 % [19, 29]" in text
    assert "a gap of 0.38 [0.30, 0.46], above memory.min_gap = 0.05" in text
    # The span reached the last bucket: "at least" the farthest distance tested, never "=".
    assert "out to at least 185 characters back, the farthest the probe tests" in text
    assert "costs the referent 1.21 [1.10, 1.30] nats" in text
    assert "Over training it recalls in 1 of 1 seed from step 150 on" in text
    assert "validations every 50 steps" in text


def test_the_sentences_follow_the_numbers():
    later = findings.model_finding("GRU", memory(steps_to_recall_median=250.0))
    assert "from step 250 on" in later and "from step 150" not in later
    uncensored = findings.model_finding(
        "GRU",
        memory(
            memory_span_chars=70.0,
            memory_span_chars_ci_low=50.0,
            memory_span_chars_ci_high=90.0,
            memory_span_censored_seeds=0,
        ),
    )
    assert "out to 70 [50, 90] characters back" in uncensored and "at least" not in uncensored


NO_RECALL = {
    "recall_seeds": 0,
    "steps_to_recall_median": None,
    "memory_span_chars": 0.0,
    "memory_span_censored_seeds": 0,
}


def test_a_model_that_does_not_recall_is_said_not_to():
    text = findings.model_finding(
        "LSTM",
        memory(
            recall_gap_k1=0.004, recall_gap_k1_ci_low=-0.02, recall_gap_k1_ci_high=0.03, **NO_RECALL
        ),
    )
    assert text.startswith("LSTM shows no recall: on the test pairs")
    assert "a gap of 0.00 [-0.02, 0.03], not above memory.min_gap = 0.05." in text
    assert "out to" not in text and "costs the referent" not in text
    assert text.endswith("Over training it does not recall within 300 steps (0 of 1 seed).")


def test_a_gap_above_zero_but_not_above_min_gap_is_no_recall():
    text = findings.model_finding(
        "LSTM",
        memory(recall_gap_k1=0.06, recall_gap_k1_ci_low=0.02, recall_gap_k1_ci_high=0.1),
    )
    assert text.startswith("LSTM shows no recall") and "not above memory.min_gap" in text


def test_a_significantly_negative_gap_reads_below_placebos():
    text = findings.model_finding(
        "LSTM",
        memory(
            recall_gap_k1=-0.04,
            recall_gap_k1_ci_low=-0.07,
            recall_gap_k1_ci_high=-0.01,
            **NO_RECALL,
        ),
    )
    assert "a gap of -0.04 [-0.07, -0.01], below placebos" in text
    assert "recalls the planted names" not in text and "not above" not in text


@pytest.mark.parametrize("low", [0.04, 0.05, 0.051, 0.2, -0.3, float("nan")])
def test_span_steps_to_recall_and_findings_agree_on_the_same_numbers(low):
    """One rule decides "recalls" everywhere: fed the same interval, a distance bucket (the
    span), a training snapshot (steps to recall) and a model (the findings) agree."""
    from rnnmem.analysis.memory import recall, span

    expected = rule.recalls(low, 0.05)
    reach, _ = span.span_rule(np.array([low, low]), (10, 30, 50), 0.05, tested=48)
    steps = recall.steps_to_recall([100, 200], [low, low], 0.05)
    text = findings.model_finding(
        "GRU", memory(recall_gap_k1=low, recall_gap_k1_ci_low=low, recall_gap_k1_ci_high=0.4)
    )
    assert (reach > 0) == (steps is not None) == ("recalls the planted names" in text) == expected
    assert expected == (low > 0.05)


def test_seeds_that_recall_are_counted_and_their_median_named():
    text = findings.model_finding(
        "GRU", memory(seeds=3, recall_seeds=2, steps_to_recall_median=175.0)
    )
    assert "recalls in 2 of 3 seeds from step 175 on (median over those seeds)" in text
    every = findings.model_finding("GRU", memory(seeds=3, recall_seeds=3))
    assert "recalls in all 3 seeds" in every
    assert findings.interval_note(memory(seeds=3)).startswith(
        "Brackets: 95 % Student-t intervals over 3 training seeds"
    )
    assert "bootstrap" in findings.interval_note(memory())


def test_without_planted_pairs_memory_is_not_measured():
    text = findings.model_finding("GRU", memory(recall_gap_k1=None))
    assert text == "GRU: the corpus plants no recall pairs, so no planted-pair measure applies."


def test_differences_between_models_say_when_they_are_inside_the_noise():
    rows = [
        {"a": "gru", "b": "lstm", "metric": "intervention_effect_k1", "difference": 1.2,
         "ci_low": 1.1, "ci_high": 1.3, "significant": True},
        {"a": "gru", "b": "lstm", "metric": "signed_auc_k0", "difference": 0.09,
         "ci_low": 0.02, "ci_high": 0.15, "significant": True},
        {"a": "lstm", "b": "nlstm", "metric": "intervention_effect_k1", "difference": 0.001,
         "ci_low": -0.01, "ci_high": 0.012, "significant": False},
        {"a": "lstm", "b": "nlstm", "metric": "recall_gap_k1", "difference": -0.01,
         "ci_low": -0.04, "ci_high": 0.02, "significant": False},
    ]  # fmt: skip
    lines = findings.difference_findings(rows, LABELS)
    assert lines == [
        "GRU - LSTM: intervention effect +1.20 nats [+1.10, +1.30].",
        "LSTM - Nested LSTM: intervention effect +0.00 nats [-0.01, +0.01], inside the noise; "
        "recall gap -0.01 [-0.04, +0.02], inside the noise.",
    ]


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        ({"gru": [], "lstm": ["below the n-gram baseline at k = 0"]},
         ["LSTM: below the n-gram baseline at k = 0."]),
        ({"gru": ["stopped at train.max_steps", "below the dictionary baseline"]},
         ["GRU: stopped at train.max_steps; below the dictionary baseline."]),
        ({"gru": []}, []),
    ],
)  # fmt: skip
def test_caveats_are_one_line_per_model(notes, expected):
    assert findings.caveats(notes, LABELS) == expected


@pytest.mark.parametrize(
    ("ours", "high", "theirs", "reading"),
    [
        (0.30, 0.35, 0.40, "below"),  # the whole interval under the baseline
        (0.30, 0.45, 0.40, "level"),  # only the estimate under it
        (0.30, None, 0.40, "below"),  # no interval: the estimate decides
        (0.40, 0.45, 0.40, None),  # level with it is not under it
        (0.50, 0.55, 0.40, None),
        (None, 0.35, 0.40, None),
        (0.30, 0.35, None, None),
    ],
)
def test_a_model_is_read_against_a_baseline_by_its_interval(ours, high, theirs, reading):
    """One rule for "below the n-gram": the report's caveats and docs/memory.md call it."""
    assert findings.against_baseline(ours, high, theirs) == reading
