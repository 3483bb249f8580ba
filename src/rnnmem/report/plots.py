"""Static figures of the report (matplotlib/seaborn, Agg backend), each returned as PNG bytes.

Every model keeps one colour across all figures, the interactive one included, so a
reader can follow a model from plot to plot.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from rnnmem import kinds  # noqa: E402

LABELS = {**kinds.LABELS, "dictionary": "dictionary"}
_PALETTE = sns.color_palette("colorblind", 3)
_COLORS = {"gru": _PALETTE[0], "lstm": _PALETTE[1], "nlstm": _PALETTE[2]}
BASELINE_COLOR = (0.45, 0.45, 0.45)
DPI = 110


def color(kind: str) -> tuple[float, float, float]:
    """The RGB colour (0..1) of a model in every figure."""
    return tuple(_COLORS.get(kind, BASELINE_COLOR))


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def training_curves(curves: Mapping[str, Mapping[str, pd.DataFrame]]) -> bytes:
    """Loss and accuracy per step: training solid, validation dashed, one colour per model."""
    sns.set_theme(style="whitegrid")
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for kind, tables in curves.items():
            for split, style in (("train", "-"), ("valid", "--")):
                table = tables[f"{split}/{metric}"]
                ax.plot(
                    table["step"],
                    table["value"],
                    style,
                    color=color(kind),
                    label=f"{LABELS.get(kind, kind)} {split}",
                )
        ax.set_xlabel("step")
        ax.set_ylabel("cross entropy" if metric == "loss" else "accuracy")
    axes[1].legend(fontsize="small")
    return _png(figure)


def _band(ax: plt.Axes, table: pd.DataFrame, x: str, y: str, shade: tuple) -> None:
    """Shade the 95 % interval of column `y` when the table has one (`y`_ci_low/_ci_high)."""
    low, high = f"{y}_ci_low", f"{y}_ci_high"
    if low in table and high in table and table[[low, high]].notna().any(axis=None):
        ax.fill_between(table[x], table[low], table[high], color=shade, alpha=0.2, linewidth=0)


def prefix_accuracy(tables: Mapping[str, pd.DataFrame], max_k: int = 10) -> bytes:
    """Top-1/2/3 accuracy against letters typed; the key "dictionary" is the dashed baseline."""
    sns.set_theme(style="whitegrid")
    figure, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for ax, top in zip(axes, ("top1", "top2", "top3"), strict=True):
        for kind, table in tables.items():
            shown = table[table["k"] <= max_k]
            style = "--" if kind == "dictionary" else "-"
            ax.plot(
                shown["k"],
                shown[top],
                style,
                marker="o",
                markersize=3,
                color=color(kind),
                label=LABELS.get(kind, kind),
            )
            _band(ax, shown, "k", top, color(kind))
        ax.set_title(f"top-{top[-1]}")
        ax.set_xlabel("letters typed (k)")
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize="small")
    return _png(figure)


def connectivity_distance(tables: Mapping[str, pd.DataFrame]) -> bytes:
    """Mean connectivity and share of a row's connectivity against distance (log y)."""
    sns.set_theme(style="whitegrid")
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, column in zip(axes, ("mean_connectivity", "share"), strict=True):
        for kind, table in tables.items():
            shown = table[table[column] > 0]
            ax.plot(
                shown["distance"], shown[column], color=color(kind), label=LABELS.get(kind, kind)
            )
            _band(ax, shown, "distance", column, color(kind))
        ax.set_yscale("log")
        ax.set_xlabel("distance (characters back)")
        ax.set_ylabel(column.replace("_", " "))
    axes[0].legend(fontsize="small")
    return _png(figure)


def word_share(current: Mapping[str, float]) -> bytes:
    """Stacked bars: share of connectivity on the current word and on earlier words (NaN: none
    measured)."""
    sns.set_theme(style="whitegrid")
    kinds = list(current)
    figure, ax = plt.subplots(figsize=(7, 0.6 + 0.6 * len(kinds)))
    y = np.arange(len(kinds))
    now = np.array([current[k] for k in kinds])
    colors = [color(k) for k in kinds]
    ax.barh(y, now, color=colors, label="current word")
    ax.barh(y, 1 - now, left=now, color=colors, alpha=0.35, label="earlier words")
    for i, share in enumerate(now):
        if np.isnan(share):
            ax.text(0.5, i, "not measured", ha="center", va="center")
            continue
        ax.text(share / 2, i, f"{share:.0%}", ha="center", va="center", color="white")
        ax.text((1 + share) / 2, i, f"{1 - share:.0%}", ha="center", va="center")
    ax.set_yticks(y, [LABELS.get(k, k) for k in kinds])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.grid(False)
    ax.set_xlabel("share of connectivity (solid: current word, light: earlier words)")
    return _png(figure)


def _wrap(chars: Sequence[str], width: int) -> list[tuple[int, int]]:
    """(column, line) of every character, breaking lines before a space, as text wraps."""
    places, column, line = [], 0, 0
    for t, char in enumerate(chars):
        word_end = next((u for u in range(t + 1, len(chars)) if chars[u] == " "), len(chars))
        if char == " " and column > 0 and column + (word_end - t) > width:
            column, line = 0, line + 1
        places.append((column, line))
        column += 1
    return places


def heat_strip(
    chars: Sequence[str],
    intensities: Mapping[str, np.ndarray],
    position: int,
    title: str,
    width: int = 70,
) -> bytes:
    """The sentence once per model, each character shaded by its intensity for the prediction
    at `position` (outlined), wrapped at spaces within `width` characters."""
    places = _wrap(chars, width)
    block = places[-1][1] + 2
    columns = max(x for x, _ in places) + 1
    size = (0.13 * columns + 1.6, 0.3 * block * len(intensities) + 0.3)
    figure, ax = plt.subplots(figsize=size)
    for m, (kind, shade) in enumerate(intensities.items()):
        top = m * block
        ax.text(-1, top, LABELS.get(kind, kind), ha="right", va="center", fontweight="bold")
        for t, (char, (x, line)) in enumerate(zip(chars, places, strict=True)):
            y = top + line
            face = (*color(kind), float(shade[t]))
            edge = "black" if t == position else "none"
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=face, edgecolor=edge))
            grey = "0.65" if t > position else "black"
            ax.text(x, y, char, ha="center", va="center", family="monospace", color=grey)
    ax.set_xlim(-0.5, columns - 0.5)
    ax.set_ylim(block * len(intensities) - 1.5, -0.5)
    ax.axis("off")
    ax.set_title(title, loc="left", fontsize="medium")
    return _png(figure)


def memory_half_life(curves: Mapping[str, pd.DataFrame], half_lives: Mapping[str, float]) -> bytes:
    """The long-range probe's referent-minus-placebo gap in top-1 at k = 1 against distance
    (log x, bucket middles) with its band, and each model's half-life as a dotted line."""
    sns.set_theme(style="whitegrid")
    figure, ax = plt.subplots(figsize=(8, 4))
    for kind, table in curves.items():
        if table.empty:
            continue
        ax.plot(
            table["distance_middle"],
            table["gap_k1"],
            marker="o",
            markersize=3,
            color=color(kind),
            label=LABELS.get(kind, kind),
        )
        _band(ax, table, "distance_middle", "gap_k1", color(kind))
        if half_lives.get(kind) is not None:
            ax.axvline(half_lives[kind], color=color(kind), linestyle=":")
    if all(table.empty for table in curves.values()):
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.set_xscale("log")
        ax.legend(fontsize="small")
    ax.axhline(0, color=BASELINE_COLOR, linewidth=0.8)
    ax.set_xlabel("distance from the antecedent (characters)")
    ax.set_ylabel("referent - placebo top-1, k = 1")
    return _png(figure)


def memory_curve(curves: Mapping[str, pd.DataFrame]) -> bytes:
    """The headline figure: per model, referent top-1 at k = 1 by distance bucket (solid, with
    its band) against the position-matched placebo level (dashed, with its band)."""
    sns.set_theme(style="whitegrid")
    figure, ax = plt.subplots(figsize=(8, 4))
    for kind, table in curves.items():
        if table.empty:
            continue
        label = LABELS.get(kind, kind)
        ax.plot(table["distance"], table["top1_k1"], marker="o", markersize=3, color=color(kind),
                label=f"{label}: referents")  # fmt: skip
        _band(ax, table, "distance", "top1_k1", color(kind))
        ax.plot(table["distance"], table["placebo_top1_k1"], "--", color=color(kind),
                label=f"{label}: placebos, same positions")  # fmt: skip
        _band(ax, table, "distance", "placebo_top1_k1", color(kind))
    if all(table.empty for table in curves.values()):
        ax.text(0.5, 0.5, "no planted pairs", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize="small", ncol=2)
    ax.set_ylim(0, 1)
    ax.set_xlabel("distance from the antecedent (characters; bucket upper edge)")
    ax.set_ylabel("top-1 at k = 1 (first letter typed)")
    return _png(figure)


def recall_over_training(curves: Mapping[str, pd.DataFrame], reached: Mapping[str, float]) -> bytes:
    """Recall gap (referent minus position-matched placebo top-1 at k = 1) by training step,
    with its band; a dotted line marks each model's steps to recall."""
    sns.set_theme(style="whitegrid")
    figure, ax = plt.subplots(figsize=(8, 3.6))
    for kind, table in curves.items():
        if table.empty:
            continue
        ax.plot(table["step"], table["gap"], marker="o", markersize=3, color=color(kind),
                label=LABELS.get(kind, kind))  # fmt: skip
        _band(ax, table, "step", "gap", color(kind))
        if reached.get(kind) is not None:
            ax.axvline(reached[kind], color=color(kind), linestyle=":")
    if all(table.empty for table in curves.values()):
        ax.text(0.5, 0.5, "no planted pairs", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize="small")
    ax.axhline(0, color=BASELINE_COLOR, linewidth=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("recall gap, k = 1")
    return _png(figure)
