"""The one rule for "recalls", and how a gap is read.

A model recalls, at a distance bucket, at a training step or overall, when the 95 % interval of
its matched recall gap (referent minus placebo top-1 at k = 1, or on real text the
swap effect) lies wholly above `memory.min_gap`: the effect is there (not noise) and large
enough to matter (not a sliver). The span, steps to recall and the report's findings all call
`recalls`, so they cannot disagree about the same numbers. A gap whose interval lies wholly
below 0 is read as "below placebos", never as recall or as noise.

Torch-free on purpose: the report reads verdicts without loading a model library.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Verdict = Literal["recalls", "below", "none"]


def recalls(low: float | np.ndarray | None, min_gap: float) -> bool | np.ndarray:
    """Whether a gap whose 95 % interval starts at `low` counts as recall: `low > min_gap`.
    A missing or NaN bound never does. Arrays give an array of the same shape."""
    if low is None:
        return False
    lows = np.asarray(low, dtype=np.float64)
    found = np.nan_to_num(lows, nan=-np.inf) > min_gap
    return bool(found) if found.ndim == 0 else found


def verdict(low: float | None, high: float | None, min_gap: float) -> Verdict:
    """How a gap with interval [low, high] reads: "recalls" (`recalls`), "below" (the whole
    interval under 0: placebos named more often than referents) or "none" (no recall shown:
    the interval holds 0, or the gap is above 0 by less than `min_gap`)."""
    if recalls(low, min_gap):
        return "recalls"
    if high is not None and np.isfinite(high) and high < 0:
        return "below"
    return "none"
