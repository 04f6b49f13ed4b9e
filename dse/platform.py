"""The board: resources per SLR and in total, shell reservation, off-chip memories (HBM
pseudo-channels and DDR banks, one abstraction), clocks, precision table.

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


#: Memory kinds a board may carry; the upper-case name is the ``sp=...:HBM[n]`` / ``DDR[n]`` tag.
MEMORY_KINDS = ("hbm", "ddr")


@dataclass(frozen=True)
class Memory:
    """One off-chip memory of the board: HBM pseudo-channels or DDR banks, both called channels
    here (see configs/platforms/*.yaml for sources). Rates in GB/s, latencies in ns.

    Attributes:
        kind: ``hbm`` or ``ddr``; ``tag`` (``HBM``/``DDR``) names its banks in ``link.cfg``.
        channels: channels the board has (U280 HBM: 32 PCs; U250 DDR4: 4 banks).
        usable_channels: channels a kernel may use.
        max_ports: kernel AXI ports the memory subsystem accepts.
        channel_theoretical_gbps / channel_measured_gbps: per channel.
        read_latency_ns / write_latency_ns: latency in the burst model (dse.channels).
        outstanding: bursts an m_axi adapter keeps in flight.
        lateral_efficiency: fraction of the local rate left for traffic that crosses a switch
            (HBM); 1 where no such penalty applies (DDR).
        channels_per_switch: channels per HBM mini-switch (DDR: 1, each bank on its own).
        max_burst_bytes: longest AXI burst in bytes.
        port_bits / port_mhz: the memory-side AXI port; kernel_port_bits: the widest m_axi port.
        channel_mib: capacity of one channel in MiB (what the buffers on it may hold).
        channel_slrs: SLR each channel attaches to (one entry per channel).
    """

    kind: str
    channels: int
    usable_channels: int
    max_ports: int
    channel_theoretical_gbps: float
    channel_measured_gbps: float
    read_latency_ns: float
    write_latency_ns: float
    outstanding: int
    lateral_efficiency: float
    channels_per_switch: int
    max_burst_bytes: int
    port_bits: int
    port_mhz: float
    kernel_port_bits: int
    channel_mib: int
    channel_slrs: tuple[int, ...]

    @property
    def tag(self) -> str:
        """The bank name in v++ ``sp`` options: ``HBM`` or ``DDR``."""
        return self.kind.upper()

    @property
    def theoretical_gbps(self) -> float:
        """All channels at their theoretical rate, GB/s (U280 HBM: 32 x 14.375 = 460)."""
        return self.channels * self.channel_theoretical_gbps


@dataclass(frozen=True)
class Timing:
    """The achievable-clock model of a board and its SLR crossings (``timing:`` in the platform
    file; the formula is in :mod:`dse.timing`). Clocks in MHz, fractions of one SLR's raw
    resources (the shell included), SLL wires per SLR boundary.

    Attributes:
        base_mhz: fmax of an HLS kernel on SLRs used below every knee.
        knee: (4,) fraction of an SLR per resource (RESOURCES order) above which fmax falls.
        full_mhz: (4,) fmax with that resource at 100% of its SLR (linear from the knee).
        pump_dsp_mhz: the fastest double-pumped DSP clock that closes (kernel clock <= half).
        pump_derate: fraction of fmax a double-pumped design loses (the 2x clock domain).
        sll_per_boundary: SLL wires between two adjacent SLRs.
        sll_usable: fraction of them a design may use (the rest: shell, routing slack).
        sll_knee: fraction of the usable SLLs of a boundary above which fmax falls.
        sll_derate: fraction of fmax lost when the busiest boundary's usable SLLs are all used
            (linear from the knee).
        crossing_cycles: register stages (kernel-clock cycles) per boundary and direction.
        axi_read_bits / axi_write_bits: SLLs of a read / write AXI4 port beside its data bits
            (address channel, handshakes; the write data's strobes count extra: width / 8).
        control_bits_per_cu: SLLs of a CU's AXI4-Lite control port and interrupt.
    """

    base_mhz: float
    knee: np.ndarray
    full_mhz: np.ndarray
    pump_dsp_mhz: float
    pump_derate: float
    sll_per_boundary: int
    sll_usable: float
    sll_knee: float
    sll_derate: float
    crossing_cycles: float
    axi_read_bits: int
    axi_write_bits: int
    control_bits_per_cu: int

    @property
    def sll_limit(self) -> float:
        """SLLs a design may use on one boundary: ``sll_per_boundary x sll_usable``."""
        return self.sll_per_boundary * self.sll_usable


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
        memory: the memory the designs stream from (``design_memory``); the design parameters
            ``pc_weights/pc_inputs/pc_outputs`` count its channels (PCs on HBM, banks on DDR).
        memories: every memory of the board by kind (U280: ``hbm`` and ``ddr``).
        slr_raw: (n_slr, 4) each SLR's resources as the data sheet gives them.
        slr_shell: (n_slr, 4) what the shell takes on each SLR (zero outside its SLR).
        timing: the achievable-clock and SLR-crossing model (dse.timing).
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
    memory: Memory
    memories: dict[str, Memory]
    prec_bits: np.ndarray
    macs_per_dsp: np.ndarray
    acc_bits: np.ndarray
    lut_per_mac: np.ndarray
    logic: dict[str, Any]
    slr_raw: np.ndarray
    slr_shell: np.ndarray
    timing: Timing

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
        margin = raw["margin"]  # one fraction for every resource, or one per resource
        mvec = np.array(
            [margin[r] for r in RESOURCES] if isinstance(margin, dict) else [margin] * 4,
            dtype=float,
        )
        avail = table * (1.0 - mvec)
        for j, r in enumerate(RESOURCES):  # the shell leaves its SLR some of every resource
            room = avail[shell["slr"], j]
            if shell[r] >= room:
                raise UserError(
                    "the shell takes all of its SLR's "
                    + r
                    + (f" after the {mvec[j]:g} margin" if mvec[j] else ""),
                    file=src,
                    key=f"shell.{r}",
                    value=shell[r],
                    allowed=f"less than {room:g} (of {table[shell['slr'], j]:g} in "
                    f"{names[shell['slr']]})",
                )
        shell_use = np.zeros_like(table)
        shell_use[shell["slr"]] = [shell[r] for r in RESOURCES]
        avail -= shell_use
        _check_clock(raw["clock"], src)
        timing = _timing(raw["timing"], raw["clock"], src)
        memories = {
            kind: _memory(kind, spec, len(slrs), src) for kind, spec in raw["memories"].items()
        }
        if raw["design_memory"] not in memories:
            raise UserError(
                "design memory not described",
                file=src,
                key="design_memory",
                value=raw["design_memory"],
                allowed="one of memories: " + ", ".join(memories),
            )
        power = raw.get("power")  # dse.power: the memory term is the design memory's
        if power and raw["design_memory"] not in power["pj_per_bit"]:
            raise UserError(
                "no energy per bit for the design memory",
                file=src,
                key="power.pj_per_bit",
                value=", ".join(power["pj_per_bit"]) or "none",
                allowed=f"an entry {raw['design_memory']} (design_memory)",
            )
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
            memory=memories[raw["design_memory"]],
            memories=memories,
            prec_bits=bits,
            macs_per_dsp=macs,
            acc_bits=np.maximum(acc[:, None], acc[None, :]),
            lut_per_mac=lpm[wider],
            logic=dict(raw["logic"]),
            slr_raw=table,
            slr_shell=shell_use,
            timing=timing,
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


def _timing(spec: dict[str, Any], clock: dict[str, Any], src: str) -> Timing:
    """A typed timing model after the checks across its fields: the clock at 100% of an SLR
    no faster than below the knee, the double-pumped DSP clock within the DSP48E2's limit."""
    for r in RESOURCES:
        if spec["full_mhz"][r] > spec["base_mhz"]:
            raise UserError(
                "fmax at a full SLR above fmax below the knee (the curve must not rise)",
                file=src,
                key=f"timing.full_mhz.{r}",
                value=spec["full_mhz"][r],
                allowed=f"<= timing.base_mhz ({spec['base_mhz']:g})",
            )
    if spec["pump_dsp_mhz"] > clock["dsp_max_mhz"]:
        raise UserError(
            "double-pumped DSP clock above the DSP limit",
            file=src,
            key="timing.pump_dsp_mhz",
            value=spec["pump_dsp_mhz"],
            allowed=f"<= clock.dsp_max_mhz ({clock['dsp_max_mhz']:g})",
        )
    return Timing(
        base_mhz=float(spec["base_mhz"]),
        knee=np.array([spec["knee"][r] for r in RESOURCES], dtype=float),
        full_mhz=np.array([spec["full_mhz"][r] for r in RESOURCES], dtype=float),
        pump_dsp_mhz=float(spec["pump_dsp_mhz"]),
        pump_derate=float(spec["pump_derate"]),
        sll_per_boundary=int(spec["sll_per_boundary"]),
        sll_usable=float(spec["sll_usable"]),
        sll_knee=float(spec["sll_knee"]),
        sll_derate=float(spec["sll_derate"]),
        crossing_cycles=float(spec["crossing_cycles"]),
        axi_read_bits=int(spec["axi_read_bits"]),
        axi_write_bits=int(spec["axi_write_bits"]),
        control_bits_per_cu=int(spec["control_bits_per_cu"]),
    )


def _memory(kind: str, spec: dict[str, Any], n_slr: int, src: str) -> Memory:
    """A typed memory after the checks across its fields: channel counts within the board's,
    the measured rate within the theoretical one, every channel on an existing SLR."""
    if kind not in MEMORY_KINDS:
        raise UserError(
            "unknown memory kind",
            file=src,
            key=f"memories.{kind}",
            allowed=", ".join(MEMORY_KINDS),
        )
    for key in ("usable_channels", "channels_per_switch"):
        if spec[key] > spec["channels"]:
            raise UserError(
                "more channels than the memory has",
                file=src,
                key=f"memories.{kind}.{key}",
                value=spec[key],
                allowed=f"1..memories.{kind}.channels ({spec['channels']})",
            )
    if spec["channel_measured_gbps"] > spec["channel_theoretical_gbps"]:
        raise UserError(
            "measured rate above the theoretical rate",
            file=src,
            key=f"memories.{kind}.channel_measured_gbps",
            value=spec["channel_measured_gbps"],
            allowed=f"<= memories.{kind}.channel_theoretical_gbps "
            f"({spec['channel_theoretical_gbps']:g})",
        )
    slr_of = list(spec["channel_slrs"])
    if len(slr_of) == 1:  # one entry: every channel on that SLR (HBM stacks sit under SLR0)
        slr_of = slr_of * spec["channels"]
    if len(slr_of) != spec["channels"]:
        raise UserError(
            "one SLR per channel needed",
            file=src,
            key=f"memories.{kind}.channel_slrs",
            value=spec["channel_slrs"],
            allowed=f"a list of 1 or {spec['channels']} SLR indices",
        )
    for i, s in enumerate(slr_of):
        if s >= n_slr:
            raise UserError(
                "SLR index does not exist",
                file=src,
                key=f"memories.{kind}.channel_slrs[{i}]",
                value=s,
                allowed=f"0..{n_slr - 1}",
            )
    fields = {k: v for k, v in spec.items() if k != "channel_slrs"}
    return Memory(kind=kind, channel_slrs=tuple(int(s) for s in slr_of), **fields)
