"""Memory-channel (HBM pseudo-channel or DDR bank) and SLR placement of a design's compute units.

The analytic model counts channels with the same rule (dse.channels), so an export's ``link.cfg``
connects exactly the channels the model assumed. Channels are handed out CU by CU (CU ``i`` on SLR
``cu_slr_order[i % len]``), each taking the lowest free channels attached to its own SLR first,
then the lowest free ones elsewhere:

- ``share_weights`` false: each CU takes its weights, then inputs, then outputs channels (on a
  board whose channels all sit on one SLR, such as the U280's HBM, CU ``i`` gets the contiguous
  block that starts at ``i * (pc_weights + pc_inputs + pc_outputs)``);
- ``share_weights`` true: the first ``pc_weights`` channels hold the one weight copy that every
  CU reads; each CU then takes its inputs and outputs;
- ``share_streams`` true: a CU's streams share one set of channels (inputs and outputs only when
  the weights are shared), every stream striped over all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dse.channels import channels_used, stream_channels
from dse.errors import UserError

#: The three memory streams of a CU, in the order their channels are laid out.
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


def _counts(design: Mapping[str, Any]) -> tuple[int, int, int, int, bool, bool]:
    """(pc_weights, pc_inputs, pc_outputs, compute_units, share_weights, share_streams)."""
    return (
        _count(design, "pc_weights"),
        _count(design, "pc_inputs"),
        _count(design, "pc_outputs"),
        _count(design, "compute_units"),
        bool(design.get("share_weights", False)),
        bool(design.get("share_streams", False)),
    )


def stream_ports(design: Mapping[str, Any]) -> dict[str, int]:
    """Ports (= channels) each stream of one CU uses after stream sharing
    (dse.channels.stream_channels)."""
    w, i, o, _, sw, ss = _counts(design)
    return {s: int(n) for s, n in zip(STREAMS, stream_channels(w, i, o, sw, ss), strict=True)}


def pcs_used(design: Mapping[str, Any]) -> int:
    """Number of distinct memory channels the design occupies (all CUs together;
    dse.channels.channels_used)."""
    return int(channels_used(*_counts(design)))


def channel_allocation(
    design: Mapping[str, Any],
    *,
    pseudo_channels: int = 32,
    channel_slrs: Sequence[int] | None = None,
    cu_slr_order: Sequence[int] = (0, 1, 2),
    tag: str = "HBM",
) -> list[dict[str, list[int]]]:
    """Channel numbers of every stream of every compute unit.

    Args:
        design: a design row with ``pc_weights``, ``pc_inputs``, ``pc_outputs`` (channels per CU
            and stream), ``compute_units``, ``share_weights`` and optionally ``share_streams``.
        pseudo_channels: channels the design memory has (U280 HBM: 32, numbered 0..31).
        channel_slrs: SLR of each channel (None: all on SLR0, as HBM).
        cu_slr_order: SLR of CU ``i`` is ``cu_slr_order[i % len]``.
        tag: ``HBM`` or ``DDR``, for the error message.

    Returns:
        One dict per CU, ``{"weights": [...], "inputs": [...], "outputs": [...]}``, each a list of
        channel numbers in port order (port ``j`` of a stream uses the ``j``-th number); streams
        that share channels list the same numbers.

    Raises:
        UserError: a count is missing or below 1, or the design needs more channels than the
            board has.
    """
    w, i, o, cus, shared, ss = _counts(design)
    needed = pcs_used(design)
    if needed > pseudo_channels:
        what = "HBM pseudo-channels" if tag == "HBM" else f"{tag} channels"
        raise UserError(
            f"the design needs {needed} {what} but the board has {pseudo_channels}",
            key="pc_weights/pc_inputs/pc_outputs x compute_units",
            allowed=f"at most {pseudo_channels} channels in total",
        )
    slr_of = list(channel_slrs) if channel_slrs is not None else [0] * pseudo_channels
    free = list(range(pseudo_channels))

    def take(k: int, slr: int) -> list[int]:
        local = [c for c in free if slr_of[c] == slr][:k]
        got = local + [c for c in free if c not in local][: k - len(local)]
        got.sort()
        for c in got:
            free.remove(c)
        return got

    slrs = cu_slrs(cus, cu_slr_order)
    common = take(w, slrs[0]) if shared else None
    ports = stream_ports(design)
    units = []
    for slr in slrs:
        if ss and not shared:
            own = take(ports["weights"], slr)
            units.append({"weights": own, "inputs": own, "outputs": own})
            continue
        weights = common if common is not None else take(w, slr)
        if ss:
            act = take(ports["inputs"], slr)
            units.append({"weights": list(weights), "inputs": act, "outputs": list(act)})
            continue
        inputs = take(i, slr)
        outputs = take(o, slr)
        units.append({"weights": list(weights), "inputs": inputs, "outputs": outputs})
    return units


def cu_slrs(compute_units: int, slr_order: Sequence[int] = (0, 1, 2)) -> list[int]:
    """SLR index of every compute unit: CU ``i`` goes to ``slr_order[i % len(slr_order)]``."""
    if not slr_order:
        raise UserError("empty SLR order", key="cu_slr_order", allowed="a list of SLR indices")
    return [int(slr_order[i % len(slr_order)]) for i in range(int(compute_units))]
