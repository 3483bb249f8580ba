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

The signed variant reads the gradient of the margin z_true - z_other times the input, summed
over the span: how much the span's characters, as given, push the true name above the other.
Its AUC is the probability that it is positive (ties half). Each pair contributes one
comparison per alternative name, each counted. The 0.5 holds over draws of names, and a fixed
model has quirks for each of a finite set of names, so the intervals resample names as well as
observations (`NameDraws`): on untrained GRUs with 64 names, observations alone gave intervals
that excluded 0.5 in 4 of 32 cases, the signed variant's most.

Gradients come from autograd, many per backward pass: every (prediction, word) an observation
needs is a copy of it in the batch, cut after its prediction, and one backward pass serves
them all.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from rnnmem.analysis.memory import BUCKET_EDGES, bucket_of
from rnnmem.analysis.stats import CHUNK, Resampling, interval
from rnnmem.data.dataset import UNKNOWN, Split
from rnnmem.data.probe import RECALL

ROWS = 128  # gradients per backward pass
_NAME_STREAM = 2  # the names' random stream, apart from the observations' and the swaps'
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


def wins(comparisons: pd.DataFrame, signed: bool) -> np.ndarray:
    """Per comparison: 1 where the true referent wins, 0.5 on a tie, 0 otherwise; unsigned,
    connectivity to the true logit above the other's; signed, the margin's attribution above 0."""
    if signed:
        value = comparisons["signed"].to_numpy(dtype=np.float64)
        return (value > 0) + 0.5 * (value == 0)
    true = comparisons["true"].to_numpy(dtype=np.float64)
    other = comparisons["other"].to_numpy(dtype=np.float64)
    return (true > other) + 0.5 * (true == other)


@dataclass(frozen=True)
class NameDraws:
    """The names' side of the AUC's bootstrap: in each replicate every name of the classes is
    drawn again, with replacement, independently of the observations (a pigeonhole bootstrap
    of observations crossed with names). For a fixed model a name's quirks are shared by
    every pair it appears in, as the true referent or as the alternative, so resampling
    observations alone would understate the uncertainty of a finite set of names."""

    names: np.ndarray  # sorted; column j of `weights` is names[j]
    weights: np.ndarray  # [resamples, len(names)] multiplicities

    @classmethod
    def over(cls, classes: Sequence[Sequence[str]], resamples: int, seed: int) -> NameDraws:
        names = np.array(sorted({name for names in classes for name in names}))
        rng = np.random.default_rng([seed, _NAME_STREAM])
        weights = rng.multinomial(len(names), np.full(len(names), 1 / len(names)), resamples)
        return cls(names, weights.astype(np.float64))

    def columns(self, words: np.ndarray) -> np.ndarray:
        column = np.searchsorted(self.names, words)
        if not (column < len(self.names)).all() or (self.names[column] != words).any():
            raise ValueError("a compared name lies outside the resampled classes")
        return column


def auc(
    items: pd.DataFrame,
    comparisons: pd.DataFrame,
    k: int,
    signed: bool,
    resampling: Resampling,
    names: NameDraws,
) -> tuple[float, np.ndarray]:
    """The AUC at k over every comparison (see `wins`), and its replicates: each comparison
    weighs as often as its observation, its true referent and its alternative are drawn."""
    chosen = comparisons[comparisons["k"] == k]
    value = wins(chosen, signed)
    at = items.loc[chosen["item"]]
    observation = resampling.columns(at["observation"].to_numpy())
    true = names.columns(at["word"].to_numpy(dtype=str))
    other = names.columns(chosen["name"].to_numpy(dtype=str))
    reps = np.empty(len(resampling.weights))
    for start in range(0, len(reps), CHUNK):
        rows = slice(start, start + CHUNK)
        weight = resampling.weights[rows][:, observation] * names.weights[rows][:, true]
        weight *= names.weights[rows][:, other]
        with np.errstate(invalid="ignore", divide="ignore"):
            reps[rows] = weight @ value / weight.sum(1)
    return float(value.mean()) if len(value) else float("nan"), reps


def attribution_summary(
    items: pd.DataFrame,
    comparisons: pd.DataFrame,
    truths: pd.DataFrame,
    resampling: Resampling,
    names: NameDraws,
    edges: Sequence[int] = BUCKET_EDGES,
) -> tuple[pd.DataFrame, dict]:
    """Unsigned and signed AUC at k = 0 and k = 1, by distance bucket and overall, with
    bootstrap intervals over observations, the pairs and comparisons behind each, and the share
    of tied comparisons. (A rank correlation of connectivity with the intervention effect is
    not reported: it has no neutral value, a model without memory scores above 0.)"""
    summary: dict = {
        "attribution_observations": len(np.unique(items.loc[truths["item"], "observation"]))
    }
    bucket = bucket_of(items.loc[comparisons["item"], "distance"].to_numpy(), edges)
    rows = [{"distance_low": edges[i], "distance": edges[i + 1]} for i in range(len(edges) - 1)]
    for k in (0, 1):
        mine = (comparisons["k"] == k).to_numpy()
        summary[f"attribution_pairs_k{k}"] = comparisons.loc[mine, "item"].nunique()
        summary[f"attribution_comparisons_k{k}"] = int(mine.sum())
        tied = wins(comparisons[mine], False) == 0.5
        summary[f"attribution_ties_k{k}"] = float(tied.mean()) if mine.any() else None
        for name, signed in (("connectivity_auc", False), ("signed_auc", True)):
            mean, reps = auc(items, comparisons, k, signed, resampling, names)
            summary[f"{name}_k{k}"] = mean
            summary[f"{name}_k{k}_interval"] = list(interval(reps))
            for i, row in enumerate(rows):
                chosen = comparisons[mine & (bucket == i)]
                row[f"pairs_k{k}"] = chosen["item"].nunique()
                mean, reps = auc(items, chosen, k, signed, resampling, names)
                row[f"{name}_k{k}"] = mean
                row[f"{name}_k{k}_low"], row[f"{name}_k{k}_high"] = interval(reps)
    return pd.DataFrame(rows), summary
