"""Running a trained model over a split: the predictions every test metric is computed from
(`rnnmem.analysis.metrics`), kept apart so that the metrics and the summaries over seeds load
neither torch nor the models."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rnnmem.analysis.metrics import TOP, Predictions
from rnnmem.data.dataset import PAD, Split
from rnnmem.models.objective import best_words
from rnnmem.progress import progress


@torch.no_grad()
def predict(
    model: nn.Module,
    split: Split,
    batch_size: int,
    device: torch.device,
    top: int = TOP,
    desc: str = "predict",
) -> Predictions:
    """Run `model` over `split` in row order, each batch cut to its longest row."""
    was_training = model.training
    model.eval()
    parts: list[tuple[np.ndarray, ...]] = []
    for start in progress(range(0, len(split), batch_size), desc=desc, unit="batch", leave=False):
        rows = slice(start, start + batch_size)
        width = int(split.length[rows].max())
        source = torch.from_numpy(split.source[rows, :width]).to(device)
        target = torch.from_numpy(split.target[rows, :width]).to(device)
        log_probs = torch.log_softmax(model(source).float(), dim=-1)
        best_log_probs, best = best_words(log_probs, top)
        at_target = log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        keep = source != PAD
        observation, position = torch.nonzero(keep, as_tuple=True)
        parts.append(
            tuple(
                t.cpu().numpy()
                for t in (
                    observation + start,
                    position,
                    target[keep],
                    best[keep],
                    best_log_probs[keep].exp(),
                    at_target[keep],
                )
            )
        )
    model.train(was_training)
    columns = [np.concatenate(column) for column in zip(*parts, strict=True)]
    return Predictions(*columns)
