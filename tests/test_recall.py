"""Recall over training: the position-matched recall gap, steps to recall, and the stage."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
from memory_models import CopyModel, built_split, recall_corpus
from pipeline_repo import stage_argv
from shipped import dataset_settings, read_yaml, run_file, write_yaml

from rnnmem.analysis.memory import matching, planted, recall
from rnnmem.data import dataset, probe
from rnnmem.data.dataset import CHARS
from rnnmem.models import checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    text, deps = recall_corpus()
    split, words = built_split(text, tmp_path_factory.mktemp("recall"))
    return split, words, planted.planted_items(split, deps)


@pytest.mark.parametrize(
    ("steps", "lows", "expected"),
    [
        ([0, 50, 100, 150], [-0.1, 0.06, 0.08, 0.1], 50),  # reached and kept
        ([0, 50, 100, 150], [-0.1, 0.02, 0.04, 0.05], None),  # above 0, never above min_gap
        ([0, 50, 100, 150], [-0.1, 0.06, 0.08, 0.01], None),  # reached, then lost
        ([0, 50, 100, 150], [0.1, -0.05, 0.08, 0.2], 100),  # lost once, recalled for good later
        ([0, 50, 100, 150], [-0.1, -0.1, -0.1, 0.3], None),  # one snapshot is not enough
        ([0, 50], [0.2, float("nan")], None),  # nothing measured at the end
        ([], [], None),
    ],
)
def test_steps_to_recall_is_where_the_rule_holds_to_the_end(steps, lows, expected):
    assert recall.steps_to_recall(steps, lows, min_gap=0.05) == expected


def test_recall_gap_of_a_copy_model_is_one_and_zero_without_memory(built):
    split, words, items = built
    snapshots = [(0, CopyModel(words, 0)), (1, CopyModel(words, 190))]
    curve = recall.recall_curve(snapshots, split, items).set_index("step")
    assert curve.loc[1, "gap"] == pytest.approx(1.0) and curve.loc[0, "gap"] == 0
    assert curve.loc[1, "gap_low"] == pytest.approx(1.0)
    assert curve.loc[0, "gap_low"] == curve.loc[0, "gap_high"] == 0
    assert (curve["pairs"] == (items["kind"] == probe.RECALL).sum()).all()


def test_recall_gap_matches_placebos_by_position(tmp_path):
    """A model that is right exactly when the prediction lies late in its observation
    remembers nothing; most placebos sit earlier than referents, so an unmatched gap would
    credit it with memory. On the probe corpus (its lone placebos sit where referents do),
    matched by position, the gap is about 0 and its interval covers 0."""
    text, deps = probe.generate(300_000, seed=0)
    params = dataset_settings(vocab_size=1024, max_length=200, test_fraction=0.5)
    dataset.write(dataset.build(text.encode(), **params), tmp_path)
    items = planted.planted_items(dataset.load_split(tmp_path, "test"), deps)
    late = (items["position"] >= 120).astype(float)
    scores = pd.DataFrame({"top1_k1": late}, index=items.index)
    recall_hits = late[items["kind"] == probe.RECALL].mean()
    placebo_hits = late[items["kind"] == probe.PLACEBO].mean()
    assert recall_hits - placebo_hits > 0.1  # the confound the matching removes
    gap, low, high = matching.recall_gap(items, scores)
    assert abs(gap) < 0.05 and low <= 1e-9 and high >= -1e-9  # 0, up to float rounding


def test_recall_curve_follows_the_snapshots_and_is_reproducible(built):
    split, words, items = built
    items = recall.first_observations(items, 50)
    assert items["observation"].nunique() == 50
    snapshots = [(0, CopyModel(words, 0)), (10, CopyModel(words, 60)), (20, CopyModel(words, 190))]
    curve = recall.recall_curve(snapshots, split, items, seed=3)
    assert curve["step"].tolist() == [0, 10, 20]
    assert list(curve.columns) == list(recall.CURVE_COLUMNS)
    assert curve["gap"].is_monotonic_increasing and curve["gap"].iloc[-1] == pytest.approx(1.0)
    assert recall.steps_to_recall(curve["step"], curve["gap_low"], 0.05) == 10
    again = recall.recall_curve(snapshots, split, items, seed=3)
    pd.testing.assert_frame_equal(curve, again)


def _project(root: Path, with_pairs: bool) -> Path:
    """Params, the tiny probe's planted pairs (kept or not), its dataset, and snapshots of an
    untrained GRU at steps 0 and 5."""
    raw = read_yaml(ROOT / "params.yaml")
    raw["dataset"].update(vocab_size=400, max_length=200)
    run_file(root, device="cpu")
    raw["memory"]["recall_observations"] = 20
    write_yaml(root / "params.yaml", raw)
    text, deps = probe.generate(60_000, seed=0)
    (root / "data/corpus").mkdir(parents=True)
    (deps if with_pairs else deps.iloc[:0]).to_parquet(root / "data/corpus/dependencies.parquet")
    built = dataset.build(text.encode(), **dataset_settings(vocab_size=400, valid_fraction=0.3))
    (root / "data/autocomplete").mkdir()
    dataset.write(built, root / "data/autocomplete")
    spec = checkpoint.ModelSpec(
        "gru", len(CHARS), len(built.vocab.words), 8, 1, None, "reference", built.vocab.digest
    )
    for step in (0, 5):
        torch.manual_seed(step)
        path = root / f"data/snapshots/gru/seed0/step-{step:08d}.pt"
        checkpoint.save_model(path, spec.build(), spec, {"step": step})
    return root


@pytest.mark.slow
@pytest.mark.parametrize("with_pairs", [True, False])
def test_stage_writes_the_curve_and_steps_to_recall(tmp_path: Path, with_pairs: bool) -> None:
    root = _project(tmp_path, with_pairs)
    env = {k: v for k, v in os.environ.items() if k != "RNNMEM_DEBUG"}
    done = subprocess.run(
        stage_argv("recall@gru-0"), cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    out = root / "reports/recall/seeds/gru/seed0"
    curve = pd.read_csv(out / "curve.csv")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps_to_recall"] is None and metrics["recall_reached"] is False
    assert metrics["validation_interval"] == read_yaml(root / "params.yaml")["train"]["eval_every"]
    if with_pairs:
        assert curve["step"].tolist() == [0, 5]
        assert metrics["recall_observations"] == 20 and metrics["recall_pairs"] > 20
        assert "steps to recall: not within 5" in done.stdout
    else:
        assert curve.empty and list(curve.columns) == list(recall.CURVE_COLUMNS)
        assert done.stdout.count("no planted pairs") == 1
