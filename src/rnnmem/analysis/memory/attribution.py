"""Connectivity judged against behaviour: does it single out the antecedent of a planted pair?

At a referent's k = 0 and k = 1 predictions, the connectivity of the antecedent span (its
leading space and letters; docs/design.md, Connectivity) to the logit of the true referent is
compared with the connectivity of the same span, in the same prediction, to the logit of
another name of the referent's class and length that does not occur in the observation (the
intervention's alternative names). Row, span, distance and text are the same; only the word
whose logit is read differs, and the true name is a uniform draw from its class, independent
of the model. So for a model that does not single out the antecedent both are exchangeable,
and the AUC (the probability that the true referent's connectivity is the higher, ties half)
is 0.5 however its connectivity looks otherwise. At k = 1 the typed first letter favours the
names that share it, so only alternatives sharing it count there; pairs without one are left
out, and counted.

This module computes the gradients (torch); `auc` turns them into AUCs with their intervals.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from rnnmem.data.dataset import UNKNOWN, Split
from rnnmem.data.probe import RECALL

ROWS = 128  # gradients per backward pass
COMPARISON_COLUMNS = ["item", "k", "name", "true", "other", "signed"]
TRUTH_COLUMNS = ["item", "k", "true", "share"]


def span_gradients(
    model: nn.Module,
    sources: np.ndarray,
    row: np.ndarray,
    position: np.ndarray,
    word: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    batch: int = ROWS,
) -> pd.DataFrame:
    """For each query i, the gradient of logit `word[i]` at `position[i]` of sequence
    `sources[row[i]]` with respect to the inputs in [start[i], end[i]).

    Columns: connectivity (squared L2 norms of the one-hot input gradients, E times the
    embedding gradient, summed over the span), signed (the embedding gradient dotted with
    the embedding, summed over the span: gradient x input) and total (connectivity summed
    over the whole row up to the prediction). The model runs in float64, so gradients far
    below float32's range are measured, not rounded to zero.
    """
    wide = _float64(model)
    device = next(wide.parameters()).device
    table = wide.embedding.weight.detach()
    order = np.argsort(position, kind="stable")
    out = {name: np.zeros(len(row)) for name in ("connectivity", "signed", "total")}
    with torch.enable_grad():
        for first in range(0, len(order), batch):
            chunk = order[first : first + batch]
            width = int(position[chunk].max()) + 1
            x = torch.as_tensor(sources[row[chunk], :width], device=device)
            embedded = wide.embedding(x).detach().requires_grad_(True)
            hidden = wide.hidden_states(embedded)
            t = torch.as_tensor(position[chunk], device=device)
            read = hidden[torch.arange(len(chunk), device=device), t]
            logit = (read * wide.dense.weight[torch.as_tensor(word[chunk], device=device)]).sum()
            (grad,) = torch.autograd.grad(logit, embedded)
            squares = (grad @ table.t()).square().sum(-1)
            signed = (grad * embedded.detach()).sum(-1)
            column = torch.arange(width, device=device)
            span = (column >= torch.as_tensor(start[chunk], device=device)[:, None]) & (
                column < torch.as_tensor(end[chunk], device=device)[:, None]
            )
            out["connectivity"][chunk] = (squares * span).sum(1).cpu().numpy()
            out["signed"][chunk] = (signed * span).sum(1).cpu().numpy()
            out["total"][chunk] = squares.sum(1).cpu().numpy()  # zero after the prediction
    return pd.DataFrame(out)


def _float64(model: nn.Module) -> nn.Module:
    """A float64 copy of `model` in training mode (cuDNN's recurrent layers only go backwards
    there; the models have no dropout, so the outputs are the same)."""
    return copy.deepcopy(model).double().train()


def attribution(
    model: nn.Module,
    split: Split,
    items: pd.DataFrame,
    names: Sequence[pd.Series],
    words: Sequence[str],
    observations: int,
    batch: int = ROWS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Connectivity of each pair's antecedent span to its referent's logit and to each
    alternative name's, at k = 0 and k = 1, for the recall items of the first `observations`
    observations that hold any.

    `names[k]` are the alternatives at k (from `intervention.alternatives`; at k = 1 those
    sharing the first letter); one outside the vocabulary `words` has no logit and is left
    out. Returns (comparisons, truths): comparisons has one row per (item, k, name) with
    columns true and other (the span's connectivity to each logit) and signed (gradient x
    input of the margin); truths one row per (item, k) with true and share (true over the
    row's total connectivity).
    """
    word_id = {word: i for i, word in enumerate(words) if i != UNKNOWN}
    recall = items[items["kind"] == RECALL]
    kept = np.unique(recall["observation"])[:observations]
    recall = recall[recall["observation"].isin(kept)]
    queries = []  # (item, k, name or None for the true word, word id)
    for item in recall.itertuples():
        for k in (0, 1):
            queries.append((item.Index, k, None, int(item.target)))
            drawn = names[k].get(item.Index, ())
            queries += [(item.Index, k, n, word_id[n]) for n in drawn if n in word_id]
    if not queries:
        return pd.DataFrame(columns=COMPARISON_COLUMNS), pd.DataFrame(columns=TRUTH_COLUMNS)
    asked = pd.DataFrame(queries, columns=["item", "k", "name", "word"])
    at = recall.loc[asked["item"]]
    grads = span_gradients(
        model,
        split.source,
        at["observation"].to_numpy(),
        at["position"].to_numpy() + asked["k"].to_numpy(),
        asked["word"].to_numpy(),
        at["antecedent_start"].to_numpy(),
        at["antecedent_end"].to_numpy(),
        batch,
    )
    asked = asked.join(grads)
    truth = asked[asked["name"].isna()].set_index(["item", "k"])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(truth["total"] > 0, truth["connectivity"] / truth["total"], 0.0)
    truths = pd.DataFrame(
        {"true": truth["connectivity"].to_numpy(), "share": share}, index=truth.index
    ).reset_index()
    others = asked[asked["name"].notna()]
    key = pd.MultiIndex.from_frame(others[["item", "k"]])
    comparisons = pd.DataFrame(
        {
            "item": others["item"].to_numpy(),
            "k": others["k"].to_numpy(),
            "name": others["name"].to_numpy(),
            "true": truth.loc[key, "connectivity"].to_numpy(),
            "other": others["connectivity"].to_numpy(),
            "signed": truth.loc[key, "signed"].to_numpy() - others["signed"].to_numpy(),
        }
    )
    return comparisons.reset_index(drop=True), truths
