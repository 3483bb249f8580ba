"""Context ablation: how much of its context a model uses, on any corpus, without planted pairs.

Each prediction is made again from a fresh state that sees only the last D characters, and
compared with the prediction from the whole observation. Where the model draws on nothing
further back than D, the two agree and their paired difference is 0. The effective context is
the smallest D at which the difference (full minus window, in log-probability of the target)
has a bootstrap interval, over observations, that covers 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rnnmem.analysis.metrics import scored
from rnnmem.analysis.stats import group_means, interval, resample_weights
from rnnmem.data.dataset import Split, letters_typed

WINDOWS = (5, 10, 20, 50, 100, 200)  # characters a windowed prediction may see


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
    made from a fresh state that sees only the last `window` characters (None: all of them).
    """
    device = next(model.parameters()).device
    seen = position + 1 if window is None else np.minimum(position + 1, window)
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
    windows: Sequence[int] = WINDOWS,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """Cross entropy and k = 0 accuracy with each window against full context, the paired
    difference with its interval, and the effective context (None if no window reaches it;
    its interval from the first window each bootstrap replicate puts at or below 0).

    A prediction whose whole prefix fits in the window is the full prediction itself, so it
    is not rerun and its difference is exactly 0.
    """
    was_training = model.training
    model.eval()
    row, position = positions(split, np.asarray(rows))
    k0 = letters_typed(split.source[row])[np.arange(len(row)), position] == 0
    full_lp, full_hit = window_scores(model, split, row, position, None)
    universe = np.unique(row)
    weights = resample_weights(len(universe), seed=seed)
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
    effective, replicates = None, []
    for window in windows:
        lp, hit = full_lp.copy(), full_hit.copy()
        cut = position + 1 > window
        lp[cut], hit[cut] = window_scores(model, split, row[cut], position[cut], window)
        mean, reps = group_means(full_lp - lp, row, weights, universe)
        low, high = interval(reps)
        replicates.append(reps)
        if effective is None and low <= 0 <= high:
            effective = int(window)
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
    # Per replicate: the first window whose difference is not above 0 (NaN if none).
    reached = np.array(replicates).T <= 0
    first = np.where(reached.any(1), np.asarray(windows)[reached.argmax(1)], np.nan)
    summary = {
        "effective_context_chars": effective,
        "effective_context_chars_interval": list(interval(first.astype(float))),
        "ablation_observations": len(universe),
        "ablation_predictions": len(row),
    }
    return pd.DataFrame(records), summary
