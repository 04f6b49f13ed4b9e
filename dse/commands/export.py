"""``dse export``: write the HLS build inputs of every selected design to ``<out>/<design_id>/``."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from dse.errors import UserError

HELP = "export selected designs as HLS build inputs (header, kernel, Vitis configs, design.json)"

#: Design ids become folder names and go into comments of C++ and cfg files: letters, digits,
#: '.', '_' and '-' only, matched to the end of the string (``$`` would accept a final newline).
_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")

#: Files by which an existing design folder is recognised as one that `dse export` wrote.
_DESIGN_MARKERS = ("design.json", "dse_config.h")


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
        "--design-id",
        dest="design_ids",
        action="append",
        metavar="ID",
        default=None,
        help="export only this design of --in (repeatable; e.g. a front design picked in "
        "results/explore.html)",
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
    cfg = load_config(args.config)
    platform = cfg.platform_raw
    table = read_table(args.inp)
    if args.design_ids:
        ids = table["design_id"].astype(str) if "design_id" in table.columns else None
        missing = [i for i in args.design_ids if ids is None or not (ids == i).any()]
        if missing:
            raise UserError(
                "design not in the file",
                file=str(args.inp),
                key="--design-id",
                value=missing[0],
                allowed="a design_id of a row of --in",
            )
        table = table[ids.isin(args.design_ids)]
    rows = table.to_dict("records")
    # the model without a mapper: each row's runtime tiles (the mapper's choice) as costed
    model = cfg.model(mapper=False)
    index = export_rows(
        rows,
        platform,
        args.out,
        source=str(args.inp),
        model=model,
        model_raw=cfg.model_raw,
    )
    print(f"exported {len(index['designs'])} design(s) to {args.out}")
    return 0


def export_rows(
    rows: list[dict[str, Any]],
    platform: dict[str, Any],
    out: Path,
    *,
    source: str = "<rows>",
    model: Any = None,
    model_raw: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export each row to ``out/<design_id>/`` and write ``out/index.json``.

    A design listed twice (e.g. both knee and fastest) is exported once. The whole folder is
    replaced: it is built beside ``out`` in a hidden ``.<name>.*.tmp`` folder and swapped in, so
    ``out`` holds exactly the designs of ``rows`` (none of an earlier selection) and a reader never
    sees a half-written export. With ``model`` (the run's, without a mapper) each folder also
    gets ``schedule.json``. An existing ``out`` must be an earlier export (only ``index.json``
    and design folders) or empty; anything else is refused rather than deleted.

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

    out = Path(out)
    _check_replaceable(out)
    try:  # the new export is built beside out, then swapped in: out's parent must take it
        out.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise UserError(
            f"cannot create a folder beside it ({exc.strerror})",
            key="--out",
            value=str(out),
            allowed="a folder whose parent folder is writable",
        ) from None
    try:
        entries: list[dict[str, Any]] = []
        for design_id, row in designs.items():
            files = export_design(
                row, platform, build / design_id, model=model, model_raw=model_raw
            )
            entry = {
                "design_id": design_id,
                "path": design_id,
                "files": [f.relative_to(build).as_posix() for f in files],
            }
            if isinstance(row.get("selection"), str):  # why `dse select` chose it (knee, ...)
                entry["selection"] = row["selection"]
            entries.append(entry)
        index = {"designs": entries}
        atomic_write_text(build / "index.json", json.dumps(index, indent=2, sort_keys=True) + "\n")
        _swap_in(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return index


def _check_replaceable(out: Path) -> None:
    """Refuse to replace ``out`` unless it is absent, empty or an earlier export."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(
            "--out is not a folder", file=str(out), allowed="a new folder or an earlier export"
        )
    for entry in out.iterdir():
        if entry.name == "index.json" or _is_temporary(entry.name):
            continue  # the index, and temporary files of an interrupted export
        if entry.is_dir() and _SAFE_ID.match(entry.name):
            contents = [p.name for p in entry.iterdir() if not _is_temporary(p.name)]
            hidden = [name for name in contents if name.startswith(".")]
            if not hidden and (not contents or any(m in contents for m in _DESIGN_MARKERS)):
                continue  # a design folder of an earlier export
        raise UserError(
            "--out holds files dse export did not write; they would be replaced",
            file=str(out),
            value=entry.name,
            allowed="a new or empty folder, or an earlier export (index.json and design folders)",
        )


def _is_temporary(name: str) -> bool:
    """A temporary file or folder of an atomic write (``.NAME.*.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


def _swap_in(build: Path, out: Path) -> None:
    """Put the finished folder ``build`` at ``out``, removing the earlier ``out``.

    Two renames: if the process dies between them, ``out`` is missing (its index.json with it,
    so the workflow reruns the export) and hidden ``.<name>.*.tmp`` folders are left, which the
    workflow removes at its next start.
    """
    os.chmod(build, 0o777 & ~_umask())  # mkdtemp creates 0700; give the folder the usual mode
    if not out.exists():
        os.rename(build, out)
        return
    old = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.old.tmp"
    os.rename(out, old)
    try:
        os.rename(build, out)
    except BaseException:
        os.rename(old, out)  # put the earlier export back
        raise
    if old.is_symlink():  # out was a link: remove the link, never what it points to
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
