"""Speed and memory of the `build` stage on a text8-sized corpus.

Generates a synthetic corpus shaped like text8 (100,000,000 characters; Zipf-distributed
draws from about 250,000 invented words, frequent words short, about 4.9 letters per token
as in text8; a few words too long for any observation), then runs the library call the stage
runs (`read_corpus` + `build` + `write`) in a child process, so that its peak RSS is the
build's alone. Generation is not timed. Targets: 60 s wall, 4 GiB peak RSS.

    .venv/bin/python benchmarks/bench_build.py            # full size, paper settings
    .venv/bin/python benchmarks/bench_build.py --chars 10000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_SECONDS = 60.0
TARGET_RSS_GIB = 4.0
LETTERS = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


def synthetic_corpus(n_chars: int, distinct: int, seed: int) -> bytes:
    """Exactly `n_chars` bytes of text8-format text with a Zipf-like word distribution."""
    rng = np.random.default_rng(seed)
    rank = np.arange(1, distinct + 1)
    # English-like: the most frequent words are short, rare ones longer (mean grows with log rank).
    lengths = np.clip(rng.poisson(0.2 + 0.55 * np.log(rank)) + 1, 1, 30)
    lengths[-3:] = 250  # rare words longer than any observation, as a real corpus may hold
    letters = LETTERS[rng.integers(0, 26, size=int(lengths.sum()))]
    ends = np.cumsum(lengths)
    words = [b" " + letters[e - n : e].tobytes() for e, n in zip(ends, lengths, strict=True)]
    vocab = np.array(words, dtype=object)
    p = 1.0 / (rank + 2.7)  # Zipf-Mandelbrot, exponent 1
    mean_token = float((p / p.sum()) @ (lengths + 1))
    tokens = rng.choice(distinct, size=int(n_chars / mean_token * 1.02) + 10, p=p / p.sum())
    text = b"".join(vocab[tokens].tolist())
    while len(text) < n_chars:  # rare: the 2% margin fell short
        text += b"".join(vocab[rng.choice(distinct, size=1000, p=p / p.sum())].tolist())
    cut = text.rfind(b" ", 0, n_chars + 1)  # end on a whole word, then pad it with letters
    return text[:cut] + b" " + b"e" * (n_chars - cut - 1) if cut < n_chars else text[:n_chars]


def child(corpus: str, out: str, vocab_size: int, max_length: int) -> None:
    """The timed part: exactly what stages/build.py does, minus params.yaml."""
    from rnnmem.data import dataset

    start = time.perf_counter()
    built = dataset.build(
        dataset.read_corpus(corpus),
        vocab_size=vocab_size,
        max_length=max_length,
        valid_fraction=0.05,
        test_fraction=0.05,
        seed=0,
    )
    built_s = time.perf_counter() - start
    dataset.write(built, out)
    total_s = time.perf_counter() - start
    print(json.dumps({"build_s": built_s, "wall_s": total_s, "stats": built.stats}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=100_000_000)
    parser.add_argument("--distinct", type=int, default=250_000)
    parser.add_argument("--vocab-size", type=int, default=16_384)
    parser.add_argument("--max-length", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=4, metavar=("CORPUS", "OUT", "VOCAB", "MAXLEN"))
    args = parser.parse_args()
    if args.child:
        corpus, out, vocab_size, max_length = args.child
        child(corpus, out, int(vocab_size), int(max_length))
        return
    with tempfile.TemporaryDirectory(prefix="bench_build.") as tmp:
        start = time.perf_counter()
        text = synthetic_corpus(args.chars, args.distinct, args.seed)
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_bytes(text)
        print(f"generated {len(text):,} chars in {time.perf_counter() - start:.1f} s")
        del text
        out = Path(tmp) / "autocomplete"
        out.mkdir()
        command = [sys.executable, __file__, "--child", str(corpus), str(out)]
        command += [str(args.vocab_size), str(args.max_length)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            sys.exit(f"build failed:\n{result.stderr}")
        report = json.loads(result.stdout.splitlines()[-1])
        rss_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB on Linux
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print(json.dumps(report["stats"]))
    print(f"parquet+json: {sum(sizes.values()) / 2**20:.0f} MiB")
    print(f"build {report['build_s']:.1f} s + write = {report['wall_s']:.1f} s wall")
    print(f"peak RSS {rss_gib:.2f} GiB (build child, interpreter included)")
    ok = report["wall_s"] <= TARGET_SECONDS and rss_gib <= TARGET_RSS_GIB
    verdict = "within" if ok else "OVER"
    print(f"{verdict} target ({TARGET_SECONDS:.0f} s, {TARGET_RSS_GIB:.0f} GiB)")


if __name__ == "__main__":
    main()
