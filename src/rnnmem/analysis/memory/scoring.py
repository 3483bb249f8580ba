"""What a model makes of an item: the log-probability and top-1 hit of its word at k = 0 and k = 1,
run only as far as the items need.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from rnnmem.analysis.memory.planted import SCORE_COLUMNS
from rnnmem.data.dataset import Split
from rnnmem.models.objective import best_words


@torch.no_grad()
def predictions_at(
    model: nn.Module,
    sources: np.ndarray,
    row: np.ndarray,
    position: np.ndarray,
    target: np.ndarray,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Log-probability and top-1 hit (the model's best real word) of `target[i]` at
    `position[i]` (k = 0) and at the next character (k = 1) of sequence `sources[row[i]]`.

    `sources` [M, W] are character ids, PAD after each sequence's end; a sequence is run only
    as far as its queries need, and the output layer only where they read. Returns columns
    logp_k0, top1_k0, logp_k1, top1_k1, one row per query.
    """
    device = next(model.parameters()).device
    stop = np.zeros(len(sources), dtype=np.int64)
    np.maximum.at(stop, row, position + 2)
    order = np.argsort(stop, kind="stable")
    order = order[stop[order] > 0]  # similar lengths together: less padding
    batch_of = np.full(len(sources), -1)
    batch_of[order] = np.arange(len(order)) // batch_size
    slot = np.zeros(len(sources), dtype=np.int64)
    slot[order] = np.arange(len(order)) % batch_size
    queries = np.argsort(batch_of[row], kind="stable")
    bounds = np.searchsorted(batch_of[row][queries], np.arange(batch_of.max() + 2))
    out = {name: np.zeros(len(row)) for name in SCORE_COLUMNS}
    target = torch.as_tensor(np.array(target, dtype=np.int64), device=device)
    was_training = model.training
    model.eval()
    for batch in range(int(batch_of.max()) + 1):
        chunk = order[batch * batch_size : (batch + 1) * batch_size]
        width = int(stop[chunk].max())
        x = torch.as_tensor(sources[chunk, :width], device=device)
        hidden = model.hidden_states(model.embedding(x))
        mine = queries[bounds[batch] : bounds[batch + 1]]
        b = torch.as_tensor(slot[row[mine]], device=device)
        for k in (0, 1):
            t = torch.as_tensor(position[mine] + k, device=device)
            log_probs = torch.log_softmax(model.dense(hidden[b, t]).float(), dim=-1)
            wanted = target[mine]
            out[f"logp_k{k}"][mine] = log_probs.gather(1, wanted[:, None])[:, 0].cpu().numpy()
            best = best_words(log_probs, 1)[1][:, 0]
            out[f"top1_k{k}"][mine] = (best == wanted).cpu().numpy()
    model.train(was_training)
    return pd.DataFrame(out)


def referent_scores(
    model: nn.Module, split: Split, items: pd.DataFrame, batch_size: int = 64
) -> pd.DataFrame:
    """Log-probability and top-1 hit of each item's word at k = 0 and k = 1 (columns logp_k0,
    top1_k0, logp_k1, top1_k1), aligned with `items`."""
    scores = predictions_at(
        model,
        split.source,
        items["observation"].to_numpy(),
        items["position"].to_numpy(),
        items["target"].to_numpy(),
        batch_size,
    )
    return scores.set_axis(items.index)
