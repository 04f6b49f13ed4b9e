"""dse calibrate: predict published designs with the model; table, report and plot."""

from __future__ import annotations

import argparse
from pathlib import Path

from dse.calibration import calibration_table, load_designs, markdown, summarise
from dse.commands.plot import check_arguments
from dse.store import atomic_write_text, write_table

HELP = (
    "predict published designs (configs/calibration/designs.yaml) with the model: "
    "table of published, predicted and error, and a predicted-vs-published plot"
)

#: Files written into --out.
OUTPUTS = ("calibration.parquet", "calibration.csv", "calibration.md", "calibration.png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--designs",
        required=True,
        help="published designs YAML (configs/calibration/designs.yaml)",
    )
    p.add_argument("--dpi", type=int, default=None, help="PNG resolution (default 150)")
    p.add_argument(
        "--out", required=True, help="output folder (calibration.parquet, .csv, .md, .png)"
    )


def run(args: argparse.Namespace) -> int:
    from dse import MODEL_VERSION, plots
    from dse.plots.calibration import plot_calibration

    check_arguments(args)  # the same --dpi range and output folder as dse plot
    designs = load_designs(args.designs)
    table = calibration_table(designs)
    summary = summarise(table)
    out = Path(args.out)
    write_table(
        table,
        out / "calibration.parquet",
        metadata={
            "designs_file": str(args.designs),
            "model_version": MODEL_VERSION,
            "median_abs_error_pct": summary.median_abs_error_pct,
            "worst_abs_error_pct": summary.worst_abs_error_pct,
        },
    )
    atomic_write_text(out / "calibration.csv", table.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(out / "calibration.md", markdown(table, summary))
    dpi, plots.DPI = plots.DPI, args.dpi or plots.DPI
    try:
        plot_calibration(
            table,
            out / "calibration.png",
            title=f"Model (version {MODEL_VERSION}) against {summary.predicted} published "
            f"designs: median |error| {summary.median_abs_error_pct:.1f}%",
        )
    finally:
        plots.DPI = dpi  # the resolution is this call's, not the process's
    print(
        f"wrote {out}/{{{','.join(OUTPUTS)}}}: {summary.designs} designs, "
        f"{summary.predicted} predicted, median |error| {summary.median_abs_error_pct:.1f}%, "
        f"worst {summary.worst_abs_error_pct:.1f}% ({summary.worst_design})"
    )
    return 0
