"""Runs kept with the docs: the small result files of a named run, and docs/memory.md written
from them.

A run worth quoting (three seeds, a profile, a sweep) is saved under docs/runs/<name>/: the
summary files the pipeline leaves in reports/ (JSON and CSV, a few hundred kilobytes), and
run.json with the command that made it, the commit it ran at and its params.yaml. Every
figure of docs/memory.md is read from these files by `render`, and a test renders the page
again and compares it with the committed one, so the page cannot quote a number no file holds.

    python -m rnnmem.report.runs save three-seeds --command "dvc exp run -S 'seeds=[0,1,2]'"
    python -m rnnmem.report.runs render          # writes docs/memory.md
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from rnnmem.analysis import registry
from rnnmem.files import atomic_path, read_json, write_json
from rnnmem.report import formatting
from rnnmem.stage import UserError, run_stage

RUNS = Path("docs/runs")
PAGE = Path("docs/memory.md")
# What a run keeps of reports/: its summaries, not its models or predictions.
KEPT = (
    "headline/*.json",
    "metrics/*.json",
    "memory/*.json",
    "memory/*/*.csv",
    "memory/seeds/*/*/metrics.json",
    "recall/seeds/*/*/metrics.json",
    "recall/*/curve.csv",
    "prefix/*.csv",
    "train/*/*/metrics.json",
    "comparisons.json",
    "baseline.json",
    "dataset.json",
)


def save(name: str, command: str, reports: Path = Path("reports"), runs: Path = RUNS) -> Path:
    """Copy the run's summaries from `reports` to `runs`/`name`, replacing an earlier save of
    that name, with run.json: the command, the commit, the date and params.yaml."""
    if not (reports / "comparisons.json").is_file():
        raise UserError(f"{reports} holds no finished run; run `dvc repro` first")
    folder = runs / name
    shutil.rmtree(folder, ignore_errors=True)
    for pattern in KEPT:
        for path in sorted(reports.glob(pattern)):
            target = folder / path.relative_to(reports)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    write_json(
        folder / "run.json",
        {
            "command": command,
            "commit": commit,
            "date": datetime.date.today().isoformat(),
            "params": Path("params.yaml").read_text(),
        },
    )
    return folder


@dataclass(frozen=True)
class Run:
    """One saved run, read back: what the page template is given of it."""

    name: str
    folder: Path
    meta: dict[str, Any]

    def json(self, relative: str) -> Any:
        return read_json(self.folder / relative)

    def csv(self, relative: str) -> pd.DataFrame:
        return pd.read_csv(self.folder / relative)

    def exists(self, relative: str) -> bool:
        return (self.folder / relative).is_file()

    @property
    def kinds(self) -> list[str]:
        return sorted(p.stem for p in (self.folder / "headline").glob("*.json"))


def load(runs: Path = RUNS) -> dict[str, Run]:
    """Every saved run, by name."""
    return {
        folder.name: Run(folder.name, folder, read_json(folder / "run.json"))
        for folder in sorted(runs.iterdir())
        if (folder / "run.json").is_file()
    }


def _template() -> jinja2.Template:
    loader = jinja2.PackageLoader("rnnmem.report", "templates")
    environment = jinja2.Environment(
        loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    environment.filters |= {
        "cell": lambda measures, name: formatting.cell(registry.BY_NAME[name], measures),
        "value": lambda raw, name: formatting.value(registry.BY_NAME[name], raw),
    }
    return environment.get_template("memory.md")


def render(runs: Path = RUNS, extra: Mapping[str, Any] | None = None) -> str:
    """docs/memory.md from the saved runs (and the exploration log of benchmarks/)."""
    return _template().render(runs=load(runs), **(extra or {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    saved = commands.add_parser("save", help="keep reports/'s summaries as docs/runs/<name>")
    saved.add_argument("name")
    saved.add_argument("--command", required=True, help="the command that made the run")
    commands.add_parser("render", help="write docs/memory.md from docs/runs")
    args = parser.parse_args()
    if args.command == "save":
        print(save(args.name, args.command))
    else:
        with atomic_path(PAGE) as tmp:
            tmp.write_text(render())
        print(PAGE)


if __name__ == "__main__":
    run_stage(main)
