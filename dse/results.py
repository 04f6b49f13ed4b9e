"""Model results -> the result table (one row per design, the columns of DESIGN.md)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from dse import MODEL_VERSION
from dse.canonical import canonical
from dse.model import BOUNDS, Model, Result, violation_text, violations_text
from dse.params import PARAMS, UNIFORM_DEFAULTS
from dse.platform import RESOURCES, Platform
from dse.power import POWER_COLUMNS

#: Predicted figures that carry an interval from the calibration's held-out residuals (the
#: platform file's ``uncertainty:`` section, written by ``dse calibrate``).
INTERVAL_QUANTITIES = ("latency_ms", "fmax_mhz", "lut", "dsp", "bram18", "uram")

#: The interval columns: ``<quantity>_lo`` and ``_hi`` of each, then ``utilization_hi`` (the
#: fullest SLR's most used resource with every resource at its ``_hi``).
INTERVAL_COLUMNS = (
    *(f"{q}_{end}" for q in INTERVAL_QUANTITIES for end in ("lo", "hi")),
    "utilization_hi",
)

#: Figures every result row carries, in this order, after the parameters.
FIGURES = (
    "feasible",
    "violation",
    "violations",
    "latency_ms",
    "latency_per_image_ms",
    "images_per_s",
    "achieved_tops",
    "peak_fraction",
    "bytes_per_call",
    *POWER_COLUMNS,
    "dsp",
    "bram18",
    "uram",
    "lut",
    "util_dsp",
    "util_bram",
    "util_uram",
    "util_lut",
    "utilization",
    "binding",
    "fmax_mhz",
    "fmax_margin_mhz",
    "slls",
    "quality_loss",
    "bound",
    "model_version",
    *INTERVAL_COLUMNS,
)


def binding_names(platform: Platform) -> list[str]:
    """Names of the ``binding`` codes (``slr * 4 + resource``), e.g. ``bram18 SLR0``."""
    return [f"{res} {slr}" for slr in platform.slr_names for res in RESOURCES]


def params_frame(batch: Mapping[str, np.ndarray]) -> dict[str, object]:
    """Parameter columns with categoricals as ordered pandas Categoricals of their strings."""
    cols: dict[str, object] = {}
    for p in PARAMS:
        v = np.asarray(batch[p.name])
        if p.kind == "cat":
            cols[p.name] = pd.Categorical.from_codes(
                v.astype(np.int16), categories=list(p.choices), ordered=True
            )
        elif p.kind == "bool":
            cols[p.name] = v.astype(bool)
        else:
            cols[p.name] = v.astype(np.int32)
    return cols


def results_frame(
    model: Model,
    batch: Mapping[str, np.ndarray],
    result: Result,
    design_ids: np.ndarray | list[str],
) -> pd.DataFrame:
    """Build the result table: ``design_id``, every parameter, then ``FIGURES``. The mapping
    parameters are the ones the design ran with (the mapper's choice when the model has one).
    Precisions are written in canonical form (dse.canonical): one spelling per design."""
    c = result.columns
    cols: dict[str, object] = {"design_id": np.asarray(design_ids, dtype=object)}
    # the canonical spelling of the precisions, and the mapping and the clock the design ran with
    # (the mapper's and the clock policy's choices)
    cols.update(
        params_frame(
            {**canonical(batch), **(result.mapping or {}), "clock_mhz": c["clock_mhz"]}
        )
    )
    code, used, limit = c["violation_code"], c["violation_used"], c["violation_limit"]
    viol = violation_text(model.platform, code, used, limit)
    n = len(c["latency_ms"])
    for name in FIGURES:
        if name == "violation":  # the binding (first) violation
            cols[name] = viol
        elif name == "violations":  # every violation, ';'-joined, the binding one first
            cols[name] = (
                violations_text(
                    model.platform, code, used, limit, result.violations, result.limits
                )
                if result.violations
                else viol
            )
        elif name == "bound":
            cols[name] = pd.Categorical.from_codes(
                c["bound"].astype(np.int16), categories=list(BOUNDS), ordered=True
            )
        elif name == "binding":  # what sets utilization: the fullest SLR's most used resource
            cols[name] = pd.Categorical.from_codes(
                c["binding"].astype(np.int16), categories=binding_names(model.platform)
            )
        elif name == "model_version":
            cols[name] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8),
                                                   categories=[MODEL_VERSION])
        elif name in ("dsp", "bram18", "uram", "lut", "slls"):
            cols[name] = np.ceil(c[name]).astype(np.int64)
        elif name == "feasible":
            cols[name] = c[name].astype(bool)
        elif name in INTERVAL_COLUMNS:
            continue  # below, from the figures
        else:
            cols[name] = c[name].astype(np.float64)
    cols.update(interval_columns(model.platform, c))
    frame = pd.DataFrame(cols)
    frame["design_id"] = frame["design_id"].astype(str)
    return frame


def uncertainty(platform: Platform) -> dict[str, tuple[float, float]]:
    """The relative interval (lo, hi) of each quantity from the platform file's
    ``uncertainty:`` section (the truth lies in [v (1 + lo), v (1 + hi)] for 80% of the
    calibration's held-out builds); (0, 0) for a quantity it does not give."""
    spec = platform.raw.get("uncertainty") or {}
    return {
        q: (float(spec[q]["lo"]), float(spec[q]["hi"])) if q in spec else (0.0, 0.0)
        for q in INTERVAL_QUANTITIES
    }


def interval_columns(platform: Platform, c: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The INTERVAL_COLUMNS of evaluated designs (``c``: the model's result columns)."""
    unc = uncertainty(platform)
    out: dict[str, np.ndarray] = {}
    for q in INTERVAL_QUANTITIES:
        v = np.asarray(c[q], dtype=np.float64)
        lo, hi = unc[q]
        out[f"{q}_lo"] = v * (1.0 + lo)
        out[f"{q}_hi"] = v * (1.0 + hi)
    util = {"lut": "util_lut", "dsp": "util_dsp", "bram18": "util_bram", "uram": "util_uram"}
    out["utilization_hi"] = np.max(
        [np.asarray(c[u], dtype=np.float64) * (1.0 + unc[r][1]) for r, u in util.items()], axis=0
    )
    return out


def batch_from_frame(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Inverse of :func:`params_frame`: result rows -> a batch of parameter codes."""
    out: dict[str, np.ndarray] = {}
    for p in PARAMS:
        if p.name not in frame.columns and p.name in UNIFORM_DEFAULTS:  # optional, older tables
            value = UNIFORM_DEFAULTS[p.name]
            code = p.choices.index(value) if p.kind == "cat" else int(value)  # type: ignore[arg-type]
            out[p.name] = np.full(len(frame), code, dtype=np.int64)
            continue
        col = frame[p.name]
        if p.kind == "cat":
            cat = pd.Categorical(col.astype(str), categories=list(p.choices))
            out[p.name] = np.asarray(cat.codes, dtype=np.int64)
        else:
            out[p.name] = np.asarray(col, dtype=np.int64)
    return out
