"""Pareto: the trade-off of all feasible designs, their front and the selected designs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from dse.labels import design_labels
from dse.params import PRECISIONS
from dse.plots.common import (
    AXIS_LABELS,
    freeze_layout,
    hue_levels,
    level_colors,
    new_figure,
    require_columns,
    save,
)
from dse.plots.labels import LabelPlacer
from dse.select import QUALITY_RTOL

#: Largest number of cloud points drawn per hue level in :func:`plot_pareto` (random, seeded).
MAX_CLOUD_POINTS_PER_HUE = 200_000

_CLOUD_CHUNKS = 8

#: Short names of result columns for titles.
_SHORT_NAMES: dict[str, str] = {
    "latency_ms": "latency",
    "utilization": "SLR utilization",
    "images_per_s": "throughput",
    "achieved_tops": "achieved TOPS",
}


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
    budget_ms: float | None = None,
    quality_max: float | None = None,
    quality_reference: str = "INT8",
    log_y: bool = False,
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
        budget_ms: the latency budget per policy call (ms): a dashed line when ``x`` or ``y``
            is ``latency_ms``.
        quality_max: the quality tier's bound on ``quality_loss`` (``dse select``): front
            designs within it are drawn filled, the others hollow, and the area the tier's
            designs reach in these two objectives (above and right of their staircase) is
            shaded. A note says why front designs may sit inside the cloud (the front is taken
            over more objectives than the two drawn).
        quality_reference: the uniform precision the tier is measured against (for the legend).
        log_y: draw ``y`` on a log scale (energy per call spans decades).

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    fig = figure(
        cloud,
        front,
        selected,
        x=x,
        y=y,
        hue=hue,
        hue_order=hue_order,
        title=title,
        front_line=front_line,
        budget_ms=budget_ms,
        quality_max=quality_max,
        quality_reference=quality_reference,
        log_y=log_y,
    )
    return save(fig, out)


def figure(
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
    budget_ms: float | None = None,
    quality_max: float | None = None,
    quality_reference: str = "INT8",
    log_y: bool = False,
) -> Figure:
    require_columns(cloud, (x, y, hue), "cloud")
    require_columns(front, (x, y), "front")
    require_columns(selected, (x, y, "selection", "design_id"), "selected")
    cloud = cloud[[x, y, hue]].dropna(subset=[x, y])
    levels = hue_levels(cloud[hue], hue_order)
    colors = level_colors(levels)

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

    fig = new_figure(11, 7)
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
    if log_y:
        ax.set_yscale("log")

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
    in_tier = _in_tier(front_sorted, quality_max)
    tier_steps = None
    if quality_max is not None and in_tier.any():
        # the area the quality tier's designs reach in these two objectives
        tier = front_sorted[in_tier]
        sx, sy = _staircase(tier[x].to_numpy(float), tier[y].to_numpy(float))
        if len(sx):
            tier_steps = (sx, sy)
            ax.plot(sx, sy, drawstyle="steps-post", color="#009E73", lw=1.0, alpha=0.8,
                    zorder=3)
            handles.append(
                Patch(facecolor="#009E7320", edgecolor="#009E73",
                      label=f"reached within the quality tier (quality loss ≤ uniform "
                      f"{quality_reference})")
            )
    if len(front_sorted):
        face = np.array(
            [colors.get(str(v), "white") for v in front_sorted[hue].astype(str)]
            if hue in front_sorted.columns
            else ["white"] * len(front_sorted),
            dtype=object,
        )
        big = len(front_sorted) <= 300
        size, width = (28, 0.8) if big else (12, 0.5)
        if in_tier.any():
            ax.scatter(
                front_sorted[x][in_tier],
                front_sorted[y][in_tier],
                s=size,
                c=list(face[in_tier]),
                edgecolor="black",
                linewidth=width,
                zorder=5,
            )
        if (~in_tier).any():
            ax.scatter(
                front_sorted[x][~in_tier],
                front_sorted[y][~in_tier],
                s=size,
                facecolor="none",
                edgecolor=list(face[~in_tier]),
                linewidth=1.0,
                zorder=5,
            )
        what = "Pareto front" if quality_max is None else "Pareto front, in the quality tier"
        handles.append(
            Line2D(
                [],
                [],
                color="black",
                lw=1.4 if front_line else 0,
                marker="o",
                mfc="0.6",
                mec="black",
                label=f"{what}: {int(in_tier.sum()):,} designs",
            )
        )
        if (~in_tier).any():
            handles.append(
                Line2D([], [], ls="", marker="o", mfc="none", mec="0.3",
                       label=f"Pareto front, outside the tier: {int((~in_tier).sum()):,}")
            )
    if budget_ms is not None and x == "latency_ms":
        ax.axvline(budget_ms, color="#C00000", ls="--", lw=1.3, zorder=6)
        handles.append(Line2D([], [], color="#C00000", ls="--", lw=1.3,
                              label=f"latency budget: {budget_ms:g} ms per call"))
    elif budget_ms is not None and y == "latency_ms":
        ax.axhline(budget_ms, color="#C00000", ls="--", lw=1.3, zorder=6)
        handles.append(Line2D([], [], color="#C00000", ls="--", lw=1.3,
                              label=f"latency budget: {budget_ms:g} ms per call"))

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
    if not front_line:
        note += (
            "\nThe front is non-dominated over more objectives than the two drawn: a front "
            "design inside the cloud is better in another one (e.g. a lower quality loss)."
        )
    ax.text(
        0.99, 0.01, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
        color="0.35", zorder=8,
        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8),
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

    if tier_steps is not None:  # shaded up to the axes' edges, which it must not move
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        sx, sy = tier_steps
        ax.fill_between(np.r_[sx, x1], np.r_[sy, sy[-1]], y1, step="post", color="#009E73",
                        alpha=0.08, lw=0, zorder=0)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)

    freeze_layout(fig)
    placer = LabelPlacer(
        ax, lines=lines, markers=np.concatenate(markers), avoid_legend=True, marker_radius_px=10
    )
    for _, row in chosen.sort_values(x).iterrows():
        placer.place(
            row[x],
            row[y],
            f"{row['selection']}: {row['label']}\n{row['design_id']}"
            if row["label"]
            else f"{row['selection']}\n{row['design_id']}",
            angles=(45, 90, 0, 135, -45, 180, -90, -135),
            fontsize=9,
            weight="bold",
        )
    return fig


def _join_selections(selected: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """One row per design; a design chosen for several reasons lists them all."""
    if not len(selected):
        return pd.DataFrame(columns=["design_id", x, y, "selection", "label"])
    sel = selected.assign(
        design_id=selected["design_id"].astype(str),
        selection=selected["selection"].astype(str),
        label=_labels(selected),
    )
    return (
        sel.groupby("design_id", sort=False)
        .agg(
            **{
                x: (x, "first"),
                y: (y, "first"),
                "selection": ("selection", lambda s: ", ".join(dict.fromkeys(s))),
                "label": ("label", "first"),
            }
        )
        .reset_index()
    )


def _labels(selected: pd.DataFrame) -> list[str]:
    """What each selected design is (dse.labels), empty where its parameters are not given."""
    keys = ("weight_precision", "act_precision", "compute_units", "pe_m", "pe_n", "pe_k",
            "clock_mhz")
    if not all(k in selected.columns for k in keys):
        return [""] * len(selected)
    return design_labels(selected)


def _in_tier(front: pd.DataFrame, quality_max: float | None) -> np.ndarray:
    """Front designs within the quality tier (all without a bound or a quality column); the
    same slack as dse.select."""
    if quality_max is None or "quality_loss" not in front.columns:
        return np.ones(len(front), dtype=bool)
    q = front["quality_loss"].to_numpy(dtype=np.float64, na_value=np.inf)
    return q <= quality_max * (1 + QUALITY_RTOL)


def _staircase(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The designs non-dominated in (x, y), both minimised, sorted by x."""
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    best = np.minimum.accumulate(y)
    keep = np.r_[True, y[1:] < best[:-1]]
    return x[keep], y[keep]


def _steps_post(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Vertices of the ``steps-post`` line through (x, y)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return np.column_stack([x, y])
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return np.column_stack([xs, ys])
