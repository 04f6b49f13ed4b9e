"""Compare: a few designs side by side, where their time goes and how full each SLR is."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from dse.plots.breakdown import CLASS_COLORS, CLASS_TITLES
from dse.plots.common import is_light, new_figure, require_columns, save


def plot_compare(
    breakdown: pd.DataFrame,
    resources: pd.DataFrame,
    names: Sequence[str],
    out: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Left: time per policy call of each design by kernel class (stacked, ms). Right: each
    design's resources per SLR as a fraction of what the SLR offers (after shell and margin).

    Args:
        breakdown: ``key`` (design position), ``kernel_class``, ``time_ms``.
        resources: ``key``, ``slr``, ``resource``, ``used``, ``available``.
        names: the designs' labels, in ``key`` order.
        out: image path (format from the suffix, PNG by default).
        title: figure title.
    """
    return save(figure(breakdown, resources, names, title=title), out)


def figure(
    breakdown: pd.DataFrame, resources: pd.DataFrame, names: Sequence[str], *, title: str | None
) -> Figure:
    require_columns(breakdown, ("key", "kernel_class", "time_ms"), "breakdown")
    require_columns(resources, ("key", "slr", "resource", "used", "available"), "resources")
    n = len(names)
    by_class = breakdown.pivot_table(
        index="key", columns="kernel_class", values="time_ms", aggfunc="sum", fill_value=0.0,
        sort=False,
    ).reindex(index=range(n)).fillna(0.0)
    classes = [c for c in CLASS_COLORS if c in by_class.columns]
    classes += [c for c in by_class.columns if c not in classes]
    res = resources.assign(
        col=resources["slr"].astype(str) + " " + resources["resource"].astype(str),
        frac=resources["used"] / resources["available"].replace(0, np.nan),
    )
    cols = list(dict.fromkeys(res["col"]))
    heat = res.pivot_table(index="key", columns="col", values="frac", aggfunc="first",
                           sort=False).reindex(index=range(n), columns=cols)

    fig = new_figure(14, 2.6 + 0.75 * n)
    ax, axh = fig.subplots(1, 2, gridspec_kw={"width_ratios": (1.4, 1.0)})
    y = np.arange(n)
    left = np.zeros(n)
    for c in classes:
        w = by_class[c].to_numpy(float) if c in by_class.columns else np.zeros(n)
        ax.barh(y, w, left=left, color=CLASS_COLORS.get(c, "#BBBBBB"), edgecolor="white",
                height=0.65, label=CLASS_TITLES.get(c, c))
        left += w
    for i, total in enumerate(left):
        ax.text(total, i, f" {total:.4g} ms", va="center", ha="left", fontsize=9, weight="bold")
    ax.set_xlim(0, max(left.max(), 1e-9) * 1.18)
    ax.set_yticks(y, list(names), fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("time per policy call (ms), by kernel class")
    ax.grid(True, axis="x", alpha=0.3)
    handles = [Patch(color=CLASS_COLORS.get(c, "#BBBBBB"), label=CLASS_TITLES.get(c, c))
               for c in classes]
    fig.legend(handles=handles, loc="outside lower left", ncol=min(len(handles), 4), fontsize=8,
               frameon=False)

    values = heat.to_numpy(float)
    img = axh.imshow(np.nan_to_num(values, nan=0.0), cmap="Reds", vmin=0, vmax=1, aspect="auto")
    for i in range(n):
        for j in range(len(cols)):
            v = values[i, j]
            if np.isfinite(v):
                color = img.cmap(img.norm(v))
                axh.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=8,
                         color="black" if is_light(color) else "white")
    axh.set_xticks(range(len(cols)), cols, fontsize=8, rotation=60, ha="right",
                   rotation_mode="anchor")
    axh.set_yticks(y, [str(i + 1) for i in range(n)], fontsize=9)
    axh.set_title("resources per SLR (used / available)", fontsize=10)
    fig.colorbar(img, ax=axh, fraction=0.04, pad=0.02)
    fig.suptitle(title or "Designs side by side", fontsize=12)
    return fig
