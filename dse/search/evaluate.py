"""Evaluating trials: a batch of Optuna trials -> one vectorised ``Model.evaluate`` call ->
objective values, a graded constraint and ``study.tell`` for each."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from dse.channels import channels_used, ports_used
from dse.errors import UserError
from dse.model import Model
from dse.platform import Platform
from dse.search.space import SearchSpace

#: Name of the Optuna constraint: > 0 when the design is infeasible (relative excess).
CONSTRAINT = "violation"

def objective_values(columns: Mapping[str, np.ndarray],
                     objectives: Sequence[tuple[str, str]]) -> np.ndarray:
    """(n, k) objective values (raw, not negated) from model columns."""
    missing = [name for name, _ in objectives if name not in columns]
    if missing:
        raise UserError("objective is not a model output", key="objectives", value=missing[0],
                        allowed=", ".join(sorted(k for k in columns if not k.startswith("_"))))
    return np.stack([np.asarray(columns[name], dtype=np.float64) for name, _ in objectives], axis=1)


def constraint_values(columns: Mapping[str, np.ndarray],
                      batch: Mapping[str, np.ndarray] | None = None,
                      platform: Platform | None = None) -> np.ndarray:
    """Optuna constraint per design: 0 when feasible, else how far it is from feasible (> 0).

    With the batch and the platform the distance is graded: the sum of the relative excesses
    ``used / limit - 1`` of every limit the model checks (kernel clock, double-pumped DSP clock,
    HBM pseudo-channels, AXI ports, device resources, SLLs per SLR boundary, the achievable
    clock fmax_mhz), so a sampler is led towards feasible
    designs even when one design breaks several limits. The model's own first violation
    (e.g. one SLR's BRAM) is the floor. The value is at least 1e-6 for an infeasible design and
    exactly 0 for a feasible one, so Optuna's feasibility is the model's.
    """
    feasible = np.asarray(columns["feasible"], dtype=bool)
    used = np.asarray(columns["violation_used"], dtype=np.float64)
    limit = np.asarray(columns["violation_limit"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(limit > 0, used / limit - 1.0, used + 1.0)
    excess = np.where(np.isfinite(excess), excess, 1.0)
    if batch is not None and platform is not None:
        excess = np.maximum(excess, _graded_excess(columns, batch, platform))
    return np.where(feasible, 0.0, np.maximum(excess, 1e-6))


def _graded_excess(columns: Mapping[str, np.ndarray], batch: Mapping[str, np.ndarray],
                   platform: Platform) -> np.ndarray:
    """Sum of the relative excesses over the limits the model checks (0 where none is broken)."""
    clock = np.asarray(columns["clock_mhz"], dtype=np.float64)  # the clock the design got
    pump = np.asarray(batch["double_pump"], dtype=bool)
    w, i, o, cu = (batch[k] for k in ("pc_weights", "pc_inputs", "pc_outputs", "compute_units"))
    share = np.asarray(batch["share_weights"], dtype=bool)
    ss = batch.get("share_streams", False)
    mem = platform.memory
    ratios = [
        clock / platform.max_kernel_mhz,
        np.where(pump, 2.0 * clock / platform.dsp_max_mhz, 0.0),
        channels_used(w, i, o, cu, share, ss) / mem.usable_channels,
        ports_used(w, i, o, cu, share, ss) / mem.max_ports,
        np.asarray(columns["utilization"], dtype=np.float64),
        clock / np.asarray(columns["fmax_mhz"], dtype=np.float64),
        np.asarray(columns["slls"], dtype=np.float64) / platform.timing.sll_limit,
    ]
    total = sum(np.maximum(np.asarray(r, dtype=np.float64) - 1.0, 0.0) for r in ratios)
    return np.where(np.isfinite(total), total, 1.0)


@dataclass
class BatchResult:
    """One evaluated batch: the told trials and what the model said about them."""

    trials: list[FrozenTrial]
    values: np.ndarray      # (n, k) raw objective values
    feasible: np.ndarray    # (n,) bool
    seconds_model: float


def ask_tell(study: optuna.Study, space: SearchSpace, model: Model,
             objectives: Sequence[tuple[str, str]], n: int, *,
             before_tell: Callable[[optuna.Study], None] | None = None) -> BatchResult:
    """Ask ``n`` trials, evaluate them in one model call, set constraints, tell each.

    Designs whose objectives are not finite are told as FAIL. ``before_tell(study)`` runs once
    the ``n`` trials are asked (RUNNING), before any is told.
    """
    trials = [study.ask(space.distributions) for _ in range(n)]
    if before_tell is not None:
        before_tell(study)
    batch = space.decode([t.params for t in trials])
    t0 = time.perf_counter()
    result = model.evaluate(batch)
    seconds = time.perf_counter() - t0
    values = objective_values(result.columns, objectives)
    cons = constraint_values(result.columns, batch, model.platform)
    finite = np.isfinite(values).all(axis=1)
    told = []
    for trial, v, c, ok in zip(trials, values.tolist(), cons.tolist(), finite.tolist(),
                                  strict=True):
        if ok:
            trial.set_constraint(CONSTRAINT, c)
            told.append(study.tell(trial, v))
        else:
            told.append(study.tell(trial, state=TrialState.FAIL))
    feasible = np.asarray(result.columns["feasible"], dtype=bool) & finite
    return BatchResult(told, values, feasible, seconds)


def optimize(study: optuna.Study, space: SearchSpace, model: Model,
             objectives: Sequence[tuple[str, str]], n_trials: int, *, batch_size: int,
             after_batch: Callable[[BatchResult], None] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Run ``n_trials`` trials in batches on ``study`` (any storage).

    Returns:
        ``(values, feasible)`` of every evaluated trial in order: (n, k) raw objectives, (n,) bool.
    """
    vals, feas = [], []
    done = 0
    while done < n_trials:
        res = ask_tell(study, space, model, objectives, min(batch_size, n_trials - done))
        vals.append(res.values)
        feas.append(res.feasible)
        done += len(res.trials)
        if after_batch is not None:
            after_batch(res)
    k = len(objectives)
    return (np.concatenate(vals) if vals else np.empty((0, k)),
            np.concatenate(feas) if feas else np.empty(0, bool))

