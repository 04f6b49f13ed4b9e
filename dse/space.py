"""Design spaces: single designs and grids declared in config -> batches of parameter arrays.

A batch is ``dict[str, numpy.ndarray]`` with categoricals as integer codes (dse.params). The grid
is enumerated in a fixed mixed-radix order: design number ``i`` decodes to one value per parameter
(the last parameter varies fastest), so ``design_id`` is stable for a given space and shards are
contiguous ranges of design numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dse.errors import UserError
from dse.params import (
    BY_NAME,
    CLOCK_PARAM,
    CLOCK_UNSET,
    MAPPING_PARAMS,
    PARAM_NAMES,
    PARAMS,
    UNIFORM_DEFAULTS,
    Param,
)
from dse.platform import Platform


def _allowed(p: Param) -> str:
    if p.kind == "cat":
        return ", ".join(p.choices)
    if p.kind == "bool":
        return "true or false"
    return f"an integer {p.low}..{p.high}" if p.high else f"an integer >= {p.low}"


def encode_value(p: Param, value: Any, *, file: str, key: str) -> int:
    """One parameter value -> its integer code, or a UserError naming file, key and value."""
    if p.kind == "cat":
        if isinstance(value, str) and value in p.choices:
            return p.choices.index(value)
    elif p.kind == "bool":
        if isinstance(value, (bool, np.bool_)):
            return int(value)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if value >= p.low and (p.high is None or value <= p.high):
            return int(value)
        raise UserError("value out of range", file=file, key=key, value=value, allowed=_allowed(p))
    raise UserError(f"invalid {p.name}", file=file, key=key, value=value, allowed=_allowed(p))


def decode_value(p: Param, code: int) -> Any:
    if p.kind == "cat":
        return p.choices[int(code)]
    if p.kind == "bool":
        return bool(code)
    return int(code)


def _check_tiles(batch: Mapping[str, np.ndarray], *, file: str, key: str) -> None:
    for dim in "mnk":
        t, pe = batch[f"tile_{dim}"], batch[f"pe_{dim}"]
        bad = np.flatnonzero(t % pe)
        if bad.size:
            i = bad[0]
            raise UserError(
                f"tile_{dim} must be a multiple of pe_{dim} ({int(pe[i])})",
                file=file,
                key=f"{key}tile_{dim}" if key else f"tile_{dim}",
                value=int(t[i]),
                allowed=f"multiples of pe_{dim}",
            )


def design_batch(
    designs: Sequence[Mapping[str, Any]],
    platform: Platform | None = None,
    *,
    file: str = "design",
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Validate designs given as mappings and return a batch of parameter arrays.

    Missing keys take ``defaults`` when given; otherwise a missing key is an error, except the
    optional ones: per-class precision and tiling (uniform) and ``clock_mhz`` (CLOCK_UNSET: the
    model's clock policy chooses it).
    """
    cols: dict[str, list[int]] = {name: [] for name in PARAM_NAMES}
    for _i, design in enumerate(designs):
        unknown = sorted(set(design) - set(PARAM_NAMES) - {"design_id"})
        if unknown:
            raise UserError(
                "unknown design parameter",
                file=file,
                key=unknown[0],
                allowed=", ".join(PARAM_NAMES),
            )
        for p in PARAMS:
            if p.name in design:
                value = design[p.name]
            elif defaults is not None and p.name in defaults:
                value = defaults[p.name]
            elif p.name in UNIFORM_DEFAULTS:  # optional: per-class precision and tiling
                value = UNIFORM_DEFAULTS[p.name]
            elif p.name == CLOCK_PARAM:  # optional: the clock policy chooses it
                value = CLOCK_UNSET
            else:
                raise UserError("missing key", file=file, key=p.name, allowed=_allowed(p))
            cols[p.name].append(encode_value(p, value, file=file, key=p.name))
    batch = {k: np.asarray(v, dtype=np.int64) for k, v in cols.items()}
    _check_tiles(batch, file=file, key="")
    if platform is not None:
        check_channels(batch, platform, file=file)
    return batch


def check_channels(
    batch: Mapping[str, np.ndarray], platform: Platform, *, file: str, key: str = ""
) -> None:
    """Per-stream channel counts may not exceed the channels of the board's design memory."""
    for name in ("pc_weights", "pc_inputs", "pc_outputs"):
        bad = np.flatnonzero(batch[name] > platform.memory.channels)
        if bad.size:
            raise UserError(
                f"more {platform.memory.kind} channels than the board has",
                file=file,
                key=f"{key}{name}",
                value=int(batch[name][bad[0]]),
                allowed=f"1..{platform.memory.channels}",
            )


class Grid:
    """A grid of designs: one list of allowed values per parameter.

    The clock is not a grid parameter: every design holds CLOCK_UNSET and the model's clock
    policy sets it (:func:`check_hardware_only`).

    Args:
        space: mapping of parameter name -> list of values (validated by the schema).
    """

    def __init__(
        self, space: Mapping[str, Sequence[Any]], *, file: str = "config", key: str = "sweep.space"
    ) -> None:
        check_hardware_only(space, file=file, key=key)
        self.values: dict[str, np.ndarray] = {}
        for p in PARAMS:
            if p.name == CLOCK_PARAM:
                self.values[p.name] = np.array([CLOCK_UNSET], dtype=np.int64)
                continue
            if p.name in space:
                vals = space[p.name]
            elif p.name in UNIFORM_DEFAULTS:  # optional: per-class precision and tiling
                vals = [UNIFORM_DEFAULTS[p.name]]
            else:
                raise UserError(
                    "missing key", file=file, key=f"{key}.{p.name}", allowed=_allowed(p)
                )
            self.values[p.name] = np.array(
                [
                    encode_value(p, v, file=file, key=f"{key}.{p.name}[{j}]")
                    for j, v in enumerate(vals)
                ],
                dtype=np.int64,
            )
        self.radix = np.array([len(v) for v in self.values.values()], dtype=np.int64)
        self.size = int(np.prod(self.radix.astype(object)))

    def decode(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Design numbers -> a batch (mixed radix, last parameter fastest)."""
        rem = np.asarray(index, dtype=np.int64)
        out: dict[str, np.ndarray] = {}
        for name, r in zip(reversed(PARAM_NAMES), self.radix[::-1], strict=True):
            out[name] = self.values[name][rem % r]
            rem = rem // r
        return {name: out[name] for name in PARAM_NAMES}

    def shard(self, i: int, n: int) -> tuple[int, int]:
        """Design-number range [start, stop) of shard ``i`` of ``n`` (contiguous, balanced)."""
        if not 0 <= i < n:
            raise UserError(
                "shard index out of range",
                key="--shard",
                value=f"{i}/{n}",
                allowed=f"I/N with 0 <= I < N (N = {n})",
            )
        return self.size * i // n, self.size * (i + 1) // n


def check_space(
    space: Mapping[str, Sequence[Any]], platform: Platform, *, file: str, key: str
) -> None:
    """Semantic checks of a grid: every tile value must be a multiple of every PE value."""
    grid = Grid(space, file=file, key=key)
    for dim in "mnk":
        for t in grid.values[f"tile_{dim}"]:
            for pe in grid.values[f"pe_{dim}"]:
                if t % pe:
                    raise UserError(
                        f"tile_{dim} must be a multiple of every pe_{dim} value "
                        f"(pe_{dim} = {int(pe)})",
                        file=file,
                        key=f"{key}.tile_{dim}",
                        value=int(t),
                        allowed=f"multiples of {int(pe)}",
                    )
    check_channels({k: v for k, v in grid.values.items()}, platform, file=file, key=f"{key}.")


def check_hardware_only(space: Mapping[str, Any], *, file: str, key: str) -> None:
    """Spaces range over hardware: the runtime tile divisors are the mapper's to choose, and the
    clock is the clock policy's (config ``clock:``)."""
    if CLOCK_PARAM in space:
        raise UserError(
            "the clock is chosen per design (the highest that closes timing), not swept",
            file=file,
            key=f"{key}.{CLOCK_PARAM}",
            value=space[CLOCK_PARAM],
            allowed="no clock_mhz here; clock: {mode: per_design, step_mhz: 5} or "
            "clock: {mode: pinned, mhz: 300} at the top level",
        )
    mapped = [name for name in MAPPING_PARAMS if name in space]
    if mapped:
        raise UserError(
            "a mapping parameter, chosen per design by the mapper",
            file=file,
            key=f"{key}.{mapped[0]}",
            allowed="hardware parameters only; set the candidates in mapping.tile_divisors",
        )


def design_id(prefix: str, index: np.ndarray) -> np.ndarray:
    """Stable ids ``<prefix>-<number>`` (e.g. ``g-000012345``)."""
    idx = np.asarray(index, dtype=np.int64)
    return np.char.add(f"{prefix}-", np.char.zfill(idx.astype(str), 9))


__all__ = ["BY_NAME", "Grid", "check_hardware_only", "check_space", "design_batch", "design_id"]
