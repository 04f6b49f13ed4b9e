"""Optuna multi-objective search over the large design space (DESIGN.md ``search``).

The pieces, in the order a search worker uses them:

1. :class:`SearchSpace`: the large space declared in ``search.space`` (one entry per design
   parameter of :data:`dse.params.PARAMS`): a list of values (Optuna categorical), an integer
   range ``{low, high[, step | log]}`` (Optuna int) or ``{powers_of_two: [lo, hi]}`` (Optuna int
   on the exponent, parameter ``log2_<name>``). Tiles are *suggested and repaired*: ``tile_m`` is
   drawn from its own range, independently of ``pe_m``, and the design uses the smallest multiple
   of ``pe_m`` that is at least the drawn value (``ceil(tile / pe) * pe``). The sampler therefore
   learns absolute tile sizes (what matters against the matrix shapes), the sweep's designs are
   representable as they are (warm start), and the mapping trial -> design is deterministic.
   Several trials may map to one design; :attr:`SearchSpace.size` counts distinct designs.
2. :class:`SearchSettings`: the validated ``search:`` section (schema
   ``workflow/schemas/search.schema.yaml`` plus the semantic checks here).
3. :func:`make_sampler`, :func:`open_storage`: TPE / NSGA-II / random with seed + worker;
   a journal file (path) or an RDB URL; passwords are masked in every message.
4. :func:`optimize`: ask a batch of trials, decode them into ONE batch of arrays, ONE
   ``Model.evaluate`` call, ``trial.set_constraint("violation", v)`` (> 0 = infeasible) and
   ``study.tell`` for each.
5. :func:`run_worker`: one worker of a shared, resumable study. Optuna's journal storage writes
   and fsyncs one log line per storage operation (~25 per trial: create, 20 parameters,
   constraint, values), which limits a worker to ~35 trials/s. A worker therefore samples in a
   private in-memory study (same sampler, same ask/tell) that mirrors the shared study: after
   every batch it copies its finished trials into the shared study (one storage write each, with
   user attributes ``worker`` and ``source``) and pulls the trials other workers added since.
   A stopped worker loses at most its batch in flight and never leaves a RUNNING trial behind;
   a rerun rebuilds the mirror from the shared study and continues until this worker has its
   requested number of trials.
6. :func:`export_frame`: a worker's trials -> the sweep's result columns plus ``trial_number``
   and ``source``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from dse import MODEL_VERSION
from dse.channels import channels_used, ports_used
from dse.config import Config, config_hash, validate
from dse.errors import UserError
from dse.model import Model
from dse.params import PARAMS, UNIFORM_DEFAULTS, Param
from dse.platform import Platform
from dse.results import results_frame
from dse.space import design_id, encode_value

#: Samplers a config may name.
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

#: TPE options (see :func:`make_sampler`); ``search.tpe`` overrides them.
TPE_DEFAULTS: dict[str, Any] = {
    "n_startup_trials": 100,
    "multivariate": True,
    "constant_liar": True,
    "n_ei_candidates": 24,
}

#: Name of the Optuna constraint: > 0 when the design is infeasible (relative excess).
CONSTRAINT = "violation"

#: ``source`` of the sweep-front designs a study is warm-started with.
SOURCE_WARM = "search:warm-start"

#: Study user attributes.
ATTR_FINGERPRINT = "dse_fingerprint"
ATTR_WARM = "dse_warm_started"

#: Tile parameter -> the PE parameter it must be a multiple of.
TILE_PE = {"tile_m": "pe_m", "tile_n": "pe_n", "tile_k": "pe_k"}


# ------------------------------------------------------------------------------- the space
@dataclass(frozen=True)
class Dim:
    """How one design parameter is searched.

    Attributes:
        param: the design parameter.
        optuna_name: the Optuna parameter name (``log2_<name>`` for powers of two).
        distribution: the Optuna distribution of ``optuna_name`` (None when fixed).
        codes: (n_choices,) design code of each categorical choice (lists only).
        values: every value the parameter can take (design codes, ascending).
        form: ``list``, ``range``, ``pow2`` or ``fixed`` (one value: not given to Optuna).
    """

    param: Param
    optuna_name: str
    distribution: BaseDistribution | None
    codes: np.ndarray
    values: np.ndarray
    form: str

    @property
    def searched(self) -> bool:
        """False for a parameter with one value (fixed: not an Optuna parameter at all)."""
        return self.form != "fixed"

    def decode(self, internal: np.ndarray) -> np.ndarray:
        """Optuna internal representations (index / integer / exponent) -> design codes."""
        x = np.asarray(internal, dtype=np.float64)
        if self.form == "fixed":
            return np.full(x.shape, self.values[0], dtype=np.int64)
        if self.form == "list":
            return self.codes[x.astype(np.int64)]
        if self.form == "pow2":
            return np.left_shift(1, x.astype(np.int64))
        return x.astype(np.int64)

    def encode(self, code: int) -> Any | None:
        """A design code -> the Optuna parameter value, or None when the space lacks it."""
        if self.form == "fixed":
            return code if code == self.values[0] else None
        if self.form == "list":
            hit = np.flatnonzero(self.codes == code)
            return self.distribution.choices[int(hit[0])] if hit.size else None
        if code not in self.values:
            return None
        return int(code).bit_length() - 1 if self.form == "pow2" else int(code)


def _list_dim(p: Param, values: Sequence[Any], *, file: str, key: str) -> Dim:
    codes = np.array([encode_value(p, v, file=file, key=f"{key}[{j}]")
                      for j, v in enumerate(values)], dtype=np.int64)
    if len(codes) == 1:
        return Dim(p, p.name, None, codes, codes, "fixed")
    if p.kind == "cat":
        choices = tuple(p.choices[c] for c in codes)
    elif p.kind == "bool":
        choices = tuple(bool(c) for c in codes)
    else:
        choices = tuple(int(c) for c in codes)
    return Dim(p, p.name, CategoricalDistribution(choices), codes, np.unique(codes), "list")


def _allowed_values(p: Param) -> str:
    return ", ".join(p.choices) if p.kind == "cat" else "true, false"


def _check_bound(p: Param, value: Any, *, file: str, key: str) -> int:
    return encode_value(p, value, file=file, key=key)


def _range_dim(p: Param, spec: Mapping[str, Any], *, file: str, key: str) -> Dim:
    if p.kind != "int":
        raise UserError(f"{p.name} is {p.kind}: give a list of values", file=file, key=key,
                        value=dict(spec), allowed=f"a list of {_allowed_values(p)}")
    low = _check_bound(p, spec["low"], file=file, key=f"{key}.low")
    high = _check_bound(p, spec["high"], file=file, key=f"{key}.high")
    if low > high:
        raise UserError("low is above high", file=file, key=key, value=dict(spec),
                        allowed="low <= high")
    step, log = int(spec.get("step", 1)), bool(spec.get("log", False))
    if log and step != 1:
        raise UserError("log ranges take no step", file=file, key=key, value=dict(spec),
                        allowed="either step or log: true")
    if (high - low) % step:
        raise UserError("high - low must be a multiple of step", file=file, key=key,
                        value=dict(spec), allowed=f"high = {low} + k * {step}")
    values = np.arange(low, high + 1, step, dtype=np.int64)
    dist = IntDistribution(low, high, step=step, log=log)
    return Dim(p, p.name, dist, np.empty(0, np.int64), values, "range")


def _pow2_dim(p: Param, spec: Mapping[str, Any], *, file: str, key: str) -> Dim:
    if p.kind != "int":
        raise UserError(f"{p.name} is {p.kind}: give a list of values", file=file, key=key,
                        value=dict(spec), allowed=f"a list of {_allowed_values(p)}")
    lo, hi = spec["powers_of_two"]
    for v, k in ((lo, f"{key}.powers_of_two[0]"), (hi, f"{key}.powers_of_two[1]")):
        _check_bound(p, v, file=file, key=k)
        if v & (v - 1):
            raise UserError("not a power of two", file=file, key=k, value=v,
                            allowed="1, 2, 4, 8, ...")
    if lo > hi:
        raise UserError("lower power above upper", file=file, key=f"{key}.powers_of_two",
                        value=[lo, hi], allowed="[lo, hi] with lo <= hi")
    a, b = lo.bit_length() - 1, hi.bit_length() - 1
    values = np.left_shift(1, np.arange(a, b + 1, dtype=np.int64))
    return Dim(p, f"log2_{p.name}", IntDistribution(a, b), np.empty(0, np.int64), values, "pow2")


def repair_tiles(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Round every tile up to the next multiple of its PE factor (in place; returns ``batch``)."""
    for tile, pe in TILE_PE.items():
        t, f = batch[tile], batch[pe]
        batch[tile] = np.maximum(-(-t // f), 1) * f
    return batch


class SearchSpace:
    """The large space of ``search.space``: Optuna distributions and the trial -> design map.

    Args:
        space: parameter name -> list, ``{low, high[, step | log]}`` or
            ``{powers_of_two: [lo, hi]}``.
        max_channels: the board's pseudo-channels (upper bound of ``pc_*`` values), if known.
        file, key: where the space was read (for error messages).
    """

    def __init__(self, space: Mapping[str, Any], *, max_channels: int | None = None,
                 file: str = "config", key: str = "search.space") -> None:
        names = {p.name for p in PARAMS}
        unknown = sorted(set(space) - names)
        if unknown:
            raise UserError("unknown design parameter", file=file, key=f"{key}.{unknown[0]}",
                            allowed=", ".join(p.name for p in PARAMS))
        dims = []
        for p in PARAMS:
            if p.name in space:
                spec = space[p.name]
            elif p.name in UNIFORM_DEFAULTS:  # optional, as in the sweep grid (dse.space)
                spec = [UNIFORM_DEFAULTS[p.name]]
            else:
                raise UserError("missing key: every design parameter needs a range", file=file,
                                key=f"{key}.{p.name}", allowed="a list, {low, high} or "
                                "{powers_of_two: [lo, hi]}")
            dims.append(self._dim(p, spec, file=file, key=f"{key}.{p.name}"))
        self.dims: tuple[Dim, ...] = tuple(dims)
        self.by_param = {d.param.name: d for d in self.dims}
        self.distributions: dict[str, BaseDistribution] = {
            d.optuna_name: d.distribution for d in self.dims if d.distribution is not None}
        if max_channels is not None:
            for name in ("pc_weights", "pc_inputs", "pc_outputs"):
                top = int(self.by_param[name].values.max())
                if top > max_channels:
                    raise UserError("more memory channels than the board has", file=file,
                                    key=f"{key}.{name}", value=top, allowed=f"1..{max_channels}")

    @staticmethod
    def _dim(p: Param, spec: Any, *, file: str, key: str) -> Dim:
        if isinstance(spec, list):
            return _list_dim(p, spec, file=file, key=key)
        if isinstance(spec, Mapping) and "powers_of_two" in spec:
            return _pow2_dim(p, spec, file=file, key=key)
        if isinstance(spec, Mapping) and "low" in spec:
            return _range_dim(p, spec, file=file, key=key)
        raise UserError("invalid range", file=file, key=key, value=spec,
                        allowed="a list, {low, high[, step | log]} or {powers_of_two: [lo, hi]}")

    @property
    def size_raw(self) -> int:
        """Product of the value counts (points of the Optuna space, before the tile repair)."""
        return math.prod(len(d.values) for d in self.dims)

    @property
    def size(self) -> int:
        """Distinct designs the space can produce (tiles repaired to multiples of PE factors)."""
        paired = set(TILE_PE) | set(TILE_PE.values())
        total = math.prod(len(d.values) for d in self.dims if d.param.name not in paired)
        for tile, pe in TILE_PE.items():
            t = self.by_param[tile].values
            pes = self.by_param[pe].values
            total *= int(sum(len(np.unique(np.maximum(-(-t // f), 1) * f)) for f in pes))
        return total

    def decode(self, params: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """Trial parameters (Optuna external values) -> one batch of design arrays (repaired)."""
        batch: dict[str, np.ndarray] = {}
        for d in self.dims:
            if d.distribution is None:
                internal = [0.0] * len(params)
            else:
                internal = [d.distribution.to_internal_repr(p[d.optuna_name]) for p in params]
            batch[d.param.name] = d.decode(np.asarray(internal, dtype=np.float64))
        return repair_tiles(batch)

    def encode(self, batch: Mapping[str, np.ndarray]) -> list[dict[str, Any] | None]:
        """Designs -> Optuna parameters for ``enqueue_trial`` (None where a value is outside)."""
        n = len(next(iter(batch.values())))
        out: list[dict[str, Any] | None] = []
        for i in range(n):
            params = {d.optuna_name: d.encode(int(batch[d.param.name][i])) for d in self.dims}
            if any(v is None for v in params.values()):
                out.append(None)
            else:
                out.append({d.optuna_name: params[d.optuna_name] for d in self.dims if d.searched})
        return out


# ---------------------------------------------------------------------------- the settings
def mask_url(url: str) -> str:
    """Hide the password of a storage URL (``postgresql://user:***@host/db``)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def is_url(storage: str) -> bool:
    """An RDB URL (``dialect[+driver]://...``) rather than a journal file path."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", storage) is not None


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
        warm_start: enqueue the sweep's front once per study.
        tpe: TPE options (:data:`TPE_DEFAULTS` overridden by ``search.tpe``).
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


def fingerprint(cfg: Config, space: Mapping[str, Any]) -> str:
    """Hash of what fixes a trial's objective values: a study must not mix two of them."""
    return config_hash(cfg.platform_raw, cfg.model_raw, cfg.objectives, space, MODEL_VERSION)


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
    storage = str(s["storage"])
    if storage.startswith("sqlite") and int(s["workers"]) > 1:
        raise UserError("SQLite does not take parallel writers", file=file, key="search.storage",
                        value=mask_url(storage), allowed="a journal file path or a server RDB URL "
                        "(postgresql://, mysql://) when workers > 1")
    return SearchSettings(
        sampler=s["sampler"], workers=int(s["workers"]),
        trials_per_worker=int(s["trials_per_worker"]), batch_size=int(s["batch_size"]),
        seed=int(s["seed"]), storage=storage,
        study_name=s["study_name"] or f"dse-{fp}", warm_start=bool(s["warm_start"]),
        tpe={**TPE_DEFAULTS, **raw.get("tpe", {})}, space=space, fingerprint=fp, file=file,
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


# --------------------------------------------------------------------- sampler and storage
def make_sampler(name: str, *, seed: int, batch_size: int,
                 tpe: Mapping[str, Any] | None = None) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` seeded with ``seed``.

    NSGA-II's population is one batch (each batch is one generation). TPE takes
    :data:`TPE_DEFAULTS` updated with ``tpe``: multivariate (one joint model per trial instead of
    one per parameter: ~3x faster and better on coupled parameters), constant liar (pending
    trials of a batch count as bad, so one batch spreads out) and ``n_startup_trials`` random
    trials first.
    """
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsgaii":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(2, batch_size))
    if name == "tpe":
        o = {**TPE_DEFAULTS, **(tpe or {})}
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=int(o["n_startup_trials"]),
            multivariate=bool(o["multivariate"]), constant_liar=bool(o["constant_liar"]),
            n_ei_candidates=int(o["n_ei_candidates"]))
    raise UserError("unknown sampler", key="search.sampler", value=name,
                    allowed=", ".join(SAMPLERS))


def open_storage(storage: str, *, key: str = "search.storage") -> optuna.storages.BaseStorage:
    """A journal file (any path) or an RDB (a URL); a UserError if it cannot be opened.

    The message never shows the URL's password.
    """
    shown = mask_url(storage)
    try:
        if is_url(storage):
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if storage.startswith("postgresql"):
                kwargs["connect_args"] = {"connect_timeout": 10}
            return optuna.storages.RDBStorage(storage, engine_kwargs=kwargs)
        path = Path(storage)
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        return optuna.storages.JournalStorage(backend)
    except ImportError:
        scheme = storage.split("://", 1)[0]
        raise UserError(f"cannot open the storage: no database driver for {scheme!r} is "
                        "installed (e.g. pip install psycopg2-binary for postgresql)", key=key,
                        value=shown) from None
    except Exception as exc:  # noqa: BLE001 (any driver or OS error: report it on one line)
        raise UserError(f"cannot open the storage ({_one_line(exc, storage)})", key=key,
                        value=shown) from None


def _one_line(exc: BaseException, storage: str) -> str:
    """First line of an exception, with the storage's password masked."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    m = re.search(r"://[^:/@]*:([^@]*)@", storage)
    if m and m.group(1):
        text = text.replace(m.group(1), "***")
    return f"{type(exc).__name__}: {text}"[:300]


def open_study(settings: SearchSettings, objectives: Sequence[tuple[str, str]], *,
               storage: optuna.storages.BaseStorage | None = None) -> optuna.Study:
    """Create or load the shared study and check that it belongs to this config."""
    if storage is None:
        storage = open_storage(settings.storage, key=settings.storage_key)
    directions = [("maximize" if d == "max" else "minimize") for _, d in objectives]
    try:
        study = optuna.create_study(storage=storage, study_name=settings.study_name,
                                    directions=directions, load_if_exists=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot open the study ({_one_line(exc, settings.storage)})",
                        key=settings.storage_key, value=settings.storage_shown) from None
    if [d.name.lower() for d in study.directions] != directions:
        raise UserError("the stored study has other objective directions", key="search.study_name",
                        value=settings.study_name, allowed="a new study_name")
    found = study.user_attrs.get(ATTR_FINGERPRINT)
    if found is None:
        study.set_user_attr(ATTR_FINGERPRINT, settings.fingerprint)
    elif found != settings.fingerprint:
        raise UserError(f"the stored study was made for another platform, model, objectives or "
                        f"space (fingerprint {found}, this config {settings.fingerprint})",
                        file=settings.file, key="search.study_name", value=settings.study_name,
                        allowed="another study_name, or leave it unset (dse-<fingerprint>)")
    return study


# ----------------------------------------------------------------------------- evaluation
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
    HBM pseudo-channels, AXI ports, device resources), so a sampler is led towards feasible
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
    clock = np.asarray(batch["clock_mhz"], dtype=np.float64)
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
             objectives: Sequence[tuple[str, str]], n: int) -> BatchResult:
    """Ask ``n`` trials, evaluate them in one model call, set constraints, tell each.

    Designs whose objectives are not finite are told as FAIL.
    """
    trials = [study.ask(space.distributions) for _ in range(n)]
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


# ------------------------------------------------------------------------- shared workers
def _keep_system_attr(key: str) -> bool:
    """System attributes worth sharing: constraints and GA generations (not TPE scratch)."""
    return key.startswith("constraints") or key.endswith(":generation")


def shared_copy(trial: FrozenTrial, *, worker: int, source: str) -> FrozenTrial:
    """A finished local trial as a template for the shared study (with worker and source)."""
    return optuna.trial.create_trial(
        state=trial.state, values=trial.values, params=trial.params,
        distributions=trial.distributions,
        user_attrs={**trial.user_attrs, "worker": worker, "source": source},
        system_attrs={k: v for k, v in trial.system_attrs.items() if _keep_system_attr(k)})


def _with_generations(trial: FrozenTrial, generations: Mapping[str, int]) -> FrozenTrial:
    """``trial`` with its genetic-sampler generations set to ``generations`` (if it has any)."""
    keys = [k for k in trial.system_attrs if k.endswith(":generation") and k in generations]
    if not keys:
        return trial
    return optuna.trial.create_trial(
        state=trial.state, values=trial.values, params=trial.params,
        distributions=trial.distributions, user_attrs=trial.user_attrs,
        system_attrs={**trial.system_attrs, **{k: generations[k] for k in keys}})


class Mirror:
    """A private in-memory study that mirrors a shared study (see the module docstring).

    Args:
        shared: the shared study (journal or RDB).
        storage: the shared study's storage object.
        local: the in-memory study the sampler works on.
        worker: this worker's index.
    """

    def __init__(self, shared: optuna.Study, storage: optuna.storages.BaseStorage,
                 local: optuna.Study, worker: int) -> None:
        self.shared, self.storage, self.local, self.worker = shared, storage, local, worker
        self.study_id = storage.get_study_id_from_name(shared.study_name)
        self.seen: set[int] = set()   # shared trial numbers already in the local study
        self.pulled = False

    def pull(self) -> int:
        """Copy finished shared trials not yet seen into the local study; return how many.

        The first pull copies the study's history as it is. Later pulls bring trials other
        workers finished meanwhile; a genetic sampler would ignore them, since their generation
        is already behind this worker's, so they join this worker's current generation (an
        island model with migration: they compete in the next parent selection).
        """
        new = [t for t in self.storage.get_all_trials(self.study_id, deepcopy=False,
                                                      states=(TrialState.COMPLETE,))
               if t.number not in self.seen]
        self.seen.update(t.number for t in new)
        if self.pulled and new:
            current = self.generations()
            new = [_with_generations(t, current) for t in new]
        self.local.add_trials(new)
        self.pulled = True
        return len(new)

    def generations(self) -> dict[str, int]:
        """Current (largest) generation per genetic-sampler key in the local study."""
        out: dict[str, int] = {}
        for t in self.local.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            for k, v in t.system_attrs.items():
                if k.endswith(":generation") and v > out.get(k, -1):
                    out[k] = v
        return out

    def push(self, trials: Iterable[FrozenTrial], *, source: str) -> int:
        """Add finished local trials to the shared study (one storage write each)."""
        n = 0
        for t in trials:
            template = shared_copy(t, worker=self.worker, source=source)
            tid = self.storage.create_new_trial(self.study_id, template_trial=template)
            self.seen.add(self.storage.get_trial_number_from_id(tid))
            n += 1
        return n

    def own_count(self) -> int:
        """Finished sampled trials (warm start excluded) this worker has in the shared study."""
        finished = self.storage.get_all_trials(self.study_id, deepcopy=False,
                                               states=(TrialState.COMPLETE, TrialState.FAIL))
        return sum(1 for t in finished if t.user_attrs.get("worker") == self.worker
                   and t.user_attrs.get("source") != SOURCE_WARM)


@dataclass
class WorkerReport:
    """What one worker run did."""

    worker: int
    study_name: str
    storage: str
    trials_before: int
    trials_added: int
    warm_started: int
    study_trials: int
    seconds: float
    seconds_model: float

    @property
    def trials_per_s(self) -> float:
        return self.trials_added / self.seconds if self.seconds > 0 else float("nan")


def warm_start_params(space: SearchSpace, front: pd.DataFrame) -> list[dict[str, Any]]:
    """The sweep front's designs as Optuna parameters of ``space`` (outside designs dropped)."""
    from dse.results import batch_from_frame

    if front.empty:
        return []
    missing = [p.name for p in PARAMS if p.name not in front.columns]
    if missing:
        raise UserError("the warm-start front lacks a design parameter column", key="--warm-start",
                        value=missing[0], allowed="a front written by dse pareto for this config")
    encoded = space.encode(batch_from_frame(front))
    return [p for p in encoded if p is not None]


def run_worker(cfg: Config, settings: SearchSettings, *, worker: int, trials: int | None = None,
               warm_front: pd.DataFrame | None = None,
               storage: optuna.storages.BaseStorage | None = None,
               log: Callable[[str], None] = print) -> WorkerReport:
    """Add this worker's trials to the shared study until it holds ``trials`` of them.

    Args:
        cfg: the loaded config (platform, model, objectives).
        settings: the validated search settings.
        worker: worker index (seed = settings.seed + worker).
        trials: sampled trials this worker must have in the study (default trials_per_worker).
        warm_front: the sweep's front; enqueued once per study, by worker 0 only.
        storage: the opened storage (default: open ``settings.storage``).
        log: progress lines.
    """
    if worker < 0:
        raise UserError("must be >= 0", key="--worker", value=worker, allowed="0, 1, 2, ...")
    target = settings.trials_per_worker if trials is None else trials
    if target < 1:
        raise UserError("must be positive", key="--trials", value=target, allowed="an integer >= 1")
    t_start = time.perf_counter()
    objectives = cfg.objectives
    model = Model(cfg.platform, cfg.workload)
    if storage is None:
        storage = open_storage(settings.storage, key=settings.storage_key)
    shared = open_study(settings, objectives, storage=storage)
    sampler = make_sampler(settings.sampler, seed=settings.seed + worker,
                           batch_size=settings.batch_size, tpe=settings.tpe)
    local = optuna.create_study(directions=[d.name.lower() for d in shared.directions],
                                sampler=sampler)
    mirror = Mirror(shared, storage, local, worker)
    mirror.pull()
    before = mirror.own_count()
    model_s = 0.0
    warm = 0
    if warm_front is not None and worker == 0 and not shared.user_attrs.get(ATTR_WARM):
        warm, model_s = _warm_start(mirror, settings, model, objectives, warm_front, log)
    added = 0
    while before + added < target:
        res = ask_tell(local, settings.space, model, objectives,
                       min(settings.batch_size, target - before - added))
        model_s += res.seconds_model
        added += mirror.push(res.trials, source=settings.source)
        mirror.pull()
    seconds = time.perf_counter() - t_start
    total = len(storage.get_all_trials(mirror.study_id, deepcopy=False))
    return WorkerReport(worker, settings.study_name, settings.storage_shown, before, added, warm,
                        total, seconds, model_s)


def _warm_start(mirror: Mirror, settings: SearchSettings, model: Model,
                objectives: Sequence[tuple[str, str]], front: pd.DataFrame,
                log: Callable[[str], None]) -> tuple[int, float]:
    """Enqueue the front's designs in the local study, evaluate them, push, flag the study."""
    params = warm_start_params(settings.space, front)
    for p in params:
        mirror.local.enqueue_trial(p)
    done, model_s = 0, 0.0
    while done < len(params):
        res = ask_tell(mirror.local, settings.space, model, objectives,
                       min(settings.batch_size, len(params) - done))
        model_s += res.seconds_model
        done += mirror.push(res.trials, source=SOURCE_WARM)
    mirror.shared.set_user_attr(ATTR_WARM, True)
    log(f"warm start: {done} of {len(front)} front designs enqueued "
        f"({len(front) - done} outside the search space)")
    return done, model_s


# --------------------------------------------------------------------------------- export
def worker_trials(storage: optuna.storages.BaseStorage, study_name: str,
                  worker: int | None) -> list[FrozenTrial]:
    """Completed trials of one worker (all workers when None), by trial number."""
    sid = storage.get_study_id_from_name(study_name)
    trials = storage.get_all_trials(sid, deepcopy=False, states=(TrialState.COMPLETE,))
    if worker is not None:
        trials = [t for t in trials if t.user_attrs.get("worker") == worker]
    return sorted(trials, key=lambda t: t.number)


def export_frame(model: Model, space: SearchSpace, trials: Sequence[FrozenTrial]) -> pd.DataFrame:
    """Trials -> the result table plus ``trial_number`` and ``source``.

    The designs are re-evaluated (one model call), so the figures are exactly the sweep's.
    """
    numbers = np.array([t.number for t in trials], dtype=np.int64)
    batch = space.decode([t.params for t in trials])
    result = model.evaluate(batch)
    frame = results_frame(model, batch, result, design_id("s", numbers))
    frame["trial_number"] = numbers
    frame["source"] = pd.array([str(t.user_attrs.get("source", "search")) for t in trials],
                               dtype="string")
    return frame
