"""Figures: pure functions from DataFrames (and plain values) to an image file.

Every function builds its figure with matplotlib's object API on an Agg canvas (no pyplot, so no
global state and nothing to close), writes it through :func:`dse.store.atomic_write` and returns
the path. The format follows the file suffix (``.png`` by default, ``.svg`` or ``.pdf`` when
asked); PNGs are written at 150 dpi.

Each figure carries one message:

- :func:`plot_roofline`: where each kernel sits against the platform's compute and memory ceilings.
- :func:`plot_pareto`: the latency / resource trade-off of all feasible designs and its front.
- :func:`plot_breakdown`: where a design's time goes, per kernel and per limiting bound.
- :func:`plot_resources`: whether each design fits each SLR, per resource.
- :func:`plot_hbm`: which HBM pseudo-channel carries which stream of which compute unit.
- :func:`plot_convergence`: how fast each sampler approaches the exhaustive front's hypervolume.

Large clouds (millions of designs) are subsampled deterministically and drawn rasterised, so the
file stays small and the drawing fast whatever the cloud size.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, PercentFormatter

from dse.params import PRECISIONS
from dse.store import atomic_write

__all__ = [
    "DPI",
    "MAX_CLOUD_POINTS_PER_HUE",
    "plot_breakdown",
    "plot_convergence",
    "plot_hbm",
    "plot_pareto",
    "plot_resources",
    "plot_roofline",
]

#: Resolution of raster output, dots per inch.
DPI = 150

#: Largest number of cloud points drawn per hue level in :func:`plot_pareto` (random, seeded).
MAX_CLOUD_POINTS_PER_HUE = 200_000
_CLOUD_CHUNKS = 8

#: One colour per precision, the same in every figure (Okabe-Ito, colour-blind safe).
PRECISION_COLORS: dict[str, str] = {
    "FP32": "#0072B2",
    "BF16": "#009E73",
    "INT8": "#D55E00",
    "INT4": "#CC79A7",
}

#: One colour per HBM stream / limiting bound, shared by the breakdown and HBM figures.
STREAM_COLORS: dict[str, str] = {
    "compute": "#7F7F7F",
    "weights": "#0072B2",
    "inputs": "#E69F00",
    "outputs": "#009E73",
    "vector": "#CC79A7",
}
#: Designs on the roofline: dark colours unlike the precision colours (Paul Tol's muted set).
_DESIGN_COLORS = ("#111111", "#332288", "#882255", "#117733", "#999933", "#44AA99", "#AA4499")
_SHARED_WEIGHTS_COLOR = "#56B4E9"
_UNUSED_COLOR = "#EEEEEE"

#: Axis labels (with units) for the result columns a figure may be asked to plot.
AXIS_LABELS: dict[str, str] = {
    "latency_ms": "latency per policy call (ms)",
    "utilization": "largest resource fraction (used / available)",
    "images_per_s": "throughput (images/s)",
    "achieved_tops": "achieved performance (TOPS)",
    "util_dsp": "DSP fraction (used / available)",
    "util_bram": "BRAM fraction (used / available)",
    "util_uram": "URAM fraction (used / available)",
    "util_lut": "LUT fraction (used / available)",
    "dsp": "DSP slices",
    "bram18": "BRAM18 blocks",
    "uram": "URAM blocks",
    "lut": "LUTs",
}

#: Short names of result columns for titles.
_SHORT_NAMES: dict[str, str] = {
    "latency_ms": "latency",
    "utilization": "resource use",
    "images_per_s": "throughput",
    "achieved_tops": "achieved TOPS",
}

_RESOURCE_ORDER = ("lut", "dsp", "bram18", "uram")
_RESOURCE_TITLES = {"lut": "LUT", "dsp": "DSP", "bram18": "BRAM18", "uram": "URAM"}
_BOUND_ORDER = ("compute", "weights", "inputs", "outputs", "vector")
_STREAMS = ("weights", "inputs", "outputs")
_TERA = 1e12


# --------------------------------------------------------------------------------------------
# Public figures
# --------------------------------------------------------------------------------------------


def plot_roofline(
    kernels: pd.DataFrame,
    peaks_ops: Mapping[str, float],
    bandwidth_bytes_per_s: float,
    out: str | os.PathLike[str],
    *,
    title: str,
    precision: str,
    points: pd.DataFrame | None = None,
) -> Path:
    """Roofline chart (log-log): one ceiling per precision, the memory wall, the kernels.

    Args:
        kernels: one row per kernel with ``kernel`` (name), ``oi`` (ops/byte) and
            ``attainable_ops`` (ops/s at ``precision``). Kernels at the same point share one
            marker and one label.
        peaks_ops: peak compute per precision name, ops/s (e.g. ``{"INT8": 18.6e12}``).
        bandwidth_bytes_per_s: memory bandwidth of the wall, bytes/s.
        out: image path (format from the suffix, PNG by default).
        title: figure title.
        precision: precision the kernels' attainable performance refers to (its ceiling is bold).
        points: optional achieved performance of designs: ``label``, ``oi`` (ops/byte),
            ``achieved_ops`` (ops/s) and optionally ``design_id`` (one marker style per design).
            A point whose ``label`` names a kernel is linked to that kernel by a dotted line.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    fig = _roofline_figure(
        kernels, peaks_ops, bandwidth_bytes_per_s, title=title, precision=precision, points=points
    )
    return _save(fig, out)


def plot_pareto(
    cloud: pd.DataFrame,
    front: pd.DataFrame,
    selected: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    x: str = "latency_ms",
    y: str = "utilization",
    hue: str = "weight_precision",
    hue_order: Sequence[str] | None = PRECISIONS,
    title: str | None = None,
    front_line: bool = True,
) -> Path:
    """Feasible designs, their Pareto front and the selected designs (both objectives minimised).

    Args:
        cloud: feasible designs (any number of rows; at most
            :data:`MAX_CLOUD_POINTS_PER_HUE` per hue level are drawn, chosen at random with a fixed
            seed, rasterised). Columns ``x``, ``y`` and ``hue``.
        front: the non-dominated designs, columns ``x`` and ``y`` (and ``hue`` to colour markers).
        selected: designs to point out, columns ``x``, ``y``, ``selection`` (why it was chosen)
            and ``design_id``; a design chosen for several reasons gets one joined label.
        out: image path (format from the suffix, PNG by default).
        x: column on the horizontal axis (log scale when it spans more than 1.5 decades).
        y: column on the vertical axis.
        hue: categorical column colouring the cloud.
        hue_order: order of the hue levels in colours and legend; levels not listed follow,
            sorted. ``None``: sorted levels.
        title: figure title; by default it states the counts.
        front_line: join the front with a staircase; turn off when the front was taken over more
            objectives than the two drawn (its projection is not a staircase).

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    fig = _pareto_figure(
        cloud, front, selected, x=x, y=y, hue=hue, hue_order=hue_order, title=title,
        front_line=front_line,
    )
    return _save(fig, out)


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
    fig = _breakdown_figure(breakdown, title=title)
    return _save(fig, out)


def plot_resources(
    resources: pd.DataFrame, out: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Used / available fraction per SLR and resource, one bar per design, a line at 100 %.

    Args:
        resources: ``design_id``, ``slr`` (e.g. ``SLR0``), ``resource`` (``lut``, ``dsp``,
            ``bram18``, ``uram``), ``used`` and ``available`` (same unit: LUTs, DSP slices,
            BRAM18 or URAM blocks).
        out: image path (format from the suffix, PNG by default).
        title: figure title.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    fig = _resources_figure(resources, title=title)
    return _save(fig, out)


def plot_hbm(
    allocation: Mapping[Any, Sequence[Mapping[str, Sequence[int]]]],
    out: str | os.PathLike[str],
    *,
    pseudo_channels: int = 32,
    title: str | None = None,
) -> Path:
    """HBM pseudo-channel map: one row per design, one column per PC, coloured by stream.

    Args:
        allocation: per design id, one dict per compute unit (CU, numbered from 0 in list order)
            mapping ``weights`` / ``inputs`` / ``outputs`` to the PC indices it uses. A PC in the
            ``weights`` of several CUs is drawn as shared; a PC carrying several streams is split.
        out: image path (format from the suffix, PNG by default).
        pseudo_channels: number of PCs (columns), ``HBM[0]`` .. ``HBM[pseudo_channels-1]``.
        title: figure title.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: a PC index outside ``0 .. pseudo_channels-1`` or an unknown stream name.
    """
    fig = _hbm_figure(allocation, pseudo_channels=pseudo_channels, title=title)
    return _save(fig, out)


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
    fig = _convergence_figure(curves, title=title)
    return _save(fig, out)


# --------------------------------------------------------------------------------------------
# Figure builders (return the Figure; tests inspect them)
# --------------------------------------------------------------------------------------------


def _roofline_figure(
    kernels: pd.DataFrame,
    peaks_ops: Mapping[str, float],
    bandwidth_bytes_per_s: float,
    *,
    title: str,
    precision: str,
    points: pd.DataFrame | None = None,
) -> Figure:
    _require(kernels, ("kernel", "oi", "attainable_ops"), "kernels")
    if not peaks_ops:
        raise ValueError("peaks_ops is empty: give at least one precision's peak (ops/s)")
    if not bandwidth_bytes_per_s > 0:
        raise ValueError(f"bandwidth_bytes_per_s must be > 0, got {bandwidth_bytes_per_s!r}")
    if points is not None:
        _require(points, ("label", "oi", "achieved_ops"), "points")
        points = points[(points["oi"] > 0) & (points["achieved_ops"] > 0)]
    on_log_axes = (kernels["oi"] > 0) & (kernels["attainable_ops"] > 0)
    kern = kernels[on_log_axes]
    left_out = list(dict.fromkeys(kernels.loc[~on_log_axes, "kernel"].astype(str)))
    bw = float(bandwidth_bytes_per_s)
    peaks = {str(k): float(v) for k, v in peaks_ops.items()}
    colors = _palette(list(peaks))
    kernel_color = colors.get(precision, "#333333")

    # Axis ranges: every kernel, every point and every ridge (peak / bandwidth) with margins.
    xs = [*kern["oi"].tolist(), *(p / bw for p in peaks.values())]
    ys = [*(kern["attainable_ops"] / _TERA).tolist(), *(p / _TERA for p in peaks.values())]
    if points is not None and len(points):
        xs += points["oi"].tolist()
        ys += (points["achieved_ops"] / _TERA).tolist()
    x_lo, x_hi = min(xs) / 4, max(xs) * 6
    y_lo, y_hi = min(ys) / 4, max(ys) * 2.5

    fig = _new_figure(11.5, 7.2)
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
            color=colors[name],
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
        label=f"memory wall: {bw / 1e9:,.0f} GB/s",
    )
    lines.append(np.column_stack([grid, wall]))

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

    _freeze_layout(fig)
    placer = _LabelPlacer(ax, lines=lines, markers=np.concatenate(markers), avoid_legend=True)
    # The area under the roof is empty: labels go below their marker, starting at it and
    # extending right; placing from the right makes a staircase whose leaders never cross.
    for px_, py_, text in sorted(anchors, key=lambda a: (-a[0], -a[1])):
        placer.place(px_, py_, text, angles=(-90, -45, 0, -135, 180, 90, 45, 135), fontsize=8.5)
    return fig


def _pareto_figure(
    cloud: pd.DataFrame,
    front: pd.DataFrame,
    selected: pd.DataFrame,
    *,
    x: str,
    y: str,
    hue: str,
    hue_order: Sequence[str] | None,
    title: str | None,
    front_line: bool = True,
) -> Figure:
    _require(cloud, (x, y, hue), "cloud")
    _require(front, (x, y), "front")
    _require(selected, (x, y, "selection", "design_id"), "selected")
    cloud = cloud[[x, y, hue]].dropna(subset=[x, y])
    levels = _levels(cloud[hue], hue_order)
    colors = _palette(levels)

    # Deterministic subsample per hue level; each level is drawn in interleaved chunks so no
    # level hides the others, one colour per call (fast, unlike a colour per point).
    rng = np.random.default_rng(0)
    codes = pd.Categorical(cloud[hue].astype(str), categories=levels, ordered=True).codes
    xv, yv = cloud[x].to_numpy(float), cloud[y].to_numpy(float)
    chunks: list[list[np.ndarray]] = []
    counts: dict[str, int] = {}
    subsampled = False
    for code, level in enumerate(levels):
        rows = np.flatnonzero(codes == code)
        counts[level] = rows.size
        if rows.size > MAX_CLOUD_POINTS_PER_HUE:
            rows = rng.choice(rows, MAX_CLOUD_POINTS_PER_HUE, replace=False)
            subsampled = True
        chunks.append(np.array_split(rng.permutation(rows), _CLOUD_CHUNKS))

    fig = _new_figure(11, 7)
    ax = fig.add_subplot()
    for part in range(_CLOUD_CHUNKS):
        for level, level_chunks in zip(levels, chunks, strict=True):
            rows = level_chunks[part]
            if rows.size:
                ax.scatter(
                    xv[rows],
                    yv[rows],
                    s=4,
                    linewidth=0,
                    alpha=0.35,
                    color=colors[level],
                    rasterized=True,
                    zorder=1,
                )

    xs = pd.concat([cloud[x], front[x], selected[x]]).astype(float)
    xs = xs[np.isfinite(xs)]
    if len(xs) and xs.min() > 0 and np.log10(xs.max() / xs.min()) > 1.5:
        ax.set_xscale("log")

    handles: list[Any] = [
        Line2D([], [], ls="", marker="o", ms=7, color=colors[lv], label=f"{lv}: {counts[lv]:,}")
        for lv in levels
    ]
    front_sorted = front.sort_values([x, y])
    lines = [_steps_post(front_sorted[x], front_sorted[y])] if front_line else []
    markers = [np.column_stack([front_sorted[x], front_sorted[y]])]
    if len(front_sorted) and front_line:
        ax.plot(
            front_sorted[x],
            front_sorted[y],
            drawstyle="steps-post",
            color="black",
            lw=1.4,
            zorder=4,
        )
    if len(front_sorted):
        face = (
            [colors.get(str(v), "white") for v in front_sorted[hue].astype(str)]
            if hue in front_sorted.columns
            else "white"
        )
        big = len(front_sorted) <= 300
        ax.scatter(
            front_sorted[x],
            front_sorted[y],
            s=28 if big else 10,
            c=face,
            edgecolor="black",
            linewidth=0.8 if big else 0.4,
            zorder=5,
        )
        handles.append(
            Line2D(
                [],
                [],
                color="black",
                lw=1.4 if front_line else 0,
                marker="o",
                mfc="white",
                mec="black",
                label=f"Pareto front: {len(front_sorted):,} designs",
            )
        )

    chosen = _join_selections(selected, x, y)
    if len(chosen):
        ax.scatter(
            chosen[x],
            chosen[y],
            marker="*",
            s=330,
            color="gold",
            edgecolor="black",
            linewidth=1.0,
            zorder=7,
        )
        handles.append(
            Line2D(
                [], [], ls="", marker="*", ms=15, mfc="gold", mec="black", label="selected design"
            )
        )
        markers.append(np.column_stack([chosen[x], chosen[y]]))

    ax.set_xlabel(AXIS_LABELS.get(x, x))
    ax.set_ylabel(AXIS_LABELS.get(y, y))
    if title is None:
        title = (
            f"{_SHORT_NAMES.get(x, x).capitalize()} vs. {_SHORT_NAMES.get(y, y)} of "
            f"{len(cloud):,} feasible designs ({len(front_sorted):,} on the Pareto front)"
        )
    ax.set_title(title)
    note = (
        f"cloud: {hue}, at most {MAX_CLOUD_POINTS_PER_HUE:,} random designs per level drawn"
        if subsampled
        else f"cloud coloured by {hue}"
    )
    ax.text(
        0.99, 0.01, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.35"
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(
        handles=handles,
        title=f"{hue} (designs)",
        loc="upper right",
        fontsize=9,
        title_fontsize=9,
        framealpha=0.92,
    )

    _freeze_layout(fig)
    placer = _LabelPlacer(
        ax, lines=lines, markers=np.concatenate(markers), avoid_legend=True, marker_radius_px=10
    )
    for _, row in chosen.sort_values(x).iterrows():
        placer.place(
            row[x],
            row[y],
            f"{row['selection']}\n{row['design_id']}",
            angles=(45, 90, 0, 135, -45, 180, -90, -135),
            fontsize=9,
            weight="bold",
        )
    return fig


def _breakdown_figure(breakdown: pd.DataFrame, *, title: str | None) -> Figure:
    _require(breakdown, ("design_id", "kernel", "time_ms", "bound"), "breakdown")
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
    fig = _new_figure(13, max(height, 3.6))
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
    _freeze_layout(fig)
    renderer = fig.canvas.get_renderer()
    for axis, bars, texts, color in segment_labels:
        _label_segments(axis, bars, texts, color, renderer)
    return fig


def _resources_figure(resources: pd.DataFrame, *, title: str | None) -> Figure:
    _require(resources, ("design_id", "slr", "resource", "used", "available"), "resources")
    data = resources.assign(
        design_id=resources["design_id"].astype(str),
        slr=resources["slr"].astype(str),
        resource=resources["resource"].astype(str),
        fraction=resources["used"].astype(float)
        / resources["available"].astype(float).where(resources["available"] > 0),
    )
    designs = list(dict.fromkeys(data["design_id"]))
    slrs = sorted(set(data["slr"]), key=_natural_key)
    present = set(data["resource"])
    res_order = [r for r in _RESOURCE_ORDER if r in present]
    res_order += sorted(present - set(_RESOURCE_ORDER))
    data["design_id"] = pd.Categorical(data["design_id"], categories=designs, ordered=True)
    data["slr"] = pd.Categorical(data["slr"], categories=slrs, ordered=True)
    colors = dict(zip(designs, sns.color_palette("colorblind", len(designs)).as_hex(), strict=True))
    top = max(1.15, float(np.nanmax(data["fraction"].to_numpy(float), initial=0.0)) * 1.12)

    fig = _new_figure(max(3.2 * len(res_order), 7.5), 5.0)
    axes = np.atleast_1d(fig.subplots(1, len(res_order), sharey=True))
    for ax, res in zip(axes, res_order, strict=True):
        sub = data[data["resource"] == res]
        sns.barplot(
            data=sub,
            x="slr",
            y="fraction",
            hue="design_id",
            hue_order=designs,
            order=slrs,
            palette=colors,
            errorbar=None,
            legend=False,
            ax=ax,
            edgecolor="white",
            linewidth=0.5,
            saturation=1.0,
        )
        ax.axhline(1.0, color="#C00000", ls="--", lw=1.2, zorder=5)
        for bar in ax.patches:
            h = bar.get_height()
            if np.isfinite(h) and h > 1.0:
                bar.set_edgecolor("#C00000")
                bar.set_linewidth(1.4)
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    h,
                    f"{h:.0%}",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color="#C00000",
                )
        ax.set_title(_RESOURCE_TITLES.get(res, res))
        ax.set_xlabel("super logic region (SLR)")
        ax.set_ylabel("")
        ax.set_ylim(0, top)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("used / available (%)")
    axes[0].text(
        0.02,
        1.0,
        "100% available",
        transform=axes[0].get_yaxis_transform(),
        va="bottom",
        ha="left",
        fontsize=8,
        color="#C00000",
    )
    handles = [Patch(color=colors[d], label=d) for d in designs]
    fig.legend(
        handles=handles,
        title="design",
        loc="outside lower center",
        fontsize=9,
        title_fontsize=9,
        frameon=False,
        ncol=min(len(designs), 8),
    )
    fig.suptitle(
        title or "Resource use per SLR: a bar above the red line does not fit", fontsize=12
    )
    return fig


def _hbm_figure(
    allocation: Mapping[Any, Sequence[Mapping[str, Sequence[int]]]],
    *,
    pseudo_channels: int,
    title: str | None,
) -> Figure:
    if pseudo_channels < 1:
        raise ValueError(f"pseudo_channels must be >= 1, got {pseudo_channels!r}")
    designs = [str(d) for d in allocation]
    n_rows = max(len(designs), 1)
    fig = _new_figure(max(13.0, 0.36 * pseudo_channels + 2.5), 1.9 + 0.55 * n_rows)
    ax = fig.add_subplot()
    any_shared = any_mixed = False

    for row, (design, cus) in enumerate(allocation.items()):
        cells: dict[int, dict[str, list[int]]] = {}
        for cu, streams in enumerate(cus):
            for stream, pcs in streams.items():
                if stream not in _STREAMS:
                    raise ValueError(
                        f"design {design}, CU {cu}: unknown stream {stream!r}; "
                        f"allowed: {', '.join(_STREAMS)}"
                    )
                for pc in pcs:
                    if not 0 <= int(pc) < pseudo_channels:
                        raise ValueError(
                            f"design {design}, CU {cu}, {stream}: HBM[{pc}] outside "
                            f"HBM[0]..HBM[{pseudo_channels - 1}]"
                        )
                    cells.setdefault(int(pc), {}).setdefault(stream, []).append(cu)
        yb = row + 0.08
        for pc in range(pseudo_channels):
            streams = cells.get(pc, {})
            if not streams:
                ax.add_patch(Rectangle((pc + 0.04, yb), 0.92, 0.84, color=_UNUSED_COLOR, lw=0))
                continue
            present = [s for s in _STREAMS if s in streams]
            any_mixed |= len(present) > 1
            part = 0.92 / len(present)
            for i, s in enumerate(present):
                cus_here = sorted(set(streams[s]))
                shared = s == "weights" and len(cus_here) > 1
                any_shared |= shared
                face = _SHARED_WEIGHTS_COLOR if shared else STREAM_COLORS[s]
                x0 = pc + 0.04 + i * part
                ax.add_patch(
                    Rectangle(
                        (x0, yb),
                        part,
                        0.84,
                        facecolor=face,
                        edgecolor=STREAM_COLORS["weights"] if shared else "none",
                        hatch="////" if shared else None,
                        lw=0.8 if shared else 0,
                    )
                )
                text = _cu_list(cus_here)
                ax.text(
                    x0 + part / 2,
                    row + 0.5,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7 if len(text) <= 3 and len(present) == 1 else 6,
                    color="black" if _is_light(face) else "white",
                    bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.8)
                    if shared
                    else None,
                )
        used = len(cells)
        ax.text(
            pseudo_channels + 0.2,
            row + 0.5,
            f"{len(cus)} CU{'s' * (len(cus) != 1)}\n{used}/{pseudo_channels} PCs used",
            va="center",
            ha="left",
            fontsize=8,
        )

    if pseudo_channels % 2 == 0 and pseudo_channels >= 4:
        half = pseudo_channels // 2
        ax.axvline(half, color="black", lw=1.2)
        ax.text(half / 2, -0.05, "HBM stack 0", ha="center", va="bottom", fontsize=8)
        ax.text(half * 1.5, -0.05, "HBM stack 1", ha="center", va="bottom", fontsize=8)
    ax.set_xlim(0, pseudo_channels)
    ax.set_ylim(n_rows, -0.45)
    ax.set_xticks(
        np.arange(pseudo_channels) + 0.5,
        [f"HBM[{i}]" for i in range(pseudo_channels)],
        rotation=90,
        fontsize=7,
    )
    ax.set_yticks(np.arange(len(designs)) + 0.5, designs)
    ax.set_xlabel("HBM pseudo-channel (cell text: compute unit numbers using it)")
    ax.set_ylabel("design")
    ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)

    handles = [Patch(color=STREAM_COLORS[s], label=f"{s} (one CU)") for s in _STREAMS]
    handles[0].set_label("weights (one CU)")
    handles[1].set_label("input activations")
    handles[2].set_label("outputs")
    if any_shared:
        handles.append(
            Patch(
                facecolor=_SHARED_WEIGHTS_COLOR,
                edgecolor=STREAM_COLORS["weights"],
                hatch="////",
                label="weights shared by several CUs",
            )
        )
    if any_mixed:
        handles.append(
            Patch(facecolor="white", edgecolor="0.5", label="split cell: several streams on one PC")
        )
    handles.append(Patch(color=_UNUSED_COLOR, label="unused"))
    fig.legend(
        handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False
    )
    fig.suptitle(
        title or "HBM pseudo-channel allocation per design (colour: stream; text: CU)", fontsize=12
    )
    return fig


def _convergence_figure(curves: pd.DataFrame, *, title: str | None) -> Figure:
    _require(curves, ("sampler", "evaluations", "hv_ratio"), "curves")
    data = curves.dropna(subset=["evaluations", "hv_ratio"])
    data = data[data["evaluations"] > 0]
    samplers = [str(s) for s in dict.fromkeys(data["sampler"])]
    colors = dict(
        zip(samplers, sns.color_palette("colorblind", len(samplers)).as_hex(), strict=True)
    )
    seed_col = "seed" if "seed" in data.columns else None

    fig = _new_figure(10, 6)
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

    _freeze_layout(fig)
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
        ys = _spread(disp[:, 1], gap, lo=axbox.y0 + gap / 2, hi=axbox.y1 - gap / 2)
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


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _new_figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    fmt = {".svg": "svg", ".pdf": "pdf"}.get(path.suffix.lower(), "png")
    meta = {"Date": None} if fmt in ("svg", "pdf") else None  # same input, same bytes
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=DPI, metadata=meta))
    return path


def _freeze_layout(fig: Figure) -> None:
    """Run the layout once and keep it, so label positions measured now stay valid."""
    fig.canvas.draw()
    fig.set_layout_engine("none")


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what}: missing column(s) {', '.join(missing)}; "
            f"has {', '.join(map(str, frame.columns)) or 'no columns'}"
        )


def _levels(values: pd.Series, order: Sequence[str] | None) -> list[str]:
    present = set(values.dropna().astype(str))
    if order is None:
        return sorted(present, key=_natural_key)
    listed = [str(v) for v in order]
    if not present & set(listed):  # an order for another column (e.g. the default precisions)
        return sorted(present, key=_natural_key)
    return listed + sorted(present - set(listed), key=_natural_key)


def _palette(levels: Sequence[str]) -> dict[str, str]:
    spare = iter(
        c
        for c in sns.color_palette("colorblind", 10).as_hex()
        if c not in PRECISION_COLORS.values()
    )
    extra = sns.color_palette("husl", len(levels)).as_hex()
    out = {}
    for i, lv in enumerate(levels):
        out[lv] = PRECISION_COLORS.get(lv) or next(spare, extra[i])
    return out


def _qualitative(n: int) -> list[str]:
    if n <= 10:
        return sns.color_palette("tab10", n).as_hex()
    if n <= 20:
        return sns.color_palette("tab20", n).as_hex()
    return sns.color_palette("husl", n).as_hex()


def _natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text))]


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


def _join_selections(selected: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """One row per design; a design chosen for several reasons lists them all."""
    if not len(selected):
        return pd.DataFrame(columns=["design_id", x, y, "selection"])
    sel = selected.assign(
        design_id=selected["design_id"].astype(str), selection=selected["selection"].astype(str)
    )
    return (
        sel.groupby("design_id", sort=False)
        .agg(
            **{
                x: (x, "first"),
                y: (y, "first"),
                "selection": ("selection", lambda s: ", ".join(dict.fromkeys(s))),
            }
        )
        .reset_index()
    )


def _cu_list(cus: Sequence[int]) -> str:
    """Compact CU numbers: ``3``, ``0,2``, ``0–7``."""
    if len(cus) == 1:
        return str(cus[0])
    if list(cus) == list(range(cus[0], cus[-1] + 1)) and len(cus) > 2:
        return f"{cus[0]}–{cus[-1]}"
    return ",".join(map(str, cus)) if len(cus) <= 3 else f"{len(cus)} CUs"


def _label_segments(ax: Any, bars: Any, texts: Sequence[str], color: str, renderer: Any) -> None:
    """Write ``texts`` inside bar segments wide enough to hold them."""
    light = _is_light(color)
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


def _is_light(color: Any) -> bool:
    """Whether black text reads better than white on ``color`` (perceived luminance)."""
    r, g, b = mpl.colors.to_rgb(color)
    return 0.299 * r + 0.587 * g + 0.114 * b > 0.55


def _spread(y: np.ndarray, gap: float, *, lo: float = -np.inf, hi: float = np.inf) -> np.ndarray:
    """Move positions ``y`` as little as possible (least squares) so neighbours are ``gap`` apart
    and all stay within ``lo .. hi`` (when they fit)."""
    order = np.argsort(y, kind="stable")
    want = np.asarray(y, float)[order]
    ranks = np.arange(want.size)
    # The k-th from the top can sit no higher than hi - k*gap (the k-th from the bottom likewise),
    # which keeps every cluster of the least-squares solution inside the bounds.
    want = np.maximum(np.minimum(want, hi - ranks[::-1] * gap), lo + ranks * gap)
    clusters: list[list[float]] = []  # [first index, count, sum of wanted positions]
    for i, v in enumerate(want):
        clusters.append([i, 1, v])
        while len(clusters) > 1:
            a, b = clusters[-2], clusters[-1]
            a_top = a[2] / a[1] + (a[1] - 1) * gap / 2
            b_bottom = b[2] / b[1] - (b[1] - 1) * gap / 2
            if b_bottom - a_top >= gap:
                break
            clusters[-2:] = [[a[0], a[1] + b[1], a[2] + b[2]]]
    placed = np.empty_like(want)
    for first, count, total in clusters:
        first, count = int(first), int(count)
        centre = total / count
        placed[first : first + count] = centre + (np.arange(count) - (count - 1) / 2) * gap
    out = np.empty_like(placed)
    out[order] = placed
    return out


#: Where a leader line meets its label, as a fraction of the label box, by text alignment.
_RELPOS = {"left": 0.0, "center": 0.5, "right": 1.0, "bottom": 0.0, "top": 1.0}


class _LabelPlacer:
    """Greedy label placement in display space.

    Each label takes the cheapest candidate position, trying the nearest first and stopping at the
    first that conflicts with nothing. A candidate conflicts when it leaves the axes, overlaps an
    earlier label (or the legend, or an existing text), covers an obstacle point (markers, sampled
    lines), or when its leader line crosses an earlier label or leader or passes by another
    marker. Labels away from their anchor, or next to another marker, get a leader line (drawn
    from the marker towards the label's centre, as :meth:`~matplotlib.axes.Axes.annotate` does).
    """

    _RADII_PX = (9, 18, 28, 40, 52, 64, 76, 90, 105, 120, 136, 152, 170, 190, 212, 236, 262)
    _LEADER_MIN_PX = 14

    def __init__(
        self,
        ax: Any,
        *,
        lines: Iterable[np.ndarray] = (),
        markers: np.ndarray | None = None,
        marker_radius_px: float = 7.0,
        avoid_legend: bool = False,
    ):
        """Prepare to label ``ax``.

        Args:
            ax: the axes, its layout final (see :func:`_freeze_layout`).
            lines: polylines in data coordinates (N x 2 vertices) labels must not cover.
            markers: marker centres in data coordinates; labels keep ``marker_radius_px`` away.
            marker_radius_px: half a marker's size in display pixels.
            avoid_legend: keep labels off the axes' legend.
        """
        self.ax = ax
        self.fig = ax.figure
        self.renderer = self.fig.canvas.get_renderer()
        box = ax.get_window_extent(self.renderer)
        self.limits = (box.x0 + 3, box.y0 + 3, box.x1 - 3, box.y1 - 3)
        self.line_pts = _densify([ax.transData.transform(_finite(v)) for v in lines], step=3.0)
        m = _finite(markers if markers is not None else np.empty((0, 2)))
        self.markers = ax.transData.transform(m) if len(m) else np.empty((0, 2))
        self.marker_radius = marker_radius_px
        self.boxes: list[tuple[float, float, float, float]] = []
        self.leaders: list[tuple[float, float, float, float]] = []
        legend = ax.get_legend()
        if avoid_legend and legend is not None:
            lb = legend.get_window_extent(self.renderer)
            self.boxes.append((lb.x0, lb.y0, lb.x1, lb.y1))
        for text in ax.texts:
            tb = text.get_window_extent(self.renderer)
            self.boxes.append((tb.x0, tb.y0, tb.x1, tb.y1))

    def place(self, x: float, y: float, text: str, *, angles: Sequence[float], **text_kw: Any):
        """Annotate data point (``x``, ``y``) with ``text``; ``angles`` (degrees, 0 = right,
        90 = up) in order of preference."""
        probe = self.fig.text(0, 0, text, **text_kw)
        ext = probe.get_window_extent(self.renderer)
        probe.remove()
        w, h = ext.width + 6, ext.height + 4  # room for the background box
        ax0, ay0 = (float(v) for v in self.ax.transData.transform((x, y)))
        crowded = False
        if len(self.markers):
            dist = np.hypot(*(self.markers - (ax0, ay0)).T)
            crowded = bool(np.any((dist > 0.5) & (dist < 30)))
        best, best_cost = None, np.inf
        # Next to another marker a label keeps its distance so the leader line shows.
        radii = [r for r in self._RADII_PX if not crowded or r >= 28]
        for r in radii:
            for ang in angles:
                dx, dy = r * np.cos(np.radians(ang)), r * np.sin(np.radians(ang))
                va = "bottom" if dy > 0.3 * r else "top" if dy < -0.3 * r else "center"
                if abs(dx) > 0.3 * r:
                    has = ("left",) if dx > 0 else ("right",)
                else:  # straight up or down: the text may also start or end at the anchor
                    has = ("left", "right", "center")
                for ha in has:
                    x0 = ax0 + dx - {"left": 4, "right": w - 4, "center": w / 2}[ha]
                    y0 = ay0 + dy - {"bottom": 0, "top": h, "center": h / 2}[va]
                    box = (x0, y0, x0 + w, y0 + h)
                    leader = r > self._LEADER_MIN_PX or crowded
                    # The leader ends at the box's anchor-side point (annotate's relpos).
                    rx, ry = _RELPOS[ha], _RELPOS[va]
                    seg = (ax0, ay0, x0 + rx * w, y0 + ry * h) if leader else None
                    cost = self._cost(box, seg, (ax0, ay0))
                    if cost < best_cost:
                        best, best_cost = (dx, dy, ha, va, box, seg), cost
                    if cost == 0:
                        break
                if best_cost == 0:
                    break
            if best_cost == 0:
                break
        assert best is not None
        dx, dy, ha, va, box, seg = best
        self.boxes.append(box)
        if seg is not None:
            self.leaders.append(seg)
        shift = {"left": -4, "right": 4, "center": 0}[ha]
        scale = 72 / self.fig.dpi  # display pixels -> points (offsets scale with the dpi)
        return self.ax.annotate(
            text,
            xy=(x, y),
            xytext=((dx + shift) * scale, dy * scale),
            textcoords="offset points",
            ha=ha,
            va=va,
            zorder=8,
            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),
            arrowprops=dict(
                arrowstyle="-",
                color="0.35",
                lw=0.7,
                shrinkA=0,
                shrinkB=4,
                relpos=(_RELPOS[ha], _RELPOS[va]),
            )
            if seg is not None
            else None,
            **text_kw,
        )

    def _cost(
        self,
        box: tuple[float, float, float, float],
        seg: tuple[float, float, float, float] | None,
        anchor: tuple[float, float],
    ) -> float:
        x0, y0, x1, y1 = box
        lx0, ly0, lx1, ly1 = self.limits
        cost = 0.0
        if x0 < lx0 or y0 < ly0 or x1 > lx1 or y1 > ly1:
            cost += 1000.0
        padded = (x0 - 2, y0 - 2, x1 + 2, y1 + 2)
        for other in self.boxes:
            if _boxes_overlap(padded, other):
                cost += 100.0
        for other in self.leaders:
            if _segment_hits_box(other, padded):
                cost += 40.0
        if len(self.line_pts):
            o = self.line_pts
            inside = (
                (o[:, 0] > padded[0])
                & (o[:, 0] < padded[2])
                & (o[:, 1] > padded[1])
                & (o[:, 1] < padded[3])
            )
            cost += float(inside.sum())
        if len(self.markers):
            o, r = self.markers, self.marker_radius
            hit = (o[:, 0] > x0 - r) & (o[:, 0] < x1 + r) & (o[:, 1] > y0 - r) & (o[:, 1] < y1 + r)
            cost += 50.0 * float(hit.sum())
        if seg is not None:
            for other in self.boxes:
                if _segment_hits_box(seg, other):
                    cost += 40.0
            for other in self.leaders:
                if _segments_cross(seg, other):
                    cost += 40.0
            if len(self.markers):
                near = _point_segment_distance(self.markers, seg)
                far_from_own = np.hypot(*(self.markers - anchor).T) > 0.5
                cost += 20.0 * float(np.sum((near < self.marker_radius) & far_from_own))
        return cost


def _finite(points: Any) -> np.ndarray:
    pts = np.asarray(points, float).reshape(-1, 2)
    return pts[np.all(np.isfinite(pts), axis=1)]


def _densify(polylines: Sequence[np.ndarray], *, step: float) -> np.ndarray:
    """Points every ``step`` display pixels along each polyline (vertices included)."""
    out = [np.empty((0, 2))]
    for line in polylines:
        if len(line) == 1:
            out.append(line)
        for a, b in zip(line[:-1], line[1:], strict=True):
            n = max(int(np.hypot(*(b - a)) / step), 1)
            t = np.linspace(0.0, 1.0, n + 1)[:, None]
            out.append(a + t * (b - a))
    return np.concatenate(out)


def _steps_post(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Vertices of the ``steps-post`` line through (x, y)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return np.column_stack([x, y])
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return np.column_stack([xs, ys])


def _boxes_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]


def _segment_hits_box(seg: tuple[float, ...], box: tuple[float, ...]) -> bool:
    """Whether the segment passes through the box (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = (float(v) for v in seg)
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0 - box[0]), (dx, box[2] - x0), (-dy, y0 - box[1]), (dy, box[3] - y0)):
        if p == 0.0:
            if q < 0.0:
                return False
            continue
        r = q / p
        if p < 0.0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 > t1:
            return False
    return True


def _segments_cross(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    def orient(px: float, py: float, qx: float, qy: float, rx: float, ry: float) -> float:
        return (qx - px) * (ry - py) - (qy - py) * (rx - px)

    d1 = orient(b[0], b[1], b[2], b[3], a[0], a[1])
    d2 = orient(b[0], b[1], b[2], b[3], a[2], a[3])
    d3 = orient(a[0], a[1], a[2], a[3], b[0], b[1])
    d4 = orient(a[0], a[1], a[2], a[3], b[2], b[3])
    return d1 * d2 < 0 and d3 * d4 < 0


def _point_segment_distance(points: np.ndarray, seg: tuple[float, ...]) -> np.ndarray:
    p0 = np.array(seg[:2])
    d = np.array(seg[2:]) - p0
    length2 = float(d @ d) or 1.0
    t = np.clip(((points - p0) @ d) / length2, 0.0, 1.0)
    return np.hypot(*(points - (p0 + t[:, None] * d)).T)
