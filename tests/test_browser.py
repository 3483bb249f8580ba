"""The interactive connectivity figure, and `dvc plots show`'s page, in a real headless
Chromium, opened from disk.

Needs Debian's `chromium` at /usr/bin/chromium and the `playwright` Python package (its own
browser downloads are never used). Locally the test skips without them; in CI (CI=true)
it fails, so a broken browser setup cannot pass unnoticed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from pipeline_repo import sh
from report_fixtures import KINDS, write_inputs

from rnnmem.report import html_report, inputs
from rnnmem.report.dvc_page import offline_template

pytestmark = pytest.mark.slow  # end to end: the slow tier

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found; install Debian's chromium package")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def _intensities(page, figure: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """data-intensity of every character of one row, and the alpha of its inline background."""
    values = page.eval_on_selector_all(
        f'{figure} span.char[data-model="{kind}"]',
        "spans => spans.map(s => [s.dataset.intensity, s.style.backgroundColor])",
    )
    intensity = np.array([float(v) for v, _ in values])
    alpha = []
    for _, background in values:
        channels = re.findall(r"[\d.]+", background)
        alpha.append(float(channels[3]) if len(channels) == 4 else 1.0)
    return intensity, np.array(alpha)


def _predictions(page, figure: int, kind: str) -> list[tuple[str, float]]:
    return page.eval_on_selector_all(
        f'#predictions-{figure} .model-predictions[data-model="{kind}"] li',
        "items => items.map(i => [i.dataset.word, Number(i.dataset.prob)])",
    )


def _check_selected(page, sentences: dict, position: int) -> None:
    """Every row is shaded by its own matrix row at `position`; panels show its top words."""
    assert page.get_attribute("#sentence-0", "data-selected") == str(position)
    for kind in KINDS:
        given = sentences[kind][0]
        row = np.array(given["matrix"])[position, : position + 1]
        expected = np.zeros(len(given["chars"]))
        expected[: position + 1] = row / row.max()
        intensity, alpha = _intensities(page, "#sentence-0", kind)
        np.testing.assert_allclose(intensity, expected, atol=1e-3)
        np.testing.assert_allclose(alpha, expected, atol=4e-3)  # 8-bit alpha
        shown = _predictions(page, 0, kind)
        assert [w for w, _ in shown] == [w for w, _ in given["top"][position]]
        np.testing.assert_allclose(
            [p for _, p in shown], [p for _, p in given["top"][position]], rtol=1e-5
        )
    selected = page.eval_on_selector_all("#sentence-0 span.char.selected", "s => s.length")
    assert selected == len(KINDS)


def _open(browser, url: str, viewport: dict[str, int]):
    """A new page at `url` (loaded), the URLs it requested and the errors it reported."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(30_000)
    requests, errors = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(url, wait_until="load")
    return page, requests, errors


def test_connectivity_figure_in_chromium(browser, tmp_path: Path) -> None:
    sentences = write_inputs(tmp_path / "reports")
    index = tmp_path / "index.html"
    html_report.write_report(tmp_path / "reports", index, tmp_path / "figures")
    url = index.as_uri()
    page, requests, errors = _open(browser, url, {"width": 1200, "height": 900})

    initial = int(page.get_attribute("#sentence-0", "data-selected"))
    position = 25 if initial != 25 else 30
    page.hover(f'#sentence-0 span.char[data-model="lstm"][data-pos="{position}"]')
    _check_selected(page, sentences, position)

    page.click(f'#sentence-0 span.char[data-model="gru"][data-pos="{position}"]')
    page.keyboard.press("ArrowRight")
    _check_selected(page, sentences, position + 1)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    _check_selected(page, sentences, position - 1)
    # The other sentence's figure is independent of this one.
    assert page.get_attribute("#sentence-1", "data-selected") == str(
        html_report.initial_position(inputs.load_inputs(tmp_path / "reports").sentences[1])
    )

    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#sentence-0").screenshot(path=str(ARTIFACTS / "connectivity_figure.png"))
    page.close()
    assert not errors, errors
    assert requests and requests[0] == url
    outside = [r for r in requests if r != url and not r.startswith("data:")]
    assert not outside, f"the page requested {outside}"


def _dvc_plots_page(browser, repo: Path, out: Path):
    """`dvc plots show` of `repo` with the offline template, opened in Chromium once every
    panel is drawn, without a script error or a request beyond the page's own file."""
    template = out / "template.html"
    template.parent.mkdir(parents=True, exist_ok=True)
    template.write_text(offline_template())
    sh(repo, "dvc", "plots", "show", "--html-template", str(template), "-o", str(out / "page"))
    url = (out / "page" / "index.html").as_uri()
    page, requests, errors = _open(browser, url, {"width": 1400, "height": 1000})
    page.wait_for_function(
        "() => Object.keys(window.dvcViews).length"
        " === document.querySelectorAll('body > div[id]').length"
    )
    assert not errors, errors
    outside = [r for r in requests if not r.startswith(("file:", "data:"))]
    assert not outside, f"the page requested {outside}"
    return page


def _scales(page) -> dict[str, dict]:
    """Per panel with rows, by title: its y scale's type and domain, and whether it has an
    x scale (a panel without one of them draws nothing)."""
    return page.evaluate(
        """() => Object.fromEntries(Object.entries(window.dvcViews)
            .filter(([, {rows}]) => rows > 0)
            .map(([title, {view}]) => {
                const scale = (name) => { try { return view.scale(name); } catch { return null; } };
                const y = scale('y');
                return [title, {x: scale('x') !== null, y: y && y.type, domain: y && y.domain()}];
            }))"""
    )


def _distance_panel(scales: dict[str, dict]) -> str:
    [title] = [t for t in scales if t.startswith("Connectivity by distance")]
    return title


def test_dvc_plots_page_draws_every_panel_offline(browser, reproduced, tmp_path: Path) -> None:
    """A fresh tiny run's `dvc plots show` page, offline: every panel with rows drawn on an x
    and a y scale, connectivity by distance on a logarithmic one."""
    page = _dvc_plots_page(browser, reproduced, tmp_path)
    scales = _scales(page)
    assert len(scales) >= 10
    assert all(scale["x"] and scale["y"] for scale in scales.values()), scales
    assert scales[_distance_panel(scales)]["y"] == "log"
    # A log axis whose domain reaches 0 draws nothing (smoothing can push values below 0).
    logs = {title: scale["domain"] for title, scale in scales.items() if scale["y"] == "log"}
    assert len(logs) >= 4 and all(low > 0 for low, _ in logs.values()), logs
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dvc-plots-tiny.png"), full_page=True)
    page.close()


def test_default_run_distance_profile_spans_decades_on_a_log_axis(browser, tmp_path: Path) -> None:
    """The repository's own default-run results as `dvc plots show` draws them: the distance
    profile falls over many decades, which only a log axis shows; its panel is the picture
    in docs/dvc.md (docs/img/dvc-plots.png)."""
    if not (ROOT / "reports" / "plots" / "connectivity_distance.csv").is_file():
        pytest.skip("no default-run results in this checkout; run `dvc repro` first")
    page = _dvc_plots_page(browser, ROOT, tmp_path)
    scales = _scales(page)
    distance = scales[_distance_panel(scales)]
    low, high = distance["domain"]
    assert distance["y"] == "log" and high / low > 1e10, distance
    title = json.dumps(_distance_panel(scales))
    selector = page.evaluate(f"() => window.dvcViews[{title}].selector")
    page.locator(selector).screenshot(path=str(ROOT / "docs" / "img" / "dvc-plots.png"))
    page.close()


def test_the_report_fits_a_1280_pixel_window(browser, tmp_path: Path) -> None:
    """The default run's report, rendered from the repository's results with this checkout's
    templates, scrolls only down in a 1,280-pixel window: a table wider than the page scrolls
    inside its own box, a figure shrinks to the page."""
    html_report.write_report(ROOT / "reports", tmp_path / "index.html", tmp_path / "figures")
    page, _, errors = _open(
        browser, (tmp_path / "index.html").as_uri(), {"width": 1280, "height": 900}
    )
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)
            .map(e => e.tagName + (e.id ? '#' + e.id : ''))"""
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-1280.png"))
    page.close()
    assert not errors, errors
    assert widths[0] <= 1280 and widths[0] <= widths[1], (widths, wide[:10])
