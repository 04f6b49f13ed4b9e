"""From a Pareto front, the designs worth exporting, each with the reasons it was chosen.

First the *quality tier*: when the front has a ``quality_loss`` column and a quality bound is
given (``dse select`` derives it from ``select.quality_reference``, default INT8, and
``select.quality_tolerance``, default 0: "no worse than uniform INT8"), only front designs within
it are candidates for the first three reasons. The *region of interest* is that tier within
``select.latency_budget_ms``: one figure for every model, or a mapping of model name (the
``name:`` of a model YAML, the file stem of a Hugging Face config.json) to ms, with an optional
``default`` for the models it does not name (:func:`latency_budget`). A model without a budget
has no region: the knee is taken over the whole tier and there is no ``smallest_under_budget``.
:func:`budget_report` says what the budget was and, when no design meets it, which designs
come nearest; ``dse select`` stores it in the output's metadata and ``dse summary`` prints it.

Reasons, in priority order (:data:`REASONS`):

- ``knee``: the knee inside the region of interest. Quality is held by the tier, so the knee is
  taken over the other objectives: the region's designs that are non-dominated in them, scaled by
  :func:`knee_scale` (log for an objective spanning more than a decade), then
  :func:`dse.pareto.knee_index` (for two objectives, e.g. latency and utilisation: the largest
  distance below the line joining the two extremes). No region, no knee.
- ``fastest``: the lowest ``latency_ms`` in the tier.
- ``smallest_under_budget``: the lowest ``utilization`` in the region of interest.
- ``named``: every design_id in ``settings["named"]``, from the front or else from all results.

Ties are broken by the smallest design_id, so the selection never depends on row order.

**Across the model's uncertainty.** Where the front carries the calibration's intervals
(``fmax_mhz_lo``, ``utilization_hi``, ``latency_ms_hi``; dse.results), the tier keeps only
*robust* designs: their clock at or below the pessimistic fmax (``clock_mhz <= fmax_mhz_lo``, the
timing margin the held-out fmax error asks for) and every resource fitting at its pessimistic
count (``utilization_hi <= 1``). The knee and the latency budget are taken on the pessimistic
latency ``latency_ms_hi``. The timing margin is applied first and the pessimistic resources
within it; a filter that would leave no design is skipped, and the chosen rows say whether they
are robust (``robust`` column).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.pareto import Objectives, front_mask, knee_index, objective_matrix
from dse.pareto import front as pareto_front

#: Selection reasons in priority order (also the order of the output rows).
REASONS = ("knee", "fastest", "smallest_under_budget", "named")

#: Relative slack on the quality bound: the model computes quality_loss in float32.
QUALITY_RTOL = 1e-5


def select_designs(
    front: pd.DataFrame,
    objectives: Objectives,
    settings: Mapping[str, Any],
    *,
    all_designs: pd.DataFrame | None = None,
    quality_max: float | None = None,
    model: str | None = None,
) -> pd.DataFrame:
    """Choose designs from a front.

    Args:
        front: the Pareto front (as written by ``dse pareto``), with ``design_id``,
            ``latency_ms`` and ``utilization`` columns.
        objectives: ``(column, "min" | "max")`` pairs the front was computed over.
        settings: the config's ``select`` section: ``latency_budget_ms`` (ms, or a mapping of
            model name to ms, optional) and ``named`` (list of design_ids, optional).
        all_designs: every evaluated design, where named designs off the front are looked up.
        quality_max: the quality tier's bound on ``quality_loss`` (None: no bound).
        model: the workload's name, which a per-model budget is looked up by.

    Returns:
        The chosen rows, each once, with a string column ``selection`` holding its reasons
        comma-joined in priority order; rows ordered by their first reason, then design_id.

    Raises:
        UserError: if a named design is in neither the front nor ``all_designs``, or a required
            column is missing.
    """
    budget = settings.get("latency_budget_ms")
    if isinstance(budget, Mapping):  # per model: the caller names the model
        budget, _ = latency_budget(settings, model or "")
    ordered = _sorted_by_id(front)
    tier = ordered[in_tier(ordered, quality_max)].reset_index(drop=True)
    for check in (robust_timing, robust):  # the timing margin first
        sure = check(tier)
        if sure.any():
            tier = tier[sure].reset_index(drop=True)
    region = tier[_within_budget(tier, budget)].reset_index(drop=True)
    picks = [
        *_knee(region, pessimistic(objectives, region)),
        *_fastest(tier),
        *(_smallest_under_budget(region) if budget is not None else []),
        *(("named", design_id) for design_id in _named(settings)),
    ]
    rows = _rows_for(
        [design_id for _, design_id in picks], ordered, all_designs, named=_named(settings)
    )
    out = _attach_reasons(rows, picks)
    out["robust"] = robust(out)
    return out


def robust_timing(frame: pd.DataFrame) -> np.ndarray:
    """Designs whose clock is at or below the pessimistic fmax (all True without the column)."""
    if not {"clock_mhz", "fmax_mhz_lo"} <= set(frame.columns):
        return np.ones(len(frame), dtype=bool)
    clock = frame["clock_mhz"].to_numpy(dtype=np.float64)
    return clock <= frame["fmax_mhz_lo"].to_numpy(dtype=np.float64, na_value=np.inf)


def robust(frame: pd.DataFrame) -> np.ndarray:
    """Designs that stay feasible across the model's interval: clock at or below the pessimistic
    fmax and every resource within its SLR at the pessimistic count (all True for a table
    without interval columns)."""
    ok = np.ones(len(frame), dtype=bool)
    if {"clock_mhz", "fmax_mhz_lo"} <= set(frame.columns):
        clock = frame["clock_mhz"].to_numpy(dtype=np.float64)
        ok &= clock <= frame["fmax_mhz_lo"].to_numpy(dtype=np.float64, na_value=np.inf)
    if "utilization_hi" in frame.columns:
        ok &= frame["utilization_hi"].to_numpy(dtype=np.float64, na_value=0.0) <= 1.0
    if "feasible" in frame.columns:
        ok &= frame["feasible"].to_numpy(dtype=bool)
    return ok


def pessimistic(objectives: Objectives, frame: pd.DataFrame) -> Objectives:
    """The objectives with ``latency_ms`` read at its pessimistic end (``latency_ms_hi``) where
    the table has it."""
    if "latency_ms_hi" not in frame.columns:
        return objectives
    return tuple(
        ("latency_ms_hi", d) if name == "latency_ms" else (name, d) for name, d in objectives
    )


def latency_budget(settings: Mapping[str, Any], model: str) -> tuple[float | None, str]:
    """The latency budget (ms per call) of ``model`` and the config key it came from.

    Args:
        settings: the config's ``select`` section.
        model: the workload's name.

    Returns:
        ``(ms, key)``; ``(None, reason)`` when no budget applies to this model.
    """
    raw = settings.get("latency_budget_ms")
    if raw is None:
        return None, "select.latency_budget_ms is not set"
    if isinstance(raw, Mapping):
        for key in (model, "default"):
            if key in raw and raw[key] is not None:
                return float(raw[key]), f"select.latency_budget_ms.{key}"
        return None, (f"select.latency_budget_ms names no budget for {model} "
                      f"(it names {', '.join(map(str, raw)) or 'none'}) and has no default")
    return float(raw), "select.latency_budget_ms (every model)"


def run_budget(cfg: Any) -> float | None:
    """The latency budget (ms per call) that applies to a run's own model (``cfg``: a Config),
    or None: :func:`latency_budget` with the config's ``select`` section and workload name."""
    return latency_budget(cfg.raw.get("select") or {}, cfg.workload.name)[0]


def budget_report(front: pd.DataFrame, budget_ms: float | None, key: str, *,
                  quality_max: float | None = None, nearest: int = 3) -> dict[str, Any]:
    """What the budget did, for the summary: JSON-ready.

    Returns:
        ``budget_ms``, ``key`` (where it came from, or why there is none), ``tier`` (designs of
        the quality tier on the front), ``within`` (of those, within the budget) and, when no
        design meets the budget, ``nearest``: the ``nearest`` fastest tier designs
        (``design_id``, ``latency_ms``, ``utilization``), closest first.
    """
    tier = front[in_tier(front, quality_max)] if len(front) else front
    out: dict[str, Any] = {"budget_ms": budget_ms, "key": key, "tier": int(len(tier))}
    if budget_ms is None or tier.empty:
        out["within"] = int(len(tier)) if budget_ms is None else 0
        return out
    within = _within_budget(tier, budget_ms)
    out["within"] = int(within.sum())
    if not within.any():
        ordered = _sorted_by_id(tier)
        lat = ordered["latency_ms"].to_numpy(dtype=np.float64, na_value=np.inf)
        rows = ordered.iloc[np.argsort(lat, kind="stable")[:nearest]]
        cols = [c for c in ("design_id", "latency_ms", "utilization") if c in rows.columns]
        out["nearest"] = [
            {c: (str(r[c]) if c == "design_id" else float(r[c])) for c in cols}
            | {"params": {k: _plain(r[k]) for k in _LABEL_KEYS if k in rows.columns}}
            for r in rows.to_dict("records")
        ]
    return out


#: Parameters :func:`dse.labels.design_label` reads (kept with the nearest designs).
_LABEL_KEYS = ("weight_precision", "act_precision", "prec_embed", "prec_proj",
               "prec_attention", "prec_mlp", "compute_units", "pe_m", "pe_n", "pe_k", "clock_mhz")


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v if isinstance(v, (int, float)) else str(v)


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


def tier_bound(cfg) -> float:
    """The quality tier's bound on ``quality_loss`` from a run config's ``select`` section: the
    uniform ``quality_reference`` design's figure times ``1 + quality_tolerance``."""
    sel = cfg.raw.get("select") or {}
    q = cfg.workload.uniform_quality_loss(sel.get("quality_reference", "INT8"))
    return float(q * (1.0 + sel.get("quality_tolerance", 0.0)))


def tier_front(
    front: pd.DataFrame,
    objectives: Objectives,
    quality_max: float | None,
    all_designs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The front to select from: ``front``, unless it holds no design of the quality tier and
    ``all_designs`` are at hand; then the tier's own front over the objectives. That happens when
    the objectives leave quality out (lower precisions dominate the front)."""
    if all_designs is None or in_tier(front, quality_max).any():
        return front
    return pareto_front(all_designs[in_tier(all_designs, quality_max)], objectives)


def in_tier(front: pd.DataFrame, quality_max: float | None) -> np.ndarray:
    """Designs within the quality bound (all when there is no bound or no quality column)."""
    if quality_max is None or "quality_loss" not in front.columns:
        return np.ones(len(front), dtype=bool)
    q = front["quality_loss"].to_numpy(dtype=np.float64, na_value=np.inf)
    return q <= quality_max * (1 + QUALITY_RTOL)


def _within_budget(front: pd.DataFrame, budget_ms: Any) -> np.ndarray:
    if budget_ms is None:
        return np.ones(len(front), dtype=bool)
    col = "latency_ms_hi" if "latency_ms_hi" in front.columns else "latency_ms"
    _require(front, col)
    return front[col].to_numpy(dtype=np.float64, na_value=np.inf) <= float(budget_ms)


def _knee(region: pd.DataFrame, objectives: Objectives) -> list[tuple[str, str]]:
    if region.empty:
        return []
    others = [o for o in objectives if o[0] != "quality_loss"] or list(objectives)
    ranked = region[front_mask(region, others)].reset_index(drop=True)
    i = knee_index(knee_scale(objective_matrix(ranked, others)))
    return [("knee", str(ranked["design_id"].iat[i]))]


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


def _smallest_under_budget(region: pd.DataFrame) -> list[tuple[str, str]]:
    if region.empty:
        return []
    _require(region, "utilization")
    util = region["utilization"].to_numpy(dtype=np.float64, na_value=np.inf)
    if not np.isfinite(util).any():
        return []
    return [("smallest_under_budget", str(region["design_id"].iat[_argmin_id(util)]))]


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
