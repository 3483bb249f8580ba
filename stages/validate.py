"""Stage `validate`: params.yaml and run.yaml checked whole, before any other stage runs.

dvc.yaml runs it on every `dvc repro` and `dvc exp run` (`always_changed`), and the download
stage, which every other stage follows, depends on its output: a typo, a key in the wrong
place or a refused value stops DVC here, in one line, before it deletes any stage's outputs
to rerun it. A model too large to train in this machine's memory is refused here too. The
output holds nothing that changes while the settings are valid, but the digest of the user's
corpus file (corpus.source: file): an edited file reruns the download and what follows it.
"""

import argparse

from rnnmem import params
from rnnmem.data import corpus
from rnnmem.data.dataset import CHARS, SPECIAL_WORDS
from rnnmem.device import memory_of, resolve_device
from rnnmem.files import write_json
from rnnmem.models.checkpoint import ModelSpec
from rnnmem.stage import path_options, run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    path_options(parser, out="the file to write: the settings are valid, and the corpus digest")
    args = parser.parse_args()
    run, how = params.load(), params.load_run()
    memory = memory_of(resolve_device(how.device))
    words = run.dataset.vocab_size + len(SPECIAL_WORDS)
    for kind, model in run.models.items():
        spec = ModelSpec(
            kind, len(CHARS), words, model.units, model.layers, model.depth, model.init
        )
        spec.check_trainable(*memory)
    file = corpus.file_digest(run.corpus.file_path) if run.corpus.source == "file" else None
    write_json(args.out, {"settings": "valid", corpus.FILE_DIGEST: file})


if __name__ == "__main__":
    run_stage(main)
