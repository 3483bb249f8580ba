"""The `rnnmem` command: try a trained model on your own text.

`rnnmem autocomplete` completes the word being typed; `rnnmem connectivity` writes the
report's interactive connectivity figure for any sentence. Both read the pipeline's
outputs (data/models/<kind>/model.pt, data/autocomplete/vocab.json) and fail in one
line naming the `dvc repro` command when one is missing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rnnmem.connectivity import sentence_view
from rnnmem.dataset import PAD, SPACE, UNKNOWN, Vocab, encode_sentence, load_vocab
from rnnmem.models import load_model
from rnnmem.params import MODEL_KINDS
from rnnmem.report import connectivity_page, sentence_figure
from rnnmem.stage import run_stage, write_text


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _model_path(args: argparse.Namespace, kind: str) -> Path:
    return Path(args.models_dir) / kind / "model.pt"


@torch.no_grad()
def _top_words(model: torch.nn.Module, source: np.ndarray, vocab: Vocab, k: int) -> list:
    """The k most likely real words (never <pad> or <unknown>) at every position, with their
    probabilities under the full softmax."""
    probs = torch.softmax(model(torch.from_numpy(source)[None]).float(), dim=-1)[0]
    probs[:, [PAD, UNKNOWN]] = 0
    best_probs, best = probs.topk(min(k, probs.shape[-1] - 2), dim=-1)
    return [
        [(vocab.words[w], float(p)) for w, p in zip(ws.tolist(), ps.tolist(), strict=True)]
        for ws, ps in zip(best, best_probs, strict=True)
    ]


def autocomplete(args: argparse.Namespace) -> None:
    """Print the top-k completions of the last word of the text, one `word probability` a line.

    Text ending in a space or punctuation asks for the next word instead. `<pad>` and
    `<unknown>` are never suggested; probabilities are the model's full softmax.
    """
    vocab = load_vocab(args.data_dir)
    source, _, _ = encode_sentence(args.text, vocab)
    if not args.text[-1:].isalnum():
        source = np.append(source, SPACE)
    model, _, _ = load_model(_model_path(args, args.model))
    top = _top_words(model, source, vocab, args.k)[-1]
    width = max(len(word) for word, _ in top)
    for word, prob in top:
        print(f"{word:<{width}}  {prob:.4f}")


def connectivity(args: argparse.Namespace) -> None:
    """Write the interactive connectivity figure of the text for one model or all of them."""
    vocab = load_vocab(args.data_dir)
    source, target, unknown = encode_sentence(args.text, vocab)
    kinds = MODEL_KINDS if args.model == "all" else (args.model,)
    paths = {kind: _model_path(args, kind) for kind in kinds}
    models = {kind: load_model(path)[0] for kind, path in paths.items()}
    views = {
        kind: sentence_view(model, vocab, source, target, args.k) for kind, model in models.items()
    }
    figure = sentence_figure(views, paths)
    write_text(args.output, connectivity_page([figure], f"Connectivity: {figure.text}"))
    if unknown:
        print(
            "warning: not in the vocabulary, predicted as <unknown>: " + ", ".join(unknown),
            file=sys.stderr,
        )
    print(f"wrote {args.output}")


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="rnnmem", description="Try the trained autocomplete models on your own text."
    )
    commands = main_parser.add_subparsers(dest="command", required=True)

    def command(name: str, run, help_text: str, models: Sequence[str]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(run=run)
        sub.add_argument("text", help="text, normalized like text8 (lowercase, digits spelled)")
        sub.add_argument("--model", choices=models, default="gru", help="model (default gru)")
        sub.add_argument("-k", type=_positive, default=3, help="words to show (default 3)")
        sub.add_argument(
            "--models-dir", default="data/models", help="holds <kind>/model.pt (data/models)"
        )
        sub.add_argument(
            "--data-dir", default="data/autocomplete", help="holds vocab.json (data/autocomplete)"
        )
        return sub

    command(
        "autocomplete",
        autocomplete,
        "top-k completions of the word being typed at the end of the text",
        MODEL_KINDS,
    )
    figure = command(
        "connectivity",
        connectivity,
        "write the interactive connectivity figure of a sentence as a self-contained HTML file",
        (*MODEL_KINDS, "all"),
    )
    figure.add_argument("-o", "--output", default="connectivity.html", help="HTML file to write")
    return main_parser


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    run_stage(lambda: args.run(args))


if __name__ == "__main__":
    main()
