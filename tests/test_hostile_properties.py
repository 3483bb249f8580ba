"""Property tests: random params, corpora, sentences and report inputs give either a result
or one line naming the problem, never another exception, a hang or a partial file;
a setting is accepted only where the number it leads to can mean something."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from report_fixtures import SENTENCES, write_inputs
from ruamel.yaml import YAML
from shipped import with_changes
from test_report import _paths, tiny_models  # noqa: F401 - shared tiny trained models

from rnnmem import cli, params
from rnnmem.data import corpus, dataset
from rnnmem.errors import FixableError
from rnnmem.files import atomic_dir, write_texts
from rnnmem.report import html_report, inputs, plots
from rnnmem.training.train import thread_count

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SHIPPED = YAML(typ="safe", pure=True).load(Path("params.yaml").read_text())
SECTIONS = ("corpus", "dataset", "train", "analysis", "memory")


def _one_line(err: FixableError) -> None:
    message = str(err)
    assert message and "\n" not in message and "unexpected" not in message


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def params_files(draw) -> dict:
    """The shipped params with a few keys replaced, dropped or added at random."""
    raw = json.loads(json.dumps(SHIPPED))
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from([*SECTIONS, "models", "extra", "seeds"]))
        if section == "extra":
            raw[draw(st.text(min_size=1, max_size=8))] = draw(values)
            continue
        if section == "seeds":
            raw["seeds"] = draw(values)
            continue
        target = raw[section] if section != "models" else raw["models"]["gru"]
        key = draw(st.sampled_from([*target, "unknown_key"]))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(values)
    return raw


@SETTINGS
@given(raw=params_files())
def test_random_params_load_or_fail_in_one_line(raw: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "params.yaml"
        yaml = YAML(typ="safe", pure=True)
        stream = io.StringIO()
        yaml.dump(raw, stream)
        path.write_text(stream.getvalue())
        try:
            loaded = params.load(path)
        except FixableError as err:
            _one_line(err)
            return
        event("loaded")
        sections = [getattr(loaded, name) for name in SECTIONS] + list(loaded.models.values())
        numbers = [v for section in sections for v in vars(section).values()]
        assert all(math.isfinite(v) for v in numbers if isinstance(v, float))
        # DVC names each seed's stages after it: an integer, as written
        assert all(type(seed) is int and seed >= 0 for seed in loaded.seeds)


def _loaded(load) -> object | None:
    """What `load()` returns, or None after checking its error is one line."""
    try:
        return load()
    except FixableError as err:
        _one_line(err)
        return None


@st.composite
def settings_with_one_flaw(draw) -> tuple[dict, str]:
    """Meaningful dataset, memory and seeds settings, then at most one made degenerate:
    (the params, which flaw: none, vocab, window, length, duplicate or seed)."""
    max_length = draw(st.integers(2, 300))
    windows = draw(st.lists(st.integers(1, max_length - 1), min_size=1, max_size=5, unique=True))
    seeds = draw(st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True))
    vocab_size = draw(st.integers(2, 50))
    flaw = draw(st.sampled_from(["none", "vocab", "window", "length", "duplicate", "seed"]))
    if flaw == "vocab":  # one word (or none): every guess right
        vocab_size = draw(st.integers(-1, 1))
    elif flaw == "window":  # a window that sees whole observations
        windows.insert(draw(st.integers(0, len(windows))), draw(st.integers(max_length, 10_000)))
    elif flaw == "length":  # observations no longer than the longest window
        max_length = draw(st.integers(2, max(2, max(windows))))
        windows.append(max_length)
    elif flaw == "duplicate":
        windows.append(draw(st.sampled_from(windows)))
    elif flaw == "seed":  # DVC would name the stages train@gru-1.0
        seeds.append(draw(st.sampled_from([10.0, 1e1, True])))
    changes = {
        "dataset": {"vocab_size": vocab_size, "max_length": max_length},
        "memory": {"windows": windows},
        "seeds": seeds,
    }
    return with_changes(changes), flaw


@SETTINGS
@given(case=settings_with_one_flaw())
def test_random_degenerate_settings_are_refused_and_meaningful_ones_kept(case) -> None:
    """A vocabulary of one word (accuracy 1.0 by construction), a context window as long as
    an observation (full context reported as measured), a repeated window (a repeated row)
    or a seed DVC would spell 10.0 never reaches a stage: it is refused in one line, and
    nothing else is."""
    raw, flaw = case
    event(flaw)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "params.yaml"
        path.write_text(json.dumps(raw))  # JSON is YAML
        loaded = _loaded(lambda: params.load(path))
    assert (loaded is None) == (flaw != "none")
    if loaded is not None:
        data, memory = loaded.dataset, loaded.memory
        assert data.vocab_size >= 2 and len(set(memory.windows)) == len(memory.windows)
        assert max(memory.windows) < data.max_length
        assert all(type(seed) is int for seed in loaded.seeds)


@SETTINGS
@given(requested=st.integers(0, 2048), cores=st.integers(1, 64))
def test_random_thread_counts_fit_the_cores_or_are_refused(requested: int, cores: int) -> None:
    """More threads than cores are refused, never lowered: the count is part of a run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
        try:
            threads = thread_count(requested)
        except FixableError as err:
            _one_line(err)
            assert requested > cores and f"may use {cores} cores" in str(err)
            return
    assert 1 <= threads <= cores and threads == (requested or max(1, cores // 2))


def _pack(data: bytes, kind: str) -> bytes:
    if kind == "gz":
        return gzip.compress(data)
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("a.txt", data)
        return buffer.getvalue()
    return data


words = st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12), max_size=200)


@SETTINGS
@given(
    text=st.one_of(st.binary(max_size=3000), words.map(lambda w: " ".join(w).encode())),
    kind=st.sampled_from(["txt", "gz", "bz2", "zip"]),
    damage=st.one_of(st.just(0), st.integers(1, 40)),
    vocab_size=st.integers(2, 10),  # params.yaml's floor: one word is always right
    max_length=st.integers(2, 40),
)
def test_random_corpora_build_or_fail_in_one_line(
    text: bytes, kind: str, damage: int, vocab_size: int, max_length: int
) -> None:
    packed = bytearray(_pack(text, kind))
    if damage and packed:
        packed[damage % len(packed)] ^= 0x5A  # flip one byte: a damaged archive
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"corpus.{kind}"
        path.write_bytes(bytes(packed))
        try:
            normalized = corpus.read_text_file(path, min_words=1, max_bytes=100_000)
            built = dataset.build(
                normalized.encode(),
                vocab_size=vocab_size,
                max_length=max_length,
                valid_fraction=0.3,  # so that a few observations can make all three splits
                test_fraction=0.3,
                seed=0,
            )
        except FixableError as err:
            _one_line(err)
            return
        event("built")
        assert sum(table.num_rows for table in built.splits.values()) >= 3
        for table in built.splits.values():  # every split has something to score
            targets = [t for row in table.column("target").to_pylist() for t in row]
            assert max(targets) > dataset.UNKNOWN


@SETTINGS
@given(
    text=st.one_of(st.text(max_size=300), words.map(" .,-".join)),
    model=st.sampled_from(["gru", "lstm", "nlstm", "all"]),
    k=st.integers(1, 12),
)
def test_random_sentences_give_a_figure_or_one_line(
    tiny_models: Path,  # noqa: F811
    text: str,
    model: str,
    k: int,
    capsys: pytest.CaptureFixture,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figure.html"
        try:
            cli.main(
                ["connectivity", "--model", model, "-k", str(k), text, "-o", str(out)]
                + _paths(tiny_models)
            )
        except SystemExit as stop:
            err = capsys.readouterr().err
            assert stop.code in (1, 2) and err.count("\n") == 1 and err.startswith("error: ")
            assert "unexpected" not in err
            assert list(Path(folder).iterdir()) == []  # nothing partial left behind
            return
        event("figure written")
        assert out.read_text().startswith("<!DOCTYPE html>")
        assert [p.name for p in Path(folder).iterdir()] == ["figure.html"]
        capsys.readouterr()
        autocomplete = ["autocomplete", "--model", "gru", "-k", str(k), text]
        cli.main(autocomplete + _paths(tiny_models))
        assert len(capsys.readouterr().out.strip().splitlines()) == min(k, 7)


@pytest.fixture(scope="module")
def report_inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Report inputs, with the PNG plots stubbed out: they take seconds each, and what is
    under test is reading and escaping the inputs (test_report.py draws the real ones)."""
    root = tmp_path_factory.mktemp("inputs") / "reports"
    write_inputs(root, kinds=("gru", "lstm", "nlstm"), texts=SENTENCES[1:])
    with pytest.MonkeyPatch.context() as patch:
        for name in ("training_curves", "prefix_accuracy", "connectivity_distance", "word_share"):
            patch.setattr(plots, name, lambda *args: b"\x89PNG")
        patch.setattr(plots, "heat_strip", lambda *args: b"\x89PNG")
        yield root


FILES = ["metrics/gru.json", "connectivity/lstm/metrics.json", "connectivity/gru/sentences.json"]


@pytest.mark.slow  # runs a stage end to end
@SETTINGS
@given(relative=st.sampled_from(FILES), key=st.text(max_size=20), value=values, drop=st.booleans())
def test_random_report_inputs_render_or_fail_in_one_line(
    report_inputs: Path, relative: str, key: str, value, drop: bool
) -> None:
    path = report_inputs / relative
    original = path.read_text()
    data = json.loads(original)
    if relative.endswith("sentences.json"):
        entry = data["sentences"][0]
        key = sorted(entry)[len(key) % len(entry)]
        entry[key] = value
    else:
        key = sorted(data)[len(key) % len(data)] if drop or not key else key
        if drop:
            data.pop(key)
        else:
            data[key] = value
    try:
        path.write_text(json.dumps(data))
        html, _ = html_report.render(inputs.load_inputs(report_inputs))
        event("rendered")
        assert "unsafe-inline" not in html and "<script>alert" not in html
    except FixableError as err:
        _one_line(err)
    finally:
        path.write_text(original)


@SETTINGS
@given(
    names=st.lists(
        st.text("abcdefghij", min_size=1, max_size=6), min_size=1, max_size=5, unique=True
    ),
    fail_at=st.integers(0, 5),
    grouped=st.booleans(),
)
def test_random_failures_while_writing_an_output_group_leave_the_old_files(
    names: list[str], fail_at: int, grouped: bool
) -> None:
    """A stage's files that belong together (a folder it owns, or a group in a shared one)
    are all new or all old, wherever the writing stops."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        out.mkdir()
        for name in names:
            (out / name).write_text("old")

        class Stop(Exception):
            pass

        texts = {out / name: f"new {name}" for name in names}
        try:
            if grouped:
                with pytest.MonkeyPatch.context() as patch:
                    real, calls = Path.write_text, []

                    def write(path: Path, text: str) -> int:
                        calls.append(path)
                        if len(calls) > fail_at:
                            raise Stop
                        return real(path, text)

                    patch.setattr(Path, "write_text", write)
                    write_texts(texts)
            else:
                with atomic_dir(out) as tmp:
                    for index, name in enumerate(names):
                        if index == fail_at:
                            raise Stop
                        (tmp / name).write_text(texts[out / name])
        except Stop:
            event("stopped")
            assert {p.name: p.read_text() for p in out.iterdir()} == dict.fromkeys(names, "old")
        else:
            assert {p.name: p.read_text() for p in out.iterdir()} == {
                name: f"new {name}" for name in names
            }
        assert [p.name for p in Path(folder).iterdir()] == ["out"]  # no temporary left
