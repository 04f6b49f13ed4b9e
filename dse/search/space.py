"""The large design space of ``search.space``: Optuna distributions and the trial -> design map.

One entry per design parameter of :data:`dse.params.PARAMS`: a list of values (Optuna
categorical), an integer range ``{low, high[, step | log]}`` (Optuna int) or
``{powers_of_two: [lo, hi]}`` (Optuna categorical of the powers themselves, so the study and
optuna-dashboard show ``pe_m = 32``; NSGA-II's uniform crossover and resampling mutation draw from
the same distribution as they would on the exponent). Every Optuna parameter has its design
parameter's name. Tiles are
*suggested and repaired*: ``tile_m`` is drawn from its own range, independently of ``pe_m``, and
the design uses the smallest multiple of ``pe_m`` that is at least the drawn value
(``ceil(tile / pe) * pe``). The sampler therefore learns absolute tile sizes (what matters
against the matrix shapes), the sweep's designs are representable as they are (warm start), and
the mapping trial -> design is deterministic. Several trials may map to one design;
:attr:`SearchSpace.size` counts distinct designs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from dse.errors import UserError
from dse.params import CLOCK_PARAM, CLOCK_UNSET, MAPPING_PARAMS, PARAMS, UNIFORM_DEFAULTS, Param
from dse.space import check_hardware_only, encode_value

#: Tile parameter -> the PE parameter it must be a multiple of.
TILE_PE = {"tile_m": "pe_m", "tile_n": "pe_n", "tile_k": "pe_k"}


@dataclass(frozen=True)
class Dim:
    """How one design parameter is searched.

    Attributes:
        param: the design parameter.
        optuna_name: the Optuna parameter name (the design parameter's name).
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
        """Optuna internal representations (choice index / integer) -> design codes."""
        x = np.asarray(internal, dtype=np.float64)
        if self.form == "fixed":
            return np.full(x.shape, self.values[0], dtype=np.int64)
        if self.form == "list":
            return self.codes[x.astype(np.int64)]
        if self.form == "pow2":  # choices are the powers, ascending
            return self.values[x.astype(np.int64)]
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
        return int(code)


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
    if len(values) == 1:
        return Dim(p, p.name, None, values, values, "fixed")
    dist = CategoricalDistribution(tuple(int(v) for v in values))
    return Dim(p, p.name, dist, values, values, "pow2")


def hardware_only(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A copy of ``batch`` with the mapping parameters (the mapper's per-design choice) reset to
    their defaults and the clock (the clock policy's) to CLOCK_UNSET, both of which result rows
    record: what a design *is* in the search space."""
    out = {k: np.asarray(v) for k, v in batch.items()}
    n = len(next(iter(out.values())))
    for name in MAPPING_PARAMS:
        out[name] = np.full(n, UNIFORM_DEFAULTS[name], dtype=np.int64)
    out[CLOCK_PARAM] = np.full(n, CLOCK_UNSET, dtype=np.int64)
    return out


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
        check_hardware_only(space, file=file, key=key)
        dims = []
        for p in PARAMS:
            if p.name == CLOCK_PARAM:  # the clock policy's (dse.timing), fixed here
                dims.append(_list_dim(p, [CLOCK_UNSET], file=file, key=f"{key}.{p.name}"))
                continue
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
