"""Hostile corpora and servers: bounded downloads and decompression, the user's files untouched,
and a message that names the actual problem. Servers listen on 127.0.0.1 only."""

from __future__ import annotations

import gzip
import http.server
import itertools
import os
import threading
import time
import zipfile
from pathlib import Path

import pytest
from shipped import dataset_settings

from rnnmem.data import corpus, dataset
from rnnmem.errors import FixableError, InputError


class Trickle(http.server.BaseHTTPRequestHandler):
    """/slow: one byte every 0.1 s of a promised 10,000; /loop: a redirect to itself;
    /endless: zeros at full speed with no length announced; /huge: a terabyte announced."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server looks up
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        if self.path in ("/endless", "/huge"):
            self.send_response(200)
            if self.path == "/huge":
                self.send_header("Content-Length", str(10**12))
            self.end_headers()
            try:
                while not self.server.stopping:
                    self.wfile.write(bytes(1 << 16))
            except OSError:
                return  # the client gave up
            return
        self.send_response(200)
        self.send_header("Content-Length", "10000")
        self.end_headers()
        try:
            for _ in range(10000):
                if self.server.stopping:
                    return
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            return  # the client gave up

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def trickle():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    server.stopping = False
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.stopping = True
    server.shutdown()
    server.server_close()


def _timed_download(url: str, dest: Path, **limits) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(FixableError) as caught:
        corpus.download(url, dest, timeout_s=1.0, retries=3, backoff_s=0.01, **limits)
    return str(caught.value), time.monotonic() - start


def test_a_trickling_server_meets_the_overall_deadline(trickle: str, tmp_path: Path) -> None:
    # Each byte arrives well within timeout_s, so only the deadline can end this.
    message, took = _timed_download(f"{trickle}/slow", tmp_path / "t.zip", deadline_s=1.5)
    assert "deadline of 1.5 s" in message and "\n" not in message
    assert took < 5 and not (tmp_path / "t.zip").exists()


def test_a_trickling_server_is_below_the_minimum_rate(trickle: str, tmp_path: Path) -> None:
    message, took = _timed_download(
        f"{trickle}/slow", tmp_path / "t.zip", min_rate=1000, rate_window_s=0.5
    )
    assert "below the minimum of 1000" in message and took < 10


def test_a_redirect_loop_is_one_line(trickle: str, tmp_path: Path) -> None:
    message, took = _timed_download(f"{trickle}/loop", tmp_path / "t.zip")
    assert "HTTP 302" in message and "\n" not in message and took < 10


@pytest.mark.parametrize("address", ["endless", "huge", "file:///dev/zero"])
def test_a_download_over_the_cap_is_cut_and_not_kept(
    trickle: str, tmp_path: Path, address: str
) -> None:
    """An address that streams without end (or announces more than the cap) stops at the
    cap, at once and without retrying, and leaves no partial file to resume."""
    url = address if "://" in address else f"{trickle}/{address}"
    message, took = _timed_download(url, tmp_path / "t.zip", max_bytes=300_000)
    assert f"{url} sends more than 300,000 bytes" in message, message
    assert "text8_url in run.yaml" in message and "\n" not in message
    assert took < 5 and os.listdir(tmp_path) == []


def test_the_default_download_is_capped_near_text8s_size() -> None:
    assert corpus.TEXT8_ZIP_SIZE < corpus.MAX_DOWNLOAD_BYTES <= 3 * corpus.TEXT8_ZIP_SIZE


def test_the_zips_declared_size_is_checked_before_anything_is_unpacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "text8.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("text8", b" a" * 1000)

    def unpacked(*args, **kwargs):
        raise AssertionError("unpacked before its declared size was checked")

    monkeypatch.setattr(zipfile.ZipFile, "read", unpacked)
    monkeypatch.setattr(zipfile.ZipFile, "open", unpacked)
    with pytest.raises(FixableError, match="declares 2,000 bytes, expected 100,000,000"):
        corpus.read_text8_zip(path)


def test_the_users_own_zip_is_never_renamed(tmp_path: Path) -> None:
    path = tmp_path / "mine.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("text8.txt", " anarchism originated")
    before = path.read_bytes()
    with pytest.raises(FixableError, match="no member named 'text8'") as caught:
        corpus.load_text8("http://127.0.0.1:9/", path, 30, 5, expected_size=21)
    assert "put the official text8.zip there" in str(caught.value)
    assert "moved" not in str(caught.value)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["mine.zip"]


def test_decompressed_size_is_bounded(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.txt.gz"
    bomb.write_bytes(gzip.compress(b"word " * 400_000))  # 2 MB of text in a few kB
    assert bomb.stat().st_size < 20_000
    with pytest.raises(
        FixableError, match=r"more than 1,000,000 bytes.*allowed: at most 1,000,000"
    ):
        corpus.read_text_file(bomb, min_words=1, max_bytes=1_000_000)
    assert corpus.read_text_file(bomb, min_words=1, max_bytes=2_000_000).startswith("word word")


def test_special_paths_name_what_they_are(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    for name, expected in [
        ("fifo", "is a device or FIFO"),
        ("link", "is a device or FIFO"),  # behind a symlink: what it points at
        ("folder", "is a directory"),
        ("absent", "not found"),
    ]:
        with pytest.raises(FixableError, match=expected):
            corpus.read_text_file(tmp_path / name, min_words=1)
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.txt", "one text")
        archive.writestr("b.txt", "another text")
    with pytest.raises(FixableError, match="holds 2 files; zip exactly one text file"):
        corpus.read_text_file(tmp_path / "two.zip", min_words=1)


def test_a_corpus_of_only_overlong_words_asks_for_a_larger_max_length() -> None:
    words = [bytes([97 + i % 26, 97 + i // 26]) * 15 for i in range(50)]  # 50 words of 30
    with pytest.raises(FixableError, match="dataset.max_length above 10") as caught:
        dataset.build(b" " + b" ".join(words), **dataset_settings(vocab_size=10, max_length=10))
    assert "smaller" not in str(caught.value)


def test_a_truncated_dependencies_table_is_one_line(tmp_path: Path) -> None:
    corpus.save(tmp_path, "probe", "probe seed 0", " ann met bob", corpus.empty_dependencies())
    path = tmp_path / "dependencies.parquet"
    assert corpus.read_dependencies(path).empty
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(InputError, match=r"is corrupt \(.*\)") as caught:
        corpus.read_dependencies(path)
    assert "\n" not in str(caught.value) and caught.value.path == path


def test_a_fifo_as_the_partial_download_is_refused_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "t.zip.part")  # opening it for writing would wait forever
    message, took = _timed_download("http://127.0.0.1:9/t.zip", tmp_path / "t.zip")
    assert "t.zip.part is not a regular file" in message and took < 5


def test_a_split_with_nothing_to_score_is_refused() -> None:
    """Vocabulary words only in train: validation would divide 0 by 0 scored characters, and
    test metrics would be taken over nothing."""
    rare = ["".join(letters) for letters in itertools.product("cdefg", repeat=3)][:40]
    text = " " + " ".join([*rare, "aaa", "aaa", "bbb", "bbb"])  # one word per observation
    with pytest.raises(FixableError) as caught:
        dataset.build(text.encode(), **dataset_settings(vocab_size=2, max_length=4, seed=0))
    assert str(caught.value) == (
        "corpus: every word of the valid split is outside the vocabulary, so nothing there is "
        "scored; use a larger corpus or a larger dataset.vocab_size"
    )
