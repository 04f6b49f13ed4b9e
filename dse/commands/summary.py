"""dse summary: a Markdown table of the selected designs, their figures and export paths."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from dse.config import load_config
from dse.errors import UserError
from dse.labels import design_label, design_labels
from dse.store import (
    atomic_write_text,
    check_output,
    read_metadata,
    read_table,
    require_columns,
)

HELP = "write results/summary.md: the selected designs with their figures and export paths"

COLUMNS = [
    ("design_id", "design"),
    ("label", "what (dse.labels)"),
    ("selection", "why"),
    ("weight_precision", "W"),
    ("act_precision", "A"),
    ("compute_units", "CUs"),
    ("pe", "PE m×n×k"),
    ("tile", "tile m×n×k"),
    ("dataflow", "loops"),
    ("fuse_attention", "fused attn"),
    ("vector_lanes", "lanes"),
    ("buffer_storage", "buffers"),
    ("pcs", "channels w/i/o"),
    ("clock_mhz", "MHz"),
    ("fmax_mhz", "fmax MHz"),
    ("latency_ms", "latency ms/call"),
    ("images_per_s", "img/s"),
    ("power_w", "board W"),
    ("energy_mj", "mJ/call"),
    ("achieved_tops", "TOPS"),
    ("utilization", "util (fullest SLR)"),
    ("binding", "binding"),
    ("quality_loss", "quality loss"),
    ("dsp", "DSP"),
    ("bram18", "BRAM18"),
    ("uram", "URAM"),
    ("lut", "LUT"),
    ("bound", "bound"),
    ("export", "export"),
]


#: Columns of the selected designs the table reads (the others are built from them).
SELECTED_COLUMNS = (
    [c for c, _ in COLUMNS
     if c not in ("label", "pe", "tile", "pcs", "export", "power_w", "energy_mj")]
    + [f"{x}_{d}" for x in ("pe", "tile") for d in "mnk"]
    + ["pc_weights", "pc_inputs", "pc_outputs", "share_weights"]
)


def table(selected: pd.DataFrame, exports: dict[str, str]) -> str:
    df = selected.copy()
    df["label"] = design_labels(df)
    df["pe"] = [f"{a}×{b}×{c}" for a, b, c in zip(df["pe_m"], df["pe_n"], df["pe_k"], strict=True)]
    df["tile"] = [
        f"{a}×{b}×{c}" for a, b, c in zip(df["tile_m"], df["tile_n"], df["tile_k"], strict=True)
    ]
    streams = df["share_streams"] if "share_streams" in df.columns else [False] * len(df)
    df["pcs"] = [
        f"{a}/{b}/{c}" + (" shared w" if s else "") + (" shared streams" if ss else "")
        for a, b, c, s, ss in zip(
            df["pc_weights"], df["pc_inputs"], df["pc_outputs"], df["share_weights"], streams,
            strict=True,
        )
    ]
    df["export"] = [exports.get(str(i), "") for i in df["design_id"]]
    fmt = {
        "latency_ms": "{:.2f}",
        "fmax_mhz": "{:.0f}",
        "images_per_s": "{:.1f}",
        "achieved_tops": "{:.2f}",
        "utilization": "{:.1%}",
        "quality_loss": "{:.4f}",
        "power_w": "{:.1f}",
        "energy_mj": "{:.0f}",
    }
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for _, row in df.iterrows():  # a handful of selected designs
        cells = []
        for col, _ in COLUMNS:
            v = row.get(col, "")
            if col in ("power_w", "energy_mj") and (v == "" or pd.isna(v)):
                cells.append("n/a")  # a board without a power model, or an older table
                continue
            cell = (
                fmt[col].format(v) if col in fmt else f"`{v}`" if col == "export" and v else str(v)
            )
            cells.append(cell + _interval(row, col, fmt.get(col, "{:.0f}")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: Figures shown with their interval (dse.results INTERVAL_COLUMNS) where the table has it.
INTERVALS = ("latency_ms", "fmax_mhz", "lut", "dsp", "bram18", "uram")


def _interval(row: pd.Series, col: str, fmt: str) -> str:
    """`` (lo–hi)``: the calibration's 80% interval of a figure, '' without one (or a zero-width
    one, as on a platform without an ``uncertainty:`` section)."""
    if col == "utilization" and "utilization_hi" in row.index:
        hi = row["utilization_hi"]
        return f" (≤ {hi:.1%})" if pd.notna(hi) and hi != row["utilization"] else ""
    if col not in INTERVALS or f"{col}_lo" not in row.index:
        return ""
    lo, hi = row[f"{col}_lo"], row[f"{col}_hi"]
    if pd.isna(lo) or pd.isna(hi) or lo == hi:
        return ""
    return f" ({fmt.format(lo)}–{fmt.format(hi)})"


def violations_lines(binding: Any) -> list[str]:
    """The limits infeasible designs hit, most frequent first: each design counted once, by the
    limit it breaks first (its ``violation``); the results' ``violations`` column lists them
    all, that one first."""
    if not isinstance(binding, dict) or not binding:
        return []
    counts = [(n, c) for n, c in binding.items() if isinstance(c, int)]
    parts = [f"{n} {c:,}" for n, c in sorted(counts, key=lambda nc: -nc[1])]  # JSON sorts keys
    return [
        "- infeasible designs by the limit they break first (binding; the results' `violations` "
        "column lists every limit a design breaks, binding first): " + "; ".join(parts)
    ]


def budget_lines(budget: Any, model: str) -> list[str]:
    """The latency budget as ``dse select`` applied it (its output's ``budget`` metadata): where
    it came from, how many designs meet it and, when none does, the nearest ones."""
    if not isinstance(budget, dict):
        return ["- latency budget: not recorded (selected designs written by an older dse select)"]
    if budget.get("budget_ms") is None:
        return [f"- latency budget: none for {model} ({budget.get('key')}); the knee is taken "
                "over the whole quality tier and there is no `smallest_under_budget`"]
    head = (f"- latency budget: {budget['budget_ms']:g} ms per call for {model} "
            f"(`{budget.get('key')}`)")
    if budget.get("within"):
        return [f"{head}: {budget['within']:,} of the {budget.get('tier', 0):,} front designs "
                "of the quality tier meet it"]
    lines = [f"{head}: **no design of the quality tier meets it**, so there is no `knee` and "
             "no `smallest_under_budget`; only `fastest` (and `named`) are exported. The "
             "nearest designs:"]
    for n in budget.get("nearest", []):
        label = ""
        params = n.get("params")
        if isinstance(params, dict):
            try:
                label = f" ({design_label(params)})"
            except (KeyError, ValueError, TypeError):
                label = ""
        util = n.get("utilization")
        util_text = f", {util:.1%} of the fullest SLR" if isinstance(util, float) else ""
        lines.append(f"  - `{n.get('design_id')}`{label}: {n.get('latency_ms', float('nan')):.1f}"
                     f" ms per call{util_text}")
    lines.append("  Raise the budget for this model (`select.latency_budget_ms`, a number or a "
                 "mapping of model name to ms) or widen the space.")
    return lines


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="run configuration (configs/config.yaml)")
    p.add_argument("--selected", required=True, help="selected designs Parquet")
    p.add_argument("--front", required=True, help="Pareto front Parquet")
    p.add_argument("--exports", required=True, help="results/hls/index.json from dse export")
    p.add_argument("--out", required=True, help="Markdown output (results/summary.md)")


def run(args: argparse.Namespace) -> int:
    check_output(args.out)
    cfg = load_config(args.config)
    selected = read_table(args.selected)
    require_columns(
        selected, SELECTED_COLUMNS, file=args.selected, key="--selected", writer="dse select"
    )
    front_meta = read_metadata(args.front)
    try:
        index = json.loads(Path(args.exports).read_text())
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
        raise UserError(f"cannot read the export index ({exc})", file=args.exports) from None
    base = Path(args.exports).parent
    entries = index.get("designs", index) if isinstance(index, dict) else index
    exports = {}
    for e in entries if isinstance(entries, list) else []:
        if not isinstance(e, dict):
            raise UserError(
                "export index entry is not a mapping",
                file=args.exports,
                value=e,
                allowed="the index.json written by dse export",
            )
        exports[str(e.get("design_id"))] = str(base / e.get("path", e.get("design_id", "")))
    objectives = ", ".join(f"{n} ({d})" for n, d in cfg.objectives)
    text = [
        f"# dse summary: {cfg.workload.name} on {cfg.platform.name}",
        "",
        f"- designs read: {front_meta.get('designs_read', 'n/a'):,}"
        if isinstance(front_meta.get("designs_read"), int)
        else "- designs read: n/a",
        f"- feasible: {front_meta.get('designs_feasible', 'n/a'):,}"
        if isinstance(front_meta.get("designs_feasible"), int)
        else "- feasible: n/a",
        f"- Pareto front: {front_meta.get('front_size', 'n/a')} designs over {objectives}",
        *violations_lines(front_meta.get("binding_violations")),
        f"- cameras per policy call: {cfg.workload.cameras}; latency is per call",
        *budget_lines(read_metadata(args.selected).get("budget"), cfg.workload.name),
        f"- config hash: `{cfg.hash}`",
        "",
        "## Selected designs",
        "",
        table(selected, exports),
        "",
        "`util (fullest SLR)` is the model's `utilization`: used / available of the most used "
        "resource on the fullest SLR, after the shell and the margin (a design fits when it is "
        "at most 100%); `binding` names that resource and SLR. `results/plots/resources.png` "
        "shows every SLR and resource. Figures in parentheses are the calibration's 80% "
        "intervals (docs/calibration.md: held-out error on real builds); `(≤ x%)` after the "
        "utilisation is its pessimistic end. Selection keeps designs whose clock is at most the "
        "low end of fmax and whose pessimistic utilisation fits, and takes the knee on the "
        "pessimistic latency.",
        "",
        "`board W` is the whole card's power while the design runs a call at its clock "
        "(idle card with the xclbin loaded + logic at a 12.5% toggle rate + memory energy per "
        "bit moved; docs/power.md) and `mJ/call` that power times the latency: a model "
        "calibrated on published estimates and measurements, not a measurement (README, "
        "\"How far to trust the numbers\"); `n/a` where the board file has no `power:` section.",
        "",
        "Each export folder holds the HLS sources (`dse_config.h`, `kernel.cpp`, `vector.cpp`), "
        "the host program (`host.cpp`, `schedule.txt`), the v++ configs (`hls_config.cfg`, "
        "`link.cfg`), `schedule.json`, `design.json`, `model.json` and `platform.json`; "
        "`dse csim <folder>` checks it against numpy; docs/vitis.md says how to take it into "
        "Vitis.",
        "",
    ]
    atomic_write_text(args.out, "\n".join(text))
    print(f"wrote {args.out}")
    return 0
