"""The report's findings are written from the metrics: what they say follows the numbers."""

from __future__ import annotations

import pytest

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
    }
    return base | changes


def test_a_model_that_recalls_is_said_to_with_its_figures():
    text = findings.model_finding("GRU", memory())
    assert text.startswith("GRU recalls in 1 of 1 seed: from step 150 on")
    assert "validations every 50 steps" in text
    assert "62 % [58, 66] of cases against 24 % [19, 29]" in text
    assert "a gap of 0.38 [0.30, 0.46]" in text and "inside the noise" not in text
    # The span reached the last bucket: "at least" the farthest distance tested, never "=".
    assert "out to at least 185 characters back, the farthest the probe tests" in text
    assert "costs the referent 1.21 [1.10, 1.30] nats" in text


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


def test_a_model_that_does_not_recall_is_inside_the_noise():
    text = findings.model_finding(
        "LSTM",
        memory(
            recall_seeds=0,
            steps_to_recall_median=None,
            recall_gap_k1=0.004,
            recall_gap_k1_ci_low=-0.02,
            recall_gap_k1_ci_high=0.03,
            memory_span_chars=0.0,
            memory_span_censored_seeds=0,
        ),
    )
    assert text.startswith("LSTM does not recall within 300 training steps (0 of 1 seed)")
    assert "a gap of 0.00 [-0.02, 0.03], inside the noise." in text
    assert "out to" not in text and "costs the referent" not in text


def test_seeds_that_recall_are_counted_and_their_median_named():
    text = findings.model_finding(
        "GRU", memory(seeds=3, recall_seeds=2, steps_to_recall_median=175.0)
    )
    assert "recalls in 2 of 3 seeds: from step 175 on (median over those seeds)" in text
    every = findings.model_finding("GRU", memory(seeds=3, recall_seeds=3))
    assert "recalls in all 3 seeds" in every
    assert findings.interval_note(memory(seeds=3)).startswith(
        "Brackets: 95 % Student-t intervals over 3 training seeds"
    )
    assert "bootstrap" in findings.interval_note(memory())


def test_without_planted_pairs_memory_is_not_measured():
    text = findings.model_finding("GRU", memory(recall_gap_k1=None))
    assert text == "GRU: the corpus plants no recall pairs, so its memory is not measured."


def test_differences_between_models_say_when_they_are_inside_the_noise():
    rows = [
        {"a": "gru", "b": "lstm", "metric": "intervention_effect_k1", "difference": 1.2,
         "ci_low": 1.1, "ci_high": 1.3, "significant": True},
        {"a": "gru", "b": "lstm", "metric": "signed_auc_k0", "difference": 0.09,
         "ci_low": 0.02, "ci_high": 0.15, "significant": True},
        {"a": "lstm", "b": "nlstm", "metric": "intervention_effect_k1", "difference": 0.001,
         "ci_low": -0.01, "ci_high": 0.012, "significant": False},
        {"a": "lstm", "b": "nlstm", "metric": "memory_span_chars", "difference": 0.0,
         "ci_low": None, "ci_high": None, "significant": False},
    ]  # fmt: skip
    lines = findings.difference_findings(rows, LABELS)
    assert lines == [
        "GRU - LSTM: intervention effect +1.20 nats [+1.10, +1.30].",
        "LSTM - Nested LSTM: intervention effect +0.00 nats [-0.01, +0.01], inside the noise; "
        "memory span +0 characters, inside the noise.",
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


SPAN = {"metric": "memory_span_chars", "ci_low": 150.0, "ci_high": 188.0, "significant": True}


def test_a_difference_of_censored_spans_is_a_bound_not_a_measurement():
    """A span that reaches the farthest distance tested is a lower bound: A - B is "at least"
    when A's is censored, "at most" when B's is, and no comparison when both are; the interval
    counts only on the side the bound cannot undo."""
    rows = [
        SPAN | {"a": "gru", "b": "lstm", "difference": 188.0, "censored": ["gru"]},
        SPAN | {"a": "lstm", "b": "gru", "difference": -188.0, "ci_low": -188.0,
                "ci_high": -150.0, "censored": ["gru"]},
        SPAN | {"a": "gru", "b": "nlstm", "difference": 0.0, "censored": ["gru", "nlstm"]},
        SPAN | {"a": "lstm", "b": "nlstm", "difference": -20.0, "ci_low": -40.0,
                "ci_high": -5.0, "censored": ["lstm"]},
    ]  # fmt: skip
    readings = ["at least", "at most", "both censored", "at least"]
    assert [findings.bound(r) for r in rows] == readings
    # Below 0 by an interval, but a lower bound: the true difference may be above 0.
    assert [findings.significant(r) for r in rows] == [True, True, False, False]
    lines = findings.difference_findings(rows[:3], LABELS)
    assert lines == [
        "GRU - LSTM: memory span at least +188 characters [+150, +188] (GRU's reaches the "
        "farthest distance the probe tests).",
        "LSTM - GRU: memory span at most -188 characters [-188, -150] (GRU's reaches the "
        "farthest distance the probe tests).",
        "GRU - Nested LSTM: memory span not comparable (both reach the farthest distance the "
        "probe tests).",
    ]
    assert "inside the noise" in findings.difference_findings(rows[3:], LABELS)[0]
    uncensored = SPAN | {"a": "gru", "b": "lstm", "difference": 20.0, "censored": []}
    assert findings.bound(uncensored) == "" and findings.significant(uncensored)
