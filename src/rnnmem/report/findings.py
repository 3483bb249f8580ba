"""What the run found, in sentences written from its metrics, and what limits them.

The report and docs/results.md open with these, so that the first screen answers the
question the project asks: which model remembers, how far, and from which training step.
Per model, from its aggregated memory measures: whether it recalls the planted names on the
test pairs, by the one recall rule (`analysis.memory.rule`: the recall gap's 95 % interval above
`memory.min_gap`; a gap whose interval lies under 0 reads "below placebos"), with the
referent and placebo levels, how far back (the memory span, "at least" when it reaches the
longest distance the probe tests) and the intervention effect; then recall over training (how
many seeds recall and from which step, by the same rule on validation pairs). Then each pair
of models on the intervention effect and the recall gap, paired on the same test
observations; a difference whose interval holds 0 is called inside the noise.
Nothing here is fixed text about a model: change the run and the sentences change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rnnmem.analysis.memory import rule

COMPARED = {  # paired memory measure -> (name in a sentence, unit, decimals)
    "recall_gap_k1": ("recall gap", "", 2),
    "intervention_effect_k1": ("intervention effect", " nats", 2),
    "natural_swap_effect_k1": ("swap effect on repeated words", " nats", 2),
}
NGRAM = "ngram"  # the baseline a model's repeat gain is compared with


def against_baseline(ours: float | None, high: float | None, theirs: float | None) -> str | None:
    """How a model's figure (`ours`, the top of its 95 % interval `high`) stands to a
    baseline's (`theirs`): "below" when the interval lies wholly under it (or has no top),
    "level" when only the estimate does, None when the model is not under it or a figure is
    missing. The report's caveats and docs/memory.md read a model against a baseline by it."""
    if ours is None or theirs is None or ours >= theirs:
        return None
    return "below" if high is None or high < theirs else "level"


def _value(number: Any, decimals: int, percent: bool = False) -> str:
    if number is None:
        return "n/a"
    return f"{100 * number:.0f} %" if percent else f"{number:.{decimals}f}"


def _interval(measures: Mapping[str, Any], key: str, decimals: int = 2, percent=False) -> str:
    """`value [low, high]`, or the value alone when it has no interval."""
    low, high = measures.get(f"{key}_ci_low"), measures.get(f"{key}_ci_high")
    shown = _value(measures.get(key), decimals, percent)
    if low is None or high is None or shown == "n/a":
        return shown
    bounds = (_value(b, decimals, percent).removesuffix(" %") for b in (low, high))
    return f"{shown} [{', '.join(bounds)}]"


def _seeds(count: int, of: int) -> str:
    return f"all {of} seeds" if count == of and of > 1 else f"{count} of {of} seed{'s' * (of > 1)}"


def _training_clause(memory: Mapping[str, Any]) -> str:
    """Recall over training, by the recall rule on validation pairs at every snapshot."""
    seeds, recalled = int(memory["seeds"]), int(memory["recall_seeds"])
    trained = int(memory["steps_trained"])
    every = int(memory["validation_interval"])
    if not recalled:
        return f"Over training it does not recall within {trained:,} steps ({_seeds(0, seeds)})."
    step = memory["steps_to_recall_median"]
    median = " (median over those seeds)" if recalled > 1 else ""
    return (
        f"Over training it recalls in {_seeds(recalled, seeds)} from step {step:,.0f} on"
        f"{median}: from there to the end, its validation gap's interval stays above "
        f"memory.min_gap (validations every {every} steps)."
    )


def _span_clause(memory: Mapping[str, Any]) -> str:
    span = memory.get("memory_span_chars")
    if not span:
        return ""
    censored = int(memory.get("memory_span_censored_seeds") or 0)
    if censored and censored == int(memory["seeds"]):
        tested = memory.get("memory_span_tested_chars")
        reach = f"at least {tested:.0f}" if tested is not None else f"at least {span:.0f}"
        return f"out to {reach} characters back, the farthest the probe tests"
    return f"out to {_interval(memory, 'memory_span_chars', 0)} characters back"


def model_finding(label: str, memory: Mapping[str, Any]) -> str:
    """Two or three sentences on one model, from its aggregated memory measures."""
    if memory.get("recall_gap_k1") is None:
        return f"{label}: the corpus plants no recall pairs, so no planted-pair measure applies."
    min_gap = memory["min_gap"]
    low, high = memory.get("recall_gap_k1_ci_low"), memory.get("recall_gap_k1_ci_high")
    levels = (
        f"on the test pairs it names a referent at k = 1 in "
        f"{_interval(memory, 'referent_top1_k1', percent=True)} of cases against "
        f"{_interval(memory, 'placebo_top1_k1', percent=True)} for placebos of the same "
        f"names and positions, a gap of {_interval(memory, 'recall_gap_k1')}"
    )
    reading = rule.verdict(low, high, min_gap)
    if reading == "recalls":
        span = _span_clause(memory)
        effect = _interval(memory, "intervention_effect_k1")
        first = (
            f"{label} recalls the planted names: {levels}, above memory.min_gap = {min_gap:g}"
            f"{', ' + span if span else ''}; swapping the antecedent for another name costs "
            f"the referent {effect} nats of log-probability."
        )
    elif reading == "below":
        first = (
            f"{label} shows no recall: {levels}, below placebos (the interval lies under 0: "
            f"placebos are named more often, which memory of the name cannot cause)."
        )
    else:
        first = f"{label} shows no recall: {levels}, not above memory.min_gap = {min_gap:g}."
    return f"{first} {_training_clause(memory)}"


def _signed(row: Mapping[str, Any], unit: str = "", decimals: int = 2) -> str:
    """A paired difference with its interval: "+0.12 [+0.05, +0.19]"."""
    shown = f"{row['difference']:+.{decimals}f}{unit}"
    if row["ci_low"] is not None and row["ci_high"] is not None:
        shown += f" [{row['ci_low']:+.{decimals}f}, {row['ci_high']:+.{decimals}f}]"
    return shown


def natural_finding(
    label: str, memory: Mapping[str, Any], versus_ngram: Mapping[str, Any] | None
) -> str:
    """One sentence on memory of words that repeat (any corpus): whether the model completes a
    repeated word from memory of its earlier mention, by the recall rule on the swap effect at
    k = 1, how far back (the natural span), and its repeat gain against the n-gram baseline's
    on the same words (`versus_ngram`: the paired row model - n-gram). Empty when the corpus
    has no repeated words to measure."""
    if memory.get("natural_swap_effect_k1") is None:
        return ""
    min_effect = memory["min_effect_nats"]
    effect = _interval(memory, "natural_swap_effect_k1")
    if rule.recalls(memory.get("natural_swap_effect_k1_ci_low"), min_effect):
        span = memory.get("natural_span_chars")
        censored = int(memory.get("natural_span_censored_seeds") or 0) == int(memory["seeds"])
        reach = (
            f"at least {memory.get('natural_span_tested_chars') or span:.0f} characters back, the "
            "farthest repeat in the test data"
            if censored
            else f"{_interval(memory, 'natural_span_chars', 0)} characters back"
        )
        head = (
            f"On words that repeat, {label} completes them from memory: replacing the earlier "
            f"mention costs the repeated word {effect} nats at k = 1, above "
            f"memory.min_effect_nats = {min_effect:g}, out to {reach}"
        )
    else:
        head = (
            f"On words that repeat, {label} shows no memory of the earlier mention: replacing "
            f"it moves the repeated word by {effect} nats at k = 1, not above "
            f"memory.min_effect_nats = {min_effect:g}"
        )
    gain = f"its repeat gain is {_interval(memory, 'natural_repeat_gain_k1')}"
    if versus_ngram is not None and versus_ngram["difference"] is not None:
        noise = "" if versus_ngram["significant"] else ", inside the noise"
        gain += f" ({_signed(versus_ngram)} over the n-gram baseline's on the same words{noise})"
    return f"{head}; {gain}."


def difference_findings(
    comparisons: Sequence[Mapping[str, Any]], labels: Mapping[str, str]
) -> list[str]:
    """One sentence per pair of models on the compared memory measures (`COMPARED`)."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for row in comparisons:
        if row["metric"] not in COMPARED or row["difference"] is None or row["b"] == NGRAM:
            continue
        name, unit, decimals = COMPARED[row["metric"]]
        shown = _signed(row, unit, decimals)
        verdict = "" if row["significant"] else ", inside the noise"
        pairs.setdefault((row["a"], row["b"]), []).append(f"{name} {shown}{verdict}")
    return [
        f"{labels.get(a, a)} - {labels.get(b, b)}: {'; '.join(parts)}."
        for (a, b), parts in pairs.items()
    ]


def interval_note(memory: Mapping[str, Any]) -> str:
    """What the brackets mean for these figures."""
    seeds = int(memory["seeds"])
    if seeds > 1:
        return f"Brackets: 95 % Student-t intervals over {seeds} training seeds."
    return (
        "Brackets: 95 % bootstrap intervals over test observations, from one training seed; "
        "differences between models are paired on the same observations."
    )


def caveats(notes: Mapping[str, Sequence[str]], labels: Mapping[str, str]) -> list[str]:
    """One line per model that has anything to warn of: its notes joined."""
    return [
        f"{labels.get(kind, kind)}: {'; '.join(found)}." for kind, found in notes.items() if found
    ]
