"""An independent best-known front for the search-quality benchmark: simulated annealing and
random restarts with exhaustive coordinate descent, using the model only as a black box.

Nothing of the tool's own search is used (no grid front, no Optuna, no dse.moves neighbourhood,
no refinement): designs are drawn at random from ``search.space`` and changed by random moves,
and every design is scored by ``Model.evaluate`` of the run's model (mapper and clock per design
included), which returns ``latency_ms``, ``utilization``, ``quality_loss`` and ``feasible``.

For each utilization cap of a ladder (:data:`CAPS`), the energy of a design is

    E = ln(latency_ms) + PENALTY x (infeasible + 10 max(utilization - cap, 0)
                                    + 10 max(quality_loss / quality_max - 1, 0))

(the quality tier and the cap as soft constraints, so chains can cross infeasible regions).

1. Simulated annealing: :data:`CHAINS` chains per cap start from random designs and make
   :data:`STEPS` random moves each (one parameter, sometimes two: a neighbouring value of a
   range or list, twice or half of it, or a uniformly drawn value), accepted by the Metropolis
   rule at a temperature falling geometrically from :data:`T_START` to :data:`T_END`; all the
   chains of all caps advance together, one model call per step.
2. Random restarts with coordinate descent: the chains' best designs and :data:`RESTARTS`
   random designs per cap descend by exhaustive coordinate descent: every value of every
   searched parameter is tried (one model call per design and pass) and the best change taken,
   until no change lowers E.
3. Kicks (iterated local search): the :data:`KEEP` best descended designs of each cap get
   :data:`KICKS` rounds of three random moves followed by coordinate descent; a kicked design
   replaces its origin when it ends lower.
4. Every feasible design evaluated on the way is offered to an archive, kept as the
   non-dominated set in (latency, utilization, quality_loss); the archive is the reference
   front (its designs in the quality tier are what the chains aim at).

Seeded (numpy ``default_rng``), so a rebuild gives the same front.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Utilization caps the chains and descents aim at (the ROI's spread; 0.6, 0.8, 0.95, 1.0 in it).
CAPS = (0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
#: Annealing chains per cap, steps per chain, temperatures (in units of ln latency).
CHAINS = 24
STEPS = 4000
T_START, T_END = 0.5, 0.002
#: Random designs per cap that descend by coordinate descent besides the chains' best ones.
RESTARTS = 24
#: Designs per cap that get kicks, and the kick rounds.
KEEP = 8
KICKS = 4
#: Weight of the soft constraints in the energy.
PENALTY = 3.0
#: Version of this recipe (part of the cache key).
RECIPE_VERSION = 2


@dataclass
class Reference:
    """The independent reference: archive designs and how it was built."""

    batch: dict[str, np.ndarray]
    evaluations: int
    seconds: float
    built: dict[str, Any]


def recipe(*, chains: int = CHAINS, steps: int = STEPS, restarts: int = RESTARTS,
           kicks: int = KICKS, caps: Sequence[float] = CAPS) -> dict[str, Any]:
    """Everything that fixes the reference (for the cache key)."""
    return {"caps": list(caps), "chains": chains, "steps": steps, "t": [T_START, T_END],
            "restarts": restarts, "keep": KEEP, "kicks": kicks, "penalty": PENALTY,
            "version": RECIPE_VERSION}


class _Archive:
    """Non-dominated feasible designs seen so far (points in minimisation form)."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []
        self.points = np.empty((0, 3))
        self.batch: dict[str, np.ndarray] | None = None

    def offer(self, batch: Mapping[str, np.ndarray], points: np.ndarray, ok: np.ndarray) -> None:
        import moocore

        from dse.moves import concat, take_rows

        rows = np.flatnonzero(ok)
        if rows.size == 0:
            return
        cand = take_rows(batch, rows)
        pts = points[rows]
        nd = moocore.is_nondominated(np.ascontiguousarray(pts), keep_weakly=True)
        cand, pts = take_rows(cand, nd), pts[nd]
        if self.batch is None:
            self.batch, self.points = cand, pts
            return
        allb = concat([self.batch, cand])
        allp = np.concatenate([self.points, pts])
        nd = moocore.is_nondominated(np.ascontiguousarray(allp), keep_weakly=True)
        self.batch, self.points = take_rows(allb, nd), allp[nd]


class _Scorer:
    """The model as a black box: designs -> energies for their caps, archived on the way."""

    def __init__(self, model, quality_max: float, archive: _Archive) -> None:
        self.model, self.qmax, self.archive = model, quality_max, archive
        self.evaluations = 0

    def __call__(self, batch: Mapping[str, np.ndarray], caps: np.ndarray) -> np.ndarray:
        c = self.model.evaluate(dict(batch)).columns
        self.evaluations += len(caps)
        lat = np.asarray(c["latency_ms"], dtype=np.float64)
        util = np.asarray(c["utilization"], dtype=np.float64)
        q = np.asarray(c["quality_loss"], dtype=np.float64)
        feas = np.asarray(c["feasible"], dtype=bool) & np.isfinite(lat) & (lat > 0)
        self.archive.offer(batch, np.stack([lat, util, q], axis=1), feas)
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.log(np.where(np.isfinite(lat) & (lat > 0), lat, 1e12))
        e = e + PENALTY * ((~feas) + 10 * np.maximum(util - caps, 0)
                           + 10 * np.maximum(q / self.qmax - 1, 0))
        return np.where(np.isfinite(e), e, 1e9)


def _searched(space) -> list:
    return [d for d in space.dims if d.searched]


def random_designs(space, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` designs drawn uniformly from the values of every parameter (tiles repaired)."""
    from dse.search.space import repair_tiles

    batch = {}
    for d in space.dims:
        pool = d.codes if d.form == "list" else d.values
        batch[d.param.name] = pool[rng.integers(0, len(pool), n)].astype(np.int64)
    return repair_tiles(batch)


def _pools(space) -> dict[str, np.ndarray]:
    """Every value a parameter can take (design codes, sorted)."""
    return {d.param.name: np.unique(d.codes if d.form == "list" else d.values)
            for d in _searched(space)}


def random_moves(space, rng: np.random.Generator, batch: Mapping[str, np.ndarray]
                 ) -> dict[str, np.ndarray]:
    """One random move per design: one parameter (a second with probability 0.3) to a
    neighbouring value (index +-1 or +-2), twice / half its value, or a uniform draw."""
    from dse.search.space import repair_tiles

    pools = _pools(space)
    names = list(pools)
    n = len(next(iter(batch.values())))
    out = {k: np.array(v, copy=True) for k, v in batch.items()}
    for second in (False, True):
        which = rng.integers(0, len(names), n)
        active = np.ones(n, dtype=bool) if not second else rng.random(n) < 0.3
        kind = rng.random(n)
        for j, name in enumerate(names):
            rows = np.flatnonzero(active & (which == j))
            if rows.size == 0:
                continue
            pool = pools[name]
            cur = out[name][rows]
            idx = np.clip(np.searchsorted(pool, cur), 0, len(pool) - 1)
            step = rng.choice(np.array([-2, -1, 1, 2]), rows.size)
            new = pool[np.clip(idx + step, 0, len(pool) - 1)]
            k = kind[rows]
            uniform = pool[rng.integers(0, len(pool), rows.size)]
            scaled = np.where(rng.random(rows.size) < 0.5, cur * 2, cur // 2)
            scaled = pool[np.clip(np.searchsorted(pool, scaled), 0, len(pool) - 1)]
            new = np.where(k < 0.25, uniform, np.where(k < 0.45, scaled, new))
            out[name][rows] = new
    return repair_tiles(out)


def anneal(space, score: _Scorer, rng: np.random.Generator, caps: np.ndarray,
           steps: int, log: Callable[[str], None]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Simulated annealing of one chain per entry of ``caps``: each chain's best design and
    energy."""
    from dse.moves import take_rows

    cur = random_designs(space, rng, len(caps))
    e = score(cur, caps)
    best, best_e = {k: v.copy() for k, v in cur.items()}, e.copy()
    for t in range(steps):
        temp = T_START * (T_END / T_START) ** (t / max(steps - 1, 1))
        cand = random_moves(space, rng, cur)
        ce = score(cand, caps)
        accept = (ce <= e) | (rng.random(len(caps)) < np.exp(np.minimum(e - ce, 0.0) / temp))
        for k in cur:
            cur[k] = np.where(accept, cand[k], cur[k])
        e = np.where(accept, ce, e)
        better = e < best_e
        for k in best:
            best[k] = np.where(better, cur[k], best[k])
        best_e = np.where(better, e, best_e)
        if (t + 1) % 500 == 0:
            log(f"  annealing step {t + 1}/{steps}, {score.evaluations:,} evaluations")
    return take_rows(best, np.arange(len(caps))), best_e


def coordinate_descent(space, score: _Scorer, start: Mapping[str, np.ndarray],
                       caps: np.ndarray, max_passes: int = 30) -> tuple[dict, np.ndarray]:
    """Exhaustive coordinate descent of every start design for its cap: each pass tries every
    value of every searched parameter of every design in one model call and takes each design's
    best change; stops when no design improves."""
    from dse.moves import concat, take_rows
    from dse.search.space import repair_tiles

    pools = _pools(space)
    cur = {k: np.array(v, copy=True) for k, v in start.items()}
    n = len(caps)
    e = score(cur, caps)
    live = np.ones(n, dtype=bool)
    for _ in range(max_passes):
        rows = np.flatnonzero(live)
        if rows.size == 0:
            break
        parts, owner = [], []
        for name, pool in pools.items():
            for v in pool:
                part = take_rows(cur, rows)
                keep = part[name] != v
                if not keep.any():
                    continue
                part = take_rows(part, np.flatnonzero(keep))
                part[name] = np.full(int(keep.sum()), v, dtype=np.int64)
                parts.append(part)
                owner.append(rows[keep])
        cand = repair_tiles(concat(parts))
        own = np.concatenate(owner)
        ce = score(cand, caps[own])
        order = np.lexsort((ce, own))
        first = order[np.r_[True, own[order][1:] != own[order][:-1]]]
        improved = ce[first] < e[own[first]] - 1e-9
        live[:] = False
        for j, i in zip(first[improved].tolist(), own[first][improved].tolist(), strict=True):
            for k in cur:
                cur[k][i] = cand[k][j]
            e[i] = ce[j]
            live[i] = True
    return cur, e


def build(cfg, model, space, quality_max: float, *, seed: int = 12345,
          log: Callable[[str], None] = lambda s: None, chains: int = CHAINS,
          steps: int = STEPS, restarts: int = RESTARTS, kicks: int = KICKS,
          caps: Sequence[float] = CAPS) -> Reference:
    """Run the recipe of the module docstring; the archive is the reference."""
    from dse.moves import concat, take_rows

    rng = np.random.default_rng(seed)
    archive = _Archive()
    score = _Scorer(model, quality_max, archive)
    t0 = time.perf_counter()
    chain_caps = np.repeat(np.asarray(caps, dtype=np.float64), chains)
    log(f"independent reference: annealing {len(chain_caps)} chains x {steps} steps ...")
    best, _ = anneal(space, score, rng, chain_caps, steps, log)
    t_anneal, n_anneal = time.perf_counter() - t0, score.evaluations
    restart_caps = np.repeat(np.asarray(caps, dtype=np.float64), restarts)
    starts = concat([best, random_designs(space, rng, len(restart_caps))])
    all_caps = np.concatenate([chain_caps, restart_caps])
    log(f"independent reference: coordinate descent from {len(all_caps)} designs ...")
    ends, e = coordinate_descent(space, score, starts, all_caps)
    t_descent, n_descent = time.perf_counter() - t0, score.evaluations
    keep = np.concatenate([np.flatnonzero(all_caps == c)[np.argsort(e[all_caps == c],
                                                                     kind="stable")[:KEEP]]
                           for c in np.unique(all_caps)])
    cur, cur_e, kcaps = take_rows(ends, keep), e[keep], all_caps[keep]
    for k in range(kicks):
        log(f"independent reference: kick {k + 1}/{kicks} of {len(kcaps)} designs ...")
        kicked = cur
        for _ in range(3):
            kicked = random_moves(space, rng, kicked)
        new, new_e = coordinate_descent(space, score, kicked, kcaps)
        better = new_e < cur_e
        cur = {name: np.where(better, new[name], cur[name]) for name in cur}
        cur_e = np.where(better, new_e, cur_e)
    seconds = time.perf_counter() - t0
    built = {
        "method": "simulated annealing + random restarts with exhaustive coordinate descent "
                  "(model as a black box; benchmarks/independent_search.py)",
        "seed": seed, "caps": list(caps), "chains_per_cap": chains, "steps": steps,
        "restarts_per_cap": restarts,
        "anneal": {"evaluations": n_anneal, "seconds": round(t_anneal, 1)},
        "descent": {"evaluations": n_descent - n_anneal,
                    "seconds": round(t_descent - t_anneal, 1)},
        "kicks": {"designs": int(len(kcaps)), "rounds": kicks,
                  "evaluations": score.evaluations - n_descent,
                  "seconds": round(seconds - t_descent, 1)},
        "evaluations": score.evaluations, "seconds": round(seconds, 1),
        "clock": cfg.clock.describe(),
    }
    log(f"independent reference: {len(archive.points)} archive designs, "
        f"{score.evaluations:,} evaluations, {seconds:.0f} s")
    assert archive.batch is not None
    return Reference(archive.batch, score.evaluations, seconds, built)
