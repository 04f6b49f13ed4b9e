"""Breakdown: where a design's time goes, per kernel and per limiting bound."""

from __future__ import annotations

import colorsys
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from dse.plots.common import (
    STREAM_COLORS,
    freeze_layout,
    is_light,
    new_figure,
    require_columns,
    save,
)
from dse.workload import GEMM, Workload

_BOUND_ORDER = ("compute", "weights", "inputs", "outputs", "vector")

#: One hue per kernel class (Paul Tol's bright scheme, colour-blind safe); the kernels of a
#: class get shades of it, so a class reads as one colour family across the bars.
CLASS_COLORS: dict[str, str] = {
    "embed": "#AA3377",
    "proj": "#4477AA",
    "attention": "#EE6677",
    "mlp": "#228833",
    "vector": "#CCBB44",
    "connector": "#66CCEE",
    "classifier": "#66CCEE",
    "pooling": "#66CCEE",
}

#: What a class is called in the legend.
CLASS_TITLES: dict[str, str] = {
    "embed": "patch embedding",
    "proj": "attention projections",
    "attention": "attention (scores, context)",
    "mlp": "MLP",
    "vector": "vector unit (LayerNorm, softmax, ...)",
    "connector": "connector (pixel shuffle, projection)",
    "classifier": "classifier head",
    "pooling": "attention-pooling head",
}

#: Spare hues for classes not listed above.
_SPARE_HUES = ("#BBBBBB", "#882255", "#44AA99", "#999933", "#332288")


def kernel_classes(workload: Workload) -> dict[str, str]:
    """The class a kernel is coloured by in the breakdown: its GEMM class (``embed``, ``proj``,
    ``attention``, ``mlp``); for the head's GEMMs and data movement after the layers, the head
    they belong to (``connector``: SmolVLM's pixel shuffle and projection; ``classifier``: a
    linear classifier on the class tokens; ``pooling``: SigLIP's attention-pooling head);
    ``vector`` for the vector unit's kernels (LayerNorm, softmax, ...)."""
    out = {}
    for k in workload.kernels:
        if k.group == "head" and (k.kind == GEMM or k.ops_per_element == 0):
            if k.name.startswith("pool_"):
                out[k.name] = "pooling"
            elif k.name.startswith("classifier"):
                out[k.name] = "classifier"
            else:
                out[k.name] = "connector"
        else:
            out[k.name] = k.cls if k.kind == GEMM else "vector"
    return out


def plot_breakdown(
    breakdown: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Latency per design split by kernel (left) and by the bound that limits each kernel (right).

    One row of panels per design, each on its own time axis (0 to the design's total), so a
    fast design's kernels stay as readable as a slow one's; the total is written beside the bar.

    Args:
        breakdown: one row per design and kernel: ``design_id``, ``kernel``, ``time_ms`` (time
            of that kernel per policy call, ms), ``bound`` (``compute``, ``weights``,
            ``inputs``, ``outputs`` or ``vector``) and optionally ``kernel_class`` (e.g.
            ``embed``, ``proj``, ``attention``, ``mlp``, ``vector``, ``connector``; kernels of
            a class share a hue). Designs are drawn top to bottom in order of first appearance;
            kernels keep one colour across designs.
        out: image path (format from the suffix, PNG by default).
        title: figure title.
        labels: design_id -> what the row is called (e.g. ``knee: INT8 3×32·4·32 @250`` and
            the id below it, dse.labels); designs not listed are called by their id.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    fig = figure(breakdown, title=title, labels=labels)
    return save(fig, out)


def kernel_colors(kernel_class: Mapping[str, str]) -> dict[str, str]:
    """A colour per kernel: its class's hue (:data:`CLASS_COLORS`), dark to light in order."""
    classes = list(dict.fromkeys(kernel_class.values()))
    spare = iter(_SPARE_HUES * (1 + len(classes) // len(_SPARE_HUES)))
    hues = {c: CLASS_COLORS.get(c) or next(spare) for c in classes}
    out: dict[str, str] = {}
    for c in classes:
        members = [k for k, v in kernel_class.items() if v == c]
        h, light, sat = colorsys.rgb_to_hls(*mpl.colors.to_rgb(hues[c]))
        shades = np.linspace(0.32, 0.78, len(members)) if len(members) > 1 else [light]
        for k, lv in zip(members, shades, strict=True):
            out[k] = mpl.colors.to_hex(colorsys.hls_to_rgb(h, float(lv), sat))
    return out


def figure(
    breakdown: pd.DataFrame, *, title: str | None, labels: Mapping[str, str] | None = None
) -> Figure:
    require_columns(breakdown, ("design_id", "kernel", "time_ms", "bound"), "breakdown")
    data = breakdown.assign(
        design_id=breakdown["design_id"].astype(str),
        kernel=breakdown["kernel"].astype(str),
        bound=breakdown["bound"].astype(str),
    )
    if "kernel_class" not in data.columns:
        data["kernel_class"] = "kernel"
    data["kernel_class"] = data["kernel_class"].astype(str)
    designs = list(dict.fromkeys(data["design_id"]))
    cls_of = dict(zip(data["kernel"], data["kernel_class"], strict=True))
    classes = list(dict.fromkeys(cls_of.values()))
    # kernels grouped by class (classes and kernels in order of first appearance)
    kernels = [k for c in classes for k in dict.fromkeys(data["kernel"]) if cls_of[k] == c]
    bounds = [b for b in _BOUND_ORDER if b in set(data["bound"])]
    bounds += sorted(set(data["bound"]) - set(bounds))
    by_kernel = data.pivot_table(
        index="design_id", columns="kernel", values="time_ms", aggfunc="sum", fill_value=0.0
    ).reindex(index=designs, columns=kernels)
    by_bound = data.pivot_table(
        index="design_id", columns="bound", values="time_ms", aggfunc="sum", fill_value=0.0
    ).reindex(index=designs, columns=bounds)
    by_kernel = by_kernel.fillna(0.0)
    by_bound = by_bound.fillna(0.0)
    totals = by_kernel.sum(axis=1)
    colors = kernel_colors({k: cls_of[k] for k in kernels})
    bound_colors = {
        b: STREAM_COLORS.get(b, c)
        for b, c in zip(bounds, sns.color_palette("Set2", len(bounds)).as_hex(), strict=True)
    }
    legend_rows = max((sum(cls_of[k] == c for k in kernels) for c in classes), default=1) + 1

    n = max(len(designs), 1)
    fig = new_figure(13, max(1.5 + 0.95 * n + 0.2 * legend_rows, 3.6))
    grid = fig.subplots(
        n, 2, squeeze=False, gridspec_kw={"width_ratios": (3.2, 1.3), "hspace": 0.08}
    )
    segment_labels: list[tuple[Any, Any, list[str], str]] = []
    shares = by_bound.div(by_bound.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0) * 100
    dominant = shares.idxmax(axis=1) if len(bounds) else pd.Series(dtype=str)
    for row, design in enumerate(designs):
        ax, axb = grid[row]
        left = 0.0
        for k in kernels:
            w = float(by_kernel.loc[design, k])
            if w <= 0:
                continue
            bars = ax.barh(
                [0], [w], left=left, height=0.7, color=colors[k], edgecolor="white",
                linewidth=0.6,
            )
            segment_labels.append((ax, bars, [k], colors[k]))
            left += w
        total = float(totals[design])
        ax.text(total, 0, f" {total:.4g} ms", va="center", ha="left", fontsize=9, weight="bold")
        ax.set_xlim(0, total * 1.13 if total > 0 else 1)
        ax.set_ylim(-0.5, 0.5)
        ax.set_yticks([0], [(labels or {}).get(design, design)])
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(True, axis="x", alpha=0.3)
        left = 0.0
        for b in bounds:
            w = float(shares.loc[design, b])
            bars = axb.barh(
                [0], [w], left=left, height=0.7, color=bound_colors[b], edgecolor="white",
                linewidth=0.6,
            )
            segment_labels.append((axb, bars, [f"{w:.0f}%"], bound_colors[b]))
            left += w
        axb.set_xlim(0, 100)
        axb.set_ylim(-0.5, 0.5)
        axb.set_yticks([])
        axb.xaxis.set_major_formatter(PercentFormatter(100))
        axb.tick_params(axis="x", labelsize=8, labelbottom=row == n - 1)
        if len(bounds):
            axb.text(
                101,
                0,
                f" {dominant[design]}-bound",
                va="center",
                ha="left",
                fontsize=9,
                weight="bold",
                color=bound_colors[dominant[design]],
                clip_on=False,
            )
    top_k, top_b = grid[0]
    top_k.set_title("by kernel (each design on its own time axis)", fontsize=10)
    top_b.set_title("by limiting bound", fontsize=10)
    grid[-1][0].set_xlabel("time per policy call (ms)")
    grid[-1][1].set_xlabel("share of time per policy call")
    fig.supylabel("design", fontsize=10)

    # Legend: one column per class, its title first, its kernels below in their shades.
    blank = Patch(color="none", label="")
    handles: list[Any] = []
    for c in classes:
        members = [k for k in kernels if cls_of[k] == c]
        col = [Patch(color="none", label=CLASS_TITLES.get(c, c))]
        col += [Patch(color=colors[k], label=k) for k in members]
        handles += col + [blank] * (legend_rows - len(col))
    leg = fig.legend(
        handles=handles,
        loc="outside lower left",
        ncol=len(classes),
        fontsize=8,
        frameon=False,
        handlelength=1.2,
        columnspacing=1.2,
    )
    for text, h in zip(leg.get_texts(), handles, strict=True):
        if h.get_label() in {CLASS_TITLES.get(c, c) for c in classes} and h.get_facecolor()[3] == 0:
            text.set_weight("bold")
    fig.legend(
        handles=[Patch(color=bound_colors[b], label=b) for b in bounds],
        loc="outside lower right",
        ncol=1,
        fontsize=8,
        title="bound (what limits the kernel)",
        title_fontsize=8,
        frameon=False,
    )
    fig.suptitle(
        title or "Where the time goes: latency per policy call by kernel and by limiting bound",
        fontsize=12,
    )
    freeze_layout(fig)
    renderer = fig.canvas.get_renderer()
    for axis, bars, texts, color in segment_labels:
        _label_segments(axis, bars, texts, color, renderer)
    return fig


def _label_segments(ax: Any, bars: Any, texts: Sequence[str], color: str, renderer: Any) -> None:
    """Write ``texts`` inside bar segments wide enough to hold them."""
    light = is_light(color)
    for bar, text in zip(bars, texts, strict=True):
        w = bar.get_width()
        if not w > 0:
            continue
        t = ax.text(
            bar.get_x() + w / 2,
            bar.get_y() + bar.get_height() / 2,
            text,
            ha="center",
            va="center",
            fontsize=7,
            color="black" if light else "white",
            clip_on=True,
        )
        seg = ax.transData.transform([(bar.get_x(), 0), (bar.get_x() + w, 0)])
        if t.get_window_extent(renderer).width > 0.92 * (seg[1, 0] - seg[0, 0]):
            t.remove()
