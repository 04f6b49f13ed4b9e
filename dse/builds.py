"""Figures of real builds -> one row per (design, quantity): the calibration's fitting data.

An entry of a calibration file (``configs/calibration/designs.yaml``, schema ``calibration``) may
carry ``figures``: what a build report or a paper's table gives for the built design. Each block is
one report or table, with the stage it was measured at (``hls``: Vitis HLS estimate, ``synth``:
Vivado post-synthesis, ``route``: post place-and-route, ``board``: measured running,
``unstated``) and what it covers (``cu``: one compute unit, ``kernels``: all CUs without the
shell, ``device``: the whole device). Cycles and latencies say what they time (``timed``: one
``call`` of the entry's workload, one ``layer``, or one ``linear``-layer GEMM), and a block may say
whether the build was floorplanned (``floorplan``: ``yes``, ``no`` or ``""`` when not said).
:func:`load_builds` returns

- ``figures``: one row per published number (:data:`FIGURE_COLUMNS`), in the units of
  :data:`QUANTITIES`. BRAM is always in 18 Kb blocks: a figure given as 36 Kb tiles (``bram36``,
  Vivado's "Block RAM Tile") is doubled, and ``as_published`` keeps what the source printed.
  Per-SLR counts are rows with ``slr`` set (``SLR0`` ...); whole-scope rows have ``slr == ""``.
- ``designs``: one row per entry with figures: the board and workload files, whether the design
  can be written in the tool's parameters (``missing`` says why not), and every design parameter
  (dse/params.py; those the entry leaves out take ``dse.params.EXAMPLE_DESIGN``, and ``given``
  names the ones it states).

:mod:`dse.reports` produces the same rows from a user's report files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dse.config import check_refs, check_unique_ids, load_validated, resolve
from dse.errors import UserError
from dse.params import EXAMPLE_DESIGN
from dse.space import design_batch

#: The quantities a figure may give: unit and meaning.
QUANTITIES: dict[str, tuple[str, str]] = {
    "lut": ("LUT", "look-up tables (Vivado 'CLB LUTs', HLS 'LUT')"),
    "ff": ("FF", "flip-flops (Vivado 'CLB Registers', HLS 'FF')"),
    "dsp": ("DSP", "DSP48E2 slices"),
    "bram18": ("BRAM18", "18 Kb block RAMs (a 36 Kb tile counts 2)"),
    "uram": ("URAM", "UltraRAM blocks (288 Kb)"),
    "clock_mhz": ("MHz", "clock the design was built at and met timing at (or ran at)"),
    "fmax_mhz": ("MHz", "highest clock the report supports: 1000 / (period - WNS) post-route"),
    "clock_target_mhz": ("MHz", "clock the build asked for"),
    "cycles": ("cycles", "clock cycles of one call of the workload"),
    "latency_ms": ("ms", "time of one call of the workload"),
}

#: Resource quantities (the ones an SLR table may give).
RESOURCES = ("lut", "ff", "dsp", "bram18", "uram")

#: Columns of the figures table, in order.
FIGURE_COLUMNS = (
    "design",
    "quantity",
    "published",
    "slr",
    "stage",
    "scope",
    "timed",
    "floorplan",
    "as_published",
    "tool",
    "part",
    "where",
    "url",
)

#: Columns of the designs table before the design parameters.
DESIGN_COLUMNS = (
    "design",
    "title",
    "expressible",
    "missing",
    "unmodelled",
    "board",
    "model",
    "cameras",
    "given",
    "template",
    "cu_slr_order",
    "operand_layout",
)


@dataclass(frozen=True)
class Builds:
    """Figures of built designs (one row per number) and the designs they belong to."""

    figures: pd.DataFrame
    designs: pd.DataFrame
    design_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def params(self, design: str) -> dict[str, Any]:
        """The design parameters of one expressible entry (EXAMPLE_DESIGN for those it leaves
        out), as dse.space.design_batch takes them.

        Raises:
            KeyError: the entry is not in the file or cannot be expressed.
        """
        return dict(self.design_params[design])


def format_figure(value: float) -> str:
    """A figure as printed: integers without a decimal point, others as given."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def resource_rows(counts: dict[str, float], *, slr: str = "") -> list[dict[str, Any]]:
    """Resource counts as printed (lut, ff, dsp, bram18 or bram36, uram) -> (quantity,
    published, slr, as_published) rows, BRAM in 18 Kb blocks."""
    rows = []
    for key in ("lut", "ff", "dsp", "bram18", "bram36", "uram"):
        if key not in counts:
            continue
        value = float(counts[key])
        if key == "bram36":
            rows.append(
                {"quantity": "bram18", "published": 2.0 * value, "slr": slr,
                 "as_published": f"bram36 {format_figure(value)}"}
            )
        else:
            rows.append(
                {"quantity": key, "published": value, "slr": slr,
                 "as_published": f"{key} {format_figure(value)}"}
            )
    return rows


def figure_rows(design: str, block: dict[str, Any], *, url: str = "") -> list[dict[str, Any]]:
    """One figures block of an entry -> its rows (:data:`FIGURE_COLUMNS`)."""
    common = {
        "design": design,
        "stage": block["stage"],
        "scope": block["scope"],
        "timed": "",
        "floorplan": {True: "yes", False: "no"}.get(block.get("floorplan"), ""),
        "tool": block.get("tool", ""),
        "part": block.get("part", ""),
        "where": block["where"],
        "url": block.get("url", url),
    }
    rows: list[dict[str, Any]] = []
    for key in ("clock_target_mhz", "clock_mhz", "fmax_mhz", "cycles", "latency_ms"):
        if key in block:
            value = float(block[key])
            timed = block.get("timed", "call") if key in ("cycles", "latency_ms") else ""
            rows.append(
                {**common, "quantity": key, "published": value, "slr": "", "timed": timed,
                 "as_published": f"{key} {format_figure(value)}"}
            )
    rows += [{**common, **r} for r in resource_rows(block)]
    for slr, counts in sorted((block.get("slr") or {}).items()):
        rows += [{**common, **r} for r in resource_rows(counts, slr=slr)]
    return rows


def load_builds(path: str | Path) -> Builds:
    """Read the figures of a calibration file (entries without ``figures`` are skipped).

    Raises:
        UserError: one line naming the file, the key, the bad value and what is allowed.
    """
    path = Path(path)
    raw = load_validated(path, "calibration")
    figures: list[dict[str, Any]] = []
    designs: list[dict[str, Any]] = []
    params_by_design: dict[str, dict[str, Any]] = {}
    check_unique_ids(path, raw["designs"])
    for i, e in enumerate(raw["designs"]):  # a few dozen entries
        key = f"designs[{i}]"
        if "figures" not in e:
            continue
        expressible = e.get("expressible", True)
        timed = any(("cycles" in b or "latency_ms" in b) for b in e["figures"])
        if expressible and timed and "model" not in e:
            raise UserError(
                "missing key", file=str(path), key=f"{key}.model",
                allowed="the workload file whose one call the cycles or latency_ms figure times",
            )
        check_refs(path, key, e, ("board", "model"))
        given = dict(e.get("design") or {})
        row: dict[str, Any] = {
            "design": e["id"],
            "title": e["title"],
            "expressible": expressible,
            "missing": e.get("missing", ""),
            # quantity -> why the model cannot reproduce it (kept, listed, not fitted)
            "unmodelled": dict(e.get("unmodelled") or {}),
            "board": str(resolve(path, e["board"])) if "board" in e else "",
            "model": str(resolve(path, e["model"])) if "model" in e else "",
            "cameras": e.get("cameras", 1),
            "given": ",".join(sorted(given)),
            # a published build: its own structure, not dse's kernel template (dse.hardware)
            "template": False,
            # the build's own CU placement (replaces the board's cu_slr_order), "" for the
            # board's
            "cu_slr_order": ",".join(str(int(x)) for x in e.get("cu_slr_order") or ()),
            # how its matrices lie in memory (dse.model.OPERAND_LAYOUTS)
            "operand_layout": e.get("operand_layout", "rows"),
        }
        if expressible:
            params = {**EXAMPLE_DESIGN, **given}
            design_batch([params], file=f"{path}: {key}.design")  # names, values, tiles
            row.update(params)
            params_by_design[e["id"]] = params
        designs.append(row)
        for b in e["figures"]:
            figures += figure_rows(e["id"], b, url=e["source"]["url"])
    fig = pd.DataFrame(figures, columns=list(FIGURE_COLUMNS))
    fig["published"] = fig["published"].astype(float)
    des = pd.DataFrame(designs, dtype=object)
    if des.empty:
        des = pd.DataFrame(columns=list(DESIGN_COLUMNS))
    return Builds(figures=fig, designs=des, design_params=params_by_design)
