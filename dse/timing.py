"""Timing closure and SLR crossings of a batch of designs (arrays in, arrays out).

**Achievable clock.** A design's fmax follows from how full its fullest SLR is, resource by
resource, counting what the router sees (the CUs placed there plus the shell, as a fraction of
the SLR's raw resources), from DSP double pumping and from the SLLs its SLR crossings use::

    drop_r    = (base_mhz - full_mhz[r]) * max(u_r - knee[r], 0) / (1 - knee[r])
    fabric    = min_r max(base_mhz - drop_r, full_mhz[r])
    pumped    = min(fabric * (1 - pump_derate), pump_dsp_mhz / 2)        (double_pump only)
    fmax_mhz  = min(that * (1 - sll_derate * clip((s - sll_knee) / (1 - sll_knee), 0, 1)),
                    clock.max_kernel_mhz)

with ``u_r`` the raw fraction of resource ``r`` (RESOURCES order) on the SLR where it is
largest and ``s`` the busiest SLR boundary's SLLs as a fraction of the usable ones. The anchors
are in each platform file with their sources: the base clock is the platform clock that small
and floorplanned HLS designs reach; the LUT knee and full-SLR clock are fitted to published,
tool-placed HLS builds, the lowest curve their met clocks allow (floorplanned builds, AutoBridge's
and the hand-placed DPU's, have a curve of their own: dse.fit); DSP, BRAM and URAM
knees are UG949's per-SLR guidelines; the double-pumped DSP clock is the DPU's. The linear fall
between knee and full SLR is an assumption. The SLL derate and knee are fitted too (dse.fit):
no build read shows a cost of registered crossings, so the derate is 0, a bound at its grid's
edge (docs/calibration.md, "SLR crossings").

**The clock per design.** The kernel clock is chosen per design, as the mapper chooses its
runtime tiles (:class:`ClockPolicy`, config ``clock:``): fmax depends on the resources and the
SLLs only, never on the clock, and every latency term falls (or stays) when the clock rises, so
the best clock of a hardware design is exactly the highest one on the grid of ``step_mhz``
multiples that closes timing, ``floor(fmax_mhz / step_mhz) * step_mhz`` (:func:`choose_clock`;
capped by the platform's kernel clock and, for double-pumped DSPs, half their fmax). Every row
records the clock it got (``clock_mhz``) and its margin (``fmax_margin_mhz``). A *pinned* clock
(a fixed-clock platform, or a user who wants 300 MHz) runs every design at that clock instead,
and a design whose pinned ``clock_mhz`` exceeds its ``fmax_mhz`` is infeasible (violation
``clock_mhz for timing closure``), not derated: a derated row would carry a clock the design
never runs at. Neither fmax nor the crossing latency depends on a kernel's runtime tile, so the
mapper stays exact after the clock is set.

**SLR crossings.** Compute units (CUs) sit on SLRs by the platform's ``cu_slr_order`` (the
placement ``dse export`` writes as ``slr=``); every AXI port of a CU runs to its memory
channel's SLR, and its control port to the shell's SLR, crossing every boundary in between
(single-column stacks: SLR0-SLR1, SLR1-SLR2, ...). A port's SLLs are its data bits (the kernel
m_axi width, plus strobes when it writes) and its address and handshake signals; a port that
both reads and writes (streams sharing channels) has both. A boundary carrying more than its
usable SLLs is infeasible; the crossings are registered (AXI register slices), which adds
``crossing_cycles`` per boundary each way to every transaction's latency, charged to the CU
that crosses the most boundaries (the CUs are identical, the slowest sets the pace). Placement
is the platform's, not a design parameter: round robin over ``cu_slr_order`` already spreads
identical CUs as evenly as the SLRs allow. On the U280 the HBM switch's 32 ports cap what can
cross (two thirds of them at most): read-only and write-only ports stay under ~14,000 SLLs, and
only read-write ports (streams sharing channels, 1,294 SLLs each) can exceed the budget, e.g.
3 CUs of 10 shared ports put 26,094 SLLs on SLR0-SLR1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from dse.allocation import channel_allocation, cu_slrs
from dse.channels import channels_used
from dse.errors import UserError
from dse.platform import RESOURCES, Platform, Timing

#: Modes of the ``clock:`` config section.
CLOCK_MODES = ("per_design", "pinned")

#: Step of the per-design clock grid when the config gives none (MHz).
DEFAULT_STEP_MHZ = 5


@dataclass(frozen=True)
class ClockPolicy:
    """How the model sets each design's kernel clock (config ``clock:``).

    Attributes:
        mode: ``per_design`` (the highest multiple of ``step_mhz`` that closes timing) or
            ``pinned`` (every design at ``mhz``; above its fmax it is infeasible).
        step_mhz: grid step of the per-design clock, MHz.
        mhz: the pinned clock, MHz (pinned mode only).
    """

    mode: str = "per_design"
    step_mhz: int = DEFAULT_STEP_MHZ
    mhz: int | None = None

    def describe(self) -> str:
        """``per design, 5 MHz steps`` or ``pinned at 300 MHz`` (for logs and docs)."""
        if self.mode == "pinned":
            return f"pinned at {self.mhz} MHz"
        return f"per design, {self.step_mhz} MHz steps"


def clock_policy(raw: Mapping[str, Any] | None, platform: Platform, *,
                 file: str = "config") -> ClockPolicy:
    """The ``clock:`` section (already schema-checked) -> a :class:`ClockPolicy`.

    Raises:
        UserError: ``mhz`` missing in pinned mode or given in per-design mode, or a pinned clock
            above the platform's kernel clock limit (no design could run there).
    """
    raw = dict(raw or {})
    mode = str(raw.get("mode", "per_design"))
    step = int(raw.get("step_mhz", DEFAULT_STEP_MHZ))
    mhz = raw.get("mhz")
    if mode not in CLOCK_MODES:
        raise UserError("unknown clock mode", file=file, key="clock.mode", value=mode,
                        allowed=", ".join(CLOCK_MODES))
    if mode == "pinned":
        if mhz is None:
            raise UserError("a pinned clock needs its frequency", file=file, key="clock.mhz",
                            allowed=f"an integer MHz up to {platform.max_kernel_mhz:g}")
        if mhz > platform.max_kernel_mhz:
            raise UserError("pinned clock above the platform's kernel clock limit", file=file,
                            key="clock.mhz", value=mhz,
                            allowed=f"at most {platform.max_kernel_mhz:g} MHz")
        return ClockPolicy("pinned", step, int(mhz))
    if mhz is not None:
        raise UserError("clock.mhz pins the clock: only with mode: pinned", file=file,
                        key="clock.mhz", value=mhz,
                        allowed="no mhz with mode: per_design (or mode: pinned)")
    return ClockPolicy("per_design", step, None)


def timing_margin(platform: Platform) -> float:
    """Fraction of its fmax a per-design clock may use: 1 + the low end of the platform's
    ``uncertainty.fmax_mhz`` interval (dse calibrate: the 10th percentile of the held-out ratio
    published / predicted, minus 1; 1.0 without it, and never above 1)."""
    spec = ((platform.raw.get("uncertainty") or {}).get("fmax_mhz") or {})
    lo = float(spec.get("lo", 0.0))
    return min(1.0, max(0.0, 1.0 + lo))


def choose_clock(policy: ClockPolicy, platform: Platform, fmax: np.ndarray,
                 pump: np.ndarray | None = None) -> np.ndarray:
    """The kernel clock of each design in MHz (float64) under ``policy``.

    Per design: the highest multiple of ``step_mhz`` at or below the design's pessimistic fmax
    (fmax x :func:`timing_margin`), the platform's
    ``max_kernel_mhz`` and (double pumped) half the DSPs' fmax; at least one step (a design whose
    fmax is below one step is then infeasible on timing). Pinned: ``policy.mhz`` everywhere.

    Args:
        policy: the clock policy.
        platform: the board.
        fmax: (n,) achievable clock of each design, MHz (:func:`fmax_mhz`).
        pump: (n,) DSPs double pumped (None: none).
    """
    fmax = np.asarray(fmax, dtype=np.float64)
    if policy.mode == "pinned":
        return np.full(fmax.shape, float(policy.mhz))
    # the timing margin: the clock stays at or below the pessimistic fmax (the held-out fmax
    # error's 10th percentile, the platform's uncertainty section; none without it)
    top = np.minimum(fmax * timing_margin(platform), platform.max_kernel_mhz)
    if pump is not None:
        pump = np.asarray(pump, dtype=bool)
        if pump.any():
            top = np.where(pump, np.minimum(top, platform.dsp_max_mhz / 2.0), top)
    step = float(policy.step_mhz)
    clk = np.floor(top / step) * step
    clk = np.where(clk > top, clk - step, clk)  # a quotient rounded up to the next integer
    return np.maximum(clk, step)


def raw_fractions(
    platform: Platform,
    per_cu: np.ndarray,
    frac: list[np.ndarray],
    ci: np.ndarray,
    cus: np.ndarray,
    tight: np.ndarray,
) -> list[np.ndarray]:
    """Per resource, the largest fraction of one SLR's raw resources in use (shell included).

    Two SLRs can hold that largest fraction: the one the model already finds fullest (the
    smallest budget per CU after the shell and the margin, ``tight``) and the shell's SLR (its
    fixed share). Any other SLR s with fewer CUs per budget is no fuller, for every design that
    fits: with X = CUs x use on the tightest SLR t, s holds at most X (1 - m) / avail_t of its
    raw resources, and X (1 - m) / avail_t <= (X + shell_t) / raw_t exactly when
    X + shell_t <= (1 - m) raw_t. So two candidates give the exact maximum at the cost of a few
    array operations (one when the tightest SLR is the shell's for every CU count, as on the
    U280).

    Args:
        platform: the board.
        per_cu: (n, 4) resources of one CU (RESOURCES order).
        frac: per resource, per_cu over the tightest SLR's budget per CU (the util_* columns).
        ci: (n,) CU counts.
        cus: (c, n_slr) CUs per SLR by CU count; tight: (c, 4) the tightest SLR by CU count.
    """
    raw, shell, avail = platform.slr_raw, platform.slr_shell, platform.slr_available
    sh = int(platform.raw["shell"]["slr"])
    cmax = int(ci.max()) if len(ci) else 0
    rows = np.arange(len(cus))
    out = []
    for r in range(len(RESOURCES)):
        t = tight[:, r]
        present = t[1 : cmax + 1]
        s = int(present[0]) if len(present) else 0
        if len(present) and (present == s).all() and avail[s, r] > 0:
            u = frac[r] * (avail[s, r] / raw[s, r]) + shell[s, r] / raw[s, r]
        else:
            a = (cus[rows, t] / raw[t, r]).take(ci)
            u = per_cu[:, r] * a + (shell[t, r] / raw[t, r]).take(ci)
        if shell[sh, r] > 0 and (present != sh).any():
            a = (cus[:, sh] / raw[sh, r]).take(ci)
            u = np.maximum(u, per_cu[:, r] * a + shell[sh, r] / raw[sh, r])
        out.append(u)
    return out


def fmax_mhz(
    platform: Platform, fractions: list[np.ndarray], pump: np.ndarray, sll_fraction: np.ndarray
) -> np.ndarray:
    """The achievable kernel clock in MHz (module docstring) of each design.

    Args:
        platform: the board (its ``timing`` and ``max_kernel_mhz``).
        fractions: per resource (RESOURCES order), the raw fraction of its fullest SLR.
        pump: (n,) DSPs double pumped.
        sll_fraction: (n,) busiest boundary's SLLs / the usable SLLs.
    """
    t: Timing = platform.timing
    f = None
    for r, u in enumerate(fractions):
        # each resource's fall stops at its own full-SLR clock: past a full SLR (infeasible on
        # resources anyway) a resource costs no more than a full SLR of it, so one over-full
        # resource does not set the clock of another's full SLR (the DPU's double-pumped DSPs,
        # counted twice by a model without pumping, at the DSP's 250 MHz, not the LUT's)
        slope = (t.base_mhz - t.full_mhz[r]) / (1.0 - t.knee[r])
        fr = np.maximum(t.base_mhz - slope * np.maximum(u - t.knee[r], 0.0), t.full_mhz[r])
        f = fr if f is None else np.minimum(f, fr)
    pump = np.asarray(pump, dtype=bool)
    if pump.any():
        f = np.where(pump, np.minimum(f * (1.0 - t.pump_derate), t.pump_dsp_mhz / 2.0), f)
    k = t.sll_knee
    over = sll_fraction > k
    if over.any():
        f = f * (1.0 - np.clip(sll_fraction - k, 0.0, 1.0 - k) * (t.sll_derate / (1.0 - k)))
    return np.minimum(f, platform.max_kernel_mhz)


def _port_bits(platform: Platform) -> tuple[float, float]:
    """SLLs of one read port (data + ``axi_read_bits``) and one write port (data, strobes =
    data / 8, ``axi_write_bits``)."""
    t, width = platform.timing, float(platform.memory.kernel_port_bits)
    return width + t.axi_read_bits, width * 1.125 + t.axi_write_bits


def port_slls(platform: Platform, w, i, o, share_weights, share_streams) -> np.ndarray:
    """SLLs of one CU's memory ports if all of them cross a boundary (control port excluded).

    Read ports (weights, inputs) carry data + ``axi_read_bits``; write ports (outputs) data,
    strobes (data / 8) and ``axi_write_bits``; a port that streams sharing channels read and
    write through carries both (dse.channels.ports_per_cu counts the same ports).
    """
    rd, wr = _port_bits(platform)
    w, i, o = (np.asarray(x) for x in (w, i, o))
    plain = (w + i) * rd + o * wr
    ss = np.asarray(share_streams, dtype=bool)
    if not ss.any():
        return plain
    sw = np.asarray(share_weights, dtype=bool)
    act = np.maximum(i, o)
    shared = np.where(sw, w * rd + act * (rd + wr), np.maximum(w, act) * (rd + wr))
    return np.where(ss, shared, plain)


@lru_cache(maxsize=32)
def _tables(
    order: tuple[int, ...], n_slr: int, mem_slr: int, shell_slr: int, max_cu: int,
    control_bits: int,
):
    """For 0..max_cu CUs placed by ``order`` (float32): CUs whose memory path crosses each
    boundary (c, n_slr - 1), SLLs of the control ports crossing it, and the most boundaries a
    CU's memory path crosses (c,)."""
    nb = max(n_slr - 1, 0)
    mem = np.zeros((max_cu + 1, nb))
    ctl = np.zeros((max_cu + 1, nb))
    hops = np.zeros(max_cu + 1)
    for c in range(1, max_cu + 1):
        s = order[(c - 1) % len(order)]  # the c-th CU's SLR
        mem[c], ctl[c], hops[c] = mem[c - 1], ctl[c - 1], max(hops[c - 1], abs(s - mem_slr))
        mem[c, min(s, mem_slr) : max(s, mem_slr)] += 1
        ctl[c, min(s, shell_slr) : max(s, shell_slr)] += 1
    return mem.astype(np.float32), (ctl * control_bits).astype(np.float32), hops.astype(np.float32)


def crossings(
    platform: Platform,
    d: Mapping[str, np.ndarray],
    *,
    floats: Mapping[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """SLLs each SLR boundary carries, (n_slr - 1, n), and the most boundaries any CU's memory
    path crosses, (n,), for designs given as parameter arrays (``floats``: the same channel
    counts already as floats, to save a conversion).

    On a board whose design memory sits on one SLR (HBM) this is a table lookup by CU count;
    where the channels are spread over SLRs (DDR banks) each distinct channel layout is
    allocated exactly as ``dse export`` allocates it (dse.allocation) and its ports counted.
    """
    P, t = platform, platform.timing
    n_slr = len(P.slr_names)
    cu = np.asarray(d["compute_units"]).astype(np.intp, copy=False)
    n = len(cu)
    ss = d.get("share_streams")
    ss = np.zeros(n, dtype=bool) if ss is None else np.asarray(ss, dtype=bool)
    sw = np.asarray(d["share_weights"], dtype=bool)
    src = floats if floats is not None else d
    w, i, o = (src[k] for k in ("pc_weights", "pc_inputs", "pc_outputs"))
    mem_slrs = set(P.memory.channel_slrs)
    if n_slr < 2 or n == 0:
        return np.zeros((max(n_slr - 1, 0), n)), np.zeros(n)
    if len(mem_slrs) == 1:
        shell_slr = int(P.raw["shell"]["slr"])
        mem_t, ctl_t, hop_t = _tables(
            tuple(P.cu_slr_order), n_slr, mem_slrs.pop(), shell_slr, int(cu.max()),
            t.control_bits_per_cu,
        )
        bits = port_slls(P, w, i, o, sw, ss)
        slls = np.empty((n_slr - 1, n), dtype=np.float32)
        for b, row in enumerate(slls):
            np.multiply(bits, mem_t[:, b].take(cu), out=row)
            row += ctl_t[:, b].take(cu)
        return slls, hop_t.take(cu)
    ints = [np.asarray(d[k]).astype(np.intp, copy=False) for k in ("pc_weights", "pc_inputs",
                                                                    "pc_outputs")]
    return _spread(P, cu, *ints, sw, ss)


def _spread(P: Platform, cu, w, i, o, sw, ss) -> tuple[np.ndarray, np.ndarray]:
    """:func:`crossings` for channels on several SLRs: one exact allocation per distinct
    (channels per stream, CUs, sharing) among the designs whose channels fit the board (the
    others are infeasible on channels already and get no crossings)."""
    n_slr, t, mem = len(P.slr_names), P.timing, P.memory
    nb = n_slr - 1
    slls, hops = np.zeros((nb, len(cu))), np.zeros(len(cu))
    fits = channels_used(w, i, o, cu, sw, ss) <= mem.usable_channels
    keys = np.stack([w, i, o, cu, sw.astype(np.intp), ss.astype(np.intp)], axis=1)
    rows = np.flatnonzero(fits)
    if not len(rows):
        return slls, hops
    uniq, inv = np.unique(keys[rows], axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    rd, wr = _port_bits(P)
    shell_slr = int(P.raw["shell"]["slr"])
    u_slls, u_hops = np.zeros((len(uniq), nb)), np.zeros(len(uniq))
    for j, (w_, i_, o_, c_, sw_, ss_) in enumerate(uniq.tolist()):
        design = dict(pc_weights=w_, pc_inputs=i_, pc_outputs=o_, compute_units=c_,
                      share_weights=bool(sw_), share_streams=bool(ss_))
        units = channel_allocation(design, pseudo_channels=mem.channels,
                                   channel_slrs=mem.channel_slrs, cu_slr_order=P.cu_slr_order,
                                   tag=mem.tag)
        for unit, s in zip(units, cu_slrs(c_, P.cu_slr_order), strict=True):
            if not ss_:
                ports = [(ch, rd) for ch in unit["weights"] + unit["inputs"]]
                ports += [(ch, wr) for ch in unit["outputs"]]
            elif sw_:
                ports = [(ch, rd) for ch in unit["weights"]]
                ports += [(ch, rd + wr) for ch in unit["inputs"]]
            else:
                ports = [(ch, rd + wr) for ch in unit["weights"]]
            for ch, bits in ports:
                m = mem.channel_slrs[ch]
                u_slls[j, min(s, m) : max(s, m)] += bits
                u_hops[j] = max(u_hops[j], abs(s - m))
            u_slls[j, min(s, shell_slr) : max(s, shell_slr)] += t.control_bits_per_cu
    slls[:, rows], hops[rows] = u_slls[inv].T, u_hops[inv]
    return slls, hops
