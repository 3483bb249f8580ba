"""Corpus: the text8 filter, local text files, and the real download code against a local server."""

import bz2
import gzip
import http.server
import io
import json
import random
import socket
import subprocess
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pipeline_repo import stage_argv
from shipped import run_file, with_changes

from rnnmem import params
from rnnmem.data import corpus
from rnnmem.errors import FixableError

ROOT = Path(__file__).resolve().parents[1]
SIZE = 300_000  # a small stand-in for text8's 100,000,000 bytes
PROSE = "The 2 cats sat on 3 mats. Café au lait, naïve! " * 40


def make_text8(size: int, seed: int = 0) -> bytes:
    """Text8-format bytes of exactly `size`: random words, leading space like the real file."""
    rng = random.Random(seed)
    words = []
    length = 0
    while length < size:
        word = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(1, 10)))
        words.append(word)
        length += len(word) + 1
    return (" " + " ".join(words)).encode()[:size]


def make_zip(data: bytes, member: str = "text8") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)
    return buffer.getvalue()


TEXT = make_text8(SIZE)
ZIP = make_zip(TEXT)


class Server(http.server.HTTPServer):
    """Serves `payload`; `drop_first` cuts the first answer in half, `honour_range` obeys Range."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.payload = ZIP
        self.drop_first = False
        self.honour_range = True
        self.ranges: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/text8.zip"


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:  # noqa: N802 - the name http.server looks up
        server = self.server
        asked = self.headers.get("Range")
        server.ranges.append(asked)
        body, start = server.payload, 0
        if asked and server.honour_range:
            start = int(asked.removeprefix("bytes=").removesuffix("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if server.drop_first and len(server.ranges) == 1:
            self.wfile.write(body[: len(body) // 2])  # then the connection closes
            return
        self.wfile.write(body[start:])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def text8_params(tmp_path: Path, url: str, retries: int = 0) -> SimpleNamespace:
    """What the download stage hands `corpus.load_text8`, from corpus settings like these."""
    zip_path = str(tmp_path / "downloads" / "text8.zip")
    return SimpleNamespace(text8_url=url, text8_zip=zip_path, timeout_s=5.0, retries=retries)


def load_text8(params: SimpleNamespace) -> str:
    return corpus.load_text8(
        params.text8_url,
        params.text8_zip,
        params.timeout_s,
        params.retries,
        expected_size=SIZE,
        backoff_s=0.01,
    )


# --- text8_filter ------------------------------------------------------------------------


def test_filter_messy_text():
    messy = "  Hello,\tWORLD!!\n\nRoom 101:  naïve CAFÉ-au-lait 9x…  end.  "
    assert corpus.text8_filter(messy) == (
        "hello world room one zero one na ve caf au lait nine x end"
    )


def test_filter_output_is_text8_format():
    rng = random.Random(1)
    noise = "".join(chr(rng.randint(0, 0x3000)) for _ in range(20_000))
    out = corpus.text8_filter(noise + " Abc 7 ")
    assert set(out) <= set("abcdefghijklmnopqrstuvwxyz ")
    assert "  " not in out and out == out.strip()
    assert out.endswith("abc seven")


def test_count_words():
    assert corpus.count_words(b" one two three") == 3
    assert corpus.count_words(b"one two ") == 2
    assert corpus.count_words(b"") == 0


# --- file source -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["txt", "gz", "bz2", "zip"])
def test_file_source_formats(tmp_path, suffix):
    raw = PROSE.encode()
    path = tmp_path / f"book.{suffix}"
    if suffix == "gz":
        path.write_bytes(gzip.compress(raw))
    elif suffix == "bz2":
        path.write_bytes(bz2.compress(raw))
    elif suffix == "zip":
        path.write_bytes(make_zip(raw, member="book.txt"))
    else:
        path.write_bytes(raw)
    text = corpus.read_text_file(path, min_words=10)
    assert text == corpus.text8_filter(PROSE)
    assert text.startswith("the two cats sat on three mats caf au lait na ve the")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b" \n\t ", "is empty"),
        (b"some words\0\x01\x02 binary", "looks binary"),
        (b"caf\xe9 latin-1 text", "not UTF-8"),
        (b"only four words here", "fewer than corpus.min_words"),
        (b"... !!! 12", "fewer than corpus.min_words"),
    ],
)
def test_file_source_refuses(tmp_path, content, expected):
    path = tmp_path / "book.txt"
    path.write_bytes(content)
    with pytest.raises(FixableError, match=expected):
        corpus.read_text_file(path, min_words=5)


def test_file_source_missing_or_bad_archive(tmp_path):
    with pytest.raises(FixableError, match="not found"):
        corpus.read_text_file(tmp_path / "nope.txt", min_words=10)
    with pytest.raises(FixableError, match="file_path is empty"):
        corpus.read_text_file("", min_words=10)
    bad = tmp_path / "book.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(FixableError, match="cannot read"):
        corpus.read_text_file(bad, min_words=10)


# --- text8 source: the real download code ------------------------------------------------


def test_download_clean_then_offline(tmp_path, server):
    params = text8_params(tmp_path, server.url)
    text = load_text8(params)
    assert text.encode() == TEXT
    assert server.ranges == [None]
    assert not Path(params.text8_zip + ".part").exists()
    text = load_text8(params)  # the zip is there now: no network
    assert text.encode() == TEXT and server.ranges == [None]


def test_download_resumes_with_range(tmp_path, server):
    server.drop_first = True
    params = text8_params(tmp_path, server.url, retries=2)
    text = load_text8(params)
    assert server.ranges == [None, f"bytes={len(ZIP) // 2}-"]
    assert text.encode() == TEXT


def test_download_restarts_when_range_ignored(tmp_path, server):
    server.honour_range = False
    params = text8_params(tmp_path, server.url)
    part = Path(params.text8_zip + ".part")
    part.parent.mkdir(parents=True)
    stale = b"stale bytes from another file"
    part.write_bytes(stale)
    text = load_text8(params)
    assert server.ranges == [f"bytes={len(stale)}-"]
    assert text.encode() == TEXT


def test_corrupt_zip_is_not_trusted(tmp_path, server):
    broken = bytearray(ZIP)
    broken[len(ZIP) // 2] ^= 0xFF
    server.payload = bytes(broken)
    params = text8_params(tmp_path, server.url)
    with pytest.raises(FixableError, match="not a valid text8 zip") as err:
        load_text8(params)
    message = str(err.value)
    assert "\n" not in message and params.text8_zip in message and "rerun" in message
    assert not Path(params.text8_zip).exists()
    assert Path(params.text8_zip + ".corrupt").exists()
    server.payload = ZIP  # the next run downloads again instead of reusing the bad zip
    text = load_text8(params)
    assert text.encode() == TEXT and len(server.ranges) == 2


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (make_zip(TEXT[:-1]), "expected 300,000"),
        (make_zip(TEXT[:-1] + b"!"), "outside a-z"),
        (make_zip(TEXT, member="other"), "no member named"),
        (b"PK not really a zip", "not a zip file"),
    ],
)
def test_bad_text8_zip(tmp_path, payload, expected):
    path = tmp_path / "text8.zip"
    path.write_bytes(payload)
    with pytest.raises(FixableError, match=expected):
        corpus.read_text8_zip(path, expected_size=SIZE)
    assert path.read_bytes() == payload  # maybe the user's own file: left as it was


def test_the_default_address_is_https():
    """mattmahoney.net serves text8 over https too (the address many projects use)."""
    assert params.load_run(ROOT / "run.yaml").text8_url.startswith("https://")


def test_unreachable_url(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/text8.zip"
    params = text8_params(tmp_path, url, retries=1)
    with pytest.raises(FixableError) as err:
        load_text8(params)
    message = str(err.value)
    assert "\n" not in message
    assert url in message and "refused" in message.lower()
    assert params.text8_zip in message and "corpus.source: probe" in message
    assert not Path(params.text8_zip).exists()


# --- outputs and the stage script --------------------------------------------------------


def test_save_writes_contract_layout(tmp_path):
    deps = pd.DataFrame(
        {
            "document": [0],
            "kind": ["name"],
            "antecedent_offset": [1],
            "referent_offset": [9],
            "antecedent_word": ["ann"],
            "referent_word": ["ann"],
        }
    )
    corpus.save(tmp_path, "probe", "probe seed 0", " ann met bob ann", deps)
    assert (tmp_path / "corpus.txt").read_bytes() == b" ann met bob ann"
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["source"] == "probe" and meta["origin"] == "probe seed 0"
    assert meta["size"] == 16 and meta["words"] == 4 and len(meta["sha256"]) == 64
    table = pq.read_table(tmp_path / "dependencies.parquet")
    assert table.schema.equals(corpus.DEPENDENCIES_SCHEMA)
    assert table.column("referent_offset").to_pylist() == [9]
    with pytest.raises(ValueError, match="repeated spaces"):
        corpus.save(tmp_path, "probe", "probe seed 0", "a  b", corpus.empty_dependencies())


def run_stage(cwd: Path, stage: str = "download") -> subprocess.CompletedProcess:
    return subprocess.run(
        stage_argv(stage),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_stage_file_source(tmp_path):
    (tmp_path / "book.txt").write_text(PROSE)
    params = with_changes({"corpus": {"source": "file", "file_path": "book.txt", "min_words": 50}})
    (tmp_path / "params.yaml").write_text(json.dumps(params))
    run_file(tmp_path, device="cpu")
    assert run_stage(tmp_path, "validate").returncode == 0
    done = run_stage(tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "data" / "corpus"
    assert (out / "corpus.txt").read_text() == corpus.text8_filter(PROSE)
    meta = json.loads((out / "meta.json").read_text())
    assert meta == {
        "source": "file",
        "origin": "book.txt",
        "size": len(corpus.text8_filter(PROSE)),
        "sha256": meta["sha256"],
        "words": 12 * 40,  # the two cats sat on three mats caf au lait na ve
    }
    deps = pq.read_table(out / "dependencies.parquet")
    assert deps.num_rows == 0 and deps.schema.equals(corpus.DEPENDENCIES_SCHEMA)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["corpus", "validated.json"]
    # The file read must be the one the validate stage recorded (the one DVC tracks).
    (tmp_path / "book.txt").write_text(PROSE + " one more line")
    done = run_stage(tmp_path)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "error: book.txt is not the file the validate stage checked (it changed since, or that "
        "stage has not run); run `dvc repro`"
    ]


def test_stage_failure_is_one_line_and_leaves_nothing(tmp_path):
    (tmp_path / "book.txt").write_text("too short")
    params = with_changes({"corpus": {"source": "file", "file_path": "book.txt", "min_words": 50}})
    (tmp_path / "params.yaml").write_text(json.dumps(params))
    done = run_stage(tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "min_words" in lines[0]
    assert not (tmp_path / "data" / "corpus").exists()
