"""``dse compare A B [C ...]``: designs side by side (dse.compare), as Markdown, CSV and a PNG.

Each argument is a design id of the default results (``--results``), ``FILE.parquet#ID`` (any
run's result file; its run's ``config.yaml`` is found above it), or an export folder /
``design.json`` (its ``platform.json`` and ``model.json`` beside it), so designs of different
boards or models compare. Every design is re-evaluated by this model.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from dse.errors import UserError

HELP = "compare designs side by side: parameters, per-kernel time, resources per SLR, what binds"

#: Where a bare design id is looked up, in order (a run's front first: quick to read).
DEFAULT_RESULTS = ("results/selected.parquet", "results/pareto/front.parquet")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "designs",
        nargs="+",
        metavar="DESIGN",
        help="a design id, FILE.parquet#ID, or an export folder / design.json (two or more)",
    )
    p.add_argument(
        "--config",
        default=None,
        help="run config for bare ids and FILE#ID (default: the config.yaml above the file)",
    )
    p.add_argument(
        "--results",
        nargs="+",
        default=None,
        help="result files searched for bare ids (default: results/selected.parquet, "
        "results/pareto/front.parquet, then the sweep and search shards)",
    )
    p.add_argument("--csv", default=None, help="also write the table as CSV to this file")
    p.add_argument("--plot", default=None, help="also draw the designs side by side (PNG)")
    p.add_argument("--out", default=None, help="write the Markdown here instead of stdout")


def run(args: argparse.Namespace) -> int:
    from dse import compare
    from dse.labels import design_label
    from dse.store import atomic_write_text, check_output

    if len(args.designs) < 2:
        raise UserError("needs two or more designs", key="DESIGN", value=" ".join(args.designs),
                        allowed="two or more design ids, FILE.parquet#ID or export folders")
    for key in ("csv", "plot", "out"):
        if getattr(args, key):
            check_output(getattr(args, key), key=f"--{key}")
    results = args.results
    if results is None:
        results = [*DEFAULT_RESULTS, *sorted(glob.glob("results/sweep/shard-*.parquet")),
                   *sorted(glob.glob("results/search/*.parquet"))]
    designs = [compare.resolve(a, config=args.config, results=results) for a in args.designs]
    rows, breakdown, resources = compare.evaluate(designs)
    table = compare.comparison_table(designs, rows, breakdown, resources)
    text = compare.markdown(table)
    if args.out:
        atomic_write_text(Path(args.out), text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    if args.csv:
        atomic_write_text(Path(args.csv), table.to_csv(index=False))
        print(f"wrote {args.csv}", file=sys.stderr if not args.out else sys.stdout)
    if args.plot:
        from dse.plots.compare import plot_compare

        names = [f"{i + 1}: {design_label(r)}\n{r['design_id']} ({r['board']}, {r['model']})"
                 for i, r in enumerate(rows.to_dict("records"))]
        plot_compare(breakdown, resources, names, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr if not args.out else sys.stdout)
    return 0
