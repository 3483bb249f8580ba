"""Connectivity judged against behaviour: does it single out the antecedent of a planted pair?

For each pair, at the referent's k = 0 and k = 1 predictions, connectivity summed over the
antecedent word (its leading space and letters) is compared with a control: the same span, at
the same distance, from a placebo's prediction in the same observation (a cued word of the same
shape with no antecedent), where one reaches that far back.
Connectivity falls with distance, so a control at another distance would favour whichever is
nearer; at equal distance, in a prediction of the same kind, a model that does not single out
the antecedent gives both the same in expectation. The AUC is the probability that the
antecedent gets more (ties count half): 0.5 without memory. The rank correlation with the
intervention effect asks whether connectivity tracks what the antecedent really does to the
prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from rnnmem.analysis.memory import BUCKET_EDGES, bucket_of
from rnnmem.analysis.stats import RESAMPLES, group_means, interval, resample_weights
from rnnmem.data.dataset import Split
from rnnmem.data.probe import PLACEBO, RECALL

PAIR_COLUMNS = ["antecedent_k0", "control_k0", "antecedent_k1", "control_k1", "share_k1"]
Matrix = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def placebo_control(item, placebos: pd.DataFrame) -> tuple[int, int] | None:
    """(observation, position) of the placebo whose predictions serve as the control for one
    recall item: one in the item's observation far enough in to hold the antecedent's span at
    the same distance, the nearest such to the referent. None if there is none.

    Only the same observation: a placebo of another one differs in content at that span, and
    on a random model that alone moves the AUC off 0.5 at long distances.
    """
    offset = int(item.position) - int(item.antecedent_start)
    mine = placebos["observation"] == item.observation
    eligible = placebos[mine & (placebos["position"] >= offset)]
    if not len(eligible):
        return None
    gap = np.abs(eligible["position"].to_numpy() - int(item.position))
    return int(item.observation), int(eligible["position"].iloc[np.argmin(gap)])


def connectivity_pairs(
    model: torch.nn.Module,
    split: Split,
    items: pd.DataFrame,
    matrix: Matrix,
    observations: int | None = None,
) -> pd.DataFrame:
    """Connectivity on the antecedent and on its control (see `placebo_control`), at k = 0 and
    k = 1, for the recall items of the first `observations` observations that hold any (all if
    None); matrices are computed only for observations with a control.

    `matrix(model, source, target)` is a [T, T] connectivity matrix of one row. Items with no
    control are left out. Columns: antecedent_k{0,1}, control_k{0,1} (summed entries) and
    share_k1 (antecedent entries over the row's total at k = 1), indexed like `items`.
    """
    rows = np.unique(items.loc[items["kind"] == RECALL, "observation"])[:observations]
    chosen = items[items["observation"].isin(rows)]
    recall, placebo = chosen[chosen["kind"] == RECALL], chosen[chosen["kind"] == PLACEBO]
    controls = {item.Index: placebo_control(item, placebo) for item in recall.itertuples()}
    needed = sorted({c[0] for c in controls.values() if c is not None})
    device = next(model.parameters()).device
    matrices = {}
    for row in tqdm(needed, desc="connectivity pairs", unit="observation", leave=False):
        n = int(split.length[row])
        m = matrix(
            model,
            torch.as_tensor(split.source[row, :n], device=device),
            torch.as_tensor(split.target[row, :n], device=device),
        )
        matrices[row] = m.detach().cpu().double().numpy()
    records, index = [], []
    for item in recall.itertuples():
        if controls[item.Index] is None:
            continue
        other, p = controls[item.Index]
        m, mc = matrices[item.observation], matrices[other]
        t = int(item.position)
        a = slice(int(item.antecedent_start), int(item.antecedent_end))
        c = slice(a.start - t + p, a.stop - t + p)
        total = m[t + 1, : t + 2].sum()
        records.append(
            {
                "antecedent_k0": m[t, a].sum(),
                "control_k0": mc[p, c].sum(),
                "antecedent_k1": m[t + 1, a].sum(),
                "control_k1": mc[p + 1, c].sum(),
                "share_k1": m[t + 1, a].sum() / total if total > 0 else 0.0,
            }
        )
        index.append(item.Index)
    return pd.DataFrame(records, index=index, columns=PAIR_COLUMNS, dtype=float)


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
    weights = resample_weights(len(universe), seed=seed) if len(universe) else np.zeros((0, 0))
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
        for _ in range(RESAMPLES // 10):
            picked = np.concatenate(
                [members[j] for j in rng.integers(len(members), size=len(members))]
            )
            reps.append(spearman(share[picked], effect[picked]))
        summary["connectivity_effect_spearman"] = spearman(share, effect)
        summary["connectivity_effect_spearman_interval"] = list(interval(np.array(reps)))
    return pd.DataFrame(rows), summary
