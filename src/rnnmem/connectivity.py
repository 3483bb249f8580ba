"""Connectivity (DESIGN section 6): how much each prediction depends on each earlier character.

`connectivity_matrix` gives, for one sequence, entry [t, t'] = squared L2 norm of the gradient
of the target logit at step t with respect to the one-hot input at step t'. The aggregate
functions below turn many such matrices into the numbers the report compares across models:
a profile over distance, the share of connectivity spent on the word being typed, and whether
planted long-range dependencies of the probe corpus show up as connectivity peaks.

Only predictions of real words count in the aggregates: the `<unknown>` logit is never trained
(the loss skips it), so its gradient says nothing about what the model has learned.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from rnnmem.dataset import CHARS, UNKNOWN, Split, Vocab, letters_typed

FIRST_WORD_ID = UNKNOWN + 1  # ids below are <pad> and <unknown>
ROWS_PER_PASS = 50  # output rows per batched pass (see connectivity_matrix)


@contextmanager
def _input_gradients_only(model: nn.Module) -> Iterator[None]:
    """Inside: no parameter gradients, and PyTorch's fused recurrent kernels off. The oneDNN
    backward (CPU) always forms the weight gradients, the plain kernels skip what is not needed;
    the cuDNN backward (GPU) refuses to run on a model in eval mode."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    onednn, cudnn = torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled
    try:
        torch.backends.mkldnn.enabled = torch.backends.cudnn.enabled = False
        for parameter in trainable:
            parameter.requires_grad_(False)
        yield
    finally:
        torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled = onednn, cudnn
        for parameter in trainable:
            parameter.requires_grad_(True)


def connectivity_matrix(
    model: nn.Module, source: torch.Tensor, target: torch.Tensor, rows_per_pass: int = ROWS_PER_PASS
) -> torch.Tensor:
    """Connectivity [T, T] of one sequence: one forward and one backward pass per group of rows.

    The embedded sequence is replicated as a batch, one copy per output step b; copy b feeds
    only the target logit of step b into the loss, so a single backward pass yields the gradient
    of every output step in the group with respect to every input step. By causality the rows
    [a, b) need only the first b steps, so groups of `rows_per_pass` rows skip most of the work
    above the diagonal and bound the memory. Entries above the diagonal are exactly zero.
    The gradient through the one-hot input is E @ (gradient through the embedding).

    Speed: the target logit is the hidden state dotted with its row of the output layer (the
    full output layer is never computed) and only input gradients are formed.
    """
    model.eval()
    weight = model.embedding.weight.detach()
    source = source.to(weight.device)
    target = target.to(weight.device)
    readout = model.dense.weight.detach()[target]  # [T, units]: d logit_t[y_t] / d hidden_t
    steps = source.numel()
    matrix = torch.zeros(steps, steps, device=weight.device, dtype=weight.dtype)
    with torch.enable_grad(), _input_gradients_only(model):
        embedded = model.embedding(source)
        for first in range(0, steps, rows_per_pass):
            stop = min(first + rows_per_pass, steps)
            copies = embedded[:stop].expand(stop - first, stop, -1).clone().requires_grad_(True)
            rows = torch.arange(stop - first, device=weight.device)
            hidden = model.hidden_states(copies)[rows, first + rows]
            (grad,) = torch.autograd.grad((hidden * readout[first:stop]).sum(), copies)
            matrix[first:stop, :stop] = ((grad @ weight.T) ** 2).sum(-1)
    return matrix


def connectivity_matrix_loop(
    model: nn.Module, source: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """The same matrix the slow, obvious way: one backward pass per output step, through an
    explicit one-hot input. The reference that tests and the benchmark check against."""
    model.eval()
    weight = model.embedding.weight.detach()
    source = source.to(weight.device)
    with torch.enable_grad():
        onehot = nn.functional.one_hot(source, weight.shape[0]).to(weight.dtype)
        onehot.requires_grad_(True)
        logits = model.forward_embedded((onehot @ weight)[None])[0]
        rows = []
        for t in range(len(source)):
            (grad,) = torch.autograd.grad(logits[t, target[t]], onehot, retain_graph=True)
            rows.append((grad**2).sum(-1))
    return torch.stack(rows)


def _real_rows(matrix: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Indices of the rows that count: a real target word and some connectivity at all."""
    return np.flatnonzero((target >= FIRST_WORD_ID) & (matrix.sum(axis=1) > 0))


def distance_profile(matrices: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> pd.DataFrame:
    """Connectivity by distance d = t - t' over all counted rows of all matrices.

    mean_connectivity(d) is the mean raw entry M[t, t - d]; share(d) is the mean of the same
    entry divided by its row's total (so each prediction weighs the same and models whose
    gradients differ in scale stay comparable). mean_log_share(d) is the mean of the log of
    that share: entries span dozens of orders of magnitude, so this is the typical value where
    the plain mean follows the rare largest ones. All average over the rows t >= d.
    """
    size = max((len(m) for m in matrices), default=0)
    raw = np.zeros(size)
    logs = np.zeros(size)
    share = np.zeros(size)
    count = np.zeros(size)
    for matrix, target in zip(matrices, targets, strict=True):
        for t in _real_rows(matrix, target):
            row = matrix[t, t::-1].astype(np.float64)
            raw[: t + 1] += row
            logs[: t + 1] += _log(row / row.sum())
            share[: t + 1] += row / row.sum()
            count[: t + 1] += 1
    seen = count > 0
    return pd.DataFrame(
        {
            "distance": np.flatnonzero(seen),
            "mean_connectivity": raw[seen] / count[seen],
            "mean_log_share": logs[seen] / count[seen],
            "share": share[seen] / count[seen],
        }
    )


def _log(values: np.ndarray) -> np.ndarray:
    """Natural log with exact zeros (gradients that underflowed) floored at 1e-300."""
    return np.log(np.maximum(values, 1e-300))


def word_shares(
    matrices: Sequence[np.ndarray], sources: Sequence[np.ndarray], targets: Sequence[np.ndarray]
) -> tuple[float, float]:
    """Mean share of a row's connectivity on the current word, and on earlier words.

    The current word spans from its leading space up to t. Rows in a sequence's first word are
    left out (they have no earlier words to draw on). NaN when no row counts.
    """
    shares = []
    for matrix, source, target in zip(matrices, sources, targets, strict=True):
        starts = np.arange(len(source)) - letters_typed(source)
        for t in _real_rows(matrix, target):
            if starts[t] > 0:
                shares.append(matrix[t, starts[t] : t + 1].sum() / matrix[t, : t + 1].sum())
    current = float(np.mean(shares)) if shares else float("nan")
    return current, 1.0 - current


def decode(source: np.ndarray) -> str:
    """The text of a sequence of character ids (no padding)."""
    return "".join(CHARS[i] for i in source)


def observation_offsets(sources: Sequence[np.ndarray], corpus: str) -> list[int | None]:
    """Corpus offset of each observation's leading space, found by searching its text.

    Observations are stored shuffled without offsets, but they are long runs of whole words,
    so their text occurs once in the corpus. The first word of a corpus that does not start
    with a space has a virtual leading space at offset -1. None when the text is not found
    exactly once.
    """
    shift = 0 if corpus.startswith(" ") else 1
    padded = " " * shift + corpus
    offsets: list[int | None] = []
    for source in sources:
        text = decode(source)
        found = padded.find(text)
        unique = found >= 0 and padded.find(text, found + 1) < 0
        offsets.append(found - shift if unique else None)
    return offsets


@dataclass(frozen=True)
class DependencyTest:
    """One planted dependency found inside one observation, judged at one output row."""

    observation: int
    row: int
    hit: bool
    chance: float
    lift: float  # antecedent connectivity over the typical connectivity at the same distances


def dependency_hits(
    matrices: Sequence[np.ndarray],
    sources: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    offsets: Sequence[int | None],
    dependencies: pd.DataFrame,
    log_share_by_distance: np.ndarray,
) -> list[DependencyTest]:
    """Does connectivity peak on the antecedent when the model starts typing the referent?

    Row t is the referent's first letter (the article's highlighted moments: a word predicted
    from its first letter). A word's span is its leading space and its letters. The dependency
    is a hit when the largest entry of row t on the antecedent's span exceeds the largest entry
    on every other earlier position outside the current word (the referent's space and first
    letter). `chance` is the hit probability if entries were exchangeable: antecedent span size
    over the number of compared positions. Only dependencies with both words inside one
    observation, and a real target word at row t, are tested.

    The peak test is strict: connectivity falls steeply with distance, so a nearby word usually
    wins. `lift` controls for distance and for each row's scale: the geometric mean of row t's
    shares (entry / row total) on the antecedent's span, divided by the model's typical share
    at the same distances, exp(mean of `log_share_by_distance[t - t']`, see
    `distance_profile`). Lift > 1: the model draws more on the antecedent than on a typical
    character equally far back; about 1 if it does not single the antecedent out.
    """
    tests = []
    for index, (matrix, source, target, offset) in enumerate(
        zip(matrices, sources, targets, offsets, strict=True)
    ):
        if offset is None:
            continue
        length = len(source)
        start = dependencies["antecedent_offset"].to_numpy() - offset - 1
        end = start + dependencies["antecedent_word"].str.len().to_numpy() + 1
        referent = dependencies["referent_offset"].to_numpy() - offset
        inside = (start >= 0) & (end < referent) & (referent < length)
        for first, last, t in zip(start[inside], end[inside], referent[inside], strict=True):
            if target[t] < FIRST_WORD_ID or matrix[t].sum() <= 0:
                continue
            span = np.zeros(t + 1, dtype=bool)
            span[first:last] = True
            others = ~span
            others[t - 1 :] = False
            if not others.any():
                continue
            row = matrix[t, : t + 1]
            hit = bool(row[span].max() > row[others].max())
            chance = span.sum() / (span.sum() + others.sum())
            typical = log_share_by_distance[t - np.arange(first, last)].mean()
            shares = row[span].astype(np.float64) / row.sum()
            lift = math.exp(_log(shares).mean() - typical)
            tests.append(DependencyTest(index, int(t), hit, chance, lift))
    return tests


def _rounded(values: np.ndarray) -> list:
    """Nested lists of floats with 6 significant digits: plenty for a heat map, small JSON."""
    return np.vectorize(lambda v: float(f"{v:.6g}"), otypes=[float])(values).tolist()


def sentence_view(
    model: nn.Module, vocab: Vocab, source: np.ndarray, target: np.ndarray, top_k: int
) -> dict:
    """One sentence for the report: its characters, targets, connectivity and top-k guesses."""
    device = model.embedding.weight.device
    ids = torch.as_tensor(source, device=device)
    matrix = connectivity_matrix(model, ids, torch.as_tensor(target, device=device))
    with torch.no_grad():
        probs, words = model(ids[None])[0].softmax(-1).topk(top_k, dim=-1)
    top = [
        [[vocab.words[w], p] for w, p in zip(row_words, row_probs, strict=True)]
        for row_words, row_probs in zip(words.tolist(), _rounded(probs.cpu().numpy()), strict=True)
    ]
    return {
        "text": decode(source).strip(),
        "chars": [vocab.chars[c] for c in source],
        "targets": [vocab.words[t] for t in target],
        "matrix": _rounded(matrix.cpu().numpy()),
        "top": top,
    }


def observation_matrices(model: nn.Module, split: Split, count: int) -> list[np.ndarray]:
    """Connectivity of the first `count` observations of a split (already shuffled)."""
    device = model.embedding.weight.device
    matrices = []
    for i in tqdm(range(min(count, len(split))), desc="connectivity", unit="observation"):
        n = split.length[i]
        source = torch.as_tensor(split.source[i, :n], device=device)
        target = torch.as_tensor(split.target[i, :n], device=device)
        matrices.append(connectivity_matrix(model, source, target).cpu().numpy())
    return matrices


def _json_number(value: float) -> float | None:
    return value if np.isfinite(value) else None


def summarize(
    matrices: Sequence[np.ndarray],
    sources: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    offsets: Sequence[int | None],
    dependencies: pd.DataFrame,
) -> tuple[pd.DataFrame, dict]:
    """The distance profile and the metrics of CONTRACTS (None where nothing could be measured)."""
    current, earlier = word_shares(matrices, sources, targets)
    profile = distance_profile(matrices, targets)
    log_share = np.zeros(max((len(m) for m in matrices), default=0))
    log_share[profile["distance"]] = profile["mean_log_share"]
    tests = dependency_hits(matrices, sources, targets, offsets, dependencies, log_share)
    lifts = np.array([t.lift for t in tests])
    metrics = {
        "current_word_share": _json_number(current),
        "earlier_words_share": _json_number(earlier),
        "dependency_hit_rate": float(np.mean([t.hit for t in tests])) if tests else None,
        "dependency_chance_rate": float(np.mean([t.chance for t in tests])) if tests else None,
        "dependency_lift": float(np.exp(np.log(lifts).mean())) if tests else None,
        "dependencies_tested": len(tests),
    }
    return profile, metrics
