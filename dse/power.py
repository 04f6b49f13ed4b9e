"""Board power and energy per policy call of evaluated designs (issue 21).

``power_w`` is the power of the whole card at its 12 V / 3.3 V inputs (what ``xbutil`` and the
XRT sensors read) averaged over one policy call, while the design runs at its chosen clock:

    power_w = static_w                                              idle card, xclbin loaded
            + board_per_chip_w * toggle / 12.5 * sum_r c_r * used_r * clock_mhz     logic
            + pj_per_bit * 8 * bytes_per_call / latency                             memory

- ``static_w``: the card idle with a Vitis xclbin loaded (shell, clocks, HBM or DDR refreshed,
  device leakage, fan, regulators); measured with ``xbutil``.
- the logic term: each used resource of the design's CUs (``lut``, ``dsp``, ``bram18``,
  ``uram``: device totals of the kernels, the shell excluded: it is in ``static_w``) costs
  ``c_r`` microwatts per MHz on the chip at Vivado's default activity (12.5% toggle rate,
  UG835 ``set_switching_activity``); ``toggle_pct`` scales it linearly (board power is close to
  linear in toggle rate: the xbtest power-CU sweeps) and ``board_per_chip_w`` turns chip watts
  into card watts (regulator losses: the chip-to-board bridge). AXI ports and clocking are
  counted through their LUTs (no figure isolates one port's power).
- the memory term: the energy per bit of off-chip traffic (HBM or DDR, the whole card's
  increase per bit read: the xbtest memory ramps) times the bytes the model moves per call
  (``bytes_per_call``, dse.model), spread over the call.

``energy_mj`` is ``power_w x latency_ms`` (one policy call, all cameras; millijoules) and
``energy_per_image_mj`` that over the call's images. A board file without a ``power:`` section
gives NaN in all three (and ``energy_mj`` cannot then be an objective: dse.config says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dse.platform import RESOURCES

#: Toggle rate (%) the per-resource coefficients hold at: Vivado's vectorless default
#: (UG835, set_switching_activity -default_toggle_rate: 12.5).
REFERENCE_TOGGLE_PCT = 12.5

#: Highest power figure any input may give, W: the platform schema's bound on ``static_w``,
#: above every Alveo card's rating (75-225 W); dse.powerfile and dse.reports refuse more.
MAX_POWER_W = 500.0

#: Result columns this module adds, in order.
POWER_COLUMNS = ("power_w", "energy_mj", "energy_per_image_mj")

#: Parts of ``power_w`` (:func:`breakdown`), in the order the figures stack them.
PARTS = ("static", *RESOURCES, "memory")


@dataclass(frozen=True)
class PowerModel:
    """The ``power:`` section of a platform file, typed.

    Attributes:
        static_w: the card idle with a Vitis xclbin loaded, W.
        uw_per_mhz: chip microwatts per used unit per MHz of each resource (RESOURCES order) at
            REFERENCE_TOGGLE_PCT.
        toggle_pct: the toggle rate the designs are assumed to run at, %.
        board_per_chip_w: card watts per chip watt of dynamic logic power.
        pj_per_bit: card energy per bit moved to or from the design memory, pJ.
    """

    static_w: float
    uw_per_mhz: tuple[float, float, float, float]
    toggle_pct: float
    board_per_chip_w: float
    pj_per_bit: float

    @property
    def logic_scale(self) -> float:
        """Card watts per chip watt at the reference toggle rate, times the toggle ratio."""
        return self.board_per_chip_w * self.toggle_pct / REFERENCE_TOGGLE_PCT


def power_model(raw: Mapping[str, Any]) -> PowerModel | None:
    """The power model of a validated platform file (its raw dictionary), or None when it has
    no ``power:`` section."""
    spec = raw.get("power")
    if not spec:
        return None
    per = spec["uw_per_mhz"]
    kind = raw["design_memory"]
    return PowerModel(
        static_w=float(spec["static_w"]),
        uw_per_mhz=tuple(float(per[r]) for r in RESOURCES),  # type: ignore[arg-type]
        toggle_pct=float(spec["toggle_pct"]),
        board_per_chip_w=float(spec["board_per_chip_w"]),
        pj_per_bit=float(spec["pj_per_bit"][kind]),
    )


def breakdown(pm: PowerModel, c: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Card watts of each part of :data:`PARTS` for evaluated designs (``c``: result columns
    with ``lut``, ``dsp``, ``bram18``, ``uram``, ``clock_mhz``, ``latency_ms`` and
    ``bytes_per_call``), one array per part."""
    clk = np.asarray(c["clock_mhz"], dtype=np.float64)
    out: dict[str, np.ndarray] = {"static": np.full(len(clk), pm.static_w)}
    for r, name in enumerate(RESOURCES):
        used = np.asarray(c[name], dtype=np.float64)
        out[name] = pm.logic_scale * pm.uw_per_mhz[r] * 1e-6 * used * clk
    lat_s = np.asarray(c["latency_ms"], dtype=np.float64) * 1e-3
    bits = 8.0 * np.asarray(c["bytes_per_call"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["memory"] = np.where(lat_s > 0, pm.pj_per_bit * 1e-12 * bits / lat_s, 0.0)
    return out


def power_columns(
    raw: Mapping[str, Any], c: Mapping[str, np.ndarray], cameras: int
) -> dict[str, np.ndarray]:
    """The :data:`POWER_COLUMNS` of evaluated designs (NaN without a ``power:`` section).

    Args:
        raw: the platform file, validated.
        c: result columns (see :func:`breakdown`).
        cameras: images per policy call.
    """
    lat = np.asarray(c["latency_ms"], dtype=np.float64)
    pm = power_model(raw)
    if pm is None:
        nan = np.full(len(lat), np.nan)
        return {name: nan.copy() for name in POWER_COLUMNS}
    power = np.sum(list(breakdown(pm, c).values()), axis=0)
    energy = power * lat  # W x ms = mJ
    return {"power_w": power, "energy_mj": energy, "energy_per_image_mj": energy / cameras}
