"""Numbers as the report and docs/results.md write them, by the unit the registry gives.

A rate is a percentage ("70.6%"), a gap between rates and a paired difference of rates
are percentage points, nats and scores keep the registry's decimals, a count has thousands
separators, a duration its unit. An interval follows its value in brackets without repeating
the unit ("70.6% [70.1, 71.0]"). A distance or window whose rule ran past what was tested is
censored ("≥ 185", "> 100"), a step count no seed reached is beyond the last one trained
("> 300"), and a value nothing measured is "n/a".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rnnmem.analysis.registry import BY_NAME, Metric, Unit

MISSING = "n/a"
_RATES = (Unit.RATE, Unit.RATE_GAP)


def number(value: Any) -> float:
    """A value as a float; None (nothing measured) becomes NaN."""
    return math.nan if value is None else float(value)


def percent(raw: Any, digits: int = 1) -> str:
    x = number(raw)
    return MISSING if math.isnan(x) else f"{100 * x:.{digits}f}%"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def value(metric: Metric, raw: Any) -> str:
    """One value of `metric` in its unit."""
    x = number(raw)
    if math.isnan(x):
        return MISSING
    digits = metric.decimals
    match metric.unit:
        case Unit.RATE:
            return percent(x, digits)
        case Unit.RATE_GAP:
            return f"{100 * x:+.{digits}f} pt"
        case Unit.COUNT:
            return f"{int(x):,}"
        case Unit.STEPS:
            return f"{x:,.0f}"
        case Unit.SECONDS:
            return duration(x)
        case _:
            return f"{x:.{digits}f}"


def _bound(metric: Metric, raw: Any) -> str:
    """An interval bound: the value without its unit's suffix."""
    return value(metric, raw).removesuffix("%").removesuffix(" pt")


def with_interval(metric: Metric, measures: Mapping[str, Any]) -> str:
    """The value and, when the registry gives it one and both bounds are known, its interval."""
    shown = value(metric, measures.get(metric.name))
    low, high = (measures.get(f"{metric.name}_ci_{side}") for side in ("low", "high"))
    if not metric.interval or low is None or high is None or shown == MISSING:
        return shown
    return f"{shown} [{_bound(metric, low)}, {_bound(metric, high)}]"


def _censored(metric: Metric, measures: Mapping[str, Any], shown: str) -> str:
    """Marked where the rule that finds the value ran past what was tested: "≥ 185 [170, 185]"
    when every seed is censored, with the count when some are. A bound at the censoring
    value means at least that much too."""
    flag, sign = metric.censored
    censored, seeds = measures.get(f"{flag}_seeds") or 0, int(measures.get("seeds", 1))
    if shown == MISSING or not censored:
        return shown
    if censored == seeds:
        return f"{sign} {shown}"
    return f"{shown} (censored in {int(censored)} of {seeds} seeds)"


def cell(metric: Metric, measures: Mapping[str, Any]) -> str:
    """A table cell: the value with its interval, censoring, bound and what goes beside it."""
    shown = with_interval(metric, measures)
    if metric.censored:
        shown = _censored(metric, measures, shown)
    if metric.bound and shown == MISSING and measures.get(metric.bound) is not None:
        shown = f"> {value(metric, measures[metric.bound])}"
    if metric.beside:
        return f"{shown} / {with_interval(BY_NAME[metric.beside], measures)}"
    if metric.pairs and shown != MISSING and measures.get(metric.pairs) is not None:
        return f"{shown}, {measures[metric.pairs]:,.0f} pairs"
    return shown


def difference(metric: Metric, raw: Any, unit: bool = False) -> str:
    """A paired difference A - B, signed; rates in percentage points, " pt" with `unit`."""
    x = number(raw)
    if math.isnan(x):
        return MISSING
    rate = metric.unit in _RATES
    return f"{(100 if rate else 1) * x:+.{metric.decimals}f}" + " pt" * (rate and unit)
