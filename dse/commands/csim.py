"""``dse csim``: build an exported design's host and kernels with g++ as a C simulation, run one
encoder layer and the connector, and check them against numpy and the model (dse.csim)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = (
    "after export: C-simulate an exported design (g++), one encoder layer and the connector "
    "against numpy, loop counters against the model's cycles"
)

#: The report written into the export folder.
REPORT = "csim.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folder", type=Path, help="an exported design folder (results/hls/<design_id>)"
    )
    parser.add_argument(
        "--layers",
        type=_positive,
        default=1,
        help="encoder layers to run (default 1)",
    )
    parser.add_argument(
        "--full-size",
        action="store_true",
        help="the model's full sizes instead of the reduced ones (slow: minutes)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random weights and inputs (default 0)"
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="build and run in this (new or empty) folder and keep it, to look into a failure "
        "(default: a temporary folder, removed)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="run config naming the model and platform (default: the export's model.json and "
        "platform.json)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def run(args: argparse.Namespace) -> int:
    from dse.csim import format_table, run_csim
    from dse.store import atomic_write_text

    report = run_csim(
        args.folder,
        layers=args.layers,
        full_size=args.full_size,
        seed=args.seed,
        config=args.config,
        work_dir=args.work,
    )
    print(format_table(report))
    atomic_write_text(args.folder / REPORT, json.dumps(report, indent=2) + "\n")
    print(f"{'passed' if report['passed'] else 'FAILED'}; report: {args.folder / REPORT}")
    return 0 if report["passed"] else 1
