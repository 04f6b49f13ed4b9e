"""Neighbourhoods of hardware designs: the moves local refinement (dse.refine) and greedy walks
(dse.walk) both make, and the design hash they remember designs by.

A design's neighbours are

- *one-parameter moves* over the searched parameters of ``search.space``: the previous and next
  value of a range or of a numeric list, the nearest values to twice and half the current value
  of a range (for powers of two, the next and previous power), every other choice of a
  categorical or boolean; a tile moves by one PE factor (``tile_m +- pe_m``), to twice and to
  half its size;
- *compound moves* that change several parameters together, where one change alone only pays
  with another (the clock is the model's, so a bigger engine no longer needs a clock move):

  - engine size with CU count: one PE factor doubled and the CUs halved, or halved and the CUs
    doubled (``pe_m x 2, compute_units / 2``): the same MACs per cycle in fewer, larger CUs or
    more, smaller ones;
  - PE shape: one PE factor doubled and another halved (``pe_m x 2, pe_n / 2``): the same PEs
    per CU in another shape;
  - both also with each changed PE factor's tile scaled alike (``tile_m x 2`` with
    ``pe_m x 2``): the same tile rows per buffer bank, so the buffers keep their shape;
  - channels with CUs: one CU more or fewer, twice or half as many, with every stream's
    channels per CU scaled by the inverse ratio (rounded down, at least one): about the same
    channels in total, spread over another CU count.

Values outside the space are clipped to its nearest value (a move that ends where it started is
dropped) and tiles are repaired to multiples of their PE factor, as in the search. Candidates
come in a fixed order (parent, move, ...), so everything built on them is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dse.canonical import canonical
from dse.params import PARAMS
from dse.search.space import TILE_PE, Dim, SearchSpace, repair_tiles

#: Fixed odd 64-bit multipliers (one per parameter) of the design hash (:func:`design_hash`).
_HASH_MULT = np.random.default_rng(20240610).integers(
    1, 2**63, size=len(PARAMS), dtype=np.int64).astype(np.uint64) | np.uint64(1)

#: PE factors, in the order compound moves pair them.
PE_DIMS = ("pe_m", "pe_n", "pe_k")

#: Per-CU channel counts that follow the CU count in the channels-with-CUs moves.
CHANNELS = ("pc_weights", "pc_inputs", "pc_outputs")


def design_hash(batch: Mapping[str, np.ndarray]) -> np.ndarray:
    """A 64-bit hash per design of its parameter codes (mixing as in splitmix64).

    Used to remember evaluated designs and as the refined designs' ids; with a few million
    designs a collision has a probability of about 1e-7. The precisions are hashed in canonical
    form (dse.canonical): two spellings of one design are one design, evaluated once, one id.
    """
    batch = canonical(batch)
    n = len(next(iter(batch.values())))
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for m, p in zip(_HASH_MULT, PARAMS, strict=True):
            h = (h ^ (np.asarray(batch[p.name]).astype(np.uint64) * m)) * np.uint64(
                0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(31)
    return h


def take_rows(batch: Mapping[str, np.ndarray], rows) -> dict[str, np.ndarray]:
    """The designs ``rows`` of a batch."""
    return {k: np.asarray(v)[rows] for k, v in batch.items()}


def concat(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Batches joined in order."""
    return {p.name: np.concatenate([b[p.name] for b in parts]) for p in PARAMS}


def empty_batch() -> dict[str, np.ndarray]:
    return {p.name: np.empty(0, dtype=np.int64) for p in PARAMS}


def nearest(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The element of sorted ``values`` nearest to each ``target`` (ties to the smaller)."""
    if len(values) == 1:
        return np.full(np.shape(target), values[0])
    pos = np.clip(np.searchsorted(values, target), 1, len(values) - 1)
    lo, hi = values[pos - 1], values[pos]
    return np.where(target - lo <= hi - target, lo, hi)


def _one_moves(dim: Dim, current: np.ndarray, batch: Mapping[str, np.ndarray]
               ) -> list[np.ndarray]:
    """New values of one parameter for every design (equal to ``current`` = no move)."""
    values = dim.values
    name = dim.param.name
    if dim.form == "list" and dim.param.kind in ("cat", "bool"):
        return [np.full_like(current, c) for c in dim.codes]
    if name in TILE_PE:
        pe = np.asarray(batch[TILE_PE[name]])
        raw = [current - pe, current + pe, 2 * current, current // 2]
        return [np.clip(r, values[0], values[-1]) for r in raw]
    pos = np.searchsorted(values, current)
    below = values[np.clip(pos - 1, 0, len(values) - 1)]
    exact = (pos < len(values)) & (values[np.clip(pos, 0, len(values) - 1)] == current)
    above = values[np.clip(np.where(exact, pos + 1, pos), 0, len(values) - 1)]
    out = [below, above]
    if dim.form == "range":
        out += [nearest(values, 2 * current), nearest(values, current // 2)]
    return out


def one_parameter_moves(space: SearchSpace, parents: Mapping[str, np.ndarray]
                        ) -> list[dict[str, np.ndarray]]:
    """Every one-parameter move, one dict of changed parameters per move (full-length arrays)."""
    out = []
    for dim in (d for d in space.dims if d.searched):
        current = np.asarray(parents[dim.param.name])
        for new in _one_moves(dim, current, parents):
            out.append({dim.param.name: new})
    return out


def _scaled(space: SearchSpace, name: str, value: np.ndarray) -> np.ndarray:
    """``value`` moved to the nearest value ``name`` can take in ``space`` (itself if fixed)."""
    return nearest(space.by_param[name].values, value)


def compound_moves(space: SearchSpace, parents: Mapping[str, np.ndarray]
                   ) -> list[dict[str, np.ndarray]]:
    """The compound moves of the module docstring for every parent (only over searched
    parameters), one dict of changed parameters per move."""
    searched = {d.param.name for d in space.dims if d.searched}
    cu = np.asarray(parents["compute_units"])
    out: list[dict[str, np.ndarray]] = []
    pes = [p for p in PE_DIMS if p in searched]
    tile_of = {pe: tile for tile, pe in TILE_PE.items()}

    def with_tiles(move: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """``move`` with the tile of every changed PE factor scaled by the same ratio."""
        out_ = dict(move)
        for p in PE_DIMS:
            t = tile_of[p]
            if p in move and t in searched:
                old = np.asarray(parents[p])
                tile = np.asarray(parents[t])
                out_[t] = _scaled(space, t, np.maximum(tile * move[p] // np.maximum(old, 1), 1))
        return out_ if len(out_) > len(move) else None

    def add(move: dict[str, np.ndarray]) -> None:
        out.append(move)
        scaled = with_tiles(move)
        if scaled is not None:
            out.append(scaled)

    if "compute_units" in searched:
        half_cu = _scaled(space, "compute_units", np.maximum(cu // 2, 1))
        half_cu_up = _scaled(space, "compute_units", (cu + 1) // 2)
        double_cu = _scaled(space, "compute_units", 2 * cu)
        for p in pes:  # engine size with CU count
            pe = np.asarray(parents[p])
            add({p: _scaled(space, p, 2 * pe), "compute_units": half_cu})
            add({p: _scaled(space, p, 2 * pe), "compute_units": half_cu_up})
            add({p: _scaled(space, p, np.maximum(pe // 2, 1)), "compute_units": double_cu})
        chans = [c for c in CHANNELS if c in searched]
        if chans:  # channels with CUs
            for new_cu in (cu - 1, cu + 1, 2 * cu, cu // 2):
                new_cu = _scaled(space, "compute_units", np.maximum(new_cu, 1))
                move = {"compute_units": new_cu}
                for c in chans:
                    pc = np.asarray(parents[c])
                    move[c] = _scaled(space, c, np.maximum(pc * cu // new_cu, 1))
                out.append(move)
    for a in pes:  # PE shape
        for b in pes:
            if a != b:
                add({a: _scaled(space, a, 2 * np.asarray(parents[a])),
                     b: _scaled(space, b, np.maximum(np.asarray(parents[b]) // 2, 1))})
    return out


def neighbours(space: SearchSpace, parents: Mapping[str, np.ndarray], *,
               compound: bool = True) -> dict[str, np.ndarray]:
    """Every move of every parent (tiles repaired), ordered by (parent, move).

    Moves that leave a design unchanged are dropped; repeated candidates are kept (callers
    remember what they evaluated by :func:`design_hash`).

    Args:
        space: the search space whose searched parameters are moved.
        parents: a batch of hardware designs.
        compound: also the compound moves (after the one-parameter ones).
    """
    moves = one_parameter_moves(space, parents)
    if compound:
        moves += compound_moves(space, parents)
    parts, order = [], []
    for j, move in enumerate(moves):
        changed = np.zeros(len(np.asarray(parents["compute_units"])), dtype=bool)
        for name, new in move.items():
            changed |= new != np.asarray(parents[name])
        rows = np.flatnonzero(changed)
        if rows.size == 0:
            continue
        part = take_rows(parents, rows)
        for name, new in move.items():
            part[name] = np.asarray(new)[rows]
        parts.append(part)
        order.append(np.stack([rows, np.full(rows.size, j)], axis=1))
    if not parts:
        return empty_batch()
    cand = repair_tiles(concat(parts))
    keys = np.concatenate(order)
    sort = np.lexsort((keys[:, 1], keys[:, 0]))
    return take_rows(cand, sort)
