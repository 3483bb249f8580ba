"""Leftovers of models and seeds taken out of params.yaml: listed, and deleted on request, and
nothing of the current run with them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rnnmem import orphans

ROOT = Path(__file__).resolve().parents[1]


def _outputs(root: Path) -> set[Path]:
    """Every output of dvc.yaml as DVC expands it for root's params.yaml."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {Path(out.def_path) for stage in repo.index.stages for out in stage.outs}


def _params(root: Path, kinds: list[str], seeds: list[int]) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["models"] = {kind: raw["models"][kind] for kind in kinds}
    (root / "params.yaml").write_text(yaml.safe_dump({**raw, "seeds": seeds}))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """dvc.yaml, and a file at every output of a run of three models and two seeds."""
    from dvc.repo import Repo

    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    Repo.init(str(tmp_path), no_scm=True).close()
    _params(tmp_path, ["gru", "lstm", "nlstm"], [0, 1])
    for out in _outputs(tmp_path):
        file = tmp_path / out if out.suffix else tmp_path / out / "part"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("from a run")
    return tmp_path


def _under(path: Path, found: list[Path]) -> bool:
    return any(path == f or f in path.parents for f in found)


def test_outputs_of_a_removed_model_and_seed_are_listed_then_deleted(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    before = _outputs(project)
    assert orphans.leftovers(project) == []
    _params(project, ["gru", "lstm"], [0])
    now = _outputs(project)
    found = orphans.leftovers(project)
    names = [{part.split(".")[0] for part in path.parts} for path in found]
    assert found and all({"nlstm", "seed1"} & parts for parts in names), found
    assert all(_under(out, found) for out in before - now)  # every leftover output listed
    assert not any(_under(out, found) for out in now)  # and nothing the run still writes
    assert Path("data/models/nlstm") in found and Path("reports/headline/nlstm.json") in found
    monkeypatch.chdir(project)
    orphans.main([])
    assert capsys.readouterr().out.splitlines() == [str(p) for p in found]
    assert all((project / p).exists() for p in found)
    orphans.main(["--delete"])
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"deleted {len(found)}; ")
    assert not any((project / p).exists() for p in found)
    assert all((project / out).exists() for out in now)
    assert orphans.leftovers(project) == []
