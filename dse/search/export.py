"""A worker's trials -> the result table (the sweep's columns plus ``trial_number``, ``source``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from optuna.trial import FrozenTrial

from dse.model import Model
from dse.results import results_frame
from dse.search.islands import ATTR_BATCH, ATTR_INDEX, ATTR_WORKER
from dse.search.space import SearchSpace


def sample_numbers(trials: Sequence[FrozenTrial], batch_size: int | None) -> np.ndarray:
    """Each trial's number in its worker's own sequence (``batch * batch_size + index``), or
    its study number for trials that carry no batch (a plain study)."""
    return np.array([t.user_attrs[ATTR_BATCH] * batch_size + t.user_attrs[ATTR_INDEX]
                     if batch_size is not None and ATTR_BATCH in t.user_attrs else t.number
                     for t in trials], dtype=np.int64)


def design_ids(trials: Sequence[FrozenTrial], numbers: np.ndarray) -> list[str]:
    """``s<worker>-<number, 9 digits>`` (``s-<number>`` without a worker): independent of the
    order in which workers wrote to the shared study."""
    return [f"s{t.user_attrs[ATTR_WORKER]}-{n:09d}" if ATTR_WORKER in t.user_attrs
            else f"s-{n:09d}" for t, n in zip(trials, numbers.tolist(), strict=True)]


def export_frame(model: Model, space: SearchSpace, trials: Sequence[FrozenTrial], *,
                 batch_size: int | None = None) -> pd.DataFrame:
    """Trials -> the result table plus ``trial_number`` and ``source``.

    The designs are re-evaluated (one model call), so the figures are exactly the sweep's.
    ``trial_number`` is the trial's number in its worker's sequence when ``batch_size`` is
    given (see :func:`sample_numbers`): the same in every run of the same config.
    """
    numbers = sample_numbers(trials, batch_size)
    batch = space.decode([t.params for t in trials])
    result = model.evaluate(batch)
    frame = results_frame(model, batch, result, design_ids(trials, numbers))
    frame["trial_number"] = numbers
    frame["source"] = pd.array([str(t.user_attrs.get("source", "search")) for t in trials],
                               dtype="string")
    return frame
