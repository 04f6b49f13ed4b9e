"""``dse pareto``: the feasible Pareto front of sweep shards and search results."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dse import store
from dse.pareto import front, front_mask, objectives_from

HELP = "Pareto front (feasible, non-dominated designs) of result Parquet files."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``--config``, ``--in`` and ``--out``."""
    parser.add_argument("--config", required=True, help="main config YAML")
    parser.add_argument(
        "--in",
        dest="inputs",
        nargs="+",
        required=True,
        metavar="FILE",
        help="result Parquet files (sweep shards, search workers)",
    )
    parser.add_argument("--out", required=True, help="front Parquet file to write")


def load_raw(path: str) -> Mapping[str, Any]:
    """The validated main config dictionary (imported lazily: the CLI builds without it)."""
    from dse.config import load_config

    return load_config(path).raw


def shared_metadata(paths: Sequence[str]) -> dict[str, Any]:
    """Metadata entries that every input file agrees on (config hash, platform, model, ...)."""
    metas = [store.read_metadata(p) for p in paths]
    if not metas:
        return {}
    first = metas[0]
    return {k: v for k, v in first.items() if all(m.get(k, object()) == v for m in metas[1:])}


def _count_feasible(designs: pd.DataFrame) -> int:
    if "feasible" not in designs.columns:
        return len(designs)
    return int(designs["feasible"].to_numpy(dtype=bool, na_value=False).sum())


def front_of_files(
    paths: Sequence[str], objectives: Sequence[tuple[str, str]]
) -> tuple[pd.DataFrame, int, int]:
    """The front of several result files, reading whole rows only for the front's designs.

    The objectives, ``design_id`` and ``feasible`` of every row decide the front (a few columns
    of millions of rows); the front's rows are then read whole from their files.

    Returns:
        ``(front, designs read, feasible designs)``.
    """
    wanted = ["design_id", "feasible", *(name for name, _ in objectives)]
    slim, sizes = [], []
    for p in paths:
        names = store.column_names(p)
        part = store.read_table(p, columns=[c for c in wanted if c in names])
        slim.append(part)
        sizes.append(len(part))
    designs = pd.concat(slim, ignore_index=True) if slim else pd.DataFrame()
    mask = front_mask(designs, objectives)
    pieces, start = [], 0
    for p, n in zip(paths, sizes, strict=True):
        rows = np.flatnonzero(mask[start : start + n])
        if rows.size:
            pieces.append(store.read_rows(p, rows))
        start += n
    rows = pd.concat(pieces, ignore_index=True) if pieces else designs.iloc[:0]
    return front(rows, objectives), len(designs), _count_feasible(designs)


def run(args: argparse.Namespace) -> int:
    """Read every input, keep the front, write it with counts in the metadata."""
    store.check_output(args.out)
    objectives = objectives_from(load_raw(args.config))
    result, n_read, feasible = front_of_files(args.inputs, objectives)
    metadata = shared_metadata(args.inputs) | {
        "objectives": [{"name": n, "direction": d} for n, d in objectives],
        "designs_read": n_read,
        "designs_feasible": feasible,
        "front_size": len(result),
        "inputs": len(args.inputs),
    }
    store.write_table(result, args.out, metadata=metadata)
    print(
        f"front: {len(result)} designs of {n_read} read ({feasible} feasible) -> {args.out}"
    )
    return 0
