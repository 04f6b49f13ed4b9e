"""Fit the model's constants to real builds and measure the error on designs left out.

The data are the figures of built designs (:mod:`dse.builds`: LUT, DSP, BRAM18, URAM, clocks,
cycles or latency, each from a report at some stage and for some scope). The model is the
public one (:class:`dse.model.Model` on each entry's board), run with some of its platform
constants replaced. Nothing here knows how the model counts its terms: a constant is a dotted
key of the platform file (``logic.lut_per_bank``, ``precisions.INT8.lut_per_mac``,
``timing.knee.lut``), and what a constant multiplies is read off the model itself.

- **Linear constants** (the LUT and DSP terms: ``lut_per_*``, ``dsp_per_*``, the per-call launch
  time): the model is linear in them, so their feature columns are the model's output with one
  constant at 1 and the others at 0, minus the output with all at 0 (:func:`linear_features`).
  A change of how the model counts a term changes these columns and nothing else. They are fitted
  by non-negative least squares on the relative error, with a weak pull towards the file's value
  (:data:`PRIOR_WEIGHT`) so a constant the data do not determine keeps it.
- **The clock model** (``timing.base_mhz``, the LUT knee and full-SLR clock, the pumping
  derate, the SLL derate and its knee): fmax is piecewise linear in them; the SLR fractions
  and SLLs the clock model sees are taken from the *published* resources where the build gives
  them (the clock fit does not inherit the resource model's error), and the constants are
  found by a grid search. A build that met its requested clock only bounds fmax from below
  (``kind == "lower"``): it costs nothing while the model's fmax is at or above it. A fitted
  value at its grid's edge is a bound, not a measurement, and the calibrated file says so.
- **Latency terms** (``logic.pipeline_fill_cycles``, ``logic.epilogue_overlap``): grid search on
  the builds that report cycles or latency.

Held-out error: leave-one-design-out by default (:func:`cross_validate`): every design's figures
are predicted by constants fitted without it. Relative error = (predicted - published) /
published; for a lower bound the error is min(0, that).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from dse.params import EXAMPLE_DESIGN, MAPPING_PARAMS, PARAM_NAMES, TILE_DIVISORS
from dse.platform import RESOURCES, Platform

#: Quantities the fit predicts (and resources.csv lists), in this order.
FIT_QUANTITIES = ("lut", "dsp", "bram18", "uram", "fmax_mhz", "latency_ms")

#: Columns of :func:`observations`.
OBS_COLUMNS = ("design", "quantity", "published", "kind", "scope", "stage", "timed", "floorplan")

#: Figures about the clock.
CLOCK_QUANTITIES = ("clock_mhz", "fmax_mhz", "clock_target_mhz")

#: Which report stage is preferred when a build gives a figure at several (post-route first).
STAGE_RANK = {"route": 0, "board": 1, "synth": 2, "unstated": 3, "hls": 4}

#: Weight of the pull of a linear constant towards its file value, relative to one data row
#: (both in relative units): small, so a few rows outweigh it, but it decides a constant no row
#: determines.
PRIOR_WEIGHT = 0.01

#: The central interval of the held-out ratio published / predicted that the ``*_lo`` and
#: ``*_hi`` columns carry (10th and 90th percentile: 80% of held-out builds fall inside).
INTERVAL = (0.10, 0.90)

#: Resource counts, all made by one hardware description (dse/hardware.py): their held-out
#: ratios pool into the floor of any one resource's interval (:func:`intervals`).
POOLED_QUANTITIES = ("lut", "dsp", "bram18", "uram")

#: Fewest design families (:func:`family`) a resource's interval may rest on by itself; with
#: fewer, it is widened to the pooled resource interval.
MIN_FAMILIES = 3

#: Grids of the non-linear constants (values tried; the file's value is always tried too).
CLOCK_GRID: dict[str, np.ndarray] = {
    "timing.base_mhz": np.arange(250.0, 405.0, 5.0),
    "timing.knee.lut": np.round(np.arange(0.10, 0.92, 0.02), 2),
    "timing.full_mhz.lut": np.arange(60.0, 305.0, 5.0),
    "timing.pump_derate": np.round(np.arange(0.0, 0.105, 0.01), 2),
    # the SLL term: fraction of fmax lost with a boundary's usable SLLs all in use, and the
    # fraction of them where the loss starts (linear between)
    "timing.sll_derate": np.round(np.arange(0.0, 0.305, 0.01), 2),
    "timing.sll_knee": np.round(np.arange(0.30, 0.96, 0.05), 2),
}
#: Weight of a met clock the curve misses (a built design called infeasible), relative to the
#: same relative error on a reported fmax: the issue's rule that no built design is infeasible
#: as a near-hard constraint; the fit gives up error on reported fmax rows first.
MET_CLOCK_WEIGHT = 100.0

#: Weight of the pull of every training build's predicted fmax towards its published clock
#: (the sum of predicted / published, per row): a tie-break, orders of magnitude below one
#: row's error. Met clocks alone only bound the curve from below, so many curves fit them
#: equally well and a coordinate search would keep wherever it starts (the board file's values,
#: fitted on every build: a design left out would be predicted by constants fitted with it).
#: The pull picks the lowest curve the met clocks allow instead, a choice that does not depend
#: on the design left out, and the pessimistic one for a tool that must not promise a clock.
PULL_WEIGHT = 1e-3

#: Clock constants that trade against each other, searched jointly as well as one at a time:
#: a coordinate search alone stops where raising the base clock and the SLL derate together
#: would lower the loss but neither does alone.
CLOCK_PAIRS = (
    ("timing.base_mhz", "timing.sll_derate"),
    ("timing.sll_knee", "timing.sll_derate"),
    # the LUT knee and the full-SLR clock set one line's two ends: one alone stops where moving
    # the knee down and the full-SLR clock up together would meet a met clock and the reported
    # fmax better (the knee at 0.16 with 265 MHz against 0.30 with 210 MHz)
    ("timing.knee.lut", "timing.full_mhz.lut"),
)

#: The clock model of floorplanned builds (AutoBridge/TAPA pblocks, pipelined SLR crossings):
#: its own LUT knee and full-SLR clock, used for builds whose figures say ``floorplan: true``.
FLOORPLAN_GRID: dict[str, np.ndarray] = {
    "timing.floorplanned.knee_lut": np.round(np.arange(0.30, 0.92, 0.02), 2),
    "timing.floorplanned.full_lut_mhz": np.arange(60.0, 305.0, 5.0),
}

#: Where a floorplanned build reads its clock constants from.
FLOORPLAN_KEYS = {
    "timing.knee.lut": "timing.floorplanned.knee_lut",
    "timing.full_mhz.lut": "timing.floorplanned.full_lut_mhz",
}

LATENCY_GRID: dict[str, np.ndarray] = {
    "logic.pipeline_fill_cycles": np.array([0, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]),
    "logic.epilogue_overlap": np.round(np.arange(0.0, 1.01, 0.1), 2),
    # the AXI latency each burst pays on DDR (the HBM's is measured: HBM Connect)
    "memories.ddr.read_latency_ns": np.array([25.0, 50, 75, 100, 150, 200, 289, 400]),
}

#: A workload for entries that give resources only (no ``model``): resources depend on the
#: workload only through fused-attention buffers, which such designs do not build.
_NO_WORKLOAD = {
    "name": "none",
    "input": "tokens",
    "sequence_length": 64,
    "hidden": 64,
    "heads": 1,
    "mlp": 64,
    "layers": 1,
}


# ---------------------------------------------------------------------------- constants
def get_key(raw: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key of a platform mapping (KeyError if absent)."""
    node: Any = raw
    for part in key.split("."):
        node = node[part]
    return node


def has_key(raw: Mapping[str, Any], key: str) -> bool:
    try:
        get_key(raw, key)
    except (KeyError, TypeError):
        return False
    return True


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key of a platform mapping in place (the key must exist)."""
    *head, last = key.split(".")
    node: Any = raw
    for part in head:
        node = node[part]
    if last not in node:
        raise KeyError(key)
    node[last] = value


def linear_keys(raw: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The linear constants of a platform file, by the quantity they set: every
    ``precisions.<P>.lut_per_mac`` and ``logic.lut_per_*`` (LUT), ``logic.dsp_per_*`` (DSP) and
    ``logic.launch_us`` (latency). Read off the file, so a term the hardware description adds
    or drops is picked up as it is."""
    lut = [f"precisions.{p}.lut_per_mac" for p in raw["precisions"]]
    lut += [f"logic.{k}" for k in raw["logic"] if k.startswith("lut_per_")]
    dsp = [f"logic.{k}" for k in raw["logic"] if k.startswith("dsp_per_")]
    lat = [f"logic.{k}" for k in ("launch_us",) if k in raw["logic"]]
    return {"lut": tuple(lut), "dsp": tuple(dsp), "latency_ms": tuple(lat)}


# ---------------------------------------------------------------------------- data
def observations(figures: pd.DataFrame, designs: pd.DataFrame) -> pd.DataFrame:
    """The fitting rows: one per (design, quantity) of an expressible design, from its best
    report (:data:`STAGE_RANK`), whole-scope figures only.

    Columns: design, quantity (:data:`FIT_QUANTITIES`), published, kind (``eq``, or ``lower``:
    the build met the clock it asked for, so fmax is at least that), scope, stage, timed (what a
    latency times: ``call``, ``layer`` or ``linear``, dse.builds).
    ``fmax_mhz`` is the report's fmax where it gives one, else its clock; ``latency_ms`` is the
    figure, or cycles at the design's clock.
    """
    expressible = designs.loc[designs["expressible"].astype(bool), "design"]
    f = figures[(figures["slr"].fillna("") == "") & figures["design"].isin(expressible)].copy()
    # an HLS estimate of the clock is not a clock that closed
    f = f[~((f["stage"] == "hls") & f["quantity"].isin(CLOCK_QUANTITIES))]
    f["rank"] = f["stage"].map(STAGE_RANK).fillna(9)
    f = f.sort_values(["design", "quantity", "rank"], kind="stable")
    best = f.drop_duplicates(["design", "quantity"], keep="first").set_index(["design", "quantity"])
    clock = designs.set_index("design")["clock_mhz"] if "clock_mhz" in designs else None
    rows: list[dict[str, Any]] = []
    for (design, q), r in best.iterrows():  # a few hundred figures
        base = {"design": design, "scope": r["scope"], "stage": r["stage"], "kind": "eq",
                "timed": r.get("timed", "") or "call", "floorplan": ""}
        if q in ("lut", "dsp", "bram18", "uram"):
            rows.append({**base, "quantity": q, "published": r["published"]})
        elif q == "latency_ms":
            rows.append({**base, "quantity": q, "published": r["published"]})
        elif q == "cycles" and (design, "latency_ms") not in best.index and clock is not None:
            mhz = float(clock.loc[design])
            rows.append({**base, "quantity": "latency_ms", "published": r["published"] / mhz / 1e3})
    for design in best.index.get_level_values(0).unique():
        have = {q for d, q in best.index if d == design}
        if "fmax_mhz" in have:
            r = best.loc[(design, "fmax_mhz")]
            rows.append({"design": design, "quantity": "fmax_mhz", "published": r["published"],
                         "kind": "eq", "scope": r["scope"], "stage": r["stage"], "timed": "",
                         "floorplan": r.get("floorplan", "") or ""})
        elif "clock_mhz" in have:
            r = best.loc[(design, "clock_mhz")]
            target = (
                float(best.loc[(design, "clock_target_mhz"), "published"])
                if "clock_target_mhz" in have
                else math.nan
            )
            # derated below the request: the tools' fmax; met (or unknown): a lower bound
            derated = math.isfinite(target) and r["published"] < target * 0.995
            rows.append({"design": design, "quantity": "fmax_mhz", "published": r["published"],
                         "kind": "eq" if derated else "lower", "scope": r["scope"],
                         "stage": r["stage"], "timed": "",
                         "floorplan": r.get("floorplan", "") or ""})
    out = pd.DataFrame(rows, columns=list(OBS_COLUMNS))
    out = out[out["published"] > 0]
    order = {q: i for i, q in enumerate(FIT_QUANTITIES)}
    out = out.assign(_o=out["quantity"].map(order)).sort_values(["design", "_o"], kind="stable")
    return out.drop(columns="_o").reset_index(drop=True)


def unmodelled_rows(obs: pd.DataFrame, designs: pd.DataFrame) -> pd.DataFrame:
    """The observations a design's ``unmodelled`` mapping (quantity -> reason, dse.builds)
    keeps out of the fit: design, quantity, published, reason."""
    rows = []
    col = designs["unmodelled"] if "unmodelled" in designs else pd.Series(dtype=object)
    marks = {d: m for d, m in zip(designs["design"], col, strict=False) if isinstance(m, dict)}
    for r in obs.itertuples(index=False):  # a few hundred rows
        reason = marks.get(r.design, {}).get(r.quantity)
        if reason:
            rows.append({"design": r.design, "quantity": r.quantity,
                         "published": r.published, "reason": reason})
    return pd.DataFrame(rows, columns=["design", "quantity", "published", "reason"])


@dataclass
class ClockBuilds:
    """Builds that only test the clock model: fmax rows (:data:`OBS_COLUMNS`), the clock
    model's inputs per design (board, SLR fractions, pumped, SLL fraction) and the designs that
    are always in the training set (not expressible, so never held out)."""

    obs: pd.DataFrame
    inputs: dict[str, tuple]
    always: set[str]


def clock_builds(figures: pd.DataFrame, designs: pd.DataFrame, ev: Evaluator) -> ClockBuilds:
    """Builds the model's parameters cannot describe, as clock-model data: each with a board, a
    closed clock and its resources per SLR (or one CU out of context, on an SLR of its own).

    The fraction of resource r is its largest use on one SLR over that SLR's raw count: per-SLR
    figures of the whole device (shell included) as printed; of the kernels plus the board's
    shell on its SLR; a single CU (``scope: cu`` without SLR figures) on the shell-free SLR.
    """
    from dse.config import load_validated

    obs = observations(figures, designs.assign(expressible=True))
    obs = obs[obs["quantity"] == "fmax_mhz"]
    # a clock the designs file marks unmodelled (e.g. out of context, no platform) tests nothing
    if "unmodelled" in designs and len(obs):
        marked = unmodelled_rows(obs, designs)
        drop = set(zip(marked["design"], marked["quantity"], strict=True))
        obs = obs[[(d, q) not in drop
                   for d, q in zip(obs["design"], obs["quantity"], strict=True)]]
    # a part of a build counted already (its clock is the whole build's: same report, same
    # figure as an expressible design's) adds no evidence
    clocks = figures[figures["quantity"] == "fmax_mhz"]
    counted = set(
        zip(clocks.loc[~clocks["design"].isin(designs["design"]), "url"],
            clocks.loc[~clocks["design"].isin(designs["design"]), "published"], strict=True)
    )
    mine = clocks[clocks["design"].isin(designs["design"])]
    dup = {d for d, u, v in zip(mine["design"], mine["url"], mine["published"], strict=True)
           if (u, v) in counted}
    obs = obs[~obs["design"].isin(dup)]
    inputs: dict[str, tuple] = {}
    keep = []
    for r in obs.itertuples(index=False):  # a few dozen builds
        row = designs[designs["design"] == r.design].iloc[0]
        board = str(row.get("board") or "")
        if not board:
            continue
        if board not in ev.raws:
            ev.raws[board] = load_validated(Path(board), "platform")
        P = ev.platform(board)
        f = figures[(figures["design"] == r.design) & figures["quantity"].isin(RESOURCES)]
        f = f.assign(rank=f["stage"].map(STAGE_RANK).fillna(9)).sort_values("rank", kind="stable")
        slr = f[f["slr"].fillna("") != ""]
        u = np.zeros(len(RESOURCES))
        if len(slr):
            best = slr.iloc[0][["stage", "scope"]].tolist()
            slr = slr[(slr["stage"] == best[0]) & (slr["scope"] == best[1])]
            for x in slr.itertuples(index=False):
                s = P.slr_names.index(x.slr) if x.slr in P.slr_names else None
                if s is None:
                    continue
                j = RESOURCES.index(x.quantity)
                used = x.published + (P.slr_shell[s, j] if x.scope == "kernels" else 0.0)
                u[j] = max(u[j], used / P.slr_raw[s, j])
        else:
            whole = f[(f["slr"].fillna("") == "") & (f["scope"] == "cu")]
            if whole.empty:
                continue
            free = [s for s in range(len(P.slr_names)) if not P.slr_shell[s].any()]
            s = free[0] if free else 0
            used = np.zeros(len(RESOURCES))
            for x in whole.drop_duplicates("quantity").itertuples(index=False):
                used[RESOURCES.index(x.quantity)] = x.published
            u = (used + P.slr_shell[s]) / P.slr_raw[s]
            if (u > 1).any():  # larger than one SLR: spread evenly, as a floorplanner would
                u = spread_fractions(P, used[None, :])[0]
        inputs[r.design] = (board, [np.array([v]) for v in u], False, 0.0, r.floorplan == "yes")
        keep.append(r.design)
    obs = obs[obs["design"].isin(keep)].reset_index(drop=True)
    return ClockBuilds(obs, inputs, set(keep))


def spread_fractions(P: Platform, used: np.ndarray) -> np.ndarray:
    """(n, 4) raw fractions of the fullest SLR of one CU (``used``: (n, 4) resources,
    RESOURCES order) spread evenly over every SLR, the shell where it is: a kernel larger than
    one SLR placed as a floorplanner would place it (AutoBridge's one-kernel arrays)."""
    per = used[:, None, :] / len(P.slr_names) + P.slr_shell[None]
    return (per / P.slr_raw[None]).max(axis=1)


def spanning(P: Platform, per_cu: np.ndarray, cus: np.ndarray) -> np.ndarray:
    """(n,) one-CU designs some resource of which is more than any one SLR's budget: a kernel
    that spans SLRs. dse export pins every CU to one SLR (``slr=``), so the model's own designs
    never do; built designs of other tools (AutoSA's whole-device arrays) do."""
    return (cus == 1) & (per_cu > P.slr_available.max(axis=0)[None, :]).any(axis=1)


def published_per_cu(obs: pd.DataFrame, designs: pd.DataFrame, shells: Mapping[str, np.ndarray]
                     ) -> pd.DataFrame:
    """Each design's published resources per CU (RESOURCES columns, NaN where not given): a
    ``kernels`` figure over the CUs, a ``device`` figure less the board's shell over the CUs."""
    d = designs.set_index("design")
    out = pd.DataFrame(np.nan, index=d.index, columns=list(RESOURCES))
    for r in obs[obs["quantity"].isin(RESOURCES)].itertuples(index=False):
        cus = float(d.loc[r.design, "compute_units"])
        j = RESOURCES.index(r.quantity)
        shell = float(shells[str(d.loc[r.design, "board"])][j])
        value = r.published
        if r.scope == "device":
            value = (value - shell) / cus
        elif r.scope == "kernels":
            value = value / cus
        out.loc[r.design, r.quantity] = max(value, 0.0)
    return out


# ---------------------------------------------------------------------------- the model
@dataclass
class Prediction:
    """The model's figures for every design of an :class:`Evaluator` (indexed by design)."""

    per_cu: pd.DataFrame  # RESOURCES columns, one CU
    frame: pd.DataFrame  # compute_units, shell_<r>, fmax_mhz, latency_ms, feasible, violations
    timing_inputs: dict[str, tuple] = field(default_factory=dict)  # design -> fmax arguments

    def value(self, design: str, quantity: str, scope: str = "kernels", timed: str = "call"
              ) -> float:
        """A figure as a report of ``scope`` would print it (a latency: of what ``timed``
        says, one ``call``, one ``layer`` or one ``linear``-layer GEMM)."""
        if quantity == "latency_ms" and timed in ("layer", "linear"):
            return float(self.frame.at[design, f"{timed}_ms"])
        if quantity in RESOURCES:
            v = float(self.per_cu.at[design, quantity])
            if scope == "cu":
                return v
            v *= float(self.frame.at[design, "compute_units"])
            if scope == "device":
                v += float(self.frame.at[design, f"shell_{quantity}"])
            return v
        return float(self.frame.at[design, quantity])


class _Recorder:
    """Stands in for ``dse.model.fmax_mhz`` to keep its arguments (the SLR fractions, pumping
    and SLL use the clock model sees) while computing the same clock."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.calls: list[tuple] = []

    def __call__(self, platform, fractions, pump, sll_fraction):
        self.calls.append(([np.array(f, dtype=float) for f in fractions],
                           np.array(pump), np.array(sll_fraction, dtype=float)))
        return self.fn(platform, fractions, pump, sll_fraction)


@contextlib.contextmanager
def _recording() -> Iterator[_Recorder]:
    import dse.model as m

    rec = _Recorder(m.fmax_mhz)
    m.fmax_mhz = rec
    try:
        yield rec
    finally:
        m.fmax_mhz = rec.fn


class Evaluator:
    """Runs the dataset's designs through the model with some platform constants replaced.

    Args:
        designs: the expressible designs (dse.builds ``designs`` rows: design, board, model,
            cameras and every design parameter).
    """

    def __init__(self, designs: pd.DataFrame) -> None:
        from dse.config import load_model, load_validated, with_defaults
        from dse.workload import Workload, check_model

        self.designs = designs.reset_index(drop=True)
        self.raws: dict[str, dict[str, Any]] = {}
        self.base_platforms: dict[str, Platform] = {}
        self.workloads: dict[tuple[str, int], Workload] = {}
        self.layers: dict[tuple[str, int], int] = {}
        for row in self.designs.itertuples(index=False):
            board = str(row.board)
            if board not in self.raws:
                self.raws[board] = load_validated(Path(board), "platform")
            key = (str(row.model or ""), int(row.cameras))
            if key not in self.workloads:
                if key[0]:
                    raw = load_model(Path(key[0]), cameras=key[1])
                else:
                    raw = {**with_defaults(dict(_NO_WORKLOAD), "model"), "cameras": 1}
                    check_model(raw, file="(no workload)")
                self.workloads[key] = Workload.from_mapping(raw)
                self.layers[key] = int(raw.get("layers", 1) or 1)
        # designs run together: same board, workload, placement (a build's own cu_slr_order,
        # designs file; "" for the board's) and kernel (dse's template, or a published build)
        self.groups: dict[tuple[str, str, int, str, bool, str], list[int]] = {}
        template = (self.designs["template"] if "template" in self.designs
                    else pd.Series(False, index=self.designs.index))  # fmt: skip
        for i, (row, tpl) in enumerate(zip(self.designs.itertuples(index=False), template,
                                           strict=True)):
            order = getattr(row, "cu_slr_order", "")
            order = order if isinstance(order, str) else ""
            layout = getattr(row, "operand_layout", "rows")  # and memory layout
            layout = layout if isinstance(layout, str) and layout else "rows"
            self.groups.setdefault((str(row.board), str(row.model or ""), int(row.cameras),
                                    order, bool(tpl) if not _missing(tpl) else False, layout),
                                   []).append(i)

    def platform(self, board: str, overrides: Mapping[str, float] | None = None, *,
                 cu_slr_order: str = "") -> Platform:
        """The board with ``overrides`` (dotted keys it has) and, given as ``"1,2,0"``, a
        build's own CU placement instead of the board's ``cu_slr_order``."""
        raw = copy.deepcopy(self.raws[board])
        for key, value in (overrides or {}).items():
            if has_key(raw, key):
                set_key(raw, key, value)
        if cu_slr_order:
            raw["cu_slr_order"] = [int(x) for x in cu_slr_order.split(",")]
        return Platform.from_mapping(raw, source=board)

    def shells(self) -> dict[str, np.ndarray]:
        """Each board's shell resources (RESOURCES order)."""
        return {b: self.platform(b).slr_shell.sum(axis=0) for b in self.raws}

    def latency_trials(self, trials: Sequence[Mapping[str, float]], subset: Iterable[str]
                       ) -> list[Prediction]:
        """Each trial's latencies of the designs ``subset`` (a :class:`Prediction` whose frame
        has the ``latency_ms``, ``layer_ms`` and ``linear_ms`` columns of :meth:`predict` with
        the trial's overrides), every trial of a group of designs in one model evaluation:
        the designs repeated once per trial, each copy with its trial's values of the
        constants the model takes per design (dse.model.PER_DESIGN_CONSTANTS). Trials that
        differ in any other constant, or whose read latency is not float32-exact (the model
        would round it), run one :meth:`predict` each."""
        from dse.space import design_batch

        trials = [dict(t) for t in trials]
        keys = {k for t in trials for k in t}
        varying = {k for k in keys if len({t.get(k) for t in trials}) > 1}
        if any(not _per_design_key(k) for k in varying):
            return [self._latency_frame(self.predict(t, subset=subset)) for t in trials]
        keep = set(subset)
        T = len(trials)
        frames: list[list[pd.DataFrame]] = [[] for _ in trials]
        for (board, model_path, cams, order, template, layout), idx in self.groups.items():
            rows = self.designs.iloc[idx]
            rows = rows[rows["design"].isin(keep)]
            if rows.empty:
                continue
            plats = [self.platform(board, t, cu_slr_order=order) for t in trials]
            rl = np.array([P.memory.read_latency_ns for P in plats], dtype=float)
            q = rl / np.array([P.memory.outstanding for P in plats], dtype=float)
            if (rl.astype(np.float32) != rl).any() or (q.astype(np.float32) != q).any():
                return [self._latency_frame(self.predict(t, subset=subset)) for t in trials]
            P, W = plats[0], self.workloads[(model_path, cams)]
            params, model = _rows_model(rows, P, W, template, layout)
            one = design_batch(params, P, file="calibration designs")
            n = len(params)
            batch = {k: np.concatenate([np.asarray(v)] * T) for k, v in one.items()}
            constants = {
                "pipeline_fill_cycles": np.repeat(
                    [float(x.logic["pipeline_fill_cycles"]) for x in plats], n),
                "epilogue_overlap": np.repeat(
                    [float(x.logic.get("epilogue_overlap", 1.0)) for x in plats], n),
                "read_latency_ns": np.repeat(rl, n),
            }
            res = model.evaluate(batch, detail=True, constants=constants)
            ids = rows["design"].astype(str).tolist()
            for t in range(T):
                part = slice(t * n, (t + 1) * n)
                c = {k: res.columns[k][part] for k in ("latency_ms", "latency_per_image_ms")}
                r = SimpleNamespace(kernel_ms=res.kernel_ms[part])
                frames[t].append(pd.DataFrame(
                    {"latency_ms": np.asarray(c["latency_ms"], dtype=float),
                     **_part_times(W, self.layers[(model_path, cams)], r, c)},
                    index=ids))
        empty = pd.DataFrame(columns=list(RESOURCES), dtype=float)
        return [Prediction(empty, pd.concat(f) if f else pd.DataFrame(
            columns=["latency_ms", "layer_ms", "linear_ms"])) for f in frames]

    @staticmethod
    def _latency_frame(p: Prediction) -> Prediction:
        return Prediction(p.per_cu, p.frame[["latency_ms", "layer_ms", "linear_ms"]])

    def predict(
        self,
        overrides: Mapping[str, float] | None = None,
        *,
        resources: pd.DataFrame | None = None,
        subset: Iterable[str] | None = None,
    ) -> Prediction:
        """The model's figures for the designs (``subset``: only these).

        Args:
            overrides: dotted platform keys -> values, on every board that has the key.
            resources: per-CU resources to use instead of the model's (RESOURCES columns, NaN:
                the model's own), e.g. the published ones, to see what the clock model and the
                budget rule make of the design as built.
        """
        from dse.space import design_batch

        keep = None if subset is None else set(subset)
        per_cu, frames, timing = [], [], {}
        for (board, model_path, cams, order, template, layout), idx in self.groups.items():
            rows = self.designs.iloc[idx]
            if keep is not None:
                rows = rows[rows["design"].isin(keep)]
            if rows.empty:
                continue
            P = self.platform(board, overrides, cu_slr_order=order)
            W = self.workloads[(model_path, cams)]
            params, model = _rows_model(rows, P, W, template, layout)
            batch = design_batch(params, P, file="calibration designs")
            ids = rows["design"].astype(str).tolist()
            if resources is not None:
                own = model._resources
                given = resources.reindex(ids)[list(RESOURCES)].to_numpy(dtype=float)

                def _given(b, own=own, given=given):
                    r = own(b)
                    return np.where(np.isnan(given), r, given)

                model._resources = _given  # type: ignore[method-assign]
            with _recording() as rec:
                res = model.evaluate(batch, detail=True)
            c = res.columns
            cu = np.asarray(batch["compute_units"], dtype=float)
            pc = np.stack([np.asarray(c[r], dtype=float) / cu for r in RESOURCES], axis=1)
            per_cu.append(pd.DataFrame(pc, index=ids, columns=list(RESOURCES)))
            from dse.model import violations_text

            text = violations_text(P, c["violation_code"], c["violation_used"],
                                   c["violation_limit"], res.violations or {}, res.limits)
            shell = P.slr_shell.sum(axis=0)
            fr = pd.DataFrame(
                {
                    "compute_units": cu,
                    **{f"shell_{r}": shell[j] for j, r in enumerate(RESOURCES)},
                    "fmax_mhz": np.asarray(c["fmax_mhz"], dtype=float),
                    "latency_ms": np.asarray(c["latency_ms"], dtype=float),
                    **_part_times(W, self.layers[(model_path, cams)], res, c),
                    "clock_mhz": np.asarray(batch["clock_mhz"], dtype=float),
                    "feasible": np.asarray(c["feasible"], dtype=bool),
                    "violations": np.asarray(text, dtype=object),
                },
                index=ids,
            )
            frames.append(fr)
            if rec.calls:
                fractions, pump, sll = rec.calls[-1]
                for j, i in enumerate(ids):
                    timing[i] = (board, [f[j] for f in fractions], bool(np.ravel(pump)[j]),
                                 float(np.ravel(sll)[j]), False)
                _span(P, fr, pc, timing, ids)
        if not frames:  # no design to run
            return Prediction(pd.DataFrame(columns=list(RESOURCES), dtype=float),
                              pd.DataFrame(columns=["compute_units", "fmax_mhz", "latency_ms",
                                                    "clock_mhz", "feasible", "violations"]),
                              timing)
        return Prediction(pd.concat(per_cu), pd.concat(frames), timing)


def _span(P: Platform, fr: pd.DataFrame, pc: np.ndarray, timing: dict[str, tuple],
          ids: list[str]) -> None:
    """Designs whose one CU spans SLRs (:func:`spanning`), in place: the clock model sees the
    CU spread evenly over the SLRs (its inputs in ``timing`` too), and the design fits when its
    resources fit the device and its clock its fmax (the per-SLR budget and the model's timing
    verdict replaced; any other violation kept). The SLLs of the CU's own crossings are not
    known and not charged (AutoBridge pipelines them)."""
    from dse.timing import fmax_mhz

    span = spanning(P, pc, fr["compute_units"].to_numpy(float))
    if not span.any():
        return
    rows = np.flatnonzero(span)
    u = spread_fractions(P, pc[rows])
    pump = np.array([timing[ids[j]][2] for j in rows], dtype=bool)
    sll = np.array([timing[ids[j]][3] for j in rows])
    fmax = fmax_mhz(P, [u[:, r] for r in range(len(RESOURCES))], pump, sll)
    device = P.slr_available.sum(axis=0)
    for k, j in enumerate(rows):
        d = ids[j]
        timing[d] = (timing[d][0], [np.array([v]) for v in u[k]], bool(pump[k]), float(sll[k]),
                     False)
        keep = [v for v in str(fr.at[d, "violations"] or "").split(";")
                if v and " SLR" not in v and "timing closure" not in v]
        keep += [f"{r} device {pc[j, i]:.0f} > {device[i]:.0f} available"
                 for i, r in enumerate(RESOURCES) if pc[j, i] > device[i]]
        clk = float(fr.at[d, "clock_mhz"])
        if clk > fmax[k] + 1e-6:
            keep.append(f"clock_mhz for timing closure {clk:.0f} > {fmax[k]:.0f} available")
        fr.at[d, "fmax_mhz"] = float(fmax[k])
        fr.at[d, "violations"] = ";".join(keep)
        fr.at[d, "feasible"] = not keep


def _part_times(W, layers: int, res, c) -> dict[str, np.ndarray]:
    """One encoder layer's time (``layer_ms``: the ``layer`` kernels over the layers) and one
    linear-layer GEMM's (``linear_ms``: the proj and mlp GEMMs over their executions), ms, as
    one call runs them (its image rounds)."""
    from dse.workload import GEMM

    rounds = np.asarray(c["latency_ms"], float) / np.asarray(c["latency_per_image_ms"], float)
    km = np.asarray(res.kernel_ms, dtype=float)
    layer = [i for i, k in enumerate(W.kernels) if k.group == "layer"]
    lin = [i for i, k in enumerate(W.kernels) if k.kind == GEMM and k.cls in ("proj", "mlp")]
    n_lin = sum(W.kernels[i].count for i in lin) or 1
    none = np.full(len(km), np.nan)
    return {
        "layer_ms": km[:, layer].sum(axis=1) / layers * rounds if layer else none,
        "linear_ms": km[:, lin].sum(axis=1) / n_lin if lin else none,
    }


def _per_design_key(key: str) -> bool:
    """A dotted platform key the model can take one value per design of (its batch's
    dse.model.PER_DESIGN_CONSTANTS)."""
    parts = key.split(".")
    return key in ("logic.pipeline_fill_cycles", "logic.epilogue_overlap") or (
        len(parts) == 3 and parts[0] == "memories" and parts[2] == "read_latency_ns")


def _floorplanned(o: dict, raw: Mapping[str, Any]) -> dict:
    """Overrides ``o`` for a floorplanned build: each timing key takes its floorplanned source
    (FLOORPLAN_KEYS), from ``o`` or else from the board file ``raw``."""
    for key, src in FLOORPLAN_KEYS.items():
        if src in o:
            o[key] = o[src]
        elif has_key(raw, src):
            o[key] = float(get_key(raw, src))
    return o


def _rows_model(rows: pd.DataFrame, P, W, template: bool, layout: str) -> tuple[list[dict], Any]:
    """The design parameters of calibration rows (EXAMPLE_DESIGN for what a row leaves out) and
    the dse.model.Model that costs them: with the mapper unless a row fixes its runtime tiles."""
    from dse.model import Model

    params = [
        {**EXAMPLE_DESIGN,
         **{k: _plain(r[k]) for k in PARAM_NAMES if k in r.index and not _missing(r[k])}}
        for _, r in rows.iterrows()
    ]
    mapper = not any(name in p for p in params for name in MAPPING_PARAMS)
    model = Model(P, W, tile_divisors=TILE_DIVISORS if mapper else None, template=template,
                  operand_layout=layout)
    return params, model


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


# ---------------------------------------------------------------------------- fitting
def nnls(A: np.ndarray, b: np.ndarray, *, tol: float = 1e-10, max_iter: int = 500) -> np.ndarray:
    """Non-negative least squares, min ||A x - b|| with x >= 0 (Lawson and Hanson's active
    set method, as in their book "Solving Least Squares Problems", 1974, chapter 23)."""
    m, n = A.shape
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    w = A.T @ (b - A @ x)
    for _ in range(max_iter):
        if passive.all() or not (w[~passive] > tol).any():
            break
        j = int(np.argmax(np.where(passive, -np.inf, w)))
        passive[j] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(A[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            neg = passive & (z <= 0)
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
        w = A.T @ (b - A @ x)
    return x


@dataclass
class LinearFeatures:
    """What the linear constants of one quantity multiply, per (design, scope) row.

    ``predicted = base + X @ constants`` for every row of ``rows`` (design, scope, published).
    """

    quantity: str
    keys: tuple[str, ...]
    prior: np.ndarray
    rows: pd.DataFrame
    base: np.ndarray
    X: np.ndarray


def linear_features(ev: Evaluator, obs: pd.DataFrame, quantity: str, keys: Sequence[str],
                    prior: Mapping[str, float], fixed: Mapping[str, float] | None = None
                    ) -> LinearFeatures:
    """Feature columns of the linear constants ``keys`` of ``quantity`` by evaluating the model
    with each at 1 and the others at 0 (``fixed``: other overrides held throughout)."""
    rows = obs[obs["quantity"] == quantity].reset_index(drop=True)
    zero = {**(fixed or {}), **{k: 0.0 for k in keys}}
    designs = rows["design"].unique().tolist()

    def column(p: Prediction) -> np.ndarray:
        return np.array([p.value(r.design, quantity, r.scope, r.timed) for r in rows.itertuples()])

    base = column(ev.predict(zero, subset=designs)) if len(rows) else np.zeros(0)
    X = np.zeros((len(rows), len(keys)))
    for j, k in enumerate(keys):
        if len(rows):
            X[:, j] = column(ev.predict({**zero, k: 1.0}, subset=designs)) - base
    return LinearFeatures(quantity, tuple(keys), np.array([prior[k] for k in keys], dtype=float),
                          rows, base, X)


def fit_linear(lf: LinearFeatures, train: np.ndarray) -> dict[str, float]:
    """Non-negative constants minimising the squared relative error on the ``train`` rows plus
    :data:`PRIOR_WEIGHT` x the squared relative distance of each constant from its prior."""
    y = lf.rows["published"].to_numpy(dtype=float)
    w = 1.0 / y[train]
    A = lf.X[train] * w[:, None]
    b = (y[train] - lf.base[train]) * w
    # the pull is relative to the prior; a prior of 0 (a constant an earlier fit zeroed) is
    # pulled on the scale of its effect instead (1 / its mean relative feature: the value that
    # moves the predictions by 100% on average), not in absolute units
    scale = np.abs(A).mean(axis=0) if len(A) else np.zeros(len(lf.prior))
    p = np.where(lf.prior > 0, lf.prior, np.where(scale > 0, 1.0 / np.maximum(scale, 1e-300), 1.0))
    lam = math.sqrt(PRIOR_WEIGHT)
    used = np.abs(lf.X[train]).sum(axis=0) > 0
    A = np.vstack([A, np.diag(lam / p)])
    b = np.concatenate([b, lam * lf.prior / p])
    x = nnls(A, b)
    x = np.where(used, x, lf.prior)  # no row sees it: keep the file's value
    return dict(zip(lf.keys, x.tolist(), strict=True))


def relative_error(pred: np.ndarray, pub: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """(pred - pub) / pub; a lower bound (``kind == "lower"``) costs only when pred < pub."""
    e = (np.asarray(pred, float) - np.asarray(pub, float)) / np.asarray(pub, float)
    return np.where(np.asarray(kind) == "lower", np.minimum(e, 0.0), e)


def _timing_fmax(ev: Evaluator, inputs: Mapping[str, tuple], designs: Sequence[str],
                 overrides: Mapping[str, float], groups: Mapping | None = None) -> np.ndarray:
    """fmax of designs from their recorded clock-model inputs under ``overrides`` (the clock
    constants only: the board's Timing with them replaced; NaN for every design when they make
    the curve rise, which the platform check refuses)."""
    import dataclasses
    from types import SimpleNamespace

    from dse.timing import fmax_mhz

    out = np.empty(len(designs))
    if groups is None:
        groups = _timing_groups(inputs, designs)
    for (board, planned), (idx, fr, pump, sll) in groups.items():
        if board not in ev.base_platforms:
            ev.base_platforms[board] = ev.platform(board)
        P = ev.base_platforms[board]
        o = _floorplanned(dict(overrides), ev.raws[board]) if planned else dict(overrides)
        t = P.timing
        knee, full = t.knee.copy(), t.full_mhz.copy()
        base = float(o.get("timing.base_mhz", t.base_mhz))
        for j, r in enumerate(RESOURCES):
            knee[j] = float(o.get(f"timing.knee.{r}", knee[j]))
            full[j] = float(o.get(f"timing.full_mhz.{r}", full[j]))
        if (full > base).any():
            return np.full(len(designs), np.nan)
        timing = dataclasses.replace(
            t, base_mhz=base, knee=knee, full_mhz=full,
            pump_derate=float(o.get("timing.pump_derate", t.pump_derate)),
            sll_knee=float(o.get("timing.sll_knee", t.sll_knee)),
            sll_derate=float(o.get("timing.sll_derate", t.sll_derate)),
        )
        plat = SimpleNamespace(timing=timing, max_kernel_mhz=P.max_kernel_mhz)
        out[idx] = fmax_mhz(plat, fr, pump, sll)
    return out


def _timing_fmax_trials(ev: Evaluator, groups: Mapping, n: int,
                        trials: Sequence[Mapping[str, float]]) -> np.ndarray:
    """(len(trials), n) fmax of the designs of ``groups`` (:func:`_timing_groups`) under each
    of ``trials`` (clock-constant overrides), in one array evaluation per group: row t is
    :func:`_timing_fmax` of trial t, each element computed by the same float operations (a
    row of NaN where the trial makes the curve rise)."""
    import dataclasses

    from dse.timing import fmax_mhz

    T = len(trials)
    out = np.empty((T, n))
    rising = np.zeros(T, dtype=bool)
    for (board, planned), (idx, fr, pump, sll) in groups.items():
        if board not in ev.base_platforms:
            ev.base_platforms[board] = ev.platform(board)
        P = ev.base_platforms[board]
        t = P.timing
        base = np.empty(T)
        knee = np.empty((len(RESOURCES), T))
        full = np.empty((len(RESOURCES), T))
        derates = np.empty((3, T))
        for i, trial in enumerate(trials):
            o = _floorplanned(dict(trial), ev.raws[board]) if planned else dict(trial)
            base[i] = float(o.get("timing.base_mhz", t.base_mhz))
            for j, r in enumerate(RESOURCES):
                knee[j, i] = float(o.get(f"timing.knee.{r}", t.knee[j]))
                full[j, i] = float(o.get(f"timing.full_mhz.{r}", t.full_mhz[j]))
            derates[:, i] = (float(o.get("timing.pump_derate", t.pump_derate)),
                             float(o.get("timing.sll_knee", t.sll_knee)),
                             float(o.get("timing.sll_derate", t.sll_derate)))
        rising |= (full > base[None, :]).any(axis=0)
        timing = dataclasses.replace(
            t, base_mhz=base[:, None], knee=knee[:, :, None], full_mhz=full[:, :, None],
            pump_derate=derates[0][:, None], sll_knee=derates[1][:, None],
            sll_derate=derates[2][:, None],
        )
        plat = SimpleNamespace(timing=timing, max_kernel_mhz=P.max_kernel_mhz)
        out[:, idx] = fmax_mhz(plat, fr, pump, sll)
    out[rising] = np.nan
    return out


def _timing_groups(inputs: Mapping[str, tuple], designs: Sequence[str]) -> dict:
    """The designs grouped by (board, floorplanned), each group's row indices and its clock-model
    inputs as arrays (resource fractions per resource, double pumping, SLL fraction): what
    :func:`_timing_fmax` needs besides the constants, so a fit that tries many constants on the
    same designs builds it once."""
    rows: dict[tuple[str, bool], list[int]] = {}
    for i, d in enumerate(designs):
        rows.setdefault((inputs[d][0], bool(inputs[d][4])), []).append(i)
    groups = {}
    for g, idx in rows.items():
        fr = [np.array([float(np.ravel(inputs[designs[i]][1][r])[0]) for i in idx])
              for r in range(len(RESOURCES))]
        pump = np.array([bool(inputs[designs[i]][2]) for i in idx])
        sll = np.array([float(inputs[designs[i]][3]) for i in idx])
        groups[g] = (idx, fr, pump, sll)
    return groups


def fit_grid(loss, grid: Mapping[str, np.ndarray], start: Mapping[str, float], *,
             sweeps: int = 3, pairs: Sequence[tuple[str, str]] = (), batch=None,
             chunk: int = 512) -> dict[str, float]:
    """Coordinate search: each constant in turn takes the grid value (or its current value)
    with the least ``loss(constants)``, then each of ``pairs`` (two constants that trade
    against each other, e.g. a clock and a derate) every combination of their grids; repeated
    ``sweeps`` times or until nothing moves.

    ``batch`` (optional): the losses of a list of trials at once, equal to ``loss`` of each.
    The search is then the same walk (a trial is tried from the constants the trials before
    it left), with up to ``chunk`` trials evaluated ahead from the current constants: the
    first of them that improves is taken and those after it are evaluated again from there.
    """
    cur = dict(start)
    best = loss(cur)
    pairs = [(a, b) for a, b in pairs if a in grid and b in grid]
    for _ in range(sweeps):
        moved = False
        trials = [{key: float(v)} for key, values in grid.items() for v in values]
        trials += [{a: float(x), b: float(y)} for a, b in pairs for x in grid[a] for y in grid[b]]
        if batch is None:
            for change in trials:
                trial = {**cur, **change}
                val = loss(trial)
                if val < best - 1e-12:
                    best, cur, moved = val, trial, True
        else:
            i = 0
            while i < len(trials):
                ahead = [{**cur, **change} for change in trials[i : i + chunk]]
                better = np.flatnonzero(np.asarray(batch(ahead)) < best - 1e-12)
                if not len(better):
                    i += len(ahead)
                    continue
                j = int(better[0])
                best, cur, moved = float(batch([ahead[j]])[0]), ahead[j], True
                i += j + 1
        if not moved:
            break
    return cur


@dataclass
class Fit:
    """Fitted constants (dotted key -> value) and the training residual of each quantity."""

    constants: dict[str, float]
    residual: dict[str, float]  # quantity -> median |relative error| on the training rows
    rows: dict[str, int]  # quantity -> training rows


class Calibration:
    """The dataset, its features and the fit/validate loop.

    Args:
        figures, designs: dse.builds tables (or dse.reports rows with a designs table).
    """

    def __init__(self, figures: pd.DataFrame, designs: pd.DataFrame) -> None:
        others = designs[~designs["expressible"].astype(bool)].copy()
        designs = designs[designs["expressible"].astype(bool)].copy()
        all_obs = observations(figures, designs)
        # figures the designs file marks unmodelled (with the reason) stay out of the fit and
        # the held-out error; the clock model still sees the build's published resources
        self.unmodelled = unmodelled_rows(all_obs, designs)
        if "unmodelled" in others and len(others):  # clocks of builds known by their clock only
            obs_o = observations(figures, others.assign(expressible=True))
            marked = unmodelled_rows(obs_o[obs_o["quantity"] == "fmax_mhz"], others)
            if len(marked):
                self.unmodelled = pd.concat([self.unmodelled, marked], ignore_index=True)
        drop = set(zip(self.unmodelled["design"], self.unmodelled["quantity"], strict=True))
        keep = np.array([(d, q) not in drop for d, q in zip(all_obs["design"],
                                                            all_obs["quantity"], strict=True)],
                        dtype=bool)
        self.obs = all_obs[keep].reset_index(drop=True)
        self.designs = designs[designs["design"].isin(all_obs["design"])].reset_index(drop=True)
        self.ev = Evaluator(self.designs)
        raws = list(self.ev.raws.values())
        keys: dict[str, list[str]] = {}
        self.prior: dict[str, float] = {}
        for raw in raws:
            for q, ks in linear_keys(raw).items():
                for k in ks:
                    if k not in keys.setdefault(q, []):
                        keys[q].append(k)
                        self.prior[k] = float(get_key(raw, k))
        for grid in (CLOCK_GRID, FLOORPLAN_GRID, LATENCY_GRID):
            for k in grid:
                if raws and has_key(raws[0], k):
                    self.prior[k] = float(get_key(raws[0], k))
        self.linear_keys = {q: tuple(ks) for q, ks in keys.items()}
        shells = self.ev.shells()
        self.built = published_per_cu(all_obs, self.designs, shells)
        # features of the linear constants (they do not depend on the fold)
        self.features = {
            q: linear_features(self.ev, self.obs, q, ks, self.prior)
            for q, ks in self.linear_keys.items()
            if ks and (self.obs["quantity"] == q).any()
        }
        # the clock model's inputs for the design as built (published resources where given)
        self.as_built = self.ev.predict(resources=self.built)
        # builds the parameters cannot describe still test the clock model: their fmax against
        # the SLR fractions of their published resources
        planned = self.obs[(self.obs["quantity"] == "fmax_mhz") & (self.obs["floorplan"] == "yes")]
        for d in planned["design"]:
            if d in self.as_built.timing_inputs:
                self.as_built.timing_inputs[d] = (*self.as_built.timing_inputs[d][:4], True)
        self.planned = set(planned["design"])
        self.clock_only = clock_builds(figures, others, self.ev)
        self.lat_rows = self.obs[self.obs["quantity"] == "latency_ms"].reset_index(drop=True)
        self._lat_cache: dict[tuple, np.ndarray] = {}
        for d, inputs in self.clock_only.inputs.items():
            self.as_built.timing_inputs[d] = inputs

    # -- one fit
    def fit(self, train: Sequence[str]) -> Fit:
        """Constants fitted on the designs ``train``."""
        train = set(train)
        const: dict[str, float] = {}
        residual: dict[str, float] = {}
        nrows: dict[str, int] = {}
        for q, lf in self.features.items():
            if q == "latency_ms":
                continue  # fitted with the latency grid below
            mask = lf.rows["design"].isin(train).to_numpy()
            if not mask.any():
                continue
            c = fit_linear(lf, mask)
            const.update(c)
            pred = lf.base + lf.X @ np.array([c[k] for k in lf.keys])
            y = lf.rows["published"].to_numpy(float)
            residual[q] = float(np.median(np.abs(pred[mask] - y[mask]) / y[mask]))
            nrows[q] = int(mask.sum())
        # clock model, on the resources as built
        f = pd.concat([self.obs, self.clock_only.obs], ignore_index=True)
        f = f[(f["quantity"] == "fmax_mhz") & f["design"].isin(train | self.clock_only.always)]
        f = f[f["design"].isin(list(self.as_built.timing_inputs))]
        if len(f):
            ds, pub = f["design"].tolist(), f["published"].to_numpy(float)
            kind = f["kind"].to_numpy(dtype=object)
            groups = _timing_groups(self.as_built.timing_inputs, ds)  # once: only c changes
            w = np.where(kind == "lower", MET_CLOCK_WEIGHT, 1.0)

            # the sum of absolute relative errors (the estimator of the median the held-out
            # table reports): with squares one equality row the curve cannot reach (Chen et
            # al.'s 245 MHz at 58% of an SLR's LUTs, +32% under every curve) outweighs the met
            # clocks of several builds, which a curve below them calls infeasible; one value
            # per trial (row), each row's the same operations whatever the other rows
            def losses(trials: Sequence[Mapping[str, float]]) -> np.ndarray:
                pred = _timing_fmax_trials(self.ev, groups, len(ds), trials)
                e = relative_error(pred, pub, kind)
                val = np.sum(w * np.abs(e), axis=1) + PULL_WEIGHT * np.sum(pred / pub, axis=1)
                return np.where(np.isfinite(e).all(axis=1), val, math.inf)

            both = {**CLOCK_GRID, **FLOORPLAN_GRID}
            start = {k: self.prior[k] for k in both if k in self.prior}
            grid = {k: v for k, v in both.items() if k in start}
            c = fit_grid(lambda c: float(losses([c])[0]), grid, start, pairs=CLOCK_PAIRS,
                         batch=losses)
            const.update(c)
            fmax = _timing_fmax(self.ev, self.as_built.timing_inputs, ds, c, groups)
            e = relative_error(fmax, pub, kind)
            known = ~((kind == "lower") & (e == 0))  # a met bound has no error to average
            residual["fmax_mhz"] = float(np.median(np.abs(e[known]))) if known.any() else 0.0
            nrows["fmax_mhz"] = len(f)
        # latency terms: grid on the non-linear ones, least squares on launch_us
        rows = self.lat_rows
        mask = rows["design"].isin(train).to_numpy()
        if mask.any():
            pub = rows["published"].to_numpy(float)[mask]

            def lat_fit(c: Mapping[str, float]) -> tuple[float, np.ndarray, dict[str, float]]:
                pred = self._latency(c)[mask]
                launch, extra = self._launch_fit(pub, pred, mask, c)
                pred = pred + extra
                return float(np.sum(np.log(pred / pub) ** 2)), pred, launch

            def lat_losses(trials: Sequence[Mapping[str, float]]) -> np.ndarray:
                self._latencies(trials)  # the ones not cached yet in one evaluation
                return np.array([lat_fit(c)[0] for c in trials])

            start = {k: self.prior[k] for k in LATENCY_GRID if k in self.prior}
            grid = {k: v for k, v in LATENCY_GRID.items() if k in start}
            c = (fit_grid(lambda c: lat_fit(c)[0], grid, start, sweeps=2, batch=lat_losses)
                 if grid else {})
            _, pred, launch = lat_fit(c)
            const.update({**c, **launch})
            residual["latency_ms"] = float(np.median(np.abs(pred - pub) / pub))
            nrows["latency_ms"] = int(mask.sum())
        return Fit(const, residual, nrows)

    def _latency(self, c: Mapping[str, float]) -> np.ndarray:
        """The model's latency of every latency row under the latency constants ``c`` (cached:
        no other fitted constant changes a latency, so folds share the evaluations)."""
        key = tuple(sorted(c.items()))
        if key not in self._lat_cache:
            self._latencies([c])
        return self._lat_cache[key]

    def _latencies(self, trials: Sequence[Mapping[str, float]]) -> None:
        """:meth:`_latency` of each of ``trials`` into the cache, those not in it yet run
        together (:meth:`Evaluator.latency_trials`)."""
        todo: dict[tuple, dict[str, float]] = {}
        for c in trials:
            key = tuple(sorted(c.items()))
            if key not in self._lat_cache:
                todo.setdefault(key, dict(c))
        if not todo:
            return
        rows = self.lat_rows
        preds = self.ev.latency_trials(list(todo.values()), rows["design"].unique().tolist())
        for key, p in zip(todo, preds, strict=True):
            self._lat_cache[key] = np.array(
                [p.value(r.design, "latency_ms", "cu", r.timed) for r in rows.itertuples()]
            )

    def _launch_fit(self, pub: np.ndarray, pred: np.ndarray, mask: np.ndarray,
                    c: Mapping[str, float]) -> tuple[dict[str, float], np.ndarray]:
        """The per-call launch time (linear, non-negative, on the relative error): its feature
        is the model's latency with it at 1 minus at 0 (launches per call)."""
        lf = self.features.get("latency_ms")
        keys = self.linear_keys.get("latency_ms", ())
        if lf is None or not keys:
            return {}, np.zeros(len(pub))
        key = keys[0]
        x = lf.X[:, 0][mask]
        cur = float(c.get(key, self.prior[key]))
        base = pred - cur * x  # the prediction without the launch term
        w = 1.0 / pub
        scale = max(cur, 1.0)
        A = np.concatenate([(x * w)[:, None], [[math.sqrt(PRIOR_WEIGHT) / scale]]])
        b = np.concatenate([(pub - base) * w, [math.sqrt(PRIOR_WEIGHT) * cur / scale]])
        v = float(nnls(A, b)[0])
        return {key: v}, base + v * x - pred

    def _floorplanned(self, constants: Mapping[str, float], planned: Iterable[str], *,
                      resources: pd.DataFrame | None = None) -> list[Prediction]:
        """Predictions of the floorplanned builds among ``planned`` on the floorplanned clock
        curve, one per board: the fitted floorplanned knee and full-SLR clock where
        ``constants`` has them, else the board file's (the shipped constants)."""
        board = self.ev.designs.set_index("design")["board"].astype(str)
        by_board: dict[str, list[str]] = {}
        for d in sorted(planned):
            by_board.setdefault(board[d], []).append(d)
        out = []
        for b, ids in by_board.items():
            o = dict(constants)
            for key, src in FLOORPLAN_KEYS.items():
                if src in o:
                    o[key] = o[src]
                elif has_key(self.ev.raws[b], src):
                    o[key] = float(get_key(self.ev.raws[b], src))
            out.append(self.ev.predict(o, resources=resources, subset=ids))
        return out

    # -- built designs under the model
    def as_built_table(self, fit: Fit) -> pd.DataFrame:
        """Every build at its published clock with its published resources (the model's own
        where a build gives none) under the fitted constants: fmax, feasibility and what is
        violated. A floorplanned build uses the floorplanned curve."""
        p = self.ev.predict(fit.constants, resources=self.built)
        for fp in self._floorplanned(fit.constants, self.planned, resources=self.built):
            p.frame.loc[fp.frame.index, ["fmax_mhz", "feasible", "violations"]] = fp.frame[
                ["fmax_mhz", "feasible", "violations"]]
        out = p.frame[["clock_mhz", "fmax_mhz", "feasible", "violations"]].copy()
        out["floorplan"] = [d in self.planned for d in out.index]
        out["expressible"] = True
        c = self.clock_only
        if len(c.obs):
            ds = c.obs["design"].tolist()
            fmax = _timing_fmax(self.ev, c.inputs, ds, fit.constants)
            extra = pd.DataFrame({
                "clock_mhz": c.obs["published"].to_numpy(float),
                "fmax_mhz": fmax,
                "floorplan": [c.inputs[d][4] for d in ds],
                "expressible": False,
            }, index=ds)
            extra["feasible"] = extra["clock_mhz"] <= extra["fmax_mhz"] + 1e-6
            extra["violations"] = np.where(
                extra["feasible"], "",
                [f"clock_mhz for timing closure {a:.0f} > {b:.0f} available"
                 for a, b in zip(extra["clock_mhz"], extra["fmax_mhz"], strict=True)])
            out = pd.concat([out, extra])
        out.index.name = "design"
        return out.reset_index()

    # -- held-out
    def predict_rows(self, fit: Fit, designs: Sequence[str], split: str) -> pd.DataFrame:
        """resources.csv rows of ``designs`` under ``fit``."""
        obs = self.obs[self.obs["design"].isin(designs)]
        if obs.empty:
            return _empty_rows()
        p = self.ev.predict(fit.constants, subset=list(designs))
        # floorplanned builds on the floorplanned curve
        for fp in self._floorplanned(fit.constants, self.planned & set(designs)):
            p.frame.loc[fp.frame.index, "fmax_mhz"] = fp.frame["fmax_mhz"]
        pred = np.array([p.value(r.design, r.quantity, r.scope, r.timed)
                         for r in obs.itertuples()])
        out = obs[list(OBS_COLUMNS)].copy()
        out["predicted"] = pred
        out["error"] = relative_error(pred, out["published"].to_numpy(float), out["kind"].values)
        out["split"] = split
        return out

    def cross_validate(self, folds: int = 0) -> tuple[Fit, pd.DataFrame]:
        """Fit on every design (``split == "fit"`` rows), predict with the board files as
        given (``shipped``), and leave designs out (``folds`` = 0: one at a time; k: k folds in
        design order) for the ``held-out`` rows."""
        designs = self.designs["design"].tolist()
        full = self.fit(designs)
        rows = [self.predict_rows(full, designs, "fit"),
                # the board files' constants as given: what a run uses until a refit is
                # adopted (a constant the fit moves but the files keep stays as shipped)
                self.predict_rows(Fit({}, {}, {}), designs, "shipped")]
        k = len(designs) if folds <= 0 else min(folds, len(designs))
        for i in range(k):
            test = designs[i::k]
            train = [d for d in designs if d not in test]
            if not train:
                continue
            rows.append(self.predict_rows(self.fit(train), test, "held-out"))
        return full, pd.concat(rows, ignore_index=True)


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(columns=[*OBS_COLUMNS, "predicted", "error", "split"])


# ---------------------------------------------------------------------------- summaries
def held_out_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per quantity: n, held-out median |error| (percent) and the fit's, in FIT_QUANTITIES order.
    ``n`` counts the rows with a known error; a clock that met its request is a lower bound on
    fmax, and one the prediction meets is counted in ``lower_bounds_met`` instead. ``families``
    counts the design families of those rows (:func:`family`); ``interval_lo``/``_hi`` are the
    quantity's :func:`intervals` (NaN without one) and ``pooled`` says it is the pooled
    resources' floor because the quantity's own rows are too few or too alike."""
    out = []
    unc = intervals(rows)
    # a lower bound the prediction meets says nothing about the error: counted, not averaged
    met = (rows["kind"] == "lower") & (rows["predicted"] >= rows["published"])
    for q in FIT_QUANTITIES:
        h = rows[(rows["quantity"] == q) & (rows["split"] == "held-out")]
        f = rows[(rows["quantity"] == q) & (rows["split"] == "fit")]
        s = rows[(rows["quantity"] == q) & (rows["split"] == "shipped")]
        if h.empty and f.empty:
            continue
        bounds = int((h["kind"] == "lower").sum())
        bounds_met = int(met[h.index].sum())
        h, f, s = h[~met[h.index]], f[~met[f.index]], s[~met[s.index]]
        families = len({family(d) for d in h["design"]})
        lo, hi = unc.get(q, (math.nan, math.nan))
        out.append({
            "quantity": q,
            "n": len(h),
            "families": families,
            "interval_lo": lo,
            "interval_hi": hi,
            # the interval is the pooled resources' floor, not this quantity's own rows
            "pooled": bool(q in POOLED_QUANTITIES and q in unc
                           and (len(h) < 3 or families < MIN_FAMILIES)),
            "lower_bounds_met": f"{bounds_met} of {bounds}" if bounds else "",
            "held_out_median_abs_error_pct": _median_abs_pct(h),
            "fit_median_abs_error_pct": _median_abs_pct(f),
            "shipped_median_abs_error_pct": _median_abs_pct(s),
        })
    return pd.DataFrame(out)


def _median_abs_pct(rows: pd.DataFrame) -> float:
    """Median |error| of some rows in percent (NaN without rows)."""
    return float(np.median(np.abs(rows["error"]))) * 100 if len(rows) else math.nan


def family(design: str) -> str:
    """The design family of a build: the first word of its id (designs.yaml names entries
    family first: ``dpucahx8h-u280-peak``, ``vitis-blas-gemm-n256``, ``autosa-mm-fp32-...``).
    Builds of one family share their designers' choices, so they are not independent tests."""
    return str(design).split("-", 1)[0]


def _ratios(r: pd.DataFrame) -> tuple[np.ndarray, set[str]]:
    """Held-out ratios published / predicted of some rows (lower bounds the prediction meets
    left out) and the families they come from."""
    r = r[~((r["kind"] == "lower") & (r["predicted"] >= r["published"]))]
    ratio = (r["published"] / r["predicted"]).to_numpy(float)
    keep = np.isfinite(ratio) & (ratio > 0)
    return ratio[keep], {family(d) for d in r["design"].to_numpy()[keep]}


def intervals(rows: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per quantity, the relative interval (lo, hi) of the truth around a prediction: the
    :data:`INTERVAL` percentiles of the held-out ratio published / predicted, minus 1, widened to
    contain 0. A lower-bound row whose prediction is at or above the bound says nothing about
    the error and is left out.

    A resource count (:data:`POOLED_QUANTITIES`) whose rows come from fewer than
    :data:`MIN_FAMILIES` design families, or fewer than 3 rows, is not trusted alone: its
    interval is widened to contain the pooled interval of every resource's held-out ratios
    (when that pool itself spans enough families). One family predicted exactly (URAM: four
    DPUCAHX8H rows) says the description fits that family, not that it is exact."""
    out: dict[str, tuple[float, float]] = {}
    h = rows[rows["split"] == "held-out"]
    pool, pool_families = _ratios(h[h["quantity"].isin(POOLED_QUANTITIES)])
    pooled = None
    if len(pool) >= 3 and len(pool_families) >= MIN_FAMILIES:
        pooled = tuple(float(v) - 1.0 for v in np.quantile(pool, INTERVAL))
    for q in FIT_QUANTITIES:
        ratio, fams = _ratios(h[h["quantity"] == q])
        thin = len(ratio) < 3 or len(fams) < MIN_FAMILIES
        if len(ratio) < 3 and not (q in POOLED_QUANTITIES and pooled and len(ratio)):
            continue
        lo, hi = (np.quantile(ratio, INTERVAL) - 1.0) if len(ratio) >= 3 else (0.0, 0.0)
        if q in POOLED_QUANTITIES and thin and pooled:
            lo, hi = min(float(lo), pooled[0]), max(float(hi), pooled[1])
        out[q] = (min(float(lo), 0.0), max(float(hi), 0.0))
    return out


# ---------------------------------------------------------------------------- platform files
#: The quantity whose rows determine each family of non-linear constants.
_GRID_QUANTITY = {
    **{k: "fmax_mhz" for k in CLOCK_GRID},
    **{k: "fmax_mhz" for k in FLOORPLAN_GRID},
    **{k: "latency_ms" for k in LATENCY_GRID},
}


def determined(cal: Calibration, fit: Fit) -> dict[str, str]:
    """The constants the data determine -> the quantity they were fitted on: a linear constant
    that some row's feature column sees, a grid constant whose quantity has rows (for the
    floorplanned curve: some floorplanned build)."""
    out: dict[str, str] = {}
    for q, lf in cal.features.items():
        seen = np.abs(lf.X).sum(axis=0) > 0
        for k, s in zip(lf.keys, seen, strict=True):
            if s and k in fit.constants:
                out[k] = q
    planned = bool(cal.planned) or any(
        v[4] for d, v in cal.as_built.timing_inputs.items() if d in cal.clock_only.always
    )
    for k, q in _GRID_QUANTITY.items():
        if k in fit.constants and fit.rows.get(q):
            if k in FLOORPLAN_GRID and not planned:
                continue
            # with no SLL derate the knee moves nothing: the data say nothing of it
            if k == "timing.sll_knee" and fit.constants.get("timing.sll_derate", 1.0) == 0.0:
                continue
            out[k] = q
    return out


#: Every grid constant's grid (values tried).
_GRIDS = {**CLOCK_GRID, **FLOORPLAN_GRID, **LATENCY_GRID}


def grid_edge(key: str, value: float) -> str:
    """``lower`` or ``upper`` when a grid constant's fitted value is its grid's first or last
    value (the fit ran into the edge: a bound, not a measurement), else ``""``."""
    grid = _GRIDS.get(key)
    if grid is None or not len(grid):
        return ""
    if math.isclose(value, float(np.min(grid))):
        return "lower"
    if math.isclose(value, float(np.max(grid))):
        return "upper"
    return ""


def calibrated_platform(
    board: str,
    raw: Mapping[str, Any],
    cal: Calibration,
    fit: Fit,
    rows: pd.DataFrame,
    *,
    dataset: str,
) -> str:
    """A calibrated copy of one platform file: the determined constants with ``fit:`` comments
    (dataset, rows, training and held-out median |error| of their quantity) and the held-out
    intervals as ``uncertainty:``. A YAML file keeps its layout; a JSON one (an export's
    platform.json) becomes YAML."""
    import yaml

    from dse.fitfile import apply_fit

    table = held_out_table(rows).set_index("quantity")
    keys = determined(cal, fit)
    constants, comments = {}, {}
    for k, q in keys.items():
        if not has_key(raw, k):
            continue
        old = get_key(raw, k)
        constants[k] = fit.constants[k]
        held = table.at[q, "held_out_median_abs_error_pct"] if q in table.index else math.nan
        edge = grid_edge(k, float(fit.constants[k]))
        edge = f"; at the {edge} edge of its grid: a bound, not a measurement" if edge else ""
        comments[k] = (
            f"fit: {dataset}, {fit.rows.get(q, 0)} {q} rows, median |error| "
            f"{fit.residual.get(q, math.nan) * 100:.1f}% fitted, {held:.1f}% held out "
            f"(dse calibrate; was {old}{edge})"
        )
    unc = intervals(rows)
    note = (f"fit: held-out ratio published / predicted on {dataset}, "
            f"{INTERVAL[0]:.0%}..{INTERVAL[1]:.0%} percentiles, minus 1; a resource resting on "
            f"fewer than {MIN_FAMILIES} design families widened to every resource's pooled "
            "interval (dse calibrate)")
    text = Path(board).read_text(encoding="utf-8")
    if Path(board).suffix.lower() == ".json":
        data = copy.deepcopy(dict(raw))
        for k, v in constants.items():
            set_key(data, k, float(v))
        data["uncertainty"] = {q: {"lo": round(lo, 3), "hi": round(hi, 3)}
                               for q, (lo, hi) in unc.items()}
        return yaml.safe_dump(data, sort_keys=False)
    return apply_fit(text, constants, comments, unc, note)


def refit_reports(builds, *, out: Path | None = None, folds: int = 0,
                  dataset: str = "reports") -> str:
    """``dse calibrate --reports``: refit on the builds (a user's reports, with the published
    ones when given), write a calibrated copy of every board they use into ``out``
    (``<name>.calibrated.yaml``) and return the held-out error as text."""
    from dse.store import atomic_write_text

    cal = Calibration(builds.figures, builds.designs)
    if cal.designs.empty:
        return ("no refit: no build has a design.json (dse export) with figures the model "
                "predicts (give --designs configs/calibration/designs.yaml to add the published "
                "builds)")
    fit, rows = cal.cross_validate(folds)
    lines = [format_table(held_out_table(rows))]
    if out is not None:
        atomic_write_text(out / "resources.csv", rows_csv(rows))
        for board, raw in cal.ev.raws.items():
            if board not in set(cal.designs["board"].astype(str)):
                continue
            name = f"{raw['name']}.calibrated.yaml"
            atomic_write_text(out / name, calibrated_platform(board, raw, cal, fit, rows,
                                                              dataset=dataset))
            lines.append(f"wrote {out / name} (a calibrated copy of {board})")
        lines.append(f"wrote {out / 'resources.csv'}")
    else:
        lines.append("(give --out DIR to write the calibrated platform copies)")
    return "\n".join(lines)


#: Columns of resources.csv, in order.
RESOURCE_CSV_COLUMNS = ("design", "quantity", "published", "predicted", "error", "split", "kind",
                        "scope", "stage", "timed")


def rows_csv(rows: pd.DataFrame) -> str:
    """resources.csv: one row per (design, quantity, split)."""
    return rows[list(RESOURCE_CSV_COLUMNS)].to_csv(index=False, float_format="%.6g")


def format_table(table: pd.DataFrame) -> str:
    """The held-out table as Markdown (quantity, n, held-out, fitted and shipped median
    |error|)."""
    lines = ["| quantity | n (held out) | design families | held-out median abs error "
             "| fitted median abs error | shipped constants median abs error "
             "| met clocks (lower bounds on fmax) the prediction meets "
             "| 80% interval (held out) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        if math.isnan(r.interval_lo):
            band = "-"
        else:
            band = f"{r.interval_lo * 100:+.1f}% / {r.interval_hi * 100:+.1f}%"
            if r.pooled:
                band += " (every resource's, pooled: too few families of its own)"
        lines.append(f"| {r.quantity} | {r.n} | {r.families} "
                     f"| {r.held_out_median_abs_error_pct:.1f}% "
                     f"| {r.fit_median_abs_error_pct:.1f}% "
                     f"| {r.shipped_median_abs_error_pct:.1f}% | {r.lower_bounds_met or '-'} "
                     f"| {band} |")
    return "\n".join(lines)
