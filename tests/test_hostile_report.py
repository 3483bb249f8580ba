"""Hostile report inputs: text from any input file is shown as text, never run as markup."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from report_fixtures import SENTENCES, write_inputs
from test_browser import browser  # noqa: F401 - the shared headless Chromium fixture

from rnnmem.report import html_report, inputs, plots
from rnnmem.stage import UserError


@pytest.fixture(autouse=True)
def no_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """PNG plots take seconds each and carry no text from the inputs: stubbed here."""
    for name in ("training_curves", "prefix_accuracy", "connectivity_distance", "word_share"):
        monkeypatch.setattr(plots, name, lambda *args: b"\x89PNG")
    monkeypatch.setattr(plots, "heat_strip", lambda *args: b"\x89PNG")


PAYLOAD = "<img src=x onerror=\"document.title='pwned'\">"
CLOSER = "</script><script>document.title='pwned'</script>"


def _poison(reports: Path) -> None:
    """Markup in every string the report shows from sentences.json and metrics.json."""
    for kind in ("gru", "lstm", "nlstm"):
        path = reports / "connectivity" / kind / "sentences.json"
        data = json.loads(path.read_text())
        entry = data["sentences"][0]
        entry["text"] = PAYLOAD
        entry["top"][3][0][0] = CLOSER
        entry["targets"][4] = PAYLOAD
        path.write_text(json.dumps(data))
    path = reports / "connectivity" / "gru" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["current_word_share"] = PAYLOAD
    path.write_text(json.dumps(metrics))


def _render(reports: Path) -> str:
    try:
        return html_report.render(inputs.load_inputs(reports))[0]
    except UserError as err:  # a string where a count belongs may be refused instead
        assert "current_word_share" in str(err) and "\n" not in str(err)
        path = reports / "connectivity" / "gru" / "metrics.json"
        metrics = json.loads(path.read_text()) | {"current_word_share": 0.5}
        path.write_text(json.dumps(metrics))
        return html_report.render(inputs.load_inputs(reports))[0]


def test_markup_in_inputs_is_escaped_and_scripts_are_hashed(tmp_path: Path) -> None:
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    _poison(tmp_path / "reports")
    html = _render(tmp_path / "reports")
    assert "<img src=x" not in html and "<img" not in html.replace('<img class="plot" alt', "")
    assert "&lt;img src=x onerror=" in html  # shown as text in the caption
    assert html.count("<script") == html.count("</script>") == 2  # the data block and the JS
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "unsafe-inline" not in csp and re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'$", csp)
    data = json.loads(re.search(r'class="figure-data">(.*?)</script>', html).group(1))
    assert data["models"][0]["top"][3][0][0] == CLOSER  # the data survives, escaped as JSON


@pytest.mark.slow
def test_injected_handler_does_not_run_in_chromium(browser, tmp_path: Path) -> None:  # noqa: F811
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    _poison(tmp_path / "reports")
    index = tmp_path / "index.html"
    index.write_text(_render(tmp_path / "reports"))
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(index.as_uri(), wait_until="load")
    assert page.title() == "rnnmem report"
    assert page.get_attribute("#sentence-0", "data-selected") is not None  # the real JS ran
    assert PAYLOAD in page.inner_text("#sentence-0 figcaption")
    page.close()
    assert not errors, errors


def test_every_page_hashes_its_script_and_refuses_missing_values() -> None:
    """The policy is checked where it is built, not only in one rendered page."""
    html = html_report.connectivity_page([], "t")
    assert "'unsafe-inline'" not in html and "script-src 'sha256-" in html
    with pytest.raises(Exception, match="undefined"):
        html_report._ENV.get_template("figure.html").render()  # missing context is an error


@pytest.mark.parametrize(
    ("relative", "edit", "message"),
    [
        ("metrics/gru.json", {"cross_entropy": "2.5"}, "cross_entropy must be numbers"),
        ("metrics/gru.json", {"parameters": True}, "parameters must be numbers"),
        ("memory/lstm.json", {"connectivity_auc_k1": "high"}, "connectivity_auc_k1 must"),
        ("connectivity/lstm/metrics.json", {"current_word_share": "x"}, "current_word_share"),
    ],
)
def test_a_string_where_a_metric_belongs_is_one_line(tmp_path, relative, edit, message) -> None:
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    path = tmp_path / "reports" / relative
    path.write_text(json.dumps(json.loads(path.read_text()) | edit))
    with pytest.raises(UserError, match=message) as caught:
        inputs.load_inputs(tmp_path / "reports")
    assert str(path) in str(caught.value) and "dvc repro" in str(caught.value)


def test_a_garbage_curve_file_is_one_line(tmp_path: Path) -> None:
    write_inputs(tmp_path / "reports", texts=SENTENCES[1:])
    path = (
        tmp_path
        / "reports"
        / "train"
        / "gru"
        / "seed0"
        / "plots"
        / "metrics"
        / "train"
        / "loss.tsv"
    )
    path.write_text("timestamp\tstep\tloss\n1\t0\tnan?\n2\t10\t\x00\xff garbage\n")
    with pytest.raises(UserError, match=r"column loss holds non-numbers.*dvc repro train@gru-0"):
        inputs.load_inputs(tmp_path / "reports")
