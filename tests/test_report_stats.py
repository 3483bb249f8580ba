"""The report's uncertainty: intervals and seed counts in tables, paired comparisons with their
significance, shaded bands, and the article's table for the article's setup."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import matplotlib
import pandas as pd
from report_fixtures import SENTENCES, write_inputs
from shipped import params_file, read_yaml
from test_params import _stage

from rnnmem.report import article, html_report, inputs, plots, results

ROOT = Path(__file__).resolve().parents[1]


def _html(reports: Path, paper: bool = False) -> str:
    return html_report.render(inputs.load_inputs(reports, paper=paper))[0]


def _table(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table class="metrics" id="{table_id}">(.*?)</table>', html, re.S).group(1)
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)[1:]]


def test_paired_comparisons_table_says_which_differences_are_significant(tmp_path):
    reports = tmp_path / "reports"
    write_inputs(reports, texts=SENTENCES[1:])
    path = reports / "comparisons.json"
    data = json.loads(path.read_text())
    data["comparisons"][1] |= {"difference": -0.001, "ci_low": -0.004, "ci_high": 0.002}
    data["comparisons"][1]["significant"] = False
    data["comparisons"][2]["metric"] = "cross_entropy"
    path.write_text(json.dumps(data))
    rows = _table(_html(reports), "comparisons-table")
    assert rows[0] == ["GRU - LSTM", "accuracy (masked)", "+2.0 pt", "[+1.0, +3.0]", "yes"]
    assert rows[1] == ["GRU - Nested LSTM", "accuracy (masked)", "-0.1 pt", "[-0.4, +0.2]", "no"]
    assert rows[2][1:3] == ["cross entropy", "+0.0200"]


def test_metrics_table_shows_seed_count_and_both_accuracies(tmp_path):
    reports = tmp_path / "reports"
    write_inputs(reports, texts=SENTENCES[1:])
    html = _html(reports)
    gru = json.loads((reports / "metrics" / "gru.json").read_text())
    table = re.search(r'id="metrics-table">(.*?)</table>', html, re.S).group(1)
    row = re.search(r'<tr data-model="gru">(.*?)</tr>', table).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[0] == "1"
    low, high = 100 * gru["reference_accuracy_ci_low"], 100 * gru["reference_accuracy_ci_high"]
    assert cells[3] == f"{100 * gru['reference_accuracy']:.1f}% [{low:.1f}, {high:.1f}]"
    assert "accuracy (reference)" in html and '<section id="paper">' not in html


def test_article_table_is_filled_for_the_article_setup(tmp_path):
    reports = tmp_path / "reports"
    write_inputs(reports, texts=SENTENCES[1:])
    html = _html(reports, paper=True)
    rows = _table(html, "paper-table")
    gru = json.loads((reports / "metrics" / "gru.json").read_text())
    accuracy = next(r for r in rows if r[:2] == ["GRU", "accuracy (reference)"])
    assert accuracy[2] == "52.0%"
    assert accuracy[3] == f"{100 * gru['reference_accuracy']:.1f}%"
    assert accuracy[4].startswith("[") and accuracy[5] == "1"
    assert "&lt;unknown&gt; targets count" in accuracy[6]  # escaped, not markup
    ce = next(r for r in rows if r[:2] == ["Nested LSTM", "cross entropy"])
    assert ce[2] == "2.4950"
    assert len(rows) == 5 + 4 + 4


def test_paper_profile_is_recognised_only_on_text8_with_its_sizes():
    profile = read_yaml(ROOT / "profiles" / "paper.yaml")
    assert article.paper_profile(profile, profile)
    assert article.paper_profile({**profile, "seeds": [0, 1, 2, 3, 4]}, profile)
    assert not article.paper_profile({**profile, "corpus": {"source": "probe"}}, profile)
    default = read_yaml(ROOT / "params.yaml")
    assert not article.paper_profile({**default, "corpus": {"source": "text8"}}, profile)


def test_the_report_stage_reads_the_profile_as_dvc_reads_params_yaml(tmp_path, monkeypatch):
    """YAML 1.2, as params.yaml: a profile's `1e-3` is the number 0.001, so the run that
    applied it is recognised as the profile's (PyYAML, YAML 1.1, read the string "1e-3")."""
    params_file(tmp_path, "corpus: {source: text8}\ndataset: {valid_fraction: 0.001}\n")
    profile = tmp_path / "profile.yaml"
    profile.write_text("corpus:\n  source: text8\ndataset:\n  valid_fraction: 1e-3\n")
    stage = _stage("report")
    seen = []
    monkeypatch.setattr(stage, "write_report", lambda *args: seen.append(args[4]))
    monkeypatch.chdir(tmp_path)
    paths = ["--reports", "r", "--html", "h", "--figures", "f", "--results", "m"]
    monkeypatch.setattr(sys, "argv", ["report.py", *paths, "--paper-profile", str(profile)])
    stage.main()
    assert seen == [True]  # the article's table is shown


def test_intervals_are_drawn_as_shaded_bands():
    table = pd.DataFrame({"k": [0, 1, 2], "top1": [0.2, 0.5, 0.7], "top2": 0.8, "top3": 0.9})
    banded = table.assign(top1_ci_low=table["top1"] - 0.1, top1_ci_high=table["top1"] + 0.1)
    assert plots.prefix_accuracy({"gru": banded}) != plots.prefix_accuracy({"gru": table})
    unknown = table.assign(top1_ci_low=None, top1_ci_high=None)
    assert plots.prefix_accuracy({"gru": unknown}) == plots.prefix_accuracy({"gru": table})


FIGURES = (
    "training_curves", "prefix_accuracy", "connectivity_distance", "word_share", "heat_strip",
    "memory_curve", "recall_over_training", "memory_half_life", "natural_memory_curve",
    "context_ablation",
)  # fmt: skip


def test_every_figure_leaves_matplotlib_settings_as_it_found_them(tmp_path, monkeypatch):
    """Each figure is drawn in a seaborn style of its own: after it, matplotlib's settings
    (rcParams) are those the process had, whatever draws next."""
    reports = tmp_path / "reports"
    write_inputs(reports, texts=SENTENCES[:1])
    before = dict(matplotlib.rcParams)
    drawn = []

    def checked(name, draw):
        def figure(*args, **kwargs):
            png = draw(*args, **kwargs)
            changed = {k for k, v in matplotlib.rcParams.items() if before.get(k) != v}
            assert not changed, f"{name} left {sorted(changed)[:5]} changed"
            drawn.append(name)
            return png

        return figure

    for name in FIGURES:
        monkeypatch.setattr(plots, name, checked(name, getattr(plots, name)))
    figures = html_report.render(inputs.load_inputs(reports))[1]
    assert sorted(drawn) == sorted(FIGURES)
    assert all(png.startswith(b"\x89PNG") for png in figures.values())


def test_results_page_lists_intervals_seeds_and_significance(tmp_path):
    reports = tmp_path / "reports"
    write_inputs(reports, texts=SENTENCES[1:])
    page = tmp_path / "docs" / "results.md"
    html_report.write_report(reports, tmp_path / "index.html", tmp_path / "figures", results=page)
    text = page.read_text()
    gru = json.loads((reports / "metrics" / "gru.json").read_text())
    low, high = gru["cross_entropy_ci_low"], gru["cross_entropy_ci_high"]
    row = next(line for line in text.splitlines() if line.startswith("| GRU |"))
    assert row.startswith(f"| GRU | 1 | {gru['cross_entropy']:.4f} [{low:.4f}, {high:.4f}] |")
    assert "| GRU - LSTM | accuracy (masked) | +2.0 pt | [+1.0, +3.0] | yes |" in text
    assert "Comparison with the article" not in text
    paper = results.results_markdown(inputs.load_inputs(reports, paper=True))
    assert "| GRU | accuracy (reference) | 52.0% |" in paper
