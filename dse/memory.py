"""On-chip memory banks -> primitive and BRAM18 / URAM / LUT counts from the real block shapes.

All functions take numpy arrays (one element per design) or scalars and broadcast.

The primitive rule follows what yosys 0.23 ``synth_xilinx -family xcup`` infers for one bank
(a Verilog memory of ``width x depth`` with one write and one registered read port, as HLS's
``ram_2p``), measured for docs/hardware.md:

- depth 1: flip-flops (``FDRE``), no RAM cell;
- depth 2..32: LUTRAM as ``RAM32M16`` (8 LUTs hold 14 bits x 32 words in simple dual port);
- depth 33..64: LUTRAM as ``RAM64M8`` (8 LUTs hold 7 bits x 64 words) for every width tried
  (1 to 1,024 bits);
- deeper: block RAM (``RAMB18E2``/``RAMB36E2``, the best aspect ratio), or ``URAM288`` with
  ``(* ram_style = "ultra" *)``; only very narrow deep banks (1-2 bits, 65-100 words) stay in
  LUTRAM, and the engines here have none that narrow.

So the engine's rule is: one word per bank -> registers, at most ``lutram_max_depth`` (64) words
-> LUTRAM, deeper -> the design's ``buffer_storage`` (BRAM or URAM). tests/test_hardware.py
synthesises banks with yosys and checks these counts.
"""

from __future__ import annotations

import numpy as np

#: BRAM18 aspect ratios in simple dual-port mode: (width bits, depth words). doc UG573.
BRAM18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
#: URAM288: 4K x 72 only. doc UG573.
URAM_WIDTH, URAM_DEPTH = 72, 4096
#: LUTRAM cells of a SLICEM in simple dual port (one LUT of the 8 holds the write address):
#: RAM32M16 = 8 LUTs, 7 x 2 bits x 32 words; RAM64M8 = 8 LUTs, 7 bits x 64 words. doc UG574
#: (CLB user guide, distributed RAM); yosys 0.23 maps shallow banks onto exactly these cells.
LUTS_PER_LUTRAM_CELL = 8
RAM32M16_BITS, RAM32M16_DEPTH = 14, 32
RAM64M8_BITS, RAM64M8_DEPTH = 7, 64

#: Bank primitives, in code order (``hardware`` descriptions carry the names).
PRIMITIVES = ("registers", "lutram", "bram", "uram")
REGISTERS, LUTRAM, BRAM, URAM = range(4)


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
    """URAM288 blocks for one bank. A URAM is 4K x 72 only (UG573); a bank of at most 36 bits
    keeps k = 2, 4 or 8 words in each 72-bit row (the largest power of two with k x width <=
    72; one word per row above 36 bits), so ceil(ceil(D/k) / 4096); wider banks take
    ceil(W/72) x ceil(D/4096). The packing is what yosys 0.23 ``synth_xilinx -family xcup``
    does with ``ram_style = "ultra"`` (16 x 8,192 -> 1 URAM, 40 x 8,192 -> 2, 9 x 32,768 -> 1;
    docs/hardware.md); its read mux (about one LUT per bit) is not counted.

    Examples: 4096x72 -> 1; 8192x16 -> 1; 8192x40 -> 2; 4096x144 -> 2.
    """
    w = np.asarray(width_bits, dtype=float)
    d = np.asarray(depth, dtype=float)
    with np.errstate(divide="ignore"):
        per_row = np.exp2(np.floor(np.log2(np.maximum(URAM_WIDTH // np.maximum(w, 1), 1))))
    narrow = np.ceil(np.ceil(d / per_row) / URAM_DEPTH)
    wide = np.ceil(w / URAM_WIDTH) * np.ceil(d / URAM_DEPTH)
    return np.where(w <= URAM_WIDTH, narrow, wide)


def lutram_luts(width_bits, depth):
    """LUTs of one LUTRAM bank: 8 per RAM32M16 (14 bits, up to 32 words) or per RAM64M8
    (7 bits, up to 64 words); deeper banks stack RAM64M8 cells (their read mux not counted).

    Example: 32 bits x 32 words -> 3 RAM32M16 = 24 LUTs; 32 x 64 -> 5 RAM64M8 = 40 LUTs.
    """
    w = np.asarray(width_bits, dtype=float)
    d = np.asarray(depth, dtype=float)
    cells = np.where(
        d <= RAM32M16_DEPTH,
        np.ceil(w / RAM32M16_BITS),
        np.ceil(w / RAM64M8_BITS) * np.ceil(d / RAM64M8_DEPTH),
    )
    return LUTS_PER_LUTRAM_CELL * cells


def bank_primitive(depth, use_uram, *, lutram_max_depth):
    """Primitive code (:data:`PRIMITIVES`) of banks ``depth`` words deep: registers for one
    word, LUTRAM up to ``lutram_max_depth`` words, else URAM where ``use_uram`` else BRAM."""
    d = np.asarray(depth)
    deep = np.where(np.asarray(use_uram, dtype=bool), URAM, BRAM)
    return np.where(d <= 1, REGISTERS, np.where(d <= lutram_max_depth, LUTRAM, deep)).astype(
        np.int8
    )


def bank_cost(width_bits, depth, primitive):
    """(bram18, uram, lut) of ONE bank of the given primitive (registers cost flip-flops only)."""
    p = np.asarray(primitive)
    w = np.asarray(width_bits, dtype=float)
    d = np.asarray(depth, dtype=float)
    bram = np.where(p == BRAM, bram18_blocks(w, d), 0.0)
    uram = np.where(p == URAM, uram_blocks(w, d), 0.0)
    lut = np.where(p == LUTRAM, lutram_luts(w, d), 0.0)
    return bram, uram, lut


def buffer_blocks(width_bits, depth, banks, *, use_uram, lutram_max_depth=64):
    """Blocks for a buffer split into ``banks`` memories of ``depth`` words x ``width_bits``,
    each on the primitive :func:`bank_primitive` picks.

    ``banks`` counts every physical memory (partition factor x copies for ping-pong buffers).

    Returns:
        (bram18, uram, lutram_luts) as float arrays.
    """
    p = bank_primitive(depth, use_uram, lutram_max_depth=lutram_max_depth)
    n = np.asarray(banks, dtype=float)
    bram, uram, lut = bank_cost(width_bits, depth, p)
    return n * bram, n * uram, n * lut
