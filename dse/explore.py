"""The interactive Pareto explorer: one self-contained HTML file (Plotly, its JS inlined).

What the page holds, built here from a run's results:

- the *cloud*: at most ``max_cloud`` feasible designs, chosen by :func:`binned_sample` (a
  stratified sample over log-latency x utilization bins, so the cloud's shape and its sparse
  edges survive the thinning; seeded, so the same results give the same page);
- the *front* (every design of ``dse pareto``'s output) and the *selected* designs with their
  reasons;
- every parameter and figure of each of these designs (hover), their labels
  (:func:`dse.labels.design_label`), and for the front designs the per-kernel breakdown and the
  resources per SLR (one vectorised ``Model.evaluate(..., detail=True)`` call), shown on click
  with the command that exports the design;
- the latency budget and the quality tier as ``dse select`` applied them.

The page needs no network: Plotly's JS bundle (from the ``plotly`` package) is inlined and the
data is embedded as JSON; ``dse/templates/explore.js`` draws and filters it in the browser.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dse.labels import design_label, precision_label
from dse.params import KERNEL_CLASSES, PARAM_NAMES

_TEMPLATES = Path(__file__).with_name("templates")

#: Default largest number of cloud designs embedded in the page.
MAX_CLOUD = 10_000

#: Bins per axis of the stratified cloud sample (log latency x utilization).
SAMPLE_BINS = 80

#: Result columns not shown per design (constant within a run, or empty for feasible designs).
HIDDEN_COLUMNS = ("feasible", "violation", "violations", "model_version")

#: Significant digits kept for floats in the embedded data (the page shows at most 4).
DIGITS = 6


@dataclass(frozen=True)
class Run:
    """What the page says about the run, beside the designs.

    Attributes:
        title: page title.
        board: the platform's name (every design of the run is on this board).
        model: the workload's name.
        cameras: images per policy call.
        objectives: ``(column, direction)`` of the front.
        budget_ms: latency budget per policy call (ms), None when no budget applies.
        budget_key: where the budget came from (or why there is none).
        quality_max: the quality tier's bound on ``quality_loss`` (None: no tier).
        quality_reference: the uniform precision the tier is measured against.
        feasible: feasible designs in the results (before sampling).
        evaluated: designs in the results.
        config: the config path the export command names.
        front_file: the front Parquet path the export command reads.
    """

    title: str
    board: str
    model: str
    cameras: int
    objectives: Sequence[tuple[str, str]]
    budget_ms: float | None
    budget_key: str
    quality_max: float | None
    quality_reference: str
    feasible: int
    evaluated: int
    config: str
    front_file: str


def binned_sample(
    latency_ms: np.ndarray, utilization: np.ndarray, max_points: int, *, seed: int = 0
) -> np.ndarray:
    """Indices of at most ``max_points`` designs that keep the cloud's shape.

    The plane (log10 latency x utilization) is cut into :data:`SAMPLE_BINS` x :data:`SAMPLE_BINS`
    bins; every bin keeps up to ``q`` designs (random, seeded), with ``q`` the largest quota whose
    total fits ``max_points``. Dense bins are thinned, sparse ones (the cloud's edges, near the
    front) are kept whole.

    Returns:
        sorted row indices.
    """
    n = len(latency_ms)
    if n <= max_points:
        return np.arange(n)
    if max_points <= 0:
        return np.arange(0)
    x = np.log10(np.maximum(np.asarray(latency_ms, float), 1e-12))
    y = np.asarray(utilization, float)

    def codes(v: np.ndarray) -> np.ndarray:
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        span = hi - lo if hi > lo else 1.0
        return np.clip(((v - lo) / span * SAMPLE_BINS).astype(np.int64), 0, SAMPLE_BINS - 1)

    bins = codes(x) * SAMPLE_BINS + codes(y)
    key = np.random.default_rng(seed).random(n)
    order = np.lexsort((key, bins))  # by bin, random within a bin
    sorted_bins = bins[order]
    starts = np.flatnonzero(np.r_[True, sorted_bins[1:] != sorted_bins[:-1]])
    counts = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, counts)  # position inside the bin
    lo, hi = 0, int(counts.max())  # largest quota q with sum(min(counts, q)) <= max_points
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(counts, mid).sum() <= max_points:
            lo = mid
        else:
            hi = mid - 1
    return np.sort(order[rank < lo])


def _round(values: np.ndarray) -> list[Any]:
    """Floats to :data:`DIGITS` significant digits (JSON null for NaN / inf)."""
    out: list[Any] = []
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    mag = np.where(finite & (v != 0), np.floor(np.log10(np.abs(np.where(v == 0, 1, v)))), 0)
    scale = 10.0 ** (DIGITS - 1 - mag)
    r = np.where(finite, np.round(v * scale) / scale, np.nan)
    for x, ok in zip(r.tolist(), finite.tolist(), strict=True):
        out.append(x if ok else None)
    return out


def encode_columns(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Columnar JSON of a table: numbers as lists (``num``), booleans as 0/1 (``bool``), anything
    else as codes into its levels (``cat``), levels in their categorical order when they have
    one."""
    cols: dict[str, dict[str, Any]] = {}
    for name in frame.columns:
        s = frame[name]
        if pd.api.types.is_bool_dtype(s):
            cols[name] = {"kind": "bool", "values": s.astype(int).tolist()}
        elif pd.api.types.is_integer_dtype(s):
            cols[name] = {"kind": "num", "values": s.astype("int64").tolist()}
        elif pd.api.types.is_float_dtype(s):
            cols[name] = {"kind": "num", "values": _round(s.to_numpy(dtype=np.float64))}
        else:
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = [str(c) for c in s.cat.categories]
                present = set(s.dropna().astype(str))
                levels = [lv for lv in levels if lv in present]
            else:
                levels = sorted(set(s.dropna().astype(str)))
            index = {lv: i for i, lv in enumerate(levels)}
            text = s.astype(object).where(s.notna(), None)
            codes = [index[str(v)] if v is not None else -1 for v in text.tolist()]
            cols[name] = {"kind": "cat", "levels": levels, "values": codes}
    return cols


_PRECISION_KEYS = ("weight_precision", "act_precision", *(f"prec_{c}" for c in KERNEL_CLASSES))
_LABEL_KEYS = (*_PRECISION_KEYS, "compute_units", "pe_m", "pe_n", "pe_k", "clock_mhz")


def _by_unique(frame: pd.DataFrame, keys: Sequence[str], fn: Any) -> list[str]:
    """``fn(row)`` for each row, computed once per distinct combination of ``keys``."""
    keys = [k for k in keys if k in frame.columns]
    view = frame[keys].astype(str)
    joined = view.agg("\x1f".join, axis=1) if len(view) else pd.Series(dtype=str)
    first = ~joined.duplicated()
    labels = {j: fn(r) for j, r in zip(joined[first], frame[first].to_dict("records"), strict=True)}
    return [labels[j] for j in joined]


def label_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``label`` (:func:`dse.labels.design_label`), ``precision`` (its precision part) and
    ``per_class`` (``uniform``, or ``mixed`` when a kernel class overrides the precision)."""
    out = pd.DataFrame(index=frame.index)
    out["label"] = _by_unique(frame, _LABEL_KEYS, design_label)
    out["precision"] = _by_unique(frame, _PRECISION_KEYS, precision_label)
    classes = [f"prec_{c}" for c in KERNEL_CLASSES if f"prec_{c}" in frame.columns]
    mixed = (frame[classes].astype(str) != "same").any(axis=1) if classes else False
    out["per_class"] = np.where(mixed, "mixed (a class overrides)", "uniform")
    return out


def design_table(
    cloud: pd.DataFrame, front: pd.DataFrame, selected: pd.DataFrame, *, board: str
) -> pd.DataFrame:
    """The designs of the page: the sampled cloud and the front (a design in both appears once,
    as a front design), with ``set`` (``cloud`` / ``front``), ``selection`` (the reasons it was
    chosen, empty when it was not), ``label``, ``precision`` and ``board``."""
    front = front.assign(set="front")
    cloud = cloud[~cloud["design_id"].astype(str).isin(set(front["design_id"].astype(str)))]
    table = pd.concat([cloud.assign(set="cloud"), front], ignore_index=True)
    table = table.drop(columns=[c for c in HIDDEN_COLUMNS if c in table.columns])
    table["design_id"] = table["design_id"].astype(str)
    reasons = {}
    if len(selected) and "selection" in selected.columns:
        for design_id, why in zip(
            selected["design_id"].astype(str), selected["selection"].astype(str), strict=True
        ):
            reasons[design_id] = ", ".join(dict.fromkeys(filter(None, [reasons.get(design_id),
                                                                        why])))
    table["selection"] = table["design_id"].map(reasons).fillna("")
    table = pd.concat([table, label_columns(table)], axis=1)
    table["board"] = board
    return table


def detail_payload(
    breakdown: pd.DataFrame, resources_frame: pd.DataFrame, kernel_class: Mapping[str, str]
) -> dict[str, Any]:
    """Per-design kernel times and per-SLR resources as compact JSON.

    Args:
        breakdown: ``design_id``, ``kernel``, ``time_ms`` (per policy call), ``bound``
            (``dse.commands.plot.detail_frames``).
        resources_frame: ``design_id``, ``slr``, ``resource``, ``used``, ``available``.
        kernel_class: kernel name -> class (legend colour).

    Returns:
        ``kernels`` (names), ``classes`` (class per kernel), ``bounds`` (names), ``slrs``,
        ``resources``, ``available`` (slr x resource) and ``designs``: id -> ``{"ms": [...],
        "bound": [...], "used": [[...]]}`` (kernel arrays in ``kernels`` order, 0 ms where a
        kernel takes no time).
    """
    kernels = list(dict.fromkeys(breakdown["kernel"].astype(str)))
    bounds = list(dict.fromkeys(breakdown["bound"].astype(str)))
    slrs = list(dict.fromkeys(resources_frame["slr"].astype(str)))
    res_names = list(dict.fromkeys(resources_frame["resource"].astype(str)))
    ids = list(dict.fromkeys(resources_frame["design_id"].astype(str)))
    ms = (
        breakdown.pivot_table(index="design_id", columns="kernel", values="time_ms",
                              aggfunc="sum", fill_value=0.0)
        .reindex(index=ids, columns=kernels)
        .fillna(0.0)
    )
    bcode = breakdown.assign(code=breakdown["bound"].astype(str).map(bounds.index))
    bound = (
        bcode.pivot_table(index="design_id", columns="kernel", values="code", aggfunc="first")
        .reindex(index=ids, columns=kernels)
        .fillna(-1)
        .astype(int)
    )
    used = resources_frame.pivot_table(
        index="design_id", columns=["slr", "resource"], values="used", aggfunc="first"
    ).reindex(index=ids, columns=pd.MultiIndex.from_product([slrs, res_names]))
    avail = resources_frame.drop_duplicates(["slr", "resource"]).set_index(["slr", "resource"])
    available = [[float(avail.loc[(s, r), "available"]) for r in res_names] for s in slrs]
    designs = {}
    shape = (len(slrs), len(res_names))
    for i, design_id in enumerate(ids):  # the front: a thousand designs, only to build JSON
        designs[design_id] = {
            "ms": _round(ms.iloc[i].to_numpy()),
            "bound": bound.iloc[i].tolist(),
            "used": np.ceil(used.iloc[i].to_numpy(dtype=float)).reshape(shape).tolist(),
        }
    return {
        "kernels": kernels,
        "classes": [kernel_class.get(k, "kernel") for k in kernels],
        "bounds": bounds,
        "slrs": slrs,
        "resources": res_names,
        "available": available,
        "designs": designs,
    }


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</`` sequence can close it)."""
    text = json.dumps(data, separators=(",", ":"), sort_keys=False, allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def page(run: Run, table: pd.DataFrame, detail: Mapping[str, Any]) -> str:
    """The whole HTML page (a string; same inputs, same text)."""
    from plotly.offline import get_plotlyjs

    payload = {
        "run": {
            "title": run.title,
            "board": run.board,
            "model": run.model,
            "cameras": run.cameras,
            "objectives": [list(o) for o in run.objectives],
            "budget_ms": run.budget_ms,
            "budget_key": run.budget_key,
            "quality_max": None if run.quality_max is None or not math.isfinite(run.quality_max)
            else run.quality_max,
            "quality_reference": run.quality_reference,
            "feasible": run.feasible,
            "evaluated": run.evaluated,
            "config": run.config,
            "front_file": run.front_file,
        },
        "params": [p for p in PARAM_NAMES if p in table.columns],
        "n": len(table),
        "columns": encode_columns(table),
        "detail": detail,
    }
    template = (_TEMPLATES / "explore.html").read_text(encoding="utf-8")
    script = (_TEMPLATES / "explore.js").read_text(encoding="utf-8")
    return (
        template.replace("@TITLE@", html.escape(run.title))
        .replace("@PLOTLYJS@", get_plotlyjs().replace("</script", "<\\/script"))
        .replace("@DATA@", _script_json(payload))
        .replace("@SCRIPT@", script)
    )


__all__ = [
    "MAX_CLOUD",
    "Run",
    "binned_sample",
    "design_table",
    "detail_payload",
    "encode_columns",
    "label_columns",
    "page",
]
