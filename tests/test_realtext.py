"""The pipeline on real text, end to end at tiny size: a user's file and a text8-format zip,
neither with planted pairs, each to the report with memory read from words that repeat."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from pipeline_repo import english_text, repro, reproduce_tiny
from shipped import read_yaml

from rnnmem.data.corpus import TEXT8_MEMBER, TEXT8_SIZE
from rnnmem.report import content

ROOT = Path(__file__).resolve().parents[1]
PROFILE = read_yaml(ROOT / "profiles/realtext.yaml")
# The profile at tiny size: a slice of the text, and training cut short.
TINY_TEXT = {
    "corpus": {"max_chars": 80_000, "min_words": 10},
    "dataset": {"vocab_size": 400},
    "train": {"epochs": 1, "max_steps": 0},
}


def _assert_report_on_repeated_words(repo: Path) -> None:
    """The report was written, says once per planted section that the corpus plants no pairs,
    and carries the memory measured on repeated words for every model."""
    html = (repo / "reports/index.html").read_text()
    assert html.count(content.NO_PAIRS) == 3  # the findings, the recall and memory sections
    assert 'id="memory-comparisons-table"' not in html and 'id="recall-table"' not in html
    assert 'id="natural-comparisons-table"' in html
    for kind in ("gru", "lstm", "nlstm"):
        memory = json.loads((repo / f"reports/memory/{kind}.json").read_text())
        assert memory["recall_gap_k1"] is None  # nothing planted
        assert isinstance(memory["natural_swap_effect_k1"], float)
        assert memory["natural_repeats"] > 0
        headline = json.loads((repo / f"reports/headline/{kind}.json").read_text())
        assert "natural_swap_effect_k1" in headline
    comparisons = json.loads((repo / "reports/comparisons.json").read_text())
    assert comparisons["memory_comparisons"] == []
    assert {row["b"] for row in comparisons["natural_comparisons"]} >= {"ngram"}
    assert repro(repo) == set()  # and a second run has nothing left to do


@pytest.mark.slow
def test_a_real_text_file_runs_to_the_report(tmp_path: Path) -> None:
    source = tmp_path / "english.txt"
    source.write_text(english_text())
    file = {"corpus": {"source": "file", "file_path": str(source)}}
    repo = reproduce_tiny(tmp_path / "repo", PROFILE, TINY_TEXT, file)
    _assert_report_on_repeated_words(repo)


def _text8_zip(path: Path) -> None:
    """A text8-format zip as text8.zip is made: one member named text8 of exactly text8's
    size, lowercase words and single spaces, here real English repeated to that size."""
    text = english_text().encode("ascii") + b" "
    data = (text * (TEXT8_SIZE // len(text) + 1))[:TEXT8_SIZE]
    data = data[:-1] + (b"a" if data.endswith(b" ") else data[-1:])  # no trailing space
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(TEXT8_MEMBER, data)


@pytest.mark.slow
def test_a_text8_zip_runs_to_the_report_without_the_network(tmp_path: Path) -> None:
    """The profile's default source, text8, read from a zip already at paths.text8_zip (as a
    user who downloaded it once has it): the download stage reads it and fetches nothing."""
    repo = tmp_path / "repo"
    _text8_zip(repo / "data/downloads/text8.zip")
    built = reproduce_tiny(repo, PROFILE, TINY_TEXT)
    meta = json.loads((built / "data/corpus/meta.json").read_text())
    assert meta["source"] == "text8" and meta["size"] <= 80_000
    _assert_report_on_repeated_words(built)
