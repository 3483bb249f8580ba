"""What the run found, in sentences written from its metrics, and what limits them.

The report and docs/results.md open with these, so that the first screen answers the
question the project asks: which model remembers, how far, and from which training step.
Per model, from its aggregated memory measures: how many seeds recall and from which step
(recall over training), the recall gap on the test pairs (referent against position-matched
placebo top-1 at k = 1), how far back (the memory span, "at least" when it reaches the
longest distance the probe tests) and the intervention effect, each with its 95 % interval or
seed count. Then each pair of models on the intervention effect and the span, paired on the
same test observations; a difference whose interval holds 0 is called inside the noise, and
one with a censored span is a bound (`bound`), not a measurement.
Nothing here is fixed text about a model: change the run and the sentences change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

COMPARED = {  # paired memory measure -> (name in a sentence, unit, decimals)
    "intervention_effect_k1": ("intervention effect", " nats", 2),
    "memory_span_chars": ("memory span", " characters", 0),
}


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


def _inside_noise(measures: Mapping[str, Any], key: str) -> bool:
    low, high = measures.get(f"{key}_ci_low"), measures.get(f"{key}_ci_high")
    return low is None or high is None or low <= 0 <= high


def _seeds(count: int, of: int) -> str:
    return f"all {of} seeds" if count == of and of > 1 else f"{count} of {of} seed{'s' * (of > 1)}"


def _recall_clause(memory: Mapping[str, Any]) -> str:
    seeds, recalled = int(memory["seeds"]), int(memory["recall_seeds"])
    trained = int(memory["steps_trained"])
    if not recalled:
        return f"does not recall within {trained:,} training steps ({_seeds(0, seeds)})"
    step = memory["steps_to_recall_median"]
    median = " (median over those seeds)" if recalled > 1 else ""
    return (
        f"recalls in {_seeds(recalled, seeds)}: from step {step:,.0f} on{median}, its recall gap "
        f"on validation pairs stays above 0 to the end of training (validations every "
        f"{int(memory['validation_interval'])} steps)"
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
    """One sentence or two on one model, from its aggregated memory measures."""
    if memory.get("recall_gap_k1") is None:
        return f"{label}: the corpus plants no recall pairs, so its memory is not measured."
    parts = [f"{label} {_recall_clause(memory)}."]
    gap = _interval(memory, "recall_gap_k1")
    levels = (
        f"On the test pairs it names a referent at k = 1 in "
        f"{_interval(memory, 'referent_top1_k1', percent=True)} of cases against "
        f"{_interval(memory, 'placebo_top1_k1', percent=True)} for placebos at the same "
        f"positions: a gap of {gap}"
    )
    if _inside_noise(memory, "recall_gap_k1"):
        parts.append(f"{levels}, inside the noise.")
    else:
        span = _span_clause(memory)
        effect = _interval(memory, "intervention_effect_k1")
        parts.append(
            f"{levels}{', ' + span if span else ''}; swapping the antecedent for another name "
            f"costs the referent {effect} nats of log-probability."
        )
    return " ".join(parts)


def bound(row: Mapping[str, Any]) -> str:
    """How to read a paired difference A - B when a memory span in it is censored (it reaches
    the farthest distance the probe tests, so it is only a lower bound): "at least" when only
    A's is, "at most" when only B's is, "both censored" when both are, "" when neither."""
    censored = set(row.get("censored", ()))
    if not censored:
        return ""
    if censored >= {row["a"], row["b"]}:
        return "both censored"
    return "at least" if row["a"] in censored else "at most"


def significant(row: Mapping[str, Any]) -> bool:
    """Whether the paired interval excludes 0 on the side a censored span cannot undo: a lower
    bound above 0, an upper bound below 0; never when both spans are censored."""
    reading = bound(row)
    if reading == "both censored":
        return False
    if reading == "at least":
        return bool(row["significant"]) and row["ci_low"] > 0
    if reading == "at most":
        return bool(row["significant"]) and row["ci_high"] < 0
    return bool(row["significant"])


def difference_findings(
    comparisons: Sequence[Mapping[str, Any]], labels: Mapping[str, str]
) -> list[str]:
    """One sentence per pair of models on the compared memory measures (`COMPARED`)."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for row in comparisons:
        if row["metric"] not in COMPARED or row["difference"] is None:
            continue
        name, unit, decimals = COMPARED[row["metric"]]
        reading = bound(row)
        if reading == "both censored":
            text = f"{name} not comparable (both reach the farthest distance the probe tests)"
            pairs.setdefault((row["a"], row["b"]), []).append(text)
            continue
        shown = f"{row['difference']:+.{decimals}f}{unit}"
        if row["ci_low"] is not None and row["ci_high"] is not None:
            shown += f" [{row['ci_low']:+.{decimals}f}, {row['ci_high']:+.{decimals}f}]"
        if reading:
            which = labels.get(row["a" if reading == "at least" else "b"], "")
            shown = f"{reading} {shown} ({which}'s reaches the farthest distance the probe tests)"
        verdict = "" if significant(row) else ", inside the noise"
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
