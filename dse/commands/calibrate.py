"""dse calibrate: predict published designs with the model; table, report and plot.

With ``--reports DIR`` it reads a user's build reports instead (dse.reports: csynth.xml,
report_utilization, report_timing_summary, measured latencies), adds them to the published
builds of ``--designs`` when given, and hands both to the refit (``dse.fit.refit_reports``)
when that exists; until then it prints what it read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from dse.builds import Builds, load_builds
from dse.calibration import calibration_table, load_designs, markdown, summarise
from dse.commands.plot import check_arguments
from dse.config import load_validated
from dse.errors import UserError
from dse.reports import ACCEPTED, LATENCY_HELP, POWER_LOG_HELP, read_reports
from dse.store import atomic_write_text, check_output, write_table

HELP = (
    "predict published designs (configs/calibration/designs.yaml) with the model: "
    "table of published, predicted and error, and a predicted-vs-published plot"
)

#: Files written into --out.
OUTPUTS = ("calibration.parquet", "calibration.csv", "calibration.md", "calibration.png",
           "resources.csv", "as_built.csv", "power.csv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--designs",
        help="published designs YAML (configs/calibration/designs.yaml); required unless "
        "--reports is given",
    )
    p.add_argument(
        "--reports",
        metavar="DIR",
        help="a folder of your build reports (one folder per design, with the design.json of "
        f"dse export): {ACCEPTED}. Latency CSV: {LATENCY_HELP}. Power log: {POWER_LOG_HELP}",
    )
    p.add_argument(
        "--folds",
        type=int,
        default=0,
        help="held-out error by k folds of the builds (default 0: leave one design out)",
    )
    p.add_argument(
        "--no-fit",
        action="store_true",
        help="predict the published designs with the shipped constants only: no refit, no "
        "held-out error (resources.csv and as_built.csv list no rows)",
    )
    p.add_argument(
        "--power",
        metavar="FILE",
        help="published power figures (default: power.yaml beside --designs when it exists; "
        "docs/power.md): power.csv and the power section of calibration.md",
    )
    p.add_argument("--dpi", type=int, default=None, help="PNG resolution (default 150)")
    p.add_argument(
        "--out",
        help="output folder (calibration.parquet, .csv, .md, .png); with --reports optional "
        "(reports.csv: every figure read)",
    )


def _portable(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies inside it (the workflow passes an
    absolute path: two clones of the project then write byte-identical tables), else as given."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def run(args: argparse.Namespace) -> int:
    from dse import MODEL_VERSION, plots
    from dse.plots.calibration import plot_calibration

    if args.reports is not None:
        return run_reports(args)
    for key in ("designs", "out"):
        if getattr(args, key) is None:
            raise UserError("missing argument", key=f"--{key}",
                            allowed="--designs FILE --out DIR, or --reports DIR")
    check_arguments(args)  # the same --dpi range and output folder as dse plot
    if args.folds < 0:
        raise UserError("must be 0 (leave one out) or a number of folds", key="--folds",
                        value=args.folds)
    if getattr(args, "power", None) is not None:  # a bad figures file fails before the fit
        from dse.powerfile import load_power

        load_power(args.power)
    designs = load_designs(args.designs)
    table = calibration_table(designs)
    summary = summarise(table)
    out = Path(args.out)
    built: pd.DataFrame | None = None  # the as-built check (none without a refit)
    if getattr(args, "no_fit", False):
        fitted = skip_fit(out)
    else:
        fitted, built = fit_builds(load_builds(args.designs), out, folds=args.folds,
                                   dataset=Path(args.designs).name)
    write_table(
        table,
        out / "calibration.parquet",
        metadata={
            "designs_file": _portable(args.designs),
            "model_version": MODEL_VERSION,
            "median_abs_error_pct": summary.median_abs_error_pct,
            "worst_abs_error_pct": summary.worst_abs_error_pct,
        },
    )
    atomic_write_text(out / "calibration.csv", table.to_csv(index=False, float_format="%.6g"))
    power = power_section(args, out)
    atomic_write_text(out / "calibration.md", markdown(table, summary, built) + fitted + power)
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


def power_section(args: argparse.Namespace, out: Path) -> str:
    """power.csv (every power check, dse.powercal) and its calibration.md section; without a
    power figures file, a header-only power.csv and no section."""
    from dse.powercal import POWER_CSV_COLUMNS, markdown, power_table

    path = getattr(args, "power", None)
    if path is None:
        beside = Path(args.designs).parent / "power.yaml"
        path = beside if beside.is_file() else None
    out.mkdir(parents=True, exist_ok=True)
    if path is None:
        atomic_write_text(out / "power.csv", ",".join(POWER_CSV_COLUMNS) + "\n")
        return ""
    table = power_table(path)
    atomic_write_text(out / "power.csv", table.to_csv(index=False, float_format="%.6g"))
    return markdown(table)


def skip_fit(out: Path) -> str:
    """resources.csv and as_built.csv without rows, and the Markdown line saying why
    (``--no-fit``; the workflow's ``calibration.fit: false``)."""
    from dse.fit import rows_csv

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "resources.csv", rows_csv(_no_rows()))
    atomic_write_text(out / "as_built.csv", "design,clock_mhz,fmax_mhz,feasible,violations\n")
    return ("\n## Fitted to real builds\n\nNot refitted in this run (`--no-fit`; the workflow's "
            "`calibration.fit: false`): the boards' shipped constants were fitted by "
            "`dse calibrate` (docs/calibration.md).\n")


def fit_builds(builds: Builds, out: Path, *, folds: int,
               dataset: str) -> tuple[str, pd.DataFrame | None]:
    """Fit the model's constants to the build figures, write resources.csv (published,
    predicted, error per design and quantity, fitted and held out), as_built.csv (each build at
    its published clock and resources under the fitted model) and a calibrated copy of every
    board (``platforms/<name>.yaml``); return the Markdown section for calibration.md and the
    as-built table (no rows when the file has no build figures)."""
    from dse.fit import Calibration, calibrated_platform, format_table, held_out_table, rows_csv

    if builds.figures.empty:
        atomic_write_text(out / "resources.csv", rows_csv(_no_rows()))
        atomic_write_text(out / "as_built.csv", "design,clock_mhz,fmax_mhz,feasible,violations\n")
        return ("\n## Fitted to real builds\n\nThe designs file has no build figures to fit.\n",
                pd.DataFrame(columns=["design", "feasible", "violations"]))
    cal = Calibration(builds.figures, builds.designs)
    fit, rows = cal.cross_validate(folds)
    atomic_write_text(out / "resources.csv", rows_csv(rows))
    built = cal.as_built_table(fit)
    atomic_write_text(out / "as_built.csv", built.to_csv(index=False, float_format="%.6g"))
    (out / "platforms").mkdir(exist_ok=True)
    # the constants are the fabric's (UltraScale+ HLS), not one board's: every board file
    # beside the ones the builds use gets them
    boards = {Path(b).resolve() for b in cal.ev.raws}
    boards |= {p.resolve() for b in list(boards) for p in b.parent.glob("*.yaml")}
    for board in sorted(boards):
        raw = load_validated(board, "platform")
        atomic_write_text(out / "platforms" / board.name,
                          calibrated_platform(str(board), raw, cal, fit, rows, dataset=dataset))
    table = held_out_table(rows)
    how = "leave one design out" if folds == 0 else f"{folds} folds of the designs"
    bad = built[~built["feasible"].astype(bool)]
    lines = [
        "",
        "## Fitted to real builds: held-out error per quantity",
        "",
        f"{len(cal.designs)} builds in the model's parameters and {len(cal.clock_only.obs)} "
        f"more that test the clock model only; held out: {how} (each design's figures "
        "predicted by constants fitted without it). Error = (predicted - published) / published; "
        "a clock a build met is a lower bound on fmax.",
        "",
        format_table(table),
        "",
        "Built designs at their published clock with their published resources: "
        + (f"{len(bad)} of {len(built)} infeasible under the fitted model ("
           + "; ".join(f"{r.design}: {r.violations}" for r in bad.itertuples()) + ")"
           if len(bad) else f"all {len(built)} feasible under the fitted model"),
        "",
        *_unmodelled_lines(cal.unmodelled),
        "Fitted constants (calibrated copies of the boards in platforms/):",
        "",
        *[f"- `{k}` = {v:.4g}" for k, v in sorted(fit.constants.items())],
        "",
    ]
    return "\n".join(lines), built


def _unmodelled_lines(rows: pd.DataFrame) -> list[str]:
    """The figures kept out of the fit (designs.yaml ``unmodelled``), grouped by reason."""
    if rows.empty:
        return []
    lines = [f"Figures kept out of the fit and the held-out error ({len(rows)}; designs file "
             "`unmodelled`):", ""]
    for (q, reason), g in rows.groupby(["quantity", "reason"], sort=True):
        lines.append(f"- {q} of {', '.join(g['design'])}: {reason}")
    return [*lines, ""]


def _no_rows() -> pd.DataFrame:
    from dse.fit import RESOURCE_CSV_COLUMNS

    return pd.DataFrame(columns=list(RESOURCE_CSV_COLUMNS))


def merge(a: Builds, b: Builds) -> Builds:
    """Two sets of build figures as one; a design named in both is an error."""
    both = sorted(set(a.designs.get("design", [])) & set(b.designs.get("design", [])))
    if both:
        raise UserError("design named both in --reports and in --designs", value=both[0],
                        allowed="distinct design names (rename the report folder)")
    return Builds(
        figures=pd.concat([a.figures, b.figures], ignore_index=True),
        designs=pd.concat([a.designs, b.designs], ignore_index=True),
        design_params={**a.design_params, **b.design_params},
    )


def describe(builds: Builds) -> str:
    """What was read, one line per design and figure (for the console)."""
    lines = []
    f = builds.figures
    for d in builds.designs.itertuples(index=False):  # a handful of designs
        state = "expressible" if d.expressible else f"not expressible: {d.missing}"
        rows = f[f["design"] == d.design]
        lines.append(f"{d.design}: {len(rows)} figures ({state})")
        for r in rows.itertuples(index=False):
            slr = f" {r.slr}" if r.slr else ""
            timed = f" per {r.timed}" if r.timed else ""
            lines.append(
                f"  {r.quantity}{slr} = {r.published:.6g}{timed} [{r.stage}, {r.scope}] {r.where}"
            )
    return "\n".join(lines)


def run_reports(args: argparse.Namespace) -> int:
    """``dse calibrate --reports DIR [--designs FILE] [--out DIR]``."""
    out = check_output(args.out, folder=True) if args.out is not None else None
    read = read_reports(args.reports)
    builds = read.builds()
    if args.designs is not None:
        builds = merge(builds, load_builds(args.designs))
    from dse.fit import refit_reports

    if args.folds < 0:
        raise UserError("must be 0 (leave one out) or a number of folds", key="--folds",
                        value=args.folds)
    if out is not None:  # every figure read, as read
        atomic_write_text(out / "reports.csv", read.figures.to_csv(index=False,
                                                                   float_format="%.6g"))
    print(
        f"read {len(read.files)} report files, {len(read.figures)} figures of "
        f"{len(read.designs)} designs"
        + (
            f" (+ {len(builds.designs) - len(read.designs)} published builds from {args.designs})"
            if args.designs is not None
            else ""
        )
        + (f"; wrote {out}/reports.csv" if out is not None else "")
    )
    from dse.powercal import report_lines

    for line in report_lines(read.builds()):  # power figures, beside the model where it can
        print(line)
    # the refit: the user's builds (with the published ones of --designs) -> calibrated copies
    # of the boards and the new held-out error
    print(refit_reports(builds, out=out, **({"folds": args.folds} if args.folds else {})))
    return 0
