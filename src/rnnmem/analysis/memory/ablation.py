"""Context ablation: how much of its context a model uses, on any corpus, without planted pairs.

Each prediction is made again from a fresh state that sees only a window of its last
characters: the last D, cut forward to the first word start among them (a model was never
trained to start mid-word), or the word being typed alone when none starts there. It is
compared with the prediction from the whole observation: the difference, full minus window in
the target's log-probability, is the loss the window adds. The effective context is the
smallest D whose mean added loss lies within a tolerance of 0 (either way: a window can also
make predictions better than the full context does), the same rule for the sample and for
every bootstrap replicate (so a larger sample narrows the interval, not moves the estimate).
Windows as long as the observations are never tried: they would match by construction. When no
window matches, the effective context is censored: more than the longest window tried.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rnnmem.analysis.stats import Resampling, interval
from rnnmem.data.dataset import SPACE, Split, letters_typed, scored

WINDOWS = (5, 10, 20, 50, 100)  # characters a windowed prediction may see


def _last_logits(model: nn.Module, x: Tensor, last: Tensor) -> Tensor:
    """Logits at index `last` of each row, without the output layer on every step if the
    model exposes its hidden states."""
    rows = torch.arange(len(x), device=x.device)
    if hasattr(model, "hidden_states"):
        return model.dense(model.hidden_states(model.embedding(x))[rows, last])
    return model(x)[rows, last]


@torch.no_grad()
def _scores(model: nn.Module, x: Tensor, last: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    log_probs = torch.log_softmax(_last_logits(model, x, last).float(), dim=-1)
    return log_probs.gather(1, target[:, None])[:, 0], log_probs.argmax(-1) == target


def positions(split: Split, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, position) of every scored prediction in `rows` of the split."""
    mask = scored(split.target[rows])
    r, t = np.nonzero(mask)
    return rows[r], t


def window_start(
    split: Split, row: np.ndarray, position: np.ndarray, window: int | None
) -> np.ndarray:
    """Where each prediction's window starts: the first word start (a space) among its last
    `window` characters, or, when there is none, the start of the word being typed."""
    if window is None:
        return np.zeros(len(row), dtype=np.int64)
    rows, which = np.unique(row, return_inverse=True)
    spaces = split.source[rows] == SPACE
    column = np.arange(spaces.shape[1])
    # per observation and column: the first space at or after it, the last at or before it
    after = np.minimum.accumulate(np.where(spaces, column, spaces.shape[1])[:, ::-1], 1)[:, ::-1]
    before = np.maximum.accumulate(np.where(spaces, column, -1), 1)
    start = after[which, np.maximum(position + 1 - window, 0)]
    return np.where(start <= position, start, before[which, position])


@torch.no_grad()
def window_scores(
    model: nn.Module,
    split: Split,
    row: np.ndarray,
    position: np.ndarray,
    window: int | None,
    batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """Log-probability and top-1 hit of the target at each (row, position), the prediction
    made from a fresh state that sees only its window of `window` characters (see the module
    docstring; None: all of them).
    """
    device = next(model.parameters()).device
    seen = position + 1 - window_start(split, row, position, window)
    log_prob, hit = np.zeros(len(row)), np.zeros(len(row), dtype=bool)
    order = np.argsort(seen, kind="stable")  # similar widths together: less padding
    for first in range(0, len(order), batch_size):
        chosen = order[first : first + batch_size]
        width = int(seen[chosen].max())
        start = position[chosen] + 1 - seen[chosen]
        columns = start[:, None] + np.arange(width)
        inside = np.arange(width) < seen[chosen][:, None]
        x = np.where(inside, split.source[row[chosen, None], np.where(inside, columns, 0)], 0)
        target = torch.as_tensor(split.target[row[chosen], position[chosen]], device=device)
        last = torch.as_tensor(seen[chosen] - 1, device=device)
        lp, ok = _scores(model, torch.as_tensor(x, device=device), last, target)
        log_prob[chosen], hit[chosen] = lp.cpu().numpy(), ok.cpu().numpy()
    return log_prob, hit


def context_ablation(
    model: nn.Module,
    split: Split,
    rows: np.ndarray,
    tolerance: float,
    windows: Sequence[int] = WINDOWS,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """Cross entropy and k = 0 accuracy with each window against full context, the added loss
    with its interval over observations, and the effective context (`window_rule` with
    `tolerance` nats), for the sample and each replicate; censored
    (the longest window, and the flag) when none is. `windows` must be shorter than the
    observations' maximum length (a caller's check).

    A prediction whose whole prefix fits in its window is the full prediction itself, so it is
    not rerun and adds exactly 0.
    """
    was_training = model.training
    model.eval()
    row, position = positions(split, np.asarray(rows))
    k0 = letters_typed(split.source[row])[np.arange(len(row)), position] == 0
    full_lp, full_hit = window_scores(model, split, row, position, None)
    resampling = Resampling.over(row, seed)
    records = [
        {
            "window": 0,
            "label": "full",
            "cross_entropy": float(-full_lp.mean()),
            "top1_k0": float(full_hit[k0].mean()),
            "difference": 0.0,
            "difference_low": 0.0,
            "difference_high": 0.0,
        }
    ]
    windows = sorted(windows)
    added, replicates = [], []
    for window in windows:
        lp, hit = full_lp.copy(), full_hit.copy()
        cut = window_start(split, row, position, window) > 0
        lp[cut], hit[cut] = window_scores(model, split, row[cut], position[cut], window)
        mean, reps = resampling.mean(full_lp - lp, row)
        added.append(mean)
        replicates.append(reps)
        low, high = interval(reps)
        records.append(
            {
                "window": int(window),
                "label": str(window),
                "cross_entropy": float(-lp.mean()),
                "top1_k0": float(hit[k0].mean()),
                "difference": mean,
                "difference_low": low,
                "difference_high": high,
            }
        )
    model.train(was_training)
    effective, censored = window_rule(np.array(added), windows, tolerance)
    reps, _ = window_rule(np.array(replicates).T, windows, tolerance)
    summary = {
        "effective_context_chars": float(effective),
        "effective_context_chars_interval": list(interval(reps)),
        "effective_context_censored": bool(censored),
        "effective_context_tolerance_sensitive": tolerance_sensitive(
            np.array(added), windows, tolerance
        ),
        "ablation_observations": len(resampling.universe),
        "ablation_predictions": len(row),
    }
    return pd.DataFrame(records), summary


def tolerance_sensitive(added: np.ndarray, windows: Sequence[int], tolerance: float) -> bool:
    """Whether the effective context (`window_rule`) would read otherwise at some tolerance
    between half and twice `tolerance`: then the single number says more about the tolerance
    than about the model, and the added-loss curve is what to read. The rule only moves one
    way as the tolerance grows, so the two ends decide."""
    chosen = window_rule(added, windows, tolerance)
    return any(window_rule(added, windows, tolerance * factor) != chosen for factor in (0.5, 2.0))


def window_rule(
    added: np.ndarray, windows: Sequence[int], tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """The smallest window whose mean added loss [..., windows] lies within `tolerance` of 0,
    either way (a NaN one does not); censored, giving the longest window, when none does.
    Returns (window, censored)."""
    fits = np.abs(np.nan_to_num(np.asarray(added, dtype=np.float64), nan=np.inf)) <= tolerance
    found = fits.any(-1)
    first = np.asarray(windows, dtype=np.float64)[fits.argmax(-1)]
    return np.where(found, first, float(max(windows))), ~found
