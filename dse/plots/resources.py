"""Resources: whether each design fits each SLR, per resource."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from dse.plots.common import natural_key, new_figure, require_columns, save

_RESOURCE_ORDER = ("lut", "dsp", "bram18", "uram")

_RESOURCE_TITLES = {"lut": "LUT", "dsp": "DSP", "bram18": "BRAM18", "uram": "URAM"}


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
    fig = figure(resources, title=title)
    return save(fig, out)


def figure(resources: pd.DataFrame, *, title: str | None) -> Figure:
    require_columns(resources, ("design_id", "slr", "resource", "used", "available"), "resources")
    data = resources.assign(
        design_id=resources["design_id"].astype(str),
        slr=resources["slr"].astype(str),
        resource=resources["resource"].astype(str),
        fraction=resources["used"].astype(float)
        / resources["available"].astype(float).where(resources["available"] > 0),
    )
    designs = list(dict.fromkeys(data["design_id"]))
    slrs = sorted(set(data["slr"]), key=natural_key)
    present = set(data["resource"])
    res_order = [r for r in _RESOURCE_ORDER if r in present]
    res_order += sorted(present - set(_RESOURCE_ORDER))
    data["design_id"] = pd.Categorical(data["design_id"], categories=designs, ordered=True)
    data["slr"] = pd.Categorical(data["slr"], categories=slrs, ordered=True)
    colors = dict(zip(designs, sns.color_palette("colorblind", len(designs)).as_hex(), strict=True))
    top = max(1.15, float(np.nanmax(data["fraction"].to_numpy(float), initial=0.0)) * 1.12)

    fig = new_figure(max(3.2 * len(res_order), 7.5), 5.0)
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
