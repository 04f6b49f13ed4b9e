"""Breakdown: where a design's time goes, per kernel and per limiting bound."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from dse.plots.common import (
    STREAM_COLORS,
    freeze_layout,
    is_light,
    new_figure,
    require_columns,
    save,
)

_BOUND_ORDER = ("compute", "weights", "inputs", "outputs", "vector")


def plot_breakdown(
    breakdown: pd.DataFrame, out: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Latency per design split by kernel (left) and by the bound that limits each kernel (right).

    Args:
        breakdown: one row per design and kernel: ``design_id``, ``kernel``, ``time_ms`` (time
            of that kernel per policy call, ms) and ``bound`` (``compute``, ``weights``,
            ``inputs``, ``outputs`` or ``vector``). Designs are drawn top to bottom in order of
            first appearance; kernels keep one colour across designs.
        out: image path (format from the suffix, PNG by default).
        title: figure title.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    fig = figure(breakdown, title=title)
    return save(fig, out)


def figure(breakdown: pd.DataFrame, *, title: str | None) -> Figure:
    require_columns(breakdown, ("design_id", "kernel", "time_ms", "bound"), "breakdown")
    data = breakdown.assign(
        design_id=breakdown["design_id"].astype(str),
        kernel=breakdown["kernel"].astype(str),
        bound=breakdown["bound"].astype(str),
    )
    designs = list(dict.fromkeys(data["design_id"]))
    kernels = list(dict.fromkeys(data["kernel"]))
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
    kernel_colors = dict(zip(kernels, _qualitative(len(kernels)), strict=True))
    bound_colors = {
        b: STREAM_COLORS.get(b, c)
        for b, c in zip(bounds, sns.color_palette("Set2", len(bounds)).as_hex(), strict=True)
    }

    height = 1.9 + 0.55 * len(designs) + 0.25 * np.ceil(len(kernels) / 5)
    fig = new_figure(13, max(height, 3.6))
    ax, axb = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": (3.2, 1.3)})
    ypos = np.arange(len(designs))
    segment_labels: list[tuple[Any, Any, list[str], str]] = []

    left = np.zeros(len(designs))
    for k in kernels:
        widths = by_kernel[k].to_numpy(float)
        bars = ax.barh(
            ypos,
            widths,
            left=left,
            height=0.7,
            color=kernel_colors[k],
            edgecolor="white",
            linewidth=0.6,
            label=k,
        )
        segment_labels.append((ax, bars, [k] * len(designs), kernel_colors[k]))
        left += widths
    for yy, total in zip(ypos, totals, strict=True):
        ax.text(total, yy, f" {total:.3g} ms", va="center", ha="left", fontsize=9)
    ax.set_xlim(0, float(totals.max()) * 1.13 if len(totals) and totals.max() > 0 else 1)
    ax.set_yticks(ypos, designs)
    ax.invert_yaxis()
    ax.set_xlabel("time per policy call (ms)")
    ax.set_ylabel("design")
    ax.set_title("by kernel", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)

    shares = by_bound.div(by_bound.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0) * 100
    left = np.zeros(len(designs))
    for b in bounds:
        widths = shares[b].to_numpy(float)
        bars = axb.barh(
            ypos,
            widths,
            left=left,
            height=0.7,
            color=bound_colors[b],
            edgecolor="white",
            linewidth=0.6,
            label=b,
        )
        segment_labels.append((axb, bars, [f"{w:.0f}%" for w in widths], bound_colors[b]))
        left += widths
    axb.set_xlim(0, 100)
    axb.xaxis.set_major_formatter(PercentFormatter(100))
    axb.set_xlabel("share of time per policy call")
    dominant = shares.idxmax(axis=1) if len(bounds) else pd.Series(dtype=str)
    axb.set_title("by limiting bound", fontsize=10)
    axb.tick_params(axis="y", left=False)
    for yy, d in zip(ypos, designs, strict=True):
        if len(bounds):
            axb.text(
                101,
                yy,
                f" {dominant[d]}-bound",
                va="center",
                ha="left",
                fontsize=9,
                weight="bold",
                color=bound_colors[dominant[d]],
                clip_on=False,
            )

    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16 - 0.02 * len(designs) ** 0.5),
        ncol=min(len(kernels), 5),
        fontsize=8,
        title="kernel",
        title_fontsize=8,
        frameon=False,
    )
    axb.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16 - 0.02 * len(designs) ** 0.5),
        ncol=min(len(bounds), 3),
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


def _qualitative(n: int) -> list[str]:
    if n <= 10:
        return sns.color_palette("tab10", n).as_hex()
    if n <= 20:
        return sns.color_palette("tab20", n).as_hex()
    return sns.color_palette("husl", n).as_hex()


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
