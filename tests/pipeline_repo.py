"""The tiny pipeline the slow tests share: the project at seconds per stage, in its own git +
DVC repository, and the commands a DVC user would type in it."""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from shipped import read_yaml, run_file, write_yaml

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("gru", "lstm", "nlstm")
RUN_STAGES = (
    "train",
    "evaluate",
    "connectivity",
    "memory",
    "recall",
)  # one of each per (model, seed)
ALL_STAGES = {
    "download",
    "build",
    "baseline",
    "longprobe",
    *(f"{stage}@{kind}-0" for stage in RUN_STAGES for kind in KINDS),
    *(f"aggregate@{kind}" for kind in KINDS),
    "compare",
    "report",
}
# The tiny size as a profile: what it changes in the shipped params.yaml.
TINY = {
    "corpus": {"source": "probe", "seed": 0, "probe_chars": 40_000, "min_words": 10},
    "dataset": {"vocab_size": 150, "max_length": 60, "seed": 0},
    "models": {
        "gru": {"units": 8, "layers": 1},
        "lstm": {"units": 8, "layers": 1},
        "nlstm": {"units": 8, "layers": 1, "depth": 2},
    },
    "train": {
        "batch_size": 16,
        "epochs": 1,
        "learning_rate": 0.01,
        "eval_every": 20,
    },
    "analysis": {"aggregate_observations": 4, "top_k": 3},
    # Windows below every dataset.max_length the tests set (60, 50, 40).
    "memory": {
        "attribution_observations": 2,
        "swaps": 2,
        "ablation_observations": 3,
        "windows": [5, 10, 30],
        "long_probe_pairs": 2,
        "recall_observations": 20,
        "seed": 0,
    },
    "seeds": [0],
}
# ...and what it changes in run.yaml: the CPU on any machine, and resumable saves to resume.
TINY_RUN = {"device": "cpu", "checkpoint_every": 5}


def environment() -> dict[str, str]:
    """The project's venv first on PATH, so stage commands (`python ...`) find the package."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    env.pop("RNNMEM_DEBUG", None)
    return env


def sh(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=repo, env=environment(), capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


# The stage every `dvc repro` runs first, whatever changed (dvc.yaml: always_changed): it
# checks params.yaml and run.yaml, and rewrites the same record while they are valid.
VALIDATE = "validate"


def repro(repo: Path, *args: str) -> set[str]:
    """Run `dvc repro` and return the names of the stages it actually ran, but `validate`,
    which it must have run first (checked here)."""
    done = sh(repo, "dvc", "repro", *args)
    ran = re.findall(r"Running stage '([^']+)'", done.stdout)
    assert ran[:1] == [VALIDATE], done.stdout
    return set(ran[1:])


def set_params(repo: Path, **changes) -> None:
    """Set dotted keys in params.yaml, e.g. set_params(repo, **{"models.lstm.units": 12})."""
    path = repo / "params.yaml"
    params = read_yaml(path)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[leaf] = value
    write_yaml(path, params)


def commit(repo: Path, message: str) -> None:
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", message)


def english_text() -> str:
    """Real English prose found on every machine with Python: the reference topics that
    `pydoc` shows (about 470,000 characters of the language reference), in text8 format."""
    from pydoc_data.topics import topics

    from rnnmem.data.corpus import text8_filter

    return text8_filter(" ".join(topics[key] for key in sorted(topics)))


def reproduce_tiny(repo: Path, *profiles: dict) -> Path:
    """A git + DVC repository at `repo` holding the project at the tiny size, with `profiles`
    (params.yaml changes, as a profile holds them) applied after it, reproduced and
    committed."""
    repo.mkdir(exist_ok=True)
    for name in ("dvc.yaml", ".gitignore", "params.yaml"):
        shutil.copy(ROOT / name, repo / name)
    run_file(repo, **TINY_RUN)
    for folder in ("stages", "src", "profiles"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for index, profile in enumerate((TINY, *profiles)):
        path = repo.parent / f"profile-{index}.yaml"
        write_yaml(path, profile)
        sh(repo, "python", "-m", "rnnmem.profile", "apply", str(path))
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "dvc", "init", "-q")
    shutil.copy(ROOT / ".dvcignore", repo / ".dvcignore")  # bytecode caches are not code
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")  # the log-scale template
    sh(repo, "dvc", "config", "core.analytics", "false")
    commit(repo, "tiny pipeline")
    assert repro(repo) == ALL_STAGES
    commit(repo, "reproduced")
    return repo


@functools.cache
def stage_argv(name: str, project: Path = ROOT) -> tuple[str, ...]:
    """The command of stage `name` (e.g. "train@gru-0") as DVC expands `project`'s dvc.yaml,
    run by this interpreter: tests spell none of the paths dvc.yaml hands a stage."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        [stage] = repo.stage.collect(name)
    program, script, *args = shlex.split(stage.cmd)
    assert program == "python", stage.cmd
    return (sys.executable, str(project / script), *args)


def killed_at_write(
    argv: tuple[str, ...], cwd: Path, writer: str, call: int
) -> subprocess.CompletedProcess:
    """Run a stage command (from `stage_argv`) by hand, SIGKILLed as it enters its `call`-th
    call of `rnnmem.files.<writer>` (write_csv, write_json or write_text): what it wrote
    before is complete, the rest not begun, as when a run is killed between two files."""
    hook = (
        "import os, runpy, signal, sys\n"
        "import rnnmem.files as files\n"
        f"real, calls = files.{writer}, []\n"
        "def writer(*args, **kwargs):\n"
        "    calls.append(args[0])\n"
        f"    if len(calls) == {call}:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(*args, **kwargs)\n"
        f"files.{writer} = writer\n"
        "sys.argv = sys.argv[1:]\n"  # as if the script had been started itself
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    done = subprocess.run(
        [argv[0], "-c", hook, *argv[1:]],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == -9, done.stderr  # killed, not failed or done before the call
    return done
