"""The seed notebook's table reproduced exactly, and the platform-derived peaks."""

from __future__ import annotations

import pytest

from dse.config import load_validated
from dse.roofline import SEED_FILE, corrected_table, seed_table

# The seed notebook's formulas, written out by hand for its eight kernels at INT8 (1 byte):
# FLOPs = 2 M K N; bytes = (M K + K N + M N) * 1; OI = FLOPs / bytes; Weight_MB = K N / 1e6.
S, D, FFN = 1024, 768, 3072
SEED_ROWS = {
    "PatchEmbed": (S, 768, D),
    "Attn_Q": (S, D, D),
    "Attn_K": (S, D, D),
    "Attn_V": (S, D, D),
    "Attn_Out": (S, D, D),
    "MLP_FC1": (S, D, FFN),
    "MLP_FC2": (S, FFN, D),
    "Connector": (1, 12288, 960),
}


@pytest.fixture(scope="module")
def seed():
    return load_validated(SEED_FILE, "seed_roofline")


def test_seed_table_reproduces_the_notebook(seed):
    df = seed_table(seed).set_index("kernel")
    assert list(df.index) == list(SEED_ROWS)  # same names, same order
    for name, (m, k, n) in SEED_ROWS.items():
        flops = 2 * m * k * n
        nbytes = m * k + k * n + m * n
        assert df.loc[name, "flops"] == flops
        assert df.loc[name, "bytes"] == nbytes
        assert df.loc[name, "oi"] == pytest.approx(flops / nbytes, rel=1e-12)
        assert df.loc[name, "weight_mb"] == pytest.approx(k * n / 1e6, rel=1e-12)


def test_seed_table_spot_values(seed):
    # Hand arithmetic: PatchEmbed 2*1024*768*768 = 1,207,959,552 FLOPs over
    # 786,432 + 589,824 + 786,432 = 2,162,688 bytes -> OI 558.545...; the connector at M = 1:
    # 23,592,960 FLOPs over 12,288 + 11,796,480 + 960 = 11,809,728 bytes -> OI 1.998.
    df = seed_table(seed).set_index("kernel")
    assert df.loc["PatchEmbed", "flops"] == 1_207_959_552
    assert df.loc["PatchEmbed", "bytes"] == 2_162_688
    assert df.loc["PatchEmbed", "oi"] == pytest.approx(558.5454545, rel=1e-9)
    assert df.loc["Connector", "bytes"] == 11_809_728
    assert df.loc["Connector", "oi"] == pytest.approx(1.99775, rel=1e-5)
    # the seed's own ceilings: INT8 18.6 TOPS, 300 GB/s -> the connector sits on the memory wall
    assert df.loc["Connector", "attainable_ops"] == pytest.approx(300e9 * 23_592_960 / 11_809_728)
    assert df.loc["MLP_FC1", "attainable_ops"] == 18.6e12


def test_work_per_image_is_215_gop(cfg):
    # facts.md §6: 107.7 GMAC = 215 GOP per image, derived by hand from the shapes
    assert cfg.workload.ops_per_image == pytest.approx(215e9, rel=0.01)
    # attention score + context products are ~18% of the MACs (facts.md §6)
    att = sum(k.macs for k in cfg.workload.kernels if k.attention)
    assert att / cfg.workload.macs_per_image == pytest.approx(0.18, abs=0.01)


def test_connector_uses_64_tokens(cfg):
    # facts.md §7.1: pixel shuffle with scale 4 turns [1024, 768] into [64, 12288]
    conn = next(k for k in cfg.workload.kernels if k.name == "connector")
    assert (conn.m, conn.k, conn.n) == (64, 12288, 960)


def test_peaks_are_derived(cfg):
    # 9,024 DSP x 2 INT8 MAC x 2 op x 0.3 GHz = 10.8288 TOPS (facts.md §3); double pumping x2
    p = cfg.platform
    assert p.peak_ops("INT8") == pytest.approx(10.8288e12)
    assert p.peak_ops("INT8", double_pump=True) == pytest.approx(2 * 10.8288e12)
    # FP32 at 5 DSP per MAC: 9,024 / 5 x 2 x 0.3 GHz = 1.083 TFLOP/s
    assert p.peak_ops("FP32") == pytest.approx(1.08288e12)


def test_corrected_table_covers_every_kernel(cfg):
    df = corrected_table(cfg.workload, cfg.platform)
    names = set(df["kernel"])
    for needed in (
        "patch_embed",
        "q_proj",
        "k_proj",
        "v_proj",
        "attn_scores",
        "softmax",
        "attn_context",
        "out_proj",
        "ln1",
        "ln2",
        "fc1",
        "gelu",
        "fc2",
        "residual1",
        "residual2",
        "post_layernorm",
        "pixel_shuffle",
        "connector",
    ):
        assert needed in names
    int8 = df[df["precision"] == "INT8"]
    assert (int8["peak_ops"] == cfg.platform.peak_ops("INT8")).all()
    assert (int8["peak_ops"] < 18.6e12).all()  # not the seed's underivable figure
