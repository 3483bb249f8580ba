"""Profiles: named changes to params.yaml, each holding only the keys it changes.

    python -m rnnmem.profile apply profiles/memory.yaml

writes params.yaml with the profile's values in place and every other key, comment and
layout as it was. A profile names only keys params.yaml has, so it holds no copy of the
defaults and cannot drift from them; a key params.yaml lacks, or a result `rnnmem.params`
refuses, stops the command in one line (naming the profile when the refused value is one it
sets) and leaves params.yaml untouched. A list is replaced whole. A profile is read as
params.yaml is: its size capped and YAML aliases refused, so a short file cannot expand to
gigabytes. Apply a profile on a branch (or before `dvc exp run`), so that the default stays one
`git checkout params.yaml` away.
"""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from rnnmem import params
from rnnmem.files import write_text
from rnnmem.stage import UserError, run_stage


def _round_trip() -> YAML:
    """ruamel's round-trip mode in params.yaml's layout, lines never folded."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def read_profile(path: str | os.PathLike) -> dict[str, Any]:
    """A profile's changes, read as params.yaml is (`params.parse_yaml`), or one line saying
    why not."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise UserError(f"{path} not found; give a file of profiles/") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not a readable YAML file ({type(err).__name__})") from None
    changes = params.parse_yaml(text, path)
    if not isinstance(changes, dict) or not changes:
        raise UserError(f"{path} must be a mapping of the params.yaml keys it changes")
    return changes


def holds(values: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    """True when every key `changes` sets has that value in `values` (applying them would
    change nothing there)."""
    return all(
        holds(values.get(key) or {}, value)
        if isinstance(value, dict)
        else key in values and values[key] == value
        for key, value in changes.items()
    )


def _set(target: CommentedMap, changes: Mapping[str, Any], where: str, prefix: str = "") -> None:
    """Put every value of `changes` at its key in `target`, refusing a key `target` lacks."""
    for key, value in changes.items():
        name = f"{prefix}{key}"
        if not isinstance(target, dict) or key not in target:
            raise UserError(f"{where}: unknown key {name}; params.yaml has no such key")
        if isinstance(value, dict):
            if not isinstance(target[key], dict):
                raise UserError(f"{where}: {name} is a value in params.yaml, not a section")
            _set(target[key], value, where, f"{name}.")
        elif isinstance(target[key], dict):
            raise UserError(f"{where}: {name} is a section in params.yaml; set its keys")
        elif isinstance(target[key], CommentedSeq) and isinstance(value, list):
            kept = CommentedSeq(value)
            if target[key].fa.flow_style():
                kept.fa.set_flow_style()  # [5, 10, 20] stays on one line
            target[key] = kept
            comments = target.ca.items.get(key)
            if comments and len(comments) > 3:
                comments[3] = None  # a comment above the old items described them
        else:
            target[key] = value


def _sets(changes: Mapping[str, Any], key: str) -> bool:
    """True when `changes` sets the dotted `key`, a key under it or a value above it."""
    node: Any = changes
    for name in key.split("."):
        if not isinstance(node, Mapping):
            return True
        if name not in node:
            return False
        node = node[name]
    return True


def applied(text: str, changes: Mapping[str, Any], where: str) -> str:
    """params.yaml's `text` with `changes` (a profile named `where`) in place, checked; a
    refused value the profile sets is reported as the profile's."""
    yaml = _round_trip()
    document = yaml.load(text)
    _set(document, changes, where)
    out = io.StringIO()
    yaml.dump(document, out)
    result = out.getvalue()
    try:
        params.validate(YAML(typ="safe", pure=True).load(result))
    except params.ParamsError as err:
        if any(_sets(changes, key) for key in err.keys):
            raise err.in_file(where) from None
        raise
    return result


def apply(profile: str | os.PathLike, path: str | os.PathLike = params.PARAMS_FILE) -> None:
    """Apply the profile at `profile` to the params file at `path`, in place."""
    params.read_params(path)  # readable YAML with this project's sections, or one line
    write_text(path, applied(Path(path).read_text(), read_profile(profile), str(profile)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rnnmem.profile", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("apply", help="merge a profile's changes into params.yaml")
    command.add_argument("profile", type=Path, help="the profile, e.g. profiles/memory.yaml")
    command.add_argument(
        "--params", type=Path, default=params.PARAMS_FILE, help="the file to change (params.yaml)"
    )
    args = parser.parse_args(argv)
    run_stage(lambda: apply(args.profile, args.params))
    print(f"{args.params}: applied {args.profile}")


if __name__ == "__main__":
    main()
