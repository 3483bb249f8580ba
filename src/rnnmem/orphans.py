"""Leftovers: the files of models and seeds params.yaml no longer lists.

    python -m rnnmem.orphans            # lists them
    python -m rnnmem.orphans --delete   # deletes them

dvc.yaml has one stage per model and seed of params.yaml, so taking one out removes its
stages, not their outputs: its model files, snapshots, predictions, headline, metrics and
per-seed folders stay in the workspace, where nothing updates them and `git add -A` would
commit them. Neither the report nor the `rnnmem` command shows them. This lists every file
and folder, in the folders where dvc.yaml's outputs lie (under the `paths` it declares),
that no stage declares as an output; run it from the project root.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ruamel.yaml import YAML

from rnnmem.stage import UserError, run_stage


def _declared(project: Path) -> tuple[set[Path], list[Path]]:
    """Every output of every stage of the project's dvc.yaml, as DVC expands it for the
    current params.yaml, and the `paths` dvc.yaml declares."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(project)) as repo:
            outs = {Path(out.def_path) for stage in repo.index.stages for out in stage.outs}
    except DvcException as err:
        raise UserError(
            f"cannot read {project / 'dvc.yaml'} ({err}); run from the project root"
        ) from None
    variables = YAML(typ="safe", pure=True).load((project / "dvc.yaml").read_text())["vars"]
    paths = [Path(p) for entry in variables if "paths" in entry for p in entry["paths"].values()]
    return outs, paths


def leftovers(project: Path = Path(".")) -> list[Path]:
    """Paths (relative to `project`) of the files and folders no stage declares, in each
    folder between a declared path and an output inside it (data/models/<model>/...)."""
    outs, paths = _declared(project)
    folders: set[Path] = set()
    for out in outs:
        roots = [p for p in paths if p == out or p in out.parents]
        if roots:  # the folders from the path declared nearest above it down to its own
            root = max(roots, key=lambda p: len(p.parts))
            folders |= {f for f in out.parents if f == root or root in f.parents}
    found = []
    for folder in folders:
        if not (project / folder).is_dir():
            continue
        for entry in (project / folder).iterdir():
            path = folder / entry.name
            # DVC's .gitignore files and a running stage's temporary outputs are not leftovers
            if entry.name.startswith(".") or path in outs:
                continue
            if not any(path in out.parents for out in outs):
                found.append(path)
    return sorted(found)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rnnmem.orphans", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--delete", action="store_true", help="delete them (else: list them)")
    args = parser.parse_args(argv)

    def clean() -> None:
        found = leftovers()
        for path in found:
            print(path)
            if args.delete and path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif args.delete:
                path.unlink()
        if not found:
            print("no leftovers: every output belongs to a stage of dvc.yaml")
        elif args.delete:
            print(f"deleted {len(found)}; `git add -A` records it, `dvc gc` frees DVC's cache")

    run_stage(clean)


if __name__ == "__main__":
    main()
