"""The `rnnmem` command: try a trained model on your own text.

`rnnmem autocomplete` completes the word being typed; `rnnmem connectivity` writes the
report's interactive connectivity figure for any sentence. Both run in the project (beside
params.yaml) and read the pipeline's outputs (data/models/<kind>/seed<N>/model.pt,
data/autocomplete/vocab.json), and fail in one line naming the `dvc repro` command when one
is missing or was trained on another vocabulary; `--model all` is every model of params.yaml.
Only the models and seeds params.yaml lists are served: files of one removed from it are
left over from an earlier run. Input length is bounded, since connectivity costs time and
memory quadratic in it, and so is -k, as the pipeline's analysis.top_k is. Only the
connectivity figure loads the report's plotting libraries, and only a command that runs a
model loads torch: `rnnmem --help` starts without either.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from rnnmem import params
from rnnmem.data.dataset import SPACE, encode_sentence, load_vocab
from rnnmem.files import write_text
from rnnmem.kinds import KINDS, LABELS
from rnnmem.stage import UserError, made_by, run_stage

if TYPE_CHECKING:
    pass

MAX_TEXT_CHARS = 10_000  # any command's input text


def _top_k(text: str) -> int:
    value = int(text)
    if not 1 <= value <= params.MAX_TOP_K:
        raise argparse.ArgumentTypeError(
            f"must be from 1 to {params.MAX_TOP_K} (as analysis.top_k), got {value}"
        )
    return value


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"must be a seed from 0 to 4,294,967,295 (as in params.yaml's seeds), got {value}"
        )
    return value


def _models(args: argparse.Namespace) -> dict[str, Path]:
    """Each model asked for (`all`: params.yaml's) and its file, named for the errors; a
    model or seed params.yaml does not list is refused, whatever files it left."""
    run = params.load()
    if args.model != "all" and args.model not in run.models:
        raise UserError(
            f"{args.model} is not among params.yaml's models ({', '.join(run.models)}): any "
            f"file of it is left from an earlier run; give --model {' or '.join(run.models)}, "
            f"or add models.{args.model} to params.yaml and run `dvc repro`"
        )
    if args.seed not in run.seeds:
        seeds = ", ".join(map(str, run.seeds))
        raise UserError(
            f"seed {args.seed} is not among params.yaml's seeds ({seeds}): any model of it is "
            f"left from an earlier run; give --seed {run.seeds[0]}, or add {args.seed} to seeds "
            "and run `dvc repro`"
        )
    kinds = list(run.models) if args.model == "all" else [args.model]
    paths = {kind: Path(args.models_dir) / kind / f"seed{args.seed}" / "model.pt" for kind in kinds}
    made_by({args.data_dir: "build"} | {p: f"train@{k}-{args.seed}" for k, p in paths.items()})
    return paths


def _text(args: argparse.Namespace) -> str:
    if len(args.text) > MAX_TEXT_CHARS:
        raise UserError(
            f"the text has {len(args.text):,} characters; allowed: at most {MAX_TEXT_CHARS:,}"
            "; give a shorter text"
        )
    return args.text


def autocomplete(args: argparse.Namespace) -> None:
    """Print the top-k completions of the last word of the text, one `word probability` a line
    (with `--model all`, one column per model, side by side).

    Text ending in a space or punctuation asks for the next word instead. `<pad>` and
    `<unknown>` are never suggested; probabilities are the model's full softmax.
    """
    from rnnmem.analysis.suggestions import suggestions  # torch's code (`main`)
    from rnnmem.models.checkpoint import load_model

    paths = _models(args)
    vocab = load_vocab(args.data_dir)
    source, _, _ = encode_sentence(_text(args), vocab)
    if not args.text[-1:].isalnum():
        source = np.append(source, SPACE)
    kinds = list(paths)
    columns = {}
    for kind, path in paths.items():
        model, _, _ = load_model(path, vocab=vocab)
        top = suggestions(model, source, vocab.words, args.k)[-1]
        columns[kind] = [f"{word}  {prob:.4f}" for word, prob in top]
    widths = {kind: max(map(len, [LABELS[kind], *cells])) for kind, cells in columns.items()}
    rows = [[LABELS[kind] for kind in kinds]] if len(kinds) > 1 else []
    rows += [list(row) for row in zip(*columns.values(), strict=True)]
    for row in rows:
        print(
            "   ".join(f"{cell:<{widths[k]}}" for k, cell in zip(kinds, row, strict=True)).rstrip()
        )


def connectivity(args: argparse.Namespace) -> None:
    """Write the interactive connectivity figure of the text for one model or all of them."""
    # The report's module brings matplotlib and seaborn: loaded here, not for autocomplete.
    from rnnmem.analysis.connectivity import sentence_view  # torch's code (`main`)
    from rnnmem.models.checkpoint import load_model
    from rnnmem.report.html_report import connectivity_page
    from rnnmem.report.inputs import sentence_figure

    if not args.output:
        raise UserError("-o is empty; give the HTML file to write, e.g. -o connectivity.html")
    paths = _models(args)
    vocab = load_vocab(args.data_dir)
    source, target, unknown = encode_sentence(_text(args), vocab)
    if len(source) > params.MAX_SENTENCE_CHARS:
        raise UserError(
            f"the text is {len(source):,} characters once normalized; allowed: at most "
            f"{params.MAX_SENTENCE_CHARS:,} (connectivity grows with the square of the length); "
            "give a shorter text"
        )
    models = {kind: load_model(path, vocab=vocab)[0] for kind, path in paths.items()}
    views = {
        kind: sentence_view(model, vocab, source, target, args.k) for kind, model in models.items()
    }
    figure = sentence_figure(views, paths)
    page = connectivity_page([figure], f"Connectivity: {figure.text}")
    write_text(args.output, page, follow_symlinks=True)
    if unknown:
        print(
            "warning: not in the vocabulary, predicted as <unknown>: " + ", ".join(unknown),
            file=sys.stderr,
        )
    print(f"wrote {args.output}")


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in one line like every other error."""

    def error(self, message: str) -> NoReturn:
        hint = " (text starting with - goes after --)" if "arguments" in message else ""
        print(f"error: {message}{hint}; see `{self.prog} --help`", file=sys.stderr)
        sys.exit(2)


def parser() -> argparse.ArgumentParser:
    main_parser = _Parser(
        prog="rnnmem", description="Try the trained autocomplete models on your own text."
    )
    commands = main_parser.add_subparsers(dest="command", required=True)

    def command(name: str, run, help_text: str, models: Sequence[str]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(run=run)
        sub.add_argument("text", help="text, normalized like text8 (lowercase, digits spelled)")
        sub.add_argument("--model", choices=models, default="gru", help="model (default gru)")
        sub.add_argument(
            "-k",
            type=_top_k,
            default=3,
            help=f"words to show, at most {params.MAX_TOP_K} (default 3)",
        )
        sub.add_argument(
            "--models-dir",
            default="data/models",
            help="holds <kind>/seed<N>/model.pt (data/models)",
        )
        sub.add_argument(
            "--seed", type=_seed, default=0, help="which training seed's model (default 0)"
        )
        sub.add_argument(
            "--data-dir", default="data/autocomplete", help="holds vocab.json (data/autocomplete)"
        )
        return sub

    command(
        "autocomplete",
        autocomplete,
        "top-k completions of the word being typed at the end of the text",
        (*KINDS, "all"),
    )
    figure = command(
        "connectivity",
        connectivity,
        "write the interactive connectivity figure of a sentence as a self-contained HTML file",
        (*KINDS, "all"),
    )
    figure.add_argument(
        "-o",
        "--output",
        default="connectivity.html",
        help="HTML file to write (a symbolic link: its target is written; "
        "devices, FIFOs and directories are refused)",
    )
    return main_parser


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)  # `--help` and usage errors end here, before torch loads
    # Every command runs a model: torch is loaded before `run_stage`, which then flushes
    # subnormal floats as the stages that compute do, so the figures match the report's.
    import torch  # noqa: F401

    run_stage(lambda: args.run(args))


if __name__ == "__main__":
    main()
