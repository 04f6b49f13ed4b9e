"""Resources: whether each design fits each SLR, per resource."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from dse.plots.common import natural_key, new_figure, require_columns, save

_RESOURCE_ORDER = ("lut", "dsp", "bram18", "uram")

_RESOURCE_TITLES = {"lut": "LUT", "dsp": "DSP", "bram18": "BRAM18", "uram": "URAM"}


def plot_resources(
    resources: pd.DataFrame, out: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Used / available fraction per SLR and resource, one bar per design, a line at 100 %.

    Each design's fullest bar (the largest fraction over SLRs and resources, the model's
    ``utilization``; its resource and SLR are ``binding``) is outlined and labelled, and the
    legend repeats it, so the figure shows the number the summary and the Parquet files show.

    Args:
        resources: ``design_id``, ``slr`` (e.g. ``SLR0``), ``resource`` (``lut``, ``dsp``,
            ``bram18``, ``uram``), ``used`` and ``available`` (same unit: LUTs, DSP slices,
            BRAM18 or URAM blocks; available after the shell and the margin).
        out: image path (format from the suffix, PNG by default).
        title: figure title.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.
    """
    fig = figure(resources, title=title)
    return save(fig, out)


def fractions(resources: pd.DataFrame) -> pd.DataFrame:
    """``resources`` with string keys and ``fraction`` = used / available (0 when unused, inf
    when used without any available), the way the model computes ``util_*``."""
    require_columns(resources, ("design_id", "slr", "resource", "used", "available"), "resources")
    used = resources["used"].to_numpy(float)
    avail = resources["available"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(used > 0, used / avail, 0.0)
    return resources.assign(
        design_id=resources["design_id"].astype(str),
        slr=resources["slr"].astype(str),
        resource=resources["resource"].astype(str),
        fraction=frac,
    )


def binding(resources: pd.DataFrame) -> pd.DataFrame:
    """Per design (in order of first appearance): ``utilization``, the largest fraction, and
    ``binding``, its resource and SLR (e.g. ``bram18 SLR0``); the first of equal ones counts."""
    data = fractions(resources)
    designs = list(dict.fromkeys(data["design_id"]))
    top = data.loc[data.groupby("design_id", sort=False)["fraction"].idxmax()]
    top = top.set_index("design_id").reindex(designs)
    return pd.DataFrame(
        {
            "design_id": designs,
            "utilization": top["fraction"].to_numpy(float),
            "binding": (top["resource"] + " " + top["slr"]).to_numpy(object),
            "resource": top["resource"].to_numpy(object),
            "slr": top["slr"].to_numpy(object),
        }
    )


def figure(resources: pd.DataFrame, *, title: str | None) -> Figure:
    data = fractions(resources)
    designs = list(dict.fromkeys(data["design_id"]))
    slrs = sorted(set(data["slr"]), key=natural_key)
    present = set(data["resource"])
    res_order = [r for r in _RESOURCE_ORDER if r in present]
    res_order += sorted(present - set(_RESOURCE_ORDER))
    colors = dict(zip(designs, sns.color_palette("colorblind", len(designs)).as_hex(), strict=True))
    finite = data["fraction"].to_numpy(float)
    finite = finite[np.isfinite(finite)]
    top = max(1.15, float(np.max(finite, initial=0.0)) * 1.15)
    bind = binding(resources).set_index("design_id")
    frac = data.set_index(["resource", "slr", "design_id"])["fraction"]

    fig = new_figure(max(3.2 * len(res_order), 7.5), 5.4)
    axes = np.atleast_1d(fig.subplots(1, len(res_order), sharey=True))
    width = 0.8 / max(len(designs), 1)
    for ax, res in zip(axes, res_order, strict=True):
        for i, design in enumerate(designs):
            x0 = np.arange(len(slrs)) - 0.4 + (i + 0.5) * width
            h = np.array([frac.get((res, s, design), np.nan) for s in slrs], dtype=float)
            shown = np.where(np.isfinite(h), h, top)  # used with nothing available: full height
            ax.bar(x0, shown, width, color=colors[design], edgecolor="white", linewidth=0.5)
            for x, v, s in zip(x0, h, slrs, strict=True):
                is_binding = bind.loc[design, "resource"] == res and bind.loc[design, "slr"] == s
                over = not np.isfinite(v) or v > 1.0
                if is_binding or over:
                    ax.bar(
                        x,
                        min(v, top) if np.isfinite(v) else top,
                        width,
                        facecolor="none",
                        edgecolor="#C00000" if over else "black",
                        linewidth=1.6,
                        zorder=4,
                    )
                    ax.text(
                        x,
                        min(v, top) if np.isfinite(v) else top,
                        f"{v:.1%}" if np.isfinite(v) else "no budget",
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        weight="bold" if is_binding else "normal",
                        color="#C00000" if over else "black",
                        rotation=90 if len(designs) > 3 else 0,
                    )
        ax.axhline(1.0, color="#C00000", ls="--", lw=1.2, zorder=5)
        ax.set_xticks(np.arange(len(slrs)), slrs)
        ax.set_xlim(-0.5, len(slrs) - 0.5)
        ax.set_title(_RESOURCE_TITLES.get(res, res))
        ax.set_xlabel("super logic region (SLR)")
        ax.set_ylim(0, top)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("used / available after shell and margin (%)")
    handles = [
        Patch(
            color=colors[d],
            label=f"{d}: {bind.loc[d, 'utilization']:.1%} ({bind.loc[d, 'binding']})",
        )
        for d in designs
    ]
    handles.append(Line2D([], [], color="#C00000", ls="--", lw=1.2, label="100% available"))
    fig.legend(
        handles=handles,
        title="design: utilization = its fullest SLR resource (outlined bar)",
        loc="outside lower center",
        fontsize=9,
        title_fontsize=9,
        frameon=False,
        ncol=min(len(handles), 4),
    )
    fig.suptitle(
        title or "Resource use per SLR: a bar above the red line does not fit", fontsize=12
    )
    return fig
