"""docs/memory.md is written from the runs saved under docs/runs/, and the README's figures are
those of the committed default run: no page quotes a number that no committed file holds."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from rnnmem.analysis import registry
from rnnmem.report import formatting, runs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_docs_memory_is_the_page_the_saved_runs_give(in_root):
    """Edit the template or a run, then `python -m rnnmem.report.runs render`."""
    assert (ROOT / "docs/memory.md").read_text() == runs.render()


def test_the_page_follows_the_files_it_reads(in_root, tmp_path):
    """Change one saved figure and the page changes with it: the page is the files' reading."""
    copy = tmp_path / "runs"
    shutil.copytree(ROOT / "docs/runs", copy)
    path = copy / "default/memory/gru.json"
    memory = json.loads(path.read_text())
    before = formatting.cell(registry.BY_NAME["intervention_effect_k1"], memory)
    shown = runs.render(copy).count(before)
    assert shown
    memory["intervention_effect_k1"] = 9.876
    path.write_text(json.dumps(memory))
    page = runs.render(copy)
    assert page.count(before) == shown - 1 and "9.876 [" in page


def test_save_keeps_the_summaries_and_how_they_were_made(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    folder = runs.save("check", "dvc repro", ROOT / "reports", tmp_path)
    meta = json.loads((folder / "run.json").read_text())
    assert meta["command"] == "dvc repro" and meta["params"] == (ROOT / "params.yaml").read_text()
    assert re.fullmatch(r"[0-9a-f]{7,}", meta["commit"])
    kept = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"headline/gru.json", "memory/gru.json", "comparisons.json"} <= kept
    assert not any(p.endswith((".pt", ".parquet")) for p in kept)  # summaries, not models
    with pytest.raises(runs.UserError, match="no finished run"):
        runs.save("empty", "dvc repro", tmp_path / "nothing", tmp_path)


def _cell(kind: str, name: str) -> str:
    """A model's figure in the committed default run, as the report writes it."""
    memory = json.loads((ROOT / f"reports/memory/{kind}.json").read_text())
    return formatting.cell(registry.BY_NAME[name], memory)


def test_the_readme_quotes_the_committed_default_run():
    """The README's caption under the figure: each model's referent and placebo top-1 at
    k = 1 and the swap effect on repeated words, as the committed reports/ hold them."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    for kind in ("gru", "lstm", "nlstm"):
        referent, placebo = _cell(kind, "referent_top1_k1").split(" / ")
        assert referent in readme and placebo in readme, (kind, referent, placebo)
    effect = _cell("gru", "natural_swap_effect_k1")
    assert f"{effect} nats" in readme, effect
    gap = _cell("gru", "recall_gap_k1")
    assert gap in readme, gap
