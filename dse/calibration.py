"""Published designs -> the model's prediction beside each published figure (``dse calibrate``).

A calibration file (``configs/calibration/designs.yaml``, schema ``calibration``) lists published
accelerator designs: the board and workload files, the design in the tool's own parameters, the
quantity the paper reports, the figure and its source. Each expressible design is evaluated with
the public model (:class:`dse.model.Model` on the board's :class:`dse.platform.Platform` and the
workload's :class:`dse.workload.Workload`, the run's mapper choosing its runtime tiles) and the
quantity is read off the result:

- ``latency_ms``: one call end to end (``latency_ms`` column, ``cameras`` images per call);
- ``layer_latency_ms``: one encoder layer (the per-kernel times of the ``layer`` kernels / layers);
- ``linear_gops``: 2 x MACs of the linear GEMMs (classes ``proj`` and ``mlp``) / their time;
- ``peak_tops``: the PE arrays' peak, ``achieved_tops / peak_fraction`` = CUs x PEs x 2 x clock;
- ``memory_gbps``: the input stream's read bandwidth on ``pc_inputs x compute_units`` channels
  for bursts of ``burst_bytes`` (:func:`dse.channels.stream_gbps`, the model's bandwidth rule).

The error of a design is ``(predicted - published) / published``. Designs the parameters cannot
describe stay in the table with what is missing and no prediction.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dse.channels import stream_gbps
from dse.config import (
    check_refs,
    check_unique_ids,
    load_model,
    load_validated,
    resolve,
    with_defaults,
)
from dse.errors import UserError
from dse.model import Model
from dse.params import EXAMPLE_DESIGN, MAPPING_PARAMS, TILE_DIVISORS
from dse.platform import Platform
from dse.results import results_frame
from dse.space import design_batch
from dse.workload import GEMM, Workload

#: The quantities a published design may report: unit and what it is.
QUANTITIES: dict[str, tuple[str, str]] = {
    "latency_ms": ("ms", "end-to-end latency of one call"),
    "layer_latency_ms": ("ms", "latency of one encoder layer"),
    "linear_gops": ("GOPS", "throughput of the linear layers"),
    "peak_tops": ("TOPS", "peak of the PE arrays"),
    "memory_gbps": ("GB/s", "read bandwidth"),
}

#: GEMM classes that are a transformer's linear layers (projections and MLP).
LINEAR_CLASSES = ("proj", "mlp")

#: A design off by more than this factor needs a note saying why (issue 10).
FACTOR_LIMIT = 2.0

#: Columns of the calibration table, in order.
COLUMNS = (
    "design",
    "title",
    "board",
    "model",
    "quantity",
    "unit",
    "published",
    "predicted",
    "error_pct",
    "expressible",
    "feasible",
    "violations",
    "clock_mhz",
    "fmax_mhz",
    "timing",
    "source",
    "url",
    "measured",
    "note",
)


@dataclass(frozen=True)
class PublishedDesign:
    """One entry of a calibration file (paths resolved against the file's folder)."""

    id: str
    title: str
    expressible: bool
    published: float
    unit: str
    source: dict[str, Any]
    measured: str
    note: str = ""
    missing: str = ""
    quantity: str | None = None
    board: Path | None = None
    model: Path | None = None
    cameras: int = 1
    design: dict[str, Any] = field(default_factory=dict)
    burst_bytes: int | None = None
    key: str = ""  # designs[i], for messages
    cu_slr_order: tuple[int, ...] = ()  # the build's own CU placement (the board's when empty)
    operand_layout: str = "rows"  # how its matrices lie in memory (dse.model.OPERAND_LAYOUTS)
    floorplan: bool = False  # a figure says the build was floorplanned (dse.fit's curve for it)

    @property
    def citation(self) -> str:
        s = self.source
        return f"{s['paper']}, {s['venue']} {s['year']}, {s['where']}"


def load_designs(path: str | Path) -> list[PublishedDesign]:
    """Read and check a calibration file.

    Raises:
        UserError: one line naming the file, the key, the bad value and what is allowed.
    """
    path = Path(path)
    raw = with_defaults(load_validated(path, "calibration"), "calibration")
    out: list[PublishedDesign] = []
    check_unique_ids(path, raw["designs"])
    for i, e in enumerate(raw["designs"]):
        key = f"designs[{i}]"
        if "published" not in e:
            continue  # build figures only (resources, clocks): dse.builds reads them
        quantity = e.get("quantity")
        unit = e["published"]["unit"]
        if quantity is not None and unit != QUANTITIES[quantity][0]:
            raise UserError(
                f"unit does not match the quantity {quantity}",
                file=str(path),
                key=f"{key}.published.unit",
                value=unit,
                allowed=QUANTITIES[quantity][0],
            )
        if e.get("expressible", True) and quantity == "memory_gbps" and "burst_bytes" not in e:
            raise UserError(
                "missing key", file=str(path), key=f"{key}.burst_bytes",
                allowed="the burst length in bytes of the bandwidth measurement (memory_gbps)",
            )
        check_refs(path, key, e, ("board", "model"))
        out.append(
            PublishedDesign(
                id=e["id"],
                title=e["title"],
                expressible=e.get("expressible", True),
                published=float(e["published"]["value"]),
                unit=unit,
                source=e["source"],
                measured=e["measured"],
                note=e.get("note", ""),
                missing=e.get("missing", ""),
                quantity=quantity,
                board=resolve(path, e["board"]) if "board" in e else None,
                model=resolve(path, e["model"]) if "model" in e else None,
                cameras=e.get("cameras", 1),
                design=dict(e.get("design") or {}),
                burst_bytes=e.get("burst_bytes"),
                key=f"{path}: {key}",
                cu_slr_order=tuple(int(x) for x in e.get("cu_slr_order") or ()),
                operand_layout=e.get("operand_layout", "rows"),
                floorplan=any(f.get("floorplan") is True for f in e.get("figures") or ()),
            )
        )
    return out


class _Files:
    """Boards and workloads read once each (several designs share them)."""

    def __init__(self) -> None:
        self.platforms: dict[tuple[Path, tuple[int, ...]], Platform] = {}
        self.models: dict[tuple[Path, int], tuple[Workload, dict[str, Any]]] = {}

    def platform(self, path: Path, cu_slr_order: tuple[int, ...] = (),
                 floorplan: bool = False) -> Platform:
        """The board, with a build's own CU placement in place of its ``cu_slr_order`` when
        given (as dse.fit's Evaluator.platform places it); for a floorplanned build, the LUT
        knee and full-SLR clock of the board's ``timing.floorplanned`` curve (as the fit
        predicts such builds)."""
        key = (path, tuple(cu_slr_order), floorplan)
        if key not in self.platforms:
            raw = load_validated(path, "platform")
            if cu_slr_order:
                raw = {**raw, "cu_slr_order": list(cu_slr_order)}
            planned = (raw.get("timing") or {}).get("floorplanned")
            if floorplan and planned:
                t = copy.deepcopy(raw["timing"])
                t["knee"]["lut"] = planned["knee_lut"]
                t["full_mhz"]["lut"] = planned["full_lut_mhz"]
                raw = {**raw, "timing": t}
            self.platforms[key] = Platform.from_mapping(raw, source=path)
        return self.platforms[key]

    def workload(self, path: Path, cameras: int) -> tuple[Workload, dict[str, Any]]:
        if (path, cameras) not in self.models:
            raw = load_model(path, cameras=cameras)
            self.models[(path, cameras)] = (Workload.from_mapping(raw), raw)
        return self.models[(path, cameras)]


def predict_design(d: PublishedDesign, files: _Files | None = None) -> dict[str, Any]:
    """The model's figures for one expressible design: the quantity, feasibility and timing."""
    files = files or _Files()
    assert d.board is not None and d.model is not None and d.quantity is not None
    platform = files.platform(d.board, d.cu_slr_order, d.floorplan)
    workload, model_raw = files.workload(d.model, d.cameras)
    design = {**EXAMPLE_DESIGN, **d.design}
    # as dse evaluate: the mapper chooses the runtime tiles unless the design gives them
    mapper = not any(name in d.design for name in MAPPING_PARAMS)
    # a published design: its own structure, not dse's kernel template (dse.hardware)
    model = Model(platform, workload, tile_divisors=TILE_DIVISORS if mapper else None,
                  template=False, operand_layout=d.operand_layout)
    batch = design_batch([design], platform, file=f"{d.key}.design")
    res = model.evaluate(batch, detail=True)
    row = results_frame(model, batch, res, [d.id]).iloc[0]
    kernel_ms = res.kernel_ms[0]
    if d.quantity == "latency_ms":
        value = float(row["latency_ms"])
    elif d.quantity == "layer_latency_ms":
        layer = [i for i, k in enumerate(workload.kernels) if k.group == "layer"]
        rounds = float(row["latency_ms"] / row["latency_per_image_ms"])  # image rounds per call
        value = float(kernel_ms[layer].sum()) / model_raw["layers"] * rounds
    elif d.quantity == "linear_gops":
        lin = [
            i
            for i, k in enumerate(workload.kernels)
            if k.kind == GEMM and k.cls in LINEAR_CLASSES
        ]
        ops = 2.0 * sum(workload.kernels[i].macs for i in lin)  # per image
        value = ops / (float(kernel_ms[lin].sum()) * 1e-3) / 1e9
    elif d.quantity == "peak_tops":
        value = float(row["achieved_tops"] / row["peak_fraction"])
    else:  # memory_gbps
        channels = int(design["pc_inputs"]) * int(design["compute_units"])
        value = float(
            stream_gbps(
                platform.memory, channels, d.burst_bytes, clock_mhz=float(design["clock_mhz"])
            )
        )
    clock = float(design["clock_mhz"])
    fmax = float(row["fmax_mhz"]) if "fmax_mhz" in row.index else math.nan
    if math.isnan(fmax):
        timing = "not modelled"
    elif clock <= fmax:
        timing = f"closes ({clock:g} <= fmax {fmax:.0f} MHz)"
    else:
        timing = f"fails ({clock:g} > fmax {fmax:.0f} MHz)"
    return {
        "board": platform.name,
        "model": workload.name,
        "predicted": value,
        "feasible": bool(row["feasible"]),
        "violations": str(row["violations"]),
        "clock_mhz": clock,
        "fmax_mhz": fmax,
        "timing": timing,
    }


def calibration_table(designs: list[PublishedDesign]) -> pd.DataFrame:
    """One row per published design (``COLUMNS``); ``error_pct`` = (predicted - published) /
    published x 100, NaN where the design is not expressible."""
    files = _Files()
    rows = []
    for d in designs:  # a few dozen designs, each on its own board and workload
        row: dict[str, Any] = {
            "design": d.id,
            "title": d.title,
            "board": "",
            "model": "",
            "quantity": d.quantity or "",
            "unit": d.unit,
            "published": d.published,
            "predicted": math.nan,
            "expressible": d.expressible,
            "feasible": None,
            "violations": "",
            "clock_mhz": math.nan,
            "fmax_mhz": math.nan,
            "timing": "",
            "source": d.citation,
            "url": d.source["url"],
            "measured": d.measured,
            "note": d.note if d.expressible else f"not expressible: {d.missing}",
        }
        if d.expressible:
            row.update(predict_design(d, files))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "error_pct"])
    frame["predicted"] = frame["predicted"].astype(float)
    frame["published"] = frame["published"].astype(float)
    frame["error_pct"] = (frame["predicted"] - frame["published"]) / frame["published"] * 100.0
    frame["feasible"] = frame["feasible"].astype("boolean")
    return frame[list(COLUMNS)]


@dataclass(frozen=True)
class Summary:
    """Error statistics over the predicted designs (|error| in percent)."""

    designs: int
    predicted: int
    median_abs_error_pct: float
    worst_abs_error_pct: float
    worst_design: str
    beyond_factor: tuple[str, ...]  # off by more than FACTOR_LIMIT
    unexplained: tuple[str, ...]  # of those, without a note
    infeasible: tuple[str, ...]
    timing_fails: tuple[str, ...] = ()  # built at their clock, but above the model's fmax
    timing_modelled: bool = False


def summarise(frame: pd.DataFrame) -> Summary:
    """Median and worst |error|, the designs off by more than ``FACTOR_LIMIT`` and those the
    model calls infeasible."""
    done = frame[frame["predicted"].notna()]
    err = done["error_pct"].abs()
    ratio = done["predicted"] / done["published"]
    far = done[(ratio > FACTOR_LIMIT) | (ratio < 1.0 / FACTOR_LIMIT)]
    worst = done.loc[err.idxmax()] if len(done) else None
    return Summary(
        designs=len(frame),
        predicted=len(done),
        median_abs_error_pct=float(np.median(err)) if len(done) else math.nan,
        worst_abs_error_pct=float(err.max()) if len(done) else math.nan,
        worst_design=str(worst["design"]) if worst is not None else "",
        beyond_factor=tuple(far["design"]),
        unexplained=tuple(far.loc[far["note"].str.strip() == "", "design"]),
        infeasible=tuple(done.loc[~done["feasible"].astype(bool), "design"]),
        timing_fails=tuple(done.loc[done["timing"].str.startswith("fails"), "design"]),
        timing_modelled=bool(done["fmax_mhz"].notna().any()),
    )


def _link(url: str) -> str:
    """A clickable address: ``doi:10.x/y`` -> ``https://doi.org/10.x/y``."""
    return "https://doi.org/" + url[4:] if url.startswith("doi:") else url


def _num(v: float) -> str:
    if not math.isfinite(v):
        return ""
    return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"


def as_built_cell(design: str, expressible: bool, as_built: pd.DataFrame | None) -> str:
    """The as-built verdict of one published design: ``yes``, ``no: <violations>`` from
    ``as_built`` (dse.fit's as_built_table: the build at its published clock with its published
    resources, under the fitted constants), or why there is none."""
    if not expressible:
        return "—"
    if as_built is None:
        return "not checked (no refit)"
    hit = as_built[as_built["design"] == design]
    if hit.empty:
        return "no published resources"
    r = hit.iloc[0]
    return "yes" if bool(r["feasible"]) else f"no: {r['violations']}"


def compact_table(frame: pd.DataFrame, as_built: pd.DataFrame | None = None) -> str:
    """The short table the README shows: design, board, quantity, published, predicted, error,
    the as-built verdict (published resources and clock, fitted constants), and feasibility and
    timing of the model's own resource estimate."""
    lines = [
        "| design | board | quantity | published | predicted (same unit) | error "
        "| as built: feasible | own estimate: feasible | own estimate: timing |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in frame.itertuples(index=False):  # a few dozen rows
        done = math.isfinite(r.predicted)
        cells = [
            f"`{r.design}`",
            r.board or "—",
            r.quantity or "not expressible",
            f"{_num(r.published)} {r.unit}",
            _num(r.predicted) if done else "—",
            f"{r.error_pct:+.1f}%" if done else "—",
            as_built_cell(r.design, bool(r.expressible), as_built),
            "—" if pd.isna(r.feasible) else "yes" if r.feasible else "no",
            r.timing or "—",
        ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def as_built_line(as_built: pd.DataFrame | None) -> str:
    """The headline verdict of issue 17's feasibility check: every build at its published clock
    with its published resources, under the fitted constants (``as_built.csv``)."""
    head = ("- built designs at their published clock with their published resources (the "
            "feasibility check; fitted constants, `as_built.csv`): ")
    if as_built is None:
        return head + "not checked in this run (no refit)"
    if as_built.empty:
        return head + "none in the designs file (no build figures)"
    bad = as_built[~as_built["feasible"].astype(bool)]
    if bad.empty:
        return head + f"all {len(as_built)} feasible"
    return head + f"{len(bad)} of {len(as_built)} infeasible: " + ", ".join(bad["design"])


def markdown(frame: pd.DataFrame, summary: Summary, as_built: pd.DataFrame | None = None) -> str:
    """The calibration report as Markdown: the summary, then one table row per design.

    Two feasibility verdicts, kept apart: ``as_built`` (dse.fit's as_built_table; None when no
    refit ran) judges each build at its published clock with its published resources, the
    check a built design must pass; the table's own columns judge the model's own resource
    estimate of the design at the board files' constants, so a "no" there is evidence against
    the resource (or clock) estimate of that design, not against the feasibility rules."""
    lines = [
        "# Calibration: the model against published designs",
        "",
        f"- designs: {summary.designs}; predicted: {summary.predicted} "
        f"(the others cannot be expressed in the model's parameters, see their notes)",
        f"- median |error|: {summary.median_abs_error_pct:.1f}%; worst: "
        f"{summary.worst_abs_error_pct:.1f}% ({summary.worst_design})",
        f"- off by more than {FACTOR_LIMIT:g}x: "
        + (", ".join(summary.beyond_factor) or "none")
        + (
            f" (without a note: {', '.join(summary.unexplained)})"
            if summary.unexplained
            else ""
        ),
        as_built_line(as_built),
        "- rejected when the model estimates the build's resources itself (board files' "
        "constants; evidence against its resource and clock estimates of these designs, not "
        "against the feasibility rules): " + (", ".join(summary.infeasible) or "none"),
        "- of those estimates, the ones whose fmax is below the published clock (evidence "
        "against the resource estimate or the timing model): "
        + (", ".join(summary.timing_fails) or "none")
        if summary.timing_modelled
        else "- timing: the model has no timing model (every design runs at its clock_mhz)",
        "- error = (predicted - published) / published",
        "",
        compact_table(frame, as_built),
        "",
        "## Every design with its source and notes",
        "",
        "| design | quantity | published | predicted | error | as built: feasible "
        "| own estimate: feasible | own estimate: timing | source | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in frame.itertuples(index=False):  # a few dozen rows
        err = f"{r.error_pct:+.1f}%" if math.isfinite(r.error_pct) else "n/a"
        feasible = (
            "n/a"
            if pd.isna(r.feasible)
            else "yes"
            if r.feasible
            else f"no: {r.violations}"
        )
        cells = [
            f"`{r.design}`",
            r.quantity or "n/a",
            f"{_num(r.published)} {r.unit}",
            f"{_num(r.predicted)} {r.unit}" if math.isfinite(r.predicted) else "n/a",
            err,
            as_built_cell(r.design, bool(r.expressible), as_built).replace("—", "n/a"),
            feasible,
            r.timing or "n/a",
            f"[{r.source}]({_link(r.url)})",
            r.note,
        ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines.append("")
    return "\n".join(lines)
