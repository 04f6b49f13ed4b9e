"""Greedy latency walks: from one design, one-parameter moves that make it faster while it stays
feasible, within the quality tier and within a utilization cap.

Each round evaluates every move of the current design over the searched parameters of
``search.space`` (:func:`dse.refine.neighbours`) that was not evaluated before, in ONE model call,
and accepts the fastest candidate that is feasible, within the quality tier and the cap, if it is
faster than the current design; the walk stops when none is. Nothing is random; ties go to the
first candidate in the neighbourhood's order. ``dse refine`` ends with one walk per cap from its
front's fastest tier design (so its front dominates what such a walk reaches from there), and
``benchmarks/greedy_walk.py`` walks from the grid's fastest design as the search's yardstick.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dse.moves import take_rows


def quality_bound(cfg) -> float:
    """The quality tier's bound on ``quality_loss`` (as ``dse select`` derives it), with the
    selection's float32 slack."""
    from dse.select import QUALITY_RTOL, tier_bound

    return tier_bound(cfg) * (1.0 + QUALITY_RTOL)


def design_dict(batch: Mapping[str, np.ndarray], row: int = 0) -> dict[str, Any]:
    """One design of a batch as {parameter: value} (categoricals by name)."""
    from dse.params import PARAMS
    from dse.space import decode_value

    return {p.name: decode_value(p, int(np.asarray(batch[p.name])[row])) for p in PARAMS}


@dataclass
class Walk:
    """One greedy walk: where it started, where it stopped and what it cost."""

    cap: float
    start: dict[str, np.ndarray]
    design: dict[str, np.ndarray]
    start_latency_ms: float
    latency_ms: float
    utilization: float
    quality_loss: float
    evaluations: int
    rounds: int
    seconds: float
    path_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """JSON-able summary (the end design with its parameter values)."""
        return {
            "util_cap": self.cap,
            "start_latency_ms": round(self.start_latency_ms, 4),
            "latency_ms": round(self.latency_ms, 4),
            "utilization": round(self.utilization, 4),
            "quality_loss": round(self.quality_loss, 6),
            "evaluations": self.evaluations,
            "rounds": self.rounds,
            "seconds": round(self.seconds, 2),
            "design": design_dict(self.design),
        }


def greedy_walk(
    model,
    space,
    start: Mapping[str, np.ndarray],
    *,
    util_cap: float,
    quality_max: float,
    max_rounds: int = 10_000,
) -> Walk:
    """Walk from ``start`` (one hardware design, parameter codes) as the module docstring says.

    Args:
        model: the run's model.
        space: the :class:`dse.search.SearchSpace` whose searched parameters are the moves.
        start: a batch of one design.
        util_cap: largest ``utilization`` a step may reach.
        quality_max: largest ``quality_loss`` a step may reach.
        max_rounds: safety bound on the rounds (a walk strictly decreases latency, so it ends).
    """
    from dse.moves import design_hash, neighbours

    t0 = time.perf_counter()
    current = take_rows(start, [0])
    cols = model.evaluate(dict(current)).columns
    lat0 = float(cols["latency_ms"][0])
    lat, util, qual = lat0, float(cols["utilization"][0]), float(cols["quality_loss"][0])
    seen = set(design_hash(current).tolist())
    evaluations = rounds = 0
    path = [lat0]
    while rounds < max_rounds:
        cand = neighbours(space, current)
        h = design_hash(cand)
        _, first = np.unique(h, return_index=True)
        first = np.sort(first)
        fresh = np.array([i for i in first.tolist() if int(h[i]) not in seen], dtype=np.int64)
        if fresh.size == 0:
            break
        rounds += 1
        cand = take_rows(cand, fresh)
        seen.update(h[fresh].tolist())
        c = model.evaluate(cand).columns
        evaluations += int(fresh.size)
        c_lat = np.asarray(c["latency_ms"], dtype=np.float64)
        ok = (
            np.asarray(c["feasible"], dtype=bool)
            & np.isfinite(c_lat)
            & (np.asarray(c["utilization"], dtype=np.float64) <= util_cap)
            & (np.asarray(c["quality_loss"], dtype=np.float64) <= quality_max)
            & (c_lat < lat)
        )
        if not ok.any():
            break
        j = int(np.flatnonzero(ok)[np.argmin(c_lat[ok])])
        current = take_rows(cand, [j])
        lat, util, qual = float(c_lat[j]), float(c["utilization"][j]), float(c["quality_loss"][j])
        path.append(lat)
    return Walk(
        util_cap,
        take_rows(start, [0]),
        current,
        lat0,
        lat,
        util,
        qual,
        evaluations,
        rounds,
        time.perf_counter() - t0,
        path,
    )
