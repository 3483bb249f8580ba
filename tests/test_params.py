"""params.yaml validation: every bad value stops with one line naming key, value and rule."""

from pathlib import Path

import pytest
import yaml

from rnnmem import params
from rnnmem.stage import UserError


def write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_defaults_fill_missing_keys(tmp_path):
    path = write(tmp_path, "dataset:\n  vocab_size: 10\n")
    ds = params.load("dataset", path)
    assert ds.vocab_size == 10 and ds.max_length == 200


def test_repository_params_are_valid():
    assert params.load("corpus").source == "probe"  # the offline default
    for section in ("dataset", "train", "analysis"):
        assert params.load(section) is not None
    assert params.load("analysis").sentences, "the default profile needs an analysis sentence"
    assert [params.load_model(kind).depth for kind in params.MODEL_KINDS][-1] == 2


def test_paper_profile_is_valid():
    for section in ("corpus", "dataset", "train", "analysis"):
        params.load(section, "profiles/paper.yaml")
    spec = params.load_model("nlstm", "profiles/paper.yaml")
    assert (spec.units, spec.layers, spec.depth) == (600, 1, 2)


def _keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= _keys(value, f"{prefix}{key}.")
    return keys


@pytest.mark.parametrize("profile", sorted(Path("profiles").glob("*.yaml")), ids=str)
def test_every_profile_sets_every_key_the_default_sets(profile):
    """A profile missing a key would silently take the default's value (say its step cap)."""
    shipped = _keys(yaml.safe_load(Path("params.yaml").read_text()))
    assert _keys(yaml.safe_load(profile.read_text())) == shipped
    for section in ("corpus", "dataset", "train", "analysis", "memory"):
        params.load(section, profile)
    assert params.load_seeds(profile)


@pytest.mark.parametrize(
    "text, message",
    [
        ("dataset:\n  vocab: 10\n", "unknown key dataset.vocab"),
        ("dataset:\n  vocab_size: ten\n", "dataset.vocab_size = 'ten'; allowed: an integer"),
        (
            "dataset:\n  vocab_size: -5\n",
            "dataset.vocab_size = -5; allowed: an integer from 2 to 1,000,000",
        ),
        ("dataset:\n  vocab_size: true\n", "allowed: an integer"),
        ("dataset:\n  valid_fraction: 1.5\n", "strictly between 0 and 1"),
        ("dataset:\n  valid_fraction: 0.5\n  test_fraction: 0.5\n", "a sum < 1"),
        ("dataset: [1, 2]\n", "dataset must be a mapping"),
        ("dataset:\n  vocab_size: 10\n   max_length: 3\n", "not valid YAML"),
    ],
)
def test_bad_dataset_section(tmp_path, text, message):
    with pytest.raises(UserError) as err:
        params.load("dataset", write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("train:\n  device: gpu\n", "train.device = 'gpu'; allowed: one of 'auto', 'cpu', 'cuda'"),
        ("train:\n  learning_rate: .nan\n", "train.learning_rate"),
        ("train:\n  clip_grad_norm: -1\n", "a number from 0 to 1e6"),
    ],
)
def test_bad_train_section(tmp_path, text, message):
    with pytest.raises(UserError) as err:
        params.load("train", write(tmp_path, text))
    assert message in str(err.value)


def test_model_sections(tmp_path):
    text = "models:\n  gru: {units: 8, layers: 1}\n  lstm: {units: 8, layers: 1, depth: 2}\n"
    path = write(tmp_path, text)
    assert params.load_model("gru", path).units == 8
    with pytest.raises(UserError, match="only models.nlstm has a depth"):
        params.load_model("lstm", path)
    with pytest.raises(UserError, match="missing section models.nlstm"):
        params.load_model("nlstm", path)
    with pytest.raises(UserError, match="unknown model 'rnn'"):
        params.load_model("rnn", path)
    with pytest.raises(UserError, match="unknown key models.transformer"):
        params.load_model("gru", write(tmp_path, text + "  transformer: {units: 1, layers: 1}\n"))


def test_sentences_must_be_strings(tmp_path):
    with pytest.raises(UserError, match="a list whose items are each a string"):
        params.load("analysis", write(tmp_path, "analysis:\n  sentences: [1, 2]\n"))


def test_a_model_may_set_its_own_learning_rate(tmp_path):
    path = write(
        tmp_path,
        "train:\n  learning_rate: 0.003\nseeds: [0, 4]\nmodels:\n"
        "  gru: {units: 8, layers: 1}\n  lstm: {units: 8, layers: 1, learning_rate: 1e-2}\n",
    )
    gru, gru_train = params.load_run("gru", 4, path)
    lstm, lstm_train = params.load_run("lstm", 4, path)
    assert gru.learning_rate is None and gru_train.learning_rate == 0.003
    assert lstm.learning_rate == 0.01 and lstm_train.learning_rate == 0.01
    assert gru_train.seed == lstm_train.seed == 4
    assert "learning_rate" not in lstm.architecture()  # the model file's spec: shape only
    for bad, allowed in [("0", "null or a number > 0"), ("fast", "a number or null")]:
        broken = write(tmp_path, f"models:\n  gru: {{units: 8, layers: 1, learning_rate: {bad}}}\n")
        with pytest.raises(UserError, match=allowed):
            params.load_model("gru", broken)
