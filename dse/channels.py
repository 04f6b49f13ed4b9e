"""Off-chip memory channels (HBM pseudo-channels or DDR banks) -> bandwidth, channels and ports.

Per channel, a stream reached through its own AXI port sustains (HBM Connect, FPGA'21)

    BW(B) = B / (B / R + LAT / outstanding)

where B is the burst length in bytes, R the channel's measured rate capped by the AXI port
(width x clock, on both the memory side and the kernel side), LAT the read or write latency and
``outstanding`` the bursts an m_axi adapter keeps in flight. A fraction ``lateral`` of the
traffic crosses the HBM switch to a non-local channel and runs at ``lateral_efficiency`` of that
rate (1 on DDR: no switch). A stream with ``n`` channels gets ``n`` such ports in parallel.

Channel sharing (what the design instantiates):

- ``share_weights``: every CU reads one weight copy on ``pc_weights`` channels (each CU still
  has its own ``pc_weights`` weight ports onto them);
- ``share_streams``: a CU's own streams go through one set of channels and ports, striped:
  ``max(pc_weights, pc_inputs, pc_outputs)`` of them, or ``max(pc_inputs, pc_outputs)`` for the
  activations when the weights are shared. Shared channels serve the streams one after another.
"""

from __future__ import annotations

import numpy as np

from dse.platform import Memory


def port_cap_gbps(mem: Memory, clock_mhz):
    """The AXI port cap in GB/s: min(memory-side port, kernel-side m_axi port at the kernel
    clock)."""
    mem_side = mem.port_bits / 8 * mem.port_mhz * 1e-3
    kernel_side = mem.kernel_port_bits / 8 * np.asarray(clock_mhz) * 1e-3
    return np.minimum(mem_side, kernel_side)


def channel_gbps(mem: Memory, burst_bytes, *, clock_mhz, write=False, lateral=0.0):
    """Sustained GB/s of one channel for bursts of ``burst_bytes``."""
    b = np.minimum(np.asarray(burst_bytes, dtype=float), mem.max_burst_bytes)
    rate = np.minimum(mem.channel_measured_gbps, port_cap_gbps(mem, clock_mhz))  # GB/s == B/ns
    lat = (mem.write_latency_ns if write else mem.read_latency_ns) / mem.outstanding
    local = b / (b / rate + lat)
    lateral = np.asarray(lateral, dtype=float)
    return local / ((1.0 - lateral) + lateral / mem.lateral_efficiency)


def stream_gbps(mem: Memory, n_channels, burst_bytes, *, clock_mhz, write=False, lateral=0.0):
    """Sustained GB/s of a stream spread over ``n_channels`` channels (one port each)."""
    per = channel_gbps(mem, burst_bytes, clock_mhz=clock_mhz, write=write, lateral=lateral)
    return np.asarray(n_channels, dtype=float) * per


def stream_channels(pc_weights, pc_inputs, pc_outputs, share_weights, share_streams):
    """Channels (= ports) each stream of one CU runs on, after stream sharing: (weights,
    inputs, outputs) arrays. Example: 2, 1, 1 with share_streams -> 2, 2, 2 (one set of 2)."""
    w, i, o = (np.asarray(x) for x in (pc_weights, pc_inputs, pc_outputs))
    ss = np.asarray(share_streams, dtype=bool)
    sw = np.asarray(share_weights, dtype=bool)
    act = np.maximum(i, o)
    own = np.maximum(w, act)
    all_shared = ss & ~sw
    return (
        np.where(all_shared, own, w),
        np.where(ss, np.where(sw, act, own), i),
        np.where(ss, np.where(sw, act, own), o),
    )


def ports_per_cu(pc_weights, pc_inputs, pc_outputs, share_weights=False, share_streams=False):
    """AXI ports one CU instantiates: one per channel of each stream; streams that share
    channels share their ports (TATAA: 2 ports per CU carry all of its traffic)."""
    w, i, o = (np.asarray(x) for x in (pc_weights, pc_inputs, pc_outputs))
    ss = np.asarray(share_streams, dtype=bool)
    if not ss.any():
        return w + i + o
    sw = np.asarray(share_weights, dtype=bool)
    act = np.maximum(i, o)
    return np.where(ss, np.where(sw, w + act, np.maximum(w, act)), w + i + o)


def channels_used(
    pc_weights, pc_inputs, pc_outputs, compute_units, share_weights, share_streams=False
):
    """Distinct channels a design occupies (see dse.allocation for the exact numbering)."""
    w, i, o = (np.asarray(x) for x in (pc_weights, pc_inputs, pc_outputs))
    cu = np.asarray(compute_units)
    ss = np.asarray(share_streams, dtype=bool)
    sw = np.asarray(share_weights, dtype=bool)
    if not ss.any():
        return np.where(sw, w + cu * (i + o), cu * (w + i + o))
    own_act = np.where(ss, np.maximum(i, o), i + o)  # a CU's activation channels
    own_all = np.where(ss, np.maximum(w, np.maximum(i, o)), w + i + o)
    return np.where(sw, w + cu * own_act, cu * own_all)


def ports_used(
    pc_weights, pc_inputs, pc_outputs, compute_units, share_weights=False, share_streams=False
):
    """AXI ports all CUs instantiate together: CUs x :func:`ports_per_cu` (CUs sharing weight
    channels still have their own weight ports)."""
    return np.asarray(compute_units) * ports_per_cu(
        pc_weights, pc_inputs, pc_outputs, share_weights, share_streams
    )
