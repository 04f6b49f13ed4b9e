"""Shared by every figure: colours, axis labels, hue levels, figure creation and saving."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dse import plots
from dse.store import atomic_write

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


#: Axis labels (with units) for the result columns a figure may be asked to plot.
AXIS_LABELS: dict[str, str] = {
    "latency_ms": "latency per policy call (ms)",
    "utilization": "utilization: fullest SLR's most used resource (used / available)",
    "images_per_s": "throughput (images/s)",
    "achieved_tops": "achieved performance (TOPS)",
    "util_dsp": "DSP on its fullest SLR (used / available)",
    "util_bram": "BRAM on its fullest SLR (used / available)",
    "util_uram": "URAM on its fullest SLR (used / available)",
    "util_lut": "LUT on its fullest SLR (used / available)",
    "dsp": "DSP slices",
    "bram18": "BRAM18 blocks",
    "uram": "URAM blocks",
    "lut": "LUTs",
    "energy_mj": "energy per policy call (mJ): board power x latency",
    "power_w": "board power while running (W)",
}


def new_figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    fmt = {".svg": "svg", ".pdf": "pdf"}.get(path.suffix.lower(), "png")
    meta = {"Date": None} if fmt in ("svg", "pdf") else None  # same input, same bytes
    dpi = plots.DPI  # read now, so a caller's ``dse.plots.DPI = ...`` applies
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta))
    return path


def freeze_layout(fig: Figure) -> None:
    """Run the layout once and keep it, so label positions measured now stay valid."""
    fig.canvas.draw()
    fig.set_layout_engine("none")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what}: missing column(s) {', '.join(missing)}; "
            f"has {', '.join(map(str, frame.columns)) or 'no columns'}"
        )


def hue_levels(values: pd.Series, order: Sequence[str] | None) -> list[str]:
    present = set(values.dropna().astype(str))
    if order is None:
        return sorted(present, key=natural_key)
    listed = [str(v) for v in order]
    if not present & set(listed):  # an order for another column (e.g. the default precisions)
        return sorted(present, key=natural_key)
    return listed + sorted(present - set(listed), key=natural_key)


def level_colors(levels: Sequence[str]) -> dict[str, str]:
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


def natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text))]


def is_light(color: Any) -> bool:
    """Whether black text reads better than white on ``color`` (perceived luminance)."""
    r, g, b = mpl.colors.to_rgb(color)
    return 0.299 * r + 0.587 * g + 0.114 * b > 0.55
