"""``dse export``: write the HLS build inputs of every selected design to ``<out>/<design_id>/``."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from dse.errors import UserError

HELP = "export selected designs as HLS build inputs (header, kernel, Vitis configs, design.json)"

#: Design ids become folder names: letters, digits, '.', '_' and '-' only.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="run config YAML (names the platform)")
    parser.add_argument(
        "--in",
        dest="inp",
        required=True,
        type=Path,
        help="Parquet file of selected designs (one row per design)",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output folder; each design goes to <out>/<design_id>/",
    )


def run(args: argparse.Namespace) -> int:
    from dse.config import load_config
    from dse.store import check_output, read_table

    check_output(args.out, folder=True)
    platform = load_config(args.config).platform_raw
    rows = read_table(args.inp).to_dict("records")
    index = export_rows(rows, platform, args.out, source=str(args.inp))
    print(f"exported {len(index['designs'])} design(s) to {args.out}")
    return 0


def export_rows(
    rows: list[dict[str, Any]], platform: dict[str, Any], out: Path, *, source: str = "<rows>"
) -> dict[str, Any]:
    """Export each row to ``out/<design_id>/`` and write ``out/index.json``.

    A design listed twice (e.g. both knee and fastest) is exported once.

    Returns:
        The index: ``{"designs": [{"design_id", "path", "files", "selection"?}]}``, paths relative
        to ``out``.
    """
    from dse.export import check_design, export_design
    from dse.store import atomic_write_text

    designs: dict[str, dict[str, Any]] = {}
    for row in rows:  # check every design first so a bad row leaves nothing behind
        design_id = row.get("design_id")
        if design_id is None or not _SAFE_ID.match(str(design_id)):
            raise UserError(
                "design_id cannot name a folder",
                file=source,
                key="design_id",
                value=design_id,
                allowed="letters, digits, '.', '_', '-'",
            )
        if str(design_id) not in designs:
            check_design(row, platform)
            designs[str(design_id)] = row

    entries: list[dict[str, Any]] = []
    for design_id, row in designs.items():
        files = export_design(row, platform, out / design_id)
        entry = {
            "design_id": design_id,
            "path": design_id,
            "files": [f.relative_to(out).as_posix() for f in files],
        }
        if isinstance(row.get("selection"), str):  # why `dse select` chose it (knee, fastest...)
            entry["selection"] = row["selection"]
        entries.append(entry)
    index = {"designs": entries}
    atomic_write_text(out / "index.json", json.dumps(index, indent=2, sort_keys=True) + "\n")
    return index
