"""Recall over training: from which training step a model names a referent better than chance.

The train stage keeps the model before the first step and at every validation (snapshots).
On each, the *recall gap* is measured on validation pairs: referent top-1 at k = 1 (its first
letter typed) minus the top-1 of position-matched placebos (the same cue and shape, no
antecedent), pooled over distances, with a bootstrap interval over observations. *Steps to
recall* is the first snapshot step from which the recall rule (`rule.recalls`: the interval
above `memory.min_gap`) holds at every snapshot through the last, over at least two
snapshots, so that one lucky interval at the end is not taken for learning; its resolution is
the validation interval (`train.eval_every`). A model that learned the task and then lost it
again has not recalled ("reached then lost" counts as never).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from rnnmem.analysis.memory import rule
from rnnmem.analysis.memory.matching import matched_gap
from rnnmem.analysis.memory.scoring import referent_scores
from rnnmem.analysis.stats import Resampling, interval
from rnnmem.data.dataset import Split
from rnnmem.data.probe import PLACEBO, RECALL

HOLD = 2  # snapshots in a row, through the last, that steps to recall needs
CURVE_COLUMNS = (
    "step",
    "gap",
    "gap_low",
    "gap_high",
    "referent_top1_k1",
    "placebo_top1_k1",
    "pairs",
    "placebos",
)


def first_observations(items: pd.DataFrame, observations: int) -> pd.DataFrame:
    """The planted items of the first `observations` observations that hold a recall pair
    (their placebos included): a fixed, small sample to measure every snapshot on."""
    holding = np.unique(items.loc[items["kind"] == RECALL, "observation"])[:observations]
    return items[items["observation"].isin(holding)]


@torch.no_grad()
def recall_curve(
    snapshots: Iterable[tuple[int, torch.nn.Module]],
    split: Split,
    items: pd.DataFrame,
    batch_size: int = 64,
    seed: int = 0,
) -> pd.DataFrame:
    """The recall gap of each (step, model) in `snapshots` on `items` of `split`, one row
    per step: columns `CURVE_COLUMNS`. Every step is resampled with the same observations."""
    resampling = Resampling.over(items["observation"].to_numpy(), seed)
    counts = {
        "pairs": int((items["kind"] == RECALL).sum()),
        "placebos": int((items["kind"] == PLACEBO).sum()),
    }
    rows = []
    for step, model in snapshots:
        scores = referent_scores(model, split, items, batch_size)
        gap = matched_gap(items.join(scores), "top1_k1", resampling)
        low, high = interval(gap.gap_reps)
        rows.append(
            {
                "step": step,
                "gap": gap.gap,
                "gap_low": low,
                "gap_high": high,
                "referent_top1_k1": gap.referent,
                "placebo_top1_k1": gap.placebo,
                **counts,
            }
        )
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def steps_to_recall(steps: Sequence[int], lows: Sequence[float], min_gap: float) -> int | None:
    """The first of `steps` from which the recall rule holds for every interval lower bound in
    `lows` through the last, when that run spans at least `HOLD` snapshots; None otherwise
    (never reached, reached then lost, or reached only at the last snapshot)."""
    held = rule.recalls(np.asarray(lows, dtype=np.float64), min_gap)
    run = 0
    for found in held[::-1]:
        if not found:
            break
        run += 1
    return int(steps[len(steps) - run]) if run >= HOLD else None
