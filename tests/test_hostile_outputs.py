"""Hostile output paths and interrupted runs: nothing replaced that is not ours, no stale
temporary files, no two copies of a stage on the same outputs. Everything stays under
tmp_path: special files are FIFOs and links made there, never real devices."""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_report import _paths, tiny_models  # noqa: F401 - shared tiny trained models

import rnnmem
from rnnmem import cli
from rnnmem.errors import FixableError
from rnnmem.files import atomic_dir, atomic_path, write_text
from rnnmem.report import dvc_page
from rnnmem.stage import run_stage

SRC = Path(rnnmem.__file__).resolve().parents[1]  # the rnnmem under test


def _cli_error(args: list[str], capsys: pytest.CaptureFixture, code: int = 1) -> str:
    """The one line `rnnmem <args>` ends with, exit status `code` (2: a usage error)."""
    with pytest.raises(SystemExit) as stop:
        cli.main(args)
    err = capsys.readouterr().err
    assert stop.value.code == code and err.count("\n") == 1 and err.startswith("error: "), err
    return err


def _connectivity(root: Path, output: str, text: str = "parts of north") -> list[str]:
    return ["connectivity", "-k", "2", text, "-o", output, *_paths(root)]


def test_cli_output_refuses_fifo_directory_and_links_to_them(
    tiny_models: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    fifo, folder = tmp_path / "fifo", tmp_path / "folder"
    os.mkfifo(fifo)
    folder.mkdir()
    (tmp_path / "to-fifo").symlink_to(fifo)
    for target, what in [(fifo, "FIFO"), (folder, "directory"), (tmp_path / "to-fifo", "FIFO")]:
        err = _cli_error(_connectivity(tiny_models, str(target)), capsys)
        assert f"{target.resolve()} is a" in err and what in err and "use another path" in err
        assert ".tmp" not in err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and folder.is_dir() and not any(folder.iterdir())
    assert (tmp_path / "to-fifo").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder", "to-fifo"]


def test_cli_output_through_a_symlink_writes_its_target(
    tiny_models: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    target, link = tmp_path / "pages" / "figure.html", tmp_path / "link.html"
    target.parent.mkdir()
    target.write_text("old")
    link.symlink_to(target)
    cli.main(_connectivity(tiny_models, str(link)))
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("<!DOCTYPE html>")
    capsys.readouterr()


def test_cli_empty_output_is_named(tiny_models: Path, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    err = _cli_error(_connectivity(tiny_models, ""), capsys)
    assert "-o is empty" in err


def test_an_unwritable_output_folder_names_the_file_asked_for(
    tiny_models: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hidden temporary name (.fig.html.pid13229.1auhmpxz.tmp) is not what the user gave."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):  # as the kernel refuses a write there
        if Path(path).parent == folder and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    err = _cli_error(_connectivity(tiny_models, str(folder / "fig.html")), capsys)
    assert err == (
        f"error: cannot write ({folder / 'fig.html'}): Permission denied; "
        "make the output directory writable\n"
    )


def test_errors_inside_a_temporary_output_name_the_final_path(tmp_path: Path) -> None:
    with pytest.raises(OSError) as caught:
        with atomic_path(tmp_path / "metrics.json") as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert caught.value.filename == str(tmp_path / "metrics.json")
    with pytest.raises(OSError) as caught:
        with atomic_dir(tmp_path / "figures") as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "a.png"))
    assert caught.value.filename == str(tmp_path / "figures" / "a.png")
    with pytest.raises(OSError) as caught:  # another file's error is left as it is
        with atomic_path(tmp_path / "metrics.json"):
            raise OSError(errno.ENOSPC, "No space left on device", "elsewhere.json")
    assert caught.value.filename == "elsewhere.json"
    assert list(tmp_path.iterdir()) == []


def test_an_empty_dvc_page_path_is_named_empty(monkeypatch, capsys) -> None:
    """Path("") is "." (a directory): the page's output is kept as the text given."""
    monkeypatch.setattr(sys, "argv", ["dvc_page.py", ""])
    with pytest.raises(SystemExit):
        run_stage(dvc_page.main)
    assert capsys.readouterr().err == "error: the output path is empty; give a file name\n"


@pytest.mark.parametrize("out", ["", ".", ".."])
def test_an_output_folder_holding_the_working_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str
) -> None:
    """`--out ""` reaches a stage as Path("") == ".": replacing it would delete the project."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text("seeds: [0]\n")
    monkeypatch.chdir(project)
    with pytest.raises(FixableError, match="holds the working directory; give a folder of its own"):
        with atomic_dir(Path(out)) as tmp:
            (tmp / "metrics.json").write_text("{}")
    assert (project / "params.yaml").read_text() == "seeds: [0]\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_cli_bounds_the_text_length(
    tiny_models: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    out = tmp_path / "figure.html"
    start = time.monotonic()
    err = _cli_error(_connectivity(tiny_models, str(out), "ab " * 334), capsys)  # 1002 chars
    assert "1,002 characters once normalized; allowed: at most 1,000" in err
    err = _cli_error(["autocomplete", "." * 10_001 + "the", *_paths(tiny_models)], capsys)
    assert "10,004 characters; allowed: at most 10,000" in err
    assert time.monotonic() - start < 10 and not out.exists()


def test_stage_outputs_refuse_special_files(tmp_path: Path) -> None:
    fifo = tmp_path / "reports" / "fifo.json"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with pytest.raises(FixableError, match="device, FIFO or socket, not a regular file"):
        write_text(fifo, "{}")
    (tmp_path / "figures").write_text("a file where a directory belongs")
    with pytest.raises(FixableError, match="is a file, not a directory"):
        with atomic_dir(tmp_path / "figures") as out:
            (out / "a.png").write_bytes(b"")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert (tmp_path / "figures").read_text() == "a file where a directory belongs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "reports"]


def test_full_disk_names_the_disk_of_the_output(capsys, monkeypatch) -> None:
    def main():
        raise OSError(errno.ENOSPC, "No space left on device", "reports/index.html")

    with pytest.raises(SystemExit):
        run_stage(main)
    err = capsys.readouterr().err
    assert "free space on the disk holding reports" in err and "data/" not in err


def test_a_write_past_the_file_size_limit_names_the_file(tmp_path: Path) -> None:
    """Past `ulimit -f` a write fails with no file name: the line names the output and the
    limit, and the output is not left half-written."""
    code = (
        "from rnnmem.files import write_text\nfrom rnnmem.stage import run_stage\n"
        "run_stage(lambda: write_text('out/x.txt', 'a' * 100_000))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000)),
    )
    assert done.returncode == 1 and done.stderr == (
        "error: file too large (out/x.txt): the file-size limit was reached; raise it "
        "(`ulimit -f unlimited`) or write to a file system that allows larger files\n"
    )
    assert os.listdir(tmp_path / "out") == []


def _stage_script(root: Path, body: str, name: str = "sleepy") -> Path:
    script = root / "stages" / f"{name}.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        "import os, sys, time\nfrom pathlib import Path\n"
        "from rnnmem.files import atomic_path, write_text\nfrom rnnmem.stage import run_stage\n"
        f"def main():\n{body}\nrun_stage(main)\n"
    )
    return script


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "RNNMEM_DEBUG")}
    return env | {"PYTHONPATH": str(SRC)} | extra


def _wait_for(predicate, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_second_copy_of_a_stage_refuses_while_the_first_lives(tmp_path: Path) -> None:
    body = "    Path('started').write_text('1')\n    time.sleep(float(os.environ.get('HOLD', 0)))"
    script = _stage_script(tmp_path, body)

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        command = [sys.executable, str(script), *args]
        return subprocess.run(
            command, cwd=tmp_path, env=_env(**env), capture_output=True, text=True, timeout=60
        )

    first = subprocess.Popen(
        [sys.executable, str(script), "gru"], cwd=tmp_path, env=_env(HOLD="60")
    )
    try:
        _wait_for(lambda: (tmp_path / "started").exists())
        second = run("gru")
        assert second.returncode == 1 and second.stderr.count("\n") == 1
        assert f"another copy of stage sleepy-gru (PID {first.pid}) is running" in second.stderr
        assert f"kill {first.pid}" in second.stderr
        # The same script on other outputs, and another torchrun rank, are not blocked.
        assert run("lstm").returncode == 0
        assert run("gru", RANK="1").returncode == 0
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert run("gru").returncode == 0  # the kernel released the dead run's lock


def test_temp_files_of_a_killed_run_are_removed_at_the_next_write(tmp_path: Path) -> None:
    body = "    with atomic_path('out/result.json') as tmp:\n        tmp.write_text('half')\n"
    body += "        Path('started').write_text('1')\n        time.sleep(60)"
    script = _stage_script(tmp_path, body)
    killed = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=_env())
    _wait_for(lambda: (tmp_path / "started").exists())
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    leftovers = list((tmp_path / "out").iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.endswith(".tmp")
    legacy = tmp_path / "out" / ".curves.tsv.abcd1234.tmp"  # older runs had no PID in the name
    legacy.mkdir()
    alive = tmp_path / "out" / f".other.json.pid{os.getpid()}.abcd1234.tmp"  # a live writer
    alive.write_text("in progress")
    write_text(tmp_path / "out" / "next.json", "{}", follow_symlinks=True)  # a user's folder
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [legacy.name, alive.name] + [
        "next.json"
    ]
    write_text(tmp_path / "out" / "next.json", "{}")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [alive.name, "next.json"]
