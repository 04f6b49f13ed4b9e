"""Greedy walk: the yardstick the shipped search must beat (issue 8).

A plain greedy coordinate descent on latency, started from the grid's fastest design in the
quality tier:

1. Start: the fastest feasible design of the coarse grid (``sweep.space``) whose
   ``quality_loss`` is within the quality tier (no worse than uniform
   ``select.quality_reference``, default INT8, times ``1 + select.quality_tolerance``) and whose
   ``utilization`` is within the cap.
2. Each round: every one-parameter move of the current design over the searched parameters of
   ``search.space`` (:func:`dse.refine.neighbours`: previous / next value, x2 and /2 of a range,
   every other choice of a categorical; tiles repaired to multiples of their PE factor, as in the
   search), the ones never evaluated before in ONE model call.
3. Accept the candidate with the lowest latency among those that are feasible, within the
   quality tier and within the utilization cap, if it is faster than the current design.
4. Stop when no candidate is faster.

The model is the run's model (``Config.model()``: the mapper chooses every design's runtime
tiles). Nothing is random; ties go to the first candidate in the neighbourhood's order.

Usage (prints JSON)::

    python benchmarks/greedy_walk.py --config configs/config.yaml --caps 0.60,0.95
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dse.walk import Walk, design_dict, greedy_walk, quality_bound, take_rows  # noqa: F401

#: Utilization caps of issue 8's yardstick.
CAPS = (0.60, 0.95)
#: Designs per model call when scanning the grid.
CHUNK = 250_000


@dataclass
class GridScan:
    """What one pass over the coarse grid gives.

    Attributes:
        size: designs in the grid.
        front_index: grid numbers of the designs weakly non-dominated in the objectives
            (feasible, finite), ascending.
        fastest: per cap, the grid number of the fastest design in the quality tier within the
            cap (None: no such design).
        seconds: wall time of the pass.
    """

    size: int
    front_index: np.ndarray
    fastest: dict[float, int | None]
    seconds: float


def scan_grid(cfg, model, *, caps: Sequence[float] = CAPS, quality_max: float | None = None,
              chunk: int = CHUNK, log: Callable[[str], None] = lambda s: None) -> GridScan:
    """Evaluate the whole grid in chunks (one model call each): its front and fastest designs."""
    import moocore

    from dse.search.evaluate import objective_values
    from dse.space import Grid

    qmax = quality_bound(cfg) if quality_max is None else quality_max
    grid = Grid(cfg.raw["sweep"]["space"], file=str(cfg.path))
    sign = np.array([-1.0 if d == "max" else 1.0 for _, d in cfg.objectives])
    t0 = time.perf_counter()
    keep_idx = np.empty(0, dtype=np.int64)
    keep_pts = np.empty((0, len(cfg.objectives)))
    best: dict[float, tuple[float, int] | None] = {c: None for c in caps}
    for start in range(0, grid.size, chunk):
        index = np.arange(start, min(start + chunk, grid.size), dtype=np.int64)
        cols = model.evaluate(grid.decode(index)).columns
        pts = objective_values(cols, cfg.objectives) * sign + 0.0
        ok = np.asarray(cols["feasible"], dtype=bool) & np.isfinite(pts).all(axis=1)
        idx = np.concatenate([keep_idx, index[ok]])
        pts = np.concatenate([keep_pts, pts[ok]])
        nd = moocore.is_nondominated(np.ascontiguousarray(pts), keep_weakly=True)
        keep_idx, keep_pts = idx[nd], pts[nd]
        lat = np.asarray(cols["latency_ms"], dtype=np.float64)
        util = np.asarray(cols["utilization"], dtype=np.float64)
        tier = ok & (np.asarray(cols["quality_loss"], dtype=np.float64) <= qmax)
        for c in caps:
            cand = np.flatnonzero(tier & (util <= c))
            if cand.size:
                j = cand[np.argmin(lat[cand])]  # first of ties: the smallest grid number
                if best[c] is None or lat[j] < best[c][0]:
                    best[c] = (float(lat[j]), int(index[j]))
        log(f"grid {min(start + chunk, grid.size):,}/{grid.size:,}")
    order = np.argsort(keep_idx)
    return GridScan(grid.size, keep_idx[order],
                    {c: (None if b is None else b[1]) for c, b in best.items()},
                    time.perf_counter() - t0)


def walks(cfg, model, scan: GridScan, *, caps: Sequence[float] = CAPS,
          quality_max: float | None = None) -> dict[float, Walk | None]:
    """One walk per cap, each from the grid's fastest design in the tier within that cap."""
    from dse.search import settings_from_config
    from dse.space import Grid

    qmax = quality_bound(cfg) if quality_max is None else quality_max
    space = settings_from_config(cfg).space
    grid = Grid(cfg.raw["sweep"]["space"], file=str(cfg.path))
    out: dict[float, Walk | None] = {}
    for c in caps:
        i = scan.fastest.get(c)
        out[c] = None if i is None else greedy_walk(
            model, space, grid.decode(np.array([i], dtype=np.int64)), util_cap=c,
            quality_max=qmax)
    return out


def parse_caps(text: str, key: str = "--caps") -> list[float]:
    """``"0.60,0.95"`` -> ``[0.6, 0.95]`` (each in (0, 1]); ``key`` names the option in errors."""
    from dse.errors import UserError

    try:
        caps = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        caps = []
    if not caps or any(not 0 < c <= 1 for c in caps):
        raise UserError("malformed utilization caps", key=key, value=text,
                        allowed="comma-separated fractions in (0, 1], e.g. 0.60,0.95")
    return caps


def main(argv: Sequence[str] | None = None) -> int:
    """Scan the grid, walk from its fastest tier design per cap, print JSON."""
    from dse.config import load_config
    from dse.errors import UserError

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/config.yaml", help="main config YAML")
    p.add_argument("--caps", default=",".join(map(str, CAPS)),
                   help="utilization caps, comma-separated (default 0.6,0.95)")
    args = p.parse_args(argv)
    try:
        caps = parse_caps(args.caps)
        cfg = load_config(args.config)
        model = cfg.model()
        scan = scan_grid(cfg, model, caps=caps)
        result = walks(cfg, model, scan, caps=caps)
    except UserError as exc:
        print(f"greedy_walk: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({
        "config": args.config, "quality_max": quality_bound(cfg), "grid_designs": scan.size,
        "grid_seconds": round(scan.seconds, 2),
        "walks": {str(c): (w.figures() if w is not None else None) for c, w in result.items()},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
