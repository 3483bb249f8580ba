"""Stage `download`: the corpus in text8 format, from the probe generator, text8 or a local file."""

from rnnmem.data import corpus, probe
from rnnmem.params import load
from rnnmem.stage import atomic_dir, run_stage

OUT = "data/corpus"


def main() -> None:
    params = load("corpus")
    if params.source == "probe":
        text, deps = probe.generate(params.probe_chars, params.seed)
        origin = f"probe seed {params.seed}"
    else:
        text, origin = corpus.load_text(params)
        deps = corpus.empty_dependencies()
    with atomic_dir(OUT) as out:
        corpus.save(out, params.source, origin, text, deps)


if __name__ == "__main__":
    run_stage(main)
