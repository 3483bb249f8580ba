"""Damaged or foreign model files are refused with one line, never run with garbage weights."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rnnmem
from rnnmem import cli
from rnnmem.data.dataset import CHARS
from rnnmem.errors import InputError
from rnnmem.models.checkpoint import ModelSpec, load_model, save_model

SRC = Path(rnnmem.__file__).resolve().parents[1]  # the rnnmem under test


def _saved(path: Path) -> tuple[torch.nn.Module, ModelSpec]:
    torch.manual_seed(0)
    spec = ModelSpec("gru", len(CHARS), 40, 16, 1, None, "reference")
    model = spec.build()
    save_model(path, model, spec, {"seed": 0})
    return model, spec


def test_flipped_weight_bytes_fail_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "gru" / "model.pt"
    model, _ = _saved(path)
    data = bytearray(path.read_bytes())
    weights = model.state_dict()["dense.weight"].numpy().tobytes()
    start = data.find(weights) + len(weights) // 2
    assert start > len(weights) // 2
    data[start : start + 64] = bytes(b ^ 0xFF for b in data[start : start + 64])
    path.write_bytes(bytes(data))
    # torch alone reads the damaged file without complaint: the weights just differ.
    stored = torch.load(path, weights_only=True)["state_dict"]["dense.weight"]
    assert not torch.equal(stored, model.state_dict()["dense.weight"])
    with pytest.raises(InputError, match=r"fails its checksum"):
        load_model(path)


def test_edited_spec_or_meta_fail_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "gru" / "model.pt"
    _saved(path)
    stored = torch.load(path, weights_only=True)
    stored["meta"]["seed"] = 1
    torch.save(stored, path)
    with pytest.raises(InputError, match="fails its checksum"):
        load_model(path)
    del stored["sha256"]
    torch.save(stored, path)
    with pytest.raises(InputError, match=r"has no checksum"):
        load_model(path)


class _Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_malicious_pickle_is_one_line_without_warnings(tmp_path: Path) -> None:
    path = tmp_path / "gru" / "model.pt"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"spec": _Exploit()}, protocol=4))  # torch warns on this one
    code = (
        "from rnnmem.models.checkpoint import load_model\n"
        "from rnnmem.stage import made_by, run_stage\n"
        f"made_by({{{str(path)!r}: 'train@gru-0'}})\n"
        f"run_stage(lambda: load_model({str(path)!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1 and "pwned" not in done.stdout
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: model file"), done.stderr
    assert "objects other than weights" in done.stderr and "dvc repro train@gru-0" in done.stderr


def test_a_vocabulary_shorter_than_the_model_is_named(tmp_path: Path, capsys) -> None:
    _saved(tmp_path / "models" / "gru" / "seed0" / "model.pt")  # predicts 40 words
    words = ["<pad>", "<unknown>", "the", "of"]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "vocab.json").write_text(json.dumps({"chars": CHARS, "words": words}))
    args = ["--models-dir", str(tmp_path / "models"), "--data-dir", str(tmp_path / "data")]
    with pytest.raises(SystemExit):
        cli.main(["autocomplete", "the o", *args])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "predicts 40 words but the vocabulary has 4" in err
    assert "dvc repro train@gru-0" in err
