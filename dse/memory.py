"""On-chip buffers -> BRAM18 / URAM / LUTRAM counts from the real block shapes (facts.md §4).

All functions take numpy arrays (one element per design) or scalars and broadcast.
"""

from __future__ import annotations

import numpy as np

#: BRAM18 aspect ratios in simple dual-port mode: (width bits, depth words). doc UG573.
BRAM18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
#: URAM288: 4K x 72 only. doc UG573.
URAM_WIDTH, URAM_DEPTH = 72, 4096


def _cdiv(a, b):
    return -(-a // b)


def bram18_blocks(width_bits, depth):
    """BRAM18 blocks for one bank of ``depth`` words x ``width_bits``: the best shape.

    Example: 512x36 -> 1; 1024x36 -> 2; 2048x8 -> 1 (2K x 9 shape).
    """
    w = np.asarray(width_bits, dtype=np.int64)
    d = np.asarray(depth, dtype=np.int64)
    best = None
    for sw, sd in BRAM18_SHAPES:
        n = _cdiv(w, sw) * _cdiv(d, sd)
        best = n if best is None else np.minimum(best, n)
    return best


def uram_blocks(width_bits, depth):
    """URAM blocks for one bank: ceil(W/72) x ceil(D/4096). Example: 4096x72 -> 1."""
    w = np.asarray(width_bits, dtype=np.int64)
    d = np.asarray(depth, dtype=np.int64)
    return _cdiv(w, URAM_WIDTH) * _cdiv(d, URAM_DEPTH)


def buffer_blocks(width_bits, depth, banks, *, use_uram, lutram_max_bits, lutram_bits_per_lut,
                  copies=1):
    """Blocks for a buffer partitioned into ``banks`` banks of ``depth`` words each.

    A bank of at most ``lutram_max_bits`` goes to LUTRAM (distributed RAM), otherwise to BRAM18
    or, where ``use_uram`` is true, to URAM. ``copies`` = 2 for a ping-pong (double) buffer.

    Returns:
        (bram18, uram, lutram_luts) arrays.
    """
    w = np.asarray(width_bits, dtype=np.int64)
    d = np.asarray(depth, dtype=np.int64)
    n = np.asarray(banks, dtype=np.int64) * copies
    small = w * d <= lutram_max_bits
    lut = np.where(small, n * w * _cdiv(d, lutram_bits_per_lut), 0)
    big = ~small
    uram_sel = big & np.asarray(use_uram, dtype=bool)
    bram = np.where(big & ~uram_sel, n * bram18_blocks(w, d), 0)
    uram = np.where(uram_sel, n * uram_blocks(w, d), 0)
    return bram, uram, lut
