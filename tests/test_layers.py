"""The library does not know the pipeline: models/, data/, analysis/ and training/ reach
neither the stage machinery nor params.yaml's schema, and name no DVC stage; the stage scripts
and the `rnnmem` command say which stage to rerun. The command starts without the plotting
libraries."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from shipped import read_yaml
from test_report import _paths, tiny_models  # noqa: F401 - shared tiny trained models

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
LIBRARY = ("models", "data", "analysis", "training")
PIPELINE = (
    "rnnmem.stage",
    "rnnmem.params",
    "rnnmem.profile",
    "rnnmem.orphans",
    "rnnmem.cli",
    "rnnmem.report",
)
STAGES = list(read_yaml(ROOT / "dvc.yaml")["stages"])
# `dvc repro`, or a stage named as DVC names it: train@gru-0, aggregate@lstm
STAGE_NAME = re.compile(r"dvc repro|\b(" + "|".join(STAGES) + r")@")
PLOTTING = ("matplotlib", "seaborn")


def _module_file(dotted: str) -> Path | None:
    path = SRC / Path(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """The rnnmem modules `path` imports, by dotted name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rnnmem"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rnnmem")}
    return {name for name in found if _module_file(name) is not None}


def _reached(path: Path) -> set[str]:
    """Every rnnmem module `path` reaches through imports."""
    seen: set[str] = set()
    todo = list(_imports(path))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _imports(_module_file(name))
    return seen


def _library_files() -> list[Path]:
    files = [p for folder in LIBRARY for p in sorted((SRC / "rnnmem" / folder).glob("*.py"))]
    assert len(files) > 20
    return files


@pytest.mark.parametrize("path", _library_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_library_reaches_nothing_of_the_pipeline(path: Path) -> None:
    pipeline = {m for m in _reached(path) if m.startswith(PIPELINE)}
    assert not pipeline, f"{path.name} reaches {sorted(pipeline)}"


@pytest.mark.parametrize("path", _library_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_library_names_no_stage(path: Path) -> None:
    """Its messages name the problem; which stage remakes a file is the stage's to say."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not STAGE_NAME.search(node.value), f"{path.name} says {node.value!r}"


def test_the_scans_see_what_they_look_for() -> None:
    """The two checks above, on code that breaks them."""
    assert STAGE_NAME.search("x not found; run `dvc repro train@gru-0`")
    assert STAGE_NAME.search("rerun aggregate@lstm") and not STAGE_NAME.search("the build")
    assert "rnnmem.stage" in _reached(SRC / "rnnmem" / "profile.py")
    assert "rnnmem.files" in _reached(SRC / "rnnmem" / "training" / "train.py")


def _modules_after(code: str, roots: tuple[str, ...] = PLOTTING) -> list[str]:
    """The modules at or under `roots` (the plotting libraries) that a fresh interpreter holds
    after running `code`."""
    check = (
        f"{code}\nimport sys\n"
        f"print(sorted(m for m in sys.modules if m.startswith({roots!r}) and "
        f"any(m == r or m.startswith(r + '.') for r in {roots!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])  # a printed list of names


@pytest.mark.slow  # runs a stage end to end
def test_the_command_starts_without_the_plotting_libraries(tiny_models: Path) -> None:  # noqa: F811
    """`rnnmem autocomplete` (and its --help) import neither matplotlib nor seaborn: only the
    connectivity figure needs them."""
    assert _modules_after("import rnnmem.cli") == []
    run = "from rnnmem import cli\ntry:\n    cli.main({!r})\nexcept SystemExit:\n    pass"
    assert _modules_after(run.format(["autocomplete", "--help"])) == []
    text = ["autocomplete", "--model", "all", "parts of north af", *_paths(tiny_models)]
    assert _modules_after(run.format(text)) == []
    assert _modules_after("import rnnmem.report.html_report") != []  # what the check sees


def test_settings_the_summaries_and_help_load_neither_torch_nor_the_models() -> None:
    """params.yaml's schema and the aggregate stage (the summaries over seeds) import neither
    torch nor rnnmem.models: a change to a model's code reruns neither the stages that only read
    settings nor aggregation, and they start without torch's import time (benchmarks/); nor
    does `rnnmem --help`."""
    heavy = ("torch", "rnnmem.models")
    assert _modules_after("import rnnmem.params", heavy) == []
    stage = "import runpy\nrunpy.run_path('stages/aggregate.py', run_name='imported')"
    assert _modules_after(stage, heavy) == []
    command = "from rnnmem import cli\ntry:\n    cli.main({!r})\nexcept SystemExit:\n    pass"
    assert _modules_after(command.format(["--help"]), heavy) == []
    assert _modules_after(command.format(["autocomplete", "--help"]), heavy) == []
    assert _modules_after("import rnnmem.analysis.prediction", heavy) != []  # what it sees
