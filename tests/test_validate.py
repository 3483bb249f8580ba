"""The validate stage, run first by every `dvc repro`: all of params.yaml and run.yaml checked
(a typo, a key in the wrong file, a model too large for this machine: one line, nothing
written), and a record that changes only with the user's corpus file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from pipeline_repo import stage_argv
from shipped import params_file, run_file


def _validate(root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RNNMEM_DEBUG"}
    return subprocess.run(
        stage_argv("validate"), cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow  # runs the stage four times
def test_the_record_changes_only_with_the_corpus_file(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    params_file(root, "{}")
    run_file(root, device="cpu")
    record = root / "data" / "validated.json"
    assert _validate(root).returncode == 0
    assert json.loads(record.read_text()) == {"settings": "valid", "corpus_file_sha256": None}
    book = tmp_path / "elsewhere" / "book.txt.gz"  # anywhere, compressed or not
    book.parent.mkdir()
    book.write_bytes(b"the text as it is on disk")
    params_file(root, f"corpus:\n  source: file\n  file_path: {book}\n")
    for _ in range(2):  # the same file: the same record, byte for byte
        assert _validate(root).returncode == 0
        digest = hashlib.sha256(book.read_bytes()).hexdigest()
        assert json.loads(record.read_text())["corpus_file_sha256"] == digest
    book.write_bytes(b"the text, edited")
    assert _validate(root).returncode == 0
    assert json.loads(record.read_text())["corpus_file_sha256"] != digest


@pytest.mark.parametrize(
    ("params", "run", "message"),
    [
        (
            "train:\n  learnig_rate: 0.001\n",
            {},
            "params.yaml: unknown key train.learnig_rate; allowed keys: batch_size, epochs",
        ),
        ("{}", {"device": "gpu"}, "run.yaml: device = 'gpu'; allowed: one of 'auto', 'cpu'"),
        (
            "models:\n  gru: {units: 8192, layers: 64}\n",
            {},
            "models.gru: 8,192 units in 64 layers make 25,781,584,898 parameters, about 413 GB "
            "to train (weights, gradients and Adam's two moments at 4 bytes each), more than "
            "this machine's memory",
        ),
    ],
    ids=["typo", "run.yaml", "too-large"],
)
def test_a_refused_setting_is_one_line_and_writes_nothing(
    tmp_path: Path, params: str, run: dict, message: str
) -> None:
    params_file(tmp_path, params)
    run_file(tmp_path, **{"device": "cpu", **run})
    done = _validate(tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: {message}"), done.stderr
    assert not (tmp_path / "data").exists()
