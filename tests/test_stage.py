"""The stage runner: one-line errors naming the stage to rerun, and outputs that appear whole
or not at all."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnmem.errors import FixableError, InputError
from rnnmem.files import atomic_dir, atomic_path, json_text, significant, write_csv, write_json
from rnnmem.stage import UserError, made_by, parse_arguments, run_stage


def run_failing(exc, capsys, monkeypatch, debug=False):
    if debug:
        monkeypatch.setenv("RNNMEM_DEBUG", "1")
    else:
        monkeypatch.delenv("RNNMEM_DEBUG", raising=False)

    def main():
        raise exc

    with pytest.raises(SystemExit) as stop:
        run_stage(main)
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    "exc, expected",
    [
        (UserError("dataset missing; run `dvc repro build`"), "error: dataset missing; run"),
        (FixableError("no letters a-z; give a word"), "error: no letters a-z; give a word\n"),
        (OSError(errno.ENOSPC, "No space left on device", "data/x"), "no space left on device"),
        (OSError(errno.EROFS, "Read-only file system", "reports/a"), "make the output directory"),
        (ValueError("boom"), "unexpected ValueError: boom (set RNNMEM_DEBUG=1"),
    ],
)
def test_failures_print_one_line(exc, expected, capsys, monkeypatch):
    code, err = run_failing(exc, capsys, monkeypatch)
    assert code == 1
    assert err.startswith(expected) or expected in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_missing_input_names_the_stage_that_writes_it(capsys, monkeypatch):
    """The library names the file; the stage says which stage writes it, and an input no
    stage was named for gets no invented fix."""
    made_by({"data/autocomplete": "build", "data/models/gru/seed0/model.pt": "train@gru-0"})
    cases = {
        "data/autocomplete/vocab.json": "; run `dvc repro build`",
        "data/models/gru/seed0/model.pt": "; run `dvc repro train@gru-0`",
        "data/models/gru/seed1/model.pt": "",
        "data/autocompleted/vocab.json": "",  # a sibling, not under the folder
    }
    for path, fix in cases.items():
        _, err = run_failing(InputError(f"{path} not found", path), capsys, monkeypatch)
        assert err == f"error: {path} not found{fix}\n"


def test_a_file_a_library_could_not_find_is_named_with_its_stage(capsys, monkeypatch, tmp_path):
    """pyarrow raises FileNotFoundError with the path as its only argument (no errno, no
    filename): the line still says what is missing and which stage writes it."""
    made_by({"data/natural": "baseline"})
    monkeypatch.chdir(tmp_path)
    try:
        pd.read_parquet("data/natural/items.parquet")
    except FileNotFoundError as err:
        raised = err
    _, err = run_failing(raised, capsys, monkeypatch)
    assert err == "error: data/natural/items.parquet not found; run `dvc repro baseline`\n"
    _, err = run_failing(
        FileNotFoundError(errno.ENOENT, "No such file", "x.csv"), capsys, monkeypatch
    )
    assert err == "error: x.csv not found\n"


def test_a_stage_opens_with_its_model_seed_and_paths_and_who_writes_its_inputs(capsys, monkeypatch):
    """`parse_arguments`: the positionals a stage asks for, its path options, and the stage
    that remakes each input, formatted with this run's model and seed."""
    argv = ["evaluate.py", "lstm", "3", "--data", "d", "--model", "m/seed3/model.pt", "--out", "o"]
    monkeypatch.setattr(sys, "argv", argv)
    args = parse_arguments(
        "Stage `x`: one line.\n\nMore.",
        kinds=("gru", "lstm"),
        seed=True,
        makers={"data": "build", "model": "train@{kind}-{seed}"},
        data="the dataset folder",
        model="the trained model file",
        out="the output folder",
    )
    assert (args.kind, args.seed) == ("lstm", 3)
    assert (args.data, args.model, args.out) == (Path("d"), Path("m/seed3/model.pt"), Path("o"))
    for path, fix in [("m/seed3/model.pt", "train@lstm-3"), ("d/vocab.json", "build")]:
        _, err = run_failing(InputError(f"{path} not found", path), capsys, monkeypatch)
        assert err == f"error: {path} not found; run `dvc repro {fix}`\n"
    _, err = run_failing(InputError("o/x.json not found", "o/x.json"), capsys, monkeypatch)
    assert err == "error: o/x.json not found\n"  # an output: no stage named for it


def test_debug_flag_keeps_the_traceback(capsys, monkeypatch):
    with pytest.raises(ValueError):
        run_failing(ValueError("boom"), capsys, monkeypatch, debug=True)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "file.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"


def test_significant_keeps_six_digits_at_any_magnitude():
    assert significant(1 / 3) == 0.333333
    assert significant(123456789.0) == 123457000.0
    assert significant(2.4999999e-91) == 2.5e-91
    assert significant(0.0) == 0.0


def test_write_csv_rounds_to_six_significant_digits_unless_told(tmp_path):
    frame = pd.DataFrame({"k": [0, 1], "share": [1 / 3, 2.5e-91]})
    write_csv(tmp_path / "a.csv", frame)
    assert (tmp_path / "a.csv").read_text() == "k,share\n0,0.333333\n1,2.5e-91\n"
    write_csv(tmp_path / "b.csv", frame, float_format=None)  # full precision reads back exactly
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "b.csv"), frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]  # no temp files


def _strict(text: str):
    """JSON as the standard has it: a bare NaN or Infinity is refused, not read."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in {text}"))


def test_json_is_written_with_null_for_what_could_not_be_measured(tmp_path):
    """NaN and infinities, numpy's too, become null; numpy scalars are Python numbers;
    anything else JSON cannot hold is refused before a file is touched."""
    data = {
        "loss": float("nan"),
        "span": [float("inf"), -np.inf, np.float32(0.5), np.int64(3), np.bool_(True)],
        "nested": ({"gap": np.float64("nan")},),
    }
    text = json_text(data)
    assert _strict(text) == {
        "loss": None,
        "span": [None, None, 0.5, 3, True],
        "nested": [{"gap": None}],
    }
    assert text.endswith("}\n") and "NaN" not in text and "Infinity" not in text
    assert json_text([1.5, np.nan], indent=None) == "[1.5, null]\n"
    write_json(tmp_path / "m.json", {"auc": np.float64("inf")})
    assert _strict((tmp_path / "m.json").read_text()) == {"auc": None}
    for value in (object(), {1, 2}, np.array([1.0, 2.0]), b"bytes"):  # not JSON: refused
        with pytest.raises(TypeError):
            write_json(tmp_path / "refused.json", {"value": [value]})
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # and nothing written


def test_atomic_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "corpus"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("2")
            raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


def test_read_only_directory_is_a_clear_error(tmp_path):
    """A real read-only directory (chattr +i binds root too) gives one line, no traceback."""
    locked = tmp_path / "locked"
    locked.mkdir()
    code = "from rnnmem.files import write_text\nfrom rnnmem.stage import run_stage\n"
    code += f"run_stage(lambda: write_text({str(locked / 'out.json')!r}, '{{}}'))\n"
    set_read_only(locked, True)
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    finally:
        set_read_only(locked, False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot write")
    assert "make the output directory writable" in done.stderr
    assert done.stderr.count("\n") == 1


def set_read_only(directory, read_only):
    """chmod does not stop root (CI runs as root); the immutable attribute does."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if read_only else "-i", str(directory)], check=True)
    else:
        directory.chmod(0o555 if read_only else 0o755)


def test_a_stage_that_computes_runs_with_subnormals_flushed_and_restores_them():
    """With torch loaded, a stage's `main` runs with subnormal floats flushed to zero (speed
    only), and the process's default is back afterwards, failure or not."""
    import torch

    seen = []

    def main():
        seen.append(float(torch.tensor([1e-40]) * 1.0))

    run_stage(main)
    assert seen == [0.0] and float(torch.tensor([1e-40]) * 1.0) > 0.0

    def failing():
        seen.append(float(torch.tensor([1e-40]) * 1.0))
        raise UserError("stop")

    with pytest.raises(SystemExit):
        run_stage(failing)
    assert seen[-1] == 0.0 and float(torch.tensor([1e-40]) * 1.0) > 0.0
