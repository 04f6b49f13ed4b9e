"""Optuna multi-objective search over the large design space (DESIGN.md ``search``).

The modules, in the order a search worker uses them:

- :mod:`~dse.search.space`: the large space of ``search.space`` (:class:`SearchSpace`).
- :mod:`~dse.search.settings`: the validated ``search:`` section (:class:`SearchSettings`) and
  which storage URLs are supported.
- :mod:`~dse.search.storage`: opening the journal file / RDB and the shared study; one process
  per worker index (:class:`WorkerLock`).
- :mod:`~dse.search.sampling`: TPE / NSGA-II / random, seeded per (seed, worker, batch).
- :mod:`~dse.search.evaluate`: a batch of trials -> one ``Model.evaluate`` call -> constraints
  and ``study.tell``.
- :mod:`~dse.search.warm`: the sweep's front as generation 0 of every island.
- :mod:`~dse.search.islands`: one worker = one reproducible, resumable island
  (:func:`run_worker`).
- :mod:`~dse.search.export`: a worker's trials -> the result table.
"""

from __future__ import annotations

from dse.search.evaluate import (
    CONSTRAINT,
    BatchResult,
    ask_tell,
    constraint_values,
    objective_values,
    optimize,
)
from dse.search.export import design_ids, export_frame, sample_numbers
from dse.search.islands import (
    Island,
    WorkerReport,
    batch_sizes,
    island_tag,
    run_worker,
    stored_batches,
)
from dse.search.sampling import batch_seed, is_genetic, make_sampler
from dse.search.settings import (
    ATTR_FINGERPRINT,
    DEFAULT_STORAGE,
    DEFAULTS,
    DIALECTS,
    REFINE_DEFAULTS,
    SAMPLERS,
    TPE_DEFAULTS,
    SearchSettings,
    check_storage,
    fingerprint,
    is_url,
    mask_url,
    settings_from_config,
)
from dse.search.space import TILE_PE, Dim, SearchSpace, repair_tiles
from dse.search.storage import WorkerLock, open_storage, open_study
from dse.search.warm import assign_generations, warm_start, warm_start_params

__all__ = [
    "ATTR_FINGERPRINT", "CONSTRAINT", "DEFAULTS", "DEFAULT_STORAGE", "DIALECTS",
    "REFINE_DEFAULTS", "SAMPLERS", "TILE_PE", "TPE_DEFAULTS", "BatchResult", "Dim", "Island",
    "SearchSettings", "SearchSpace", "WorkerLock", "WorkerReport", "ask_tell",
    "assign_generations", "batch_seed", "batch_sizes", "check_storage", "constraint_values",
    "design_ids", "export_frame", "fingerprint", "is_genetic", "is_url", "island_tag",
    "make_sampler", "mask_url", "objective_values", "open_storage", "open_study", "optimize",
    "repair_tiles", "run_worker", "sample_numbers", "settings_from_config", "stored_batches",
    "warm_start", "warm_start_params",
]
