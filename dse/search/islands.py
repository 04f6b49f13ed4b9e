"""Search workers as islands: reproducible whatever the timing, resumable after any kill.

Each worker (``--worker W``) is an island: it samples in a private in-memory study that holds
only its own trials and the warm start (no migration between workers, so nothing depends on
when the other workers run), with a sampler re-seeded from ``(seed, W, batch)`` before every
batch. Its work is a fixed plan of batches (batch ``b`` has ``batch_size`` trials, the last one
what is left of ``trials_per_worker``).

The shared study (journal file or RDB) is the island's persistent record. Every sampled trial is
copied there with user attributes ``worker``, ``island`` (a hash of everything that fixes the
island's trials: the study's fingerprint, sampler and its options, seed, batch size, warm-start
designs), ``batch``, ``index`` and ``batch_size``. A batch counts once all its trials are in the
shared study; a batch cut by a kill is redone on the rerun (the redo samples exactly the same
trials, and copies already written are ignored: trials are keyed by ``(batch, index)``). A rerun
therefore rebuilds the island from the stored batches, in order, and continues where the plan
is not yet done: the same trials, values and ids as an uninterrupted run.

On an RDB (PostgreSQL) a batch is copied in one transaction, with a claim in the study that makes
a second copy impossible (:func:`~dse.search.storage.push_batch`): the study holds each complete
batch once and no cut batch, whichever hosts the workers run on.

Optuna's journal storage writes and fsyncs one log line per storage operation, which limits a
worker to ~35 ask/tell trials/s on a shared journal; copying finished trials (one write each) is
what keeps a worker at thousands of trials per second.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from dse.config import Config, config_hash
from dse.errors import UserError
from dse.search.evaluate import BatchResult, ask_tell
from dse.search.sampling import batch_seed, is_genetic, make_sampler
from dse.search.settings import SearchSettings
from dse.search.storage import (
    WorkerLock,
    batch_claim,
    open_storage,
    open_study,
    push_batch,
)
from dse.search.warm import warm_start, warm_start_params

#: User attributes of a sampled trial in the shared study (see the module docstring).
ATTR_WORKER, ATTR_ISLAND, ATTR_BATCH, ATTR_INDEX, ATTR_SIZE = (
    "worker", "island", "batch", "index", "batch_size")


def batch_sizes(trials: int, batch_size: int) -> list[int]:
    """The plan: sizes of the batches that make ``trials`` trials (all full but the last)."""
    full, rest = divmod(trials, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def island_tag(settings: SearchSettings, worker: int, warm: Sequence[Mapping[str, Any]]) -> str:
    """Hash of everything that fixes worker ``worker``'s trials (stored trials of another
    tag, e.g. made with another seed, are not this island's and are ignored)."""
    sampler_options = settings.tpe if settings.sampler == "tpe" else None
    return config_hash(settings.fingerprint, settings.sampler, sampler_options, settings.seed,
                       worker, settings.batch_size, list(warm))


def _keep_system_attr(key: str) -> bool:
    """System attributes a sampler reads back: constraints and GA generations."""
    return key.startswith("constraints") or key.endswith(":generation")


def _copy(trial: FrozenTrial, user_attrs: Mapping[str, Any], *,
          shared: bool = False) -> FrozenTrial:
    """A finished trial as a template for another study (sampler attributes kept).

    ``shared``: the copy for the shared study, whose constraints are stored as the list under
    the system attribute ``constraints``, where optuna-dashboard (0.21) reads them to mark
    infeasible trials; Optuna 5 reads that form too (as constraint ``"0"``), and its samplers
    only ever sum the positive constraint values, so an island replayed from these copies samples
    what it sampled with ``trial.set_constraint``'s named form (``constraints:<name>``).
    """
    system = {k: v for k, v in trial.system_attrs.items() if _keep_system_attr(k)}
    if shared:
        named = sorted(k for k in system if k.startswith("constraints:"))
        if named:
            system["constraints"] = [system.pop(k) for k in named]
    return optuna.trial.create_trial(
        state=trial.state, values=trial.values, params=trial.params,
        distributions=trial.distributions, user_attrs=dict(user_attrs), system_attrs=system)


def stored_batches(trials: Iterable[FrozenTrial], *, worker: int,
                   island: str) -> dict[tuple[int, int], list[FrozenTrial]]:
    """The complete batches of one island in the shared study: (batch, size) -> trials by index.

    A batch is complete when every index ``0 .. size - 1`` is present; of several copies of one
    ``(batch, size, index)`` (a batch redone after a kill, or a second process) the first
    written counts. The size is part of the key: a last batch of a shorter plan is not a batch
    of a longer one.
    """
    slots: dict[tuple[int, int], dict[int, FrozenTrial]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        a = t.user_attrs
        if a.get(ATTR_WORKER) != worker or a.get(ATTR_ISLAND) != island:
            continue
        key = (int(a[ATTR_BATCH]), int(a[ATTR_SIZE]))
        slots.setdefault(key, {}).setdefault(int(a[ATTR_INDEX]), t)
    return {k: [s[i] for i in range(k[1])] for k, s in slots.items() if len(s) == k[1]}


class Island:
    """One worker's private study (in memory), re-seeded per batch.

    Args:
        settings: the search settings.
        worker: the worker index.
        directions: Optuna directions of the objectives.
    """

    def __init__(self, settings: SearchSettings, worker: int, directions: Sequence[str]) -> None:
        self.settings, self.worker = settings, worker
        self.storage = optuna.storages.InMemoryStorage()
        self.name = f"island-{worker}"
        optuna.create_study(storage=self.storage, study_name=self.name,
                            directions=list(directions))

    def study(self, batch: int) -> optuna.Study:
        """The island's study with the sampler of ``batch`` (-1: the warm start)."""
        s = self.settings
        sampler = make_sampler(s.sampler, seed=batch_seed(s.seed, self.worker, batch),
                               batch_size=s.batch_size, tpe=s.tpe,
                               search_space=s.space.distributions)
        return optuna.load_study(study_name=self.name, storage=self.storage, sampler=sampler)

    def replay(self, batch: int, trials: Sequence[FrozenTrial]) -> None:
        """Add stored batch ``batch`` as the island made it (sampler attributes, no user ones).

        A genetic sampler caches the parents of a generation when it samples that
        generation's first trial, and the cached list comes back in another order than a fresh
        selection (trial order rather than rank order). Its crossover picks parents by
        position, so the replay fills the cache at the same moment an uninterrupted run did:
        before the batch's trials are added, for the generation they carry.
        """
        study = self.study(batch)
        sampler = study.sampler
        if is_genetic(sampler) and trials and _has_generation(trials[0]):
            sampler.get_parent_population(study, sampler.get_trial_generation(study, trials[0]))
        study.add_trials([_copy(t, {}) for t in trials])


def _has_generation(trial: FrozenTrial) -> bool:
    return any(k.endswith(":generation") for k in trial.system_attrs)


@dataclass
class WorkerReport:
    """What one worker run did; ``trials`` are its sampled trials in the shared study, in plan
    order (what ``export_frame`` exports)."""

    worker: int
    study_name: str
    storage: str
    trials_before: int
    trials_added: int
    warm_started: int
    study_trials: int
    seconds: float
    seconds_model: float
    trials: list[FrozenTrial] = field(default_factory=list, repr=False)

    @property
    def trials_per_s(self) -> float:
        return self.trials_added / self.seconds if self.seconds > 0 else float("nan")


def run_worker(cfg: Config, settings: SearchSettings, *, worker: int, trials: int | None = None,
               warm_front: pd.DataFrame | None = None,
               storage: optuna.storages.BaseStorage | None = None,
               log: Callable[[str], None] = print) -> WorkerReport:
    """Run (or resume) worker ``worker``'s island until its plan of batches is in the study.

    Args:
        cfg: the loaded config (platform, model, objectives).
        settings: the validated search settings.
        worker: worker index.
        trials: sampled trials of this worker (default ``trials_per_worker``).
        warm_front: the sweep's front: every island's generation 0 (None: no warm start).
        storage: an opened storage (tests); by default ``settings.storage`` is opened and, for a
            journal file, held for this worker alone (:class:`WorkerLock`).
        log: progress lines.
    """
    if worker < 0:
        raise UserError("must be >= 0", key="--worker", value=worker, allowed="0, 1, 2, ...")
    target = settings.trials_per_worker if trials is None else trials
    if target < 1:
        raise UserError("must be positive", key="--trials", value=target, allowed="an integer >= 1")
    t_start = time.perf_counter()
    objectives = cfg.objectives
    model = cfg.model()  # with the mapper: the search ranges over hardware
    lock: WorkerLock | contextlib.nullcontext[None] = contextlib.nullcontext()
    if storage is None:
        storage = open_storage(settings.storage, key=settings.storage_key)
        lock = WorkerLock(settings, worker)
    shared = open_study(settings, objectives, storage=storage)
    study_id = storage.get_study_id_from_name(shared.study_name)
    warm = warm_start_params(settings.space, warm_front) if warm_front is not None else []
    tag = island_tag(settings, worker, warm)
    island = Island(settings, worker, [d.name.lower() for d in shared.directions])
    model_s = 0.0
    if warm:
        res = warm_start(island.study(-1), settings.space, model, objectives, warm)
        model_s += res.seconds_model
        log(f"warm start: {len(warm)} designs of the sweep front as generation 0 "
            f"({len(warm_front) - len(warm)} outside the search space or repeated)")
    with lock:
        done = stored_batches(
            storage.get_all_trials(study_id, deepcopy=False,
                                   states=(TrialState.COMPLETE, TrialState.FAIL)),
            worker=worker, island=tag)
        kept: list[FrozenTrial] = []
        before = added = 0
        for b, n in enumerate(batch_sizes(target, settings.batch_size)):
            if (b, n) in done:
                island.replay(b, done[b, n])
                kept += done[b, n]
                before += n
                continue
            res = ask_tell(island.study(b), settings.space, model, objectives, n)
            model_s += res.seconds_model
            kept += _push(storage, study_id, res, worker=worker, island=tag, batch=b,
                          source=settings.source)
            added += n
    seconds = time.perf_counter() - t_start
    total = len(storage.get_all_trials(study_id, deepcopy=False))
    return WorkerReport(worker, settings.study_name, settings.storage_shown, before, added,
                        len(warm), total, seconds, model_s, kept)


def _push(storage: optuna.storages.BaseStorage, study_id: int, res: BatchResult, *,
          worker: int, island: str, batch: int, source: str) -> list[FrozenTrial]:
    """Copy one batch into the shared study (:func:`push_batch`); return the copies."""
    out = []
    n = len(res.trials)
    for i, t in enumerate(res.trials):
        attrs = {ATTR_WORKER: worker, "source": source, ATTR_ISLAND: island, ATTR_BATCH: batch,
                 ATTR_INDEX: i, ATTR_SIZE: n}
        out.append(_copy(t, attrs, shared=True))
    push_batch(storage, study_id, out,
               claim=batch_claim(worker=worker, island=island, batch=batch, size=n))
    return out
