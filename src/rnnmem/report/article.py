"""The article's own figures: its test metrics, the definitions behind them, and how to tell
that a run is its setup (profiles/paper.yaml on text8), where the report sets them beside ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnnmem.profile import holds

# The article's test metrics (full text8, 600-unit models, one run each) and what they count.
PAPER = {
    "gru": {"cross_entropy": 2.1170, "reference_accuracy": 0.5201, "prefix_top1_k0": 0.165,
            "prefix_top1_k1": 0.383, "prefix_top1_k2": 0.556},
    "lstm": {"cross_entropy": 2.1713, "reference_accuracy": 0.5140, "prefix_top1_k0": 0.167,
             "prefix_top1_k1": 0.376},
    "nlstm": {"cross_entropy": 2.4950, "reference_accuracy": 0.4710, "prefix_top1_k0": 0.137,
              "prefix_top1_k1": 0.326},
}  # fmt: skip
DEFINITIONS = {
    "cross_entropy": "mean over characters whose target is neither <pad> nor <unknown>, "
    "as the article's loss",
    "reference_accuracy": "reference: <unknown> targets count, as in the article",
    **{
        f"prefix_top1_k{k}": "masked: <unknown> targets left out; the article's script "
        "also counts padding in fixed batches, so expect small differences"
        for k in range(3)
    },
}


def paper_profile(params: Mapping[str, Any], profile: Mapping[str, Any]) -> bool:
    """True when `params` is the article's setup: text8, and the dataset and models keys the
    profile sets at its values."""
    source = (params.get("corpus") or {}).get("source")
    same = all(
        holds(params.get(key) or {}, profile.get(key) or {}) for key in ("dataset", "models")
    )
    return source == "text8" and same
