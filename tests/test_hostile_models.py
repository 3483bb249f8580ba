"""Damaged or foreign model files are refused with one line, never run with garbage weights."""

from __future__ import annotations

import ast
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rnnmem
from rnnmem import cli
from rnnmem.data.dataset import CHARS, Vocab
from rnnmem.errors import InputError
from rnnmem.models.checkpoint import ModelSpec, load_model, save_model

SRC = Path(rnnmem.__file__).resolve().parents[1]  # the rnnmem under test
ROOT = Path(__file__).resolve().parents[1]


WORDS = ["<pad>", "<unknown>", *(a + b for a in "abcdefg" for b in "abcdef")][:40]
VOCAB = Vocab(chars=list(CHARS), words=WORDS)


def _saved(path: Path, vocab: Vocab | None = VOCAB) -> tuple[torch.nn.Module, ModelSpec]:
    """A small GRU saved at `path`, recording `vocab` (None: as files did before digests)."""
    torch.manual_seed(0)
    digest = vocab.digest if vocab is not None else None
    spec = ModelSpec("gru", len(CHARS), len(WORDS), 16, 1, None, "reference", digest)
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


def _autocomplete(tmp_path: Path, words: list[str], capsys) -> str:
    """`rnnmem autocomplete` with the model at tmp_path/models and a dataset of `words`."""
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "vocab.json").write_text(json.dumps({"chars": CHARS, "words": words}))
    args = ["--models-dir", str(tmp_path / "models"), "--data-dir", str(tmp_path / "data")]
    with pytest.raises(SystemExit):
        cli.main(["autocomplete", "the o", *args])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: model file"), err
    return err


@pytest.mark.parametrize(
    "words",
    [
        [*WORDS[:2], WORDS[3], WORDS[2], *WORDS[4:]],  # rebuilt: same size, two ids swapped
        ["<pad>", "<unknown>", "the", "of"],  # rebuilt smaller
    ],
    ids=["same-size", "smaller"],
)
def test_a_model_of_another_vocabulary_is_refused_naming_its_stage(
    tmp_path: Path, capsys, words: list[str]
) -> None:
    """After the dataset is rebuilt (another corpus seed, a `dvc repro build` alone), the
    model's ids name other words: the command refuses it and names the training to rerun."""
    _saved(tmp_path / "models" / "gru" / "seed0" / "model.pt")
    err = _autocomplete(tmp_path, words, capsys)
    assert "was trained on another vocabulary than the dataset's" in err
    assert f"(40 words, {len(words)} in the dataset's)" in err
    assert err.rstrip().endswith("; run `dvc repro train@gru-0`")


def test_a_model_file_without_a_vocabulary_digest_names_its_stage(tmp_path: Path, capsys) -> None:
    """A model file from before digests were recorded cannot be checked: refused, retrain."""
    _saved(tmp_path / "models" / "gru" / "seed0" / "model.pt", vocab=None)
    err = _autocomplete(tmp_path, WORDS, capsys)
    assert "records no vocabulary" in err and "dvc repro train@gru-0" in err
    with pytest.raises(InputError, match="records no vocabulary"):
        load_model(tmp_path / "models" / "gru" / "seed0" / "model.pt", vocab=VOCAB)


def test_the_vocabulary_a_model_was_trained_on_loads_it(tmp_path: Path) -> None:
    model, spec = _saved(tmp_path / "model.pt")
    loaded, loaded_spec, _ = load_model(tmp_path / "model.pt", vocab=Vocab(list(CHARS), WORDS))
    assert loaded_spec == spec and spec.vocab_digest == VOCAB.digest
    assert torch.equal(loaded.dense.weight, model.dense.weight)


def test_every_stage_and_command_loads_a_model_with_its_vocabulary() -> None:
    """Each load_model call of the stage scripts and of the `rnnmem` command hands it the
    dataset's vocabulary, so none reads a model trained on another one."""
    calls = []
    for path in [*sorted((ROOT / "stages").glob("*.py")), SRC / "rnnmem" / "cli.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("load_model"):
                given = len(node.args) >= 3 or any(k.arg == "vocab" for k in node.keywords)
                calls.append((path.name, given))
    assert {name for name, _ in calls} >= {
        "evaluate.py", "connectivity.py", "memory.py", "recall.py", "cli.py"
    }  # fmt: skip
    assert all(given for _, given in calls), calls
