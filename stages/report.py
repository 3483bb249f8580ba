"""Stage `report`: reports/index.html (self-contained, opens from disk), reports/figures/*.png
and the results page docs/results.md."""

from pathlib import Path

import yaml

from rnnmem import params
from rnnmem.report.html_report import paper_profile, write_report
from rnnmem.stage import run_stage

REPORTS = Path("reports")
PAPER_PROFILE = Path("profiles/paper.yaml")


def main() -> None:
    paper = paper_profile(params.read_params(), yaml.safe_load(PAPER_PROFILE.read_text()))
    seed = params.load_seeds()[0]
    write_report(
        REPORTS, REPORTS / "index.html", REPORTS / "figures", seed, paper, Path("docs/results.md")
    )


if __name__ == "__main__":
    run_stage(main)
