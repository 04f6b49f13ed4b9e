"""dse sweep: evaluate one shard of the coarse grid and write it as Parquet."""

from __future__ import annotations

import argparse
import time

import numpy as np

from dse.config import load_config
from dse.errors import UserError
from dse.results import results_frame
from dse.space import Grid, design_id
from dse.store import check_output, write_table

HELP = "evaluate shard I of N of the configured grid (every design, feasible or not) to Parquet"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="run configuration (configs/config.yaml)")
    p.add_argument("--shard", required=True, metavar="I/N", help="this shard, 0-based, of N")
    p.add_argument(
        "--out", required=True, help="Parquet output, e.g. results/sweep/shard-0.parquet"
    )


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(
            "malformed shard", key="--shard", value=text, allowed="I/N with integers 0 <= I < N"
        ) from None
    if n < 1 or not 0 <= i < n:
        raise UserError(
            "shard out of range", key="--shard", value=text, allowed="I/N with integers 0 <= I < N"
        )
    return i, n


def run(args: argparse.Namespace) -> int:
    i, n = parse_shard(args.shard)
    check_output(args.out)
    cfg = load_config(args.config)
    t0 = time.perf_counter()
    grid = Grid(cfg.raw["sweep"]["space"], file=str(cfg.path))
    start, stop = grid.shard(i, n)
    index = np.arange(start, stop, dtype=np.int64)
    batch = grid.decode(index)
    model = cfg.model()
    result = model.evaluate(batch)
    t_model = time.perf_counter() - t0
    frame = results_frame(model, batch, result, design_id("g", index))
    write_table(
        frame,
        args.out,
        metadata={
            "config_hash": cfg.hash,
            "platform": cfg.platform.name,
            "model": cfg.workload.name,
            "source": "sweep",
            "shard": f"{i}/{n}",
            "grid_size": grid.size,
            "design_range": [start, stop],
        },
    )
    feasible = int(frame["feasible"].sum())
    print(
        f"shard {i}/{n}: designs {start}..{stop - 1} ({stop - start:,}), feasible {feasible:,}, "
        f"model {t_model:.2f} s, total {time.perf_counter() - t0:.2f} s -> {args.out}"
    )
    return 0
