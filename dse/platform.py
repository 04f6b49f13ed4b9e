"""The board: resources per SLR and in total, shell reservation, HBM, clocks, precision table.

Peaks are derived from DSP count, packing and clock; they are never typed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dse.errors import UserError
from dse.params import PRECISIONS

RESOURCES = ("lut", "dsp", "bram18", "uram")


@dataclass(frozen=True)
class Hbm:
    """HBM figures (see configs/platforms/*.yaml for sources). Rates in GB/s, latencies in ns."""

    pseudo_channels: int
    usable_pcs: int
    max_ports: int
    pc_theoretical_gbps: float
    pc_measured_gbps: float
    read_latency_ns: float
    write_latency_ns: float
    outstanding: int
    lateral_efficiency: float
    pcs_per_switch: int
    max_burst_bytes: int
    port_bits: int
    port_mhz: float
    kernel_port_bits: int


@dataclass(frozen=True)
class Platform:
    """A typed, validated platform.

    Attributes:
        name: short name (``u280``).
        slr_names: SLR names in index order.
        slr_available: (n_slr, 4) resources a kernel may use per SLR after the shell and the margin,
            columns in ``RESOURCES`` order.
        total_available: (4,) the sum over SLRs.
        device: (4,) raw device totals.
        prec_bits / prec_acc_bits / prec_lut_per_mac: per precision (``PRECISIONS`` order).
        macs_per_dsp: (4, 4) MACs per DSP for [weight, activation] precision codes.
        acc_bits: (4, 4) accumulator bits for [weight, activation].
        lut_per_mac: (4, 4) LUT per MAC for [weight, activation] (the wider mode's cost).
    """

    name: str
    raw: dict[str, Any]
    slr_names: tuple[str, ...]
    slr_available: np.ndarray
    total_available: np.ndarray
    device: np.ndarray
    cu_slr_order: tuple[int, ...]
    default_mhz: float
    max_kernel_mhz: float
    dsp_max_mhz: float
    hbm: Hbm
    prec_bits: np.ndarray
    macs_per_dsp: np.ndarray
    acc_bits: np.ndarray
    lut_per_mac: np.ndarray
    logic: dict[str, Any]

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], *, source: str | Path = "platform") -> Platform:
        src = str(source)
        precs = raw["precisions"]
        missing = [p for p in PRECISIONS if p not in precs]
        if missing:
            raise UserError(
                "precision table incomplete",
                file=src,
                key=f"precisions.{missing[0]}",
                allowed="entries for " + ", ".join(PRECISIONS),
            )
        slrs = raw["slrs"]
        table = np.array([[s[r] for r in RESOURCES] for s in slrs], dtype=float)
        device = np.array([raw["resources"][r] for r in RESOURCES], dtype=float)
        if not np.allclose(table.sum(axis=0), device):
            raise UserError(
                "per-SLR resources do not add up to the device totals",
                file=src,
                key="slrs",
                value=dict(zip(RESOURCES, table.sum(axis=0).tolist(), strict=True)),
                allowed=f"sums equal to resources {raw['resources']}",
            )
        shell = raw["shell"]
        if shell["slr"] >= len(slrs):
            raise UserError(
                "shell SLR does not exist",
                file=src,
                key="shell.slr",
                value=shell["slr"],
                allowed=f"0..{len(slrs) - 1}",
            )
        for i, s in enumerate(raw["cu_slr_order"]):
            if s >= len(slrs):
                raise UserError(
                    "SLR index does not exist",
                    file=src,
                    key=f"cu_slr_order[{i}]",
                    value=s,
                    allowed=f"0..{len(slrs) - 1}",
                )
        names = [s["name"] for s in slrs]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise UserError(
                    "SLR name used twice",
                    file=src,
                    key=f"slrs[{i}].name",
                    value=name,
                    allowed="distinct names",
                )
        avail = table * (1.0 - raw["margin"])
        for j, r in enumerate(RESOURCES):  # the shell leaves its SLR some of every resource
            room = avail[shell["slr"], j]
            if shell[r] >= room:
                raise UserError(
                    "the shell takes all of its SLR's "
                    + r
                    + (f" after the {raw['margin']:g} margin" if raw["margin"] else ""),
                    file=src,
                    key=f"shell.{r}",
                    value=shell[r],
                    allowed=f"less than {room:g} (of {table[shell['slr'], j]:g} in "
                    f"{names[shell['slr']]})",
                )
        avail[shell["slr"]] -= np.array([shell[r] for r in RESOURCES], dtype=float)
        _check_clock(raw["clock"], src)
        _check_hbm(raw["hbm"], src)
        for p in PRECISIONS:
            if precs[p]["acc_bits"] < precs[p]["bits"]:
                raise UserError(
                    "accumulator narrower than the element",
                    file=src,
                    key=f"precisions.{p}.acc_bits",
                    value=precs[p]["acc_bits"],
                    allowed=f"{precs[p]['bits']}..64 (at least bits)",
                )
        bits = np.array([precs[p]["bits"] for p in PRECISIONS], dtype=float)
        acc = np.array([precs[p]["acc_bits"] for p in PRECISIONS], dtype=float)
        mpd = np.array([precs[p]["macs_per_dsp"] for p in PRECISIONS], dtype=float)
        lpm = np.array([precs[p]["lut_per_mac"] for p in PRECISIONS], dtype=float)
        # The engine pays for the wider of the two operands; a listed mixed pair overrides.
        n = len(PRECISIONS)
        wider = np.where(
            bits[:, None] >= bits[None, :], np.arange(n)[:, None], np.arange(n)[None, :]
        )
        macs = mpd[wider].copy()
        for key, value in raw["mixed_mac"].items():
            w, a = key.split("x")
            if w not in PRECISIONS or a not in PRECISIONS:
                raise UserError(
                    "unknown precision in mixed pair",
                    file=src,
                    key=f"mixed_mac.{key}",
                    allowed="WxA with W, A in " + ", ".join(PRECISIONS),
                )
            macs[PRECISIONS.index(w), PRECISIONS.index(a)] = value
        hbm = Hbm(**raw["hbm"])
        return cls(
            name=raw["name"],
            raw=raw,
            slr_names=tuple(s["name"] for s in slrs),
            slr_available=avail,
            total_available=avail.sum(axis=0),
            device=device,
            cu_slr_order=tuple(raw["cu_slr_order"]),
            default_mhz=raw["clock"]["default_mhz"],
            max_kernel_mhz=raw["clock"]["max_kernel_mhz"],
            dsp_max_mhz=raw["clock"]["dsp_max_mhz"],
            hbm=hbm,
            prec_bits=bits,
            macs_per_dsp=macs,
            acc_bits=np.maximum(acc[:, None], acc[None, :]),
            lut_per_mac=lpm[wider],
            logic=dict(raw["logic"]),
        )

    def peak_ops(
        self, precision: str, *, clock_mhz: float | None = None, double_pump: bool = False
    ) -> float:
        """Peak ops/s (2 ops per MAC) with every DSP of the device doing ``precision`` MACs.

        Example: INT8 at 300 MHz = 9,024 DSP x 2 MAC x 2 op x 0.3 GHz = 10.83 TOPS.
        """
        i = PRECISIONS.index(precision)
        f = (clock_mhz or self.default_mhz) * 1e6
        pump = 2.0 if double_pump else 1.0
        return float(self.device[RESOURCES.index("dsp")] * self.macs_per_dsp[i, i] * 2 * f * pump)


def _check_clock(clock: dict[str, Any], src: str) -> None:
    """The default clock within the shell's limit; DSPs as fast as any kernel clock."""
    if clock["default_mhz"] > clock["max_kernel_mhz"]:
        raise UserError(
            "default clock above the kernel clock limit",
            file=src,
            key="clock.default_mhz",
            value=clock["default_mhz"],
            allowed=f"<= clock.max_kernel_mhz ({clock['max_kernel_mhz']:g})",
        )
    if clock["dsp_max_mhz"] < clock["max_kernel_mhz"]:
        raise UserError(
            "DSP clock limit below the kernel clock limit (the model lets kernels run up to "
            "max_kernel_mhz)",
            file=src,
            key="clock.dsp_max_mhz",
            value=clock["dsp_max_mhz"],
            allowed=f">= clock.max_kernel_mhz ({clock['max_kernel_mhz']:g})",
        )


def _check_hbm(hbm: dict[str, Any], src: str) -> None:
    """Channel counts within the board's; the measured rate within the theoretical one."""
    for key in ("usable_pcs", "pcs_per_switch"):
        if hbm[key] > hbm["pseudo_channels"]:
            raise UserError(
                "more pseudo-channels than the board has",
                file=src,
                key=f"hbm.{key}",
                value=hbm[key],
                allowed=f"1..hbm.pseudo_channels ({hbm['pseudo_channels']})",
            )
    if hbm["pc_measured_gbps"] > hbm["pc_theoretical_gbps"]:
        raise UserError(
            "measured rate above the theoretical rate",
            file=src,
            key="hbm.pc_measured_gbps",
            value=hbm["pc_measured_gbps"],
            allowed=f"<= hbm.pc_theoretical_gbps ({hbm['pc_theoretical_gbps']:g})",
        )
