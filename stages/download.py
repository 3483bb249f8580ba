"""Stage `download`: the corpus in text8 format, from the probe generator, text8 or a local file."""

import argparse

from rnnmem.data import corpus, probe
from rnnmem.params import load
from rnnmem.stage import atomic_dir, path_options, run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    path_options(parser, out="folder for the corpus text and its metadata")
    out_dir = parser.parse_args().out
    params = load("corpus")
    if params.source == "probe":
        text, deps = probe.generate(params.probe_chars, params.seed)
        origin = f"probe seed {params.seed}"
    else:
        text, origin = corpus.load_text(params)
        deps = corpus.empty_dependencies()
    with atomic_dir(out_dir) as out:
        corpus.save(out, params.source, origin, text, deps)


if __name__ == "__main__":
    run_stage(main)
