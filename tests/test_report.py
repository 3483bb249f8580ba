"""The HTML report and the `rnnmem` CLI, from synthetic inputs and a tiny random model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from report_fixtures import KINDS, SENTENCES, write_inputs
from shipped import nesting

from rnnmem import cli
from rnnmem.analysis import registry
from rnnmem.data.dataset import CHARS, PAD, SPACE, UNKNOWN, Vocab, encode_sentence, load_vocab
from rnnmem.models.checkpoint import ModelSpec, load_model, save_model
from rnnmem.report import content, html_report, inputs
from rnnmem.stage import UserError

ROOT = Path(__file__).resolve().parents[1]

WORDS = ["<pad>", "<unknown>", "the", "of", "parts", "north", "africa", "after", "a"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """Synthetic inputs, the report written from them, and its HTML text."""
    root = tmp_path_factory.mktemp("report")
    sentences = write_inputs(root / "reports")
    html_report.write_report(
        root / "reports", root / "out" / "index.html", root / "out" / "figures"
    )
    return root, sentences, (root / "out" / "index.html").read_text()


def figure_data(html: str) -> list[dict]:
    """The JSON data embedded in each interactive figure, in page order."""
    blobs = re.findall(r'<script type="application/json" class="figure-data">(.*?)</script>', html)
    return [json.loads(blob) for blob in blobs]


def test_report_has_every_section(built: tuple[Path, dict, str]) -> None:
    root, sentences, html = built
    sections = ("findings", "recall", "metrics", "comparisons", "training", "prefix", "distance")
    for section in (*sections, "share", "memory", "connectivity"):
        assert re.search(rf'<section id="{section}"><h2>[^<]+</h2>', html), section
    assert html.count('<p class="caption">') >= 10
    # The first screen: findings first, then the caveats, then the memory curve.
    first = [html.index(m) for m in ('id="findings"', 'class="finding"', 'id="memory-curve"')]
    assert first == sorted(first) and first[-1] < html.index('<section id="recall">')
    assert '<section id="paper">' not in html  # only for the article's setup
    for kind in KINDS:
        assert f'<tr data-model="{kind}">' in html
        metrics = json.loads((root / "reports" / "metrics" / f"{kind}.json").read_text())
        low, high = metrics["cross_entropy_ci_low"], metrics["cross_entropy_ci_high"]
        assert f"<td>{metrics['cross_entropy']:.4f} [{low:.4f}, {high:.4f}]</td>" in html
        assert f"<td>{metrics['parameters']:,}</td>" in html
    assert '<tr data-model="dictionary">' in html
    for index in range(len(SENTENCES)):
        assert f'id="sentence-{index}"' in html and f'id="predictions-{index}"' in html
        for kind in KINDS:
            chars = re.findall(
                rf'<figure[^>]*id="sentence-{index}".*?</figure>', html, flags=re.DOTALL
            )[0]
            spans = re.findall(rf'<span class="char" data-model="{kind}" data-pos="(\d+)">', chars)
            assert [int(p) for p in spans] == list(range(len(sentences[kind][index]["chars"])))
    assert html.count('src="data:image/png;base64,') == 9
    figures = sorted(p.name for p in (root / "out" / "figures").iterdir())
    expected = ["connectivity_distance.png", "prefix_accuracy.png", "training_curves.png"]
    expected += ["memory_half_life.png", "memory_curve.png", "recall_over_training.png"]
    expected += ["natural_memory_curve.png", "context_ablation.png"]
    expected += [f"connectivity_sentence_{i}.png" for i in range(len(SENTENCES))]
    assert figures == sorted([*expected, "word_share.png"])
    for name in figures:
        assert (root / "out" / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_loads_nothing_from_elsewhere(built: tuple[Path, dict, str]) -> None:
    html = built[2]
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", html)  # PNG bytes aside
    assert not re.search(r"https?://|//cdn|@import|url\(", text, flags=re.IGNORECASE)
    references = re.findall(r'\b(?:src|href|action)\s*=\s*["\']?([^"\'\s>]*)', html)
    assert references, "expected embedded images and in-page links"
    assert all(ref.startswith(("data:", "#")) for ref in references), references
    assert "<link" not in html.lower()


def test_figure_data_equals_input(built: tuple[Path, dict, str]) -> None:
    _, sentences, html = built
    data = figure_data(html)
    assert len(data) == len(SENTENCES)
    for index, figure in enumerate(data):
        first = sentences[KINDS[0]][index]
        assert figure["chars"] == first["chars"]
        assert figure["targets"] == first["targets"]
        assert [m["kind"] for m in figure["models"]] == list(KINDS)
        for model in figure["models"]:
            given = sentences[model["kind"]][index]
            matrix = np.array(given["matrix"])
            assert np.all(np.triu(matrix, 1) == 0)  # causal input: nothing above the diagonal
            for t, row in enumerate(model["matrix"]):
                assert len(row) == t + 1
                np.testing.assert_allclose(row, matrix[t, : t + 1], rtol=1e-5)
            for shown, expected in zip(model["top"], given["top"], strict=True):
                assert [w for w, _ in shown] == [w for w, _ in expected]
                np.testing.assert_allclose([p for _, p in shown], [p for _, p in expected], 1e-5)


@pytest.mark.parametrize(
    ("relative", "command"),
    [
        ("metrics/lstm.json", "dvc repro aggregate@lstm"),
        ("prefix/dictionary.csv", "dvc repro baseline"),
        ("train/gru/seed0/plots/metrics/valid/accuracy.tsv", "dvc repro train@gru-0"),
        ("connectivity/nlstm/sentences.json", "dvc repro aggregate@nlstm"),
        ("comparisons.json", "dvc repro compare"),
        ("dataset.json", "dvc repro build"),
    ],
)
def test_missing_input_names_file_and_command(tmp_path: Path, relative: str, command: str) -> None:
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    (tmp_path / "reports" / relative).unlink()
    with pytest.raises(UserError) as caught:
        html_report.write_report(
            tmp_path / "reports", tmp_path / "index.html", tmp_path / "figures"
        )
    assert str(tmp_path / "reports" / relative) in str(caught.value)
    assert command in str(caught.value)
    assert not (tmp_path / "index.html").exists() and not (tmp_path / "figures").exists()


def test_models_with_different_sentences_are_refused(tmp_path: Path) -> None:
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    path = tmp_path / "reports" / "connectivity" / "lstm" / "sentences.json"
    data = json.loads(path.read_text())
    data["sentences"][0]["text"] = "something else"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="different sentences"):
        inputs.load_inputs(tmp_path / "reports")


def test_figure_opens_where_earlier_words_matter_most() -> None:
    chars = list(" ab cd ef")
    matrix = np.tril(np.ones((9, 9)))
    matrix[7, :5] = 50.0  # first letter of "ef" draws on "ab cd"
    rows = [inputs.SentenceRow("gru", matrix, [[("ab", 1.0)]] * 9)]
    figure = inputs.SentenceFigure("ab cd ef", chars, ["ab"] * 3 + ["cd"] * 3 + ["ef"] * 3, rows)
    assert html_report.initial_position(figure) == 7
    # A word given and asked for again: the figure opens on the first letter of the repeat.
    text = " near ashford wrote near ashford"
    targets = [w for w in text.split() for _ in range(len(w) + 1)]
    again = inputs.SentenceFigure(
        text.strip(), list(text), targets, [inputs.SentenceRow("gru", np.tril(np.ones(
            (len(text), len(text)))), [[("near", 1.0)]] * len(text))]
    )  # fmt: skip
    assert html_report.initial_position(again) == text.rindex("ashford")  # not "near"
    shade = html_report.row_intensity(matrix, 7)
    assert shade.max() == 1.0 and np.all(shade[8:] == 0)
    np.testing.assert_allclose(shade[:8], matrix[7, :8] / 50.0)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/autocomplete/vocab.json and data/models/<kind>/seed0/model.pt, random weights."""
    root = tmp_path_factory.mktemp("cli")
    (root / "data" / "autocomplete").mkdir(parents=True)
    vocab = {"chars": CHARS, "words": WORDS}
    (root / "data" / "autocomplete" / "vocab.json").write_text(json.dumps(vocab))
    torch.manual_seed(0)
    digest = Vocab(chars=list(CHARS), words=WORDS).digest
    for kind in KINDS:
        spec = ModelSpec(kind, len(CHARS), len(WORDS), 6, 1, nesting(kind), "reference", digest)
        meta = {"training_seconds": 0.0, "steps": 0, "epochs": 0, "seed": 0}
        save_model(root / "data/models" / kind / "seed0/model.pt", spec.build(), spec, meta)
    return root


def _paths(root: Path) -> list[str]:
    return [
        "--models-dir",
        str(root / "data" / "models"),
        "--data-dir",
        str(root / "data" / "autocomplete"),
    ]


def test_cli_missing_model_is_one_line(tiny_models: Path, tmp_path: Path) -> None:
    args = ["autocomplete", "--model", "lstm", "parts of north af"]
    args += [
        "--models-dir",
        str(tmp_path),
        "--data-dir",
        str(tiny_models / "data" / "autocomplete"),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "rnnmem.cli", *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "dvc repro train@lstm-0" in lines[0]
    assert str(tmp_path / "lstm" / "seed0" / "model.pt") in lines[0]


def test_cli_autocomplete(tiny_models: Path, capsys: pytest.CaptureFixture) -> None:
    cli.main(
        ["autocomplete", "--model", "nlstm", "-k", "4", "parts of north af", *_paths(tiny_models)]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    shown = [(line.split()[0], float(line.split()[1])) for line in lines]
    assert len(shown) == 4 and all(len(line.split()) == 2 for line in lines)
    model, _, _ = load_model(tiny_models / "data" / "models" / "nlstm" / "seed0" / "model.pt")
    vocab = load_vocab(tiny_models / "data" / "autocomplete")
    source, _, _ = encode_sentence("parts of north af", vocab)
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(source)[None]), dim=-1)[0, -1].numpy()
    probs[[PAD, UNKNOWN]] = 0
    best = np.argsort(-probs)[:4]
    assert [w for w, _ in shown] == [WORDS[i] for i in best]
    np.testing.assert_allclose([p for _, p in shown], probs[best], atol=1e-4)


def test_cli_autocomplete_after_a_finished_word_predicts_the_next(
    tiny_models: Path, capsys: pytest.CaptureFixture
) -> None:
    model, _, _ = load_model(tiny_models / "data" / "models" / "gru" / "seed0" / "model.pt")
    vocab = load_vocab(tiny_models / "data" / "autocomplete")
    source, _, _ = encode_sentence("parts of", vocab)
    with torch.no_grad():
        logits = model(torch.from_numpy(np.append(source, SPACE))[None])[0, -1]
    probs = torch.softmax(logits, dim=-1).numpy()
    probs[[PAD, UNKNOWN]] = 0
    cli.main(["autocomplete", "-k", "1", "parts of. ", *_paths(tiny_models)])
    word, prob = capsys.readouterr().out.split()
    assert word == WORDS[int(np.argmax(probs))]
    assert float(prob) == pytest.approx(float(probs.max()), abs=1e-4)


def test_cli_connectivity_writes_the_figure(
    tiny_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "fig.html"
    text = "Parts of North Xyz"
    cli.main(
        ["connectivity", "--model", "all", "-k", "2", text, "-o", str(out), *_paths(tiny_models)]
    )
    captured = capsys.readouterr()
    assert str(out) in captured.out and "xyz" in captured.err  # unknown word reported
    html = out.read_text()
    (data,) = figure_data(html)
    assert "".join(data["chars"]) == " parts of north xyz"
    assert data["targets"][-4:] == ["<unknown>"] * 4 and data["targets"][0] == "parts"
    assert [m["kind"] for m in data["models"]] == list(KINDS)
    for model in data["models"]:
        assert [len(row) for row in model["matrix"]] == list(range(1, len(data["chars"]) + 1))
        assert all(row[-1] > 0 for row in model["matrix"])  # a prediction depends on its input
        assert all(len(top) == 2 and top[0][1] >= top[1][1] for top in model["top"])
    assert not re.search(r"https?://", html)


def test_undertrained_models_carry_a_warning(tmp_path: Path) -> None:
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    notes = content.training_warnings(inputs.load_inputs(tmp_path / "reports"))
    assert not [n for found in notes.values() for n in found if "max_steps" in n]
    path = tmp_path / "reports" / "metrics" / "gru.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"capped_while_improving_seeds": 1}))
    prefix = tmp_path / "reports" / "prefix" / "lstm.csv"
    table = pd.read_csv(prefix).assign(top1=0.0)  # worse than any dictionary at every k
    table.to_csv(prefix, index=False)
    html, _ = html_report.render(inputs.load_inputs(tmp_path / "reports"))
    caveats = re.search(r'<div class="caveats" id="caveats">(.*?)</div>', html, re.S).group(1)
    assert "GRU: stopped at train.max_steps while its validation loss was still falling" in caveats
    assert re.search(
        r"LSTM: below the dictionary baseline \(no context at all\) at k = 0, 1, 2", caveats
    )


def test_models_below_the_ngram_baseline_carry_a_warning(tmp_path: Path) -> None:
    """Only a gain over the n-gram baseline shows longer context: below it is a caveat, even
    when the model beats the dictionary."""
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    prefix = tmp_path / "reports" / "prefix"
    pd.read_csv(prefix / "dictionary.csv").assign(top1=0.0).to_csv(
        prefix / "dictionary.csv", index=False
    )
    pd.read_csv(prefix / "ngram.csv").assign(top1=1.0).to_csv(prefix / "ngram.csv", index=False)
    notes = content.training_warnings(inputs.load_inputs(tmp_path / "reports"))
    assert notes == {
        kind: [
            "below the n-gram baseline (the previous two words) at k = 0, 1, 2: "
            "its longer-context figures say little"
        ]
        for kind in ("gru", "lstm", "nlstm")
    }


def test_a_model_level_with_the_ngram_baseline_is_not_called_below_it(tmp_path: Path) -> None:
    """A point estimate under the baseline whose interval reaches it is level with it: no
    gain shows, and nothing says the model is worse."""
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    prefix = tmp_path / "reports" / "prefix"
    ours = pd.read_csv(prefix / "gru.csv")
    ours = ours.assign(top1_ci_low=ours["top1"] - 0.02, top1_ci_high=ours["top1"] + 0.02)
    ours.to_csv(prefix / "gru.csv", index=False)
    level = ours["top1"] + 0.01
    pd.read_csv(prefix / "dictionary.csv").assign(top1=0.0).to_csv(
        prefix / "dictionary.csv", index=False
    )
    pd.read_csv(prefix / "ngram.csv").assign(top1=level.values).to_csv(
        prefix / "ngram.csv", index=False
    )
    notes = content.training_warnings(inputs.load_inputs(tmp_path / "reports"))
    assert notes["gru"] == [
        "level with the n-gram baseline (the previous two words) at k = 0, 1, 2 (below it, "
        "but inside its 95 % interval): no gain in its longer-context prediction shows there"
    ]


def test_unmeasured_memory_measures_show_as_na(tmp_path: Path) -> None:
    """text8 or a user's file has no planted pairs: only effective context is measured."""
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    path = tmp_path / "reports" / "memory" / "lstm.json"
    memory = json.loads(path.read_text())
    for key in [m.name for m in registry.METRICS if m.source == "memory"]:
        if key in inputs.MEMORY_KEYS:
            continue
        memory |= {key: None, f"{key}_ci_low": None, f"{key}_ci_high": None}
    path.write_text(json.dumps(memory))
    html, _ = html_report.render(inputs.load_inputs(tmp_path / "reports"))
    table = re.search(r'<table class="metrics" id="memory-table">(.*?)</table>', html, re.S)
    row = re.search(r'<tr data-model="lstm">(.*?)</tr>', table.group(1)).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[:10] == ["n/a", "n/a / n/a", *["n/a"] * 8]
    assert cells[10] != "n/a" and "[" in cells[10]  # effective context keeps its interval


def test_censored_memory_measures_say_so(tmp_path: Path) -> None:
    """A span that reached the last bucket is the largest distance tested, "at least"; an
    effective context no window reached is "more than" the longest window; with several
    seeds, how many were censored."""
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    path = tmp_path / "reports" / "memory" / "gru.json"
    memory = json.loads(path.read_text()) | {
        "memory_span_chars": 185.0,
        "memory_span_chars_ci_low": 170.0,
        "memory_span_chars_ci_high": 185.0,
        "memory_span_censored_seeds": 1,
        "effective_context_chars": 100.0,
        "effective_context_censored_seeds": 1,
    }
    path.write_text(json.dumps(memory))
    path = tmp_path / "reports" / "memory" / "lstm.json"
    several = json.loads(path.read_text()) | {"seeds": 3, "memory_half_life_censored_seeds": 2}
    path.write_text(json.dumps(several))
    html, figures = html_report.render(inputs.load_inputs(tmp_path / "reports"))
    table = re.search(r'id="memory-table">(.*?)</table>', html, re.S).group(1)
    rows = {
        kind: re.findall(r"<td>([^<]*)</td>", re.search(rf'"{kind}">(.*?)</tr>', table).group(1))
        for kind in ("gru", "lstm")
    }
    assert rows["gru"][0] == "≥ 185 [170, 185]" and rows["gru"][10].startswith("&gt; 100 [")
    assert rows["lstm"][7].endswith("(censored in 2 of 3 seeds)")
    assert "190" not in rows["gru"][0]
    assert figures["memory_half_life.png"][:4] == b"\x89PNG"
    table = re.search(r'id="memory-comparisons-table">(.*?)</table>', html, re.S).group(1)
    assert "GRU - LSTM</td><td>recall gap, k=1 (referent - placebo)</td><td>+20.0 pt</td>" in table
    assert "memory span" not in table  # read off intervals by the recall rule: nothing to pair


def _findings(reports: Path) -> list[str]:
    html, _ = html_report.render(inputs.load_inputs(reports))
    return re.findall(r'<p class="finding">(.*?)</p>', html, re.S)


def test_findings_follow_the_numbers_not_the_template(tmp_path: Path) -> None:
    """Two runs whose numbers point opposite ways (the GRU recalls and the LSTM does not, then
    the other way round) give opposite sentences; no claim about a model is fixed text."""
    reports = tmp_path / "reports"
    write_inputs(reports, texts=SENTENCES[1:])
    recalls = {"recall_gap_k1": 0.3, "recall_gap_k1_ci_low": 0.25, "recall_gap_k1_ci_high": 0.35}
    none = {"recall_gap_k1": 0.0, "recall_gap_k1_ci_low": -0.03, "recall_gap_k1_ci_high": 0.03}
    readings = []
    for gru, lstm in ((recalls, none), (none, recalls)):
        for kind, values in (("gru", gru), ("lstm", lstm)):
            path = reports / "memory" / f"{kind}.json"
            path.write_text(json.dumps(json.loads(path.read_text()) | values))
        readings.append(_findings(reports))
    first, second = (
        {line.split(" ")[0]: line for line in found if " - " not in line.split(":")[0]}
        for found in readings
    )
    assert first["GRU"].startswith("GRU recalls") and first["LSTM"].startswith("LSTM shows no")
    assert second["GRU"].startswith("GRU shows no") and second["LSTM"].startswith("LSTM recalls")
    template = (ROOT / "src/rnnmem/report/templates/sections/memory.html").read_text()
    assert "separates less" not in template and "cannot be guessed" not in template


def test_without_planted_pairs_the_planted_sections_say_so_once(tmp_path: Path) -> None:
    """On text8 or a user's file: no empty table, no column of n/a for a planted-pair measure,
    one line saying why, and the memory on repeated words in their place."""
    reports = tmp_path / "reports"
    write_inputs(reports, texts=SENTENCES[1:])
    planted = [m.name for m in registry.METRICS if m.planted and m.source == "memory"]
    for kind in KINDS:
        path = reports / "memory" / f"{kind}.json"
        memory = json.loads(path.read_text())
        for key in planted:
            memory |= {key: None, f"{key}_ci_low": None, f"{key}_ci_high": None}
        path.write_text(json.dumps(memory))
    path = reports / "comparisons.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"memory_comparisons": []}))
    loaded = inputs.load_inputs(reports)
    assert not loaded.planted
    html, figures = html_report.render(loaded)
    assert html.count(content.NO_PAIRS) == 3  # the findings, the recall and memory sections
    for table in ("recall-table", "memory-comparisons-table"):
        assert f'id="{table}"' not in html
    memory_table = re.search(r'id="memory-table">(.*?)</table>', html, re.S).group(1)
    for metric in registry.table("memory"):
        assert (metric.label in memory_table) != metric.planted, metric.name
    assert "repeated words: swap effect" in memory_table
    top = re.search(r'id="memory-curve" src="([^"]*)"', html).group(1)
    assert top == html_report._data_uri(figures["natural_memory_curve.png"])
    assert "GRU: the corpus plants no recall pairs" not in html  # said once, not per model
    assert "On words that repeat, GRU" in html
    opening = re.search(r"<h1>.*?</p>", html, re.S).group(0)  # what the page says it reads
    assert "words that repeat" in opening and "planted" not in opening


def test_unmeasured_connectivity_metrics_show_as_na(tmp_path: Path) -> None:
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    path = tmp_path / "reports" / "connectivity" / "nlstm" / "metrics.json"
    unmeasured = dict.fromkeys(("current_word_share", "earlier_words_share"), None)
    path.write_text(json.dumps(unmeasured))
    html, figures = html_report.render(inputs.load_inputs(tmp_path / "reports"))
    table = re.search(r'id="metrics-table">(.*?)</table>', html, re.S).group(1)
    row = re.search(r'<tr data-model="nlstm">(.*?)</tr>', table).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row)[-1] == "n/a"
    assert figures["word_share.png"][:4] == b"\x89PNG"


def test_autocomplete_answers_with_every_model_side_by_side(tiny_models: Path, capsys) -> None:
    cli.main(["autocomplete", "--model", "all", "-k", "2", "the ve", *_paths(tiny_models)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # a header, then one line per rank
    assert lines[0].split() == ["GRU", "LSTM", "Nested", "LSTM"]
    for line in lines[1:]:
        cells = line.split()
        assert len(cells) == 6  # word and probability, three models
        assert all(0 <= float(p) <= 1 for p in cells[1::2])
    cli.main(["autocomplete", "--model", "lstm", "-k", "2", "the ve", *_paths(tiny_models)])
    alone = capsys.readouterr().out.splitlines()
    assert [line.split() for line in alone] == [line.split()[2:4] for line in lines[1:]]
