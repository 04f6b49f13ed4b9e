"""Energy: where each selected design's board power goes (static, logic per resource, memory).

The energy-latency trade-off of the cloud is :func:`dse.plots.plot_pareto` with
``y="energy_mj"`` and the latency-energy front (``dse plot`` draws it as ``energy.png``); this
module draws the other energy figure, ``power.png``: one stacked bar per selected design.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dse.labels import design_labels
from dse.plots.common import new_figure, require_columns, save
from dse.power import PARTS

#: Colours of the parts (Okabe-Ito; static grey), legend names.
PART_COLORS = {"static": "#BBBBBB", "lut": "#E69F00", "dsp": "#D55E00", "bram18": "#009E73",
               "uram": "#56B4E9", "memory": "#0072B2"}
PART_NAMES = {"static": "idle card (xclbin loaded)", "lut": "LUT logic", "dsp": "DSP",
              "bram18": "BRAM18", "uram": "URAM", "memory": "HBM/DDR traffic"}


def plot_power(parts: pd.DataFrame, out: str | os.PathLike[str], *,
               title: str | None = None) -> Path:
    """Board watts of each selected design, stacked by part (:data:`dse.power.PARTS`), with its
    energy per call at the bar's end.

    Args:
        parts: one row per design: ``label`` (what to call it), one column per part (W),
            ``energy_mj`` (per policy call); no rows: a figure saying there is nothing to draw.
        out: image path (format from the suffix, PNG by default).
        title: figure title.
    """
    return save(figure(parts, title=title), out)


def figure(parts: pd.DataFrame, *, title: str | None = None) -> Figure:
    require_columns(parts, ("label", *PARTS, "energy_mj"), "parts")
    fig = new_figure(8.0, 1.8 + 0.5 * max(len(parts), 1))
    ax = fig.add_subplot()
    if parts.empty:
        ax.text(0.5, 0.5, "no board power model for this platform (no power: section)",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    y = np.arange(len(parts))
    left = np.zeros(len(parts))
    for part in PARTS:
        w = parts[part].to_numpy(dtype=float)
        ax.barh(y, w, left=left, color=PART_COLORS[part], label=PART_NAMES[part], height=0.6)
        left += w
    for yi, total, e in zip(y, left, parts["energy_mj"], strict=True):
        ax.text(total, yi, f" {total:.1f} W, {e:,.0f} mJ/call", va="center", fontsize=8)
    ax.set_yticks(y, parts["label"])
    ax.invert_yaxis()
    ax.set_xlim(0, float(left.max()) * 1.35)
    ax.set_xlabel("board power while running (W): the card at its inputs, 12.5% toggle rate")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=7,
               frameon=False, ncols=6)
    ax.set_title(title or "Where the selected designs' board power goes (model, docs/power.md)",
                 fontsize=10)
    return fig


def power_parts(selected: pd.DataFrame, raw: Mapping) -> pd.DataFrame:
    """The :func:`plot_power` table of the selected designs: one row per design (labelled by
    :func:`dse.labels.design_labels` and why it was chosen), the board watts of each part
    (:func:`dse.power.breakdown`); no rows when the board has no power model."""
    from dse.power import breakdown, power_model

    pm = power_model(raw)
    if pm is None or selected.empty:
        return pd.DataFrame(columns=["label", *PARTS, "energy_mj"])
    cols = {c: selected[c].to_numpy(dtype=float) for c in
            ("lut", "dsp", "bram18", "uram", "clock_mhz", "latency_ms", "bytes_per_call")}
    out = pd.DataFrame(breakdown(pm, cols))
    why = selected["selection"].astype(str).to_numpy() if "selection" in selected else [""] * len(
        selected)
    out.insert(0, "label", [f"{lab}\n{w}" for lab, w in zip(design_labels(selected), why,
                                                             strict=True)])
    out["energy_mj"] = selected["energy_mj"].to_numpy(dtype=float)
    return out
