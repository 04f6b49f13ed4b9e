"""Local refinement of a Pareto front: moves from every front design, one and several
parameters at once.

After the global search, the front (of the sweep and the search workers) is improved by a
deterministic neighbourhood pass, round by round:

1. Front designs not yet expanded (at most :data:`ROUND_PARENTS` a round, those best in some
   objective first: :func:`_parents`) get every move of :func:`dse.moves.neighbours` over the
   searched parameters of ``search.space``: one-parameter moves (previous / next value, x2 and
   /2, every other choice; tiles by one PE factor) and compound moves (engine size with CU
   count, PE shape, channels with CUs). The clock is no move: the model chooses it per design.
2. The candidates of the round that were never evaluated before are evaluated in ONE
   ``Model.evaluate`` call.
3. The front becomes the non-dominated set of the old front and the feasible candidates. A
   candidate that enters the front raises its hypervolume (moocore; objectives normalised by
   the starting front, reference point 1.1: :func:`dse.pareto.reference_from`).
4. The loop stops when every front design has been expanded, i.e. no one-parameter move of
   any front design improves the front's hypervolume any more, or when ``max_evaluations``
   model evaluations are spent (the last round is cut to the budget, candidates in their
   deterministic order).

Nothing is random and candidates are ordered by (front design, parameter, move), so the same
inputs give the same output. Result rows are built by :func:`dse.results.results_frame`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import moocore
import numpy as np
import pandas as pd

from dse.model import Model
from dse.moves import concat as _concat
from dse.moves import design_hash, neighbours, take_rows
from dse.pareto import front, reference_from
from dse.results import batch_from_frame, results_frame
from dse.search.evaluate import objective_values
from dse.search.space import SearchSpace, hardware_only
from dse.select import run_budget
from dse.walk import greedy_walk

#: ``source`` of the designs refinement found.
SOURCE = "refine"

#: Front designs expanded per round at most (the others wait for a later round).
ROUND_PARENTS = 256

#: The region-of-interest refinement also expands designs within this relative margin of its
#: front (assumption: 3%, about one 5 MHz clock step at 170 MHz).
ROI_SLACK = 0.03

__all__ = ["SOURCE", "RefineResult", "design_hash", "neighbours", "refine", "refine_frame"]

@dataclass
class RefineResult:
    """The refined front and what it cost.

    Attributes:
        batch: the front's designs (parameter codes).
        points: (n, k) objective values in minimisation form.
        found: (n,) evaluation index of each design (-1: a starting design).
        start_rows: (n,) row of each starting design in the starting frame (-1: found).
        evaluations: model evaluations of candidates (the starting designs not counted).
        rounds: rounds run.
        hv_start, hv_end: hypervolume of the starting and of the refined front (normalised by
            the starting front).
        seconds: wall time.
        walk_evaluations: model evaluations of the greedy walks (outside the rounds' budget; a
            few hundred each).
        walk_ends: design hashes of the designs the walks ended on and of the region of
            interest's front (kept in the output even when a design outside the quality tier
            dominates them).
        roi_evaluations: model evaluations of the region-of-interest refinement.
    """

    batch: dict[str, np.ndarray]
    points: np.ndarray
    found: np.ndarray
    start_rows: np.ndarray
    evaluations: int
    rounds: int
    hv_start: float
    hv_end: float
    seconds: float
    walk_evaluations: int = 0
    walk_ends: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    roi_evaluations: int = 0


def _parents(points: np.ndarray, expanded: np.ndarray) -> np.ndarray:
    """The front designs a round expands: the unexpanded ones, at most :data:`ROUND_PARENTS`,
    those best in some objective first.

    The priority of a design is its best rank over the objectives (0 for the extremes): a
    scale-free order (a latency axis spanning three decades does not hide the fast designs)
    that grows the front from its ends and from the designs leading in any objective. Ties go
    to the earlier design.
    """
    todo = np.flatnonzero(~expanded)
    if todo.size <= ROUND_PARENTS:
        return todo
    ranks = np.argsort(np.argsort(points, axis=0, kind="stable"), axis=0, kind="stable")
    best = ranks.min(axis=1)[todo]
    return np.sort(todo[np.lexsort((todo, best))[:ROUND_PARENTS]])


def _member(h: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Which of ``h`` are in the sorted array ``seen``."""
    if seen.size == 0:
        return np.zeros(h.shape, dtype=bool)
    pos = np.clip(np.searchsorted(seen, h), 0, seen.size - 1)
    return seen[pos] == h


def _min_form(values: np.ndarray, objectives: Sequence[tuple[str, str]]) -> np.ndarray:
    sign = np.array([-1.0 if d == "max" else 1.0 for _, d in objectives])
    return values * sign + 0.0


def _admitted(columns: Mapping[str, np.ndarray], points: np.ndarray,
              limits: Mapping[str, float] | None) -> np.ndarray:
    """Feasible designs with finite objectives, and each column of ``limits`` at most its value
    (e.g. ``quality_loss`` within the quality tier)."""
    ok = np.asarray(columns["feasible"], dtype=bool) & np.isfinite(points).all(axis=1)
    for name, top in (limits or {}).items():
        ok &= np.asarray(columns[name], dtype=np.float64) <= top
    return ok


def _kept(points: np.ndarray, slack: float) -> np.ndarray:
    """The designs refinement keeps: the weakly non-dominated ones, and with ``slack`` > 0 every
    design that no front point dominates by more than that factor (no front point ``f`` with
    ``f x (1 + slack) <= p`` in every objective). Without positive objectives: the front."""
    nd = moocore.is_nondominated(np.ascontiguousarray(points), keep_weakly=True)
    if slack <= 0 or not (points > 0).all():
        return nd
    fr = points[nd] * (1.0 + slack)
    out = nd.copy()
    for s in range(0, len(points), 4096):
        p = points[s:s + 4096]
        out[s:s + 4096] |= ~(fr[None, :, :] <= p[:, None, :]).all(axis=2).any(axis=1)
    return out


def refine(model: Model, space: SearchSpace, objectives: Sequence[tuple[str, str]],
           start: Mapping[str, np.ndarray], *, max_evaluations: int,
           limits: Mapping[str, float] | None = None, slack: float = 0.0) -> RefineResult:
    """Refine the front of the designs ``start`` (see the module docstring).

    Args:
        model: the model (platform and workload).
        space: the search space (its searched parameters are the moves).
        objectives: ``(column, "min" | "max")`` pairs.
        start: the starting designs (usually a front), parameter codes.
        max_evaluations: budget of candidate evaluations (0: only re-evaluate ``start``).
        limits: model columns and their largest admitted values (a design beyond one is
            treated as infeasible), e.g. the region of interest.
        slack: keep and expand, besides the front, the designs within this relative margin of
            it (:func:`_kept`; positive objectives only): paths through designs a little behind
            the front, where a change pays only after the next one.
    """
    t0 = time.perf_counter()
    res = model.evaluate(dict(start))
    points = _min_form(objective_values(res.columns, objectives), objectives)
    ok = _admitted(res.columns, points, limits)
    keep = np.flatnonzero(ok)
    batch, points = take_rows(start, keep), points[keep]
    found = np.full(keep.size, -1, dtype=np.int64)
    start_rows = keep.astype(np.int64)
    if keep.size:
        nd = moocore.is_nondominated(np.ascontiguousarray(points), keep_weakly=True)
        batch, points = take_rows(batch, nd), points[nd]
        found, start_rows = found[nd], start_rows[nd]
    seen = np.unique(design_hash(batch)) if keep.size else np.empty(0, np.uint64)  # sorted
    expanded = np.zeros(len(found), dtype=bool)
    ref = reference_from(points) if keep.size else None
    hv = hv0 = ref.hypervolume(points) if ref is not None else 0.0
    evaluations = rounds = 0
    while evaluations < max_evaluations and not expanded.all():
        rounds += 1
        parents = _parents(points, expanded)
        cand = neighbours(space, take_rows(batch, parents))
        expanded[parents] = True
        h = design_hash(cand)
        _, first = np.unique(h, return_index=True)
        first = np.sort(first)                       # first occurrence, candidate order kept
        first = first[~_member(h[first], seen)]
        first = first[: max_evaluations - evaluations]
        if first.size == 0:
            break
        cand, h = take_rows(cand, first), h[first]
        seen = np.sort(np.concatenate([seen, h]))
        cres = model.evaluate(cand)
        cpoints = _min_form(objective_values(cres.columns, objectives), objectives)
        cok = _admitted(cres.columns, cpoints, limits)
        index = evaluations + np.arange(first.size, dtype=np.int64)
        evaluations += int(first.size)
        if not cok.any():
            break
        rows = np.flatnonzero(cok)
        batch = _concat([batch, take_rows(cand, rows)])
        points = np.concatenate([points, cpoints[rows]])
        found = np.concatenate([found, index[rows]])
        start_rows = np.concatenate([start_rows, np.full(rows.size, -1, dtype=np.int64)])
        expanded = np.concatenate([expanded, np.zeros(rows.size, dtype=bool)])
        nd = _kept(points, slack)
        batch, points, found = take_rows(batch, nd), points[nd], found[nd]
        start_rows, expanded = start_rows[nd], expanded[nd]
        hv = ref.hypervolume(points)
    return RefineResult(batch, points, found, start_rows, evaluations, rounds, hv0, hv,
                        time.perf_counter() - t0)


def refine_frame(model: Model, space: SearchSpace, objectives: Sequence[tuple[str, str]],
                 designs: pd.DataFrame, *, max_evaluations: int,
                 walk_caps: Sequence[float] = (), quality_max: float | None = None,
                 walk_starts: int = 1, roi_evaluations: int = 0,
                 latency_max: float | None = None) -> tuple[pd.DataFrame, RefineResult]:
    """Refine the front of result rows -> (the refined front's rows, the run's figures).

    With ``walk_caps``, greedy latency walks per cap (:mod:`dse.walk`) before the rounds (from
    the input front; the ends join the starting front) and after them (from the refined front);
    the designs the walks end on stay in the output even when a design outside the quality tier
    dominates them (the first walks' ends too, when the rounds drop them). A cap's walks
    start from diverse designs with ``quality_loss <= quality_max`` within the cap
    (:func:`_walk_starts`): the fastest of each compute-unit count, the ``walk_starts`` fastest
    of them (restarts from other engine partitions, not only the front's fastest design).

    With ``roi_evaluations`` (and ``quality_max``, ``latency_max``), a last refinement of the
    *region of interest*: the designs in the quality tier no slower than ``latency_max``
    (e.g. twice the latency budget), refined in (latency, utilization) alone, where the
    selection picks its designs; its front joins the output.

    The rows have the search export's columns: starting designs keep their ``design_id`` and
    ``source`` (``sweep`` when the input has none) with ``trial_number`` -1; found designs get
    ``r-<hash>`` ids, source ``refine`` and their evaluation index as ``trial_number``.
    """
    start = front(designs, objectives)
    if "source" not in start.columns:
        start = start.assign(source="sweep")
    walks = bool(walk_caps) and quality_max is not None
    pre, pre_ends = 0, np.empty(0, dtype=np.uint64)
    if walks:  # walk first from the inputs' fastest tier designs: they join the starting front
        ends, pre, _ = _walk_ends(model, space, hardware_only(batch_from_frame(designs)),
                                  walk_caps, quality_max, walk_starts)
        if ends is not None:
            pre_ends = design_hash(ends)
            ids = np.array([f"r-{h:016x}" for h in pre_ends.tolist()], dtype=object)
            extra = results_frame(model, ends, model.evaluate(ends), ids)
            extra["source"] = SOURCE
            start = pd.concat([start, extra], ignore_index=True)
    start_batch = hardware_only(batch_from_frame(start))
    result = refine(model, space, objectives, start_batch, max_evaluations=max_evaluations)
    if walks:  # the first walks' ends stay when the rounds drop them; walk again from the front
        result = _keep_starts(model, objectives, result, start_batch, pre_ends)
        result = _walk(model, space, objectives, replace(result, walk_ends=pre_ends), walk_caps,
                       quality_max, pre, walk_starts)
    if roi_evaluations > 0 and quality_max is not None and latency_max is not None:
        result = _roi(model, space, objectives, result, hardware_only(batch_from_frame(designs)),
                      roi_evaluations, quality_max, latency_max)
    ids = np.array([f"r-{h:016x}" for h in design_hash(result.batch).tolist()], dtype=object)
    src = np.full(len(ids), SOURCE, dtype=object)
    was = result.start_rows >= 0
    ids[was] = start["design_id"].to_numpy().astype(str)[result.start_rows[was]]
    src[was] = start["source"].astype(str).to_numpy()[result.start_rows[was]]
    frame = results_frame(model, result.batch, model.evaluate(result.batch), ids)
    frame["trial_number"] = result.found
    frame["source"] = pd.array(src.astype(str), dtype="string")
    # the front, and the walks' ends (the quality tier's fastest within each cap) even when a
    # design outside the tier dominates them
    walked = _member(design_hash(result.batch), np.sort(result.walk_ends))
    best = front(frame, objectives)
    if walked.any():
        walked &= ~frame["design_id"].isin(best["design_id"]).to_numpy()
        best = pd.concat([best, frame[walked]], ignore_index=True)
    return best, result


def roi_latency_max(cfg, settings) -> float | None:
    """The region of interest's latency bound in ms: ``search.refine.roi_latency_factor`` x
    the run model's ``select.latency_budget_ms`` (None without a budget)."""
    budget = run_budget(cfg)
    return None if budget is None else budget * settings.refine_roi_latency_factor


def _roi(model: Model, space: SearchSpace, objectives: Sequence[tuple[str, str]],
         result: RefineResult, inputs: Mapping[str, np.ndarray], budget: int,
         quality_max: float, latency_max: float) -> RefineResult:
    """``result`` with the front of the region of interest appended: its designs and the
    inputs' that lie in the region (quality tier, latency <= ``latency_max``) refined in
    (latency, utilization) with ``budget`` evaluations; the designs it adds are kept in the
    output like the walks' ends."""
    start = _concat([result.batch, inputs])
    h = design_hash(start)
    _, first = np.unique(h, return_index=True)  # once each, in hash order
    start = take_rows(start, first)
    roi = refine(model, space, [("latency_ms", "min"), ("utilization", "min")], start,
                 max_evaluations=budget, slack=ROI_SLACK,
                 limits={"quality_loss": quality_max, "latency_ms": latency_max})
    nd = moocore.is_nondominated(np.ascontiguousarray(roi.points), keep_weakly=True)
    roi = replace(roi, batch=take_rows(roi.batch, nd), points=roi.points[nd],
                  found=roi.found[nd], start_rows=roi.start_rows[nd])
    h = design_hash(roi.batch)
    new = np.flatnonzero(~_member(h, np.sort(design_hash(result.batch))))
    if new.size == 0:
        return replace(result, roi_evaluations=roi.evaluations)
    add = take_rows(roi.batch, new)
    batch = _concat([result.batch, add])
    points = _min_form(objective_values(model.evaluate(add).columns, objectives), objectives)
    base = result.evaluations + result.walk_evaluations
    return replace(
        result,
        batch=batch,
        points=np.concatenate([result.points, points]),
        found=np.concatenate([result.found, base + np.maximum(roi.found[new], 0)]),
        start_rows=np.concatenate([result.start_rows, np.full(new.size, -1)]),
        roi_evaluations=roi.evaluations,
        walk_ends=np.concatenate([result.walk_ends, h[new]]),
    )


def _walk_starts(cols: Mapping[str, np.ndarray], ok: np.ndarray, cap: float,
                 starts: int, cu: np.ndarray) -> list[int]:
    """Rows a cap's walks start from: among the designs ``ok`` within the cap, the fastest of
    each compute-unit count, the ``starts`` fastest of those (first row on ties)."""
    lat = np.asarray(cols["latency_ms"], dtype=np.float64)
    rows = np.flatnonzero(ok & (np.asarray(cols["utilization"], dtype=np.float64) <= cap))
    if rows.size == 0:
        return []
    rows = rows[np.lexsort((rows, lat[rows]))]  # fastest first, ties by row
    _, first = np.unique(cu[rows], return_index=True)  # fastest of each CU count
    best = rows[np.sort(first)]
    return best[np.lexsort((best, lat[best]))][:max(starts, 1)].tolist()


def _walk_ends(model: Model, space: SearchSpace, batch: Mapping[str, np.ndarray],
               caps: Sequence[float], quality_max: float, starts: int = 1
               ) -> tuple[dict[str, np.ndarray] | None, int, np.ndarray]:
    """Greedy latency walks per cap from diverse designs of ``batch`` in the quality tier within
    the cap (:func:`_walk_starts`): the designs they end on that are not in ``batch`` (None:
    none), the evaluations spent, and the hashes of every design a walk ended on (also those
    already in ``batch``: the output keeps them). The designs are taken once each in design-hash
    order, so the walks do not depend on the order of the rows."""
    h = design_hash(batch)
    _, first = np.unique(h, return_index=True)  # sorted by hash: row order plays no part
    batch = take_rows(batch, first)
    cols = model.evaluate(dict(batch)).columns
    lat = np.asarray(cols["latency_ms"], dtype=np.float64)
    ok = np.asarray(cols["feasible"], dtype=bool) & np.isfinite(lat) & (
        np.asarray(cols["quality_loss"], dtype=np.float64) <= quality_max)
    cu = np.asarray(batch["compute_units"])
    ends, spent = [], 0
    for cap in caps:
        for j in _walk_starts(cols, ok, cap, starts, cu):
            w = greedy_walk(model, space, take_rows(batch, [j]), util_cap=cap,
                            quality_max=quality_max)
            spent += w.evaluations
            if w.latency_ms < lat[j]:
                ends.append(hardware_only(w.design))
    if not ends:
        return None, spent, np.empty(0, dtype=np.uint64)
    new = _concat(ends)
    h = design_hash(new)
    _, first = np.unique(h, return_index=True)
    first = np.sort(first)
    keep = first[~_member(h[first], np.sort(design_hash(batch)))]
    return (take_rows(new, keep) if keep.size else None), spent, np.unique(h)


def _keep_starts(model: Model, objectives: Sequence[tuple[str, str]], result: RefineResult,
                 start: Mapping[str, np.ndarray], keep: np.ndarray) -> RefineResult:
    """``result`` with the starting designs whose hashes are in ``keep`` appended where the
    rounds dropped them (a design outside the quality tier may dominate a walk's end)."""
    h = design_hash(start)
    lost = _member(h, np.sort(keep)) & ~_member(h, np.sort(design_hash(result.batch)))
    if not lost.any():
        return result
    rows = np.flatnonzero(lost)
    rows = rows[np.unique(h[rows], return_index=True)[1]]  # each design once
    batch = _concat([result.batch, take_rows(start, rows)])
    points = _min_form(objective_values(model.evaluate(batch).columns, objectives), objectives)
    return replace(
        result,
        batch=batch,
        points=points,
        found=np.concatenate([result.found, np.full(rows.size, -1)]),
        start_rows=np.concatenate([result.start_rows, rows]),
    )


def _walk(model: Model, space: SearchSpace, objectives: Sequence[tuple[str, str]],
          result: RefineResult, caps: Sequence[float], quality_max: float,
          spent_before: int = 0, starts: int = 1) -> RefineResult:
    """``result`` with the end designs of the greedy latency walks per cap appended."""
    new, spent, ended = _walk_ends(model, space, result.batch, caps, quality_max, starts)
    spent += spent_before
    # a walk may end on a design the batch already holds (a round found it): it is an end too,
    # kept in the output when a design outside the quality tier dominates it
    ends = np.unique(np.concatenate([result.walk_ends, ended]))
    if new is None:
        return replace(result, walk_evaluations=spent, walk_ends=ends)
    n_new = len(next(iter(new.values())))
    found = np.arange(result.evaluations + spent - n_new, result.evaluations + spent)
    batch = _concat([result.batch, new])
    points = _min_form(objective_values(model.evaluate(batch).columns, objectives), objectives)
    return replace(
        result,
        batch=batch,
        points=points,
        found=np.concatenate([result.found, found]),
        start_rows=np.concatenate([result.start_rows, np.full(n_new, -1)]),
        walk_evaluations=spent,
        walk_ends=ends,
    )
