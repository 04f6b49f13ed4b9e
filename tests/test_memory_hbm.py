"""On-chip memory block counts and HBM bandwidth against hand counts and published measurements."""

from __future__ import annotations

import numpy as np
import pytest

from dse.channels import channel_gbps, stream_gbps
from dse.memory import bram18_blocks, buffer_blocks, uram_blocks


@pytest.mark.parametrize(
    ("width", "depth", "expected"),
    [
        (36, 512, 1),  # exactly one 512 x 36 BRAM18 (UG573 shape)
        (36, 1024, 2),  # two 512 x 36 deep, or two 1K x 18 wide
        (18, 1024, 1),  # the 1K x 18 shape
        (8, 2048, 1),  # 2K x 9 shape holds 8-bit words
        (72, 512, 2),  # two 512 x 36 side by side
        (128, 256, 4),  # ceil(128/36) = 4 blocks of 512 x 36, half empty
        (1, 16384, 1),  # 16K x 1
        (1, 16385, 2),  # one word more -> a second block
    ],
)
def test_bram18_counts(width, depth, expected):
    assert int(bram18_blocks(width, depth)) == expected


@pytest.mark.parametrize(
    ("width", "depth", "expected"),
    [
        (72, 4096, 1), (72, 4097, 2), (144, 4096, 2), (512, 1024, 8), (8, 100, 1),
        # narrow deep banks: k words per 72-bit row (yosys synth_xilinx -family xcup, measured)
        (16, 8192, 1), (36, 8192, 1), (40, 8192, 2), (9, 32768, 1), (16, 16384, 1), (64, 8192, 2),
    ],
)
def test_uram_counts(width, depth, expected):
    # URAM is 4K x 72 only (UG573): ceil(W / 72) * ceil(D / 4096) for wide banks; a bank of
    # w <= 36 bits packs the largest power of two k with k * w <= 72 words per row
    assert int(uram_blocks(width, depth)) == expected


def test_partitioned_buffer():
    # A 128-bit x 4096-word buffer partitioned 8 ways: 8 banks of 512 x 128 bits.
    # Each bank needs ceil(128/36) = 4 BRAM18 at 512 deep -> 32 BRAM18. Unpartitioned the
    # 2K x 9 shape fits better: ceil(128/9) * ceil(4096/2048) = 15 * 2 = 30. 16 ways (256 deep)
    # costs 16 x 4 = 64: partitioning to feed the PE array costs memory.
    kw = dict(use_uram=False, lutram_max_depth=64)
    assert bram18_blocks(128, 4096) == 30
    bram, uram, lut = buffer_blocks(128, 512, 8, **kw)
    assert (bram, uram, lut) == (32, 0, 0)
    bram16, _, _ = buffer_blocks(128, 256, 16, **kw)
    assert bram16 == 64
    # as URAM: ceil(128/72) = 2 per bank -> 16 URAM for 8 banks
    _, uram8, _ = buffer_blocks(128, 512, 8, **{**kw, "use_uram": True})
    assert uram8 == 16


def test_small_banks_go_to_lutram():
    # 32 words x 32 bits: LUTRAM (<= 64 deep; yosys synth_xilinx -family xcup maps it to 3
    # RAM32M16 cells of 14 bits x 32 words, 8 LUTs each: ceil(32/14) * 8 = 24 LUTs)
    assert buffer_blocks(32, 32, 1, use_uram=False) == (0, 0, 24)
    # 64 deep: RAM64M8 cells of 7 bits x 64 words: ceil(32/7) * 8 = 40 LUTs; even when the
    # design keeps its tiles in URAM, a shallow bank stays in LUTRAM
    assert buffer_blocks(32, 64, 1, use_uram=True) == (0, 0, 40)
    # 65 deep: block RAM (one 512 x 36 BRAM18 holds 65 x 32 bits)
    assert buffer_blocks(32, 65, 1, use_uram=False) == (1, 0, 0)


def test_one_word_banks_are_registers():
    # a bank of one word is a register (complete partitioning): no RAM block, no LUTRAM
    assert buffer_blocks(512, 1, 4, use_uram=True) == (0, 0, 0)


def test_one_channel_long_bursts_near_13_gbps(cfg):
    # HBM Connect (FPGA'21): 12.9-13.1 GB/s per PC from an HLS kernel; Shuhai 13.27 GB/s
    bw = float(channel_gbps(cfg.platform.memory, 4096, clock_mhz=300))
    assert bw == pytest.approx(13.0, rel=0.10)


def test_sixteen_channels_near_published(cfg):
    # HBM Connect: 16 PCs streaming reach ~206-211 GB/s
    bw = float(stream_gbps(cfg.platform.memory, 16, 4096, clock_mhz=300))
    assert 0.9 * 206 <= bw <= 1.1 * 211


def test_short_bursts_and_lateral_are_slower(cfg):
    hbm = cfg.platform.memory
    long = channel_gbps(hbm, 4096, clock_mhz=300)
    assert channel_gbps(hbm, 64, clock_mhz=300) < 0.5 * long
    assert channel_gbps(hbm, 4096, clock_mhz=300, lateral=1.0) == pytest.approx(
        long * hbm.lateral_efficiency
    )
    # bandwidth grows monotonically with burst length
    bursts = np.array([32, 64, 256, 1024, 4096])
    assert np.all(np.diff(channel_gbps(hbm, bursts, clock_mhz=300)) > 0)


def test_port_cap_at_low_clock(cfg):
    # a 512-bit m_axi port at 100 MHz carries at most 6.4 GB/s, below the channel's 13 GB/s
    assert float(channel_gbps(cfg.platform.memory, 1 << 20, clock_mhz=100)) <= 6.4
