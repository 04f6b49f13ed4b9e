"""Scale figures for the README's scale note, as JSON: mapped designs per second per core, the
workflow's ``dse sweep`` shard jobs on a ~10^7-design grid (wall and CPU time, designs/s, Parquet
bytes per design, peak memory), and a 10^8-design sweep extrapolated from them.

    python benchmarks/scale.py [--designs 10000000] [--shards 8] [--max-shards N] [--keep DIR]

The grid is the config's ``sweep.space`` widened along the axes of :data:`WIDEN`, in order, until
it holds at least 90 % of ``--designs`` (the default config: 2,985,984 -> 9,953,280 designs). Each
shard runs as its own ``dse sweep --shard I/N`` process, one after the other (one core), with one
BLAS/OpenMP thread. The machine may be shared: the 1-minute load average is sampled during the
run, and the per-core figures use the shard processes' CPU time (user + system), which load
changes much less than wall time. The 10^8 figures are extrapolated linearly (designs per
CPU-second and Parquet bytes per design of the measured shards), not measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(ONE_THREAD)   # before numpy is imported: one core means one thread

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "configs" / "config.yaml"

#: Axes widened (in this order) to grow the grid; the values lie inside ``search.space``.
WIDEN: list[tuple[str, list]] = [
    ("tile_k", [64, 128, 256, 512, 768]),
    ("pe_k", [8, 16, 32]),
    ("vector_lanes", [32, 64, 128]),
    ("pc_outputs", [1, 2]),
    ("compute_units", [1, 2, 3, 4]),
]

def grid_size(space: dict) -> int:
    return math.prod(len(v) for v in space.values())


def widened_config(config: Path, designs: int, shards: int,
                   folder: Path) -> tuple[Path, int, dict]:
    """A copy of ``config`` whose sweep grid holds >= 90 % of ``designs`` (paths made absolute);
    its path, grid size and the widened axes."""
    raw = yaml.safe_load(config.read_text())
    for key in ("platform", "model"):
        raw[key] = str((config.parent / raw[key]).resolve())
    space = raw["sweep"]["space"]
    widened = {}
    for axis, values in WIDEN:
        if grid_size(space) >= 0.9 * designs:
            break
        space[axis] = widened[axis] = sorted(set(space[axis]) | set(values))
    raw["sweep"]["shards"] = shards
    path = folder / "scale_config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path, grid_size(space), widened


class LoadSampler:
    """The 1-minute load average every ``every`` seconds while it runs."""

    def __init__(self, every: float = 5.0) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(every):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        s = self.samples or [float("nan")]
        return {"load1_mean": round(statistics.fmean(s), 2), "load1_max": round(max(s), 2),
                "samples": len(s), "cores": os.cpu_count()}


def model_rate(config: Path, designs: int, runs: int = 3) -> dict:
    """Designs of ``config``'s sweep grid (a uniform sample) mapped and evaluated per second by
    this process: the median of ``runs``, by wall time and by CPU time."""
    import numpy as np

    from dse.config import load_config
    from dse.space import Grid

    cfg = load_config(config)
    grid = Grid(cfg.raw["sweep"]["space"])
    batch = grid.decode(np.random.default_rng(0).integers(0, grid.size, size=designs))
    model = cfg.model()
    model.evaluate({k: v[:1000] for k, v in batch.items()})   # warm-up
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        model.evaluate(batch)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "what": f"designs of the config's sweep grid mapped (exact tile mapper) and evaluated "
                f"per second in one process, median of {runs} runs of {designs:,}",
        "mapped_designs_per_wall_s": round(designs / statistics.median(wall)),
        "mapped_designs_per_cpu_s": round(designs / statistics.median(cpu)),
    }


def run_timed(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` (stdout+stderr to ``log``); wall and CPU seconds and peak RSS of the process."""
    env = dict(os.environ)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {log.read_text()[-500:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--designs", type=int, default=10_000_000, help="grid size to measure on")
    ap.add_argument("--shards", type=int, default=8, help="sweep.shards of the widened config")
    ap.add_argument("--max-shards", type=int, help="run only the first N shards (quick check)")
    ap.add_argument("--extrapolate-to", type=float, default=1e8)
    ap.add_argument("--bench-designs", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="keep the config, shards and logs in this folder")
    args = ap.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="dse-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    dse = [sys.executable, "-m", "dse.cli"]
    try:
        with LoadSampler() as load:
            # 1. the model's rate on the default config's sweep grid (this process, mapped)
            rate = model_rate(args.config, args.bench_designs)
            # 2. the workflow's shard jobs on the widened grid, one after the other
            config, size, widened = widened_config(args.config, args.designs, args.shards, folder)
            shards = []
            for i in range(min(args.shards, args.max_shards or args.shards)):
                out = folder / f"shard-{i}.parquet"
                r = run_timed([*dse, "sweep", "--config", str(config), "--shard",
                               f"{i}/{args.shards}", "--out", str(out)],
                              folder / f"shard-{i}.log")
                lo, hi = i * size // args.shards, (i + 1) * size // args.shards
                r.update(designs=hi - lo, parquet_bytes=out.stat().st_size)
                shards.append(r)
                if not args.keep:
                    out.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    designs = sum(s["designs"] for s in shards)
    cpu = sum(s["cpu_s"] for s in shards)
    wall = sum(s["wall_s"] for s in shards)
    nbytes = sum(s["parquet_bytes"] for s in shards)
    per_cpu_s = designs / cpu
    target = args.extrapolate_to
    figures = {
        "config": str(args.config),
        "model_rate": rate,
        "sweep": {
            "what": "dse sweep shard jobs (decode, map, evaluate, result table, Parquet write), "
                    "one process each, run one after the other",
            "grid_designs": size,
            "widened_axes": widened,
            "shards": args.shards,
            "shards_run": len(shards),
            "designs_run": designs,
            "per_shard": [{k: (round(v, 2) if isinstance(v, float) else v)
                           for k, v in s.items()} for s in shards],
            "shard_wall_s_median": round(statistics.median(s["wall_s"] for s in shards), 2),
            "shard_peak_rss_mib_max": round(max(s["peak_rss_mib"] for s in shards)),
            "designs_per_cpu_s": round(per_cpu_s),
            "designs_per_wall_s": round(designs / wall),
            "parquet_bytes_per_design": round(nbytes / designs, 2),
            "parquet_bytes": nbytes,
            "cpu_hours": round(cpu / 3600, 4),
        },
        "extrapolated": {
            "note": f"extrapolated linearly from the {designs:,} measured designs, not measured",
            "designs": int(target),
            "core_hours": round(target / per_cpu_s / 3600, 2),
            "core_hours_at_wall_rate": round(target / (designs / wall) / 3600, 2),
            "parquet_gib": round(target * nbytes / designs / 2**30, 2),
            "shards_of_this_size": math.ceil(target / (designs / len(shards))),
        },
        "load": load.summary(),
        "python": sys.version.split()[0],
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
