"""Search quality: how close Optuna's samplers get to the exhaustive front, and how fast.

1. Coarse grid (``sweep.space`` of the config), where the exhaustive front is known: every design
   is evaluated in chunks and its feasible front fixes the hypervolume frame of reference
   (:func:`dse.pareto.reference_from`). Each sampler (TPE, NSGA-II, random) then searches the same
   grid in an in-memory study, in batches like ``dse search``; the hypervolume ratio of the
   feasible designs found after each budget (500, 1,000, 2,000, 5,000 evaluations by default) is
   reported as the median of the seeds. Target (DESIGN.md): >= 99% of the exhaustive hypervolume
   with <= 2% of the grid's evaluations.
2. Large space (``search.space``): no exhaustive front exists. All runs of all samplers are pooled,
   their union front fixes the frame of reference, and each sampler's hypervolume at a budget is
   compared with random search's at the same budget (median over seeds; ``vs_random`` > 1 means
   better than random).

Writes the figures as JSON (``--out``) and prints them; ``--plot`` draws hypervolume against
evaluations (``dse.plots.plot_convergence`` when available, else a plain matplotlib figure).
Runs are spread over ``--jobs`` processes (default: all cores).

Usage::

    python benchmarks/search_quality.py --config configs/config.yaml \\
        --out results/bench/search_quality.json --plot results/bench/convergence.png
    dse search-quality --config configs/config.yaml --out results/bench/search_quality.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import moocore
import numpy as np
import pandas as pd

#: Defaults of the command line.
BUDGETS = (500, 1000, 2000, 5000)
SAMPLERS = ("tpe", "nsgaii", "random")
TARGET_RATIO = 0.99
TARGET_FRACTION = 0.02
#: Designs per model call when sweeping the coarse grid for its exhaustive front.
CHUNK = 500_000


def minimisation(values: np.ndarray, objectives: Sequence[tuple[str, str]]) -> np.ndarray:
    """Raw objective values (n, k) -> minimisation form (``max`` columns negated)."""
    signs = np.array([-1.0 if d == "max" else 1.0 for _, d in objectives])
    return np.asarray(values, dtype=np.float64) * signs + 0.0


def exhaustive_front(config: str) -> tuple[np.ndarray, int, float]:
    """The coarse grid's feasible front (minimisation form), its size in designs, seconds taken."""
    from dse.config import load_config
    from dse.model import Model
    from dse.search import objective_values
    from dse.space import Grid

    cfg = load_config(config)
    grid = Grid(cfg.raw["sweep"]["space"], file=str(cfg.path))
    model = Model(cfg.platform, cfg.workload)
    t0 = time.perf_counter()
    front = np.empty((0, len(cfg.objectives)))
    for start in range(0, grid.size, CHUNK):
        index = np.arange(start, min(start + CHUNK, grid.size), dtype=np.int64)
        cols = model.evaluate(grid.decode(index)).columns
        pts = minimisation(objective_values(cols, cfg.objectives), cfg.objectives)
        ok = np.asarray(cols["feasible"], dtype=bool) & np.isfinite(pts).all(axis=1)
        front = nondominated(np.concatenate([front, pts[ok]]))
    return front, grid.size, time.perf_counter() - t0


def nondominated(points: np.ndarray) -> np.ndarray:
    """The distinct nondominated rows of ``points`` (minimisation)."""
    if len(points) == 0:
        return points
    pts = np.unique(points, axis=0)
    return pts[moocore.is_nondominated(pts)]


@dataclass
class Run:
    """One search run: which space, sampler and seed, and what it evaluated (in order)."""

    space: str
    sampler: str
    seed: int
    points: np.ndarray      # (n, k) minimisation form
    feasible: np.ndarray    # (n,) bool
    seconds: float

    @property
    def trials_per_s(self) -> float:
        return len(self.points) / self.seconds if self.seconds > 0 else float("nan")


def run_search(config: str, space: str, sampler: str, seed: int, n_trials: int,
               batch_size: int) -> Run:
    """One in-memory study of ``n_trials`` on the ``grid`` or ``large`` space."""
    import optuna

    from dse.config import load_config
    from dse.model import Model
    from dse.search import SearchSpace, make_sampler, optimize, settings_from_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = load_config(config)
    if space == "grid":
        sp = SearchSpace(cfg.raw["sweep"]["space"], file=str(cfg.path), key="sweep.space")
        tpe = None
    else:
        settings = settings_from_config(cfg)
        sp, tpe = settings.space, settings.tpe
    model = Model(cfg.platform, cfg.workload)
    directions = ["maximize" if d == "max" else "minimize" for _, d in cfg.objectives]
    study = optuna.create_study(directions=directions,
                                sampler=make_sampler(sampler, seed=seed, batch_size=batch_size,
                                                     tpe=tpe))
    t0 = time.perf_counter()
    values, feasible = optimize(study, sp, model, cfg.objectives, n_trials, batch_size=batch_size)
    seconds = time.perf_counter() - t0
    return Run(space, sampler, seed, minimisation(values, cfg.objectives), feasible, seconds)


def _run_task(args: tuple, cache: str | None = None) -> Run:
    """One run, read from / written to the run cache (``.npz`` per run) when given."""
    path = _cache_path(cache, *args) if cache else None
    if path is not None and path.is_file():
        with np.load(path) as data:
            return Run(args[1], args[2], args[3], data["points"], data["feasible"],
                       float(data["seconds"]))
    run = run_search(*args)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, points=run.points, feasible=run.feasible, seconds=run.seconds)
        os.replace(tmp, path)
    return run


def _cache_path(cache: str, config: str, space: str, sampler: str, seed: int, n_trials: int,
                batch_size: int) -> Path:
    """Cache file of one run: keyed by everything that determines it (config content included)."""
    from dse import MODEL_VERSION
    from dse.config import config_hash, load_config

    cfg = load_config(config)
    key = config_hash(cfg.raw, cfg.platform_raw, cfg.model_raw, MODEL_VERSION, space, sampler,
                      seed, n_trials, batch_size)
    return Path(cache) / f"{space}-{sampler}-seed{seed}-{key}.npz"


def checkpoints(n: int, batch_size: int, budgets: Sequence[int]) -> list[int]:
    """Evaluation counts where curves are sampled: every batch boundary plus the budgets."""
    steps = set(range(batch_size, n + 1, batch_size)) | {b for b in budgets if b <= n} | {n}
    return sorted(steps)


def curve(run: Run, reference, points_at: Sequence[int]) -> list[float]:
    """Hypervolume ratio of the feasible designs among the first ``b`` evaluations, per ``b``."""
    out = []
    for b in points_at:
        pts = run.points[:b][run.feasible[:b]]
        out.append(float(reference.ratio(nondominated(pts))) if len(pts) else 0.0)
    return out


def _median_table(runs: Sequence[Run], reference, budgets: Sequence[int]
                  ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, list[float]]]]:
    med: dict[str, dict[str, float]] = {}
    per_seed: dict[str, dict[str, list[float]]] = {}
    for sampler in sorted({r.sampler for r in runs}, key=SAMPLERS.index):
        rs = [r for r in runs if r.sampler == sampler]
        vals = {str(b): [round(curve(r, reference, [b])[0], 6) for r in rs] for b in budgets}
        per_seed[sampler] = vals
        med[sampler] = {b: round(statistics.median(v), 6) for b, v in vals.items()}
    return med, per_seed


def curves_frame(runs: Sequence[Run], reference, batch_size: int,
                 budgets: Sequence[int]) -> pd.DataFrame:
    """Long table ``sampler, evaluations, hv_ratio, seed`` for the convergence plot."""
    rows = []
    for r in runs:
        at = checkpoints(len(r.points), batch_size, budgets)
        for b, v in zip(at, curve(r, reference, at), strict=True):
            rows.append({"sampler": r.sampler, "evaluations": b, "hv_ratio": v, "seed": r.seed})
    frame = pd.DataFrame(rows)
    order = [s for s in SAMPLERS if s in set(frame["sampler"])]
    frame["sampler"] = pd.Categorical(frame["sampler"], categories=order, ordered=True)
    return frame


def plot(curves: pd.DataFrame, out: Path, *, title: str) -> Path:
    """Convergence figure via dse.plots when it exists, else a plain matplotlib figure."""
    try:
        from dse.plots import plot_convergence
    except ImportError:
        plot_convergence = None
    if plot_convergence is not None:
        try:
            return Path(plot_convergence(curves, out, title=title))
        except TypeError:  # an older signature without title
            return Path(plot_convergence(curves, out))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for sampler, g in curves.groupby("sampler", observed=True):
        med = g.groupby("evaluations")["hv_ratio"].median()
        ax.plot(med.index, med.to_numpy(), label=str(sampler))
    ax.axhline(TARGET_RATIO, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("evaluations (trials)")
    ax.set_ylabel("hypervolume / reference hypervolume")
    ax.set_title(title)
    ax.legend(title="sampler")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return out


def evaluations_to(curves: pd.DataFrame, ratio: float) -> dict[str, int | None]:
    """Per sampler: first evaluation count (batch resolution) where the seeds' median curve
    reaches ``ratio`` (None if it never does)."""
    med = curves.groupby(["sampler", "evaluations"], observed=True)["hv_ratio"].median()
    out: dict[str, int | None] = {}
    for sampler in curves["sampler"].cat.categories:
        series = med.loc[sampler] if sampler in med.index.get_level_values(0) else pd.Series()
        hits = series[series >= ratio]
        out[str(sampler)] = int(hits.index.min()) if len(hits) else None
    return out


def first_budget_reaching(table: Mapping[str, float], ratio: float) -> int | None:
    """Smallest budget whose median ratio is >= ``ratio`` (None if none)."""
    hits = [int(b) for b, v in table.items() if v >= ratio]
    return min(hits) if hits else None


def benchmark(config: str, *, budgets: Sequence[int] = BUDGETS, seeds: int = 3,
              samplers: Sequence[str] = SAMPLERS, batch_size: int | None = None,
              large: bool = True, jobs: int | None = None, cache: str | None = None,
              log=lambda s: print(s, file=sys.stderr)
              ) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Run every (space, sampler, seed) and compute the figures.

    Args:
        cache: folder keeping each finished run (``.npz``); a rerun reuses them, so a long
            benchmark that is interrupted loses at most the runs in flight.

    Returns:
        ``(figures, curves)``: the JSON-able figures and, per space, the convergence table.
    """
    from dse.config import load_config
    from dse.pareto import reference_from
    from dse.search import DEFAULTS, settings_from_config

    cfg = load_config(config)
    settings = settings_from_config(cfg) if large or "search" in cfg.raw else None
    base_seed = settings.seed if settings else 0
    batch = batch_size or (settings.batch_size if settings else DEFAULTS["batch_size"])
    n = max(budgets)
    spaces = ["grid", "large"] if large else ["grid"]
    # slowest first (TPE grows ~quadratically with trials), so the pool stays busy
    tasks = [(config, sp, s, base_seed + i, n, batch) for s in samplers
             for sp in reversed(spaces) for i in range(seeds)]
    jobs = jobs or os.cpu_count() or 1
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        front_future = pool.submit(exhaustive_front, config)
        run_futures = [pool.submit(_run_task, t, cache) for t in tasks]
        runs = []
        for f in run_futures:
            r = f.result()
            log(f"{r.space:5s} {r.sampler:6s} seed {r.seed}: {len(r.points)} trials in "
                f"{r.seconds:.1f} s ({r.trials_per_s:.0f}/s), feasible {r.feasible.mean():.0%}")
            runs.append(r)
        front, grid_size, front_s = front_future.result()
    log(f"exhaustive front: {len(front)} designs of {grid_size:,} in {front_s:.1f} s")

    figures: dict[str, Any] = {
        "config": str(config), "objectives": [list(o) for o in cfg.objectives],
        "budgets": list(budgets), "seeds": seeds, "batch_size": batch, "samplers": list(samplers),
        "storage": "in-memory", "tpe_options": settings.tpe if settings else None,
    }
    curves: dict[str, pd.DataFrame] = {}
    # 1. coarse grid against its exhaustive front
    ref = reference_from(front)
    grid_runs = [r for r in runs if r.space == "grid"]
    med, per_seed = _median_table(grid_runs, ref, budgets)
    max_evals = int(TARGET_FRACTION * grid_size)
    figures["grid"] = {
        "designs": grid_size, "front_size": len(front), "front_seconds": round(front_s, 2),
        "hv_ratio_median": med, "hv_ratio_per_seed": per_seed,
        "target": {"hv_ratio": TARGET_RATIO, "max_evaluations": max_evals},
        "first_budget_reaching_target": {s: first_budget_reaching(t, TARGET_RATIO)
                                         for s, t in med.items()},
        "meets_target": {s: (lambda b: b is not None and b <= max_evals)(
            first_budget_reaching(t, TARGET_RATIO)) for s, t in med.items()},
        "trials_per_s_median": _speed(grid_runs),
    }
    curves["grid"] = curves_frame(grid_runs, ref, batch, budgets)
    figures["grid"]["evaluations_to_target"] = evaluations_to(curves["grid"], TARGET_RATIO)
    # 2. large space against the union of every run's front
    if large:
        large_runs = [r for r in runs if r.space == "large"]
        union = nondominated(np.concatenate([r.points[r.feasible] for r in large_runs]))
        if len(union):
            lref = reference_from(union)
            lmed, lseed = _median_table(large_runs, lref, budgets)
            vs_random = {s: {b: (round(v / lmed["random"][b], 4) if lmed.get("random", {}).get(b)
                                 else None) for b, v in t.items()} for s, t in lmed.items()}
            curves["large"] = curves_frame(large_runs, lref, batch, budgets)
            to_99 = evaluations_to(curves["large"], TARGET_RATIO)
        else:
            lmed, lseed, vs_random, to_99 = {}, {}, {}, {}
        figures["large"] = {
            "designs": settings.space.size, "union_front_size": len(union),
            "hv_ratio_to_union_median": lmed, "hv_ratio_to_union_per_seed": lseed,
            "vs_random": vs_random,
            "evaluations_to_99pct_of_union": to_99,
            "feasible_fraction_median": {s: round(statistics.median(
                float(r.feasible.mean()) for r in large_runs if r.sampler == s), 4)
                for s in samplers},
            "trials_per_s_median": _speed(large_runs),
        }
    figures["seconds_total"] = round(time.perf_counter() - t0, 1)
    figures["cpu_count"] = os.cpu_count()
    figures["jobs"] = jobs
    return figures, curves


def _speed(runs: Sequence[Run]) -> dict[str, float]:
    return {s: round(statistics.median(r.trials_per_s for r in runs if r.sampler == s), 1)
            for s in sorted({r.sampler for r in runs}, key=SAMPLERS.index)}


def parse_budgets(text: str) -> list[int]:
    """``"500,1000"`` -> ``[500, 1000]`` (positive, ascending, distinct)."""
    from dse.errors import UserError

    try:
        values = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise UserError("malformed budgets", key="--budgets", value=text,
                        allowed="comma-separated positive integers, e.g. 500,1000,2000,5000"
                        ) from None
    if not values or values[0] < 1:
        raise UserError("budgets must be positive", key="--budgets", value=text,
                        allowed="comma-separated positive integers")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by this script and ``dse search-quality``."""
    p.add_argument("--config", default="configs/config.yaml", help="main config YAML")
    p.add_argument("--out", default="results/bench/search_quality.json", help="JSON figures")
    p.add_argument("--plot", help="convergence plot (PNG); the large space gets <stem>-large")
    p.add_argument("--budgets", default=",".join(map(str, BUDGETS)),
                   help="evaluation budgets, comma-separated (default 500,1000,2000,5000)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per sampler (median reported)")
    p.add_argument("--samplers", default=",".join(SAMPLERS), help="samplers, comma-separated")
    p.add_argument("--batch-size", type=int, help="trials per batch (default search.batch_size)")
    p.add_argument("--no-large", action="store_true", help="skip the large-space comparison")
    p.add_argument("--jobs", type=int, help="parallel processes (default: all cores)")
    p.add_argument("--cache", help="folder keeping finished runs for a rerun (default: "
                   "<out folder>/search_quality_runs; 'none' to disable)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed arguments; write JSON (and plots); print JSON."""
    from dse.errors import UserError
    from dse.search import SAMPLERS as KNOWN
    from dse.store import atomic_write_text

    budgets = parse_budgets(args.budgets)
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    bad = [s for s in samplers if s not in KNOWN]
    if bad or not samplers:
        raise UserError("unknown sampler", key="--samplers", value=args.samplers,
                        allowed=", ".join(KNOWN))
    if args.seeds < 1:
        raise UserError("must be positive", key="--seeds", value=args.seeds,
                        allowed="an integer >= 1")
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError("must be positive", key="--batch-size", value=args.batch_size,
                        allowed="an integer >= 1")
    figures, curves = benchmark(args.config, budgets=budgets, seeds=args.seeds, samplers=samplers,
                                batch_size=args.batch_size, large=not args.no_large, jobs=args.jobs,
                                cache=_cache_dir(args))
    if args.plot:
        out = Path(args.plot)
        titles = {"grid": "Coarse grid: hypervolume relative to the exhaustive front",
                  "large": "Large space: hypervolume relative to the union front of all runs"}
        figures["plots"] = []
        for space, frame in curves.items():
            path = out if space == "grid" else out.with_name(f"{out.stem}-{space}{out.suffix}")
            figures["plots"].append(str(plot(frame, path, title=titles[space])))
    text = json.dumps(figures, indent=2)
    atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


def _cache_dir(args: argparse.Namespace) -> str | None:
    if args.cache == "none":
        return None
    return args.cache or str(Path(args.out).parent / "search_quality_runs")


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
