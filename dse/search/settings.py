"""The validated ``search:`` section (schema ``workflow/schemas/search.schema.yaml`` plus the
semantic checks here) and the storage URL rules (which dialects, passwords never shown)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dse import MODEL_VERSION
from dse.config import Config, config_hash, validate
from dse.errors import UserError
from dse.search.space import SearchSpace
from dse.secrets import mask_url  # every URL form (user part, raw @, ?password=)

SAMPLERS = ("tpe", "nsgaii", "random")

#: Journal file of the study when ``search.storage`` is not set (relative to the working folder).
DEFAULT_STORAGE = "results/search/study.journal"

#: Defaults of the ``search:`` section (the schema documents them too).
DEFAULTS: dict[str, Any] = {
    "sampler": "nsgaii",
    "workers": 2,
    "trials_per_worker": 2500,
    "batch_size": 100,
    "seed": 0,
    "storage": DEFAULT_STORAGE,
    "study_name": None,
    "warm_start": True,
}

#: Defaults of ``search.refine`` (local refinement after the search, dse/refine.py).
REFINE_DEFAULTS: dict[str, Any] = {
    "max_evaluations": 200_000,
    "walk_caps": [0.60, 0.95],
    "walk_starts": 1,
    "roi_evaluations": 0,
    "roi_latency_factor": 2.0,
}

#: Study user attribute: the fingerprint of the config the study was made for.
ATTR_FINGERPRINT = "dse_fingerprint"

#: RDB dialects a study may live in (besides a journal file path); sqlite only with one worker.
DIALECTS = ("postgresql", "sqlite")

#: TPE options (see :func:`make_sampler`); ``search.tpe`` overrides them.
TPE_DEFAULTS: dict[str, Any] = {
    "n_startup_trials": 100,
    "multivariate": True,
    "constant_liar": True,
    "n_ei_candidates": 24,
}


def is_url(storage: str) -> bool:
    """An RDB URL (``dialect[+driver]://...``) rather than a journal file path."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", storage) is not None


def check_storage(storage: str, workers: int, *, file: str | None = None,
                  key: str = "search.storage") -> None:
    """A journal file path, a PostgreSQL URL, or an SQLite URL with one worker; else a UserError.

    SQLite locks the whole file per write, so parallel workers fail with "database is locked";
    other RDB dialects are not tested here and are refused rather than half-supported.
    """
    if not is_url(storage):
        return
    dialect = storage.split("://", 1)[0].split("+", 1)[0].lower()
    allowed = ("a journal file path (e.g. results/search/study.journal), "
               "postgresql://user:password@host/db, or sqlite:///file.db with workers: 1")
    if dialect not in DIALECTS:
        raise UserError(f"unsupported storage dialect {dialect!r}", file=file, key=key,
                        value=mask_url(storage), allowed=allowed)
    if dialect == "sqlite" and workers > 1:
        raise UserError(f"SQLite does not take parallel writers (workers = {workers})",
                        file=file, key=key, value=mask_url(storage), allowed=allowed)


@dataclass(frozen=True)
class SearchSettings:
    """The validated ``search:`` section.

    Attributes:
        sampler: ``tpe``, ``nsgaii`` or ``random``.
        workers: parallel workers on one study (Snakemake jobs).
        trials_per_worker: sampled trials each worker adds (warm-start trials come on top).
        batch_size: trials asked and evaluated together (one ``Model.evaluate`` call).
        seed: base seed; worker ``W`` samples with ``seed + W``.
        storage: journal file path or RDB URL (may hold a password: print :attr:`storage_shown`).
        study_name: the study's name (``dse-<fingerprint>`` unless configured).
        warm_start: every worker starts from the sweep's front (generation 0).
        tpe: TPE options (:data:`TPE_DEFAULTS` overridden by ``search.tpe``).
        refine_max_evaluations: model evaluations the local refinement may spend.
        refine_walk_caps: utilization caps of the greedy latency walks that end the refinement.
        refine_walk_starts: walks per cap, from the fastest designs of as many CU counts.
        refine_roi_evaluations: budget of the region-of-interest refinement (0: none).
        refine_roi_latency_factor: the region's latency bound, x select.latency_budget_ms.
        space: the large space.
        fingerprint: hash of everything that determines a trial's values (platform, model,
            objectives, space, model version).
        file: the config file (for messages).
        storage_key: where the storage was given (``search.storage`` or ``--storage``).
    """

    sampler: str
    workers: int
    trials_per_worker: int
    batch_size: int
    seed: int
    storage: str
    study_name: str
    warm_start: bool
    tpe: dict[str, Any]
    refine_max_evaluations: int
    refine_walk_caps: tuple[float, ...]
    refine_walk_starts: int
    refine_roi_evaluations: int
    refine_roi_latency_factor: float
    space: SearchSpace = field(repr=False)
    fingerprint: str
    file: str
    storage_key: str = "search.storage"

    @property
    def storage_shown(self) -> str:
        """The storage with its password masked (safe for logs and messages)."""
        return mask_url(self.storage)

    @property
    def source(self) -> str:
        """``source`` column of sampled trials (``search:<sampler>``)."""
        return f"search:{self.sampler}"


def _prefixed(exc: UserError, prefix: str) -> UserError:
    """The same one-line error with its key under ``prefix`` (``sampler`` -> ``search.sampler``)."""
    key = prefix if exc.key in (None, "(top level)") else f"{prefix}.{exc.key}"
    text = str(exc)
    where = ": ".join(x for x in (exc.file, f"key '{exc.key}'" if exc.key else None) if x)
    message = text[len(where) + 2:] if where and text.startswith(where) else text
    if exc.allowed:
        message = message.removesuffix(f"; allowed: {exc.allowed}")
    if exc.value is not None:
        message = message.removesuffix(f" (got {exc.value!r})")
    return UserError(message, file=exc.file, key=key, value=exc.value, allowed=exc.allowed)


#: How trials store a design (Optuna parameter names and distributions, dse.search.space): 2 =
#: every parameter under its design name, powers of two as categorical values (1 = ``log2_<name>``
#: exponents). Part of the fingerprint: a study never mixes two formats.
TRIAL_FORMAT = 2


def fingerprint(cfg: Config, space: Mapping[str, Any]) -> str:
    """Hash of what fixes a trial's objective values and its stored parameters: a study must not
    mix two of them (the clock policy included: it sets every design's clock)."""
    return config_hash(cfg.platform_raw, cfg.model_raw, cfg.objectives, space, MODEL_VERSION,
                       TRIAL_FORMAT, cfg.clock.describe())


def settings_from_config(cfg: Config, **overrides: Any) -> SearchSettings:
    """Validate ``search:`` of a loaded config and apply command-line overrides (None = keep).

    Raises:
        UserError: naming ``search.<key>``, the bad value and what is allowed.
    """
    raw = cfg.raw.get("search")
    file = str(cfg.path)
    if raw is None:
        raise UserError("missing key: the config has no search section", file=file, key="search",
                        allowed="a mapping with at least space: (see configs/config.yaml)")
    try:
        validate(raw, "search", file)
    except UserError as exc:
        raise _prefixed(exc, "search") from None
    _check_overrides(overrides)
    s = {**DEFAULTS, **raw, **{k: v for k, v in overrides.items() if v is not None}}
    space = SearchSpace(raw["space"], max_channels=cfg.platform.memory.channels, file=file)
    fp = fingerprint(cfg, raw["space"])
    refine = {**REFINE_DEFAULTS, **raw.get("refine", {})}
    storage = str(s["storage"])
    check_storage(storage, int(s["workers"]), file=file,
                  key="--storage" if overrides.get("storage") is not None else "search.storage")
    return SearchSettings(
        sampler=s["sampler"], workers=int(s["workers"]),
        trials_per_worker=int(s["trials_per_worker"]), batch_size=int(s["batch_size"]),
        seed=int(s["seed"]), storage=storage,
        study_name=s["study_name"] or f"dse-{fp}", warm_start=bool(s["warm_start"]),
        tpe={**TPE_DEFAULTS, **raw.get("tpe", {})},
        refine_max_evaluations=int(refine["max_evaluations"]),
        refine_walk_caps=tuple(float(c) for c in refine["walk_caps"]),
        refine_walk_starts=int(refine["walk_starts"]),
        refine_roi_evaluations=int(refine["roi_evaluations"]),
        refine_roi_latency_factor=float(refine["roi_latency_factor"]),
        space=space, fingerprint=fp, file=file,
        storage_key="--storage" if overrides.get("storage") is not None else "search.storage")


def _check_overrides(overrides: Mapping[str, Any]) -> None:
    """Command-line values get the checks the schema gives config values."""
    sampler = overrides.get("sampler")
    if sampler is not None and sampler not in SAMPLERS:
        raise UserError("unknown sampler", key="--sampler", value=sampler,
                        allowed=", ".join(SAMPLERS))
    for key in ("storage", "study_name"):
        v = overrides.get(key)
        if v is not None and not str(v).strip():
            raise UserError("must not be empty", key=f"--{key.replace('_', '-')}", value=v)


