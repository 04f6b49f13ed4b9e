"""Roofline: where each kernel sits against the platform's compute and memory ceilings."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dse.plots.common import freeze_layout, level_colors, new_figure, require_columns, save
from dse.plots.labels import LabelPlacer

#: Designs on the roofline: dark colours unlike the precision colours (Paul Tol's muted set).
_DESIGN_COLORS = ("#111111", "#332288", "#882255", "#117733", "#999933", "#44AA99", "#AA4499")

_TERA = 1e12


#: Suffix of a double-pumped peak's name (dse.roofline.platform_peaks).
_PUMPED = " double-pumped"


def plot_roofline(
    kernels: pd.DataFrame,
    peaks_ops: Mapping[str, float],
    bandwidth_bytes_per_s: float,
    out: str | os.PathLike[str],
    *,
    title: str,
    precision: str,
    points: pd.DataFrame | None = None,
    bandwidth_label: str = "memory wall, achievable",
    theoretical_bytes_per_s: float | None = None,
) -> Path:
    """Roofline chart (log-log): one ceiling per peak, the memory wall, the kernels.

    Args:
        kernels: one row per kernel with ``kernel`` (name), ``oi`` (ops/byte) and
            ``attainable_ops`` (ops/s at ``precision``). Kernels at the same point share one
            marker and one label.
        peaks_ops: every peak a design can reach, ops/s, by name (e.g. ``{"INT8": 10.8e12,
            "INT8 double-pumped": 21.7e12}``); a ``<precision> double-pumped`` ceiling is drawn
            dashed in its precision's colour (dse.roofline.platform_peaks).
        bandwidth_bytes_per_s: memory bandwidth of the wall, bytes/s: what kernels can reach
            (e.g. measured per-channel rates), which the ceilings and kernels use.
        out: image path (format from the suffix, PNG by default).
        title: figure title.
        precision: precision the kernels' attainable performance refers to (its ceiling is bold).
        points: optional achieved performance of designs: ``label``, ``oi`` (ops/byte),
            ``achieved_ops`` (ops/s) and optionally ``design_id`` (one marker style per design).
            A point whose ``label`` names a kernel is linked to that kernel by a dotted line.
        bandwidth_label: what the wall is, e.g. ``"achievable: 28 ports x 12.4 GB/s measured"``;
            the legend and the label on the line add its GB/s.
        theoretical_bytes_per_s: the memory's data-sheet peak, bytes/s, drawn as a thin dotted
            line beside the wall (nothing reaches it; it shows how far the wall sits below).

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    fig = figure(
        kernels,
        peaks_ops,
        bandwidth_bytes_per_s,
        title=title,
        precision=precision,
        points=points,
        bandwidth_label=bandwidth_label,
        theoretical_bytes_per_s=theoretical_bytes_per_s,
    )
    return save(fig, out)


def figure(
    kernels: pd.DataFrame,
    peaks_ops: Mapping[str, float],
    bandwidth_bytes_per_s: float,
    *,
    title: str,
    precision: str,
    points: pd.DataFrame | None = None,
    bandwidth_label: str = "memory wall, achievable",
    theoretical_bytes_per_s: float | None = None,
) -> Figure:
    require_columns(kernels, ("kernel", "oi", "attainable_ops"), "kernels")
    if not peaks_ops:
        raise ValueError("peaks_ops is empty: give at least one precision's peak (ops/s)")
    if not bandwidth_bytes_per_s > 0:
        raise ValueError(f"bandwidth_bytes_per_s must be > 0, got {bandwidth_bytes_per_s!r}")
    if points is not None:
        require_columns(points, ("label", "oi", "achieved_ops"), "points")
        points = points[(points["oi"] > 0) & (points["achieved_ops"] > 0)]
    on_log_axes = (kernels["oi"] > 0) & (kernels["attainable_ops"] > 0)
    kern = kernels[on_log_axes]
    left_out = list(dict.fromkeys(kernels.loc[~on_log_axes, "kernel"].astype(str)))
    bw = float(bandwidth_bytes_per_s)
    peaks = {str(k): float(v) for k, v in peaks_ops.items()}
    # a double-pumped ceiling ("INT8 double-pumped") wears its precision's colour, dashed
    base = {name: name.removesuffix(_PUMPED) for name in peaks}
    colors = level_colors(list(dict.fromkeys(base.values())))
    kernel_color = colors.get(precision, "#333333")

    # Axis ranges: every kernel, every point and every ridge (peak / bandwidth) with margins.
    xs = [*kern["oi"].tolist(), *(p / bw for p in peaks.values())]
    ys = [*(kern["attainable_ops"] / _TERA).tolist(), *(p / _TERA for p in peaks.values())]
    if points is not None and len(points):
        xs += points["oi"].tolist()
        ys += (points["achieved_ops"] / _TERA).tolist()
    x_lo, x_hi = min(xs) / 4, max(xs) * 6
    y_lo, y_hi = min(ys) / 4, max(ys) * 2.5

    fig = new_figure(11.5, 7.2)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    grid = np.logspace(np.log10(x_lo), np.log10(x_hi), 600)
    lines: list[np.ndarray] = []  # what labels must not cover
    markers: list[np.ndarray] = []

    # Ceilings, highest peak last in the legend so it reads top-down like the lines.
    for name, peak in sorted(peaks.items(), key=lambda kv: -kv[1]):
        roof = np.minimum(peak, bw * grid) / _TERA
        bold = name == precision
        ax.plot(
            grid,
            roof,
            color=colors[base[name]],
            ls="--" if name.endswith(_PUMPED) else "-",
            lw=2.4 if bold else 1.4,
            label=f"{name} ceiling: {_fmt_tops(peak)}",
            zorder=3,
        )
        lines.append(np.column_stack([grid, roof]))
    wall = bw * grid / _TERA
    ax.plot(
        grid,
        wall,
        ls="--",
        color="0.25",
        lw=1.1,
        zorder=2,
        label=f"{bandwidth_label}: {bw / 1e9:,.0f} GB/s",
    )
    lines.append(np.column_stack([grid, wall]))
    theoretical = theoretical_bytes_per_s is not None and theoretical_bytes_per_s > 0
    walls = [(bw, f"{bw / 1e9:,.0f} GB/s" + " achievable" * theoretical, "0.25", "right")]
    if theoretical:
        peak_bw = float(theoretical_bytes_per_s)
        peak_wall = peak_bw * grid / _TERA
        ax.plot(
            grid,
            peak_wall,
            ls=":",
            color="0.55",
            lw=1.0,
            zorder=2,
            label=f"memory, theoretical peak: {peak_bw / 1e9:,.0f} GB/s (not reachable)",
        )
        lines.append(np.column_stack([grid, peak_wall]))
        walls.append((peak_bw, f"{peak_bw / 1e9:,.0f} GB/s theoretical", "0.45", "left"))

    # Kernels: one marker per distinct point, one label listing the kernels there.
    groups = _group_points(kern["oi"].to_numpy(float), kern["attainable_ops"].to_numpy(float))
    names = kern["kernel"].astype(str).to_numpy()
    anchors = []
    for idx in groups:
        oi, ops = float(kern["oi"].iloc[idx[0]]), float(kern["attainable_ops"].iloc[idx[0]])
        anchors.append((oi, ops / _TERA, _wrap(", ".join(names[idx]), 30)))
    ax.scatter(
        [a[0] for a in anchors],
        [a[1] for a in anchors],
        marker="^",
        s=90,
        color=kernel_color,
        edgecolor="black",
        linewidth=0.7,
        zorder=5,
        label=f"kernel, attainable at {precision}",
    )
    markers.append(np.array([(a[0], a[1]) for a in anchors]))

    # Designs' achieved performance.
    if points is not None and len(points):
        by_name = {
            str(n): (float(o), float(a))
            for n, o, a in zip(kern["kernel"], kern["oi"], kern["attainable_ops"], strict=True)
        }
        design_col = "design_id" if "design_id" in points.columns else None
        designs = list(dict.fromkeys(points[design_col])) if design_col else [None]
        shapes = ("o", "s", "D", "P", "X", "v", "h", "*")
        design_colors = [_DESIGN_COLORS[i % len(_DESIGN_COLORS)] for i in range(len(designs))]
        for i, design in enumerate(designs):
            sub = points if design is None else points[points[design_col] == design]
            label = "achieved (design)" if design is None else f"design {design}: achieved"
            px, py = sub["oi"].to_numpy(float), sub["achieved_ops"].to_numpy(float) / _TERA
            ax.scatter(
                px,
                py,
                marker=shapes[i % len(shapes)],
                s=42,
                facecolor="white",
                edgecolor=design_colors[i],
                linewidth=1.6,
                zorder=6,
                label=label,
            )
            markers.append(np.column_stack([px, py]))
            for lab, ox, oy in zip(sub["label"].astype(str), px, py, strict=True):
                if lab in by_name:
                    kx, ky = by_name[lab]
                    ax.plot(
                        [kx, ox], [ky / _TERA, oy], ls=":", lw=0.9, color=design_colors[i], zorder=4
                    )
                    lines.append(np.array([(kx, ky / _TERA), (ox, oy)]))
                else:
                    anchors.append((ox, oy, lab))

    ax.set_xlabel("operational intensity (ops/byte)")
    ax.set_ylabel("performance (TOPS = 10¹² ops/s)")
    ax.set_title(title)
    ax.yaxis.set_major_formatter(FuncFormatter(_fmt_log_tick))
    ax.xaxis.set_major_formatter(FuncFormatter(_fmt_log_tick))
    ax.grid(True, which="major", ls="-", alpha=0.35)
    ax.grid(True, which="minor", ls="-", alpha=0.12)
    ax.legend(loc="upper left", fontsize=9, framealpha=0.9)
    if left_out:  # pure data movement (0 ops) has no place on log axes; say so
        ax.text(
            0.99,
            0.01,
            _wrap("not shown (0 ops or 0 ops/byte): " + ", ".join(left_out), 60),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.35",
        )

    freeze_layout(fig)
    _label_walls(ax, walls, list(peaks.values()))
    placer = LabelPlacer(ax, lines=lines, markers=np.concatenate(markers), avoid_legend=True)
    # The area under the roof is empty: labels go below their marker, starting at it and
    # extending right; placing from the right makes a staircase whose leaders never cross.
    for px_, py_, text in sorted(anchors, key=lambda a: (-a[0], -a[1])):
        placer.place(px_, py_, text, angles=(-90, -45, 0, -135, 180, 90, 45, 135), fontsize=8.5)
    return fig


def _label_walls(ax: Any, walls: list[tuple[float, str, str, str]], peaks: list[float]) -> None:
    """Write each wall's GB/s along its line, reading upwards from an anchor: the achievable
    wall below its line just above the highest ceiling (where it runs alone), the theoretical
    one above its line at the lowest ceiling (the empty corner left of the roof)."""
    a, b = ax.transData.transform([(1.0, 1.0), (10.0, 10.0)])  # slope 1 in data, on screen
    angle = float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))
    for bw, text, color, side in walls:
        y = max(peaks) * 1.3 / _TERA if side == "right" else min(peaks) / _TERA
        x = y * _TERA / bw
        if not ax.get_xlim()[0] < x < ax.get_xlim()[1]:
            continue
        ax.annotate(
            text,
            xy=(x, y),
            xytext=(6, -6) if side == "right" else (-6, 6),
            textcoords="offset points",
            rotation=angle,
            rotation_mode="anchor",
            ha="left",
            va="top" if side == "right" else "bottom",
            fontsize=8,
            color=color,
            zorder=3,
        )


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False)) or text


def _fmt_tops(ops: float) -> str:
    return f"{ops / _TERA:.3g} TOPS"


def _fmt_log_tick(value: float, _pos: int) -> str:
    if value <= 0:
        return ""
    if 1e-3 <= value < 1e5:
        return f"{value:g}"
    return f"$10^{{{np.log10(value):.0f}}}$"


def _group_points(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Indices of rows at the same (x, y) point (relative tolerance 1e-9), in first-seen order."""
    keys = np.round(np.log10(np.column_stack([x, y])), 9)
    groups: dict[tuple[float, float], list[int]] = {}
    for i, key in enumerate(map(tuple, keys)):
        groups.setdefault(key, []).append(i)
    return [np.asarray(g) for g in groups.values()]
