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

One module per figure (``roofline``, ``pareto``, ``breakdown``, ``resources``, ``hbm``,
``convergence``, and ``calibration``, imported by ``dse calibrate`` alone), each with its ``plot_*``
function and a ``figure`` builder that returns the Figure (tests inspect it); ``common`` holds
the shared colours, axis labels and saving, and ``labels`` the label placement.
"""

from __future__ import annotations

from dse.plots.breakdown import plot_breakdown
from dse.plots.common import AXIS_LABELS, PRECISION_COLORS, STREAM_COLORS
from dse.plots.convergence import plot_convergence
from dse.plots.hbm import plot_hbm
from dse.plots.pareto import MAX_CLOUD_POINTS_PER_HUE, plot_pareto
from dse.plots.resources import plot_resources
from dse.plots.roofline import plot_roofline

__all__ = [
    "AXIS_LABELS",
    "DPI",
    "MAX_CLOUD_POINTS_PER_HUE",
    "PRECISION_COLORS",
    "STREAM_COLORS",
    "plot_breakdown",
    "plot_convergence",
    "plot_hbm",
    "plot_pareto",
    "plot_resources",
    "plot_roofline",
]

#: Resolution of raster output, dots per inch; read when a figure is saved, so setting
#: ``dse.plots.DPI`` applies to every figure written afterwards.
DPI = 150
