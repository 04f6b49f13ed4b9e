"""Calibration: the model's prediction against each published figure, on log-log axes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from dse.plots.common import new_figure, require_columns, save

#: Marker per quantity, so the legend tells what a point measures.
_MARKERS = {
    "latency_ms": "o",
    "layer_latency_ms": "s",
    "linear_gops": "D",
    "peak_tops": "^",
    "memory_gbps": "v",
}


def plot_calibration(
    table: pd.DataFrame, out: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Predicted against published, one point per expressible design, with the y = x line and
    bands of +-15% and 2x; each point is labelled with its design id.

    Args:
        table: the calibration table (dse.calibration.COLUMNS); rows without a prediction are
            left out.
        out: image path (format from the suffix, PNG by default).
        title: figure title.
    """
    return save(figure(table, title=title), out)


def figure(table: pd.DataFrame, *, title: str | None = None) -> Figure:
    require_columns(
        table, ("design", "quantity", "unit", "published", "predicted"), "calibration plot"
    )
    data = table[table["predicted"].notna() & (table["predicted"] > 0)].copy()
    fig = new_figure(8.5, 7.0)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    if len(data):
        lo = float(min(data["published"].min(), data["predicted"].min())) / 2.5
        hi = float(max(data["published"].max(), data["predicted"].max())) * 2.5
    else:
        lo, hi = 0.1, 10.0
    line = np.geomspace(lo, hi, 50)
    ax.fill_between(line, line / 2, line * 2, color="#EEEEEE", lw=0, label="within 2x")
    ax.fill_between(line, line / 1.15, line * 1.15, color="#CCCCCC", lw=0, label="within 15%")
    ax.plot(line, line, color="black", lw=1, label="y = x (prediction = published)")
    levels = [q for q in _MARKERS if q in set(data["quantity"])]
    units = data.groupby("quantity", observed=True)["unit"].first()
    data["quantity"] = pd.Categorical(data["quantity"], categories=levels, ordered=True)
    palette = dict(zip(levels, sns.color_palette("colorblind", len(levels)).as_hex(), strict=True))
    for q in levels:  # one marker and colour per quantity (five at most)
        sub = data[data["quantity"] == q]
        ax.scatter(
            sub["published"],
            sub["predicted"],
            marker=_MARKERS[q],
            s=55,
            color=palette[q],
            edgecolor="black",
            linewidth=0.6,
            zorder=4,
            label=f"{q} ({units[q]})",
        )
    # labels go into the empty half: left of points above the y = x line, below-right of the
    # others; a label near an earlier one on its side (a quarter decade across, a tenth up) moves
    placed: list[tuple[float, float, bool]] = []  # (log10 x, log10 y, above) of labelled points
    for r in data.sort_values("published").itertuples(index=False):
        lx, ly = np.log10(r.published), np.log10(r.predicted)
        above = bool(r.predicted > r.published)
        near = sum(
            a == above and abs(lx - px) < 0.25 and abs(ly - py) < 0.1 for px, py, a in placed
        )
        placed.append((lx, ly, above))
        ax.annotate(
            r.design,
            xy=(r.published, r.predicted),
            xytext=(-7, 3 + 10 * near) if above else (7, -9 - 10 * near),
            textcoords="offset points",
            ha="right" if above else "left",
            fontsize=7.5,
            zorder=5,
        )
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("published figure (its own unit: ms, GOPS, TOPS or GB/s; log scale)")
    ax.set_ylabel("model's prediction (same unit; log scale)")
    ax.set_title(title or "Calibration: prediction against published designs")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, frameon=True)
    return fig
