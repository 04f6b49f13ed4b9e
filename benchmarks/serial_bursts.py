"""Serial bursts: what the exported kernel's loaders and store would take if every row burst paid
the memory's whole latency and the rows of a group ran one after the other (docs/kernel.md, "Open:
burst issue in RTL").

The exported kernel (dse/templates/kernel.cpp.in) reads a tile row by row: ``ROWS_A`` (and
load_b's row loops, load_p, store_c's ``ROWS_C``) is a sequential loop whose body calls one
pipelined burst loop (``read_burst`` / ``write_burst``) on the port an ``if (port == j)`` picks.
The C simulation counts each burst as ``bytes / rate + latency / outstanding`` and a group of rows
as the slowest port's sum (all ports at once), as the model does (dse/model.py ``_tiled_row_s``,
``lat_r = read_latency_ns / outstanding``). The hypothesis measured here: in RTL a burst loop
issues its request when the loop starts, so the bursts of a sequential outer loop do not overlap
(each row waits for the full latency), the ports picked inside one sequential loop are used one at
a time, and a pipelined loop re-entered per row pays its pipeline depth each time.

Method: each design is exported (``dse export``) and C-simulated twice with ``dse csim``
(dse.csim.run_csim), once as exported and once from a patched copy of the sources:

* ``dse_config.h`` ``burst_cycles``: a burst pays ``outstanding x (latency / outstanding)`` (the
  exported per-burst latency times the platform's ``outstanding``: the whole read or write
  latency, SLR crossings included) for its first 4 KB AXI burst and ``latency / outstanding`` for
  each further one (those are issued by one pipelined loop and overlap), plus ``--extra-ns``;
* ``kernel.cpp``: a group's rows add over the ports (``+=`` where the C-sim took ``dmax``);
  store_c's rows add their residual read, their epilogue (``ceil(n / lanes)`` steps plus
  ``--epi-depth`` cycles of pipeline depth per row: an assumption, see below) and their write.

Not counted (so the serial figures are lower bounds under the hypothesis): the pipeline depth of
the other loops re-entered per group (WORDS_A, WORDS_B, BLOCKS_C, the zero-padding loops), and
write_burst's read of a partly covered word (a read and a write of the same port in one loop).

``--epi-depth`` (default 40 cycles, assumption): the iteration latency of the EPILOGUE loop body
(float multiply, add, tanh-based GELU, dequantise-add, divide-and-round quantise) at 250-300 MHz;
``--epi-depth 0`` isolates the bursts' share.

Prints JSON: per design its id, MODEL_VERSION, per GEMM call the model's cycles for the call's
step (``model_cycles``), the unpatched C-sim's (``csim_cycles``) and the patched one's
(``serial_cycles``) with ``ratio = serial / model``, the per-process cycles of both, and per call
kind (kernel) the median and worst ratio; the whole layer's cycles (GEMM and vector steps).

    python benchmarks/serial_bursts.py --results results --front 5 [--full-size]
    python benchmarks/serial_bursts.py --export results/hls/<id> [--export ...]

Deterministic: the front pick depends only on the front's rows; csim inputs are seeded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: dse_config.h: a burst's cycles under the hypothesis (the replaced line, then its replacement).
BURST_OLD = (
    "const double ns = bytes / MEM_GBPS + bursts * (write ? MEM_WRITE_LAT_NS : MEM_READ_LAT_NS);"
)
BURST_NEW = (
    "const double ns = bytes / MEM_GBPS + (write ? MEM_WRITE_LAT_NS : MEM_READ_LAT_NS) * "
    "(DSE_SERIAL_OUTSTANDING + (bursts - 1)) + DSE_SERIAL_EXTRA_NS;"
)

#: kernel.cpp replacements: (old, new, occurrences expected).
KERNEL_PATCHES = (
    # load_a (one loop over i), load_b transposed and by k rows (loops over i): ports add up
    ("slowest = dmax(slowest, group_cyc[j]);", "slowest += group_cyc[j];", 1),
    ("slowest = dmax(slowest, group_cyc[i]);", "slowest += group_cyc[i];", 2),
    # store_c: per row its epilogue steps and pipeline depth
    ("    int lanes_used = 0;\n", "    int lanes_used = 0;\n    double serial_epi = 0;\n", 1),
    ("      lanes_used += e.nv;\n",
     "      lanes_used += e.nv;\n"
     "      serial_epi += (e.nv + VECTOR_LANES - 1) / VECTOR_LANES + DSE_SERIAL_EPI_DEPTH;\n", 1),
    ("    double slowest = (lanes_used + VECTOR_LANES - 1) / VECTOR_LANES;\n"
     "    for (int j = 0; j < PORTS_OUTPUTS; ++j) slowest = dmax(slowest, port_cyc[j]);\n"
     "    for (int j = 0; j < PORTS_INPUTS; ++j) slowest = dmax(slowest, res_cyc[j]);\n",
     "    double slowest = serial_epi;\n"
     "    (void)lanes_used;\n"
     "    for (int j = 0; j < PORTS_OUTPUTS; ++j) slowest += port_cyc[j];\n"
     "    for (int j = 0; j < PORTS_INPUTS; ++j) slowest += res_cyc[j];\n", 1),
)  # fmt: skip

#: Per-process fields of a csim.json GEMM call.
PROCESSES = ("load_a_cycles", "load_b_cycles", "load_p_cycles", "compute_cycles", "store_cycles")


def patch_export(
    src: Path, dst: Path, *, outstanding: int, epi_depth: float, extra_ns: float
) -> None:
    """Copy the export folder ``src`` to ``dst`` with the serial-burst cycle counting.

    Raises:
        ValueError: a patched line is not in the sources as often as expected (the templates
            changed: update the patterns).
    """
    shutil.copytree(src, dst)
    for stale in ("csim.json",):
        (dst / stale).unlink(missing_ok=True)
    header = (dst / "dse_config.h").read_text()
    if header.count(BURST_OLD) != 1:
        raise ValueError(f"{src}/dse_config.h: burst_cycles line not found once")
    defines = (
        f"#define DSE_SERIAL_OUTSTANDING {int(outstanding)}  // platform memories.*.outstanding\n"
        f"#define DSE_SERIAL_EPI_DEPTH {float(epi_depth)!r}  // assumption (--epi-depth)\n"
        f"#define DSE_SERIAL_EXTRA_NS {float(extra_ns)!r}  // --extra-ns\n"
    )
    guard = "#define DSE_CONFIG_H\n"
    if header.count(guard) != 1:
        raise ValueError(f"{src}/dse_config.h: include guard not found")
    header = header.replace(guard, guard + defines).replace(BURST_OLD, BURST_NEW)
    (dst / "dse_config.h").write_text(header)
    kernel = (dst / "kernel.cpp").read_text()
    for old, new, n in KERNEL_PATCHES:
        if kernel.count(old) != n:
            raise ValueError(f"{src}/kernel.cpp: {old.strip()[:60]!r} found "
                             f"{kernel.count(old)} times, expected {n}")  # fmt: skip
        kernel = kernel.replace(old, new)
    (dst / "kernel.cpp").write_text(kernel)


def outstanding_of(folder: Path) -> int:
    """The design memory's ``outstanding`` (platform.json of the export)."""
    plat = json.loads((folder / "platform.json").read_text())
    return int(plat["memories"][plat.get("design_memory", "hbm")]["outstanding"])


def csim(folder: Path, full_size: bool) -> dict:
    """``dse csim`` of an export folder (dse.csim.run_csim): the report."""
    from dse.csim import run_csim

    return run_csim(folder, full_size=full_size)


def compare(base: dict, serial: dict) -> dict:
    """Per GEMM call and per kind: the model's cycles against the unpatched and patched C-sim."""
    if base.get("failed_at") or serial.get("failed_at"):
        return {
            "error": {
                "base": base.get("failed_at"),
                "serial": serial.get("failed_at"),
                "messages": (serial.get("messages") or base.get("messages") or [])[-5:],
            }
        }
    calls = []
    for b, s in zip(base["gemm_calls"], serial["gemm_calls"], strict=True):
        if (b["call"], b["kernel"]) != (s["call"], s["kernel"]):
            raise ValueError(f"call {b['call']} {b['kernel']} != {s['call']} {s['kernel']}")
        model = float(b["model_cycles"])
        calls.append({
            "call": b["call"], "step": b["step"], "kernel": b["kernel"], "cu": b["cu"],
            "M": b["M"], "K": b["K"], "N": b["N"],
            "model_cycles": round(model), "csim_cycles": round(float(b["cycles"])),
            "serial_cycles": round(float(s["cycles"])),
            "ratio": round(float(s["cycles"]) / model, 3) if model else None,
            "csim": {p.removesuffix("_cycles"): round(float(b.get(p) or 0)) for p in PROCESSES},
            "serial": {p.removesuffix("_cycles"): round(float(s.get(p) or 0)) for p in PROCESSES},
        })  # fmt: skip
    kinds: dict[str, list[float]] = {}
    for c in calls:
        if c["ratio"] is not None:
            kinds.setdefault(c["kernel"], []).append(c["ratio"])
    per_kind = {k: {"calls": len(v), "median_ratio": round(statistics.median(v), 3),
                    "worst_ratio": round(max(v), 3)} for k, v in kinds.items()}  # fmt: skip
    # the layer: each step its slowest call (GEMM and vector), as `dse csim` counts it
    steps_s: dict[int, float] = {}
    for c in serial["gemm_calls"] + serial.get("vector_calls", []):
        steps_s[int(c["step"])] = max(steps_s.get(int(c["step"]), 0.0), float(c["cycles"]))
    model_layer = float(base["layer"]["model_cycles"])
    serial_layer = sum(steps_s.values())
    gemm_steps = {int(c["step"]) for c in calls}
    return {
        "per_kind": per_kind,
        "layer": {
            "model_cycles": round(model_layer),
            "csim_cycles": round(float(base["layer"]["csim_cycles"])),
            "serial_cycles": round(serial_layer),
            "ratio": round(serial_layer / model_layer, 3),
            "serial_gemm_share": round(
                sum(v for k, v in steps_s.items() if k in gemm_steps) / serial_layer, 3
            ),
        },
        "calls": calls,
    }


def pick_front(front, n: int):
    """``n`` front designs at evenly spaced latency ranks (fastest and slowest included)."""
    rows = front.sort_values(["latency_ms", "design_id"]).reset_index(drop=True)
    if n >= len(rows):
        return rows
    idx = sorted({round(i * (len(rows) - 1) / max(n - 1, 1)) for i in range(n)})
    return rows.loc[idx]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--results",
        type=Path,
        help="a run's results folder: its selected.parquet "
        "and --front designs of pareto/front.parquet, exported with its config.yaml",
    )
    ap.add_argument("--front", type=int, default=5, help="front designs besides the selected")
    ap.add_argument(
        "--export",
        type=Path,
        action="append",
        default=[],
        help="an export folder (results/hls/<id>; repeatable) instead of --results",
    )
    ap.add_argument("--full-size", action="store_true", help="csim at the model's full sizes")
    ap.add_argument(
        "--epi-depth",
        type=float,
        default=40.0,
        help="EPILOGUE pipeline depth per row, cycles (assumption; default 40)",
    )
    ap.add_argument(
        "--extra-ns",
        type=float,
        default=0.0,
        help="added to every burst's latency, ns (e.g. an adapter; default 0)",
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/serial-bursts"))
    ap.add_argument("--brief", action="store_true", help="leave the per-call rows out")
    ap.add_argument(
        "--reuse-base",
        action="store_true",
        help="take the unpatched run from the folder's csim.json (`dse csim` of the "
        "same sizes, seed 0) where there is one",
    )
    args = ap.parse_args(argv)

    from dse import MODEL_VERSION

    t0 = time.perf_counter()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    folders = list(args.export)
    labels = {f.name: "given" for f in folders}
    if args.results is not None:
        import pandas as pd

        sel = pd.read_parquet(args.results / "selected.parquet")
        front = pd.read_parquet(args.results / "pareto" / "front.parquet")
        chosen = pick_front(front, args.front)
        cols = [c for c in sel.columns if c in front.columns]
        both = pd.concat([sel[cols], chosen[cols]]).drop_duplicates("design_id")
        both.to_parquet(args.work / "designs.parquet")
        subprocess.run([sys.executable, "-m", "dse.cli", "export", "--config",
                        str(args.results / "config.yaml"), "--in",
                        str(args.work / "designs.parquet"), "--out", str(args.work / "hls")],
                       check=True, capture_output=True)  # fmt: skip
        for d in both["design_id"].astype(str):
            folders.append(args.work / "hls" / d)
            labels[d] = "selected" if d in set(sel["design_id"].astype(str)) else "front"
    out = []
    for folder in folders:
        serial_dir = args.work / "serial" / folder.name
        serial_dir.parent.mkdir(parents=True, exist_ok=True)
        patch_export(
            folder,
            serial_dir,
            outstanding=outstanding_of(folder),
            epi_depth=args.epi_depth,
            extra_ns=args.extra_ns,
        )
        design = json.loads((folder / "design.json").read_text())
        row = {"design_id": folder.name, "label": labels.get(folder.name, "given"),
               **{k: design.get(k) for k in ("weight_precision", "act_precision", "pe_m", "pe_n",
                                             "pe_k", "tile_m", "tile_n", "tile_k", "dataflow",
                                             "pc_inputs", "pc_weights", "pc_outputs",
                                             "double_buffer", "fuse_attention", "vector_lanes",
                                             "clock_mhz")}}  # fmt: skip
        base = None
        if args.reuse_base and (folder / "csim.json").is_file():
            old = json.loads((folder / "csim.json").read_text())
            if old.get("full_size") == args.full_size and old.get("seed") == 0:
                base = old
        base = base if base is not None else csim(folder, args.full_size)
        row.update(compare(base, csim(serial_dir, args.full_size)))
        if args.brief:
            row.pop("calls", None)
        out.append(row)
    kinds: dict[str, list[float]] = {}
    for r in out:
        for c in r.get("calls", []) if not args.brief else []:
            kinds.setdefault(c["kernel"], []).append(c["ratio"])
        for k, v in r.get("per_kind", {}).items():
            kinds.setdefault(f"worst:{k}", []).append(v["worst_ratio"])
            kinds.setdefault(f"median:{k}", []).append(v["median_ratio"])
    summary = {}
    for k in sorted({k.split(":", 1)[1] for k in kinds if ":" in k}):
        summary[k] = {"median_of_design_medians": round(statistics.median(kinds[f"median:{k}"]), 3),
                      "worst": round(max(kinds[f"worst:{k}"]), 3)}  # fmt: skip
    print(json.dumps({
        "model_version": MODEL_VERSION, "full_size": args.full_size,
        "assumptions": {"epi_depth_cycles": args.epi_depth, "extra_ns": args.extra_ns,
                        "latency": "whole read/write latency per row burst "
                                   "(exported latency/outstanding x outstanding)"},
        "per_kind": summary,
        "layers": {r["design_id"]: r.get("layer") for r in out},
        "designs": out,
        "wall_s": round(time.perf_counter() - t0, 1),
    }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
