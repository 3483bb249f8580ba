"""dvc.yaml declares, per stage, exactly the code that stage runs (issue 5: precise reruns)."""

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "rnnmem"


def rnnmem_imports(path: Path) -> set[str]:
    """Module files of the rnnmem package that `path` imports directly."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rnnmem"):
            parts = node.module.split(".")
            if len(parts) == 2:
                found.add(parts[1])
            else:  # `from rnnmem import a, b`
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("rnnmem."))
    return {f"src/rnnmem/{name}.py" for name in found if (PACKAGE / f"{name}.py").exists()}


def code_closure(script: str) -> set[str]:
    """The script and every package module it reaches through imports."""
    seen, todo = set(), [script]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(rnnmem_imports(ROOT / path))
    return seen


def expanded_stages() -> dict[str, dict]:
    stages = {}
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        if "foreach" not in stage:
            stages[name] = stage
            continue
        for item in stage["foreach"]:
            text = yaml.safe_dump(stage["do"]).replace("${item}", item)
            stages[f"{name}@{item}"] = yaml.safe_load(text)
    return stages


def test_every_stage_depends_on_all_the_code_it_runs():
    for name, stage in expanded_stages().items():
        script = stage["cmd"].split()[1]
        deps = set(stage["deps"])
        missing = code_closure(script) - deps
        assert not missing, f"stage {name} runs {sorted(missing)} without declaring them"


def test_no_stage_declares_code_it_does_not_run():
    for name, stage in expanded_stages().items():
        script = stage["cmd"].split()[1]
        declared = {d for d in stage["deps"] if d.endswith(".py")}
        extra = declared - code_closure(script)
        assert not extra, f"stage {name} declares {sorted(extra)} but never imports them"
