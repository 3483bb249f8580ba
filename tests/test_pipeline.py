"""End to end: the pipeline behaves as a DVC user expects, precise reruns and all.

A tiny configuration (seconds per stage) is reproduced once in a temporary git
repository; every test then works on its own copy of that repository, so the
tests are independent and each can fail on its own.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from pipeline_repo import (
    KINDS,
    ROOT,
    RUN_STAGES,
    commit,
    environment,
    killed_at_write,
    repro,
    set_params,
    sh,
    stage_argv,
)

pytestmark = pytest.mark.slow  # end to end: the slow tier


@pytest.fixture
def repo(reproduced: Path, tmp_path: Path) -> Path:
    """A private copy of the reproduced repository (git history, DVC cache and outputs)."""
    copy = tmp_path / "repo"
    shutil.copytree(reproduced, copy, symlinks=True)
    return copy


def test_second_repro_runs_nothing(repo):
    assert repro(repo) == set()
    assert "up to date" in sh(repo, "dvc", "status").stdout.lower()


def test_dataset_change_invalidates_what_reads_the_dataset_not_the_download(repo):
    """Rebuilding the dataset leaves every stage that reads it out of date, and the report,
    which shows the dataset params (other tests show that a rerun carries on to the
    summaries); the download stays cached. The long-range probe reads the vocabulary and
    plants its late pairs past the observation length."""
    set_params(repo, **{"dataset.max_length": 50})
    assert repro(repo, "build") == {"build"}
    stale = set(json.loads(sh(repo, "dvc", "status", "--json").stdout))
    per_run = {f"{stage}@{kind}-0" for stage in RUN_STAGES for kind in KINDS}
    assert stale == {"baseline", "longprobe", *per_run, "report"}


def test_source_edit_reruns_the_stages_that_use_it(repo):
    """A comment changes no result, so the stages downstream of the rerun ones stay cached."""
    for module, expected in [
        ("analysis/connectivity.py", {f"connectivity@{kind}-0" for kind in KINDS}),
        ("report/plots.py", {"report"}),
    ]:
        edit(repo / "src" / "rnnmem" / module)
        assert repro(repo) == expected, module
    # Retraining gives byte-identical models, so nothing that reads a model reruns; the train
    # stage's metrics record the new training time, which aggregation and the report carry.
    edit(repo / "src" / "rnnmem" / "training" / "train.py")
    retrained = {f"train@{kind}-0" for kind in KINDS}
    summaries = {f"aggregate@{kind}" for kind in KINDS} | {"compare", "report"}
    assert repro(repo) == retrained | summaries


def edit(module: Path) -> None:
    module.write_text(module.read_text() + "\n# edited\n")


def test_model_change_reruns_only_that_model_and_branches_compare(repo, tmp_path):
    """On a branch that widens the GRU only the GRU's stages and the summaries rerun; then
    `dvc metrics diff` and `dvc plots diff` set both branches side by side."""
    sh(repo, "git", "checkout", "-q", "-b", "wider")
    set_params(repo, **{"models.gru.units": 12})
    gru = {f"{stage}@gru-0" for stage in RUN_STAGES}
    assert repro(repo) == {*gru, "aggregate@gru", "compare", "report"}
    commit(repo, "wider gru")

    diff = json.loads(sh(repo, "dvc", "metrics", "diff", "main", "--all", "--json").stdout)
    gru = diff["reports/metrics/gru.json"]
    assert gru["cross_entropy"]["old"] != gru["cross_entropy"]["new"]
    assert {"old", "new"} <= set(gru["accuracy"]) & set(gru["accuracy_ci_low"])

    out = tmp_path / "plots"
    sh(repo, "dvc", "plots", "diff", "main", "-o", str(out))
    html = (out / "index.html").read_text()
    assert "Prefix accuracy" in html
    assert "reports/train/gru/seed0/plots/metrics/train/loss.tsv" in html
    assert "main" in html and "workspace" in html


def _encodings(node) -> list[dict]:
    """Every x/y encoding in a Vega-Lite spec, layers included."""
    found = []
    if isinstance(node, dict):
        encoding = node.get("encoding", {})
        found += [encoding[axis] for axis in ("x", "y") if isinstance(encoding.get(axis), dict)]
        for value in node.values():
            found += _encodings(value)
    elif isinstance(node, list):
        for value in node:
            found += _encodings(value)
    return found


def test_plots_show_draws_every_panel_on_its_axes(repo):
    """`dvc plots show` as a user sees it: every panel plots a real column against a real
    column (never against a row index), and connectivity by distance on a log scale."""
    panels = json.loads(sh(repo, "dvc", "plots", "show", "--json").stdout)["data"]
    assert len(panels) >= 10
    # Every model on one training panel, each a line of its own.
    [valid] = [name for name in panels if name.startswith("Validation loss by step")]
    lines = {row["field"] for row in panels[valid][0]["content"]["data"]["values"]}
    assert lines == set(KINDS), lines
    for name, entries in panels.items():
        for entry in entries:
            spec = entry["content"]
            rows = spec["data"]["values"]
            assert rows, f"{name} draws no data"
            fields = {e["field"] for e in _encodings(spec) if "field" in e}
            x = {f for f in fields if f in {"step", "k", "distance", "window"}}
            assert len(x) == 1, f"{name}: x axis {x}"
            if "train/" not in name and "by step" not in name:  # real step columns
                assert x != {"step"}, f"{name} is drawn against the row index"
            assert all(f in rows[0] or f == "rev" for f in fields - x), (name, fields)
            if "onnectivity by distance" in name or name.endswith("distance.csv"):
                scales = [e.get("scale", {}).get("type") for e in _encodings(spec)]
                assert "log" in scales, f"{name} is not on a log scale"


def test_adding_a_seed_runs_only_its_stages_and_the_summaries(repo):
    done = sh(repo, "dvc", "exp", "run", "-n", "two-seeds", "-S", "seeds=[0,1]")
    ran = set(re.findall(r"Running stage '([^']+)'", done.stdout))
    new_seed = {f"{stage}@{kind}-1" for stage in RUN_STAGES for kind in KINDS}
    summaries = {f"aggregate@{kind}" for kind in KINDS} | {"compare", "report"}
    assert ran == new_seed | summaries
    diff = json.loads(sh(repo, "dvc", "metrics", "diff", "main", "--json").stdout)
    gru = diff["reports/metrics/gru.json"]
    assert gru["seeds"] == {"old": 1, "new": 2, "diff": 1}
    assert {"old", "new"} <= set(gru["accuracy_ci_low"])


def test_queued_sweep_runs_and_the_documented_view_leads_with_test_accuracy(repo):
    for units in (10, 12):
        sh(
            repo,
            "dvc",
            "exp",
            "run",
            "--queue",
            "-n",
            f"q{units}",
            "-S",
            f"models.gru.units={units}",
        )
    sh(repo, "dvc", "queue", "start", "--jobs", "2")
    deadline = time.time() + 300
    status = ""
    while time.time() < deadline:
        status = sh(repo, "dvc", "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(2)
    sh(repo, "dvc", "queue", "stop", "--kill", check=False)
    assert status.count("Success") == 2, status

    rows = json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout)
    names = {exp.get("name") for row in rows for exp in (row.get("experiments") or [])}
    assert {"q10", "q12"} <= names
    # The view docs/dvc.md gives: each model's test accuracy and cross entropy, nothing else.
    [view] = [
        line
        for line in (ROOT / "docs" / "dvc.md").read_text().splitlines()
        if line.startswith("dvc exp show --drop")
    ]
    table = sh(repo, *shlex.split(view), "--no-pager", "--csv").stdout.splitlines()
    header = table[0].split(",")
    assert header[0] == "Experiment" and len(header) == 1 + 2 * len(KINDS), header
    assert {f"reports/metrics/{kind}.json:accuracy" for kind in KINDS} < set(header)
    assert {"q10", "q12"} <= {row.split(",")[0] for row in table[1:]}, table


def start_repro(repo: Path, stage: str) -> subprocess.Popen:
    """`dvc repro <stage>` in the background, in its own process group so it can be killed."""
    return subprocess.Popen(
        ["dvc", "repro", stage],
        cwd=repo,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_when_writing(repo: Path, output: str) -> None:
    """Start `dvc repro build`; SIGKILL it while `output` is being written (its temp dir exists)."""
    run = start_repro(repo, "build")
    deadline = time.time() + 120
    while not list((repo / "data").glob(f".{output}.*.tmp")) and time.time() < deadline:
        assert run.poll() is None, f"the stage ended before {output} could be caught half-written"
        time.sleep(0.002)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not (repo / "data" / output).exists()


def test_killed_download_and_build_leave_nothing_trusted(repo):
    set_params(repo, **{"corpus.probe_chars": 3_000_000, "dataset.max_length": 40})
    kill_when_writing(repo, "corpus")
    kill_when_writing(repo, "autocomplete")
    assert repro(repo, "build") == {"build"}
    assert "up to date" in sh(repo, "dvc", "status", "build").stdout.lower()
    test_split = pd.read_parquet(repo / "data" / "autocomplete" / "test.parquet")
    assert test_split["length"].max() <= 40


def run_stage(repo: Path, name: str) -> subprocess.CompletedProcess:
    """Stage `name`'s command alone, as dvc.yaml gives it, outside DVC."""
    return sh(repo, *stage_argv(name, repo), check=False)


def _mark_old(folder: Path) -> dict[str, bytes]:
    """Give every file of `folder` content no run writes, and return it: a later run that
    touches one of them shows."""
    for path in folder.iterdir():
        path.write_bytes(b"old " + path.name.encode())
    return {path.name: path.read_bytes() for path in folder.iterdir()}


@pytest.mark.parametrize(
    ("stage", "call", "folder"),
    [
        ("aggregate@gru", 2, "reports/connectivity/gru"),  # after its metrics.json
        ("aggregate@gru", 4, "reports/memory/gru"),  # after its curve.csv
        ("compare", 2, "reports/plots"),  # after its prefix_accuracy.csv
    ],
)
def test_a_stage_killed_between_two_files_leaves_its_old_folder_whole(repo, stage, call, folder):
    """By hand (as docs/training.md runs torchrun), no `dvc repro` empties the outputs first."""
    old = _mark_old(repo / folder)
    killed_at_write(stage_argv(stage, repo), repo, "write_csv", call)
    assert {path.name: path.read_bytes() for path in (repo / folder).iterdir()} == old
    assert run_stage(repo, stage).returncode == 0
    assert "up to date" in sh(repo, "dvc", "status", stage).stdout.lower()


def test_a_failed_baseline_leaves_its_old_tables_and_metrics(repo):
    """The baseline shares reports/prefix with the models' tables, so it cannot swap the
    folder: it computes everything first and writes its three files as one group."""
    outputs = [repo / "reports" / "prefix" / f"{name}.csv" for name in ("dictionary", "ngram")]
    outputs.append(repo / "reports" / "baseline.json")
    for path in outputs:
        path.write_text("old")
    pairs = repo / "data" / "corpus" / "dependencies.parquet"
    pairs.write_bytes(pairs.read_bytes()[:-20])  # read after both tables are computed
    assert_one_line_error(run_stage(repo, "baseline"), "dependencies.parquet")
    assert [path.read_text() for path in outputs] == ["old"] * 3


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode != 0
    assert done.stderr.startswith("error: "), done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


@pytest.mark.parametrize(
    "change, words",
    [
        ({"dataset.colour": "red"}, ["unknown key dataset.colour"]),
        ({"dataset.max_length": "long"}, ["dataset.max_length", "an integer"]),
        ({"dataset.vocab_size": -3}, ["dataset.vocab_size = -3"]),
        ({"dataset.vocab_size": 1_000_000}, ["vocab_size", "1000000"]),
    ],
)
def test_bad_params_stop_the_stage_cleanly(repo, change, words):
    set_params(repo, **change)
    shutil.rmtree(repo / "data" / "autocomplete")
    assert_one_line_error(run_stage(repo, "build"), *words)
    assert not (repo / "data" / "autocomplete").exists()


def test_corrupt_parquet_is_a_clear_error(repo):
    split = repo / "data" / "autocomplete" / "train.parquet"
    split.write_bytes(split.read_bytes()[:100])
    (repo / "data" / "models" / "gru" / "seed0" / "model.pt").unlink()
    assert_one_line_error(run_stage(repo, "train@gru-0"), "train.parquet")
    assert not (repo / "data" / "models" / "gru" / "seed0" / "model.pt").exists()


def test_corrupt_model_file_is_a_clear_error(repo):
    model = repo / "data" / "models" / "gru" / "seed0" / "model.pt"
    model.write_bytes(model.read_bytes()[:200])
    (repo / "reports" / "metrics" / "seeds" / "gru" / "seed0.json").unlink()
    assert_one_line_error(run_stage(repo, "evaluate@gru-0"), "model.pt")
    assert not (repo / "reports" / "metrics" / "seeds" / "gru" / "seed0.json").exists()


def test_punctuation_only_sentence_is_a_clear_error(repo):
    set_params(repo, **{"analysis.sentences": ["?!... ,;"]})
    out = repo / "reports" / "connectivity" / "seeds" / "gru" / "seed0" / "sentences.json"
    out.unlink()
    assert_one_line_error(run_stage(repo, "connectivity@gru-0"), "sentence")
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 64])
def test_empty_or_binary_corpus_file_is_a_clear_error(repo, content):
    (repo / "corpus.bin").write_bytes(content)
    set_params(repo, **{"corpus.source": "file", "corpus.file_path": "corpus.bin"})
    shutil.rmtree(repo / "data" / "corpus")
    assert_one_line_error(run_stage(repo, "download"), "corpus.bin")
    assert not (repo / "data" / "corpus").exists()
