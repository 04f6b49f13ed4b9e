"""From a Pareto front, the designs worth exporting, each with the reasons it was chosen.

Reasons, in priority order (:data:`REASONS`):

- ``knee``: the knee of the front (:func:`dse.pareto.knee_index` after :func:`knee_scale`, front
  sorted by design_id).
- ``fastest``: the lowest ``latency_ms`` on the front.
- ``smallest_under_budget``: the lowest ``utilization`` among front designs with
  ``latency_ms <= settings["latency_budget_ms"]`` (skipped without a budget or a qualifying design).
- ``named``: every design_id in ``settings["named"]``, from the front or else from all results.

Ties are broken by the smallest design_id, so the selection never depends on row order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.pareto import Objectives, knee_index, objective_matrix

#: Selection reasons in priority order (also the order of the output rows).
REASONS = ("knee", "fastest", "smallest_under_budget", "named")


def select_designs(
    front: pd.DataFrame,
    objectives: Objectives,
    settings: Mapping[str, Any],
    *,
    all_designs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Choose designs from a front.

    Args:
        front: the Pareto front (as written by ``dse pareto``), with ``design_id``,
            ``latency_ms`` and ``utilization`` columns.
        objectives: ``(column, "min" | "max")`` pairs the front was computed over.
        settings: the config's ``select`` section: ``latency_budget_ms`` (ms, optional) and
            ``named`` (list of design_ids, optional).
        all_designs: every evaluated design, where named designs off the front are looked up.

    Returns:
        The chosen rows, each once, with a string column ``selection`` holding its reasons
        comma-joined in priority order; rows ordered by their first reason, then design_id.

    Raises:
        UserError: if a named design is in neither the front nor ``all_designs``, or a required
            column is missing.
    """
    ordered = _sorted_by_id(front)
    picks = [
        *_knee(ordered, objectives),
        *_fastest(ordered),
        *_smallest_under_budget(ordered, settings.get("latency_budget_ms")),
        *(("named", design_id) for design_id in _named(settings)),
    ]
    rows = _rows_for(
        [design_id for _, design_id in picks], ordered, all_designs, named=_named(settings)
    )
    return _attach_reasons(rows, picks)


def _sorted_by_id(frame: pd.DataFrame) -> pd.DataFrame:
    _require(frame, "design_id")
    ids = frame["design_id"].to_numpy().astype(str)
    return frame.iloc[np.argsort(ids, kind="stable")].reset_index(drop=True)


def _require(frame: pd.DataFrame, column: str) -> None:
    if column not in frame.columns:
        raise UserError(
            "column is missing from the front",
            key=column,
            allowed=", ".join(map(str, frame.columns)) or "(no columns)",
        )


def _argmin_id(values: np.ndarray) -> int:
    """First index of the minimum (the frame is sorted by design_id, so ties → smallest id)."""
    return int(np.argmin(values))


def _knee(front: pd.DataFrame, objectives: Objectives) -> list[tuple[str, str]]:
    if front.empty:
        return []
    i = knee_index(knee_scale(objective_matrix(front, objectives)))
    return [("knee", str(front["design_id"].iat[i]))]


def knee_scale(points: np.ndarray) -> np.ndarray:
    """Objectives that are positive and span more than a decade (latency from 0.1 s to 50 s)
    are compared on a log scale: going 10x slower is not "a little" slower. Others stay linear.
    """
    pts = np.array(points, dtype=np.float64)
    for j in range(pts.shape[1]):
        col = pts[:, j]
        if col.size and np.all(col > 0) and col.max() > 10 * col.min():
            pts[:, j] = np.log10(col)
    return pts


def _fastest(front: pd.DataFrame) -> list[tuple[str, str]]:
    if front.empty:
        return []
    _require(front, "latency_ms")
    latency = front["latency_ms"].to_numpy(dtype=np.float64, na_value=np.inf)
    return [("fastest", str(front["design_id"].iat[_argmin_id(latency)]))]


def _smallest_under_budget(front: pd.DataFrame, budget_ms: Any) -> list[tuple[str, str]]:
    if budget_ms is None or front.empty:
        return []
    _require(front, "latency_ms")
    _require(front, "utilization")
    latency = front["latency_ms"].to_numpy(dtype=np.float64, na_value=np.inf)
    util = front["utilization"].to_numpy(dtype=np.float64, na_value=np.inf)
    util = np.where(latency <= float(budget_ms), util, np.inf)
    if not np.isfinite(util).any():
        return []
    return [("smallest_under_budget", str(front["design_id"].iat[_argmin_id(util)]))]


def _named(settings: Mapping[str, Any]) -> list[str]:
    named = settings.get("named") or []
    if isinstance(named, str) or not isinstance(named, Sequence):
        raise UserError("must be a list of design_ids", key="select.named", value=named)
    return list(dict.fromkeys(str(n) for n in named))


def _rows_for(
    ids: list[str],
    front: pd.DataFrame,
    all_designs: pd.DataFrame | None,
    *,
    named: list[str],
) -> pd.DataFrame:
    """One row per chosen id: from the front when it is there, else from ``all_designs``."""
    wanted = pd.unique(pd.Series(ids, dtype=object))
    on_front = front[front["design_id"].astype(str).isin(wanted)]
    missing = [i for i in wanted if i not in set(on_front["design_id"].astype(str))]
    parts = [on_front]
    if missing and all_designs is not None and "design_id" in all_designs.columns:
        parts.append(all_designs[all_designs["design_id"].astype(str).isin(missing)])
    rows = pd.concat([p for p in parts if len(p)] or [front.iloc[:0]], ignore_index=True)
    rows = rows.drop_duplicates(subset="design_id", keep="first")
    found = set(rows["design_id"].astype(str))
    for design_id in named:
        if design_id not in found:
            where = "the front or the --all files" if all_designs is not None else "the front"
            raise UserError(
                f"design is not in the results (looked in {where})",
                key="select.named",
                value=design_id,
            )
    return rows


def _attach_reasons(rows: pd.DataFrame, picks: list[tuple[str, str]]) -> pd.DataFrame:
    """Add ``selection`` and order rows by first reason, then design_id."""
    reasons: dict[str, list[str]] = {}
    for reason, design_id in picks:  # a handful of picks, not a loop over designs
        if reason not in reasons.setdefault(design_id, []):
            reasons[design_id].append(reason)
    ids = rows["design_id"].astype(str)
    out = rows.copy()
    out["selection"] = pd.Series([",".join(reasons[i]) for i in ids], index=rows.index, dtype="str")
    priority = ids.map(lambda i: REASONS.index(reasons[i][0])).to_numpy()
    order = np.lexsort((ids.to_numpy().astype(str), priority))
    return out.iloc[order].reset_index(drop=True)
