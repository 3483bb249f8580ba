"""params.yaml as DVC reads it: YAML 1.2 numbers, defaults equal to the shipped file, unknown
sections and absurd sizes refused in one line with the allowed range."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from rnnmem import params
from rnnmem.stage import UserError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text())


def _has_default(field: dataclasses.Field) -> bool:
    return field.default is not dataclasses.MISSING or (
        field.default_factory is not dataclasses.MISSING
    )


@pytest.mark.parametrize(
    ("cls", "shipped"),
    [
        (params.CorpusParams, SHIPPED["corpus"]),
        (params.DatasetParams, SHIPPED["dataset"]),
        (params.TrainParams, SHIPPED["train"]),
        (params.AnalysisParams, SHIPPED["analysis"]),
        (params.ModelParams, SHIPPED["models"]["nlstm"]),  # the one model with every key
    ],
)
def test_every_default_equals_the_shipped_params(cls, shipped) -> None:
    # train.seed is the one field params.yaml does not hold: each run takes it from `seeds`.
    fields = [f for f in dataclasses.fields(cls) if (cls, f.name) != (params.TrainParams, "seed")]
    for field in fields:
        assert field.name in shipped, f"{cls.__name__}.{field.name} is not in params.yaml"
        if _has_default(field):
            default = field.default if field.default is not dataclasses.MISSING else None
            assert default == shipped[field.name], f"{cls.__name__}.{field.name}"
    assert set(shipped) == {f.name for f in fields}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_yaml_1_2_numbers_as_dvc_reads_them(tmp_path: Path) -> None:
    text = "train:\n  learning_rate: 3e-3\n  epochs: 2e0\n"
    train = params.load("train", _write(tmp_path, text))
    assert train.learning_rate == pytest.approx(0.003)
    assert train.epochs == 2 and isinstance(train.epochs, int)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trian:\n  epochs: 1\n", "unknown section trian; allowed: corpus, dataset, train"),
        ("corpus:\n  probe_chars: 1000000000000\n", "from 10,000 to 500,000,000"),
        (
            "corpus:\n  probe_chars: 1e12\n",
            "corpus.probe_chars = 1000000000000.0; allowed: an integer from 10,000",
        ),
        ("train:\n  epochs: 1000000000\n", "train.epochs = 1000000000; allowed: an integer from"),
        ("train:\n  seed: 1180591620717411303424\n", "from 0 to 4,294,967,295"),
        ("train:\n  learning_rate: 1e9\n", "a number > 0 and <= 10"),
        ("dataset:\n  max_length: 100000000\n", "from 2 to 100,000"),
        ("analysis:\n  sentences: [x]\n  top_k: 3\n  top_k: 4\n", "not valid YAML at line"),
        ("analysis:\n  sentences: ['" + "a" * 1001 + "']\n", "each of 1 to 1,000 characters"),
        ("[1, 2]\n", "must be a mapping of sections"),
    ],
)
def test_bad_params_are_one_line_with_the_allowed_range(tmp_path, text, message) -> None:
    section = next((s for s in ("corpus", "train", "dataset", "analysis") if s in text), "train")
    with pytest.raises(UserError) as caught:
        params.load(section, _write(tmp_path, text))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_model_sizes_are_bounded(tmp_path: Path) -> None:
    path = _write(tmp_path, "models:\n  gru: {units: 1000000000, layers: 1}\n")
    with pytest.raises(UserError, match=r"models.gru.units = 1000000000; allowed: an integer"):
        params.load_model("gru", path)
