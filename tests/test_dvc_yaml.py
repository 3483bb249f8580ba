"""dvc.yaml declares, per stage, the code that stage runs and hands it every path it reads or
writes; each seed has its own stages."""

import ast
import functools
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _module_file(dotted: str) -> str | None:
    """src/rnnmem/... path of a dotted rnnmem module, None for a package or a non-module."""
    path = ROOT / "src" / Path(*dotted.split(".")).with_suffix(".py")
    return str(path.relative_to(ROOT)) if path.is_file() else None


def rnnmem_imports(path: Path) -> set[str]:
    """Module files of the rnnmem package that `path` imports directly."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rnnmem"):
            found.add(_module_file(node.module))
            # `from rnnmem.package import module_a, module_b`
            found.update(_module_file(f"{node.module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(_module_file(a.name) for a in node.names if a.name.startswith("rnnmem."))
    return found - {None}


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
    """dvc.yaml's stages with every `matrix:` expanded over one model and one seed."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    values = {"model": next(iter(params["models"])), "seed": str(params["seeds"][0])}
    stages = {}
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        if "matrix" not in stage:
            stages[name] = stage
            continue
        text = yaml.safe_dump({k: v for k, v in stage.items() if k != "matrix"})
        for key in stage["matrix"]:
            text = text.replace(f"${{item.{key}}}", values[key])
        stages[f"{name}@{values['model']}"] = yaml.safe_load(text)
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


def _stage_definitions(tmp_path: Path, seeds: list[int]) -> dict[str, dict]:
    """DVC's own expansion of dvc.yaml with params.yaml's `seeds` set to `seeds`: per stage
    its command, dependencies (with the params values it tracks) and outputs."""
    from dvc.repo import Repo

    root = tmp_path / "-".join(map(str, seeds))
    root.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump({**params, "seeds": seeds}))
    (root / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    repo = Repo.init(str(root), no_scm=True)
    try:
        return {
            stage.name: {
                "stage": stage.dumpd(),
                "params": [d.read_params() for d in stage.deps if hasattr(d, "read_params")],
            }
            for stage in repo.index.stages
        }
    finally:
        repo.close()


def test_adding_a_seed_leaves_the_other_seeds_stages_unchanged(tmp_path):
    one, two = _stage_definitions(tmp_path, [0]), _stage_definitions(tmp_path, [0, 7])
    models = list(yaml.safe_load((ROOT / "params.yaml").read_text())["models"])
    per_run = [
        f"{name}@{m}-0"
        for name in ("train", "evaluate", "connectivity", "memory", "recall")
        for m in models
    ]
    assert set(per_run) <= set(one)
    for name in per_run:
        assert two[name] == one[name], f"{name} changes when a seed is added"
    added = set(two) - set(one)
    assert added == {name.replace("-0", "-7") for name in per_run}
    # ...and what summarises over seeds does see the new seed.
    assert two["compare"] != one["compare"]
    assert all(two[f"aggregate@{m}"] != one[f"aggregate@{m}"] for m in models)


@functools.cache
def _data_paths() -> dict[str, tuple[str, list[str]]]:
    """Per stage as DVC expands dvc.yaml: its command and the data it reads or writes (every
    dependency and output but code and params)."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return {
            stage.addressing: (
                stage.cmd,
                [
                    entry.def_path
                    for entry in [*stage.deps, *stage.outs]
                    if not hasattr(entry, "read_params")
                    and not entry.def_path.startswith(("src/", "stages/"))
                ],
            )
            for stage in repo.index.stages
        }


def test_every_file_a_stage_reads_or_writes_is_on_its_command_line():
    """Each data dependency and output of a stage is an argument of its command, or lies in a
    folder that is."""
    stages = _data_paths()
    assert len(stages) > 10
    for name, (cmd, paths) in stages.items():
        given = [arg.rstrip("/") for arg in shlex.split(cmd)[2:]]
        for path in paths:
            assert any(path == arg or path.startswith(f"{arg}/") for arg in given), (
                f"stage {name} uses {path} but its command does not name it"
            )


def test_no_stage_script_spells_a_project_path():
    """The paths live in dvc.yaml alone: no stage script names a project folder itself."""
    roots = {Path(p).parts[0] for _, paths in _data_paths().values() for p in paths}
    assert {"data", "reports"} <= roots
    for script in sorted((ROOT / "stages").glob("*.py")):
        tree = ast.parse(script.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named = [r for r in roots if node.value == r or node.value.startswith(f"{r}/")]
                assert not named, f"{script.name} spells {node.value!r}; take it from dvc.yaml"
