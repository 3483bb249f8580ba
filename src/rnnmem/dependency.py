"""Connectivity judged against behaviour: does it single out the antecedent of a planted pair?

For each pair, at the referent's k = 0 and k = 1 predictions, connectivity summed over the
antecedent word (its leading space and letters) is compared with the same sum over a matched
control word in the same row: same length, not an antecedent, not the referent's word, as
near the antecedent as possible. The AUC is the probability that the antecedent gets more
(ties count half), so a model without memory (both sums equal, or exchangeable) scores 0.5
whatever its distance profile. The rank correlation with the intervention effect asks whether
connectivity tracks what the antecedent really does to the prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from rnnmem.dataset import SPACE, Split
from rnnmem.memory import (
    BOOTSTRAP,
    BUCKET_EDGES,
    bucket_of,
    group_means,
    interval,
    resample_weights,
)
from rnnmem.probe import RECALL

Matrix = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def word_spans(source: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of every word of a row: its leading space up to the next space."""
    starts = np.flatnonzero(source == SPACE)
    ends = np.append(starts[1:], len(source))
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def matched_control(
    source: np.ndarray, item: pd.Series, antecedents: Sequence[tuple[int, int]]
) -> tuple[int, int] | None:
    """The control span for one recall item: a word before the referent with as many letters as
    the antecedent, no antecedent of the row and not the same word, nearest the antecedent."""
    start, end = int(item.antecedent_start), int(item.antecedent_end)
    word = source[start:end]
    best, best_gap = None, None
    for s, e in word_spans(source[: int(item.position)]):
        if e - s != end - start or (s, e) in antecedents or np.array_equal(source[s:e], word):
            continue
        gap = abs(s - start)
        if best_gap is None or gap < best_gap:
            best, best_gap = (s, e), gap
    return best


def connectivity_pairs(
    model: torch.nn.Module,
    split: Split,
    items: pd.DataFrame,
    matrix: Matrix,
    observations: int | None = None,
) -> pd.DataFrame:
    """Connectivity on the antecedent and on its matched control, at k = 0 and k = 1, for the
    recall items of the first `observations` observations that hold any (all if None).

    `matrix(model, source, target)` is a [T, T] connectivity matrix of one row. Items with no
    control word are left out. Columns: antecedent_k{0,1}, control_k{0,1} (summed entries) and
    share_k1 (antecedent entries over the row's total at k = 1), indexed like `items`.
    """
    recall = items[items["kind"] == RECALL]
    rows = np.unique(recall["observation"].to_numpy())[:observations]
    device = next(model.parameters()).device
    records, index = [], []
    for row in tqdm(rows, desc="connectivity pairs", unit="observation", leave=False):
        n = int(split.length[row])
        source = split.source[row, :n]
        chosen = recall[recall["observation"] == row]
        antecedents = list(zip(chosen["antecedent_start"], chosen["antecedent_end"], strict=True))
        controls = [matched_control(source, item, antecedents) for item in chosen.itertuples()]
        if all(c is None for c in controls):
            continue
        m = matrix(
            model,
            torch.as_tensor(source, device=device),
            torch.as_tensor(split.target[row, :n], device=device),
        )
        m = m.detach().cpu().double().numpy()
        for item, control in zip(chosen.itertuples(), controls, strict=True):
            if control is None:
                continue
            t = int(item.position)
            a = slice(int(item.antecedent_start), int(item.antecedent_end))
            c = slice(*control)
            total = m[t + 1, : t + 2].sum()
            records.append(
                {
                    "antecedent_k0": m[t, a].sum(),
                    "control_k0": m[t, c].sum(),
                    "antecedent_k1": m[t + 1, a].sum(),
                    "control_k1": m[t + 1, c].sum(),
                    "share_k1": m[t + 1, a].sum() / total if total > 0 else 0.0,
                }
            )
            index.append(item.Index)
    return pd.DataFrame(records, index=index, dtype=float)


def _wins(antecedent: np.ndarray, control: np.ndarray) -> np.ndarray:
    return (antecedent > control) + 0.5 * (antecedent == control)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation (ties share their mean rank); NaN below 3 values or with no spread."""
    if len(x) < 3:
        return float("nan")
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def connectivity_summary(
    items: pd.DataFrame,
    pairs: pd.DataFrame,
    effects: pd.DataFrame | None = None,
    edges: Sequence[int] = BUCKET_EDGES,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """AUC by distance bucket and overall at k = 0 and k = 1 with bootstrap intervals over
    observations, and the rank correlation of the antecedent's share of connectivity (k = 1)
    with the intervention effect (k = 1)."""
    data = items.loc[pairs.index].join(pairs)
    observation = data["observation"].to_numpy()
    universe = np.unique(observation)
    weights = resample_weights(universe, seed=seed) if len(universe) else np.zeros((0, 0))
    wins = {k: _wins(data[f"antecedent_k{k}"], data[f"control_k{k}"]).to_numpy() for k in (0, 1)}
    bucket = bucket_of(data["distance"].to_numpy(), edges)
    summary: dict = {"connectivity_pairs": len(data), "connectivity_observations": len(universe)}
    rows = []
    for i in range(len(edges) - 1):
        chosen = bucket == i
        row = {"distance_low": edges[i], "distance": edges[i + 1], "pairs": int(chosen.sum())}
        for k in (0, 1):
            mean, reps = group_means(wins[k][chosen], observation[chosen], weights, universe)
            row[f"auc_k{k}"] = mean
            row[f"auc_k{k}_low"], row[f"auc_k{k}_high"] = interval(reps)
        rows.append(row)
    for k in (0, 1):
        mean, reps = group_means(wins[k], observation, weights, universe)
        summary[f"connectivity_auc_k{k}"] = mean
        summary[f"connectivity_auc_k{k}_interval"] = list(interval(reps))
    if effects is not None and len(data):
        effect = effects.loc[data.index, "effect_k1"].to_numpy(dtype=float)
        share = data["share_k1"].to_numpy()
        rng = np.random.default_rng(seed)
        members = [np.flatnonzero(observation == o) for o in universe]
        reps = []
        for _ in range(BOOTSTRAP // 5):
            picked = np.concatenate(
                [members[j] for j in rng.integers(len(members), size=len(members))]
            )
            reps.append(spearman(share[picked], effect[picked]))
        summary["connectivity_effect_spearman"] = spearman(share, effect)
        summary["connectivity_effect_spearman_interval"] = list(interval(np.array(reps)))
    return pd.DataFrame(rows), summary
