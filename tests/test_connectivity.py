"""Connectivity: the sweep's matrix against a brute-force reference, the aggregates on
hand-made matrices with known answers, and the stage script end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pipeline_repo import killed_at_write, stage_argv
from shipped import nesting, read_yaml, run_file, write_yaml

from rnnmem.analysis import connectivity
from rnnmem.analysis.connectivity import (
    connectivity_matrices,
    connectivity_matrix,
    connectivity_matrix_loop,
)
from rnnmem.analysis.connectivity_summary import distance_profile, summarize, word_shares
from rnnmem.data import dataset, probe
from rnnmem.models import checkpoint, language_model

ROOT = Path(__file__).resolve().parents[1]
REAL = 2  # any real word id (0 is <pad>, 1 is <unknown>)


@pytest.mark.parametrize(
    ("kind", "layers", "depth"),
    [("gru", 1, None), ("gru", 2, None), ("lstm", 1, None), ("lstm", 3, None)]
    + [("nlstm", 1, 2), ("nlstm", 2, 1), ("nlstm", 1, 3)],
)
def test_matrix_equals_brute_force_and_is_causal(kind: str, layers: int, depth: int | None) -> None:
    torch.manual_seed(0)
    model = language_model.build_model(kind, 28, 40, 12, layers, depth, "reference").eval()
    source = torch.randint(1, 28, (13,))
    target = torch.randint(2, 40, (13,))
    before = {name: p.clone() for name, p in model.state_dict().items()}
    matrix = connectivity_matrix(model, source, target)
    expected = connectivity_matrix_loop(model, source, target).double()
    assert matrix.shape == (13, 13)
    assert torch.count_nonzero(torch.triu(matrix, diagonal=1)) == 0
    lower = matrix[tuple(torch.tril_indices(13, 13))]
    assert torch.all(lower > 0)  # random weights: every earlier input matters
    torch.testing.assert_close(matrix, expected, rtol=1e-5, atol=1e-6 * expected.max().item())
    # The model is left as it was: same weights, no gradients.
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(("kind", "layers"), [("gru", 2), ("lstm", 2), ("nlstm", 2)])
def test_batched_matrices_equal_one_sequence_at_a_time(kind: str, layers: int) -> None:
    torch.manual_seed(0)
    model = language_model.build_model(kind, 28, 40, 12, layers, nesting(kind), "reference").eval()
    lengths = [1, 7, 8, 9, 23, 17]  # around and past the rescale period, ragged
    sources = [torch.randint(1, 28, (n,)) for n in lengths]
    targets = [torch.randint(2, 40, (n,)) for n in lengths]
    batched = connectivity_matrices(model, sources, targets)
    assert [m.shape for m in batched] == [(n, n) for n in lengths]
    for matrix, source, target in zip(batched, sources, targets, strict=True):
        alone = connectivity_matrix(model, source, target)
        torch.testing.assert_close(matrix, alone, rtol=1e-5, atol=1e-7 * alone.max().item())
        assert torch.count_nonzero(torch.triu(matrix, diagonal=1)) == 0
    reference = connectivity_matrix_loop(model, sources[4], targets[4]).double()
    torch.testing.assert_close(batched[4], reference, rtol=1e-5, atol=1e-6 * reference.max().item())


def test_observation_matrices_in_batches_equal_one_at_a_time() -> None:
    torch.manual_seed(0)
    model = language_model.build_model("gru", 28, 40, 8, 1, None, "reference").eval()
    rng = np.random.default_rng(0)
    length = rng.integers(1, 12, size=7)
    source = np.zeros((7, 12), dtype=np.int64)
    for row, n in enumerate(length):
        source[row, :n] = rng.integers(1, 28, size=n)
    split = dataset.Split(source=source, target=np.where(source > 0, 2, 0), length=length)
    ones = connectivity.observation_matrices(model, split, count=5, batch=1)
    threes = connectivity.observation_matrices(model, split, count=5, batch=3)
    assert [m.shape for m in threes] == [(n, n) for n in length[:5]]
    for one, three in zip(ones, threes, strict=True):
        np.testing.assert_allclose(three, one, rtol=1e-5, atol=1e-7 * one.max())


def test_loop_reference_leaves_the_mode_as_it_found_it() -> None:
    model = language_model.build_model("lstm", 28, 40, 8, 1, None, "reference").eval()
    connectivity_matrix_loop(model, torch.tensor([3, 4]), torch.tensor([2, 3]))
    assert not model.training


@pytest.mark.parametrize(("kind", "layers"), [("gru", 2), ("lstm", 2), ("nlstm", 1)])
def test_matrix_stays_exact_far_below_float32_range(kind: str, layers: int) -> None:
    """Weak recurrent weights and closed carry gates (GRU update, LSTM forget) make
    connectivity fall orders of magnitude per step: far back it is below what float32 can
    hold, and each entry must still match a float64 brute force to 1e-4 of itself: float32
    rounding over 40 steps of products (the rows are rescaled as they decay)."""
    torch.manual_seed(1)
    model = language_model.build_model(kind, 28, 40, 12, layers, nesting(kind), "reference").eval()
    with torch.no_grad():
        for name, weight in model.recurrent.named_parameters():
            if "weight_hh" in name or "gates.0.weight" in name:
                weight.mul_(0.05)
            if "bias_hh" in name or name.endswith("bias"):  # 2nd of 4 (or 3) blocks: f (or z)
                hid = weight.shape[0] // (3 if kind == "gru" else 4)
                weight[(2 if kind == "nlstm" else 1) * hid :][:hid] = -8.0
    steps = 40
    source = torch.randint(1, 28, (steps,))
    target = torch.randint(2, 40, (steps,))
    matrix = connectivity_matrix(model, source, target)
    expected = connectivity_matrix_loop(model.double(), source, target)
    lower = tuple(torch.tril_indices(steps, steps))
    assert matrix[lower].min() < 1e-60  # float32's smallest is 1.4e-45
    assert torch.all(matrix[lower] > 0)
    torch.testing.assert_close(
        matrix[lower] / expected[lower], torch.ones_like(matrix[lower]), rtol=1e-4, atol=0
    )


@pytest.mark.parametrize("kind", ["gru", "lstm", "nlstm"])
def test_saturated_model_gives_finite_connectivity(kind: str) -> None:
    """Weights scaled up 16x saturate the gates, so some rows fall into float32's subnormal
    range between two rescales; bringing them back must not overflow the scale (inf * 0 =
    NaN), and the matrix must still match the brute force."""
    torch.manual_seed(0)
    model = language_model.build_model(kind, 28, 40, 16, 1, nesting(kind), "pytorch").eval()
    with torch.no_grad():
        for weight in [*model.recurrent.parameters(), model.embedding.weight]:
            weight.mul_(16)
    source = torch.randint(1, 28, (40,))
    target = torch.randint(2, 40, (40,))
    matrix = connectivity_matrix(model, source, target)
    expected = connectivity_matrix_loop(model, source, target).double()
    assert torch.isfinite(matrix).all()
    torch.testing.assert_close(matrix, expected, rtol=1e-5, atol=1e-5 * expected.max().item())


@pytest.mark.parametrize(
    ("source", "target", "problem"),
    [
        (torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), "non-empty 1-D"),
        (torch.ones(2, 3, dtype=torch.long), torch.full((2, 3), 2), "non-empty 1-D"),
        (torch.ones(4, dtype=torch.long), torch.full((3,), 2), "differs from source shape"),
        (torch.tensor([1, -1, 2]), torch.full((3,), 2), r"source ids must lie in \[0, 28\)"),
        (torch.tensor([1, 2, 3]), torch.tensor([2, 40, 3]), r"target ids must lie in \[0, 40\)"),
    ],
)
def test_bad_sequences_are_clear_errors(source, target, problem) -> None:
    model = language_model.build_model("gru", 28, 40, 8, 1, None, "reference").eval()
    for compute in (connectivity_matrix, connectivity_matrix_loop):
        with pytest.raises(ValueError, match=problem):
            compute(model, source, target)


@pytest.mark.parametrize("steps", [1, 2, 9, 17])
def test_lengths_around_the_rescale_period(steps: int) -> None:
    torch.manual_seed(3)
    model = language_model.build_model("lstm", 28, 40, 8, 2, None, "reference").eval()
    source = torch.randint(0, 28, (steps,))  # the padding id 0 included
    target = torch.randint(2, 40, (steps,))
    expected = connectivity_matrix_loop(model, source, target).double()
    torch.testing.assert_close(
        connectivity_matrix(model, source, target), expected, rtol=1e-5, atol=1e-30
    )


def test_distance_profile_by_hand() -> None:
    matrix = np.array([[1.0, 0, 0], [1, 3, 0], [2, 2, 4]])
    profile = distance_profile([matrix], [np.full(3, REAL)])
    assert profile["distance"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(profile["mean_connectivity"], [8 / 3, 1.5, 2.0])
    np.testing.assert_allclose(profile["share"], [(1 + 0.75 + 0.5) / 3, 0.25, 0.25])
    logs = [np.log([1, 0.75, 0.5]).mean(), np.log([0.25, 0.25]).mean(), np.log(0.25)]
    np.testing.assert_allclose(profile["mean_log_share"], logs)
    # An <unknown> target drops its row; a second matrix adds rows of its own.
    other = np.array([[5.0, 0], [1, 1]])
    profile = distance_profile([matrix, other], [np.array([REAL, 1, REAL]), np.full(2, REAL)])
    np.testing.assert_allclose(profile["mean_connectivity"], [(1 + 4 + 5 + 1) / 4, 1.5, 2.0])
    np.testing.assert_allclose(profile["share"], [(1 + 0.5 + 1 + 0.5) / 4, 0.375, 0.25])


def test_word_shares_by_hand() -> None:
    source = np.array([1, 2, 3, 1, 4, 5])  # " ab cd": the second word starts at 3
    matrix = np.tril(np.ones((6, 6)))
    matrix[4] = [1, 1, 1, 3, 4, 0]  # current word (3..4) holds 7 of 10
    matrix[5] = [0, 0, 2, 1, 1, 0]  # current word (3..5) holds 2 of 4
    target = np.array([REAL, REAL, REAL, REAL, REAL, REAL])
    current, earlier = word_shares([matrix], [source], [target])
    # Rows 0-2 lie in the first word (no earlier words) and are left out.
    assert current == pytest.approx((1 / 4 + 7 / 10 + 2 / 4) / 3)
    assert earlier == pytest.approx(1 - current)
    target[3] = 1  # an <unknown> target drops its row
    assert word_shares([matrix], [source], [target])[0] == pytest.approx((7 / 10 + 2 / 4) / 2)


def test_summarize_is_the_profile_and_the_shares_with_intervals() -> None:
    source = np.array([1, 2, 3, 1, 4, 5])  # " ab cd", as above: shares 1/4, 7/10, 2/4
    matrix = np.tril(np.ones((6, 6)))
    matrix[4] = [1, 1, 1, 3, 4, 0]
    matrix[5] = [0, 0, 2, 1, 1, 0]
    target = np.full(6, REAL)
    profile, metrics = summarize([matrix], [source], [target])
    assert profile.equals(distance_profile([matrix], [target]))
    current = (1 / 4 + 7 / 10 + 2 / 4) / 3
    assert metrics["current_word_share"] == pytest.approx(current)
    assert metrics["earlier_words_share"] == pytest.approx(1 - current)
    # One observation: every bootstrap resample is that observation, so the interval is a point.
    assert metrics["current_word_share_ci_low"] == pytest.approx(current)
    assert metrics["current_word_share_ci_high"] == pytest.approx(current)
    assert metrics["earlier_words_share_ci_low"] == pytest.approx(1 - current)
    # Two observations: a resample holds two draws, so its share is A's mean, B's mean or the
    # pooled mean, and each extreme comes up in a quarter of the resamples.
    plain = np.tril(np.ones((6, 6)))  # shares 1/4, 2/5, 3/6
    _, both = summarize([matrix, plain], [source, source], [target, target])
    assert both["current_word_share"] == pytest.approx((3 * current + 1 / 4 + 2 / 5 + 3 / 6) / 6)
    assert both["current_word_share_ci_low"] == pytest.approx((1 / 4 + 2 / 5 + 3 / 6) / 3)
    assert both["current_word_share_ci_high"] == pytest.approx(current)
    assert both["earlier_words_share_ci_high"] == pytest.approx(
        1 - both["current_word_share_ci_low"]
    )
    _, nothing = summarize([matrix], [source], [np.full(6, 1)])  # every target <unknown>
    assert all(math.isnan(value) for value in nothing.values())  # null in metrics.json


_VOCAB = dataset.Vocab(chars=list(dataset.CHARS), words=["<pad>", "<unknown>"])


# ---------------------------------------------------------------- the stage, end to end


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project directory: params, probe corpus, dataset and a random GRU."""
    root = tmp_path_factory.mktemp("project")
    raw = read_yaml(ROOT / "params.yaml")
    raw["dataset"].update(vocab_size=150, max_length=200, test_fraction=0.2)
    raw["analysis"].update(aggregate_observations=20, top_k=2)
    write_yaml(root / "params.yaml", raw)
    run_file(root, device="cpu")
    text, deps = probe.generate(30_000, seed=0)
    (root / "data/corpus").mkdir(parents=True)
    (root / "data/corpus/corpus.txt").write_text(text)
    deps.to_parquet(root / "data/corpus/dependencies.parquet")
    built = dataset.build(text.encode(), **raw["dataset"])
    (root / "data/autocomplete").mkdir()
    dataset.write(built, root / "data/autocomplete")
    torch.manual_seed(0)
    spec = checkpoint.ModelSpec(
        "gru", 28, len(built.vocab.words), 8, 1, None, "reference", built.vocab.digest
    )
    checkpoint.save_model(root / "data/models/gru/seed0/model.pt", spec.build(), spec, {"seed": 0})
    return root


def run_stage(root: Path, sentences: list[str]) -> subprocess.CompletedProcess:
    raw = read_yaml(root / "params.yaml")
    raw["analysis"]["sentences"] = sentences
    write_yaml(root / "params.yaml", raw)
    env = {k: v for k, v in os.environ.items() if k != "RNNMEM_DEBUG"}
    return subprocess.run(
        stage_argv("connectivity@gru-0"), cwd=root, env=env, capture_output=True, text=True
    )


@pytest.mark.slow  # runs a stage end to end
def test_stage_end_to_end(project: Path) -> None:
    vocab = dataset.load_vocab(project / "data/autocomplete")
    known = vocab.words[2]
    done = run_stage(project, [f"The {known}, 42 qqqzx!", known])
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "sentence 1" in warnings[0] and "qqqzx" in warnings[0]
    out = project / "reports/connectivity/seeds/gru/seed0"
    views = json.loads((out / "sentences.json").read_text())
    assert views["model"] == "gru" and len(views["sentences"]) == 2
    first = views["sentences"][0]
    assert first["text"] == f"the {known} four two qqqzx"
    steps = len(first["text"]) + 1  # every word, the first included, has a leading space
    assert len(first["chars"]) == len(first["targets"]) == len(first["top"]) == steps
    assert first["targets"][-1] == "<unknown>" and first["chars"][0] == " "
    matrix = np.array(first["matrix"])
    assert matrix.shape == (steps, steps) and not np.triu(matrix, 1).any()
    assert all(len(top) == 2 and top[0][1] >= top[1][1] for top in first["top"])
    distance = pd.read_csv(out / "distance.csv")
    assert list(distance.columns) == [
        "distance",
        "mean_connectivity",
        "mean_log_share",
        "share",
    ]
    assert distance["distance"].iloc[0] == 0 and distance["share"].between(0, 1).all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 < metrics["current_word_share"] < 1
    assert metrics["current_word_share"] + metrics["earlier_words_share"] == pytest.approx(1)
    for share in ("current_word_share", "earlier_words_share"):  # with bootstrap intervals
        assert metrics[f"{share}_ci_low"] <= metrics[share] <= metrics[f"{share}_ci_high"]
    assert not [k for k in metrics if k.startswith("dependenc")]  # hit rate and lift retired


@pytest.mark.parametrize("bad", ["", "?!, ..."])
def test_stage_rejects_an_empty_sentence(project: Path, bad: str) -> None:
    fresh = project / "reports/connectivity"
    if fresh.exists():
        for path in sorted(fresh.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
    known = dataset.load_vocab(project / "data/autocomplete").words[2]
    done = run_stage(project, [known, bad])
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "sentence" in lines[0]
    assert not fresh.exists() or not any(fresh.rglob("*"))


@pytest.mark.slow  # runs a stage end to end
def test_a_mostly_unknown_sentence_draws_a_test_observation(project: Path) -> None:
    """The shipped sentence on another corpus is all `<unknown>`: an empty figure. The stage
    draws the first test observation instead, and says how to set a sentence."""
    vocab = dataset.load_vocab(project / "data/autocomplete")
    done = run_stage(project, [f"qqqzx zzyzx {vocab.words[2]}"])  # 2 of 3 words unknown
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: sentence 1: 2 of 3 words are not in the vocabulary; drawing test observation "
        "1 instead (set analysis.sentences in params.yaml to text of this corpus)"
    ]
    split = dataset.load_split(project / "data/autocomplete", "test")
    source, target = (column[0, : split.length[0]] for column in (split.source, split.target))
    views = json.loads(
        (project / "reports/connectivity/seeds/gru/seed0/sentences.json").read_text()
    )
    [view] = views["sentences"]
    assert view["text"] == connectivity.decode(source).strip()
    assert view["targets"] == [vocab.words[t] for t in target]


@pytest.mark.slow  # runs a stage end to end
def test_a_run_killed_between_two_files_leaves_the_old_folder_whole(project: Path) -> None:
    """By hand (outside `dvc repro`, which empties outputs first) a kill after sentences.json
    must not leave it beside the previous run's distance.csv and metrics.json."""
    out = project / "reports/connectivity/seeds/gru/seed0"
    known = dataset.load_vocab(project / "data/autocomplete").words[2]
    assert run_stage(project, [known]).returncode == 0
    old = {path.name: path.read_bytes() for path in out.iterdir()}
    assert sorted(old) == ["distance.csv", "metrics.json", "sentences.json"]
    raw = read_yaml(project / "params.yaml")
    raw["analysis"]["sentences"] = [f"{known} {known}"]  # another figure: other bytes
    write_yaml(project / "params.yaml", raw)
    killed_at_write(stage_argv("connectivity@gru-0"), project, "write_csv", 1)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == old
    assert run_stage(project, [known]).returncode == 0  # the next run clears what was left
    assert [p.name for p in out.parent.iterdir()] == ["seed0"]
