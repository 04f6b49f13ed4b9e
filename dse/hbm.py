"""HBM: pseudo-channel allocation per stream -> effective bandwidth in GB/s (facts.md §2).

Per pseudo-channel, a stream reached through its own AXI port sustains (HBM Connect, FPGA'21)

    BW(B) = B / (B / R + LAT / outstanding)

where B is the burst length in bytes, R the channel's measured rate capped by the AXI port
(width x clock, on both the HBM side and the kernel side), LAT the read or write latency and
``outstanding`` the bursts an m_axi adapter keeps in flight. A fraction ``lateral`` of the
traffic crosses the switch to a non-local channel and runs at ``lateral_efficiency`` of that rate.
A stream with ``n`` channels gets ``n`` such ports in parallel.
"""

from __future__ import annotations

import numpy as np

from dse.platform import Hbm


def port_cap_gbps(hbm: Hbm, clock_mhz):
    """The AXI port cap in GB/s: min(HBM-side port, kernel-side m_axi port at the kernel clock)."""
    hbm_side = hbm.port_bits / 8 * hbm.port_mhz * 1e-3
    kernel_side = hbm.kernel_port_bits / 8 * np.asarray(clock_mhz) * 1e-3
    return np.minimum(hbm_side, kernel_side)


def channel_gbps(hbm: Hbm, burst_bytes, *, clock_mhz, write=False, lateral=0.0):
    """Sustained GB/s of one pseudo-channel for bursts of ``burst_bytes``."""
    b = np.minimum(np.asarray(burst_bytes, dtype=float), hbm.max_burst_bytes)
    rate = np.minimum(hbm.pc_measured_gbps, port_cap_gbps(hbm, clock_mhz))  # GB/s == bytes/ns
    lat = (hbm.write_latency_ns if write else hbm.read_latency_ns) / hbm.outstanding
    local = b / (b / rate + lat)
    lateral = np.asarray(lateral, dtype=float)
    return local / ((1.0 - lateral) + lateral / hbm.lateral_efficiency)


def stream_gbps(hbm: Hbm, n_channels, burst_bytes, *, clock_mhz, write=False, lateral=0.0):
    """Sustained GB/s of a stream spread over ``n_channels`` pseudo-channels (one port each)."""
    per = channel_gbps(hbm, burst_bytes, clock_mhz=clock_mhz, write=write, lateral=lateral)
    return np.asarray(n_channels, dtype=float) * per


def channels_used(pc_weights, pc_inputs, pc_outputs, compute_units, share_weights):
    """Distinct pseudo-channels a design occupies (see dse.allocation for the exact numbering)."""
    per_cu_act = np.asarray(pc_inputs) + np.asarray(pc_outputs)
    cu = np.asarray(compute_units)
    w = np.asarray(pc_weights)
    return np.where(share_weights, w + cu * per_cu_act, cu * (w + per_cu_act))


def ports_used(pc_weights, pc_inputs, pc_outputs, compute_units):
    """AXI ports the kernel instances need: one per pseudo-channel per stream per CU."""
    return np.asarray(compute_units) * (
        np.asarray(pc_weights) + np.asarray(pc_inputs) + np.asarray(pc_outputs)
    )
