"""Convergence: how fast each sampler approaches the exhaustive front's hypervolume."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from dse.plots.common import freeze_layout, new_figure, require_columns, save
from dse.plots.labels import spread_positions


def plot_convergence(
    curves: pd.DataFrame, out: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Hypervolume ratio against evaluations per sampler: median over seeds, min-max band.

    Args:
        curves: ``sampler``, ``evaluations`` (designs evaluated so far), ``hv_ratio`` (hypervolume
            of the front found so far / hypervolume of the exhaustive front) and optionally
            ``seed``. Seeds need not share evaluation counts: each seed's curve is held constant
            (best so far) between its own points.
        out: image path (format from the suffix, PNG by default).
        title: figure title.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    fig = figure(curves, title=title)
    return save(fig, out)


def figure(curves: pd.DataFrame, *, title: str | None) -> Figure:
    require_columns(curves, ("sampler", "evaluations", "hv_ratio"), "curves")
    data = curves.dropna(subset=["evaluations", "hv_ratio"])
    data = data[data["evaluations"] > 0]
    samplers = [str(s) for s in dict.fromkeys(data["sampler"])]
    colors = dict(
        zip(samplers, sns.color_palette("colorblind", len(samplers)).as_hex(), strict=True)
    )
    seed_col = "seed" if "seed" in data.columns else None

    fig = new_figure(10, 6)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.axhline(0.99, color="0.3", ls="--", lw=1.0, zorder=1)
    ax.text(
        0.01,
        0.99,
        "99% of the exhaustive front's hypervolume",
        ha="left",
        va="bottom",
        fontsize=8,
        color="0.3",
        transform=ax.get_yaxis_transform(),
    )
    ends: list[tuple[float, float, str, str]] = []
    n_seeds = 1
    x_max = 1.0
    for sampler in samplers:
        sub = data[data["sampler"].astype(str) == sampler]
        wide = sub.pivot_table(
            index="evaluations", columns=seed_col or "sampler", values="hv_ratio", aggfunc="max"
        ).sort_index()
        wide = wide.ffill()  # each seed keeps its best-so-far until its next point
        n_seeds = max(n_seeds, wide.shape[1])
        evals = wide.index.to_numpy(float)
        med = wide.median(axis=1).to_numpy(float)
        lo = wide.min(axis=1).to_numpy(float)
        hi = wide.max(axis=1).to_numpy(float)
        c = colors[sampler]
        if wide.shape[1] > 1:
            ax.fill_between(evals, lo, hi, step="post", color=c, alpha=0.18, lw=0)
        ax.plot(evals, med, drawstyle="steps-post", color=c, lw=2)
        hit = np.flatnonzero(med >= 0.99)
        label = sampler
        if hit.size:
            ax.plot(evals[hit[0]], med[hit[0]], "o", color=c, ms=7, mec="black", mew=0.7, zorder=5)
            label += f"  (99% at {evals[hit[0]]:,.0f})"
        else:
            label += "  (median < 99%)"
        ends.append((float(evals[-1]), float(med[-1]), label, c))
        x_max = max(x_max, float(evals[-1]))

    x_min = float(data["evaluations"].min()) if len(data) else 1.0
    ax.set_xlim(x_min * 0.8, x_max * 1.3)
    ax.set_xlabel("designs evaluated (log scale)")
    ax.set_ylabel("hypervolume / exhaustive-front hypervolume")
    ax.set_title(
        title
        or f"Search convergence: median over {n_seeds} seed"
        f"{'s' * (n_seeds != 1)} (line), min–max (band); dot = first reaches 99%"
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)

    freeze_layout(fig)
    if ends:
        # Direct labels at the line ends, spread so they never overlap; the x range grows to the
        # right just enough to hold the widest one.
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
    return fig
