"""Static figures of the report (matplotlib/seaborn, Agg backend), each returned as PNG bytes.

Lines by model with their interval bands and the connectivity heatmaps are drawn by seaborn,
each figure inside a style context of its own (`_theme`), so that drawing one leaves
matplotlib's settings as it found them. Every model keeps one colour across all figures, the
interactive one included, so a reader can follow a model from plot to plot.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
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


def _theme(style: str = "whitegrid") -> contextlib.AbstractContextManager:
    """seaborn's look (`style`, the notebook scale) for one figure, drawn and saved inside the
    block: matplotlib's settings are as they were once it ends, whoever draws next."""
    return plt.rc_context({**sns.axes_style(style), **sns.plotting_context("notebook")})


def _label(kind: str) -> str:
    return LABELS.get(kind, kind)


def _lines(
    ax: plt.Axes,
    tables: Mapping[str, pd.DataFrame],
    x: str,
    y: str,
    label: str = "{}",
    dashed: bool | Sequence[str] = False,
    **style: Any,
) -> None:
    """Column `y` against `x` of each model's table, drawn by seaborn in the model's colour
    with its shaded 95 % interval where the table has one, and labelled `label` with the
    model's name; dashed when `dashed` is true or names the model (a baseline). A missing
    value breaks its line rather than bridging the gap."""
    shown = {kind: table for kind, table in tables.items() if not table.empty}
    if not shown:
        return
    names = {kind: label.format(_label(kind)) for kind in shown}
    frame = pd.concat(
        [
            pd.DataFrame(
                {x: table[x], y: table[y], "line": names[kind], "stretch": table[y].isna().cumsum()}
            ).dropna(subset=[y])
            for kind, table in shown.items()
        ],
        ignore_index=True,
    )
    dash = {kind: (4, 2) if dashed is True or kind in (dashed or ()) else "" for kind in shown}
    sns.lineplot(
        frame,
        x=x,
        y=y,
        hue="line",
        style="line",
        units=frame["line"] + frame["stretch"].astype(str),
        palette={names[kind]: color(kind) for kind in shown},
        dashes={names[kind]: dash[kind] for kind in shown},
        estimator=None,
        legend="full",
        ax=ax,
        **style,
    )
    ax.get_legend().remove()  # its entries stay: `_legend` gathers those of every call
    for kind, table in shown.items():
        _band(ax, table, x, y, color(kind))


def _legend(ax: plt.Axes, **options: Any) -> None:
    """One legend of the lines of every `_lines` call on `ax`."""
    ax.legend(fontsize="small", **options)


def _band(ax: plt.Axes, table: pd.DataFrame, x: str, y: str, shade: tuple) -> None:
    """Shade the 95 % interval of column `y` when the table has one (`y`_ci_low/_ci_high)."""
    low, high = f"{y}_ci_low", f"{y}_ci_high"
    if low in table and high in table and table[[low, high]].notna().any(axis=None):
        ax.fill_between(table[x], table[low], table[high], color=shade, alpha=0.2, linewidth=0)


def training_curves(curves: Mapping[str, Mapping[str, pd.DataFrame]]) -> bytes:
    """Loss and accuracy per step: training solid, validation dashed, one colour per model."""
    with _theme():
        figure, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
            for split in ("train", "valid"):
                tables = {kind: tables[f"{split}/{metric}"] for kind, tables in curves.items()}
                _lines(ax, tables, "step", "value", "{} " + split, dashed=split == "valid")
            ax.set_xlabel("step")
            ax.set_ylabel("cross entropy" if metric == "loss" else "accuracy")
        _legend(axes[1])
        return _png(figure)


def prefix_accuracy(tables: Mapping[str, pd.DataFrame], max_k: int = 10) -> bytes:
    """Top-1/2/3 accuracy against letters typed; the key "dictionary" is the dashed baseline."""
    shown = {kind: table[table["k"] <= max_k] for kind, table in tables.items()}
    with _theme():
        figure, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
        for ax, top in zip(axes, ("top1", "top2", "top3"), strict=True):
            _lines(ax, shown, "k", top, dashed=["dictionary"], marker="o", markersize=4)
            ax.set_title(f"top-{top[-1]}")
            ax.set_xlabel("letters typed (k)")
        axes[0].set_ylabel("accuracy")
        _legend(axes[0])
        return _png(figure)


def connectivity_distance(tables: Mapping[str, pd.DataFrame]) -> bytes:
    """Mean connectivity and share of a row's connectivity against distance (log y)."""
    with _theme():
        figure, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, column in zip(axes, ("mean_connectivity", "share"), strict=True):
            _lines(ax, {kind: table[table[column] > 0] for kind, table in tables.items()},
                   "distance", column)  # fmt: skip
            ax.set_yscale("log")
            ax.set_xlabel("distance (characters back)")
            ax.set_ylabel(column.replace("_", " "))
        _legend(axes[0])
        return _png(figure)


def word_share(current: Mapping[str, float]) -> bytes:
    """Stacked bars: share of connectivity on the current word and on earlier words (NaN: none
    measured)."""
    kinds = list(current)
    with _theme():
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
        ax.set_yticks(y, [_label(k) for k in kinds])
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
    """The sentence once per model, a seaborn heatmap of its characters shaded by their
    intensity for the prediction at `position` (outlined; the characters after it grey),
    wrapped at spaces within `width` characters."""
    places = _wrap(chars, width)
    lines = places[-1][1] + 1
    columns = max(x for x, _ in places) + 1
    with _theme("white"):
        figure, axes = plt.subplots(
            len(intensities),
            1,
            figsize=(0.13 * columns + 1.6, 0.3 * (lines + 1) * len(intensities) + 0.3),
            squeeze=False,
        )
        for ax, (kind, shade) in zip(axes[:, 0], intensities.items(), strict=True):
            grid = np.full((lines, columns), np.nan)  # no character there: left blank
            text = np.full((lines, columns), "", dtype=object)
            for t, (x, line) in enumerate(places):
                grid[line, x], text[line, x] = shade[t], chars[t]
            sns.heatmap(
                grid,
                vmin=0,
                vmax=1,
                cmap=LinearSegmentedColormap.from_list(kind, ["white", color(kind)]),
                annot=text,
                fmt="",
                annot_kws={"family": "monospace"},
                cbar=False,
                xticklabels=False,
                yticklabels=False,
                ax=ax,
            )
            for t, label in enumerate(ax.texts):  # one per character, in reading order
                if t > position:
                    label.set_color("0.65")
            x, line = places[position]
            ax.add_patch(Rectangle((x, line), 1, 1, fill=False, edgecolor="black", linewidth=1))
            ax.set_ylabel(_label(kind), rotation=0, ha="right", va="center", fontweight="bold")
        axes[0, 0].set_title(title, loc="left", fontsize="medium")
        return _png(figure)


def _gaps(
    ax: plt.Axes,
    curves: Mapping[str, pd.DataFrame],
    x: str,
    y: str,
    marks: Mapping[str, float | None],
    empty: str,
) -> bool:
    """A referent-minus-placebo gap by model (`_lines`, with markers) around the zero line,
    each model's value in `marks` as a dotted vertical line; `empty` is written instead when
    no model has a curve. True when some model has one."""
    _lines(ax, curves, x, y, marker="o", markersize=4)
    for kind, table in curves.items():
        if not table.empty and marks.get(kind) is not None:
            ax.axvline(marks[kind], color=color(kind), linestyle=":")
    ax.axhline(0, color=BASELINE_COLOR, linewidth=0.8)
    if all(table.empty for table in curves.values()):
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
        return False
    _legend(ax)
    return True


def memory_half_life(curves: Mapping[str, pd.DataFrame], half_lives: Mapping[str, float]) -> bytes:
    """The long-range probe's referent-minus-placebo gap in top-1 at k = 1 against distance
    (log x, bucket middles) with its band, and each model's half-life as a dotted line."""
    with _theme():
        figure, ax = plt.subplots(figsize=(8, 4))
        if _gaps(ax, curves, "distance_middle", "gap_k1", half_lives, "not measured"):
            ax.set_xscale("log")
        ax.set_xlabel("distance from the antecedent (characters)")
        ax.set_ylabel("referent - placebo top-1, k = 1")
        return _png(figure)


def memory_curve(curves: Mapping[str, pd.DataFrame]) -> bytes:
    """The headline figure: per model, referent top-1 at k = 1 by distance bucket (solid, with
    its band) against the matched placebo level (dashed, with its band)."""
    with _theme():
        figure, ax = plt.subplots(figsize=(8, 4))
        _lines(ax, curves, "distance", "top1_k1", "{}: referents", marker="o", markersize=4)
        _lines(ax, curves, "distance", "placebo_top1_k1", "{}: placebos, same positions",
               dashed=True)  # fmt: skip
        if all(table.empty for table in curves.values()):
            ax.text(0.5, 0.5, "no planted pairs", ha="center", va="center", transform=ax.transAxes)
        else:
            _legend(ax, ncol=2)
        ax.set_ylim(0, 1)
        ax.set_xlabel("distance from the antecedent (characters; bucket upper edge)")
        ax.set_ylabel("top-1 at k = 1 (first letter typed)")
        return _png(figure)


def recall_over_training(curves: Mapping[str, pd.DataFrame], reached: Mapping[str, float]) -> bytes:
    """Recall gap (referent minus matched placebo top-1 at k = 1) by training step,
    with its band; a dotted line marks each model's steps to recall."""
    with _theme():
        figure, ax = plt.subplots(figsize=(8, 3.6))
        _gaps(ax, curves, "step", "gap", reached, "no planted pairs")
        ax.set_xlabel("training step")
        ax.set_ylabel("recall gap, k = 1")
        return _png(figure)


def natural_memory_curve(curves: Mapping[str, pd.DataFrame]) -> bytes:
    """Words that repeat: the swap effect at k = 1 (nats the repeated word loses when its
    earlier mentions are replaced) by distance bucket, with its band, per model, around 0
    (the earlier mention unused)."""
    with _theme():
        figure, ax = plt.subplots(figsize=(8, 4))
        _gaps(ax, curves, "distance", "swap_effect_k1", {}, "no repeated words")
        ax.set_xlabel("distance back to the earlier mention (characters; bucket upper edge)")
        ax.set_ylabel("swap effect, k = 1 (nats)")
        return _png(figure)


def context_ablation(curves: Mapping[str, pd.DataFrame], tolerance: float | None) -> bytes:
    """The loss each window of the last D characters adds over full context (nats), by D on a
    log scale, with its band per model, and the tolerance the effective context is read with
    as dotted lines either side of 0."""
    with _theme():
        figure, ax = plt.subplots(figsize=(8, 4))
        if _gaps(ax, curves, "window", "difference", {}, "not measured"):
            ax.set_xscale("log")
        if tolerance is not None:
            for bound in (-tolerance, tolerance):
                ax.axhline(bound, color=BASELINE_COLOR, linewidth=0.8, linestyle=":")
        ax.set_xlabel("window: the last D characters a prediction sees")
        ax.set_ylabel("added loss over full context (nats)")
        return _png(figure)
