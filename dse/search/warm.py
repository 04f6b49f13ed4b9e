"""Warm start: the sweep's front becomes the first population of every worker's island.

The front's designs are enqueued with every parameter fixed. Optuna then never calls the
sampler's relative sampling for them, so a genetic sampler (NSGA-II) would not give them a
generation and they would never enter a population (the defect of issue 8). Here, once the
warm-start trials are asked and before they are told, the sampler's public
``BaseGASampler.get_trial_generation`` assigns each its generation: no trial is complete yet, so
all get generation 0. NSGA-II then selects the parents of generation 1 from them (with the
random designs of the first batch when the front has fewer designs than the population).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from dse.errors import UserError
from dse.model import Model
from dse.params import PARAMS
from dse.search.evaluate import BatchResult, ask_tell
from dse.search.sampling import is_genetic
from dse.search.space import SearchSpace, hardware_only


def warm_start_params(space: SearchSpace, front: pd.DataFrame) -> list[dict[str, Any]]:
    """The sweep front's designs as Optuna parameters of ``space``.

    The rows' mapping (the mapper's choice) is not part of the design. Designs outside the
    space are dropped, duplicates kept once, and the list is sorted (by its
    JSON text), so the warm start does not depend on the front file's row order.
    """
    from dse.results import batch_from_frame

    if front.empty:
        return []
    missing = [p.name for p in PARAMS if p.name not in front.columns]
    if missing:
        raise UserError("the warm-start front lacks a design parameter column", key="--warm-start",
                        value=missing[0], allowed="a front written by dse pareto for this config")
    encoded = space.encode(hardware_only(batch_from_frame(front)))
    unique = {json.dumps(p, sort_keys=True): p for p in encoded if p is not None}
    return [unique[k] for k in sorted(unique)]


def assign_generations(study: optuna.Study) -> None:
    """Give every RUNNING trial of ``study`` its generation from the study's genetic sampler.

    Only public API: ``get_trial_generation`` computes the generation from the completed trials
    and stores it in the trial's system attributes, the attribute NSGA-II's population and
    parent selection read.
    """
    sampler = study.sampler
    if not is_genetic(sampler):
        return
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        sampler.get_trial_generation(study, trial)


def warm_start(study: optuna.Study, space: SearchSpace, model: Model,
               objectives: Sequence[tuple[str, str]],
               params: Sequence[dict[str, Any]]) -> BatchResult:
    """Evaluate the warm-start designs in ``study`` (one model call) as its first population.

    ``study`` must hold no trial yet: with a genetic sampler all these trials are generation 0.
    """
    for p in params:
        study.enqueue_trial(p)
    return ask_tell(study, space, model, objectives, len(params), before_tell=assign_generations)
