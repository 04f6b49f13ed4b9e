"""The seed notebook's roofline analysis for any kernel table, and the corrected kernel list.

Ideal work and traffic per kernel execution (every matrix crosses the memory boundary once):
FLOPs = 2·M·K·N, bytes = (M·K + K·N + M·N) · element bytes, OI = FLOPs / bytes, attainable =
min(peak, bandwidth · OI). The seed rows use the seed's own constants (configs/seed_roofline.yaml)
so its table stays reproducible; the corrected rows cover every op of the real encoder with peaks
derived from the platform (DSPs x packing x clock, double pumping where the DSPs allow it) and the
bandwidth of the board's design memory (HBM or DDR) from dse.channels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dse.channels import stream_gbps
from dse.params import PRECISIONS
from dse.platform import RESOURCES, Platform
from dse.workload import GEMM, Workload

#: The seed notebook's kernels: (name, M, K, N) in terms of its S, D, FFN and connector.
SEED_KERNELS = (
    "PatchEmbed",
    "Attn_Q",
    "Attn_K",
    "Attn_V",
    "Attn_Out",
    "MLP_FC1",
    "MLP_FC2",
    "Connector",
)

SEED_FILE = Path(__file__).resolve().parent.parent / "configs" / "seed_roofline.yaml"


def analyze_kernel(name: str, m: int, k: int, n: int, p_bytes: float) -> dict[str, Any]:
    """The seed's ``analyze_kernel``: ideal FLOPs, bytes, OI and weight MB of one GEMM."""
    flops = 2 * m * k * n
    mem_weights = k * n * p_bytes
    total = mem_weights + (m * k + m * n) * p_bytes
    return {
        "kernel": name,
        "M": m,
        "K": k,
        "N": n,
        "flops": float(flops),
        "bytes": float(total),
        "oi": flops / total,
        "weight_mb": mem_weights / 1e6,
    }


def seed_table(seed: dict[str, Any]) -> pd.DataFrame:
    """The seed notebook's eight-kernel table at its baseline precision (INT8)."""
    s, d, ffn, pk = seed["sequence"], seed["hidden"], seed["ffn"], seed["patch_k"]
    c = seed["connector"]
    shapes = [
        (s, pk, d),
        (s, d, d),
        (s, d, d),
        (s, d, d),
        (s, d, d),
        (s, d, ffn),
        (s, ffn, d),
        (c["m"], c["k"], c["n"]),
    ]
    prec = seed["table_precision"]
    p_bytes = seed["precision_bytes"][prec]
    rows = [
        analyze_kernel(name, *shape, p_bytes)
        for name, shape in zip(SEED_KERNELS, shapes, strict=True)
    ]
    df = pd.DataFrame(rows)
    df["table"], df["precision"], df["kind"], df["count"] = "seed", prec, GEMM, 1
    peak = seed["peaks_ops"][prec]
    df["peak_ops"], df["bw_bytes_per_s"] = peak, seed["bw_real_bytes_per_s"]
    df["attainable_ops"] = np.minimum(peak, df["bw_bytes_per_s"] * df["oi"])
    return df


def platform_bandwidth(platform: Platform) -> float:
    """Aggregate bytes/s of the design memory with every usable port streaming long bursts
    (dse.channels): U280 HBM 32 ports, U250 DDR 4 banks."""
    mem = platform.memory
    n = min(mem.max_ports, mem.usable_channels)
    return float(stream_gbps(mem, n, mem.max_burst_bytes, clock_mhz=platform.default_mhz)) * 1e9


def can_double_pump(platform: Platform, clock_mhz: float | None = None) -> bool:
    """Whether DSPs may run at twice the kernel clock (2 x clock <= the DSP Fmax)."""
    return 2 * (clock_mhz or platform.default_mhz) <= platform.dsp_max_mhz


def platform_peaks(
    platform: Platform, *, clock_mhz: float | None = None, pumped: bool = False
) -> dict[str, float]:
    """The compute peaks a design can reach at the clock (default: the platform's), ops/s, by
    label: each precision and each listed mixed pair (``INT4xINT8``). Example (U280, 300 MHz):
    INT8 10.83 TOPS.

    ``pumped=True`` adds each of them double-pumped when the DSPs allow it (``INT8
    double-pumped`` 21.66 TOPS): the device's ceiling with vendor RTL such as the DPU (PG367),
    which no design dse explores or exports reaches (no documented HLS route: the kernel has
    one clock domain), so the roofline figures leave it out."""
    f = (clock_mhz or platform.default_mhz) * 1e6
    dsp = float(platform.device[RESOURCES.index("dsp")])
    pairs = {p: (PRECISIONS.index(p), PRECISIONS.index(p)) for p in PRECISIONS}
    for key in platform.raw.get("mixed_mac", {}):
        w, a = key.split("x")
        pairs[key] = (PRECISIONS.index(w), PRECISIONS.index(a))
    pumps = (1, 2) if pumped and can_double_pump(platform, clock_mhz) else (1,)
    peaks = {}
    for pump in pumps:
        for label, (w, a) in pairs.items():
            name = label + (" double-pumped" if pump == 2 else "")
            peaks[name] = dsp * float(platform.macs_per_dsp[w, a]) * 2 * f * pump
    return peaks


def corrected_table(workload: Workload, platform: Platform) -> pd.DataFrame:
    """Every kernel of the real encoder at every precision, with platform-derived peaks."""
    bw = platform_bandwidth(platform)
    rows = []
    for prec in PRECISIONS:
        b = platform.prec_bits[PRECISIONS.index(prec)] / 8
        peak = platform.peak_ops(prec)
        pumped = platform.peak_ops(prec, double_pump=True) if can_double_pump(platform) else peak
        for k in workload.kernels:
            if k.kind == GEMM:
                row = analyze_kernel(k.name, k.m, k.k, k.n, b)
                if not k.weight_operand:
                    row["weight_mb"] = 0.0
            else:
                ops = k.m * k.n * k.ops_per_element
                traffic = (k.read_elems + k.write_elems) * b
                row = {
                    "kernel": k.name,
                    "M": k.m,
                    "K": 0,
                    "N": k.n,
                    "flops": float(ops),
                    "bytes": float(traffic),
                    "oi": ops / traffic if traffic else np.inf,
                    "weight_mb": 0.0,
                }
            row.update(
                table="corrected",
                precision=prec,
                kind=k.kind,
                count=k.count,
                peak_ops=peak,
                peak_double_pump_ops=pumped,
                bw_bytes_per_s=bw,
                epilogue_of=k.epilogue_of or "",
            )
            rows.append(row)
    df = pd.DataFrame(rows)
    df["attainable_ops"] = np.minimum(df["peak_ops"], df["bw_bytes_per_s"] * df["oi"])
    df["flops_per_image"] = df["flops"] * df["count"]
    return df


def roofline_tables(workload: Workload, platform: Platform, seed: dict[str, Any]) -> pd.DataFrame:
    """The seed table and the corrected table, one frame, told apart by the ``table`` column."""
    df = pd.concat([seed_table(seed), corrected_table(workload, platform)], ignore_index=True)
    df["bound"] = np.where(df["peak_ops"] <= df["bw_bytes_per_s"] * df["oi"], "compute", "memory")
    df["epilogue_of"] = df["epilogue_of"].fillna("")
    df["flops_per_image"] = df["flops_per_image"].fillna(df["flops"])
    return df
