"""Stage `report`: reports/index.html (self-contained, opens from disk), reports/figures/*.png."""

from pathlib import Path

from rnnmem.report import write_report
from rnnmem.stage import run_stage

REPORTS = Path("reports")


def main() -> None:
    write_report(REPORTS, REPORTS / "index.html", REPORTS / "figures")


if __name__ == "__main__":
    run_stage(main)
