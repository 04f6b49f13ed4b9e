"""dse bench: model throughput (designs evaluated per second) as JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform as _platform
import statistics
import time
from pathlib import Path

import numpy as np

HELP = "measure designs evaluated per second (median of several runs) and print JSON"

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "config.yaml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", default=str(DEFAULT_CONFIG), help="configuration whose sweep grid is sampled"
    )
    p.add_argument(
        "--designs", type=int, default=1_000_000, help="designs per run (default 1,000,000)"
    )
    p.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported")
    p.add_argument("--seed", type=int, default=0, help="seed of the uniform design sample")


def _baseline(n: int, runs: int) -> float:
    """A numpy baseline in the same process: fused multiply-add passes over n float64 per second."""
    a, b, c = (np.random.default_rng(1).random(n) for _ in range(3))
    out = np.empty(n)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        np.multiply(a, b, out=out)
        np.add(out, c, out=out)
        times.append(time.perf_counter() - t)
    return n / statistics.median(times)


def run(args: argparse.Namespace) -> int:
    from dse.config import load_config
    from dse.errors import UserError
    from dse.space import Grid

    if args.designs < 1 or args.runs < 1:
        raise UserError(
            "must be positive",
            key="--designs/--runs",
            value=(args.designs, args.runs),
            allowed="integers >= 1",
        )
    cfg = load_config(args.config)
    grid = Grid(cfg.raw["sweep"]["space"], file=str(cfg.path))
    model = cfg.model()
    plain = cfg.model(mapper=False)
    rng = np.random.default_rng(args.seed)
    batch = grid.decode(rng.integers(0, grid.size, size=args.designs))
    for m in (model, plain):
        m.evaluate({k: v[:1000] for k, v in batch.items()})  # warm-up
    times, plain_times = [], []
    for _ in range(args.runs):  # alternate, so both see the same machine load
        for m, out in ((model, times), (plain, plain_times)):
            t = time.perf_counter()
            m.evaluate(batch)
            out.append(time.perf_counter() - t)
    med = statistics.median(times)
    base = _baseline(args.designs, args.runs)
    figures = {
        "designs": args.designs,
        "runs": args.runs,
        "designs_per_s_median": args.designs / med,
        "designs_per_s_min": args.designs / max(times),
        "designs_per_s_max": args.designs / min(times),
        "seconds_median": med,
        "baseline": "numpy multiply+add over float64 arrays of the same length, same process",
        "baseline_passes_per_s": base,
        "ratio_designs_to_baseline": (args.designs / med) / base,
        "target_designs_per_s": 1_000_000,
        "mapper_tile_divisors": list(model.tile_divisors),
        "note": "designs of sweep.space, each mapped by the exact mapper as the sweep runs them",
        "model_only_designs_per_s_median": args.designs / statistics.median(plain_times),
        "mapped_to_model_only_ratio": statistics.median(plain_times) / med,
        "python": _platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(figures, indent=2))
    return 0
