"""The `rnnmem` command against what a user may get wrong: a model or seed params.yaml does not
list (its files left over from an earlier run), a run outside the project, a -k past the
pipeline's bound. Each is one line that names a thing that exists and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from test_hostile_outputs import _cli_error
from test_report import _paths, tiny_models  # noqa: F401 - shared tiny trained models

from rnnmem import cli

ROOT = Path(__file__).resolve().parents[1]


def test_a_seed_params_yaml_does_not_list_names_the_seeds_it_does(
    tiny_models: Path,  # noqa: F811
    capsys: pytest.CaptureFixture,
) -> None:
    """No `train@gru-5` or `train@gru--1`: no such stage exists while seeds is [0]."""
    err = _cli_error(["autocomplete", "--seed", "5", "the o", *_paths(tiny_models)], capsys)
    assert err == (
        "error: seed 5 is not among params.yaml's seeds (0): any model of it is left from an "
        "earlier run; give --seed 0, or add 5 to seeds and run `dvc repro`\n"
    )
    err = _cli_error(["autocomplete", "--seed", "-1", "the o", *_paths(tiny_models)], capsys, 2)
    assert "argument --seed: must be a seed from 0 to 4,294,967,295 (as in params.yaml's " in err
    assert "got -1; see `rnnmem autocomplete --help`" in err


def test_a_model_or_seed_taken_out_of_params_yaml_is_not_served(
    tiny_models: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """Files of the Nested LSTM and of seed 1 are still on disk, but params.yaml no longer
    lists them: the command refuses them, and `--model all` is params.yaml's models."""
    models = tmp_path / "models"
    shutil.copytree(tiny_models / "data" / "models", models)
    shutil.copytree(models / "gru" / "seed0", models / "gru" / "seed1")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    del raw["models"]["nlstm"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    paths = ["--models-dir", str(models), "--data-dir", _paths(tiny_models)[3]]
    err = _cli_error(["autocomplete", "--model", "nlstm", "the o", *paths], capsys)
    assert err.startswith("error: nlstm is not among params.yaml's models (gru, lstm): ")
    assert "give --model gru or lstm, or add models.nlstm to params.yaml and run" in err
    err = _cli_error(["autocomplete", "--seed", "1", "the o", *paths], capsys)
    assert err.startswith("error: seed 1 is not among params.yaml's seeds (0)")
    cli.main(["autocomplete", "--model", "all", "-k", "1", "the o", *paths])
    assert capsys.readouterr().out.splitlines()[0].split() == ["GRU", "LSTM"]


def test_outside_the_project_the_command_says_where_to_run_it(
    tiny_models: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """Not `run dvc repro build`: the dataset may well be there, the command is elsewhere."""
    monkeypatch.chdir(tmp_path)
    err = _cli_error(["autocomplete", "the o", *_paths(tiny_models)], capsys)
    assert err == "error: params.yaml not found; run from the project root (beside dvc.yaml)\n"


@pytest.mark.parametrize("command", ["connectivity", "autocomplete"])
def test_k_is_capped_as_the_pipelines_top_k(
    tiny_models: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    command: str,
) -> None:
    """`connectivity -k 100000` wrote 28.7 MB of HTML for one sentence."""
    out = tmp_path / "figure.html"
    args = [command, "-k", "100000", "the o", *_paths(tiny_models)]
    err = _cli_error([*args, "-o", str(out)] if command == "connectivity" else args, capsys, 2)
    assert "argument -k: must be from 1 to 10 (as analysis.top_k), got 100000" in err
    assert not out.exists()
