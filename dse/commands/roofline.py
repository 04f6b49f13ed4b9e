"""dse roofline: the seed's roofline table (reproduced) and the corrected kernel list."""

from __future__ import annotations

import argparse
from pathlib import Path

from dse.config import load_config, load_validated
from dse.errors import UserError
from dse.roofline import SEED_FILE, platform_peaks, roofline_tables
from dse.store import check_output, write_table

HELP = "roofline table (seed + corrected kernels) as Parquet, and roofline plots beside it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="run configuration (configs/config.yaml)")
    p.add_argument(
        "--out", required=True, help="Parquet output, e.g. results/roofline/kernels.parquet"
    )
    p.add_argument(
        "--seed-constants",
        default=str(SEED_FILE),
        help="the seed notebook's constants (default: configs/seed_roofline.yaml)",
    )
    p.add_argument("--no-plots", action="store_true", help="write the table only")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    check_output(args.out)
    seed = load_validated(args.seed_constants, "seed_roofline")
    for key in ("peaks_ops", "precision_bytes"):
        if seed["table_precision"] not in seed[key]:
            raise UserError(
                "table_precision has no entry",
                file=args.seed_constants,
                key=f"{key}.{seed['table_precision']}",
                allowed="an entry for table_precision (" + seed["table_precision"] + ")",
            )
    df = roofline_tables(cfg.workload, cfg.platform, seed)
    out = Path(args.out)
    write_table(
        df,
        out,
        metadata={
            "config_hash": cfg.hash,
            "platform": cfg.platform.name,
            "model": cfg.workload.name,
        },
    )
    if not args.no_plots:
        from dse.commands.plot import memory_walls
        from dse.plots import plot_roofline

        s = df[df["table"] == "seed"]
        plot_roofline(
            s,
            {k: float(v) for k, v in seed["peaks_ops"].items()},
            float(seed["bw_real_bytes_per_s"]),
            out.with_name("roofline_seed.png"),
            title="Seed notebook roofline (INT8, seed constants)",
            precision="INT8",
            bandwidth_label="memory wall, seed's BW_REAL (realistic)",
        )
        c = df[(df["table"] == "corrected") & (df["precision"] == "INT8")]
        c = c[c["epilogue_of"] == ""]
        peaks = platform_peaks(cfg.platform)  # the peaks a design dse builds can reach
        plot_roofline(
            c,
            peaks,
            float(c["bw_bytes_per_s"].iloc[0]),
            out.with_name("roofline.png"),
            title=f"{cfg.workload.name} on {cfg.platform.name}: every kernel (INT8, "
            f"peaks derived at {cfg.platform.default_mhz:g} MHz)",
            precision="INT8",
            **memory_walls(cfg.platform),
        )
    print(f"wrote {out} ({len(df)} rows)")
    return 0
