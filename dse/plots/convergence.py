"""Convergence: how fast each sampler approaches the exhaustive front's hypervolume."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from dse.plots.common import freeze_layout, new_figure, require_columns, save
from dse.plots.labels import spread_positions

#: Default axis labels.
XLABEL = "designs evaluated (log scale)"
YLABEL = "hypervolume / exhaustive-front hypervolume"


def plot_convergence(
    curves: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    title: str | None = None,
    panels: Sequence[tuple[str, str]] = (("hv_ratio", ""),),
    sampler: str = "sampler",
    xlabel: str = XLABEL,
    ylabel: str = YLABEL,
    target: float = 0.99,
    target_label: str = "99% of the exhaustive front's hypervolume",
) -> Path:
    """Hypervolume ratio against evaluations per sampler: median over seeds, min-max band.

    Args:
        curves: ``sampler`` (or the column named by ``sampler``), ``evaluations`` (designs
            evaluated so far), one column per panel (e.g. ``hv_ratio``: hypervolume of the front
            found so far / hypervolume of the exhaustive front) and optionally ``seed``. Seeds
            need not share evaluation counts: each seed's curve is held constant (best so far)
            between its own points.
        out: image path (format from the suffix, PNG by default).
        title: figure title.
        panels: ``(column, panel title)`` per panel, side by side on one shared x axis (one
            x label for all, so the labels of neighbouring panels cannot collide).
        sampler: the column naming the sampler or method of each curve.
        xlabel, ylabel: axis labels (the y label on the first panel only).
        target: the ratio marked by a dashed line; each curve's first point at or above it is
            marked with a dot.
        target_label: the dashed line's text.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    fig = figure(curves, title=title, panels=panels, sampler=sampler, xlabel=xlabel,
                 ylabel=ylabel, target=target, target_label=target_label)
    return save(fig, out)


def figure(
    curves: pd.DataFrame,
    *,
    title: str | None,
    panels: Sequence[tuple[str, str]] = (("hv_ratio", ""),),
    sampler: str = "sampler",
    xlabel: str = XLABEL,
    ylabel: str = YLABEL,
    target: float = 0.99,
    target_label: str = "99% of the exhaustive front's hypervolume",
) -> Figure:
    values = [c for c, _ in panels]
    require_columns(curves, (sampler, "evaluations", *values), "curves")
    data = curves.dropna(subset=["evaluations"])
    data = data[data["evaluations"] > 0]
    samplers = [str(s) for s in dict.fromkeys(data[sampler])]
    colors = dict(
        zip(samplers, sns.color_palette("colorblind", len(samplers)).as_hex(), strict=True)
    )
    seed_col = "seed" if "seed" in data.columns else None
    x_min = float(data["evaluations"].min()) if len(data) else 1.0

    n = len(panels)
    fig = new_figure(10 if n == 1 else 6.5 * n, 6 if n == 1 else 5)
    axes = fig.subplots(1, n, squeeze=False, sharex=True)[0]
    drawn = []
    n_seeds = 1
    for ax, (value, panel_title) in zip(axes, panels, strict=True):
        ends, seeds, x_max = _panel(ax, data, value, samplers, colors, sampler, seed_col,
                                    target, target_label)
        n_seeds = max(n_seeds, seeds)
        ax.set_xlim(x_min * 0.8, x_max * 1.3)
        if panel_title:
            ax.set_title(panel_title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", alpha=0.1)
        drawn.append((ax, ends, x_max))
    axes[0].set_ylabel(ylabel)
    if n == 1:
        axes[0].set_xlabel(xlabel)
    else:  # one label under all panels: two long labels side by side would run into each other
        fig.supxlabel(xlabel, fontsize=10)
    heading = (
        title
        or f"Search convergence: median over {n_seeds} seed"
        f"{'s' * (n_seeds != 1)} (line), min–max (band); dot = first reaches {target:.0%}"
    )
    if n == 1:
        axes[0].set_title(heading)
    else:
        fig.suptitle(heading, fontsize=12)

    freeze_layout(fig)
    for ax, ends, x_max in drawn:
        _label_ends(fig, ax, ends, x_min, x_max)
    return fig


def _panel(ax, data, value, samplers, colors, sampler, seed_col, target, target_label):
    """One panel's curves; returns (line ends to label, seeds, largest evaluation count)."""
    ax.set_xscale("log")
    ax.axhline(target, color="0.3", ls="--", lw=1.0, zorder=1)
    ax.text(
        0.01,
        target,
        target_label,
        ha="left",
        va="bottom",
        fontsize=8,
        color="0.3",
        transform=ax.get_yaxis_transform(),
    )
    ends: list[tuple[float, float, str, str]] = []
    n_seeds = 1
    x_max = 1.0
    data = data.dropna(subset=[value])
    for name in samplers:
        sub = data[data[sampler].astype(str) == name]
        if sub.empty:
            continue
        wide = sub.pivot_table(
            index="evaluations", columns=seed_col or sampler, values=value, aggfunc="max"
        ).sort_index()
        wide = wide.ffill()  # each seed keeps its best-so-far until its next point
        n_seeds = max(n_seeds, wide.shape[1])
        evals = wide.index.to_numpy(float)
        med = wide.median(axis=1).to_numpy(float)
        lo = wide.min(axis=1).to_numpy(float)
        hi = wide.max(axis=1).to_numpy(float)
        c = colors[name]
        if wide.shape[1] > 1:
            ax.fill_between(evals, lo, hi, step="post", color=c, alpha=0.18, lw=0)
        ax.plot(evals, med, drawstyle="steps-post", color=c, lw=2)
        hit = np.flatnonzero(med >= target)
        label = name
        if hit.size:
            ax.plot(evals[hit[0]], med[hit[0]], "o", color=c, ms=7, mec="black", mew=0.7, zorder=5)
            label += f"  ({target:.0%} at {evals[hit[0]]:,.0f})"
        else:
            label += f"  (median < {target:.0%})"
        ends.append((float(evals[-1]), float(med[-1]), label, c))
        x_max = max(x_max, float(evals[-1]))
    return ends, n_seeds, x_max


def _label_ends(fig, ax, ends, x_min, x_max) -> None:
    """Direct labels at the line ends, spread so they never overlap; the x range grows to the
    right just enough to hold the widest one."""
    if not ends:
        return
    renderer = fig.canvas.get_renderer()
    widths, heights = [], []
    for _, _, text, _ in ends:
        probe = fig.text(0, 0, text, fontsize=9, weight="bold")
        box = probe.get_window_extent(renderer)
        widths.append(box.width)
        heights.append(box.height)
        probe.remove()
    axbox = ax.get_window_extent(renderer)
    need = max(widths) + 24
    if need < 0.6 * axbox.width:
        decades = np.log10(x_max * 1.3 / (x_min * 0.8))
        ax.set_xlim(x_min * 0.8, x_max * 1.3 * 10 ** (decades * need / (axbox.width - need)))
    gap = max(heights) * 1.45
    disp = ax.transData.transform([(e[0], e[1]) for e in ends])
    ys = spread_positions(disp[:, 1], gap, lo=axbox.y0 + gap / 2, hi=axbox.y1 - gap / 2)
    inv = ax.transData.inverted()
    for (ex, ey, text, c), yd, xd in zip(ends, ys, disp[:, 0], strict=True):
        tx, ty = inv.transform((xd + 10, yd))
        ax.annotate(
            text,
            xy=(ex, ey),
            xytext=(tx, ty),
            textcoords="data",
            fontsize=9,
            color=c,
            weight="bold",
            va="center",
            ha="left",
            zorder=6,
            bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.85),
            arrowprops=dict(arrowstyle="-", color=c, lw=0.6, shrinkA=0, shrinkB=0),
        )
