"""dse plot: the Pareto front over the cloud, per-kernel breakdown, roofline with the selected
designs, resources per SLR, the HBM channel allocation, energy against latency and the selected
designs' board power by part, as PNG files."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from dse.allocation import channel_allocation
from dse.config import load_config, subschema
from dse.errors import UserError
from dse.model import BOUNDS, Model
from dse.params import PARAM_NAMES, PRECISIONS
from dse.platform import RESOURCES, Platform
from dse.plots.breakdown import kernel_classes  # noqa: F401 (also dse.commands.plot's)
from dse.results import batch_from_frame
from dse.roofline import platform_peaks
from dse.store import check_output, read_table, read_tables, require_columns

HELP = "draw the Pareto, breakdown, roofline, resource and HBM plots for the selected designs"

CLOUD_COLUMNS = ["design_id", "feasible", "latency_ms", "utilization", "weight_precision",
                 "energy_mj"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="run configuration (configs/config.yaml)")
    p.add_argument("--cloud", nargs="+", required=True, help="all results (sweep shards, search)")
    p.add_argument("--front", required=True, help="Pareto front Parquet")
    p.add_argument("--selected", required=True, help="selected designs Parquet")
    p.add_argument("--roofline", required=True, help="roofline kernel table Parquet")
    p.add_argument(
        "--dpi", type=int, default=None, help="PNG resolution (default: config plots.dpi)"
    )
    p.add_argument("--out", required=True, help="output folder")


#: Columns of the roofline table this command reads (written by ``dse roofline``).
ROOFLINE_COLUMNS = (
    "table",
    "kind",
    "kernel",
    "precision",
    "epilogue_of",
    "flops",
    "flops_per_image",
    "oi",
    "bw_bytes_per_s",
)


#: Columns of the front and the selected designs this command reads.
FRONT_COLUMNS = ("design_id", "latency_ms", "utilization")
SELECTED_COLUMNS = (*FRONT_COLUMNS, "selection", *PARAM_NAMES)


def check_arguments(args: argparse.Namespace) -> None:
    """Argument values the parser cannot check: the resolution and the output folder."""
    lo, hi = (subschema("config", ("plots", "dpi"))[k] for k in ("minimum", "maximum"))
    if args.dpi is not None and not lo <= args.dpi <= hi:
        raise UserError(
            "resolution out of range", key="--dpi", value=args.dpi, allowed=f"an integer {lo}..{hi}"
        )
    check_output(args.out, folder=True)


def detail_frames(model: Model, selected: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-kernel breakdown and per-SLR resources of the selected designs (model detail)."""
    res = model.evaluate(batch_from_frame(selected), detail=True)
    # per call: an image's kernels run once per round of images on the CUs
    cams = model.workload.cameras
    cu = selected["compute_units"].to_numpy()
    rounds = -(-cams // np.minimum(cu, cams))
    kernel_ms = res.kernel_ms * rounds[:, None]
    ids = selected["design_id"].astype(str).to_numpy()
    n, k = kernel_ms.shape
    breakdown = pd.DataFrame(
        {
            "design_id": np.repeat(ids, k),
            "kernel": np.tile(np.array(res.kernel_names, dtype=object), n),
            "time_ms": kernel_ms.reshape(-1),
            "bound": np.array(BOUNDS, dtype=object)[res.kernel_bound.reshape(-1)],
        }
    )
    breakdown["kernel_class"] = breakdown["kernel"].map(kernel_classes(model.workload))
    breakdown = breakdown[breakdown["time_ms"] > 0].reset_index(drop=True)
    P = model.platform
    s, r = len(P.slr_names), len(RESOURCES)
    resources = pd.DataFrame(
        {
            "design_id": np.repeat(ids, s * r),
            "slr": np.tile(np.repeat(np.array(P.slr_names, dtype=object), r), n),
            "resource": np.tile(np.array(RESOURCES, dtype=object), n * s),
            # the model's own figures, so used / available is the Parquet's util_* exactly
            "used": res.slr_used.reshape(-1).astype(float),
            "available": np.tile(P.slr_available.reshape(-1), n),
        }
    )
    return breakdown, resources


def memory_walls(platform: Platform) -> dict:
    """The roofline's wall as what it is, achievable (measured per-channel rate over the ports a
    kernel can drive, dse.roofline.platform_bandwidth), with the data-sheet peak beside it."""
    mem = platform.memory
    ports = min(mem.max_ports, mem.usable_channels)
    return {
        "bandwidth_label": f"memory wall, achievable ({ports} {mem.tag} ports at the measured "
        "channel rate)",
        "theoretical_bytes_per_s": mem.theoretical_gbps * 1e9,
    }


def design_points(
    roofline: pd.DataFrame, breakdown: pd.DataFrame, selected: pd.DataFrame, cameras: int
) -> pd.DataFrame:
    """Achieved performance of each selected design's GEMM kernels, at their ideal OI."""
    rows = []
    corr = roofline[(roofline["table"] == "corrected") & (roofline["kind"] == "gemm")]
    for _, d in selected.iterrows():  # a handful of selected designs, not the sweep
        prec = str(d["weight_precision"])
        kern = corr[corr["precision"] == prec].set_index("kernel")
        b = breakdown[(breakdown["design_id"] == d["design_id"])].set_index("kernel")
        for name in kern.index.intersection(b.index):
            t = b.loc[name, "time_ms"] / 1e3  # per policy call
            rows.append(
                {
                    "label": name,
                    "design_id": d["design_id"],
                    "oi": kern.loc[name, "oi"],
                    "achieved_ops": kern.loc[name, "flops_per_image"] * cameras / t,
                }
            )
    return pd.DataFrame(rows, columns=["label", "design_id", "oi", "achieved_ops"])


def breakdown_labels(selected: pd.DataFrame) -> dict[str, str]:
    """design_id -> ``<why>: <what it is>`` over the id (dse.labels), for the breakdown's rows."""
    from dse.labels import design_label

    out: dict[str, str] = {}
    for r in selected.to_dict("records"):  # a handful of selected designs
        out.setdefault(str(r["design_id"]),
                       f"{r['selection']}: {design_label(r)}\n{r['design_id']}")
    return out


def budget_and_tier(cfg, selected_file: str) -> tuple[float | None, float | None]:
    """The latency budget and the quality tier's bound as ``dse select`` applied them (its
    output's metadata), else as the config gives them; no tier when quality is no objective."""
    from dse.select import latency_budget, tier_bound
    from dse.store import read_metadata

    meta = read_metadata(selected_file)
    budget = meta.get("budget")
    if isinstance(budget, dict) and "budget_ms" in budget:
        budget_ms = budget["budget_ms"]
    else:
        budget_ms, _ = latency_budget(cfg.raw.get("select") or {}, cfg.workload.name)
    if "quality_loss" not in [name for name, _ in cfg.objectives]:
        return budget_ms, None
    quality_max = meta.get("quality_max")
    if not isinstance(quality_max, (int, float)):
        quality_max = tier_bound(cfg)
    return budget_ms, float(quality_max)


def run(args: argparse.Namespace) -> int:
    from dse import plots

    check_arguments(args)
    cfg = load_config(args.config)
    roof = read_table(args.roofline)
    require_columns(
        roof, ROOFLINE_COLUMNS, file=args.roofline, key="--roofline", writer="dse roofline"
    )
    corrected = roof[(roof["table"] == "corrected") & (roof["flops"] > 0)]
    for p in PRECISIONS:
        if not (corrected["precision"] == p).any():
            raise UserError(
                f"table has no corrected {p} kernels",
                file=args.roofline,
                key="--roofline",
                allowed="a table written by dse roofline (every precision)",
            )
    cloud = read_tables(args.cloud, columns=CLOUD_COLUMNS, key="--cloud")
    front = read_table(args.front)
    require_columns(front, FRONT_COLUMNS, file=args.front, key="--front", writer="dse pareto")
    selected = read_table(args.selected)
    require_columns(
        selected, SELECTED_COLUMNS, file=args.selected, key="--selected", writer="dse select"
    )
    plots.DPI = args.dpi or cfg.raw.get("plots", {}).get("dpi", plots.DPI)
    out = Path(args.out)
    model = Model(cfg.platform, cfg.workload)
    cloud = cloud[cloud["feasible"]]
    budget_ms, quality_max = budget_and_tier(cfg, args.selected)
    objectives_text = ", ".join(name for name, _ in cfg.objectives)
    written = [
        plots.plot_pareto(
            cloud,
            front,
            selected,
            out / "pareto.png",
            title=f"{len(cloud):,} feasible designs and the Pareto front over {objectives_text}",
            front_line={name for name, _ in cfg.objectives} == {"latency_ms", "utilization"},
            budget_ms=budget_ms,
            quality_max=quality_max,
            quality_reference=str((cfg.raw.get("select") or {}).get("quality_reference", "INT8")),
        )
    ]
    breakdown, resources = detail_frames(model, selected)
    written.append(
        plots.plot_breakdown(breakdown, out / "breakdown.png", labels=breakdown_labels(selected))
    )
    written.append(plots.plot_resources(resources, out / "resources.png"))
    mem = cfg.platform.memory
    alloc = {
        str(d["design_id"]): channel_allocation(
            d,
            pseudo_channels=mem.channels,
            channel_slrs=mem.channel_slrs,
            cu_slr_order=cfg.platform.cu_slr_order,
            tag=mem.tag,
        )
        for d in selected.to_dict("records")
    }
    written.append(plots.plot_hbm(alloc, out / "hbm.png", pseudo_channels=mem.channels))
    prec = str(selected["weight_precision"].iloc[0]) if len(selected) else "INT8"
    kernels = roof[
        (roof["table"] == "corrected")
        & (roof["precision"] == prec)
        & (roof["epilogue_of"] == "")
        & (roof["flops"] > 0)
    ]
    peaks = platform_peaks(cfg.platform)  # the peaks a design dse builds can reach
    written.append(
        plots.plot_roofline(
            kernels,
            peaks,
            float(kernels["bw_bytes_per_s"].iloc[0]),
            out / "roofline_designs.png",
            title=f"Selected designs' kernels on the {cfg.platform.name} roofline ({prec})",
            precision=prec,
            points=design_points(roof, breakdown, selected, cfg.workload.cameras),
            **memory_walls(cfg.platform),
        )
    )
    written += energy_plots(cfg, cloud, selected, out, budget_ms)
    for w in written:
        print(f"wrote {w}")
    return 0


def energy_plots(cfg, cloud: pd.DataFrame, selected: pd.DataFrame, out: Path,
                 budget_ms: float | None) -> list[Path]:
    """energy.png (energy per call against latency: the feasible cloud, the same rows as
    pareto.png's, its latency-energy front, the selected designs) and power.png (each selected
    design's board power by part); both say so when the board has no power model (NaN
    energy)."""
    from dse import plots
    from dse.pareto import front_mask
    from dse.plots.energy import plot_power, power_parts

    has = bool(np.isfinite(cloud["energy_mj"]).any()) if len(cloud) else False
    front = cloud[front_mask(cloud, [("latency_ms", "min"), ("energy_mj", "min")])] if has \
        else cloud.iloc[:0]
    sel = selected if "energy_mj" in selected.columns else selected.assign(energy_mj=np.nan)
    return [
        plots.plot_pareto(
            cloud, front, sel, out / "energy.png", y="energy_mj",
            title=(f"Energy per policy call against latency: {len(cloud):,} feasible designs, "
                   f"their front over the two ({len(front)} designs) and the selected ones"
                   if has else f"no board power model for {cfg.platform.name}: no energy"),
            budget_ms=budget_ms,
            log_y=has,
        ),
        plot_power(power_parts(selected, cfg.platform.raw), out / "power.png"),
    ]
