"""An HTML template for `dvc plots show` that needs no network.

DVC's own page loads Vega, Vega-Lite and vega-embed from a CDN. This template inlines the
three (bundled by the vl-convert-python package) and keeps each panel's Vega view in
`window.dvcViews`, keyed by the panel's title (its selector when it has none: DVC draws a
file without rows as an empty panel), with its row count, so a script can read what was drawn:

    python -m rnnmem.report.dvc_page .dvc/tmp/plots.html
    dvc plots show --html-template .dvc/tmp/plots.html
"""

from __future__ import annotations

import argparse

from rnnmem.files import write_text
from rnnmem.stage import UserError, run_stage

# DVC fills `{plot_divs}`: one <div> per panel whose inline script calls vegaEmbed(selector,
# spec). The wrapper below runs first and records the view each call draws.
TEMPLATE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>DVC plots</title>
<script>
{bundle}
</script>
<script>
window.dvcViews = {{}};
const drawPanel = window.vegaEmbed;
window.vegaEmbed = (selector, spec, options) =>
  drawPanel(selector, spec, options).then((result) => {{
    const rows = spec.data && Array.isArray(spec.data.values) ? spec.data.values.length : 0;
    const title = (spec.title && spec.title.text) || selector;
    window.dvcViews[title] = {{selector, rows, view: result.view}};
    return result;
  }});
</script>
<style>
body {{ font-family: sans-serif; }}
body > div {{ display: inline-block; margin: 8px; }}
</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def offline_template() -> str:
    """The page template, with Vega, Vega-Lite and vega-embed inlined (about 900 kB)."""
    try:
        import vl_convert
    except ImportError:
        raise UserError(
            "vl-convert-python is not installed; `pip install -e '.[dev]'` installs it"
        ) from None
    return TEMPLATE.format(bundle=vl_convert.javascript_bundle())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # A plain string: Path("") would be ".", and an empty path would be named a directory.
    parser.add_argument("output", help="where to write the template")
    write_text(parser.parse_args().output, offline_template())


if __name__ == "__main__":
    run_stage(main)
