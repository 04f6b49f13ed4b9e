"""Search quality: the configuration's search as it ships, against a best-known reference front.

What is measured (for seeds ``seed``, ``seed + 1``, ``seed + 2`` of ``search.seed``; medians and
per-seed values):

1. The shipped search, in-process, with in-memory storage: ``search.workers`` islands of
   ``search.trials_per_worker`` trials in batches of ``search.batch_size`` with the config's sampler
   (:class:`dse.search.Island`, :func:`dse.search.warm_start`, :func:`dse.search.ask_tell`: the
   steps of :func:`dse.search.run_worker` without its journal), each warm-started with the grid's
   front (the whole ``sweep.space`` evaluated by the run's model, mapper included, then
   :func:`dse.pareto.front`, as ``dse pareto`` makes ``sweep_front.parquet``); then
   :func:`dse.refine.refine_frame` from the front of the grid and the trials with
   ``search.refine.max_evaluations``. The final front is the front of all of them, as
   ``dse pareto`` makes ``front.parquet``.
2. The same with the random sampler in place of the config's (same space and tile repair, same
   warm start and refinement): the baseline.
3. The greedy walk (``benchmarks/greedy_walk.py``) from the grid's fastest design in the quality
   tier, at utilization caps 0.60 and 0.95.

Against an independent reference front (benchmarks/independent_search.py: simulated annealing
and random restarts with exhaustive coordinate descent over ``search.space``, the run's model as
a black box with the clock per design; nothing of the tool's own search), cached as Parquet in
``--cache`` and keyed by the config, the clock policy, MODEL_VERSION and the recipe; its
``built`` figures say how many evaluations and seconds it took. The best-known front is the
union of that reference, the grid front and every measured run's final front.

Figures (JSON, printed and written to ``--out``): at checkpoints (after the warm start, after
1,000 / 2,500 / 5,000 sampled trials in the islands' parallel order, i.e. batch ``b`` of every
worker before batch ``b + 1``, and after refinement) the evaluations and single-core seconds
spent so far, the fastest design in the quality tier found so far at each utilization cap
(0.6, 0.8, 0.95, 1.0), the hypervolume in the *region of interest* (the quality tier, latency at
most twice ``select.latency_budget_ms``; area dominated in latency x utilization) as a ratio of
the independent reference's, and the global hypervolume ratio against the best-known front
(normalised by its ideal and nadir, :class:`dse.pareto.HvReference`; and with decade-spanning
objectives in log10). Also whether the final front dominates the greedy walk's end designs and
the baseline ratio random / shipped sampler. ``bar`` holds the acceptance figures: the ROI ratio
(target 0.99) and, per cap, whether the shipped run (median over seeds) is at least as fast as
the reference. ``--plot`` draws the hypervolume ratio against evaluations per method.

Usage::

    dse search-quality --config configs/config.yaml --out results/bench/search_quality.json \\
        --plot results/bench/convergence.png
    python benchmarks/search_quality.py --config configs/config.yaml --out ...
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

#: Sampled-trial checkpoints (besides the warm start and the end of the search).
CHECKPOINTS = (1000, 2500, 5000)
#: The issue's bar: hypervolume ratio reached in the default run's budget.
TARGET_RATIO = 0.99
#: Seeds per method (median reported).
SEEDS = 3
#: Seed of the independent reference (benchmarks/independent_search.py).
REFERENCE_SEED = 12345
#: Utilization caps of the fastest-design figures (the issue's: 0.6, 0.8, 0.95, 1.0).
CAPS = (0.60, 0.80, 0.95, 1.00)
#: The region of interest: latency at most this many times select.latency_budget_ms, in the
#: quality tier.
ROI_BUDGET_FACTOR = 2.0
#: Version of the benchmark's recipe (part of the cache key).
RECIPE_VERSION = 2
LOG: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731


def _sibling(name: str) -> ModuleType:
    """A module of this folder (``benchmarks/``), imported by path once."""
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gw = _sibling("greedy_walk")
ind = _sibling("independent_search")


# ----------------------------------------------------------------------------- set-up
@dataclass
class Setup:
    """Everything a run needs, rebuilt from the config path in every process."""

    config: str
    cfg: Any
    settings: Any
    model: Any
    quality_max: float
    caps: tuple[float, ...]

    @property
    def objectives(self) -> list[tuple[str, str]]:
        return self.cfg.objectives


def make_setup(config: str, caps: Sequence[float], *, mapper: bool = True) -> Setup:
    """The config's objects; ``mapper=False``: a model without the mapper (runtime tiles as
    built), to compare with a search that evaluates that way."""
    from dse.config import load_config
    from dse.search import settings_from_config

    cfg = load_config(config)
    return Setup(config, cfg, settings_from_config(cfg), cfg.model(mapper=mapper),
                 gw.quality_bound(cfg), tuple(caps))


def points_of(frame: pd.DataFrame, objectives) -> np.ndarray:
    from dse.pareto import objective_matrix

    return objective_matrix(frame, objectives)


def front_points(frame: pd.DataFrame, objectives) -> np.ndarray:
    """Objective points (minimisation form) of the front of ``frame``."""
    from dse.pareto import front_mask

    return points_of(frame.loc[front_mask(frame, objectives)], objectives)


def fastest(frame: pd.DataFrame, setup: Setup) -> dict[str, float | None]:
    """Per cap: the lowest latency (ms) of a feasible design in the quality tier within the cap."""
    ok = frame["feasible"].to_numpy(dtype=bool)
    ok = ok & (frame["quality_loss"].to_numpy(dtype=np.float64) <= setup.quality_max)
    lat = frame["latency_ms"].to_numpy(dtype=np.float64)
    util = frame["utilization"].to_numpy(dtype=np.float64)
    out: dict[str, float | None] = {}
    for c in setup.caps:
        m = ok & (util <= c)
        out[_cap(c)] = round(float(lat[m].min()), 4) if m.any() else None
    return out


def _cap(c: float) -> str:
    return f"{c:.2f}"


def rows(setup: Setup, batch: dict[str, np.ndarray], ids) -> pd.DataFrame:
    """Result rows of designs (one model call)."""
    from dse.results import results_frame

    return results_frame(setup.model, batch, setup.model.evaluate(batch), ids)


def grid_front_frame(setup: Setup, scan) -> pd.DataFrame:
    """The grid front's rows (as ``dse pareto`` writes ``sweep_front.parquet``)."""
    from dse.pareto import front
    from dse.space import Grid, design_id

    grid = Grid(setup.cfg.raw["sweep"]["space"], file=str(setup.cfg.path))
    return front(rows(setup, grid.decode(scan.front_index), design_id("g", scan.front_index)),
                 setup.objectives)


# ----------------------------------------------------------------------------- islands
@dataclass
class IslandRun:
    """One island's sampled trials (rows in plan order) and the seconds each batch took."""

    worker: int
    warm: int
    warm_seconds: float
    params: list[dict[str, Any]]
    frame: pd.DataFrame
    batch_sizes: list[int]
    batch_seconds: list[float]


def run_island(setup: Setup, settings, worker: int, warm: list[dict[str, Any]],
               trials: int) -> IslandRun:
    """What ``run_worker`` does for one worker, with no storage: the warm start as generation 0,
    then the plan's batches, each sampled with its own seed and evaluated in one model call."""
    from dse.search import Island, ask_tell, batch_sizes, warm_start

    directions = ["maximize" if d == "max" else "minimize" for _, d in setup.objectives]
    island = Island(settings, worker, directions)
    t0 = time.perf_counter()
    if warm:
        warm_start(island.study(-1), settings.space, setup.model, setup.objectives, warm)
    warm_s = time.perf_counter() - t0
    params: list[dict[str, Any]] = []
    sizes, secs = [], []
    for b, n in enumerate(batch_sizes(trials, settings.batch_size)):
        t = time.perf_counter()
        res = ask_tell(island.study(b), settings.space, setup.model, setup.objectives, n)
        secs.append(time.perf_counter() - t)
        sizes.append(n)
        params += [dict(t.params) for t in res.trials]
    ids = [f"s{worker}-{i:09d}" for i in range(len(params))]
    frame = rows(setup, settings.space.decode(params), ids)
    return IslandRun(worker, len(warm), warm_s, params, frame, sizes, secs)


def _island_task(config: str, caps, sampler: str, seed: int, worker: int,
                 warm_front: pd.DataFrame, trials: int, mapper: bool = True) -> IslandRun:
    from dse.search import warm_start_params

    setup = make_setup(config, caps, mapper=mapper)
    settings = replace(setup.settings, sampler=sampler, seed=seed)
    warm = warm_start_params(settings.space, warm_front) if settings.warm_start else []
    return run_island(setup, settings, worker, warm, trials)


def interleave(islands: Sequence[IslandRun]) -> tuple[pd.DataFrame, np.ndarray]:
    """The islands' trials in parallel order (batch ``b`` of every worker before batch
    ``b + 1``) and the single-core seconds spent when each trial is done (warm starts first)."""
    parts, done = [], []
    clock = sum(r.warm_seconds for r in islands)
    starts = [np.concatenate([[0], np.cumsum(r.batch_sizes)]) for r in islands]
    for b in range(max(len(r.batch_sizes) for r in islands)):
        for r, s in zip(islands, starts, strict=True):
            if b < len(r.batch_sizes):
                parts.append(r.frame.iloc[s[b]:s[b + 1]])
                clock += r.batch_seconds[b]
                done.append(np.full(r.batch_sizes[b], clock))
    return pd.concat(parts, ignore_index=True), np.concatenate(done)


# ----------------------------------------------------------------------------- one method
def run_method(config: str, caps, sampler: str, seed: int, grid_front: pd.DataFrame,
               checkpoints: Sequence[int], jobs: int = 1, mapper: bool = True
               ) -> dict[str, Any]:
    """The shipped search with ``sampler`` and ``seed``: islands, then refinement; at every
    checkpoint the front known so far (``front`` points, scored later by :func:`score`), the
    evaluations and seconds spent and the fastest designs (see the module docstring). The final
    front's rows are ``final_front``."""
    from dse.pareto import front
    from dse.refine import refine_frame, roi_latency_max

    setup = make_setup(config, caps, mapper=mapper)
    s = setup.settings
    args = [(config, caps, sampler, seed, w, grid_front, s.trials_per_worker, mapper)
            for w in range(s.workers)]
    islands = _map(_island_task, args, jobs)
    seq, done_s = interleave(islands)
    warm_evals = sum(r.warm for r in islands)
    warm_s = sum(r.warm_seconds for r in islands)
    total = len(seq)
    marks = [0, *[c for c in checkpoints if c < total], total]
    out: list[dict[str, Any]] = []
    for k in marks:
        known = pd.concat([grid_front, seq.iloc[:k]], ignore_index=True)
        out.append({
            "label": "warm start" if k == 0 else f"{k} trials", "sampled": k,
            "evaluations": warm_evals + k,
            "seconds": round(warm_s if k == 0 else float(done_s[k - 1]), 3),
            "front": front_points(known, setup.objectives),
            "fastest_ms": fastest(known, setup),
        })
    designs = pd.concat([grid_front, seq], ignore_index=True)
    refined, result = refine_frame(setup.model, s.space, setup.objectives, designs,
                                   max_evaluations=s.refine_max_evaluations,
                                   walk_caps=s.refine_walk_caps, quality_max=setup.quality_max,
                                   walk_starts=s.refine_walk_starts,
                                   roi_evaluations=s.refine_roi_evaluations,
                                   latency_max=roi_latency_max(setup.cfg, s))
    final = pd.concat([designs, refined], ignore_index=True)
    final_front = front(final, setup.objectives)
    final_front["design_id"] = [f"{sampler}{seed}-{i}" for i in range(len(final_front))]
    out.append({
        "label": "refined", "sampled": total,
        "evaluations": warm_evals + total + result.evaluations + result.walk_evaluations
        + result.roi_evaluations,
        "seconds": round(float(done_s[-1]) + result.seconds, 3),
        "front": points_of(final_front, setup.objectives),
        "fastest_ms": fastest(final, setup),
        "refine_evaluations": result.evaluations, "refine_rounds": result.rounds,
    })
    return {"sampler": sampler, "seed": seed, "checkpoints": out, "final_front": final_front}


def score(run: dict[str, Any], reference_points: np.ndarray, setup: Setup | None = None,
          roi_reference: float | None = None, roi_best_known: float | None = None) -> None:
    """Add the hypervolume ratios to every checkpoint of ``run``: global (linear and log scale,
    against ``reference_points``) and in the region of interest (against the independent
    reference's ROI hypervolume ``roi_reference`` and the best-known one)."""
    from dse.pareto import reference_from

    ref, log_ref = reference_from(reference_points), LogRatio(reference_points)
    for cp in run["checkpoints"]:
        cp["hv_ratio"] = round(ref.ratio(cp["front"]), 6)
        cp["hv_ratio_log"] = round(log_ref.ratio(cp["front"]), 6)
        roi = roi_hypervolume(cp["front"], setup) if setup is not None else None
        cp["roi_hv_ratio"] = (round(roi / roi_reference, 6)
                              if roi is not None and roi_reference else None)
        cp["roi_hv_ratio_best_known"] = (round(roi / roi_best_known, 6)
                                         if roi is not None and roi_best_known else None)
    run["front_size"] = len(run["checkpoints"][-1]["front"])


class LogRatio:
    """A second hypervolume ratio with the reference's objectives that are positive and span
    more than a decade on a log10 scale (as ``dse.select.knee_scale`` compares them). On a linear
    scale a latency axis from 30 ms to minutes makes the fast end count for next to nothing: a
    front 30% slower at its fast end loses well under 1% of the hypervolume."""

    def __init__(self, reference_points: np.ndarray) -> None:
        from dse.pareto import reference_from

        pts = np.asarray(reference_points, dtype=np.float64)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        self.log = (lo > 0) & (hi > 10 * lo)
        self.floor = np.where(self.log, lo / 1e3, 1.0)
        self.ref = reference_from(self.scale(pts))

    def scale(self, points: np.ndarray) -> np.ndarray:
        pts = np.array(points, dtype=np.float64).reshape(-1, len(self.log))
        pts[:, self.log] = np.log10(np.maximum(pts[:, self.log], self.floor[self.log]))
        return pts

    def ratio(self, points: np.ndarray) -> float:
        return self.ref.ratio(self.scale(points))


def _not_dominated_by(points: np.ndarray, reference: np.ndarray) -> int:
    """How many of ``points`` no reference point weakly dominates (0: the reference holds)."""
    if len(points) == 0:
        return 0
    ge = (reference[None, :, :] <= points[:, None, :]).all(axis=2)
    return int((~ge.any(axis=1)).sum())


def _map(fn, args: Sequence[tuple], jobs: int) -> list:
    if jobs <= 1 or len(args) <= 1:
        return [fn(*a) for a in args]
    with ProcessPoolExecutor(max_workers=min(jobs, len(args))) as pool:
        return list(pool.map(fn, *zip(*args, strict=True)))


# ----------------------------------------------------------------------------- reference
def cache_key(setup: Setup, budget: dict[str, Any] | None = None) -> str:
    """Key of the cached grid front and reference: config, platform, model, model version, the
    clock policy and both recipes."""
    from dse import MODEL_VERSION
    from dse.config import config_hash

    recipe = {"independent": ind.recipe(**(budget or {})), "seed": REFERENCE_SEED,
              "caps": list(setup.caps),
              "version": RECIPE_VERSION}
    return config_hash(setup.cfg.raw, setup.cfg.platform_raw, setup.cfg.model_raw,
                       MODEL_VERSION, setup.cfg.clock.describe(), recipe)


def _cached(path: Path, key: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    from dse import store

    if not path.is_file():
        return None
    try:
        meta = store.read_metadata(path)
    except Exception:  # a damaged cache is rebuilt
        return None
    if meta.get("key") != key:
        return None
    return store.read_table(path), meta


def grid_and_walks(setup: Setup, cache: Path, key: str, *, rebuild: bool = False,
                   log=LOG) -> tuple[pd.DataFrame, dict[str, Any], bool]:
    """The grid front's rows and the grid scan's / greedy walks' figures (cached)."""
    from dse import MODEL_VERSION, store

    path = cache / "grid_front.parquet"
    hit = None if rebuild else _cached(path, key)
    if hit is not None:
        return hit[0], hit[1], True
    log("scanning the grid (whole sweep.space x mapper) ...")
    scan = gw.scan_grid(setup.cfg, setup.model, caps=setup.caps,
                        quality_max=setup.quality_max)
    frame = grid_front_frame(setup, scan)
    log(f"grid: {scan.size:,} designs in {scan.seconds:.1f} s, front {len(frame)}")
    walks = gw.walks(setup.cfg, setup.model, scan, caps=setup.caps,
                     quality_max=setup.quality_max)
    meta = {
        "key": key, "model_version": MODEL_VERSION, "config_hash": setup.cfg.hash,
        "grid": {"designs": scan.size, "front_size": len(frame),
                 "seconds": round(scan.seconds, 2)},
        "greedy": {_cap(c): (w.figures() if w is not None else None) for c, w in walks.items()},
    }
    cache.mkdir(parents=True, exist_ok=True)
    store.write_table(frame, path, metadata=meta)
    return frame, json.loads(json.dumps(meta, default=str)), False


def reference_front(setup: Setup, cache: Path, key: str, *, rebuild: bool = False,
                    budget: dict[str, Any] | None = None, log=LOG
                    ) -> tuple[pd.DataFrame, dict[str, Any], bool]:
    """The independent reference front (cached; benchmarks/independent_search.py: simulated
    annealing and random restarts with coordinate descent, the model as a black box) and how it
    was built (evaluations, seconds)."""
    from dse import MODEL_VERSION, store

    path = cache / "reference_front.parquet"
    hit = None if rebuild else _cached(path, key)
    if hit is not None:
        return hit[0], hit[1], True
    ref = ind.build(setup.cfg, setup.model, setup.settings.space, setup.quality_max,
                    seed=REFERENCE_SEED, log=log, **(budget or {}))
    n = len(ref.batch["pe_m"])
    frame = rows(setup, ref.batch, [f"ind-{i}" for i in range(n)])
    meta = {"key": key, "model_version": MODEL_VERSION, "config_hash": setup.cfg.hash,
            "built": ref.built, "front_size": n}
    cache.mkdir(parents=True, exist_ok=True)
    store.write_table(frame, path, metadata=meta)
    return frame, json.loads(json.dumps(meta, default=str)), False


def roi_points(points: np.ndarray, setup: Setup) -> np.ndarray | None:
    """(latency_ms, utilization) of the points in the region of interest: the quality tier and
    latency at most :data:`ROI_BUDGET_FACTOR` x ``select.latency_budget_ms`` (None: the
    objectives lack one of latency, utilization and quality_loss, or there is no budget)."""
    from dse.select import run_budget

    names = [n for n, _ in setup.objectives]
    budget = run_budget(setup.cfg)
    if budget is None or not {"latency_ms", "utilization", "quality_loss"} <= set(names):
        return None
    pts = np.asarray(points, dtype=np.float64).reshape(-1, len(names))
    lat, util, q = (pts[:, names.index(n)] for n in ("latency_ms", "utilization",
                                                      "quality_loss"))
    keep = (q <= setup.quality_max) & (lat <= ROI_BUDGET_FACTOR * budget) & (util <= 1.0)
    return np.stack([lat[keep], util[keep]], axis=1)


def roi_hypervolume(points: np.ndarray, setup: Setup) -> float | None:
    """Hypervolume of the region-of-interest points in (latency_ms, utilization), reference point
    (:data:`ROI_BUDGET_FACTOR` x budget, 1.0): the area of the ROI the points dominate."""
    import moocore

    roi = roi_points(points, setup)
    if roi is None:
        return None
    if len(roi) == 0:
        return 0.0
    from dse.select import run_budget

    budget = run_budget(setup.cfg)
    return float(moocore.hypervolume(roi, ref=np.array([ROI_BUDGET_FACTOR * budget, 1.0])))


# ----------------------------------------------------------------------------- figures
def _median(values: Sequence[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return round(float(statistics.median(v)), 6) if v else None


def best_known(setup: Setup, fronts: Sequence[pd.DataFrame],
               runs: dict[str, list[dict[str, Any]]]) -> tuple[pd.DataFrame, int]:
    """The front of ``fronts`` and every run's final front, and how many of its points none of
    ``fronts`` weakly dominates (what the runs added)."""
    from dse.pareto import front

    base = front(pd.concat(list(fronts), ignore_index=True), setup.objectives)
    finals = [r["final_front"] for rs in runs.values() for r in rs]
    union = front(pd.concat([base, *finals], ignore_index=True), setup.objectives)
    added = _not_dominated_by(points_of(union, setup.objectives),
                              points_of(base, setup.objectives))
    return union, added


def summarise(runs: Sequence[dict[str, Any]], caps: Sequence[float]) -> dict[str, Any]:
    """Medians over the seeds of one method, checkpoint by checkpoint, with per-seed values."""
    by_seed = sorted(runs, key=lambda r: r["seed"])
    table = []
    for i, cp in enumerate(by_seed[0]["checkpoints"]):
        at = [r["checkpoints"][i] for r in by_seed]
        table.append({
            "label": cp["label"], "sampled": cp["sampled"],
            "evaluations": _median([a["evaluations"] for a in at]),
            "hv_ratio": _median([a["hv_ratio"] for a in at]),
            "hv_ratio_per_seed": [a["hv_ratio"] for a in at],
            "hv_ratio_log": _median([a["hv_ratio_log"] for a in at]),
            "hv_ratio_log_per_seed": [a["hv_ratio_log"] for a in at],
            "roi_hv_ratio": _median([a.get("roi_hv_ratio") for a in at]),
            "roi_hv_ratio_per_seed": [a.get("roi_hv_ratio") for a in at],
            "roi_hv_ratio_best_known": _median([a.get("roi_hv_ratio_best_known") for a in at]),
            "seconds": _median([a["seconds"] for a in at]),
            "seconds_per_seed": [a["seconds"] for a in at],
            "fastest_ms": {_cap(c): _median([a["fastest_ms"][_cap(c)] for a in at])
                           for c in caps},
            "fastest_ms_per_seed": {_cap(c): [a["fastest_ms"][_cap(c)] for a in at]
                                    for c in caps},
        })
    return {"seeds": [r["seed"] for r in by_seed], "checkpoints": table,
            "front_size_per_seed": [r["front_size"] for r in by_seed],
            "points_beyond_cached_reference_per_seed": [r["points_beyond_reference"]
                                                        for r in by_seed]}


def dominates(front: np.ndarray, point: np.ndarray) -> bool:
    """Some point of ``front`` is at least as good as ``point`` in every objective, up to the
    rounding of the walk's figures (4 decimals of utilization, 4 of latency_ms)."""
    tol = np.abs(point) * 1e-4 + 1e-4
    return bool(len(front)) and bool(
        (np.asarray(front) <= point[None, :] + tol[None, :]).all(axis=1).any())


def greedy_point(walk: dict[str, Any] | None, objectives) -> np.ndarray | None:
    """A walk's end design in minimisation form (None: no walk, or an objective it lacks)."""
    if walk is None or any(name not in walk for name, _ in objectives):
        return None
    sign = {"min": 1.0, "max": -1.0}
    return np.array([sign[d] * float(walk[name]) for name, d in objectives])


def benchmark(config: str, *, seeds: int = SEEDS, cache: str | Path = "results/bench",
              checkpoints: Sequence[int] = CHECKPOINTS, caps: Sequence[float] = CAPS,
              jobs: int = 1, rebuild: bool = False, search_mapper: bool = True, log=LOG,
              reference_budget: dict[str, Any] | None = None, baseline: bool = True
              ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Build or reuse the reference, run every (method, seed), compute the figures.

    Returns:
        ``(figures, curves)``: the JSON-able figures and a long table ``method, seed,
        evaluations, hv_ratio`` for the plot.
    """
    from dse import MODEL_VERSION
    from dse.pareto import reference_from
    from dse.select import run_budget

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    setup = make_setup(config, caps)
    roi_budget = run_budget(setup.cfg)
    s = setup.settings
    cache = Path(cache)
    key = cache_key(setup, reference_budget)
    grid_front, grid_meta, grid_hit = grid_and_walks(setup, cache, key, rebuild=rebuild, log=log)
    greedy = grid_meta["greedy"]
    ref_frame, ref_meta, ref_hit = reference_front(setup, cache, key, rebuild=rebuild,
                                                   budget=reference_budget, log=log)
    independent = ref_frame
    methods = [s.sampler] + (["random"] if s.sampler != "random" and baseline else [])
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for m in methods:
        for i in range(seeds):
            t0 = time.perf_counter()
            r = run_method(config, tuple(caps), m, s.seed + i, grid_front, checkpoints, jobs,
                           search_mapper)
            last = r["checkpoints"][-1]
            log(f"{m} seed {s.seed + i}: front {len(last['front'])}, fastest "
                f"{last['fastest_ms']}, {time.perf_counter() - t0:.0f} s")
            runs[m].append(r)
    long_points = points_of(ref_frame, setup.objectives)
    for rs in runs.values():
        for r in rs:
            r["points_beyond_reference"] = _not_dominated_by(r["checkpoints"][-1]["front"],
                                                             long_points)
    # the best-known front: the independent reference, the grid's front and every run's final
    # front (the global ratio is against it; the independent search aims at the quality tier)
    ref_frame, added = best_known(setup, [independent, grid_front], runs)
    ref_points = points_of(ref_frame, setup.objectives)
    ref = reference_from(ref_points)
    roi_ind = roi_hypervolume(points_of(independent, setup.objectives), setup)
    roi_known = roi_hypervolume(ref_points, setup)
    for rs in runs.values():
        for r in rs:
            score(r, ref_points, setup, roi_ind, roi_known)
    summary = {m: summarise(runs[m], caps) for m in methods}
    for m in methods:
        summary[m]["dominates_greedy_per_seed"] = {
            c: [dominates(r["checkpoints"][-1]["front"], greedy_point(w, setup.objectives))
                for r in runs[m]] if greedy_point(w, setup.objectives) is not None else None
            for c, w in greedy.items()}
    ship = summary[s.sampler]["checkpoints"]
    final = ship[-1]
    figures: dict[str, Any] = {
        "config": str(config),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "model_version": MODEL_VERSION,
        "cpu_count": os.cpu_count(), "jobs": jobs,
        "load_average_1min": {"start": round(load_start[0], 2),
                              "end": round(os.getloadavg()[0], 2)},
        "objectives": [list(o) for o in setup.objectives],
        "quality_max": setup.quality_max, "util_caps": [_cap(c) for c in caps],
        "budget": {"sampler": s.sampler, "workers": s.workers,
                   "trials_per_worker": s.trials_per_worker, "batch_size": s.batch_size,
                   "warm_start": s.warm_start, "warm_start_designs": len(grid_front),
                   "refine_max_evaluations": s.refine_max_evaluations,
                   "search_model": "mapper" if search_mapper else "plain (no mapper)",
                   "storage": "in-memory (one Optuna InMemoryStorage per island)"},
        "seconds_note": "single-core seconds of the search and refinement, summed over workers "
                        "(the grid sweep is not counted: every method starts from its front)",
        "reference": {
            "path": str(cache / "reference_front.parquet"), "key": key, "reused": ref_hit,
            "method": ref_meta["built"]["method"],
            "front_size": len(independent), "built": ref_meta["built"],
            "fastest_ms": fastest(independent, setup),
            "roi_hypervolume": roi_ind,
        },
        "best_known": {
            "what": "the independent reference, the grid front and every measured run's final "
                    "front (the global hypervolume ratios are against it)",
            "front_size": len(ref_frame), "points_beyond_reference_and_grid": added,
            "ideal": ref.ideal.tolist(), "nadir": ref.nadir.tolist(),
            "log_scaled_objectives": [o for o, lg in zip((n for n, _ in setup.objectives),
                                                         LogRatio(ref_points).log, strict=True)
                                      if lg],
            "fastest_ms": fastest(ref_frame, setup),
            "roi_hypervolume": roi_known,
        },
        "region_of_interest": {
            "latency_ms_max": (None if roi_budget is None else ROI_BUDGET_FACTOR * roi_budget),
            "quality_loss_max": setup.quality_max,
            "hypervolume": "area dominated in (latency_ms, utilization) up to (latency_ms_max, "
                           "1.0) by the front's designs in the region",
        },
        "grid": {**grid_meta["grid"], "reused": grid_hit,
                 "hv_ratio": round(ref.ratio(points_of(grid_front, setup.objectives)), 6),
                 "hv_ratio_log": round(LogRatio(ref_points).ratio(
                     points_of(grid_front, setup.objectives)), 6),
                 "fastest_ms": fastest(grid_front, setup)},
        "greedy": greedy,
        "methods": summary,
        "baseline_ratio": {cp["label"]: (round(r["hv_ratio"] / cp["hv_ratio"], 6)
                                         if r["hv_ratio"] and cp["hv_ratio"] else None)
                           for cp, r in zip(ship, summary.get("random", summary[s.sampler])
                                            ["checkpoints"], strict=True)},
        "bar": {
            "roi_hv_ratio_target": TARGET_RATIO,
            "roi_hv_ratio": final["roi_hv_ratio"],
            "roi_hv_ratio_per_seed": final["roi_hv_ratio_per_seed"],
            "roi_hv_met": final["roi_hv_ratio"] is not None
            and final["roi_hv_ratio"] >= TARGET_RATIO,
            "fastest_ms": final["fastest_ms"],
            "reference_fastest_ms": fastest(independent, setup),
            "at_least_as_fast_as_reference": {
                c: (final["fastest_ms"][c] is not None and (
                    fastest(independent, setup)[c] is None
                    or final["fastest_ms"][c] <= fastest(independent, setup)[c] * (1 + 1e-6)))
                for c in final["fastest_ms"]},
            "hv_ratio_target": TARGET_RATIO,
            "hv_ratio": final["hv_ratio"],
            "hv_ratio_log": final["hv_ratio_log"],
            "hv_met": final["hv_ratio"] is not None and final["hv_ratio"] >= TARGET_RATIO,
            "dominates_greedy": all(all(v) for v in summary[s.sampler]
                                    ["dominates_greedy_per_seed"].values() if v is not None),
            "fastest_vs_greedy": {c: (round(final["fastest_ms"][c] / w["latency_ms"], 4)
                                      if w is not None and final["fastest_ms"][c] else None)
                                  for c, w in greedy.items()},
        },
    }
    figures["seconds_total"] = round(time.perf_counter() - t_start, 1)
    curves = pd.DataFrame([
        {"method": m, "seed": r["seed"], "evaluations": cp["evaluations"],
         "hv_ratio": cp["hv_ratio"], "hv_ratio_log": cp["hv_ratio_log"],
         "roi_hv_ratio": cp["roi_hv_ratio"]}
        for m in methods for r in runs[m] for cp in r["checkpoints"]])
    curves["method"] = pd.Categorical(curves["method"], categories=methods, ordered=True)
    return figures, curves


def plot(curves: pd.DataFrame, out: Path, *, title: str) -> Path:
    """Hypervolume ratio (median over seeds, min-max band) against evaluations: linear
    objectives on the left, objectives spanning decades log-scaled on the right, one x label
    under both (dse.plots.convergence)."""
    from dse.plots import plot_convergence

    return plot_convergence(
        curves,
        out,
        title=title,
        panels=(("hv_ratio", "objectives as they are"),
                ("hv_ratio_log", "decade-spanning objectives in log10")),
        sampler="method",
        xlabel="model evaluations after the grid (warm start, trials, refinement)",
        ylabel="hypervolume / reference front's",
        target=TARGET_RATIO,
        target_label=f"target {TARGET_RATIO:g}",
    )


# ----------------------------------------------------------------------------- command line
def parse_ints(text: str, key: str) -> list[int]:
    """``"1000,2500"`` -> ``[1000, 2500]`` (positive, ascending, distinct)."""
    from dse.errors import UserError

    try:
        values = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        values = []
    if not values or values[0] < 1:
        raise UserError("malformed list", key=key, value=text,
                        allowed="comma-separated positive integers, e.g. 1000,2500,5000")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by this script and ``dse search-quality``."""
    p.add_argument("--config", default="configs/config.yaml", help="main config YAML")
    p.add_argument("--out", default="results/bench/search_quality.json", help="JSON figures")
    p.add_argument("--plot", help="hypervolume ratio against evaluations (PNG)")
    p.add_argument("--seeds", type=int, default=SEEDS,
                   help="seeds per method: search.seed, +1, ... (median reported; default 3)")
    p.add_argument("--cache", help="folder of the cached reference and grid fronts "
                   "(default: the --out folder)")
    p.add_argument("--checkpoints", default=",".join(map(str, CHECKPOINTS)),
                   help="sampled-trial checkpoints (default 1000,2500,5000)")
    p.add_argument("--caps", default=",".join(map(str, CAPS)),
                   help="utilization caps of the fastest-design figures (default "
                   "0.6,0.8,0.95,1.0)")
    p.add_argument("--jobs", type=int, default=1,
                   help="processes for the islands of one run (default 1)")
    p.add_argument("--search-model", choices=("mapper", "plain"), default="mapper",
                   help="model of the measured searches and refinements (plain: no mapper, "
                   "runtime tiles as built; the grid and the reference always map)")
    p.add_argument("--reference-chains", type=int, default=ind.CHAINS,
                   help=f"annealing chains per cap of the independent reference "
                   f"(default {ind.CHAINS})")
    p.add_argument("--reference-steps", type=int, default=ind.STEPS,
                   help=f"annealing steps per chain (default {ind.STEPS})")
    p.add_argument("--reference-restarts", type=int, default=ind.RESTARTS,
                   help=f"random restarts per cap that descend (default {ind.RESTARTS})")
    p.add_argument("--reference-caps", default=",".join(map(str, ind.CAPS)),
                   help="utilization caps the independent reference anneals and descends at "
                   "(default the ladder 0.3 ... 1.0)")
    p.add_argument("--reference-kicks", type=int, default=ind.KICKS,
                   help=f"rounds of random moves and descent from the best designs per cap "
                   f"(default {ind.KICKS}; 0: none)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the random-sampler baseline (only the shipped search)")
    p.add_argument("--rebuild-reference", action="store_true",
                   help="rebuild the cached reference even when its key matches")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed arguments; write JSON (and the plot); print JSON."""
    from dse.errors import UserError
    from dse.store import atomic_write_text, check_output

    for key, value in (("--seeds", args.seeds), ("--jobs", args.jobs),
                       ("--reference-chains", args.reference_chains),
                       ("--reference-steps", args.reference_steps),
                       ("--reference-restarts", args.reference_restarts)):
        if value < 1:
            raise UserError("must be positive", key=key, value=value, allowed="an integer >= 1")
    if args.reference_kicks < 0:
        raise UserError("must not be negative", key="--reference-kicks",
                        value=args.reference_kicks, allowed="an integer >= 0")
    check_output(args.out)
    figures, curves = benchmark(
        args.config, seeds=args.seeds, cache=args.cache or Path(args.out).parent,
        checkpoints=parse_ints(args.checkpoints, "--checkpoints"),
        caps=gw.parse_caps(args.caps), jobs=args.jobs, rebuild=args.rebuild_reference,
        search_mapper=args.search_model == "mapper",
        reference_budget={"chains": args.reference_chains, "steps": args.reference_steps,
                          "restarts": args.reference_restarts, "kicks": args.reference_kicks,
                          "caps": gw.parse_caps(args.reference_caps, "--reference-caps")},
        baseline=not args.no_baseline)
    if args.plot:
        figures["plot"] = str(plot(curves, Path(args.plot),
                                   title="Search as shipped vs the best-known front"))
    text = json.dumps(figures, indent=2)
    atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Script entry point (exit 2 with one line on bad input, like ``dse``)."""
    from dse.errors import UserError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        print(f"search_quality: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
