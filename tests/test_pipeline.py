"""End to end: the pipeline behaves as a DVC user expects, precise reruns and all.

A tiny configuration (seconds per stage) is reproduced once in a temporary git
repository; every test then works on its own copy of that repository, so the
tests are independent and each can fail on its own.
"""

from __future__ import annotations

import dataclasses
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
import yaml
from pipeline_repo import (
    ALL_STAGES,
    KINDS,
    ROOT,
    RUN_STAGES,
    VALIDATE,
    commit,
    environment,
    killed_at_write,
    repro,
    set_params,
    sh,
    stage_argv,
)

from rnnmem import orphans, params
from rnnmem.analysis import registry

pytestmark = pytest.mark.slow  # end to end: the slow tier


@pytest.fixture
def repo(reproduced: Path, tmp_path: Path) -> Path:
    """A private copy of the reproduced repository (git history, DVC cache and outputs)."""
    copy = tmp_path / "repo"
    shutil.copytree(reproduced, copy, symlinks=True)
    return copy


def test_second_repro_runs_nothing(repo):
    """Nothing but the check of the settings, which runs on every `dvc repro`: `dvc status`
    lists it alone, as always changed."""
    assert repro(repo) == set()
    assert json.loads(sh(repo, "dvc", "status", "--json").stdout) == {VALIDATE: ["always changed"]}


def test_dataset_change_invalidates_what_reads_the_dataset_not_the_download(repo):
    """Rebuilding the dataset leaves every stage that reads it out of date, and the report,
    which shows the dataset params (other tests show that a rerun carries on to the
    summaries); the download stays cached. The long-range probe reads the vocabulary and
    plants its late pairs past the observation length."""
    set_params(repo, **{"dataset.max_length": 50})
    assert repro(repo, "build") == {"build"}
    stale = set(json.loads(sh(repo, "dvc", "status", "--json").stdout))
    per_run = {f"{stage}@{kind}-0" for stage in RUN_STAGES for kind in KINDS}
    assert stale == {VALIDATE, "baseline", "longprobe", *per_run, "report"}


def test_source_edit_reruns_the_stages_that_use_it(repo):
    """Code is declared a package at a time: an edit reruns every stage that imports the
    package, and no other; a comment changes no result, so what follows stays cached."""
    summaries = {f"aggregate@{kind}" for kind in KINDS} | {"compare", "report"}
    analysis = {f"{stage}@{kind}-0" for stage in RUN_STAGES if stage != "train" for kind in KINDS}
    for module, expected in [
        ("analysis/connectivity.py", {"baseline", *analysis, *summaries}),
        ("report/plots.py", {"report"}),
    ]:
        edit(repo / "src" / "rnnmem" / module)
        assert repro(repo) == expected, module
    # Retraining gives byte-identical models, so nothing that reads a model reruns; the train
    # stage's metrics record the new training time, which aggregation and the report carry.
    edit(repo / "src" / "rnnmem" / "training" / "train.py")
    retrained = {f"train@{kind}-0" for kind in KINDS}
    assert repro(repo) == retrained | summaries


def test_model_code_edit_reruns_training_and_what_follows_not_the_data(repo):
    """The Nested LSTM's code reruns training, every stage that runs a model and the summaries
    of what they wrote, but neither the download, the dataset, the long-range probe nor the
    n-gram baseline: those read the model kinds from params.yaml (`rnnmem.kinds`), not the
    models' code."""
    edit(repo / "src" / "rnnmem" / "models" / "nested_lstm.py")
    assert repro(repo) == ALL_STAGES - {"download", "build", "longprobe", "baseline"}


def edit(module: Path) -> None:
    module.write_text(module.read_text() + "\n# edited\n")


def test_model_change_reruns_only_that_model_and_branches_compare(repo, tmp_path):
    """On a branch that widens the GRU only the GRU's runs and the summaries rerun; then
    `dvc metrics diff` and `dvc plots diff` set both branches side by side."""
    sh(repo, "git", "checkout", "-q", "-b", "wider")
    set_params(repo, **{"models.gru.units": 12})
    gru = {f"{stage}@gru-0" for stage in RUN_STAGES}
    summaries = {f"aggregate@{kind}" for kind in KINDS} | {"compare", "report"}
    assert repro(repo) == {*gru, *summaries}
    commit(repo, "wider gru")

    diff = json.loads(sh(repo, "dvc", "metrics", "diff", "main", "--all", "--json").stdout)
    gru = diff["reports/headline/gru.json"]
    assert gru["cross_entropy"]["old"] != gru["cross_entropy"]["new"]
    # The intervals are outputs, not metrics: named, they diff all the same (README).
    details = ["--targets", "reports/metrics/gru.json", "--json"]
    gru = json.loads(sh(repo, "dvc", "metrics", "diff", "main", *details).stdout)
    assert {"old", "new"} <= set(gru["reports/metrics/gru.json"]["accuracy_ci_low"])

    out = tmp_path / "plots"
    sh(repo, "dvc", "plots", "diff", "main", "-o", str(out))
    html = (out / "index.html").read_text()
    assert "Prefix accuracy" in html
    assert "reports/train/gru/seed0/plots/metrics/train/loss.tsv" in html
    assert "main" in html and "workspace" in html


def _encodings(node, axes: tuple[str, ...] = ("x", "y")) -> list[dict]:
    """Every encoding of `axes` in a Vega-Lite spec, layers included."""
    found = []
    if isinstance(node, dict):
        encoding = node.get("encoding", {})
        found += [encoding[axis] for axis in axes if isinstance(encoding.get(axis), dict)]
        for value in node.values():
            found += _encodings(value, axes)
    elif isinstance(node, list):
        for value in node:
            found += _encodings(value, axes)
    return found


def _files(node: dict) -> dict[str, dict]:
    """`dvc metrics show --json` of one revision: file -> its values, nested keys flattened."""
    [revision] = node.values()
    return {path: _flat(found["data"]) for path, found in revision["data"].items()}


def _flat(data: dict, prefix: str = "") -> dict:
    """Nested keys joined by ".", as DVC and the report name them."""
    flat = {}
    for key, value in data.items():
        nested = isinstance(value, dict)
        flat |= _flat(value, f"{prefix}{key}.") if nested else {prefix + key: value}
    return flat


def test_what_a_dvc_user_reads_fits_on_a_screen(repo):
    """Between two checkouts that retrain every model (another learning rate), `dvc metrics
    diff` and `dvc metrics show` list each model's headline and nothing else: the registry's
    headline rows, no per-seed duplicates, no interval rows; `dvc exp show` carries no other
    metric. Every figure the registry names is in the file it reads it from."""
    sh(repo, "git", "checkout", "-q", "-b", "faster")
    set_params(repo, **{"train.learning_rate": 0.02})
    retrained = {f"train@{kind}-0" for kind in KINDS}
    assert retrained <= repro(repo)
    commit(repo, "learning rate 0.02")

    files = _files(json.loads(sh(repo, "dvc", "metrics", "show", "--json").stdout))
    assert set(files) == {f"reports/headline/{kind}.json" for kind in KINDS}
    for kind in KINDS:
        written = json.loads((repo / "reports" / "headline" / f"{kind}.json").read_text())
        assert list(written) == list(registry.HEADLINE)
    assert sum(map(len, files.values())) <= 40
    rows = sh(repo, "dvc", "metrics", "diff", "main").stdout.strip().splitlines()[1:]
    assert 0 < len(rows) <= 40, rows
    assert not [row for row in rows if "_ci_" in row or "seeds/" in row], rows
    header = sh(repo, "dvc", "exp", "show", "--csv", "--no-pager").stdout.splitlines()[0]
    metrics = [column for column in header.split(",") if column.startswith("reports/")]
    metrics = [column for column in metrics if ":" in column]
    assert len(metrics) <= 40 and all(c.startswith("reports/headline/") for c in metrics)
    _assert_exp_show_lists_no_noise(header.split(","))

    reports = repo / "reports"
    sources = {
        "dataset": _flat(json.loads((reports / "dataset.json").read_text())),
        "baseline": json.loads((reports / "baseline.json").read_text()),
    }
    for kind in KINDS:
        sources |= {
            "metrics": json.loads((reports / "metrics" / f"{kind}.json").read_text()),
            "memory": json.loads((reports / "memory" / f"{kind}.json").read_text()),
            "connectivity": json.loads(
                (reports / "connectivity" / kind / "metrics.json").read_text()
            ),
        }
        missing = [m.name for m in registry.METRICS if m.name not in sources[m.source]]
        assert not missing, f"{kind}: the registry names {missing}, which no stage writes"


RUN_KEYS = {field.name for field in dataclasses.fields(params.RunSettings)}


def _assert_exp_show_lists_no_noise(columns: list[str]) -> None:
    """`dvc exp show` lists every params.yaml key and every stage dependency: no run setting
    among the keys, one column per package of code (not one per module), one per folder of
    every model's runs (not one per model). The parameters and dependencies are as many as
    docs/dvc.md says, and the table (rev, typ and parent merged into Experiment) no wider than
    it says: a new key or dependency is a new column, and the page states the count."""
    keys = [c for c in columns if ("." in c or c == "seeds") and "/" not in c]
    assert not [c for c in keys if c.split(".")[-1] in RUN_KEYS], keys
    code = [c for c in columns if c.startswith(("src/", "stages/"))]
    assert code and not [c for c in code if c.startswith("src/") and c.count("/") > 2], code
    assert not [c for c in columns if c.startswith("reports/") and c.endswith(KINDS)], columns
    page = re.sub(r"\s+", " ", (ROOT / "docs" / "dvc.md").read_text())
    stated = re.search(
        r"on the default it has (\d+) columns .*? (\d+) parameters .*? (\d+) dependencies", page
    )
    total, parameters, dependencies = map(int, stated.groups())
    assert len(keys) == parameters, keys
    assert len([c for c in columns if "/" in c and ":" not in c]) == dependencies, columns
    assert len(columns) - 3 <= total, (len(columns), columns)


def _declared_plots(repo: Path) -> dict[str, dict]:
    """Every panel dvc.yaml declares, as DVC resolves it: id -> its properties (x, y, ...)."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        [collected] = list(dvc.plots.collect())
    [definitions] = collected.values()
    return {
        panel: props
        for config in definitions["definitions"]["data"].values()
        for panel, props in config["data"].items()
    }


def _column(path: Path, name: str) -> set[str]:
    """A column of a plot table as DVC reads it (text)."""
    sep = "\t" if path.suffix == ".tsv" else ","
    return set(pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)[name])


def test_plots_show_draws_every_panel_on_its_axes(repo):
    """`dvc plots show` as a user sees it: every panel dvc.yaml declares, the combined ones
    included, draws the file's own x column (never a row index) as its x axis, and
    connectivity by distance on a log scale. The combined panels draw one line per model of
    params.yaml (and the baselines or placebos they set beside them)."""
    panels = json.loads(sh(repo, "dvc", "plots", "show", "--json").stdout)["data"]
    declared = _declared_plots(repo)
    assert set(panels) == set(declared) and len(panels) >= 10
    for name, props in declared.items():
        [entry] = panels[name]
        spec = entry["content"]
        rows = spec["data"]["values"]
        assert rows, f"{name} draws no data"
        [source] = props["y"] if isinstance(props.get("y"), dict) else [name]
        [x] = {e["field"] for e in _encodings(spec, ("x",))}
        assert x == props["x"], f"{name}: x axis {x}, declared {props['x']}"
        assert {row[x] for row in rows} == _column(repo / source, x), f"{name}: not its x"
        fields = {e["field"] for e in _encodings(spec) if "field" in e}
        assert all(f in rows[0] for f in fields), (name, fields)
        if isinstance(props.get("y"), dict):  # a combined panel: a line per model
            lines = {row["model"] for row in rows}
            assert (
                set(KINDS)
                <= lines
                <= {*KINDS, "dictionary", "ngram"} | {f"{kind}_placebo" for kind in KINDS}
            ), (name, lines)
        if "onnectivity by distance" in name or name.endswith("distance.csv"):
            scales = [e.get("scale", {}).get("type") for e in _encodings(spec)]
            assert "log" in scales, f"{name} is not on a log scale"


def test_adding_a_seed_runs_only_its_stages_and_the_summaries(repo):
    done = sh(repo, "dvc", "exp", "run", "-n", "two-seeds", "-S", "seeds=[0,1]")
    ran = set(re.findall(r"Running stage '([^']+)'", done.stdout))
    new_seed = {f"{stage}@{kind}-1" for stage in RUN_STAGES for kind in KINDS}
    summaries = {f"aggregate@{kind}" for kind in KINDS} | {"compare", "report"}
    assert ran == {VALIDATE} | new_seed | summaries
    details = ["--targets", "reports/metrics/gru.json", "--json"]
    gru = json.loads(sh(repo, "dvc", "metrics", "diff", "main", *details).stdout)
    gru = gru["reports/metrics/gru.json"]
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
    # The view docs/dvc.md gives: what differs between the experiments, DVC's own option.
    view = next(
        line
        for line in (ROOT / "docs" / "dvc.md").read_text().splitlines()
        if line.startswith("dvc exp show --only-changed")
    )
    table = sh(repo, *shlex.split(view), "--no-pager", "--csv").stdout.splitlines()
    header = table[0].split(",")
    metrics = [column for column in header if ":" in column]
    assert header[0] == "Experiment" and "models.gru.units" in header, header
    assert {f"reports/headline/gru.json:{m}" for m in ("accuracy", "cross_entropy")} <= set(metrics)
    assert all(m.startswith("reports/headline/gru.json:") for m in metrics), metrics
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


def test_a_collaborator_pulls_the_results_and_compares_branches_without_retraining(repo, tmp_path):
    """docs/dvc.md, Sharing: push to a remote (here a local folder), clone and pull: the clone
    is up to date, suggests words with the pulled models and reruns nothing; a branch that
    changes one memory setting reruns the memory stages only, and `dvc metrics diff` sets
    it beside main."""
    sh(repo, "dvc", "remote", "add", "-d", "shared", str(tmp_path / "remote"))
    commit(repo, "the shared remote")
    sh(repo, "dvc", "push", "-q")

    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    sh(clone, "dvc", "pull", "-q")
    # the settings check always runs (always_changed); no other stage is out of date
    assert json.loads(sh(clone, "dvc", "status", "--json").stdout) == {VALIDATE: ["always changed"]}
    text = "the crew near ashford wrote a long song about the sea and the old captain sailed"
    suggested = sh(clone, "rnnmem", "autocomplete", "--model", "all", text).stdout
    assert all(label in suggested for label in ("GRU", "LSTM", "Nested LSTM")), suggested
    assert repro(clone) == set()

    sh(clone, "git", "checkout", "-q", "-b", "one-swap")
    set_params(clone, **{"memory.swaps": 1})
    ran = repro(clone)
    summaries = {f"aggregate@{kind}" for kind in KINDS} | {"compare", "report"}
    assert ran == {f"memory@{kind}-0" for kind in KINDS} | summaries, ran
    commit(clone, "one swap")
    diff = json.loads(sh(clone, "dvc", "metrics", "diff", "main", "--all", "--json").stdout)
    moved = [
        (path, name)
        for path, values in diff.items()
        for name, change in values.items()
        if change["old"] != change["new"]
    ]
    assert set(diff) == {f"reports/headline/{kind}.json" for kind in KINDS}
    assert any(name.startswith("intervention_effect") for _, name in moved), diff


def _outputs(repo: Path) -> dict[str, bytes]:
    """Every model file and snapshot, and every report, by path: what a refused value must
    leave as it was."""
    paths = [*(repo / "data" / "models").rglob("*"), *(repo / "data" / "snapshots").rglob("*")]
    paths += (repo / "reports").rglob("*")
    return {str(p.relative_to(repo)): p.read_bytes() for p in paths if p.is_file()}


def test_a_refused_setting_stops_dvc_before_any_output_is_touched(repo):
    """A typo, a key moved to run.yaml and a refused value are each one line from the
    validate stage, before DVC deletes the outputs of a stage it would rerun (the model, its
    snapshots and curves); once the settings are valid again, nothing reruns."""
    before, shipped = _outputs(repo), (repo / "params.yaml").read_text()
    cases = [
        ({"train.learnig_rate": 0.001}, "params.yaml: unknown key train.learnig_rate; allowed"),
        ({"train.device": "cpu"}, "params.yaml: train.device says how to run"),
        ({"models.gru.learning_rate": 0}, "params.yaml: models.gru.learning_rate = 0; allowed"),
        ({"train.precision": "fp16"}, "params.yaml: train.precision = 'fp16'; allowed"),
        ({}, "params.yaml: models.gru.units = 0; allowed"),  # dvc exp run -S
    ]
    for change, message in cases:
        set_params(repo, **change)
        command = ["repro"] if change else ["exp", "run", "-S", "models.gru.units=0"]
        done = sh(repo, "dvc", *command, check=False)
        assert done.returncode != 0
        assert re.findall(r"Running stage '([^']+)'", done.stdout) == [VALIDATE], done.stdout
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert errors == [errors[0]] and errors[0].startswith(f"error: {message}"), done.stderr
        assert _outputs(repo) == before, change
        (repo / "params.yaml").write_text(shipped)
    assert repro(repo) == set()
    # A single stage skips the check: DVC deletes its outputs, and `dvc checkout` and
    # `git restore` bring them back, as docs/dvc.md says.
    set_params(repo, **{"models.gru.learning_rate": 0})
    assert sh(repo, "dvc", "repro", "-s", "train@gru-0", check=False).returncode != 0
    assert not (repo / "data" / "models" / "gru" / "seed0" / "model.pt").exists()
    (repo / "params.yaml").write_text(shipped)
    sh(repo, "dvc", "checkout", "train@gru-0")
    sh(repo, "git", "restore", "reports")
    assert _outputs(repo) == before


def test_an_edited_corpus_file_reruns_the_download_and_its_old_models_are_refused(repo, tmp_path):
    """A corpus file outside the project is tracked by its digest: an unchanged file reruns
    nothing, an edited one the download and what its text changes. A model trained on the
    old text is then refused by `rnnmem autocomplete`, naming the training to rerun, though
    its vocabulary has the same size (dataset.vocab_size)."""
    words = (repo / "data" / "corpus" / "corpus.txt").read_text().split()
    book = tmp_path / "book.txt"
    book.write_text(" ".join(words[: len(words) // 2]))
    set_params(repo, **{"corpus.source": "file", "corpus.file_path": str(book)})
    assert repro(repo, "build") == {"download", "build"}
    assert repro(repo, "build") == set()
    book.write_text(" ".join(words[len(words) // 2 :]))
    assert repro(repo, "build") == {"download", "build"}
    done = sh(repo, "rnnmem", "autocomplete", "the o", check=False)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "was trained on another vocabulary than the dataset's (152 words" in done.stderr
    assert done.stderr.rstrip().endswith("; run `dvc repro train@gru-0`")


def test_the_files_of_a_model_taken_out_of_params_are_listed_and_deleted(repo):
    """The leftovers of a model no longer in params.yaml, not one file of the run that goes
    on (the real layout: dvclive's files included); the command no longer serves it."""
    assert orphans.leftovers(repo) == []
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    del raw["models"]["nlstm"]
    (repo / "params.yaml").write_text(yaml.safe_dump(raw))
    found = orphans.leftovers(repo)
    assert Path("data/models/nlstm") in found and Path("reports/headline/nlstm.json") in found
    assert all("nlstm" in {part.split(".")[0] for part in path.parts} for path in found), found
    sh(repo, "python", "-m", "rnnmem.orphans", "--delete")
    assert not any((repo / path).exists() for path in found)
    assert (repo / "data" / "models" / "gru" / "seed0" / "model.pt").exists()
    done = sh(repo, "rnnmem", "autocomplete", "--model", "nlstm", "the o", check=False)
    assert "nlstm is not among params.yaml's models (gru, lstm)" in done.stderr
