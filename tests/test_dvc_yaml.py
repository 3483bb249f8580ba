"""dvc.yaml declares, per stage, the code that stage runs and the parameters it reads, and hands
it every path it reads or writes; each seed has its own stages."""

import ast
import dataclasses
import functools
import shlex
from pathlib import Path

import pytest
from shipped import load_yaml, read_yaml, write_yaml, yaml_text

from rnnmem import params

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
    params = read_yaml(ROOT / "params.yaml")
    values = {"model": next(iter(params["models"])), "seed": str(params["seeds"][0])}
    stages = {}
    for name, stage in read_yaml(ROOT / "dvc.yaml")["stages"].items():
        if "matrix" not in stage:
            stages[name] = stage
            continue
        text = yaml_text({k: v for k, v in stage.items() if k != "matrix"})
        for key in stage["matrix"]:
            text = text.replace(f"${{item.{key}}}", values[key])
        stages[f"{name}@{values['model']}"] = load_yaml(text)
    return stages


def code_deps(script: str) -> set[str]:
    """What a stage running `script` must declare: the script, each package of rnnmem it
    reaches as a folder (`src/rnnmem/analysis`), each top-level module as a file. Folders keep
    `dvc exp show` to one column a package; a package is the unit that reruns."""
    deps = set()
    for path in code_closure(script):
        parts = Path(path).parts
        in_package = parts[:2] == ("src", "rnnmem") and len(parts) > 3
        deps.add(str(Path(*parts[:3])) if in_package else path)
    return deps


def test_every_stage_declares_exactly_the_code_it_runs():
    for name, stage in expanded_stages().items():
        script = stage["cmd"].split()[1]
        declared = {d for d in stage["deps"] if d.startswith(("src/", "stages/"))}
        assert declared == code_deps(script), (
            f"stage {name}: missing {sorted(code_deps(script) - declared)}, "
            f"not run {sorted(declared - code_deps(script))}"
        )


def test_editing_analysis_or_report_code_retrains_nothing():
    """The expensive stage depends on no package it does not run: a change to a measure or the
    report reruns the analysis, never the training; and the training loop is the train
    stage's alone (the loss, which the analysis scores by, lives with the models)."""
    stages = expanded_stages()
    train = next(s for n, s in stages.items() if n.startswith("train@"))
    assert {"src/rnnmem/models", "src/rnnmem/training"} <= set(train["deps"])
    assert not {"src/rnnmem/analysis", "src/rnnmem/report"} & set(train["deps"])
    users = [n for n, s in stages.items() if "src/rnnmem/training" in s["deps"]]
    assert users == [n for n in stages if n.startswith("train@")]


def test_every_stage_runs_after_the_validate_stage():
    """DVC deletes a stage's outputs before it runs the stage, so the settings are checked
    first: the validate stage runs on every `dvc repro` (always_changed) and every other stage
    follows it in the graph, so a refused value stops DVC before any output is touched."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        stages = {stage.addressing: stage for stage in repo.index.stages}
        validate = stages.pop("validate")
        assert validate.always_changed and len(stages) > 10
        after = [
            name for name, s in stages.items() if validate in nx.descendants(repo.index.graph, s)
        ]
    assert sorted(after) == sorted(stages)


def test_dvc_ignores_python_caches_inside_code_folders():
    """A folder dependency hashes every file in it: bytecode caches written by a run would
    otherwise make the next `dvc status` see changed code."""
    ignored = (ROOT / ".dvcignore").read_text().split()
    assert "__pycache__/" in ignored and "*.pyc" in ignored


def _stage_definitions(tmp_path: Path, seeds: list[int]) -> dict[str, dict]:
    """DVC's own expansion of dvc.yaml with params.yaml's `seeds` set to `seeds`: per stage
    its command, dependencies (with the params values it tracks) and outputs."""
    from dvc.repo import Repo

    root = tmp_path / "-".join(map(str, seeds))
    root.mkdir()
    params = read_yaml(ROOT / "params.yaml")
    write_yaml(root / "params.yaml", {**params, "seeds": seeds})
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
    models = list(read_yaml(ROOT / "params.yaml")["models"])
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


# ---------------------------------------------------------------- parameters
# Stage scripts read params.yaml only through what `params.load()` returns, as attribute
# chains (`run.memory.swaps`), through names bound to a section (`settings = run.memory`) or
# arguments annotated with a section's class; a section handed on whole (to `asdict`, to
# the library) counts as read whole. Models count by kind-free key (`models.*.units`).

SECTION_CLASSES = {
    cls.__name__: (name,) for name, cls in params.SECTIONS.items() if dataclasses.is_dataclass(cls)
} | {"ModelParams": ("models", "*"), "Params": ()}
KEYS = {"seeds"} | {f"models.*.{f.name}" for f in dataclasses.fields(params.ModelParams)}
KEYS |= {
    f"{name}.{f.name}"
    for name, cls in params.SECTIONS.items()
    if dataclasses.is_dataclass(cls)
    for f in dataclasses.fields(cls)
}


def _keys_under(path: tuple[str, ...]) -> set[str]:
    """Every params.yaml key at or under `path` (() is the whole file)."""
    prefix = ".".join(path)
    return {k for k in KEYS if not prefix or k == prefix or k.startswith(f"{prefix}.")}


class _Reads(ast.NodeVisitor):
    """The params.yaml keys one stage script reads (see the comment above)."""

    def __init__(self, tree: ast.Module) -> None:
        self.reads: set[str] = set()
        self.functions = {
            node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)
        }
        self.aliases: dict[str, tuple[str, ...]] = {}
        self.visit(tree)

    def path(self, node: ast.AST) -> tuple[str, ...] | None:
        """The part of params.yaml `node` stands for: () the whole, ("memory",) a section,
        ("models", "*") one model, ("memory", "swaps") a key; None when it is none."""
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "params.load":
            return ()
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Subscript):
            base = self.path(node.value)
            return ("models", "*") if base == ("models",) else base
        if not isinstance(node, ast.Attribute) or (base := self.path(node.value)) is None:
            return None
        if base == ("models",) or ".".join(base) in KEYS:
            return base  # a method of the models mapping (items) or of a value (a list's)
        if _keys_under((*base, node.attr)):
            return (*base, node.attr)
        raise AssertionError(f"reads {'.'.join((*base, node.attr))}, which params.yaml lacks")

    def annotated(self, annotation: ast.AST | None) -> tuple[str, ...] | None:
        name = ast.unparse(annotation).split(".")[-1] if annotation is not None else None
        return SECTION_CLASSES.get(name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer = dict(self.aliases)
        for arg in node.args.args:
            if (path := self.annotated(arg.annotation)) is not None:
                self.aliases[arg.arg] = path
        self.generic_visit(node)
        self.aliases = outer

    def visit_Assign(self, node: ast.Assign) -> None:
        pairs = [(node.targets[0], node.value)]
        if isinstance(node.targets[0], ast.Tuple) and isinstance(node.value, ast.Tuple):
            pairs = list(zip(node.targets[0].elts, node.value.elts, strict=True))
        for target, value in pairs:
            path = self.path(value)
            if isinstance(target, ast.Name) and path is not None:
                if ".".join(path) in KEYS:  # a key: read here, a plain value from then on
                    self.reads.add(".".join(path))
                    self.aliases.pop(target.id, None)
                else:
                    self.aliases[target.id] = path
            else:
                self.visit(value)
                if isinstance(target, ast.Name):  # the name now holds something else
                    self.aliases.pop(target.id, None)
                self.visit(target)

    def visit_Call(self, node: ast.Call) -> None:
        local = self.functions.get(node.func.id) if isinstance(node.func, ast.Name) else None
        if local is None:
            return self.generic_visit(node)
        arguments = {a.arg: a.annotation for a in local.args.args}
        positional = zip(arguments, node.args, strict=False)  # keywords may follow
        given = [*positional, *((k.arg, k.value) for k in node.keywords)]
        for name, value in given:
            # A section handed to a helper that annotates it is read where the helper reads it.
            annotated = self.annotated(arguments.get(name))
            if annotated is None or self.path(value) != annotated:
                self.visit(value)
        return None

    def generic_visit(self, node: ast.AST) -> None:
        stored = isinstance(getattr(node, "ctx", None), ast.Store)
        path = self.path(node) if isinstance(node, ast.expr) and not stored else None
        if path is not None:
            self.reads |= _keys_under(path)
            return
        super().generic_visit(node)

    visit_Attribute = visit_Subscript = visit_Name = generic_visit


def params_read(script: str) -> set[str]:
    """The params.yaml keys stage script `script` reads, models' by kind-free key."""
    tree = ast.parse((ROOT / script).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "rnnmem.params":
            raise AssertionError(f"{script} imports from rnnmem.params; use `params.load()`")
    return _Reads(tree).reads


def params_declared(stage: dict) -> set[str]:
    """The keys a stage of `expanded_stages` declares, models' by kind-free key."""
    declared = set()
    for entry in stage.get("params", []):
        path = entry.split(".")
        if path[0] == "models" and len(path) > 1:
            path[1] = "*"
        declared |= _keys_under(tuple(path))
    return declared


def test_every_stage_declares_exactly_the_params_it_reads():
    """Changing a parameter reruns the stages that read it and no other (run.yaml, which
    changes no result, is no parameter file: no stage declares it)."""
    checked = 0
    for name, stage in expanded_stages().items():
        read = params_read(stage["cmd"].split()[1])
        declared = params_declared(stage)
        assert all(isinstance(entry, str) for entry in stage.get("params", [])), name
        assert read <= declared, f"stage {name} reads {sorted(read - declared)} undeclared"
        assert declared <= read, f"stage {name} declares {sorted(declared - read)} unread"
        checked += bool(read)
    assert checked >= 10


def test_the_params_scan_sees_every_way_a_stage_reads(tmp_path):
    """The scan on a script written every way the stages read: chains, names, tuples, an
    annotated helper, a section handed on whole, the models by kind and as a list."""
    script = tmp_path / "stage.py"
    script.write_text(
        "from rnnmem import params\n"
        "def helper(settings: params.MemoryParams, other):\n"
        "    return settings.swaps, other\n"
        "def main():\n"
        "    run = params.load()\n"
        "    memory, train = run.memory, run.train\n"
        "    length = run.dataset.max_length\n"
        "    helper(memory, train)\n"
        "    model = run.models[kind]\n"
        "    print(model.units, list(run.models), run.seeds[0], sorted(memory.windows))\n"
        "    dataclasses.asdict(run.analysis)\n"
    )
    assert _Reads(ast.parse(script.read_text())).reads == {
        "memory.swaps",
        "memory.windows",
        "dataset.max_length",
        "seeds",
        *_keys_under(("train",)),  # handed to the helper unannotated: read whole
        *_keys_under(("models",)),
        *_keys_under(("analysis",)),
    }
    script.write_text("from rnnmem import params\nparams.load().memory.swap\n")
    with pytest.raises(AssertionError, match="reads memory.swap, which params.yaml lacks"):
        _Reads(ast.parse(script.read_text()))
