"""Memory measures proved on models whose memory is known.

`CopyModel` is hand-built: at every position it gives a fixed logit to each name whose
" name " pattern lies in the last `memory` characters, and nothing else. So it recalls a
referent exactly when the distance is at most `memory`, and with memory 0 it is a model whose
recurrence is cut. Its logits are a smooth function of the one-hot input, so connectivity (the
generic autograd version) applies to it too. The corpus has one pair per observation at a
known distance, cut exactly where the dataset build cuts it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from pipeline_repo import stage_argv
from torch import nn

from rnnmem import params
from rnnmem.analysis import ablation, dependency, memory
from rnnmem.analysis.connectivity import connectivity_matrix, connectivity_matrix_loop
from rnnmem.data import dataset, probe
from rnnmem.data.dataset import CHARS
from rnnmem.models import checkpoint
from rnnmem.models.language_model import build_model
from rnnmem.params import DatasetParams

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("alric", "belen", "corla", "danto", "elmar", "finra", "garin", "halen", "ismor")
FILLER = "qvxz"  # letters no name uses, so filler never looks like a name
LENGTH = 200
OBSERVATIONS = 240


def _filler(n: int, rng: np.random.Generator) -> str:
    """Exactly n characters of filler words (n = 0 or n >= 2), most words five letters long."""
    out = ""
    while n:
        size = n if n <= 7 else 6
        out += " " + "".join(rng.choice(list(FILLER), size=size - 1))
        n -= size
    return out


def recall_corpus(seed: int = 0) -> tuple[str, pd.DataFrame]:
    """Observations of exactly LENGTH characters, each with "said N ... said N" at a random
    distance in 13..177 and a last "said M" of another name: the two first mentions are
    placebos."""
    rng = np.random.default_rng(seed)
    text, rows = "", []
    for index in range(OBSERVATIONS):
        name, other = (str(n) for n in rng.choice(NAMES, size=2, replace=False))
        mention, last = " said " + name, " said " + other
        before = after = gap = 1
        while 1 in (before, after, gap):  # a lone space is no word
            distance = int(rng.integers(13, 178))
            gap = distance - len(mention)
            room = LENGTH - len(last) - 2 * len(mention) - gap
            before = int(rng.integers(0, room + 1))
            after = room - before
        start = len(text) + before + len(" said ")
        piece = _filler(before, rng) + mention + _filler(gap, rng) + mention + _filler(after, rng)
        text += piece + last
        rows.append((index, probe.PLACEBO, -1, start, "", name))
        rows.append((index, probe.RECALL, start, start + distance, name, name))
        rows.append((index, probe.PLACEBO, -1, len(text) - len(other), "", other))
    assert len(text) == OBSERVATIONS * LENGTH
    deps = pd.DataFrame(rows, columns=list(probe.DEPENDENCY_COLUMNS))
    return text, deps


class CopyModel(nn.Module):
    """Recalls every name seen in the last `memory` characters (see the module docstring)."""

    def __init__(self, words: list[str], memory: int, strength: float = 12.0) -> None:
        super().__init__()
        self.memory = memory
        self.embedding = nn.Embedding(len(CHARS), len(CHARS))
        nn.init.eye_(self.embedding.weight)
        patterns = [" " + name + " " for name in NAMES]
        kernels = torch.zeros(len(NAMES), len(CHARS), max(map(len, patterns)))
        for n, pattern in enumerate(patterns):
            for j, char in enumerate(pattern):
                kernels[n, CHARS.index(char), j] = 1
        self.register_buffer("kernels", kernels)
        self.register_buffer("sizes", torch.tensor([float(len(p)) for p in patterns]))
        self.dense = nn.Linear(len(NAMES), len(words))  # reads out each name's presence
        nn.init.zeros_(self.dense.bias)
        readout = torch.zeros(len(words), len(NAMES))
        readout[[words.index(name) for name in NAMES], range(len(NAMES))] = strength
        self.dense.weight.data.copy_(readout)

    def hidden_states(self, embedded: torch.Tensor) -> torch.Tensor:
        """[B, T, names]: how many times each name lies in reach."""
        steps = embedded.shape[1]
        x = F.pad(embedded.transpose(1, 2), (0, self.kernels.shape[-1] - 1))
        # 1 where the pattern matches, exactly 0 one letter off; smooth at a match
        match = F.relu(torch.exp(4.0 * (F.conv1d(x, self.kernels) - self.sizes[:, None])) - 0.01)
        t = torch.arange(steps)[:, None]
        s = torch.arange(steps)[None, :]
        ended = s[None] + self.sizes[:, None, None] - 1 < t[None]  # the trailing space is past
        near = t - (s + 1) <= self.memory  # the name's first letter is in reach
        reach = (ended & near[None]).to(embedded.dtype)  # [N, t, s]
        return torch.einsum("bns,nts->btn", match, reach)

    def forward_embedded(self, embedded: torch.Tensor) -> torch.Tensor:
        return self.dense(self.hidden_states(embedded))

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embedding(source))


class ResetEvery(nn.Module):
    """A real GRU language model whose state is reset every `every` characters."""

    def __init__(self, inner: nn.Module, every: int) -> None:
        super().__init__()
        self.inner, self.every = inner, every
        self.embedding, self.dense = inner.embedding, inner.dense

    def hidden_states(self, embedded: torch.Tensor) -> torch.Tensor:
        blocks = embedded.split(self.every, dim=1)
        return torch.cat([self.inner.hidden_states(b) for b in blocks], dim=1)

    def forward_embedded(self, embedded: torch.Tensor) -> torch.Tensor:
        return self.dense(self.hidden_states(embedded))

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embedding(source))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    text, deps = recall_corpus()
    directory = tmp_path_factory.mktemp("recall")
    params = DatasetParams(
        vocab_size=20, max_length=LENGTH, valid_fraction=0.1, test_fraction=0.8, seed=0
    )
    dataset.write(dataset.build(text.encode("ascii"), params), directory)
    split = dataset.load_split(directory, "test")
    words = dataset.load_vocab(directory).words
    return split, words, deps, memory.planted_items(split, deps)


def test_planted_items_are_found_by_offset_where_the_words_are(built):
    split, words, deps, items = built
    assert set(items["kind"]) == {probe.RECALL, probe.PLACEBO}
    assert (items["kind"] == probe.RECALL).sum() == split.length.size  # one pair per row
    assert (items["kind"] == probe.PLACEBO).sum() == 2 * split.length.size
    for item in items.itertuples():
        row = split.source[item.observation]
        word = "".join(CHARS[c] for c in row[item.position : item.position + 6])
        assert word == " " + item.word and words[item.target] == item.word
        if item.kind == probe.RECALL:
            span = "".join(CHARS[c] for c in row[item.antecedent_start : item.antecedent_end])
            assert span == " " + item.word
            assert item.position + 1 - (item.antecedent_start + 1) == item.distance


@pytest.mark.parametrize(("reach", "span"), [(130, 130), (70, 70), (0, 0)])
def test_memory_span_is_the_reach_of_a_copy_model(built, reach, span):
    split, words, _, items = built
    model = CopyModel(words, reach)
    scores = memory.referent_scores(model, split, items)
    curve, summary = memory.memory_curve(items, scores)
    assert summary["memory_span_chars"] == span
    assert summary["placebo_top1_k1"] == 0  # nothing to copy: the placebo is never named
    recalled = curve[curve["distance"] <= span]
    assert (recalled["top1_k1"] == 1).all()
    assert (curve.loc[curve["distance_low"] >= span, "top1_k1"] == 0).all()
    low, high = summary["memory_span_chars_interval"]
    assert low <= span <= high


def test_intervention_removes_recall_only_within_reach(built):
    split, words, _, items = built
    model = CopyModel(words, 100)
    effects = memory.intervention_effects(model, split, items, [NAMES], CHARS)
    recall = items[items["kind"] == probe.RECALL]
    near = recall["distance"] <= 100
    assert (effects.loc[near[near].index, "effect_k1"] > 5).all()
    assert (effects.loc[near[~near].index, "effect_k1"].abs() < 1e-6).all()
    curve, summary = memory.memory_curve(
        items, memory.referent_scores(model, split, items), effects
    )
    assert summary["intervention_effect_k1"] > 1
    assert (curve.loc[curve["distance_low"] >= 100, "effect_k1"].abs() < 1e-6).all()


def test_swapped_antecedent_is_another_name_of_its_length_not_in_the_row(built):
    split, _, _, items = built
    recall = items[items["kind"] == probe.RECALL]
    swapped = memory.swap_antecedents(split, recall, [NAMES], CHARS, seed=1)
    changed = (swapped != split.source).any(1)
    assert changed.all()
    for item in recall.itertuples():
        new = "".join(CHARS[c] for c in swapped[item.observation, item.antecedent_start + 1 :])
        new = new.split()[0]
        assert new in NAMES and new != item.word
        row = "".join(CHARS[c] for c in split.source[item.observation])
        assert new not in row.split()


def test_connectivity_auc_is_near_one_for_a_copy_model_and_half_without_memory(built):
    split, words, _, items = built
    effects = memory.intervention_effects(CopyModel(words, 190), split, items, [NAMES], CHARS)
    for reach in (190, 0):
        model = CopyModel(words, reach)
        pairs = dependency.connectivity_pairs(
            model, split, items, connectivity_matrix_loop, observations=12
        )
        assert len(pairs) == 12
        _, summary = dependency.connectivity_summary(items, pairs, effects)
        low, high = summary["connectivity_auc_k1_interval"]
        if reach:
            assert summary["connectivity_auc_k1"] > 0.9 and low > 0.75
        else:
            assert summary["connectivity_auc_k1"] == 0.5 and low == high == 0.5


def test_connectivity_auc_of_a_gru_reset_every_five_characters_is_one_half(built):
    split, words, _, items = built
    torch.manual_seed(0)
    model = ResetEvery(build_model("gru", len(CHARS), len(words), 4, 1), every=5)
    pairs = dependency.connectivity_pairs(
        model, split, items, connectivity_matrix_loop, observations=2
    )
    assert len(pairs) == 2
    assert (pairs["antecedent_k1"] == 0).all() and (pairs["control_k1"] == 0).all()
    _, summary = dependency.connectivity_summary(items, pairs)
    assert summary["connectivity_auc_k1"] == 0.5


def test_pairs_without_a_placebo_control_give_no_auc_and_no_error(built):
    split, words, _, items = built
    recall = items[items["kind"] == probe.RECALL]
    pairs = dependency.connectivity_pairs(CopyModel(words, 190), split, recall, lambda *a: None)
    assert pairs.empty and list(pairs.columns) == dependency.PAIR_COLUMNS
    _, summary = dependency.connectivity_summary(recall, pairs)
    assert summary["connectivity_pairs"] == 0 and np.isnan(summary["connectivity_auc_k1"])


def test_fast_connectivity_matrix_gives_the_same_auc_pairs_as_the_loop(built):
    split, words, _, items = built
    torch.manual_seed(1)
    model = build_model("gru", len(CHARS), len(words), 4, 1)
    fast = dependency.connectivity_pairs(model, split, items, connectivity_matrix, 1)
    slow = dependency.connectivity_pairs(model, split, items, connectivity_matrix_loop, 1)
    pd.testing.assert_frame_equal(fast, slow, rtol=1e-4)


def test_control_is_a_placebo_prediction_that_reaches_as_far_back(built):
    split, _, _, items = built
    recall, placebo = items[items["kind"] == probe.RECALL], items[items["kind"] == probe.PLACEBO]
    for item in recall.head(40).itertuples():  # each row ends with a placebo reaching back
        observation, position = dependency.placebo_control(item, placebo)
        assert observation == item.observation
        assert ((placebo["observation"] == observation) & (placebo["position"] == position)).any()
        assert position - (item.position - item.antecedent_start) >= 0
    far = recall.iloc[0]
    assert dependency.placebo_control(far, placebo.iloc[:0]) is None


@pytest.mark.parametrize(("reach", "expected"), [(40, 50), (0, 5)])
def test_effective_context_is_the_first_window_past_the_reach(built, reach, expected):
    split, words, _, _ = built
    model = CopyModel(words, reach)
    curve, summary = ablation.context_ablation(model, split, np.arange(60))
    assert summary["effective_context_chars"] == expected
    assert summary["ablation_observations"] == 60
    windows = curve.set_index("window")
    assert (windows.loc[windows.index >= expected, "difference"] == 0).all()
    if reach:  # a window short of the reach changes predictions
        assert windows.loc[20, "difference"] != 0


def test_window_scores_equal_a_fresh_run_on_the_window_alone(built):
    split, words, _, _ = built
    torch.manual_seed(2)
    model = build_model("gru", len(CHARS), len(words), 8, 1).eval()
    row, position = np.array([0, 1, 1]), np.array([150, 30, 7])
    log_prob, _ = ablation.window_scores(model, split, row, position, 20)
    for r, t, value in zip(row, position, log_prob, strict=True):
        x = torch.as_tensor(split.source[r, max(0, t - 19) : t + 1])[None]
        with torch.no_grad():
            expected = torch.log_softmax(model(x)[0, -1], -1)[split.target[r, t]]
        assert value == pytest.approx(float(expected), abs=1e-5)


def _project(root: Path, with_pairs: bool) -> Path:
    """A tiny project: params, a probe corpus (its pairs kept or not), dataset, random GRU."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["dataset"].update(vocab_size=400, test_fraction=0.2)
    raw["train"]["device"] = "cpu"
    raw["memory"].update(connectivity_observations=3, ablation_observations=4)
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    text, deps = probe.generate(40_000, seed=0)
    (root / "data/corpus").mkdir(parents=True)
    (deps if with_pairs else deps.iloc[:0]).to_parquet(root / "data/corpus/dependencies.parquet")
    built = dataset.build(
        text.encode(), params.parse_section(params.DatasetParams, raw["dataset"], "dataset")
    )
    (root / "data/autocomplete").mkdir()
    dataset.write(built, root / "data/autocomplete")
    torch.manual_seed(0)
    spec = checkpoint.ModelSpec("gru", len(CHARS), len(built.vocab.words), units=8, layers=1)
    checkpoint.save_model(root / "data/models/gru/seed0/model.pt", spec.build(), spec, {"seed": 0})
    return root


def _run(root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RNNMEM_DEBUG"}
    return subprocess.run(
        stage_argv("memory@gru-0"), cwd=root, env=env, capture_output=True, text=True
    )


@pytest.mark.slow
@pytest.mark.parametrize("with_pairs", [True, False])
def test_stage_writes_metrics_and_curves(tmp_path: Path, with_pairs: bool) -> None:
    root = _project(tmp_path, with_pairs)
    done = _run(root)
    assert done.returncode == 0, done.stderr
    out = root / "reports/memory/seeds/gru/seed0"
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("memory_span_chars", "intervention_effect_k1", "connectivity_auc_k1"):
        assert key in metrics and (metrics[key] is not None) == with_pairs
    windows = yaml.safe_load((root / "params.yaml").read_text())["memory"]["windows"]
    assert metrics["effective_context_chars"] in (*windows, None)  # None: no window reaches it
    assert metrics["ablation_observations"] == 4
    if with_pairs:  # every interval in the project's one naming
        assert metrics["memory_span_chars_ci_low"] <= metrics["memory_span_chars_ci_high"]
    ablated = pd.read_csv(out / "ablation.csv")
    assert ablated["window"].tolist() == windows
    for name in ("curve.csv", "connectivity.csv"):  # no rows without planted pairs
        assert (len(pd.read_csv(out / name)) > 0) == with_pairs
    notes = json.loads((out / "warnings.json").read_text())
    no_recall = (
        "memory span 0: referents are named no better than placebos"
        " (profiles/memory.yaml trains a GRU that remembers; docs/memory.md)"
    )
    assert notes == ([no_recall] if with_pairs else [])  # a random model recalls nothing
    assert all(f"warning: gru: {n}" in done.stderr for n in notes)
    if with_pairs:
        curve = pd.read_csv(out / "curve.csv")
        assert curve["distance"].tolist() == list(memory.BUCKET_EDGES[1:])
        assert curve["pairs"].sum() == metrics["pairs"]


@pytest.mark.slow
def test_stage_without_a_model_says_which_stage_makes_it(tmp_path: Path) -> None:
    root = _project(tmp_path, True)
    (root / "data/models/gru/seed0/model.pt").unlink()
    done = _run(root)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: model file data/models/gru/seed0/model.pt not found; run `dvc repro train@gru-0`"
    ]
    assert not (root / "reports/memory").exists()
