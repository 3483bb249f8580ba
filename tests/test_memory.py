"""Memory measures proved on models whose memory is known (tests/memory_models.py), and the
rules that turn curves into a span, a half-life and an effective context."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from memory_models import NAMES, CopyModel, built_split, recall_corpus
from pipeline_repo import stage_argv
from shipped import read_yaml, run_file, write_yaml

from rnnmem.analysis.memory import (
    ablation,
    half_life,
    intervention,
    matching,
    planted,
    scoring,
    span,
    swaps,
)
from rnnmem.analysis.stats import Resampling, interval
from rnnmem.data import corpus, dataset, probe
from rnnmem.data.dataset import CHARS, SPACE, Vocab
from rnnmem.files import write_csv
from rnnmem.models import checkpoint
from rnnmem.models.language_model import build_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    text, deps = recall_corpus()
    split, words = built_split(text, tmp_path_factory.mktemp("recall"))
    return split, words, deps, planted.planted_items(split, deps)


def _resampling(items: pd.DataFrame, seed: int = 0) -> Resampling:
    return Resampling.over(items["observation"].to_numpy(), seed)


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
            text = "".join(CHARS[c] for c in row[item.antecedent_start : item.antecedent_end])
            assert text == " " + item.word
            assert item.position + 1 - (item.antecedent_start + 1) == item.distance


def test_referent_scores_are_the_full_models_reading_at_each_position(built):
    split, words, _, items = built
    torch.manual_seed(3)
    model = build_model("gru", len(CHARS), len(words), 8, 1, None, "reference").eval()
    chosen = items.iloc[::7]
    scores = scoring.referent_scores(model, split, chosen, batch_size=5)
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.as_tensor(split.source)), -1)
    for item, score in zip(chosen.itertuples(), scores.itertuples(), strict=True):
        for k in (0, 1):
            expected = log_probs[item.observation, item.position + k]
            assert getattr(score, f"logp_k{k}") == pytest.approx(
                float(expected[item.target]), abs=1e-5
            )
            best = int(expected[2:].argmax()) + 2  # a real word: never <pad> or <unknown>
            assert getattr(score, f"top1_k{k}") == (best == item.target)


@pytest.mark.parametrize(("reach", "expected"), [(130, 130), (70, 70), (0, 0)])
def test_memory_span_is_the_reach_of_a_copy_model(built, reach, expected):
    split, words, _, items = built
    scores = scoring.referent_scores(CopyModel(words, reach), split, items)
    curve, summary = span.memory_curve(items, scores, _resampling(items))
    assert summary["memory_span_chars"] == expected and not summary["memory_span_censored"]
    assert summary["placebo_top1_k1"] == 0  # nothing to copy: the placebo is never named
    assert (curve.loc[curve["distance"] <= expected, "gap_k1"] == 1).all()
    assert (curve.loc[curve["distance_low"] >= expected, "gap_k1"] == 0).all()
    assert curve["recalls"].tolist() == (curve["distance"] <= expected).tolist()
    assert summary["recalls_k1"] == (expected > 0) and not summary["below_placebos_k1"]


def test_a_span_through_the_last_bucket_is_censored_at_the_largest_distance_tested(built):
    split, words, _, items = built
    scores = scoring.referent_scores(CopyModel(words, 190), split, items)
    _, summary = span.memory_curve(items, scores, _resampling(items))
    largest = items.loc[items["kind"] == probe.RECALL, "distance"].max()
    assert largest < 190  # the last bucket's edge was never tested
    assert summary["memory_span_censored"] and summary["memory_span_chars"] == largest
    assert summary["memory_span_tested_chars"] == largest


@pytest.mark.parametrize(
    ("lows", "expected", "censored"),
    [
        ([0.2, 0.1, 0.04, 0.3], 50, False),  # the run breaks at the third bucket
        ([0.04, 0.3, 0.3, 0.3], 0, False),  # the nearest does not recall: 0
        ([0.06, 0.06, 0.06, 0.06], 88, True),  # through the last: censored at the farthest
        ([0.05, 0.3, 0.3, 0.3], 0, False),  # an interval starting at min_gap is not above it
        ([0.2, np.nan, 0.3, 0.3], 30, False),  # a bucket without pairs breaks the run
    ],
)
def test_span_rule_is_the_unbroken_run_of_buckets_that_recall(lows, expected, censored):
    edges = (10, 30, 50, 70, 90)
    assert span.span_rule(np.array(lows), edges, 0.05, tested=88) == (expected, censored)


def test_half_life_rule_reads_a_line_on_log_distance():
    distances = (10.0, 100.0, 1000.0)
    weights = np.ones(3)
    gaps = np.array([[0.5, 0.3, 0.1], [0.5, 0.5, 0.4], [0.1, 0.1, 0.1], [0.5, np.nan, 0.1]])
    reference = np.full(4, 0.5)
    value, censored = half_life.half_life_rule(gaps, weights, reference, distances, 5, 950)
    # gap = 0.3 - 0.2 * log10(d / 100) reaches 0.25 at d = 10 ** 2.25
    assert value[0] == pytest.approx(10**2.25)
    assert value[1] == 950 and censored.tolist() == [False, True, False, False]
    assert value[2] == 5  # already halved at the nearest distance tested
    assert value[3] == pytest.approx(10**2.25)  # a bucket without pairs is left out


def test_half_life_moves_continuously_out_to_the_farthest_distance_tested():
    """As the far buckets' gap shrinks, the half-life comes in from the farthest distance
    tested without a jump: no value between the last bucket's middle and the farthest
    distance is out of reach, and it is censored only while the line stays above half."""
    edges = probe.long_edges(1000)
    middles = np.sqrt(np.array(edges[:-1]) * np.array(edges[1:]))
    far = np.linspace(0.5, 0.0, 501)
    gaps = np.where(np.arange(len(middles)) >= 5, far[:, None], 0.5)
    value, censored = half_life.half_life_rule(
        gaps, np.ones(len(middles)), np.full(len(far), 0.5), middles, edges[0], 942
    )
    assert censored[0] and value[0] == 942 and not censored[-1]
    steps = np.abs(np.diff(np.log(value)))
    assert steps.max() < 0.02  # no jump anywhere along the way
    assert ((value > middles[-1]) & (value < 942)).any()  # the old dead zone is reached


def test_matched_gap_weighs_placebos_to_where_the_referents_are():
    """Placebos are always named late in an observation and never early; referents all sit
    late. Unmatched, the placebo level is the overall mean; matched, it is the late level."""
    rng = np.random.default_rng(0)
    n = 400
    placebo_position = np.where(np.arange(n) < 300, 10, 180) + rng.integers(0, 10, size=n)
    items = pd.DataFrame(
        {
            "observation": np.r_[np.arange(n), np.arange(n)],
            "kind": [probe.PLACEBO] * n + [probe.RECALL] * n,
            "position": np.r_[placebo_position, rng.integers(170, 195, size=n)],
            "word": rng.choice(["anna", "bert"], size=2 * n),
            "top1_k1": np.r_[(placebo_position > 100).astype(float), np.ones(n)],
        }
    )
    gap = matching.matched_gap(items, "top1_k1", _resampling(items))
    assert gap.placebo == pytest.approx(1.0) and gap.gap == pytest.approx(0.0, abs=1e-9)
    assert items.loc[items["kind"] == probe.PLACEBO, "top1_k1"].mean() == 0.25
    value, low, high = matching.recall_gap(
        items[["observation", "kind", "position", "word"]], items[["top1_k1"]]
    )
    assert value == pytest.approx(0.0, abs=1e-9)
    assert low == pytest.approx(0.0, abs=1e-9) and high == pytest.approx(0.0, abs=1e-9)


def test_matched_gap_weighs_placebos_to_the_referents_names():
    """A model without memory that names one favourite name and no other: this test set gave
    most referents other names and most placebos the favourite (as a test split can, by
    chance). Matched on position alone the gap is far below 0; matched on name and position
    it is 0."""
    rng = np.random.default_rng(1)
    n = 600
    names = np.array(["anna", "bert", "cleo", "dora"])
    placebo_word = rng.choice(names, size=n, p=[0.7, 0.1, 0.1, 0.1])
    referent_word = rng.choice(names, size=n, p=[0.1, 0.3, 0.3, 0.3])
    items = pd.DataFrame(
        {
            "observation": np.r_[np.arange(n), np.arange(n)],
            "kind": [probe.PLACEBO] * n + [probe.RECALL] * n,
            "position": rng.integers(20, 190, size=2 * n),
            "word": np.r_[placebo_word, referent_word],
        }
    )
    items["top1_k1"] = (items["word"] == "anna").astype(float)
    gap = matching.matched_gap(items, "top1_k1", _resampling(items))
    assert gap.gap == pytest.approx(0.0, abs=1e-9)
    low, high = interval(gap.gap_reps)
    assert low <= 0 <= high and high - low < 1e-6
    one_name = items.assign(word="anna")  # the old matching: position alone
    assert matching.matched_gap(one_name, "top1_k1", _resampling(items)).gap < -0.4


def test_position_bins_hold_enough_placebos_each():
    positions = np.r_[np.full(100, 5), np.full(40, 45), np.full(3, 150), np.full(2, 190)]
    edges = matching.position_bins(positions)
    assert edges[0] == 0
    held = np.bincount(np.searchsorted(edges, positions, side="right") - 1)
    assert (held >= matching.MIN_PLACEBOS).all()
    assert matching.position_bins(np.array([3])).tolist() == [0]


def test_alternatives_are_names_of_the_class_and_length_absent_from_the_row(built):
    split, _, _, items = built
    recall = items[items["kind"] == probe.RECALL]
    names = intervention.alternatives(split, items, [NAMES], 5, seed=1)
    first = intervention.alternatives(split, items, [NAMES], 5, seed=1, first_letter=True)
    assert names.index.equals(recall.index) and first.index.equals(recall.index)
    assert (names.map(len) == 5).all()  # 64 names, at most 2 in a row: always 5 left
    for item in recall.itertuples():
        row = "".join(CHARS[c] for c in split.source[item.observation]).split()
        for name in names[item.Index]:
            assert name in NAMES and name not in row and len(name) == len(item.word)
        assert len(set(names[item.Index])) == 5
        assert all(n[0] == item.word[0] and n not in row for n in first[item.Index])
    # three other names to a first letter, but the other placebo's name may be one of them
    assert first.map(len).isin([2, 3]).all() and (first.map(len) == 3).mean() > 0.8
    again = intervention.alternatives(split, items, [NAMES], 5, seed=1)
    other = intervention.alternatives(split, items, [NAMES], 5, seed=2)
    assert again.equals(names) and not other.equals(names)


def test_intervention_removes_recall_only_within_reach(built):
    split, words, _, items = built
    model = CopyModel(words, 100)
    names = intervention.alternatives(split, items, [NAMES], 3, seed=0)
    effects = intervention.intervention_effects(model, split, items, names, batch_size=64)
    assert (effects.groupby("item").size() == 3).all()
    distance = items.loc[effects["item"], "distance"].to_numpy()
    assert (effects.loc[distance <= 100, "effect_k1"] > 5).all()
    assert (effects.loc[distance > 100, "effect_k1"].abs() < 1e-6).all()
    curve, summary = swaps.effect_curve(items, effects, _resampling(items), seed=0)
    assert summary["intervention_effect_k1"] > 1
    assert summary["intervention_swaps"] == 3 * len(names)
    assert (curve.loc[curve["distance"] > 110, "effect_k1"].abs() < 1e-6).all()


def test_swapped_names_are_what_the_model_reads(built):
    split, words, _, items = built
    names = intervention.alternatives(split, items, [NAMES], 2, seed=0).iloc[:3]
    model = CopyModel(words, 190)
    effects = intervention.intervention_effects(model, split, items, names, batch_size=64)
    model = CopyModel(words, 190)
    for row in effects.itertuples():
        item = items.loc[row.item]
        text = "".join(CHARS[c] for c in split.source[item.observation])
        swapped = text[: item.antecedent_start + 1] + row.name + text[item.antecedent_end :]
        assert names[row.item][row.swap] == row.name
        ids = torch.as_tensor([CHARS.index(c) for c in swapped])
        with torch.no_grad():
            log_probs = torch.log_softmax(model(ids[None])[0], -1)
            before = torch.log_softmax(
                model(torch.as_tensor(split.source[item.observation])[None])[0], -1
            )
        t = item.position + 1
        expected = before[t, item.target] - log_probs[t, item.target]
        assert row.effect_k1 == pytest.approx(float(expected), abs=1e-5)


def test_the_swaps_own_draw_widens_the_effects_interval():
    """Two pairs per observation whose swaps disagree: resampling the swaps, too, gives a
    wider interval than the observations alone; with one swap per pair there is nothing to
    redraw and the second stage changes nothing."""
    observations = 200
    items = pd.DataFrame(
        {"observation": np.arange(observations), "kind": probe.RECALL, "distance": 20}
    )
    rng = np.random.default_rng(0)
    rows = [
        (i, j, f"n{j}", value, value)
        for i in range(observations)
        for j, value in enumerate(rng.normal(1.0, [0.1, 3.0]))
    ]
    effects = pd.DataFrame(rows, columns=intervention.EFFECT_COLUMNS)
    resampling = _resampling(items)
    pairs = swaps.pair_effects(items, effects, "effect_k1", 2000, seed=0)
    _, both = pairs.estimate(resampling)
    single = effects[effects["swap"] == 0]
    _, first = swaps.pair_effects(items, single, "effect_k1", 2000, 0).estimate(resampling)
    weights = resampling.weights_of(items["observation"])
    means = effects.groupby("item")["effect_k1"].mean().to_numpy()
    only_observations = (weights * means).sum(1) / weights.sum(1)
    assert both.std() > 1.1 * only_observations.std()
    assert np.allclose(first, (weights * single["effect_k1"].to_numpy()).sum(1) / weights.sum(1))


def _long_items(directory: Path, pairs: int) -> pd.DataFrame:
    """The planted items of the default-length long-range probe with `pairs` per bucket."""
    corpus = probe.build_long(1000, 200, pairs, seed=0)
    words = ["<pad>", "<unknown>", *sorted(set(corpus.text.split()))]
    documents = corpus.documents
    starts, ends = documents["start"].to_numpy(), documents["end"].to_numpy()
    table = dataset.encode_observations(corpus.text, starts, ends, Vocab(CHARS, words))
    pq.write_table(table, directory / "test.parquet")
    return planted.planted_items(dataset.load_split(directory, "test"), corpus.dependencies)


@pytest.fixture(scope="module")
def long_items(tmp_path_factory) -> pd.DataFrame:
    """The long-range probe at the default's size (params.yaml's memory.long_probe_pairs)."""
    pairs = read_yaml(ROOT / "params.yaml")["memory"]["long_probe_pairs"]
    return _long_items(tmp_path_factory.mktemp("long"), pairs)


def test_half_life_of_recall_within_a_reach_is_that_reach(tmp_path):
    """On the long-range probe's pairs, a model that names every referent within its reach and
    nothing else (no placebo either): the gap falls from 1 to 0 around the reach; a reach past
    every pair is censored; no reach, no near gap, no half-life."""
    items = _long_items(tmp_path, 12)
    edges = probe.long_edges(1000)
    recall = (items["kind"] == probe.RECALL).to_numpy()
    for reach in (80, 1000, 0):
        hit = (recall & (items["distance"] <= reach)).astype(float)
        scores = pd.DataFrame({"top1_k1": hit}, index=items.index)
        _, summary = half_life.half_life(items, scores, _resampling(items), edges, 200, 0.05)
        assert not summary["memory_half_life_confounded"]  # near pairs: recalled early and late
        assert summary["memory_position_effect_k1"] == 0
        if reach == 0:
            assert summary["memory_half_life_chars"] is None  # no near gap to halve
        elif reach == 1000:
            assert summary["memory_half_life_censored"]
            assert summary["memory_half_life_chars"] == summary["long_probe_tested_chars"]
            assert summary["memory_half_life_censored_share"] == 1
        else:
            assert not summary["memory_half_life_censored"]
            assert 55 < summary["memory_half_life_chars"] < 130
            low, high = summary["memory_half_life_chars_interval"]
            assert 40 <= low <= high <= 180
            assert summary["long_near_late_gap_k1"] == summary["long_near_early_gap_k1"] == 1
            assert summary["long_near_early_pairs"] >= 12 <= summary["long_near_late_pairs"]


def _simulated(items: pd.DataFrame, referent_hit: np.ndarray, draw: int) -> pd.DataFrame:
    """top1_k1 drawn at random: each referent named with its chance in `referent_hit`, each
    placebo with chance 0.25, the level of a guess among four names."""
    rng = np.random.default_rng(draw)
    chance = np.where(items["kind"] == probe.RECALL, referent_hit, 0.25)
    return pd.DataFrame({"top1_k1": (rng.random(len(items)) < chance) * 1.0}, index=items.index)


def test_a_memory_that_never_fades_is_censored_on_the_default_long_probe(long_items):
    """Referents named with chance 0.5 at every distance against placebos at 0.25 (a gap of
    0.25 that never fades): at the default's pairs per bucket, the half-life is censored at the
    farthest distance tested in at least 95 % of draws, never a number in the middle."""
    edges = probe.long_edges(1000)
    resampling = Resampling.over(long_items["observation"].to_numpy(), 0, resamples=100)
    readings = []
    for draw in range(40):
        scores = _simulated(long_items, np.full(len(long_items), 0.5), draw)
        _, summary = half_life.half_life(long_items, scores, resampling, edges, 200, 0.05)
        readings.append(summary["memory_half_life_censored"])
    assert sum(r is True for r in readings) >= 0.95 * len(readings), readings


def test_a_model_that_fails_past_the_training_length_is_flagged_not_given_a_half_life(
    long_items,
):
    """Perfect-ish recall before character 200 (where training observations end) and none
    after, whatever the distance: far pairs all sit late, so their gap vanishes. The position
    effect sees it in the near pairs, the half-life is withheld and flagged confounded."""
    edges = probe.long_edges(1000)
    resampling = Resampling.over(long_items["observation"].to_numpy(), 0, resamples=200)
    early = (long_items["position"] < 200).to_numpy()
    scores = _simulated(long_items, np.where(early, 0.9, 0.25), 0)
    _, summary = half_life.half_life(long_items, scores, resampling, edges, 200, 0.05)
    assert summary["memory_half_life_confounded"]
    assert summary["memory_position_effect_k1_interval"][1] < 0
    assert summary["memory_half_life_chars"] is None
    faithful = _simulated(long_items, np.full(len(long_items), 0.9), 0)
    _, summary = half_life.half_life(long_items, faithful, resampling, edges, 200, 0.05)
    assert not summary["memory_half_life_confounded"] and summary["memory_half_life_censored"]


@pytest.mark.parametrize(
    ("reach", "expected", "censored"), [(40, 50, False), (0, 5, False), (190, 100, True)]
)
def test_effective_context_is_the_first_window_past_the_reach(built, reach, expected, censored):
    split, words, _, _ = built
    model = CopyModel(words, reach)
    curve, summary = ablation.context_ablation(model, split, np.arange(60), 1e-6)
    assert summary["effective_context_chars"] == expected
    assert summary["effective_context_censored"] == censored
    assert summary["ablation_observations"] == 60
    windows = curve.set_index("window")
    assert windows.index.max() == 100  # the default windows stop short of the observations
    if not censored:  # from the effective context on, nothing is lost
        assert (windows.loc[windows.index >= expected, "difference"] == 0).all()
    if reach:  # a window short of the reach changes predictions
        assert windows.loc[20, "difference"] != 0


def test_window_rule_takes_the_smallest_window_within_tolerance():
    added = np.array(
        [
            [0.5, 0.02, 0.01, 0.0],
            [0.5, 0.2, 0.1, 0.05],  # none within: censored at the longest window
            [0.5, np.nan, 0.0, 0.2],  # no predictions in a window: it does not match
            [0.5, -0.3, -0.005, 0.0],  # better than full context by more than the tolerance
        ]
    )
    window, censored = ablation.window_rule(added, (5, 10, 20, 50), 0.01)
    assert window.tolist() == [20, 50, 20, 20]
    assert censored.tolist() == [False, True, False, False]


def test_windows_start_at_a_word(built):
    split, _, _, _ = built
    rng = np.random.default_rng(0)
    row = rng.integers(len(split), size=200)
    position = rng.integers(1, 200, size=200)
    for window in (5, 10, 50):
        start = ablation.window_start(split, row, position, window)
        for r, t, s in zip(row, position, start, strict=True):
            text = split.source[r]
            assert text[s] == SPACE and s <= t
            spaces = [i for i in range(max(0, t + 1 - window), t + 1) if text[i] == SPACE]
            assert s == (spaces[0] if spaces else max(i for i in range(t + 1) if text[i] == SPACE))


def test_window_scores_equal_a_fresh_run_on_the_window_alone(built):
    split, words, _, _ = built
    torch.manual_seed(2)
    model = build_model("gru", len(CHARS), len(words), 8, 1, None, "reference").eval()
    row, position = np.array([0, 1, 1]), np.array([150, 30, 7])
    log_prob, _ = ablation.window_scores(model, split, row, position, 20)
    start = ablation.window_start(split, row, position, 20)
    for r, t, s, value in zip(row, position, start, log_prob, strict=True):
        x = torch.as_tensor(split.source[r, s : t + 1])[None]
        with torch.no_grad():
            expected = torch.log_softmax(model(x)[0, -1], -1)[split.target[r, t]]
        assert value == pytest.approx(float(expected), abs=1e-5)


def _project(root: Path, with_pairs: bool) -> Path:
    """A tiny project: params, a probe corpus (its pairs kept or not), dataset, random GRU, the
    long-range probe, the test split's word starts (baseline) and the GRU's predictions."""
    raw = read_yaml(ROOT / "params.yaml")
    raw["dataset"].update(vocab_size=400, test_fraction=0.2)
    run_file(root, device="cpu")
    raw["memory"].update(
        attribution_observations=3, swaps=2, ablation_observations=4, long_probe_pairs=3
    )
    write_yaml(root / "params.yaml", raw)
    text, deps = probe.generate(40_000, seed=0)
    (root / "data/corpus").mkdir(parents=True)
    corpus.save(root / "data/corpus", "probe", "probe", text, deps if with_pairs else deps.iloc[:0])
    built = dataset.build(text.encode(), **raw["dataset"])
    (root / "data/autocomplete").mkdir()
    dataset.write(built, root / "data/autocomplete")
    torch.manual_seed(0)
    spec = checkpoint.ModelSpec(
        "gru", len(CHARS), len(built.vocab.words), 8, 1, None, "reference", built.vocab.digest
    )
    checkpoint.save_model(root / "data/models/gru/seed0/model.pt", spec.build(), spec, {"seed": 0})
    for stage in ("longprobe", "baseline", "evaluate@gru-0"):  # what the memory stage reads
        done = _run(root, stage)
        assert done.returncode == 0, done.stderr
    return root


def _run(root: Path, stage: str = "memory@gru-0") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RNNMEM_DEBUG"}
    return subprocess.run(stage_argv(stage), cwd=root, env=env, capture_output=True, text=True)


OUT = Path("reports/memory/seeds/gru/seed0")
ITEMS = Path("data/memory/gru/seed0")


@pytest.mark.slow
@pytest.mark.parametrize("with_pairs", [True, False])
def test_stage_writes_metrics_and_curves(tmp_path: Path, with_pairs: bool) -> None:
    root = _project(tmp_path, with_pairs)
    done = _run(root)
    assert done.returncode == 0, done.stderr
    out = root / OUT
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "memory_span_chars",
        "memory_span_censored",
        "intervention_effect_k1",
        "connectivity_auc_k0",
        "signed_auc_k1",
    ):
        assert key in metrics and (metrics[key] is not None) == with_pairs, key
    for key in ("memory_half_life_censored", "effective_context_censored"):
        assert key in metrics
    windows = read_yaml(root / "params.yaml")["memory"]["windows"]
    assert metrics["effective_context_chars"] in (*windows, None)  # None: no window reaches it
    assert metrics["ablation_observations"] == 4
    assert metrics["long_probe_pairs"] >= 3 * probe.LONG_BUCKETS
    if with_pairs:  # every interval in the project's one naming
        assert metrics["recall_gap_k1_ci_low"] <= metrics["recall_gap_k1_ci_high"]
        assert metrics["recalls_k1"] in (True, False)
        assert metrics["intervention_swaps"] == 2 * metrics["intervention_pairs"]
        assert metrics["attribution_observations"] == 3
    ablated = pd.read_csv(out / "ablation.csv")
    assert ablated["window"].tolist() == windows  # none as long as an observation
    for name in ("curve.csv", "connectivity.csv"):  # no rows without planted pairs
        assert (len(pd.read_csv(out / name)) > 0) == with_pairs
    long_curve = pd.read_csv(out / "long_curve.csv")
    assert long_curve["distance"].tolist() == list(probe.long_edges(1000)[1:])
    notes = json.loads((out / "warnings.json").read_text())
    assert all(f"warning: gru: {n}" in done.stderr for n in notes)
    tables = sorted(p.name for p in (root / ITEMS).iterdir())
    assert tables == [
        *("attribution.parquet", "effects.parquet", "items.parquet"),
        *("natural.parquet", "natural_effects.parquet"),
    ]
    # memory on words that repeat needs no planted pairs
    assert len(pd.read_csv(out / "natural.csv")) > 0
    assert metrics["natural_swap_effect_k1"] is not None
    items = pd.read_parquet(root / ITEMS / "items.parquet")
    assert (items["kind"] == probe.RECALL).any() == with_pairs  # no rows without planted pairs
    if with_pairs:
        curve = pd.read_csv(out / "curve.csv")
        assert curve["distance"].tolist() == list(planted.BUCKET_EDGES[1:])
        assert curve["pairs"].sum() == metrics["pairs"]
        first = (out / "metrics.json").read_text()
        assert _run(root).returncode == 0
        assert (out / "metrics.json").read_text() == first  # the same seed, the same figures


@pytest.mark.slow
def test_a_stage_stopped_half_way_leaves_the_previous_outputs_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path, True)
    assert _run(root).returncode == 0
    before = {p: p.read_bytes() for p in sorted((root / OUT).iterdir())}
    before_items = {p: p.read_bytes() for p in sorted((root / ITEMS).iterdir())}
    spec = importlib.util.spec_from_file_location("memory_stage", ROOT / "stages/memory.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    written = []

    def write_then_stop(path, frame):
        write_csv(path, frame)
        written.append(path)
        raise KeyboardInterrupt  # as if killed by hand after the first file

    monkeypatch.setattr(stage, "write_csv", write_then_stop)
    raw = read_yaml(root / "params.yaml")
    raw["memory"]["seed"] = 7  # new figures, were the run to finish
    write_yaml(root / "params.yaml", raw)
    argv = ["memory.py", *stage_argv("memory@gru-0")[2:]]
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(KeyboardInterrupt):
        stage.main()
    assert len(written) == 1 and written[0].parent.name.startswith(".seed0.")  # a temp folder
    assert {p: p.read_bytes() for p in sorted((root / OUT).iterdir())} == before
    assert {p: p.read_bytes() for p in sorted((root / ITEMS).iterdir())} == before_items
    assert sorted(p.name for p in (root / OUT.parent).iterdir()) == ["seed0"]  # no leftovers


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


def test_paired_memory_compares_recall_gaps_and_no_span(built):
    """The span is read off bucket intervals by the recall rule and has no replicates to pair;
    the paired rows compare the recall gaps (and the effects and AUCs) instead: a copy model
    against one without reach differs by the whole gap, paired on the same observations."""
    from rnnmem.analysis.memory import attribution, comparison

    split, words, _, items = built
    names = intervention.alternatives(split, items, [NAMES], 2, seed=0)
    runs = {}
    for kind, reach in (("copy", 190), ("none", 0)):
        model = CopyModel(words, reach)
        scores = scoring.referent_scores(model, split, items)
        effects = intervention.intervention_effects(model, split, items, names, batch_size=64)
        none = pd.DataFrame(columns=attribution.COMPARISON_COLUMNS)  # no AUCs needed here
        runs[kind] = [comparison.MemoryTables(items.join(scores), effects, none)]
    rows = comparison.paired_memory(runs, [NAMES], seed=0)
    by_metric = {row["metric"]: row for row in rows}
    assert "memory_span_chars" not in by_metric
    gap = by_metric["recall_gap_k1"]
    assert gap["difference"] == pytest.approx(1.0) and gap["significant"]
    assert gap["ci_low"] == pytest.approx(1.0)
