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
import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from rnnmem.analysis import registry
from rnnmem.analysis.memory import rule
from rnnmem.files import atomic_path, read_json, write_json
from rnnmem.kinds import LABELS
from rnnmem.params import parse_yaml
from rnnmem.report import findings, formatting
from rnnmem.stage import UserError, run_stage

RUNS = Path("docs/runs")
PAGE = Path("docs/memory.md")
EXPLORATION = Path("benchmarks/memory_runs.jsonl")  # how the default's settings were found
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

    def has(self, relative: str) -> bool:
        return (self.folder / relative).is_file()

    @property
    def params(self) -> dict[str, Any]:
        """The run's params.yaml."""
        return parse_yaml(self.meta["params"], self.folder / "run.json")

    @property
    def kinds(self) -> list[str]:
        return list(self.params["models"])

    def memory(self, kind: str) -> dict[str, Any]:
        """The model's memory measures over the run's seeds (the aggregate stage's)."""
        return self.json(f"memory/{kind}.json")

    def seed(self, kind: str, seed: int) -> dict[str, Any]:
        """One seed's memory measures with its recall over training, flags counted as the
        aggregate counts them (`<flag>_seeds`), so the registry formats them alike."""
        found = self.json(f"memory/seeds/{kind}/seed{seed}/metrics.json")
        found |= self.json(f"recall/seeds/{kind}/seed{seed}/metrics.json")
        found["steps_to_recall_median"] = found["steps_to_recall"]
        flags = {f"{k}_seeds": int(v) for k, v in found.items() if isinstance(v, bool)}
        return found | flags | {"seeds": 1}


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
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.do"],
    )
    environment.filters |= {
        "cell": lambda measures, name: formatting.cell(registry.BY_NAME[name], measures),
        "value": lambda raw, name: formatting.value(registry.BY_NAME[name], raw),
        "number": lambda raw, digits=0: f"{raw:,.{digits}f}",
        "paired": _paired,
    }
    environment.globals |= {
        "verdict": _verdict,
        "overlap": _overlap,
        "label": lambda kind: LABELS.get(kind, kind),
        "against_baseline": findings.against_baseline,
        "title": lambda name: registry.BY_NAME[name].label,
    }
    return environment.get_template("memory.md")


def _verdict(measures: Mapping[str, Any], key: str, bar: float) -> str:
    """How the recall rule reads `key`'s interval in `measures`, in words."""
    low, high = measures.get(f"{key}_ci_low"), measures.get(f"{key}_ci_high")
    if measures.get(key) is None:
        return "n/a"
    return {"recalls": "recalls", "below": "below placebos", "none": "no recall"}[
        rule.verdict(low, high, bar)
    ]


def _paired(row: Mapping[str, Any] | None, name: str) -> str:
    """A paired difference A - B with its interval, in the registry's unit for `name`."""
    if row is None or row["difference"] is None:
        return formatting.MISSING
    metric = registry.BY_NAME[name]
    low, high = (formatting.difference(metric, row[side]) for side in ("ci_low", "ci_high"))
    return f"{formatting.difference(metric, row['difference'], unit=True)} [{low}, {high}]"


def _overlap(measures: Mapping[str, Any], one: str, other: str) -> str:
    """Whether the intervals of two measures of the same thing overlap ("yes"), or not."""
    bounds = [(measures.get(f"{k}_ci_low"), measures.get(f"{k}_ci_high")) for k in (one, other)]
    if any(b is None for pair in bounds for b in pair):
        return formatting.MISSING
    (low, high), (other_low, other_high) = bounds
    return "yes" if low <= other_high and other_low <= high else "no"


def exploration(path: Path = EXPLORATION) -> list[dict[str, Any]]:
    """The exploration log's evaluations (benchmarks/memory_sweep.py), one per line."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def render(runs: Path = RUNS, extra: Mapping[str, Any] | None = None) -> str:
    """docs/memory.md from the saved runs (and the exploration log of benchmarks/)."""
    return _template().render(runs=load(runs), exploration=exploration(), **(extra or {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="action", required=True)
    saved = commands.add_parser("save", help="keep reports/'s summaries as docs/runs/<name>")
    saved.add_argument("name")
    saved.add_argument("--command", required=True, help="the command that made the run")
    commands.add_parser("render", help="write docs/memory.md from docs/runs")
    args = parser.parse_args()
    if args.action == "save":
        print(save(args.name, args.command))
    else:
        with atomic_path(PAGE) as tmp:
            tmp.write_text(render())
        print(PAGE)


if __name__ == "__main__":
    run_stage(main)
