"""params.yaml as DVC reads it: YAML 1.2 numbers, a schema without defaults that mirrors the
shipped file, unknown sections and absurd sizes refused in one line with the allowed range."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from shipped import params_file

from rnnmem import params
from rnnmem.stage import UserError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text())


def test_the_schema_mirrors_params_yaml_and_holds_no_default() -> None:
    """Every field is a key of params.yaml and every key a field, and no field has a default:
    a value lives in params.yaml alone (a profile changes it there)."""
    sections = {name: cls for name, cls in params.SECTIONS.items() if dataclasses.is_dataclass(cls)}
    assert set(params.SECTIONS) == set(SHIPPED)
    for name, cls in sections.items():
        assert [f.name for f in dataclasses.fields(cls)] == list(SHIPPED[name]), name
    for kind, model in SHIPPED["models"].items():
        fields = [f.name for f in dataclasses.fields(params.ModelParams)]
        assert set(model) == set(fields) - ({"depth"} if kind != "nlstm" else set()), kind
    for cls in [*sections.values(), params.ModelParams, params.Params]:
        for field in dataclasses.fields(cls):
            assert field.default is dataclasses.MISSING, f"{cls.__name__}.{field.name}"
            assert field.default_factory is dataclasses.MISSING, f"{cls.__name__}.{field.name}"


def _write(tmp_path: Path, text: str) -> Path:
    """The shipped params.yaml with `text` (YAML, as written) merged in."""
    return params_file(tmp_path, text)


def test_yaml_1_2_numbers_as_dvc_reads_them(tmp_path: Path) -> None:
    text = "train:\n  learning_rate: 3e-3\n  epochs: 2e0\n"
    train = params.load(_write(tmp_path, text)).train
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
        ("seeds: [1180591620717411303424]\n", "from 0 to 4,294,967,295"),  # a run's seed
        ("train:\n  learning_rate: 1e9\n", "a number > 0 and <= 10"),
        ("dataset:\n  max_length: 100000000\n", "from 2 to 100,000"),
        ("analysis:\n  sentences: [x]\n  top_k: 3\n  top_k: 4\n", "not valid YAML at line"),
        ("analysis:\n  sentences: ['" + "a" * 1001 + "']\n", "each of 1 to 1,000 characters"),
        # 600 characters as written, 1,200 once digits are spelled out as the model reads them
        ("analysis:\n  sentences: ['" + "1 " * 300 + "']\n", "1,000 characters as the model"),
        ("[1, 2]\n", "must be a mapping of sections"),
    ],
)
def test_bad_params_are_one_line_with_the_allowed_range(tmp_path, text, message) -> None:
    with pytest.raises(UserError) as caught:
        params.load(_write(tmp_path, text))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_model_sizes_are_bounded(tmp_path: Path) -> None:
    path = _write(tmp_path, "models:\n  gru: {units: 1000000000, layers: 1}\n")
    with pytest.raises(UserError, match=r"models.gru.units = 1000000000; allowed: an integer"):
        params.load(path)


# ---------------------------------------------------------------- degenerate settings
# Valid-looking values under which a headline number could not mean anything: refused when
# the parameters are read, in one line naming the value(s) and what is allowed.


def _refused(path: Path) -> str:
    """The one-line error of loading `path`."""
    with pytest.raises(UserError) as caught:
        params.load(path)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_a_one_word_vocabulary_is_refused(tmp_path: Path) -> None:
    """One word is every guess and always right: accuracy 1.0 [1.0, 1.0] means nothing."""
    message = _refused(_write(tmp_path, "dataset:\n  vocab_size: 1\n"))
    assert "dataset.vocab_size = 1; allowed: an integer from 2 to 1,000,000" in message
    assert params.load(_write(tmp_path, "dataset:\n  vocab_size: 2\n")).dataset.vocab_size == 2


@pytest.mark.parametrize(
    ("text", "longest", "max_length"),
    [
        ("memory:\n  windows: [10000]\n", 10000, 200),  # on 200-character observations
        ("dataset:\n  max_length: 2\n", 100, 2),  # the default windows on 2 characters
        ("dataset:\n  max_length: 50\nmemory:\n  windows: [5, 50]\n", 50, 50),  # equal
    ],
)
def test_a_window_not_shorter_than_an_observation_is_refused(
    tmp_path: Path, text: str, longest: int, max_length: int
) -> None:
    """Such a window sees whole observations: its "effective context" is full context."""
    message = _refused(_write(tmp_path, text))
    assert f"memory.windows holds {longest} but dataset.max_length = {max_length}" in message
    assert "keep every window below dataset.max_length" in message
    fits = "dataset:\n  max_length: 51\nmemory:\n  windows: [5, 50]\n"
    assert params.load(_write(tmp_path, fits)).memory.windows == [5, 50]


def test_duplicate_windows_are_refused(tmp_path: Path) -> None:
    """A repeated window would be a repeated row of the ablation table and its plot."""
    message = _refused(_write(tmp_path, "memory:\n  windows: [5, 5, 50]\n"))
    assert "memory.windows = [5, 5, 50]; allowed: a list of 1 to 20 distinct window" in message


@pytest.mark.parametrize("seeds", ["[1.0]", "[0, 1e0]", "[2e0]", "[true]"])
def test_seeds_must_be_written_as_integers(tmp_path: Path, seeds: str) -> None:
    """DVC names the stages after the seed as written (train@gru-1.0) and passes it to
    stages that parse an integer: a float there fails far from its cause."""
    message = _refused(_write(tmp_path, f"seeds: {seeds}\n"))
    assert "params.yaml: seeds = " in message
    assert "written without a decimal point or exponent" in message
    assert params.load(_write(tmp_path, "seeds: [0, 1]\n")).seeds == [0, 1]
