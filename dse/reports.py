"""Build reports -> the published figures of a built design (``dse calibrate --reports DIR``).

Reads the files a Vitis build of an export leaves behind and returns the same rows as
:mod:`dse.builds` (one per number: quantity, figure, stage, scope, SLR):

- Vitis HLS ``csynth.xml``: part, target and estimated clock, worst-case latency in cycles,
  LUT / FF / DSP / BRAM_18K / URAM estimates (stage ``hls``);
- Vitis HLS ``csynth.rpt``: the per-module report ("Vitis HLS Report for ...": clocks, latency,
  utilisation Total row) or the solution summary ("Synthesis Summary Report of ...": the top
  row of the Performance & Resource Estimates table);
- Vivado ``report_utilization`` text: totals (CLB or Slice LUTs, registers, Block RAM Tile in
  36 Kb tiles, URAM, DSPs) and, when present, the per-SLR table; the stage follows "Design
  State" (Routed -> ``route``);
- v++ ``report_accelerator_utilization`` text (``kernel_util_*.rpt``): each kernel's row and
  the Used Resources row (BRAM in 36 Kb tiles);
- Vivado ``report_timing_summary`` text: the kernel clock's period and worst setup slack ->
  ``clock_target_mhz`` and ``fmax_mhz`` = 1000 / (period - WNS); ``clock_mhz`` = the target
  when timing is met;
- Vitis HLS ``export_impl.rpt`` (export_design -flow impl): the place-and-route resource
  summary and the post-route period;
- a measured-latency CSV (:data:`LATENCY_HELP`);
- Vivado ``report_power`` text (on-chip power: an estimate of the die, scope ``chip``) and an
  XRT / xbutil power log (:data:`POWER_LOG_HELP`: the card's measured power, scope ``board``);
  the two are kept apart (docs/power.md).

A file's kind is told from its content, not its name. A file that is none of these, or one that
lacks the numbers its kind must have, is a :class:`dse.errors.UserError` naming the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dse.builds import FIGURE_COLUMNS, Builds, format_figure
from dse.config import decode_utf8
from dse.errors import UserError
from dse.params import PARAM_NAMES, UNIFORM_DEFAULTS
from dse.power import MAX_POWER_W
from dse.space import design_batch

#: What a measured-latency file looks like (``dse calibrate --help`` shows it).
LATENCY_HELP = (
    "a CSV file whose header has a latency_ms column (one row per measured call; the median is "
    "taken) and optionally timed (call, layer or linear; default call) and cycles"
)

#: Report files larger than this are refused (a routed timing report of a full device is
#: ~10 MB; nothing here needs more).
MAX_BYTES = 64 * 1024 * 1024

#: Kinds of report this module reads.
KINDS = (
    "csynth_xml",
    "csynth_rpt",
    "utilization",
    "accelerator_utilization",
    "timing_summary",
    "export_impl",
    "latency_csv",
    "report_power",
    "power_log",
)

#: Vivado "Design State" -> stage.
_STATES = {
    "routed": "route",
    "physopt postroute": "route",
    "placed": "place",
    "physopt postplace": "place",
    "optimized": "synth",
    "synthesized": "synth",
}

#: Vivado site types -> quantity (UltraScale+ names, then 7-series names).
_SITES = {
    "CLB LUTs": "lut",
    "Slice LUTs": "lut",
    "CLB Registers": "ff",
    "Slice Registers": "ff",
    "Block RAM Tile": "bram36",
    "URAM": "uram",
    "DSPs": "dsp",
}

#: Vitis HLS resource names -> quantity.
_HLS = {"BRAM_18K": "bram18", "BRAM": "bram18", "DSP": "dsp", "DSP48E": "dsp", "FF": "ff",
        "LUT": "lut", "URAM": "uram"}


@dataclass(frozen=True)
class Parsed:
    """One report file read: its kind, tool, part, stage and figure rows."""

    file: str
    kind: str
    stage: str
    tool: str = ""
    part: str = ""
    rows: tuple[dict[str, Any], ...] = ()

    def values(self, *, scope: str | None = None, where: str | None = None) -> dict[str, float]:
        """``{quantity: figure}`` of the whole-scope rows (``quantity@SLRn`` for per-SLR rows),
        optionally of one scope or one ``where`` (a kernel's name)."""
        out: dict[str, float] = {}
        for r in self.rows:
            if scope is not None and r["scope"] != scope:
                continue
            if where is not None and r["where"] != where:
                continue
            key = r["quantity"] + (f"@{r['slr']}" if r["slr"] else "")
            out.setdefault(key, r["published"])
        return out


def _num(text: str, *, file: str, what: str) -> float:
    """A number as printed ('1,234', '128.5', '<0.01' -> 0)."""
    t = text.strip().replace(",", "")
    if t.startswith("<"):
        return 0.0
    try:
        v = float(t)
    except ValueError:
        raise UserError(f"{what}: not a number", file=file, value=text.strip()) from None
    if not math.isfinite(v):
        raise UserError(f"{what}: not a finite number", file=file, value=text.strip())
    return v


def _row(quantity: str, value: float, *, stage: str, scope: str, where: str, tool: str,
         part: str, slr: str = "", timed: str = "") -> dict[str, Any]:
    """One figure row; 36 Kb BRAM tiles become 18 Kb blocks (``as_published`` keeps the tile
    count)."""
    shown = f"{quantity} {format_figure(value)}"
    if quantity == "bram36":
        quantity, value = "bram18", 2.0 * value
    return {
        "quantity": quantity,
        "published": float(value),
        "slr": slr,
        "stage": stage,
        "scope": scope,
        "timed": timed,
        "floorplan": "",
        "as_published": shown,
        "tool": tool,
        "part": part,
        "where": where,
        "url": "",
    }


def _header_field(text: str, name: str) -> str:
    """The value of a ``| Name : value`` header line of a Vivado report ('' when absent)."""
    m = re.search(rf"^\|\s*{re.escape(name)}\s*:\s*(.*?)\s*$", text, re.M)
    return m.group(1) if m else ""


# ---- Vitis HLS -----------------------------------------------------------------------------------


def parse_csynth_xml(text: str, file: str) -> Parsed:
    """A Vitis HLS ``csynth.xml`` (the top function's estimates)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise UserError(f"malformed XML ({exc})", file=file) from None

    def find(path: str) -> str:
        el = root.find(path)
        return el.text.strip() if el is not None and el.text else ""

    tool = find("ReportVersion/Version")
    tool = f"Vitis HLS {tool}" if tool else ""
    part = find("UserAssignments/Part")
    top = find("UserAssignments/TopModelName") or "top"
    common = {"stage": "hls", "scope": "cu", "where": top, "tool": tool,
              "part": part}
    rows = []
    target = find("UserAssignments/TargetClockPeriod")
    if target:
        rows.append(_row("clock_target_mhz", 1000.0 / _num(target, file=file, what="target clock"),
                         **common))
    est = find("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")
    if est:
        rows.append(_row("fmax_mhz", 1000.0 / _num(est, file=file, what="estimated clock"),
                         **common))
    worst = find("PerformanceEstimates/SummaryOfOverallLatency/Worst-caseLatency")
    if worst and worst.replace(",", "").isdigit():  # 'undef' for data-dependent loops
        rows.append(_row("cycles", _num(worst, file=file, what="latency"), timed="call",
                         **common))
    res = root.find("AreaEstimates/Resources")
    if res is None:
        raise UserError("no AreaEstimates/Resources in csynth.xml", file=file,
                        allowed="a Vitis HLS csynth.xml")
    for el in res:
        if el.tag in _HLS and el.text and el.text.strip():
            rows.append(_row(_HLS[el.tag], _num(el.text, file=file, what=el.tag), **common))
    return Parsed(file=file, kind="csynth_xml", stage="hls", tool=tool, part=part,
                  rows=tuple(rows))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_csynth_rpt(text: str, file: str) -> Parsed:
    """A Vitis HLS ``csynth.rpt``: the per-module report or the solution summary."""
    version = re.search(r"\*\s*Version:\s*(\S+)", text)
    tool = f"Vitis HLS {version.group(1)}" if version else ""
    dev = re.search(r"\*\s*Target device:\s*(\S+)", text)
    part = dev.group(1) if dev else ""
    top = re.search(r"== (?:Vitis|Vivado) HLS Report for '([^']+)'", text) or re.search(
        r"== Synthesis Summary Report of '([^']+)'", text
    )
    name = top.group(1) if top else "top"
    common = {"stage": "hls", "scope": "cu", "where": name, "tool": tool,
              "part": part}
    rows: list[dict[str, Any]] = []
    lines = text.splitlines()
    if "Synthesis Summary Report of" in text:
        # the Performance & Resource Estimates table: header names, then the top '|+' row
        head = next((i for i, ln in enumerate(lines) if "Modules" in ln and ln.startswith("    |")),
                    None)
        if head is None:
            raise UserError("no Performance & Resource Estimates table", file=file,
                            allowed="a Vitis HLS csynth.rpt")
        names = [" ".join(p) for p in zip(*(_cells(lines[head + k]) for k in (0, 1)), strict=True)]
        top_row = next((ln for ln in lines[head + 2:] if ln.strip().startswith("|+")), None)
        if top_row is None:
            raise UserError("no top module row in the estimates table", file=file)
        cells = _cells(top_row)
        for col, cell in zip(names, cells, strict=False):
            key = col.split()[-1] if col.strip() else ""
            value = cell.split("(")[0].strip()
            if key in _HLS and value == "-":  # the summary prints no use as '-'
                value = "0"
            if value in ("", "-"):
                continue
            if col.strip() == "Latency (cycles)":
                rows.append(_row("cycles", _num(value, file=file, what="latency"), timed="call",
                                 **common))
            elif key in _HLS:
                rows.append(_row(_HLS[key], _num(value, file=file, what=key), **common))
        return Parsed(file=file, kind="csynth_rpt", stage="hls", tool=tool, part=part,
                      rows=tuple(rows))
    timing = text[max(text.find("+ Timing"), 0):]  # Vivado HLS 2019 prints no 'ns'
    clock = re.search(
        r"^\s*\|\s*\S+\s*\|\s*([\d.]+)\s*(?:ns)?\s*\|\s*([\d.]+)\s*(?:ns)?\s*\|", timing, re.M
    )
    if clock:
        rows.append(_row("clock_target_mhz", 1000.0 / float(clock.group(1)), **common))
        rows.append(_row("fmax_mhz", 1000.0 / float(clock.group(2)), **common))
    lat = text.find("+ Latency:")
    if lat >= 0:
        m = re.search(r"^\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", text[lat:], re.M)
        if m:  # min | max: the worst case
            rows.append(_row("cycles", float(m.group(2)), timed="call", **common))
    util = text.find("== Utilization Estimates")
    if util < 0:
        raise UserError("no Utilization Estimates section", file=file,
                        allowed="a Vitis HLS csynth.rpt")
    section = lines[text[:util].count("\n"):]
    header = next((ln for ln in section if re.match(r"^\|\s*Name\s*\|", ln)), None)
    total = next((ln for ln in section if re.match(r"^\|\s*Total\s*\|", ln)), None)
    if header is None or total is None:
        raise UserError("no Name/Total rows in the utilisation summary", file=file)
    for col, cell in zip(_cells(header)[1:], _cells(total)[1:], strict=False):
        if col in _HLS and cell not in ("", "-"):
            rows.append(_row(_HLS[col], _num(cell, file=file, what=col), **common))
    return Parsed(file=file, kind="csynth_rpt", stage="hls", tool=tool, part=part,
                  rows=tuple(rows))


# ---- Vivado utilisation ------------------------------------------------------------------------


def _scope_of(design: str) -> str:
    """A Vitis platform's top (level0_wrapper, pfm_top_wrapper) is the whole device; any other
    top (an HLS kernel implemented out of context) is one CU."""
    return "device" if design.startswith(("level0", "pfm_top", "xilinx_")) else "cu"


def parse_utilization(text: str, file: str) -> Parsed:
    """Vivado ``report_utilization`` text: totals and the per-SLR table when present."""
    state = _header_field(text, "Design State")
    stage = _STATES.get(state.lower(), "unstated")
    tool = _header_field(text, "Tool Version").split(" (")[0].replace("Vivado v.", "Vivado ")
    part = _header_field(text, "Device")
    design = _header_field(text, "Design")
    common = {"stage": stage, "scope": _scope_of(design), "tool": tool, "part": part,
              "where": design}
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    slr_cols: list[str] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            slr_cols = [] if not line.strip() else slr_cols
            continue
        cells = _cells(line)
        if cells and cells[0] == "Site Type" and any(re.fullmatch(r"SLR\d", c) for c in cells):
            slr_cols = cells
            continue
        site = cells[0].rstrip("*").strip() if cells else ""  # 'CLB LUTs*' carries a footnote
        if site not in _SITES or len(cells) < 2:
            continue
        quantity = _SITES[site]
        if slr_cols:
            for col, cell in zip(slr_cols[1:], cells[1:], strict=False):
                if re.fullmatch(r"SLR\d", col):
                    key = f"{quantity}@{col}"
                    if key not in seen:
                        seen.add(key)
                        rows.append(_row(quantity, _num(cell, file=file, what=site), slr=col,
                                         **common))
        elif quantity not in seen:
            seen.add(quantity)
            rows.append(_row(quantity, _num(cells[1], file=file, what=site), **common))
    if not rows:  # totals, per-SLR counts (report_utilization -slr), or both
        raise UserError("no LUT, register, BRAM, URAM or DSP rows found", file=file,
                        allowed="Vivado report_utilization text")
    return Parsed(file=file, kind="utilization", stage=stage, tool=tool, part=part,
                  rows=tuple(rows))


def parse_accelerator_utilization(text: str, file: str) -> Parsed:
    """v++ ``report_accelerator_utilization`` text: one row per kernel instance and the Used
    Resources row of the user budget."""
    state = _header_field(text, "Design State")
    stage = _STATES.get(state.lower(), "unstated")
    tool = _header_field(text, "Tool Version").split(" (")[0].replace("Vivado v.", "Vivado ")
    part = _header_field(text, "Device")
    names = {"LUT": "lut", "REG": "ff", "BRAM": "bram36", "URAM": "uram", "DSP": "dsp"}
    header: list[str] = []
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        if cells[0] == "Name":
            header = cells
            continue
        if not header or cells[0] in ("Platform", "User Budget", "Unused Resources"):
            continue
        scope = "kernels" if cells[0] == "Used Resources" else "cu"
        raw = line.strip().strip("|").split("|")[0]
        if scope == "cu" and raw.startswith(" " * 4):  # an instance row under its kernel
            continue
        for col, cell in zip(header[1:], cells[1:], strict=False):
            if col in names:
                value = _num(cell.split("[")[0], file=file, what=col)
                rows.append(_row(names[col], value, stage=stage, scope=scope, tool=tool,
                                 part=part, where=cells[0]))
    if not rows:
        raise UserError("no kernel rows found", file=file,
                        allowed="v++ report_accelerator_utilization text")
    return Parsed(file=file, kind="accelerator_utilization", stage=stage, tool=tool, part=part,
                  rows=tuple(rows))


# ---- Vivado timing ----------------------------------------------------------------------------


def _section(text: str, title: str) -> str:
    """The text of a ``| Title`` section of a Vivado report, up to the next section."""
    m = re.search(rf"^\|\s*{re.escape(title)}\s*$", text, re.M)
    if not m:
        return ""
    rest = text[m.end():]
    nxt = re.search(r"^-{20,}\n\|\s*\S", rest, re.M)
    body = rest[: nxt.start()] if nxt else rest
    return body


def kernel_clock(names: list[str]) -> str | None:
    """The kernel clock among a design's clocks: ``ap_clk`` (an HLS kernel out of context),
    else the first whose name holds ``kernel`` (a Vitis platform's clk_kernel / kernel_00),
    else the only clock."""
    if "ap_clk" in names:
        return "ap_clk"
    for n in names:
        if "kernel" in n.lower() and "kernel2" not in n.lower():
            return n
    return names[0] if len(names) == 1 else None


def parse_timing_summary(text: str, file: str) -> Parsed:
    """Vivado ``report_timing_summary`` text -> the kernel clock's target and fmax. The stage
    is the header's "Design State"; reports without one (Vivado before 2022) count as routed
    when the file name says ``routed``."""
    tool = _header_field(text, "Tool Version").split(" (")[0].replace("Vivado v.", "Vivado ")
    part = _header_field(text, "Device")
    state = _header_field(text, "Design State")
    stage = _STATES.get(state.lower(), "route" if "routed" in file.lower() else "unstated")
    periods: dict[str, float] = {}
    for line in _section(text, "Clock Summary").splitlines():
        m = re.match(r"^\s*(\S+)\s+\{[^}]*\}\s+([\d.]+)\s+([\d.]+)\s*$", line)
        if m:
            periods.setdefault(m.group(1), float(m.group(2)))
    slack: dict[str, float] = {}
    for line in _section(text, "Intra Clock Table").splitlines():
        m = re.match(r"^(\S+)\s+(-?\d+\.\d+)\s", line)
        if m and m.group(1) != "Clock":
            slack[m.group(1)] = float(m.group(2))
    clock = kernel_clock([n for n in periods if n in slack] or list(periods))
    if clock is None or clock not in periods:
        raise UserError(
            "cannot tell the kernel clock", file=file,
            value=", ".join(sorted(periods)) or "no clocks",
            allowed="a timing summary with a Clock Summary holding ap_clk or a *kernel* clock",
        )
    period = periods[clock]
    wns = slack.get(clock)
    if wns is None:  # the design-wide WNS when the clock has no intra-clock row
        m = re.search(r"WNS\(ns\).*\n\s*-+.*\n\s*(-?\d+\.\d+)", _section(text,
                      "Design Timing Summary"))
        if not m:
            raise UserError("no WNS in the Design Timing Summary", file=file)
        wns = float(m.group(1))
    common = {"stage": stage, "scope": "cu", "tool": tool, "part": part,
              "where": f"clock {clock}, WNS {wns:g} ns"}
    rows = [
        _row("clock_target_mhz", 1000.0 / period, **common),
        _row("fmax_mhz", 1000.0 / (period - wns), **common),
    ]
    if wns >= 0:
        rows.append(_row("clock_mhz", 1000.0 / period, **common))
    return Parsed(file=file, kind="timing_summary", stage=stage, tool=tool, part=part,
                  rows=tuple(rows))


def parse_export_impl(text: str, file: str) -> Parsed:
    """A Vitis HLS ``export_impl.rpt``: place-and-route resources and the post-route period."""
    dev = re.search(r"\*\s*Target device:\s*(\S+)", text)
    version = re.search(r"\*\s*Version:\s*(\S+)", text)
    part, tool = (dev.group(1) if dev else ""), (f"Vivado {version.group(1)}" if version else "")
    common = {"stage": "route", "scope": "cu", "tool": tool, "part": part, "where": ""}
    rows = []
    summary = re.search(r"== Place & Route Resource Summary\s*\n=+\n(.*?)\n\n", text, re.S)
    if not summary:
        raise UserError("no Place & Route Resource Summary", file=file,
                        allowed="a Vitis HLS export_impl.rpt")
    names = {"LUT": "lut", "FF": "ff", "DSP": "dsp", "BRAM": "bram18", "URAM": "uram"}
    for line in summary.group(1).splitlines():
        m = re.match(r"^(\w+):\s+(\d+)\s*$", line.strip())
        if m and m.group(1) in names:
            rows.append(_row(names[m.group(1)], float(m.group(2)), **common))
    target = re.search(r"\|\s*Target\s*\|\s*([\d.]+)\s*\|", text)
    post = re.search(r"\|\s*Post-Route\s*\|\s*([\d.]+)\s*\|", text)
    if target:
        rows.append(_row("clock_target_mhz", 1000.0 / float(target.group(1)), **common))
    if post:
        rows.append(_row("fmax_mhz", 1000.0 / float(post.group(1)), **common))
    if target and post and float(post.group(1)) <= float(target.group(1)):
        rows.append(_row("clock_mhz", 1000.0 / float(target.group(1)), **common))
    return Parsed(file=file, kind="export_impl", stage="route", tool=tool, part=part,
                  rows=tuple(rows))


# ---- measured latency ---------------------------------------------------------------------------


def parse_latency_csv(text: str, file: str) -> Parsed:
    """A measured-latency CSV (:data:`LATENCY_HELP`) -> the median latency (and cycles)."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if "latency_ms" not in fields:
        raise UserError("no latency_ms column", file=file, allowed=LATENCY_HELP)
    values: dict[str, dict[str, list[float]]] = {}
    for i, rec in enumerate(reader, start=2):
        rec = {(k or "").strip(): (v or "").strip() for k, v in rec.items()}
        timed = rec.get("timed") or "call"
        if timed not in ("call", "layer", "linear"):
            raise UserError("unknown timed value", file=file, key=f"line {i}.timed", value=timed,
                            allowed="call, layer, linear")
        for q in ("latency_ms", "cycles"):
            if rec.get(q):
                v = _num(rec[q], file=file, what=f"line {i}.{q}")
                if v <= 0:
                    raise UserError("not a positive number", file=file, key=f"line {i}.{q}",
                                    value=rec[q])
                values.setdefault(timed, {}).setdefault(q, []).append(v)
    if not values:
        raise UserError("no measured rows", file=file, allowed=LATENCY_HELP)
    rows = []
    for timed, by_q in values.items():
        for q, vs in by_q.items():
            rows.append(_row(q, float(pd.Series(vs).median()), stage="board", scope="cu",
                             tool="", part="", timed=timed,
                             where=f"measured ({len(vs)} runs, median)"))
    return Parsed(file=file, kind="latency_csv", stage="board", rows=tuple(rows))


# ---- power: Vivado report_power and an XRT / xbutil power log ----------------------------------

#: What an XRT power log looks like (``dse calibrate --help``).
POWER_LOG_HELP = (
    "a CSV power log whose header has a power_W column (the card's input power in W, one row "
    "per XRT / xbutil sensor reading, as FlexLLM's u280_power_logger.py writes it)"
)


#: Readings more than this above a log's lowest count as the design running (W): the FlexLLM
#: U280 log's idle readings spread 0.23 W and its first active one is 3.9 W above them
#: (assumption: any card's idle spread is well under 2 W).
IDLE_BAND_W = 2.0

#: report_power's On-Chip Components rows -> the part they name (quantity chip_<part>_w).
_POWER_PARTS = {"Clocks": "clocks", "CLB Logic": "clb_logic", "Slice Logic": "clb_logic",
                "Signals": "signals", "Block RAM": "bram", "URAM": "uram", "DSPs": "dsp",
                "HBM": "hbm", "GTY": "gty", "PCIE": "pcie", "I/O": "io"}


def _watts(cell: str, *, file: str, key: str, positive: bool = False) -> float:
    """A power figure in W as printed: a number ('<0.01' -> 0), Vivado's parenthesised remark
    after it dropped ('20.239 (Junction temp exceeded!)'), at most :data:`MAX_POWER_W` and at
    least 0 (above 0 when ``positive``)."""
    text = re.sub(r"\s*\(.*\)\s*$", "", cell.strip()).replace(",", "")
    try:
        v = 0.0 if text.startswith("<") else float(text)
    except ValueError:
        v = math.nan
    low = v > 0 if positive else v >= 0
    if not (math.isfinite(v) and low and v <= MAX_POWER_W):
        raise UserError("not a power in W", file=file, key=key, value=cell.strip(),
                        allowed=f"a number, {'0 <' if positive else '0 <='} W <= "
                        f"{MAX_POWER_W:g}")
    return v


def parse_report_power(text: str, file: str) -> Parsed:
    """Vivado ``report_power`` text: Total On-Chip Power (quantity ``chip_power_w``, scope
    ``chip``: the die and its in-package HBM, an estimate), Dynamic and Device Static
    (``chip_dynamic_w``, ``chip_static_w``: the die's leakage, not the idle card), each On-Chip
    Components row (``chip_<part>_w``). The ``chip_`` names keep the die's estimate apart from
    the card's ``power_w`` (an XRT log's, and every results table's)."""
    state = _header_field(text, "Design State")
    stage = _STATES.get(state.lower(), "unstated")
    tool = _header_field(text, "Tool Version").split(" (")[0].replace("Vivado v.", "Vivado ")
    part = _header_field(text, "Device")
    confidence = re.search(r"^\|\s*Confidence Level\s*\|\s*(\w+)", text, re.M)
    where = f"report_power, confidence {confidence.group(1)}" if confidence else "report_power"
    common = {"stage": stage, "scope": "chip", "tool": tool, "part": part, "where": where}

    def value(label: str) -> float | None:
        m = re.search(rf"^\|\s*{re.escape(label)}\s*\|\s*([^|]+?)\s*\|", text, re.M)
        return None if m is None else _watts(m.group(1), file=file, key=label,
                                             positive=label.startswith("Total"))

    total = value("Total On-Chip Power (W)")
    if total is None:
        raise UserError("no Total On-Chip Power row", file=file,
                        allowed="Vivado report_power text")
    rows = [_row("chip_power_w", total, **common)]
    for label, q in (("Dynamic (W)", "chip_dynamic_w"), ("Device Static (W)", "chip_static_w")):
        v = value(label)
        if v is not None:
            rows.append(_row(q, v, **common))
    # report_power's numbered section "1.1 On-Chip Components", up to the next numbered title
    m = re.search(r"^\d+(?:\.\d+)* On-Chip Components[ \t]*\n-+\n(.*?)(?=^\d+(?:\.\d+)* \S|\Z)",
                  text, re.M | re.S)
    for line in (m.group(1) if m else "").splitlines():
        cells = _cells(line) if line.startswith("|") else []
        if len(cells) >= 2 and cells[0] in _POWER_PARTS:
            rows.append(_row(f"chip_{_POWER_PARTS[cells[0]]}_w",
                             _watts(cells[1], file=file, key=cells[0]), **common))
    return Parsed(file=file, kind="report_power", stage=stage, tool=tool, part=part,
                  rows=tuple(rows))


def parse_power_log(text: str, file: str) -> Parsed:
    """An XRT power log (:data:`POWER_LOG_HELP`) -> the card's idle (the lowest reading),
    running (the median of the readings more than :data:`IDLE_BAND_W` above it; quantity
    ``power_w``) and peak power, scope ``board``, stage ``board`` (measured)."""
    try:
        return _power_log(text, file)
    except csv.Error as exc:
        raise UserError(f"not a readable CSV ({exc})", file=file, allowed=POWER_LOG_HELP) from None


def _power_log(text: str, file: str) -> Parsed:
    reader = csv.reader(io.StringIO(text))
    fields = [f.strip() for f in next(reader, [])]
    if "power_W" not in fields:
        raise UserError("no power_W column", file=file, allowed=POWER_LOG_HELP)
    col = fields.index("power_W")
    values: list[float] = []
    for rec in reader:
        i = reader.line_num
        if not any(c.strip() for c in rec):
            continue  # a blank line
        if len(rec) != len(fields):
            raise UserError(f"{len(rec)} fields, the header has {len(fields)}", file=file,
                            key=f"line {i}", value=",".join(rec)[:80], allowed=POWER_LOG_HELP)
        if rec[col].strip():  # a row without a reading is skipped
            values.append(_watts(rec[col], file=file, key=f"line {i}.power_W", positive=True))
    if not values:
        raise UserError("no power readings", file=file, allowed=POWER_LOG_HELP)
    idle = min(values)
    running = [v for v in values if v > idle + IDLE_BAND_W]
    common = {"stage": "board", "scope": "board", "tool": "XRT sensors", "part": ""}
    rows = [_row("power_idle_w", idle, where=f"lowest of {len(values)} readings", **common),
            _row("power_peak_w", max(values), where=f"highest of {len(values)} readings",
                 **common)]
    if running:
        rows.append(_row("power_w", float(pd.Series(running).median()),
                         where=f"median of {len(running)} readings over idle + "
                         f"{IDLE_BAND_W:g} W", **common))
    return Parsed(file=file, kind="power_log", stage="board", tool="XRT sensors",
                  rows=tuple(rows))


# ---- dispatch -----------------------------------------------------------------------------------


def kind_of(text: str) -> str | None:
    """The kind of a report from its content (None: not a report this module reads)."""
    head = text[:4000]
    if "Power Report" in head and "Total On-Chip Power" in text:
        return "report_power"
    if "<profile>" in head and "<ReportVersion>" in head:
        return "csynth_xml"
    if re.search(r"== (?:Vitis|Vivado) HLS Report for|== Synthesis Summary Report of", head):
        return "csynth_rpt"
    if "== Vivado Place & Route Results" in head:
        return "export_impl"
    if "Accelerator Utilization Design Information" in head:
        return "accelerator_utilization"
    if "Utilization Design Information" in head or "report_utilization" in head:
        return "utilization"
    if "Design Timing Summary" in text or "report_timing_summary" in head:
        return "timing_summary"
    first = head.splitlines()[0] if head else ""
    if "latency_ms" in [c.strip() for c in first.split(",")]:
        return "latency_csv"
    if "power_W" in [c.strip() for c in first.split(",")]:
        return "power_log"
    return None


_PARSERS = {
    "csynth_xml": parse_csynth_xml,
    "csynth_rpt": parse_csynth_rpt,
    "utilization": parse_utilization,
    "accelerator_utilization": parse_accelerator_utilization,
    "timing_summary": parse_timing_summary,
    "export_impl": parse_export_impl,
    "latency_csv": parse_latency_csv,
    "report_power": parse_report_power,
    "power_log": parse_power_log,
}

#: What the reader accepts, for messages.
ACCEPTED = (
    "Vitis HLS csynth.xml or csynth.rpt, Vivado report_utilization or report_timing_summary "
    "text, v++ report_accelerator_utilization text, Vitis HLS export_impl.rpt, a latency "
    "CSV with a latency_ms column, Vivado report_power text, or an XRT power log CSV with a "
    "power_W column"
)


def parse_file(path: str | Path) -> Parsed:
    """Read one report file, whatever its kind.

    Raises:
        UserError: the file is unreadable, not a report this module reads, or lacks the numbers
            its kind must have.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise UserError("file too large for a report", file=str(p), value=f"{size} bytes",
                            allowed=f"at most {MAX_BYTES} bytes")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UserError("file does not exist", file=str(p)) from None
    except IsADirectoryError:
        raise UserError("is a folder, not a report file", file=str(p)) from None
    except OSError as exc:
        raise UserError(f"cannot read file ({exc.strerror})", file=str(p)) from None
    text = decode_utf8(raw, file=str(p))
    kind = kind_of(text)
    if kind is None:
        raise UserError("not a report dse can read", file=str(p), allowed=ACCEPTED)
    return _PARSERS[kind](text, str(p))


#: Files in a report folder that are not reports (read for the design, or ignored): an export
#: folder's own files (dse/export.py writes them beside design.json) and notes.
SKIP = {"design.json", "platform.json", "model.json", "SOURCE.md", "README.md",
        "dse_config.h", "kernel.cpp", "vector.cpp", "host.cpp", "hls_config.cfg", "link.cfg",
        "schedule.json", "schedule.txt"}

#: Vivado's binary companions of its text reports (protobuf, report database, checkpoint):
#: skipped, so a copied report folder can be read as it is.
SKIP_SUFFIXES = {".pb", ".rpx", ".rpv", ".xutil", ".dcp"}


@dataclass(frozen=True)
class ReportSet:
    """Every figure read from a reports folder and the designs they belong to, in the shapes
    of :class:`dse.builds.Builds` (``figures``: FIGURE_COLUMNS; ``designs``: DESIGN_COLUMNS and
    the parameters of the designs whose folder has a ``design.json``)."""

    figures: pd.DataFrame
    designs: pd.DataFrame
    files: tuple[Parsed, ...] = ()
    design_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def builds(self) -> Builds:
        """The same data as a :class:`dse.builds.Builds` (what the fit takes)."""
        return Builds(figures=self.figures, designs=self.designs,
                      design_params=dict(self.design_params))


def _design_folder(folder: Path) -> dict[str, Any]:
    """A design's row: name and parameters from ``design.json`` (written by ``dse export``),
    board and workload from its ``platform.json`` and ``model.json`` (and the run's cameras,
    which ``model.json`` records); ``given``: the parameters design.json names; without a
    design.json the
    folder's name, and the design counts as not expressible (no parameters)."""
    row: dict[str, Any] = {
        "design": folder.name, "title": f"build reports in {folder}", "expressible": False,
        "missing": "no design.json (dse export) beside the reports", "board": "", "model": "",
        "cameras": 1, "given": "", "template": True,
    }
    dj = folder / "design.json"
    if not dj.is_file():
        return row
    try:
        data = json.loads(decode_utf8(dj.read_bytes(), file=str(dj)))
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON ({exc.msg} at line {exc.lineno})", file=str(dj)) from None
    if not isinstance(data, dict):
        raise UserError("not a JSON object", file=str(dj), allowed="dse export's design.json")
    given = [k for k in PARAM_NAMES if k in data]
    params = {**UNIFORM_DEFAULTS, **{k: data[k] for k in given}}
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise UserError("missing design parameter", file=str(dj), key=missing[0],
                        allowed="the design.json that dse export wrote")
    design_batch([params], file=str(dj))  # names, values, tiles
    row.update(params)
    row.update(
        design=str(data.get("design_id", folder.name)),
        expressible=True,
        missing="",
        board=str(folder / "platform.json") if (folder / "platform.json").is_file() else "",
        model=str(folder / "model.json") if (folder / "model.json").is_file() else "",
        cameras=_export_cameras(folder / "model.json"),
        given=",".join(sorted(given)),
    )
    return row


def _export_cameras(path: Path) -> int:
    """Images per policy call of an export: the run's ``cameras`` its ``model.json`` records
    (1 without the file or the key)."""
    if not path.is_file():
        return 1
    from dse.loader import load_json

    data = load_json(path)
    if not isinstance(data, dict):
        raise UserError("not a JSON object", file=str(path), allowed="dse export's model.json")
    n = data.get("cameras", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError("not a number of images per policy call", file=str(path),
                        key="cameras", value=n, allowed="a whole number >= 1")
    return n


def read_reports(folder: str | Path) -> ReportSet:
    """Read a folder of build reports: its files (one design) or its sub-folders (one design
    each, named by the folder or by its ``design.json``). Every file that is not a known
    helper (:data:`SKIP`), a Vivado binary companion (:data:`SKIP_SUFFIXES`) or hidden must be
    a report.

    Raises:
        UserError: the folder is missing or holds no report, or a file is not a report.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UserError("not a folder", key="--reports", value=str(root),
                        allowed="a folder of build report files (or of one folder per design)")
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    groups = subdirs if subdirs else [root]
    rows: list[dict[str, Any]] = []
    designs: list[dict[str, Any]] = []
    parsed: list[Parsed] = []
    params: dict[str, dict[str, Any]] = {}
    for g in groups:  # a handful of designs
        d = _design_folder(g)
        name = d["design"]
        if d["expressible"]:
            params[name] = {k: d[k] for k in PARAM_NAMES}
        n = len(parsed)
        for f in sorted(g.iterdir()):
            if (f.is_dir() or f.name.startswith(".") or f.name in SKIP
                    or f.suffix.lower() in SKIP_SUFFIXES):
                continue
            one = parse_file(f)
            parsed.append(one)
            rows += [
                {**r, "design": name, "where": f.name + (f" ({r['where']})" if r["where"] else "")}
                for r in one.rows
            ]
        if len(parsed) > n:
            designs.append(d)
    if not parsed:
        raise UserError("no report files", key="--reports", value=str(root), allowed=ACCEPTED)
    frame = pd.DataFrame(rows, columns=list(FIGURE_COLUMNS))
    return ReportSet(figures=frame, designs=pd.DataFrame(designs, dtype=object),
                     files=tuple(parsed), design_params=params)
