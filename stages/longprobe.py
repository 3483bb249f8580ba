"""Stage `longprobe`: the long-range test set, probe text in observations far longer than any
a model was trained on (`rnnmem.data.probe.build_long`), encoded with the trained dataset's
vocabulary so that every model reads it as it read its own test split.

Writes test.parquet (the dataset's schema) and dependencies.parquet (the planted pairs and
placebos, as the download stage writes them) to one folder, for the memory stages.
"""

from __future__ import annotations

import pyarrow.parquet as pq

from rnnmem import params
from rnnmem.data import dataset, probe
from rnnmem.files import atomic_dir
from rnnmem.stage import UserError, parse_arguments, run_stage


def main() -> None:
    args = parse_arguments(
        __doc__,
        makers=dict(data="build"),
        data="the dataset folder (its vocab.json is read)",
        out="folder for the long-range test set",
    )
    run = params.load()
    settings = run.memory
    late_from = run.dataset.max_length
    try:
        corpus = probe.build_long(
            settings.long_probe_length,
            late_from,
            settings.long_probe_pairs,
            settings.long_probe_seed,
        )
    except ValueError as err:
        raise UserError(
            f"no long-range probe for memory.long_probe_length = {settings.long_probe_length} "
            f"and dataset.max_length = {late_from} ({err}); make memory.long_probe_length at "
            f"least dataset.max_length + {2 * probe.NEAR[1] + 1}"
        ) from None
    vocab = dataset.load_vocab(args.data)
    documents = corpus.documents
    table = dataset.encode_observations(
        corpus.text, documents["start"].to_numpy(), documents["end"].to_numpy(), vocab
    )
    with atomic_dir(args.out) as tmp:
        pq.write_table(table, tmp / "test.parquet")
        corpus.dependencies.to_parquet(tmp / "dependencies.parquet")
    pairs = int((corpus.dependencies["kind"] == probe.RECALL).sum())
    print(f"{args.out}: {len(documents)} observations, {pairs} planted pairs")


if __name__ == "__main__":
    run_stage(main)
