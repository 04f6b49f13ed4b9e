"""Pareto fronts, hypervolume and knee points over any number of objectives (via moocore).

Conventions used throughout:

- An *objective* is a pair ``(column, direction)`` with direction ``"min"`` or ``"max"``.
  :func:`objective_matrix` turns a frame into an ``(n, k)`` float array in *minimisation form*
  (``max`` columns are negated), which is what every other function here takes.
- The front (:func:`front_mask`) holds only feasible rows with finite objectives. Among rows with
  identical objective vectors exactly one is kept: the smallest ``design_id`` in string order.
- Hypervolume ratios (e.g. "Optuna reaches 99% of the exhaustive front's hypervolume") are
  computed on objectives normalised to [0, 1] by the *exhaustive front's* ideal (per-objective
  best) and nadir (per-objective worst over the front), with the reference point at
  :data:`HV_REFERENCE` = 1.1 in every normalised coordinate. :func:`reference_from` builds that
  frame of reference once; its :meth:`HvReference.ratio` then scores any other set of designs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import moocore
import numpy as np
import pandas as pd

from dse.errors import UserError

#: Allowed objective directions.
DIRECTIONS = ("min", "max")

#: Reference point coordinate for hypervolume on normalised objectives (ideal = 0, nadir = 1).
HV_REFERENCE = 1.1

Objectives = Sequence[tuple[str, str]]


def objectives_from(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Read the objectives of a validated main config.

    Args:
        raw: the main config dictionary; ``raw["objectives"]`` is a list of
            ``{"name": column, "direction": "min" | "max"}``.

    Returns:
        ``[(column, direction), ...]`` in config order.

    Raises:
        UserError: if the list is missing or empty, a name repeats, or a direction is not allowed.
    """
    items = raw.get("objectives")
    if not isinstance(items, Sequence) or isinstance(items, str) or not items:
        raise UserError("must be a non-empty list of objectives", key="objectives", value=items)
    objectives: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise UserError(
                "needs a column name", key=f"objectives[{i}].name", value=item, allowed="a string"
            )
        direction = item.get("direction", "min")
        if direction not in DIRECTIONS:
            raise UserError(
                "unknown direction",
                key=f"objectives[{i}].direction",
                value=direction,
                allowed=", ".join(DIRECTIONS),
            )
        objectives.append((item["name"], direction))
    names = [name for name, _ in objectives]
    if len(set(names)) != len(names):
        raise UserError("an objective is listed twice", key="objectives", value=names)
    return objectives


def objective_matrix(frame: pd.DataFrame, objectives: Objectives) -> np.ndarray:
    """Objective values of every row in minimisation form.

    Args:
        frame: one row per design.
        objectives: ``(column, "min" | "max")`` pairs.

    Returns:
        A C-contiguous ``(n, k)`` float64 array; ``max`` columns are negated. Missing values
        become NaN. Negative zeros are folded to ``+0.0`` so equal vectors compare and hash equal.

    Raises:
        UserError: if a column is missing or a direction is not ``min``/``max``.
    """
    if not objectives:
        raise UserError("at least one objective is needed", key="objectives", value=[])
    out = np.empty((len(frame), len(objectives)), dtype=np.float64)
    for j, (column, direction) in enumerate(objectives):
        if direction not in DIRECTIONS:
            raise UserError(
                "unknown direction",
                key="objectives",
                value=direction,
                allowed=", ".join(DIRECTIONS),
            )
        if column not in frame.columns:
            raise UserError(
                "objective column is not in the results",
                key="objectives",
                value=column,
                allowed=", ".join(map(str, frame.columns)) or "(no columns: no designs were read)",
            )
        values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        out[:, j] = -values if direction == "max" else values
    out += 0.0  # -0.0 + 0.0 == +0.0
    return out


def eligible_mask(frame: pd.DataFrame, points: np.ndarray) -> np.ndarray:
    """Rows that may be on a front: ``feasible`` (when the column exists) and finite objectives.

    Args:
        frame: one row per design.
        points: ``objective_matrix(frame, ...)``.

    Returns:
        Boolean array of length ``len(frame)``.
    """
    ok = np.isfinite(points).all(axis=1)
    if "feasible" in frame.columns:
        ok &= frame["feasible"].to_numpy(dtype=bool, na_value=False)
    return ok


def front_mask(frame: pd.DataFrame, objectives: Objectives) -> np.ndarray:
    """Which rows are on the Pareto front.

    A row is on the front if it is eligible (``feasible`` is true when that column exists, and
    every objective is finite) and no other eligible row is at least as good in every objective
    and better in one. Of several front rows with identical objective vectors, only the one with
    the smallest ``design_id`` (string order; row order if there is no ``design_id`` column) is
    kept, so the result does not depend on the order of the input files.

    Runs in O(n log n) for 2 or 3 objectives (moocore's dimension sweep): about half a second
    for a million rows.

    Args:
        frame: one row per design.
        objectives: ``(column, "min" | "max")`` pairs.

    Returns:
        Boolean array of length ``len(frame)``.
    """
    points = objective_matrix(frame, objectives)
    eligible = np.flatnonzero(eligible_mask(frame, points))
    mask = np.zeros(len(frame), dtype=bool)
    if eligible.size == 0:
        return mask
    # keep_weakly=True keeps every copy of a nondominated vector; ties are resolved below on
    # the (small) set of survivors rather than by sorting all rows by design_id.
    nondominated = moocore.is_nondominated(points[eligible], keep_weakly=True)
    candidates = eligible[nondominated]
    mask[_first_of_ties(frame, points, candidates)] = True
    return mask


def _first_of_ties(frame: pd.DataFrame, points: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Of ``rows``, one per distinct objective vector: the smallest ``design_id``."""
    sub = pd.DataFrame(points[rows], copy=False)
    if "design_id" in frame.columns:
        ids = frame["design_id"].iloc[rows].to_numpy().astype(str)
        order = np.argsort(ids, kind="stable")
    else:
        order = np.arange(len(rows))
    duplicate = sub.iloc[order].duplicated(keep="first").to_numpy()
    return rows[order[~duplicate]]


def front(frame: pd.DataFrame, objectives: Objectives) -> pd.DataFrame:
    """The front rows of ``frame``, sorted by the objectives (minimisation form) then design_id.

    Args:
        frame: one row per design.
        objectives: ``(column, "min" | "max")`` pairs.

    Returns:
        A new frame with a fresh ``RangeIndex``.
    """
    rows = frame.loc[front_mask(frame, objectives)]
    points = objective_matrix(rows, objectives)
    keys = [points[:, j] for j in reversed(range(points.shape[1]))]
    if "design_id" in rows.columns:
        ids = rows["design_id"].to_numpy().astype(str)
        keys = [np.unique(ids, return_inverse=True)[1], *keys]
    order = np.lexsort(keys) if len(rows) else np.arange(0)
    return rows.iloc[order].reset_index(drop=True)


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume dominated by ``points`` and bounded by ``reference`` (minimisation).

    Points that do not strictly dominate the reference in every coordinate add nothing and are
    ignored; an empty set has hypervolume 0.

    Args:
        points: ``(n, k)`` objective values in minimisation form.
        reference: length-``k`` reference point.

    Returns:
        The hypervolume (in the units of the product of the objectives).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, np.size(reference))
    ref = np.asarray(reference, dtype=np.float64).ravel()
    inside = pts[np.isfinite(pts).all(axis=1) & (pts < ref).all(axis=1)]
    if inside.shape[0] == 0:
        return 0.0
    return float(moocore.hypervolume(np.ascontiguousarray(inside), ref=ref))


def ideal_nadir(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ideal (per-objective minimum) and nadir (per-objective maximum) of a front.

    Args:
        points: ``(n, k)`` nondominated points in minimisation form, ``n >= 1``.

    Returns:
        ``(ideal, nadir)``, each of length ``k``.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] == 0:
        raise ValueError("ideal and nadir need at least one point")
    return pts.min(axis=0), pts.max(axis=0)


def normalise_for_hv(points: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    """Map objectives so that ``ideal`` goes to 0 and ``nadir`` to 1 in every coordinate.

    An objective whose ideal equals its nadir (all front points agree) is only shifted, not
    scaled, so it stays finite.

    Args:
        points: ``(n, k)`` values in minimisation form.
        ideal: length-``k`` best values of the reference front.
        nadir: length-``k`` worst values of the reference front.

    Returns:
        ``(points - ideal) / (nadir - ideal)`` as a new float array.
    """
    ideal = np.asarray(ideal, dtype=np.float64)
    span = np.asarray(nadir, dtype=np.float64) - ideal
    span = np.where(span > 0, span, 1.0)
    return (np.asarray(points, dtype=np.float64) - ideal) / span


@dataclass(frozen=True)
class HvReference:
    """A frame of reference for comparable hypervolumes, fixed by one (exhaustive) front.

    Attributes:
        ideal: per-objective best value of the reference front (minimisation form, raw units).
        nadir: per-objective worst value of the reference front (minimisation form, raw units).
        reference: reference point in normalised coordinates (``HV_REFERENCE`` everywhere).
        front_hypervolume: normalised hypervolume of the reference front itself.
    """

    ideal: np.ndarray
    nadir: np.ndarray
    reference: np.ndarray
    front_hypervolume: float

    def normalise(self, points: np.ndarray) -> np.ndarray:
        """Points in minimisation form → normalised coordinates of this reference."""
        return normalise_for_hv(points, self.ideal, self.nadir)

    def hypervolume(self, points: np.ndarray) -> float:
        """Normalised hypervolume of ``points`` (minimisation form, raw units)."""
        return hypervolume(self.normalise(points), self.reference)

    def ratio(self, points: np.ndarray) -> float:
        """Hypervolume of ``points`` as a fraction of the reference front's (1.0 = as good)."""
        if self.front_hypervolume <= 0:
            return float("nan")
        return self.hypervolume(points) / self.front_hypervolume


def reference_from(
    frame_or_points: pd.DataFrame | np.ndarray,
    objectives: Objectives | None = None,
    *,
    reference: float = HV_REFERENCE,
) -> HvReference:
    """Fix the hypervolume frame of reference from the exhaustive results (or their front).

    The ideal and nadir are taken over the *front* of the input: a frame is reduced with
    :func:`front_mask` (so infeasible rows are ignored), an array with moocore's
    nondominated filter. Passing all exhaustive results or only their front gives the same
    reference. Objectives are then normalised to [0, 1] and the reference point is ``reference``
    (default 1.1) in every coordinate, so that the extreme points of the front contribute.

    Args:
        frame_or_points: exhaustive results (with ``objectives``) or an ``(n, k)`` array in
            minimisation form.
        objectives: ``(column, "min" | "max")`` pairs; required for a frame.
        reference: normalised reference coordinate.

    Returns:
        The :class:`HvReference`.

    Raises:
        ValueError: if there is no eligible point.
    """
    if isinstance(frame_or_points, pd.DataFrame):
        if objectives is None:
            raise ValueError("objectives are needed to take a reference from a frame")
        mask = front_mask(frame_or_points, objectives)
        points = objective_matrix(frame_or_points.loc[mask], objectives)
    else:
        points = np.asarray(frame_or_points, dtype=np.float64)
        points = points[np.isfinite(points).all(axis=1)]
        points = points[moocore.is_nondominated(np.ascontiguousarray(points))]
    ideal, nadir = ideal_nadir(points)
    ref = np.full(points.shape[1], float(reference))
    front_hv = hypervolume(normalise_for_hv(points, ideal, nadir), ref)
    return HvReference(ideal=ideal, nadir=nadir, reference=ref, front_hypervolume=front_hv)


def knee_index(points: np.ndarray) -> int:
    """Index of the knee point of a front.

    Each objective is first normalised to [0, 1] over ``points`` (an objective with no spread is
    set to 0). Then:

    - 2 objectives: the point with the largest *signed* perpendicular distance to the straight
      line joining the two extremes (best in the first objective, best in the second), counted
      positive on the side of the ideal point. That is where giving up a little of one objective
      buys the most of the other. Points of a concave stretch (beyond the line) count negative.
    - 1 or 3+ objectives: the point closest (Euclidean) to the ideal point (all zeros).

    Ties go to the lowest index, so a front sorted by design_id gives a deterministic knee.

    Args:
        points: ``(n, k)`` front in minimisation form, ``n >= 1``.

    Returns:
        Row index into ``points``.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] == 0:
        raise ValueError("the knee of an empty front is undefined")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    norm = (pts - lo) / np.where(hi > lo, hi - lo, 1.0)
    if pts.shape[1] == 2:
        return _knee_2d(norm)
    return int(np.argmin(np.linalg.norm(norm, axis=1)))


def _knee_2d(norm: np.ndarray) -> int:
    """Largest signed distance to the extremes' line, on the ideal side (normalised points)."""
    a = norm[np.lexsort((norm[:, 1], norm[:, 0]))[0]]  # best first objective
    b = norm[np.lexsort((norm[:, 0], norm[:, 1]))[0]]  # best second objective
    direction = b - a
    length = np.hypot(*direction)
    if length == 0:  # a single distinct point
        return int(np.argmin(norm.sum(axis=1)))
    rel = norm - a
    cross = (direction[0] * rel[:, 1] - direction[1] * rel[:, 0]) / length
    ideal_side = direction[0] * -a[1] - direction[1] * -a[0]  # the same cross product at (0, 0)
    return int(np.argmax(cross * (1.0 if ideal_side >= 0 else -1.0)))
