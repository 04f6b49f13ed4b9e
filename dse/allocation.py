"""HBM pseudo-channel (PC) and SLR placement of a design's compute units (CUs).

The analytic model counts PCs with the same rule, so an export's ``link.cfg`` connects exactly the
channels the model assumed:

- ``share_weights`` false: CU ``i`` owns the contiguous block that starts at
  ``i * (pc_weights + pc_inputs + pc_outputs)``: weights first, then inputs, then outputs.
- ``share_weights`` true: PCs ``0 .. pc_weights - 1`` hold the one weight copy that every CU reads;
  CU ``i`` owns inputs then outputs starting at ``pc_weights + i * (pc_inputs + pc_outputs)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dse.errors import UserError

#: The three HBM streams of a CU, in the order their PCs are laid out.
STREAMS = ("weights", "inputs", "outputs")


def _count(design: Mapping[str, Any], key: str, *, low: int = 1) -> int:
    """Read an integer design parameter, refusing missing or too-small values."""
    if key not in design:
        raise UserError("design has no value", key=key, allowed="an integer")
    value = design[key]
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UserError("not an integer", key=key, value=value) from None
    if number != value or number < low:
        raise UserError("bad value", key=key, value=value, allowed=f"an integer >= {low}")
    return number


def pcs_used(design: Mapping[str, Any]) -> int:
    """Number of distinct HBM pseudo-channels the design occupies (PCs, all CUs together)."""
    pc_w = _count(design, "pc_weights")
    pc_i = _count(design, "pc_inputs")
    pc_o = _count(design, "pc_outputs")
    cus = _count(design, "compute_units")
    if bool(design.get("share_weights", False)):
        return pc_w + cus * (pc_i + pc_o)
    return cus * (pc_w + pc_i + pc_o)


def channel_allocation(
    design: Mapping[str, Any], *, pseudo_channels: int = 32
) -> list[dict[str, list[int]]]:
    """HBM pseudo-channel numbers of every stream of every compute unit.

    Args:
        design: a design row with ``pc_weights``, ``pc_inputs``, ``pc_outputs`` (PCs per CU and
            stream), ``compute_units`` and ``share_weights``.
        pseudo_channels: PCs the board has (U280: 32, numbered 0..31).

    Returns:
        One dict per CU, ``{"weights": [...], "inputs": [...], "outputs": [...]}``, each a list of
        PC numbers in port order (port ``j`` of a stream uses the ``j``-th number).

    Raises:
        UserError: a count is missing or below 1, or the design needs more PCs than the board has.
    """
    pc_w = _count(design, "pc_weights")
    pc_i = _count(design, "pc_inputs")
    pc_o = _count(design, "pc_outputs")
    cus = _count(design, "compute_units")
    shared = bool(design.get("share_weights", False))
    needed = pcs_used(design)
    if needed > pseudo_channels:
        raise UserError(
            f"the design needs {needed} HBM pseudo-channels but the board has {pseudo_channels}",
            key="pc_weights/pc_inputs/pc_outputs x compute_units",
            allowed=f"at most {pseudo_channels} PCs in total",
        )
    units = []
    for cu in range(cus):
        if shared:
            weights = list(range(pc_w))
            base = pc_w + cu * (pc_i + pc_o)
        else:
            base = cu * (pc_w + pc_i + pc_o)
            weights = list(range(base, base + pc_w))
            base += pc_w
        inputs = list(range(base, base + pc_i))
        outputs = list(range(base + pc_i, base + pc_i + pc_o))
        units.append({"weights": weights, "inputs": inputs, "outputs": outputs})
    return units


def cu_slrs(compute_units: int, slr_order: Sequence[int] = (0, 1, 2)) -> list[int]:
    """SLR index of every compute unit: CU ``i`` goes to ``slr_order[i % len(slr_order)]``."""
    if not slr_order:
        raise UserError("empty SLR order", key="cu_slr_order", allowed="a list of SLR indices")
    return [int(slr_order[i % len(slr_order)]) for i in range(int(compute_units))]
