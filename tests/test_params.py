"""params.yaml validation: every bad value stops with one line naming key, value and rule;
every key must be there; profiles hold only the keys they change and apply cleanly."""

import dataclasses
import importlib.util
import io
import sys
import time

import pytest
from ruamel.yaml import YAML
from shipped import RAW, ROOT, params_file, run_file

from rnnmem import params, profile
from rnnmem.data.dataset import CHARS, Vocab
from rnnmem.stage import UserError

PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))


def write(tmp_path, text):
    return params_file(tmp_path, text)


def _leaves(tree: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        if isinstance(value, dict):
            keys += _leaves(value, f"{prefix}{key}.")
        else:
            keys.append(prefix + key)
    return keys


def test_repository_params_are_read_as_written():
    """The schema mirrors the file: every section holds exactly the file's values."""
    run = params.load(ROOT / "params.yaml")
    for name in ("corpus", "dataset", "train", "analysis", "memory"):
        assert dataclasses.asdict(getattr(run, name)) == RAW[name], name
    assert run.seeds == RAW["seeds"]
    assert list(run.models) == list(RAW["models"])
    for kind, model in run.models.items():
        read = {k: v for k, v in dataclasses.asdict(model).items() if v is not None or k != "depth"}
        assert read == RAW["models"][kind], kind
    assert run.corpus.source == "probe"  # the offline default
    assert run.analysis.sentences, "the default profile needs an analysis sentence"
    assert [model.depth for model in run.models.values()] == [None, None, 2]


@pytest.mark.parametrize("key", _leaves(RAW))
def test_every_key_must_be_in_params_yaml(tmp_path, key):
    """No default stands in for a missing key: params.yaml is the one place a value lives."""
    raw = YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text())
    *parents, leaf = key.split(".")
    node = raw
    for name in parents:
        node = node[name]
    del node[leaf]
    path = tmp_path / "params.yaml"
    path.write_text(_dump(raw))
    with pytest.raises(UserError) as err:
        params.load(path)
    message = str(err.value)
    assert "\n" not in message
    expected = f"missing section {key}" if not parents else f"missing key {key} ("
    assert f"params.yaml: {expected}" in message


def _dump(raw: dict) -> str:
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(raw, stream)
    return stream.getvalue()


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
        params.load(write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("train:\n  learning_rate: .nan\n", "train.learning_rate"),
        ("train:\n  clip_grad_norm: -1\n", "a number from 0 to 1e6"),
        ("models:\n  gru: {init: tf}\n", "models.gru.init = 'tf'; allowed: one of 'reference'"),
    ],
)
def test_bad_train_and_model_settings(tmp_path, text, message):
    with pytest.raises(UserError) as err:
        params.load(write(tmp_path, text))
    assert message in str(err.value)


def test_run_settings_are_checked_as_params_are(tmp_path):
    """run.yaml: the shipped file loads; a bad value, a missing or unknown key is one line."""
    shipped = params.load_run(ROOT / "run.yaml")
    assert shipped.device == "auto" and shipped.checkpoint_every > 0
    path = tmp_path / "run.yaml"
    text = (ROOT / "run.yaml").read_text()
    for changed, message in [
        (text.replace("device: auto", "device: gpu"), "device = 'gpu'; allowed: one of 'auto'"),
        (text.replace("retries: 5", "retry: 5"), "unknown key retry; allowed keys: text8_url"),
        (text.replace("timeout_s: 30", ""), "run.yaml: missing key timeout_s (a number)"),
        ("[]", "run.yaml must be a mapping of keys"),
    ]:
        path.write_text(changed)
        with pytest.raises(UserError) as err:
            params.load_run(path)
        assert message in str(err.value) and "\n" not in str(err.value), changed


@pytest.mark.parametrize("key", sorted(params.MOVED))
def test_a_run_setting_left_in_params_yaml_names_its_new_home(tmp_path, key):
    section, name = key.split(".")
    with pytest.raises(UserError) as err:
        params.load(write(tmp_path, f"{section}:\n  {name}: 1\n"))
    assert f"{key} says how to run" in str(err.value)
    assert params.MOVED[key] in str(err.value)


def test_model_sections(tmp_path):
    """The models section lists the models to run, each of a known kind; only the Nested LSTM
    has (and needs) a depth."""
    run = params.load(write(tmp_path, "models: {gru: {units: 8}, lstm: {units: 8}}\n"))
    assert run.models["gru"].units == 8 and run.models["gru"].depth is None
    text = "models:\n  gru: {units: 8, layers: 1, init: chrono, learning_rate: null}\n"
    path = tmp_path / "only" / "params.yaml"
    path.parent.mkdir()
    raw = dict(RAW, models=YAML(typ="safe", pure=True).load(text)["models"])
    path.write_text(_dump(raw))
    only = params.load(path)
    assert list(only.models) == ["gru"]
    with pytest.raises(UserError, match="no models.nlstm; the models are gru; add nlstm there"):
        only.models["nlstm"]  # noqa: B018 - the lookup is what is tested
    for snippet, message in [
        ("models:\n  lstm: {depth: 2}\n", "unknown key models.lstm.depth; only models.nlstm has"),
        ("models:\n  nlstm: {depth: null}\n", "models.nlstm.depth = None; allowed: an integer"),
        ("models:\n  transformer: {units: 1}\n", "unknown key models.transformer"),
        ("models: {}\n", None),  # merged into the shipped models: nothing changes
    ]:
        if message is None:
            assert list(params.load(write(tmp_path, snippet)).models) == ["gru", "lstm", "nlstm"]
            continue
        with pytest.raises(UserError, match=message):
            params.load(write(tmp_path, snippet))
    raw = dict(RAW, models={})
    path.write_text(_dump(raw))
    with pytest.raises(UserError, match="models is empty; give at least one of gru, lstm"):
        params.load(path)


def test_sentences_must_be_strings(tmp_path):
    with pytest.raises(UserError, match="a list whose items are each a string"):
        params.load(write(tmp_path, "analysis:\n  sentences: [1, 2]\n"))


def test_a_model_may_set_its_own_learning_rate(tmp_path):
    run = params.load(
        write(tmp_path, "train:\n  learning_rate: 0.003\nmodels:\n  lstm: {learning_rate: 1e-2}\n")
    )
    assert run.models["gru"].learning_rate is None and run.train.learning_rate == 0.003
    assert run.models["lstm"].learning_rate == 0.01
    for bad, allowed in [("0", "null or a number > 0"), ("fast", "a number or null")]:
        broken = write(tmp_path, f"models:\n  gru: {{learning_rate: {bad}}}\n")
        with pytest.raises(UserError, match=allowed):
            params.load(broken)


def _stage(name: str):
    """stages/<name>.py as a module, its `main` callable in-process."""
    spec = importlib.util.spec_from_file_location(f"{name}_stage", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_train_stage_builds_its_run_from_the_model_section(tmp_path, monkeypatch):
    """The model file's spec is the model section (no default fills a gap); a model's own
    learning rate replaces train's for that model alone; the seed comes from the command."""
    write(
        tmp_path,
        "train:\n  learning_rate: 0.003\n"
        "models:\n  lstm: {units: 12, layers: 2, init: pytorch, learning_rate: 1e-2}\n",
    )
    run_file(tmp_path)
    stage = _stage("train")
    runs = []
    monkeypatch.setattr(
        stage, "train", lambda spec, schedule, *_, seed, **__: runs.append((spec, schedule, seed))
    )
    words = ["<pad>", "<unknown>", "the", "of"]
    monkeypatch.setattr(stage, "load_vocab", lambda _: Vocab(chars=list(CHARS), words=words))
    monkeypatch.setattr(stage, "load_split", lambda *_: None)
    monkeypatch.setattr(stage, "fingerprint", lambda *_: "")
    monkeypatch.chdir(tmp_path)
    paths = ["--data", "d", "--model", "m", "--checkpoints", "c", "--live", "l", "--snapshots", "s"]
    for kind in ("lstm", "nlstm"):
        monkeypatch.setattr(sys, "argv", ["train.py", kind, "4", *paths])
        stage.main()
    (lstm, lstm_schedule, seed), (nlstm, nlstm_schedule, _) = runs
    assert (lstm.units, lstm.layers, lstm.depth, lstm.init) == (12, 2, None, "pytorch")
    assert (nlstm.units, nlstm.layers, nlstm.depth, nlstm.init) == (128, 1, 2, "chrono")
    assert (lstm.n_chars, lstm.n_words, seed) == (len(CHARS), 4, 4)
    assert lstm_schedule.learning_rate == 0.01 and nlstm_schedule.learning_rate == 0.003


# ---------------------------------------------------------------- profiles


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_every_profile_applies_cleanly_and_names_only_existing_keys(tmp_path, path):
    """A profile holds only the keys it changes: applied to the shipped params.yaml it changes
    those keys to its values and nothing else (comments included), and the result is valid."""
    changes = profile.read_profile(path)
    shipped = (ROOT / "params.yaml").read_text()
    applied = profile.applied(shipped, changes, str(path))
    run = params.validate(YAML(typ="safe", pure=True).load(applied))
    named = _leaves(changes)
    assert set(named) <= set(_leaves(RAW)), "a profile names a key params.yaml lacks"
    after = YAML(typ="safe", pure=True).load(applied)
    for key in _leaves(RAW):
        value, before = after, RAW
        for name in key.split("."):
            value, before = value[name], before[name]
        expected = _at(changes, key) if key in named else before
        assert value == expected, key
    kept = [line.split("#", 1)[1] for line in applied.splitlines() if "#" in line]
    comments = [line.split("#", 1)[1] for line in shipped.splitlines() if "#" in line]
    assert set(kept) <= set(comments) and len(comments) - len(kept) <= 1  # a replaced list's
    assert run.seeds and run.models


def _at(tree: dict, key: str):
    for name in key.split("."):
        tree = tree[name]
    return tree


def test_profiles_say_what_they_are_for():
    """The article's setup, the memory figures and five seeds: what each profile sets."""
    shipped = (ROOT / "params.yaml").read_text()

    def applied(name: str) -> params.Params:
        path = ROOT / "profiles" / f"{name}.yaml"
        text = profile.applied(shipped, profile.read_profile(path), name)
        return params.validate(YAML(typ="safe", pure=True).load(text))

    paper = applied("paper")
    assert paper.corpus.source == "text8" and paper.dataset.vocab_size == 2**14
    nlstm = paper.models["nlstm"]
    assert (nlstm.units, nlstm.layers, nlstm.depth, nlstm.init) == (600, 1, 2, "reference")
    assert applied("five-seeds").seeds == [0, 1, 2, 3, 4]
    assert applied("memory").train.max_steps > params.load(ROOT / "params.yaml").train.max_steps


def test_a_profile_naming_an_unknown_key_is_refused_in_one_line(tmp_path, capsys):
    """python -m rnnmem.profile apply: a typo is refused, and params.yaml is left as it was."""
    target = tmp_path / "params.yaml"
    target.write_text((ROOT / "params.yaml").read_text())
    for text, message in [
        ("train:\n  max_step: 400\n", "unknown key train.max_step; params.yaml has no such key"),
        ("train: 3\n", "train is a section in params.yaml; set its keys"),
        ("seeds:\n  first: 0\n", "seeds is a value in params.yaml, not a section"),
        ("memory:\n  windows: [5, 500]\n", "memory.windows holds 500 but dataset.max_length"),
        ("[1]\n", "must be a mapping of the params.yaml keys it changes"),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(SystemExit):
            profile.main(["apply", str(bad), "--params", str(target)])
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
        assert target.read_text() == (ROOT / "params.yaml").read_text()
    profile.main(["apply", str(ROOT / "profiles" / "five-seeds.yaml"), "--params", str(target)])
    assert params.load(target).seeds == [0, 1, 2, 3, 4]
    assert (
        target.read_text().replace("seeds: [0, 1, 2, 3, 4]", "seeds: [0]")
        == (ROOT / "params.yaml").read_text()
    )


# A profile whose seeds are nine lists of nine lists ... of "lol": some 350 bytes of YAML
# that stand for 9^7 (4.8 million) strings once the aliases are expanded.
ALIAS_BOMB = "seeds:\n  - &a [" + ", ".join(['"lol"'] * 9) + "]\n"
ALIAS_BOMB += "".join(
    f"  - &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdef", "bcdefg", strict=True)
)


@pytest.mark.parametrize(
    "text",
    [
        ALIAS_BOMB,
        "models:\n  gru: &m {units: 8, layers: 1, init: chrono, learning_rate: null}\n  lstm: *m\n",
    ],
    ids=["bomb", "alias"],
)
def test_a_profile_with_yaml_aliases_is_refused_before_they_expand(tmp_path, capsys, text):
    """An alias bomb (or any alias) is refused as it is read, in one line naming the alias,
    long before its expansion could exhaust memory; params.yaml is left as it was."""
    target = tmp_path / "params.yaml"
    target.write_text((ROOT / "params.yaml").read_text())
    bad = tmp_path / "bomb.yaml"
    bad.write_text(text)
    start = time.monotonic()
    with pytest.raises(SystemExit):
        profile.main(["apply", str(bad), "--params", str(target)])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {bad} uses the YAML alias *" in err, err
    assert "aliases are not allowed" in err and time.monotonic() - start < 5
    assert target.read_text() == (ROOT / "params.yaml").read_text()
    target.write_text(text)  # params.yaml itself is read the same way
    with pytest.raises(UserError, match="aliases are not allowed"):
        params.read_params(target)


def test_a_refused_value_names_the_profile_that_set_it(tmp_path, capsys):
    """A bad value the profile sets is the profile's: the error names the profile file; one
    already in params.yaml is still params.yaml's."""
    target = tmp_path / "params.yaml"
    target.write_text((ROOT / "params.yaml").read_text())
    bad = tmp_path / "bad.yaml"
    for text, message in [
        ("models:\n  gru:\n    units: 0\n", f"error: {bad}: models.gru.units = 0; allowed"),
        ("train:\n  precision: fp16\n", f"error: {bad}: train.precision = 'fp16'; allowed"),
        ("seeds: [1, 1]\n", f"error: {bad}: seeds = [1, 1]; allowed"),
        ("memory:\n  windows: [5, 500]\n", f"error: {bad}: memory.windows holds 500"),
        (
            "dataset:\n  valid_fraction: 0.5\n  test_fraction: 0.5\n",
            f"error: {bad}: dataset.valid_fraction + dataset.test_fraction = 1",
        ),
    ]:
        bad.write_text(text)
        with pytest.raises(SystemExit):
            profile.main(["apply", str(bad), "--params", str(target)])
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1, err
    target.write_text((ROOT / "params.yaml").read_text().replace("units: 128", "units: 0", 1))
    bad.write_text("train:\n  max_steps: 10\n")
    with pytest.raises(SystemExit):
        profile.main(["apply", str(bad), "--params", str(target)])
    assert capsys.readouterr().err.startswith("error: params.yaml: models.gru.units = 0")
