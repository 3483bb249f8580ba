"""Synthetic report inputs in the formats the pipeline writes, so the report can be tested
without training anything. Values are random but reproducible from a seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

KINDS = ("gru", "lstm", "nlstm")
SENTENCES = (
    "context the formal study of grammar is an important part of education",
    "the rules taught in schools are not a grammar",
)
WORDS = ["the", "of", "grammar", "study", "schools", "rules", "part", "education", "not", "a"]


def sentence(text: str, rng: np.random.Generator) -> dict:
    """One sentences.json entry: lower-triangular positive matrix and a descending top-3."""
    chars = list("".join(" " + w for w in text.split()))
    targets = [w for w in text.split() for _ in range(len(w) + 1)]
    steps = len(chars)
    matrix = np.tril(rng.uniform(0.01, 1.0, size=(steps, steps)) ** 3)
    top = []
    for _ in range(steps):
        probs = np.sort(rng.dirichlet(np.ones(5)))[::-1][:3]
        words = rng.choice(WORDS, size=3, replace=False)
        top.append([[str(w), float(p)] for w, p in zip(words, probs, strict=True)])
    return {
        "text": text,
        "chars": chars,
        "targets": targets,
        "matrix": matrix.tolist(),
        "top": top,
    }


def _prefix(rng: np.random.Generator) -> pd.DataFrame:
    top1 = np.sort(rng.uniform(0.1, 0.9, 8))
    return pd.DataFrame(
        {
            "k": np.arange(8),
            "top1": top1,
            "top2": np.minimum(top1 + 0.05, 1),
            "top3": np.minimum(top1 + 0.1, 1),
            "count": rng.integers(10, 1000, 8),
        }
    )


def _dvclive_tsv(path: Path, metric: str, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = np.arange(len(values)) * 10
    table = pd.DataFrame({"timestamp": 1700000000000 + steps, "step": steps, metric: values})
    table.to_csv(path, sep="\t", index=False)


AUCS = ("connectivity_auc", "signed_auc")


def _memory(reports: Path, kind: str, rng: np.random.Generator) -> None:
    """reports/memory/<kind>.json (each measure with an interval, and the counts beside
    them), the long-range probe's curve and the warnings."""
    values = {
        "memory_span_chars": float(rng.choice([0, 30, 70])),
        "referent_top1_k1": float(rng.uniform(0.2, 0.5)),
        "placebo_top1_k1": float(rng.uniform(0.1, 0.3)),
        "intervention_effect_k1": float(rng.uniform(0, 2)),
        **{f"{a}_k{k}": float(rng.uniform(0.4, 0.9)) for a in AUCS for k in (0, 1)},
        "memory_half_life_chars": float(rng.uniform(20, 900)),
        "effective_context_chars": float(rng.choice([20, 50, 100])),
        "recall_gap_k1": float(rng.uniform(-0.05, 0.4)),
        "natural_swap_effect_k1": float(rng.uniform(0, 0.8)),
        "natural_repeat_gain_k1": float(rng.uniform(-0.05, 0.3)),
        "natural_span_chars": float(rng.choice([0, 50, 100])),
    }
    reached = int(rng.choice([0, 1]))
    memory = {
        "seeds": 1,
        "attribution_pairs_k0": 90,
        "attribution_pairs_k1": 61,
        "memory_span_tested_chars": 185,
        "recall_seeds": reached,
        "steps_to_recall_median": 150.0 if reached else None,
        "validation_interval": 50,
        "steps_trained": 300,
        "min_gap": 0.05,
        "min_effect_nats": 0.05,
        "ablation_tolerance_nats": 0.01,
    }
    for key, value in values.items():
        memory |= {key: value, f"{key}_ci_low": value * 0.8, f"{key}_ci_high": value * 1.2}
    for flag in ("memory_span", "memory_half_life", "effective_context", "natural_span"):
        memory[f"{flag}_censored_seeds"] = 0
    (reports / "memory" / kind).mkdir(parents=True, exist_ok=True)
    (reports / "memory" / f"{kind}.json").write_text(json.dumps(memory))
    edges = np.array([10, 18, 31, 55, 97, 172, 304, 538, 950])
    gap = np.sort(rng.uniform(0, 0.6, len(edges) - 1))[::-1]
    pd.DataFrame(
        {
            "distance": edges[1:],
            "distance_middle": np.sqrt(edges[:-1] * edges[1:]),
            "pairs": 20,
            "gap_k1": gap,
            "gap_k1_ci_low": gap - 0.1,
            "gap_k1_ci_high": gap + 0.1,
        }
    ).to_csv(reports / "memory" / kind / "long_curve.csv", index=False)
    buckets = np.arange(30, 191, 20)
    referent = rng.uniform(0.2, 0.8, len(buckets))
    placebo = rng.uniform(0.1, 0.3, len(buckets))
    pd.DataFrame(
        {
            "distance": buckets,
            "pairs": 50,
            "top1_k1": referent,
            "top1_k1_ci_low": referent - 0.05,
            "top1_k1_ci_high": referent + 0.05,
            "placebo_top1_k1": placebo,
            "placebo_top1_k1_ci_low": placebo - 0.05,
            "placebo_top1_k1_ci_high": placebo + 0.05,
        }
    ).to_csv(reports / "memory" / kind / "curve.csv", index=False)
    windows = np.array([5, 10, 20, 50, 100])
    added = np.sort(rng.uniform(0, 0.8, len(windows)))[::-1]
    pd.DataFrame(
        {
            "window": windows,
            "difference": added,
            "difference_ci_low": added - 0.01,
            "difference_ci_high": added + 0.01,
        }
    ).to_csv(reports / "memory" / kind / "ablation.csv", index=False)
    edges = np.array([20, 50, 100, 200])
    effect = np.sort(rng.uniform(0, 0.8, len(edges)))[::-1]
    pd.DataFrame(
        {
            "distance": edges,
            "repeats": 100,
            "swap_effect_k1": effect,
            "swap_effect_k1_ci_low": effect - 0.05,
            "swap_effect_k1_ci_high": effect + 0.05,
        }
    ).to_csv(reports / "memory" / kind / "natural.csv", index=False)
    steps = np.arange(0, 301, 50)
    gap = np.sort(rng.uniform(-0.05, 0.4, len(steps)))
    (reports / "recall" / kind).mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {"step": steps, "gap": gap, "gap_ci_low": gap - 0.05, "gap_ci_high": gap + 0.05}
    ).to_csv(reports / "recall" / kind / "curve.csv", index=False)
    notes = ["seed 0: memory span 0"] if values["memory_span_chars"] == 0 else []
    (reports / "memory" / kind / "warnings.json").write_text(json.dumps(notes))


def write_inputs(
    reports: Path, kinds: tuple[str, ...] = KINDS, texts: tuple[str, ...] = SENTENCES, seed: int = 0
) -> dict[str, list[dict]]:
    """Write every report input under `reports`; return the sentences.json entries per model."""
    rng = np.random.default_rng(seed)
    written = {}
    for kind in kinds:
        metrics = {
            "cross_entropy": float(rng.uniform(2, 4)),
            "accuracy": float(rng.uniform(0.3, 0.6)),
            "parameters": int(rng.integers(10_000, 1_000_000)),
            "training_seconds": float(rng.uniform(10, 5000)),
        }
        prefix = _prefix(rng)
        metrics |= {f"prefix_top1_k{k}": float(prefix["top1"][k]) for k in range(3)}
        metrics["reference_accuracy"] = metrics["accuracy"] * 0.95
        for key in ("cross_entropy", "accuracy", "reference_accuracy"):
            metrics[f"{key}_ci_low"], metrics[f"{key}_ci_high"] = metrics[key] - 0.01, metrics[key]
        metrics |= {"seeds": 1, "interval": "bootstrap over test observations (95 %, percentile)"}
        (reports / "metrics").mkdir(parents=True, exist_ok=True)
        (reports / "metrics" / f"{kind}.json").write_text(json.dumps(metrics))
        (reports / "prefix").mkdir(parents=True, exist_ok=True)
        prefix.to_csv(reports / "prefix" / f"{kind}.csv", index=False)
        plots = reports / "train" / kind / "seed0" / "plots" / "metrics"
        for split in ("train", "valid"):
            _dvclive_tsv(plots / split / "loss.tsv", "loss", np.sort(rng.uniform(2, 6, 20))[::-1])
            _dvclive_tsv(
                plots / split / "accuracy.tsv", "accuracy", np.sort(rng.uniform(0, 0.6, 20))
            )
        connectivity = reports / "connectivity" / kind
        connectivity.mkdir(parents=True, exist_ok=True)
        distance = np.arange(60)
        mean = np.exp(-distance / rng.uniform(5, 20))
        pd.DataFrame(
            {"distance": distance, "mean_connectivity": mean, "share": mean / mean.sum()}
        ).to_csv(connectivity / "distance.csv", index=False)
        share = float(rng.uniform(0.5, 0.9))
        (connectivity / "metrics.json").write_text(
            json.dumps(
                {
                    "current_word_share": share,
                    "earlier_words_share": 1 - share,
                }
            )
        )
        _memory(reports, kind, rng)
        written[kind] = [sentence(text, rng) for text in texts]
        (connectivity / "sentences.json").write_text(
            json.dumps({"model": kind, "sentences": written[kind]})
        )
    _prefix(rng).to_csv(reports / "prefix" / "dictionary.csv", index=False)
    _prefix(rng).to_csv(reports / "prefix" / "ngram.csv", index=False)
    baseline = {"dictionary_top1_k0": 0.1, "ngram_top1_k0": 0.15, "ngram_referent_top1_k0": 0.013}
    (reports / "baseline.json").write_text(json.dumps(baseline))
    dataset = {"observations": {"train": 900, "valid": 50, "test": 50}, "vocab_size": 1024}
    (reports / "dataset.json").write_text(json.dumps(dataset | {"token_coverage": 0.93}))
    comparisons = [
        {"a": a, "b": b, "metric": "accuracy", "difference": 0.02, "ci_low": 0.01,
         "ci_high": 0.03, "significant": True}
        for i, a in enumerate(kinds) for b in kinds[i + 1 :]
    ]  # fmt: skip
    memory = [
        {"a": a, "b": b, "metric": "recall_gap_k1", "difference": 0.2, "ci_low": 0.1,
         "ci_high": 0.3, "significant": True}
        for i, a in enumerate(kinds) for b in kinds[i + 1 :]
    ]  # fmt: skip
    (reports / "comparisons.json").write_text(
        json.dumps(
            {
                "seeds": 1,
                "interval": "paired bootstrap",
                "comparisons": comparisons,
                "memory_interval": "paired bootstrap over test observations",
                "memory_comparisons": memory,
            }
        )
    )
    return written
