"""On-chip buffers -> BRAM18 / URAM / LUTRAM counts from the real block shapes (facts.md §4).

All functions take numpy arrays (one element per design) or scalars and broadcast.
"""

from __future__ import annotations

import numpy as np

#: BRAM18 aspect ratios in simple dual-port mode: (width bits, depth words). doc UG573.
BRAM18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
#: URAM288: 4K x 72 only. doc UG573.
URAM_WIDTH, URAM_DEPTH = 72, 4096


def bram18_blocks(width_bits, depth):
    """BRAM18 blocks for one bank of ``depth`` words x ``width_bits``, with the best shape.

    Example: 512x36 -> 1; 1024x36 -> 2; 2048x8 -> 1 (the 2K x 9 shape).
    """
    w = np.asarray(width_bits)
    d = np.asarray(depth)
    best = None
    for sw, sd in BRAM18_SHAPES:
        n = np.ceil(w / sw) * np.ceil(d / sd)
        best = n if best is None else np.minimum(best, n)
    return best


def uram_blocks(width_bits, depth):
    """URAM blocks for one bank: ceil(W/72) x ceil(D/4096). Example: 4096x72 -> 1."""
    return np.ceil(np.asarray(width_bits) / URAM_WIDTH) * np.ceil(np.asarray(depth) / URAM_DEPTH)


def buffer_blocks(width_bits, depth, banks, *, use_uram, lutram_max_bits, lutram_bits_per_lut):
    """Blocks for a buffer split into ``banks`` memories of ``depth`` words x ``width_bits``.

    ``banks`` counts every physical memory (partition factor x copies for ping-pong buffers).
    A bank of at most ``lutram_max_bits`` goes to LUTRAM (distributed RAM), others to BRAM18 or,
    where ``use_uram`` is true, to URAM.

    Returns:
        (bram18, uram, lutram_luts) as float arrays.
    """
    w = np.asarray(width_bits)
    d = np.asarray(depth)
    n = np.asarray(banks)
    small = w * d <= lutram_max_bits
    lut = small * (n * w * np.ceil(d / lutram_bits_per_lut))
    big_n = (~small) * n
    uram_sel = np.asarray(use_uram, dtype=bool)
    bram = (~uram_sel) * (big_n * bram18_blocks(w, d))
    uram = uram_sel * (big_n * uram_blocks(w, d))
    return bram, uram, lut
