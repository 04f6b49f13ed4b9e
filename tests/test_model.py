"""The engine model: traffic limits, padding, bounds, properties, feasibility."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.channels import channel_gbps
from dse.model import gemm_traffic
from dse.space import design_batch
from tests.conftest import BASE_DESIGN, batch_of, concat

INT8 = dict(a_bytes=1, b_bytes=1, out_bytes=1, acc_bytes=4)


@pytest.mark.parametrize("dataflow", ["mnk", "nmk", "mkn", "nkm", "kmn", "knm"])
def test_traffic_equals_ideal_when_tiles_cover(dataflow):
    # seed formula: (M K + K N + M N) bytes, reached by any loop order once tiles cover the matrices
    a, b, c = gemm_traffic(1024, 768, 3072, 1024, 3072, 768, dataflow, **INT8)
    assert a + b + c == 1024 * 768 + 768 * 3072 + 1024 * 3072


def test_traffic_refetch_hand_case():
    # M = K = N = 1024, tiles 256 x 256 x 256 -> 4 tiles along each dimension.
    # Loop order m, n, k (k innermost, output stationary): A(m,k) is re-read for each of the
    # 4 n-tiles, B(k,n) for each of the 4 m-tiles, C is written once.
    a, b, c = gemm_traffic(1024, 1024, 1024, 256, 256, 256, "mnk", **INT8)
    assert (a[0], b[0], c[0]) == (4 * 1024**2, 4 * 1024**2, 1024**2)
    # Loop order k, m, n (k outermost): A(m,k) stays while n runs -> read once; B re-read per
    # m-tile (x4); C spills 3 partial sums, each written and read back in 4-byte accumulators:
    # 1024^2 * (1 + 2 * 3 * 4) = 25 * 1024^2.
    a, b, c = gemm_traffic(1024, 1024, 1024, 256, 256, 256, "kmn", **INT8)
    assert (a[0], b[0], c[0]) == (1024**2, 4 * 1024**2, 25 * 1024**2)
    # n, k, m with tile_k covering K: B(k,n) stays while m runs; A re-read per n-tile
    a, b, c = gemm_traffic(1024, 1024, 1024, 256, 256, 1024, "nkm", **INT8)
    assert (a[0], b[0], c[0]) == (4 * 1024**2, 1024**2, 1024**2)


def test_connector_runs_its_64_rows_on_a_128_row_tile(cfg, model):
    # The connector has M = 64; the kernel's PE loop runs the tile's real rows (runtime trip
    # counts), so a 128-row tile costs what a 64-row tile costs: one tile along m either way, the
    # same steps and fills (dse/model.py step 1). The padding model charged 2x here.
    names = list(model.kernel_names)
    i = names.index("connector")
    kw = dict(pc_weights=8, pc_inputs=2, pc_outputs=1, compute_units=1, tile_n=128, tile_k=256)
    r64 = model.evaluate(batch_of(cfg, tile_m=64, **kw), detail=True)
    r128 = model.evaluate(batch_of(cfg, tile_m=128, **kw), detail=True)
    # the connector on 1 CU with 16x16x16 PEs is compute bound; fill cycles are 12 per tile
    assert r128.kernel_bound[0, i] == 0 and r64.kernel_bound[0, i] == 0
    assert r128.kernel_ms[0, i] == pytest.approx(r64.kernel_ms[0, i], rel=1e-6)


def _compute_cycles(model, kernel, **design):
    """Model._gemm's compute time of one kernel for one design, in clock cycles."""
    from dse.model import _Batch

    b = _Batch(model, design_batch([{**BASE_DESIGN, **design}], model.platform))
    k = next(k for k in model.workload.kernels if k.name == kernel)
    return float(model._gemm(k, b)[1][0][0]) * b.f[0]


def test_compute_clips_tiles_to_the_matrix_by_hand(cfg):
    from dse.model import Model
    from tests.test_timing import _hand_placed

    # the 12-cycle fill per tile of the hand-placed constants (u280.yaml fits it now)
    model = Model(_hand_placed(), cfg.workload)
    # attn_scores: M = N = 1024 tokens, K = head_dim = 64. PE 16 x 16 x 32, tiles 128 x 128 x 256:
    # 8 x 8 x 1 = 64 tiles; K clips to 64 (a multiple of pe_k), so each tile takes
    # (128/16)(128/16)(64/32) = 128 steps + 12 fill = 140 cycles: 64 x 140 = 8960 cycles
    # (the padding model charged 64 x (8 x 8 x 256/32 + 12) = 33,536).
    got = _compute_cycles(model, "attn_scores", pe_k=32, tile_k=256)
    assert got == pytest.approx(64 * ((128 / 16) * (128 / 16) * (64 / 32) + 12), rel=1e-6)
    assert got == pytest.approx(8960, rel=1e-6)
    # connector: M = 64, K = 768 x 16 = 12288, N = 960 on PE 16^3, tiles 128 x 128 x 256:
    # 1 x 8 x 48 = 384 tiles; steps: m clips to 64 rows (4 steps), n runs 7 full tiles of 8 steps
    # and a last tile of 64 columns (4 steps) = 60, k 768: 4 x 60 x 768 = 184,320 steps + 384 x 12
    # fill = 188,928 cycles (padding: 384 x (8 x 8 x 16 + 12) = 397,824)
    got = _compute_cycles(model, "connector", compute_units=1)
    assert got == pytest.approx(4 * 60 * 768 + 384 * 12, rel=1e-6)


def test_compute_time_hand_calculation(cfg, model):
    # fc1: M=1024, K=768, N=3072 on one CU (1 camera), PE 16x16x16 at 300 MHz, tiles 128x128x256.
    # tiles: 8 x 24 x 3 = 576; cycles per tile = 8*8*16 + 12 fill = 1036; 596,736 cycles =
    # 1.98912 ms per execution; 12 layers -> 23.869 ms. With 16 weight channels the weights are
    # no bottleneck; with 128 vector lanes the bias + GELU epilogue (9 ops x 1024 x 3072 =
    # 28.3 Mop at 38.4 Gop/s = 0.74 ms) hides under compute, so the kernel is compute bound.
    # The double-buffered pipeline adds its ramp: the first tile's load, the larger of one A
    # tile (128 rows of 256 bytes: 32 bursts of 4 words per input channel, 361 cycles at the
    # channel's rate and latency, + 8 x 16 bank words = 489) and one B tile (262), and the last
    # C tile's store (128 rows of 128 bytes on 4 output channels, 184 cycles, + 64 blocks from
    # c_s = 248): 596,736 + 489 + 248 = 597,473 cycles, 23.90 ms (+0.12%). (MODEL_VERSION
    # 2.0.0 charged the first tile all 24 reads of its A tile, Tn of them: 24.23 ms, +1.5%.)
    from dse.model import Model
    from dse.workload import Workload
    from tests.test_timing import _hand_placed

    wl = Workload.from_mapping({**cfg.model_raw, "cameras": 1})
    m = Model(_hand_placed(), wl)  # the 12-cycle fill of the hand-placed constants
    b = batch_of(
        cfg, compute_units=1, pc_weights=16, pc_inputs=4, pc_outputs=4, vector_lanes=128,
        clock_mhz=300,
    )
    r = m.evaluate(b, detail=True)
    i = list(m.kernel_names).index("fc1")
    assert r.kernel_bound[0, i] == 0
    assert r.kernel_ms[0, i] == pytest.approx(12 * (596_736 + 489 + 248) / 300e6 * 1e3, rel=1e-3)


designs = st.fixed_dictionaries(
    {
        "weight_precision": st.sampled_from(["FP32", "BF16", "INT8", "INT4"]),
        "act_precision": st.sampled_from(["FP32", "BF16", "INT8", "INT4"]),
        "pe_m": st.sampled_from([1, 2, 4, 8, 16, 32]),
        "pe_n": st.sampled_from([1, 2, 4, 8, 16, 32]),
        "pe_k": st.sampled_from([1, 4, 8, 16, 32, 64]),
        "tile_mult_m": st.integers(1, 16),
        "tile_mult_n": st.integers(1, 16),
        "tile_mult_k": st.integers(1, 16),
        "dataflow": st.sampled_from(["mnk", "nmk", "mkn", "nkm", "kmn", "knm"]),
        "pc_weights": st.integers(1, 8),
        "pc_inputs": st.integers(1, 8),
        "pc_outputs": st.integers(1, 8),
        "share_weights": st.booleans(),
        "compute_units": st.integers(1, 6),
        "double_pump": st.booleans(),
        "buffer_storage": st.sampled_from(["bram", "uram"]),
        "double_buffer": st.booleans(),
        "fuse_attention": st.booleans(),
        "vector_lanes": st.sampled_from([8, 16, 32, 64, 128]),
        "clock_mhz": st.sampled_from([150, 200, 250, 300, 350]),
    }
)


def _design(raw):
    d = dict(raw)
    for dim in "mnk":
        d[f"tile_{dim}"] = d[f"pe_{dim}"] * d.pop(f"tile_mult_{dim}")
    return d


@settings(max_examples=60, deadline=None)
@given(designs, st.sampled_from(["pc_weights", "pc_inputs", "pc_outputs"]))
def test_more_channels_never_slower(cfg, model, raw, stream):
    d = _design(raw)
    more = {**d, stream: d[stream] + 1}
    r = model.evaluate(design_batch([d, more], cfg.platform))
    lat = r.columns["latency_ms"]
    assert lat[1] <= lat[0] * (1 + 1e-6)


@settings(max_examples=80, deadline=None)
@given(designs)
def test_latency_never_below_compute_or_traffic_bound(cfg, model, raw):
    d = _design(raw)
    r = model.evaluate(design_batch([d], cfg.platform))
    lat_s = r.columns["latency_ms"][0] / 1e3
    wl, hbm = cfg.workload, cfg.platform.memory
    # compute bound: every MAC of the call on all PEs of all CUs at the clock
    macs = wl.macs_per_image * wl.cameras
    compute_bound = macs / (
        d["compute_units"] * d["pe_m"] * d["pe_n"] * d["pe_k"] * d["clock_mhz"] * 1e6
    )
    assert lat_s >= compute_bound * (1 - 1e-5)
    # ideal traffic bound: every weight byte read once per image, on all weight channels of
    # all CUs at the best burst rate (shared weights: one copy's channels for everybody)
    wbytes = (
        sum(k.k * k.n * k.count for k in wl.gemms if k.weight_operand)
        * {"FP32": 4, "BF16": 2, "INT8": 1, "INT4": 0.5}[d["weight_precision"]]
    )
    chans = d["pc_weights"] * (1 if d["share_weights"] else d["compute_units"])
    best = float(channel_gbps(hbm, hbm.max_burst_bytes, clock_mhz=d["clock_mhz"])) * 1e9
    traffic_bound = wbytes * wl.cameras / (chans * best)
    assert lat_s >= traffic_bound * (1 - 1e-5)


@settings(max_examples=30, deadline=None)
@given(st.lists(designs, min_size=1, max_size=8))
def test_same_inputs_same_numbers_batched_or_alone(cfg, model, raws):
    ds = [_design(r) for r in raws]
    together = model.evaluate(design_batch(ds, cfg.platform)).columns
    alone = [model.evaluate(design_batch([d], cfg.platform)).columns for d in ds]
    for key in ("latency_ms", "utilization", "bram18", "feasible", "violation_code"):
        np.testing.assert_array_equal(together[key], np.concatenate([a[key] for a in alone]))
    again = model.evaluate(design_batch(ds, cfg.platform)).columns
    for key, v in together.items():
        np.testing.assert_array_equal(v, again[key])


def test_dsps_follow_packing_and_pumping_is_not_credited(cfg, model):
    # 16 x 16 x 16 = 4,096 INT8 MACs, two per DSP48E2 (WP486: pairs of weights along pe_n share
    # one activation) = 16 x 16 x 8 = 2,048 DSP per CU, plus 32 vector lanes x 2 DSP = 64.
    # Double pumping has no documented HLS route (facts.md §9), so the kernel never builds it
    # and the model charges the same DSPs with double_pump set.
    r1 = model.evaluate(batch_of(cfg, double_pump=False, compute_units=1)).columns
    r2 = model.evaluate(batch_of(cfg, double_pump=True, compute_units=1)).columns
    assert r1["dsp"][0] == 2048 + 64
    assert r2["dsp"][0] == r1["dsp"][0]
    # BF16 is multiplied in FP32: fmul (3 DSP) + fadd (2 DSP) per MAC = 5 x 4,096 + 64
    bf = model.evaluate(
        batch_of(cfg, weight_precision="BF16", act_precision="BF16", compute_units=1)
    ).columns
    # and the adders that sum each PE output's 5 interleaved partial sums (fadd_stages, kernel.cpp
    # tree_sum<ACC_SLOTS>): 16 x 16 outputs x 4 fadds x 2 DSP = 2,048
    assert bf["dsp"][0] == 5 * 4096 + 64 + 16 * 16 * 4 * 2


def test_infeasible_kept_with_readable_violation(cfg, model):
    from dse.model import violation_text

    big = batch_of(
        cfg,
        pe_m=32,
        pe_n=32,
        pe_k=32,
        tile_m=256,
        tile_n=256,
        tile_k=256,
        double_pump=False,
        compute_units=1,
    )
    ok = batch_of(cfg, clock_mhz=235)  # BASE_DESIGN closes 239.7 MHz, not its own 250
    r = model.evaluate(concat([big, ok]))
    c = r.columns
    assert list(c["feasible"]) == [False, True]
    text = violation_text(
        cfg.platform, c["violation_code"], c["violation_used"], c["violation_limit"]
    )
    # 32^3 = 32,768 INT8 MACs = 16,384 DSP + 64 vector DSP, far over one SLR's 2,764 usable DSPs
    assert c["dsp"][0] == 16384 + 64
    # LUT is checked first: 32,768 MACs x 20 LUT alone exceed SLR0's 288,083 usable LUTs
    assert text[0].startswith("lut SLR0 ") and text[0].endswith(" > 288083 available")
    assert text[1] == ""


def test_fused_attention_saves_traffic_costs_memory(cfg, model):
    a = model.evaluate(batch_of(cfg, fuse_attention=False, pc_inputs=1, pc_outputs=1)).columns
    b = model.evaluate(batch_of(cfg, fuse_attention=True, pc_inputs=1, pc_outputs=1)).columns
    assert b["latency_ms"][0] < a["latency_ms"][0]
    assert b["bram18"][0] > a["bram18"][0]


def test_hbm_overallocation_infeasible(cfg, model):
    # 3 CUs x (8 + 2 + 1) = 33 channels > 32
    r = model.evaluate(batch_of(cfg, pc_weights=8)).columns
    assert not r["feasible"][0]
    assert BASE_DESIGN["compute_units"] == 3


#: The grid's fastest design under the default config (results/summary.md of a default run).
FASTEST = {
    **BASE_DESIGN,
    "pe_m": 32,
    "pe_n": 4,
    "pe_k": 32,
    "tile_m": 128,
    "tile_n": 256,
    "tile_k": 64,
    "pc_weights": 2,
    "pc_inputs": 2,
    "fuse_attention": True,
    "vector_lanes": 128,
}


def test_utilization_is_the_fullest_slr_and_every_output_agrees(cfg, tmp_path):
    from dse.commands.plot import detail_frames
    from dse.commands.summary import table
    from dse.model import Model
    from dse.plots import resources as resources_plot
    from dse.results import results_frame
    from dse.store import read_table, write_table
    from tests.test_timing import _hand_placed

    # Hand calculation (configs/platforms/u280.yaml: margin 0.10 on LUT, none on the hard blocks
    # (PG367), shell in SLR0 with 107,629 LUT, 4 DSP and 391 BRAM18; cu_slr_order 0, 1, 2 puts
    # one of the 3 CUs on each SLR; the LUT terms of the hand-placed constants, _hand_placed,
    # since u280.yaml's are fitted).
    # Available per SLR: SLR0 BRAM18 1,344 - 391 = 953, LUT 439,680 x 0.9 - 107,629 =
    # 288,083, DSP 2,880 - 4 = 2,876; SLR1/2 BRAM18 1,344, LUT 388,800, DSP 3,072.
    # The design (INT8, PE 32 x 4 x 32, tiles 128 x 256 x 64, ping-pong, fused attention, 128
    # lanes, BRAM) per CU, bank by bank (dse/hardware.py; LUTRAM <= 64 words, 8 LUTs per
    # RAM32M16 of 14 bits x 32 words; 24 LUT of logic per bank):
    #   a_buf 32 x 2 banks of 256 bits x 8 words: LUTRAM 8 x 19 = 152 LUT each -> 9,728 + 1,536
    #   b_buf 4 x 2 banks of 256 x 128: 8 BRAM18 (512 x 36) each -> 64 BRAM18, 192 LUT
    #   c_buf 32 banks of 128 x 256: 4 BRAM18 each -> 128, 768 LUT
    #   k_buf, v_buf 4 banks of 256 x 512 (1,024 tokens x 64 / (32 x 4)): 32 BRAM18 each, 96 LUT
    #   s_buf 32 row banks of 128 x 1,024 (4 x 1,024 / 4), each split in 128 / 4 = 32 so the
    #   lanes read 32 words of a row per cycle: 1,024 banks of 128 x 32, LUTRAM (10 RAM32M16
    #   = 80 LUT + 24) -> 106,496 LUT
    #   vec_x, vec_r 128 banks of 32 bits x 24 (3,072 / 128): LUTRAM 24 LUT -> 3,072 + 3,072 each
    #   vec_io 128 banks of 8 bits x 96 (12,288 / 128): 1 BRAM18 each -> 128, 3,072 LUT
    #   m_axi data buffers (Vitis HLS 2022.1 adapter RTL: a read buffer of 16 outstanding x
    #   64-word bursts = 1,024 x 514 bits, 29 BRAM18 of 1K x 18; a write buffer of one burst,
    #   64 x 576 bits, 16 BRAM18 of 512 x 36): 5 ports (2 weight, 2 input, 1 output) read on the
    #   4 weight and input ports and on the output port (the partial sums' read-back), write on
    #   the output port: 5 x 29 + 16 -> 161 BRAM18
    #   a_hold (mnk: n inside m) as a_buf, one copy: 4,864 + 768 LUT
    #   row stages (7 bits per RAM64M8 cell): a_stage 32 x 32 banks of 8 bits x 2 (64 / 32): 8
    #   LUT each -> 8,192 + 24,576; bt_stage 4 x 32 of 8 x 2 -> 1,024 + 3,072; b_stage 32 x 4
    #   of 8 x 64 (256 / 4): 16 LUT -> 2,048 + 3,072; p_stage 32 x 4 of 32 x 64: 40 LUT
    #   -> 5,120 + 3,072
    #   store_c's stage partitioned for the 128-lane epilogue (dse.hardware.epilogue_banks): 32
    #   x 128 banks of 32 x 2 (256 / 128): 3 RAM32M16 = 24 LUT + 24 -> 196,608 LUT; bias_row
    #   128 banks of 32 x 2: 48 LUT each -> 6,144; res_row, out_row 128 banks of 8 x 2 (the
    #   lanes outnumber the 64 bytes of a 512-bit word): 8 + 24 LUT -> 4,096 each
    #   p_s (ping-pong: one group of 32 rows): one bank of 32 x 4 x 32 = 4,096 bits x 256 / 4 =
    #   64 blocks: LUTRAM, ceil(4,096 / 7) = 586 RAM64M8 -> 4,688 LUT, + 24
    #   c_s, compute's output FIFO, one C tile: one bank of 4,096 bits x (128/32)(256/4) = 256
    #   blocks: BRAM, 512 x 36 shape: ceil(4,096 / 36) = 114 BRAM18, + 24 LUT
    # BRAM18 64 + 128 + 32 + 32 + 128 + 161 + 114 = 659; DSP 32 x 32 x 4/2 = 2,048 (two INT8 MACs
    # per DSP) + 128 lanes x 2 = 2,304; LUT 4,096 MACs x 20 + 128 x 350 + 405,760 (buffers) + 5
    # ports x (512 FIFO + 1,800) + 6,000 = 550,040. Three CUs: 1,977 BRAM18, 1,650,120 LUT, 6,912
    # DSP. LUT 550,040 / 288,083 = 190.93 % on SLR0 (the fullest: a 128-lane epilogue and softmax
    # on 4-wide C blocks pays for its banks in LUTs), BRAM18 659 / 953 = 69.15 %, DSP 2,304 /
    # 2,876 = 80.11 %, URAM 0. The device-wide figure would be 1,650,120 / (288,083 + 2 x
    # 388,800) = 154.84 %: 36 points below what limits the design.
    model = Model(_hand_placed(), cfg.workload)
    batch = design_batch([FASTEST], cfg.platform)
    c = model.evaluate(batch).columns
    assert (c["bram18"][0], c["lut"][0], c["dsp"][0], c["uram"][0]) == (1977, 1650120, 6912, 0)
    assert c["utilization"][0] == pytest.approx(550_040 / 288_083, rel=1e-6)
    assert c["util_bram"][0] == pytest.approx(659 / 953, rel=1e-6)
    assert c["util_lut"][0] == pytest.approx(550_040 / 288_083, rel=1e-6)
    assert c["util_dsp"][0] == pytest.approx(2_304 / 2_876, rel=1e-6)
    assert c["util_uram"][0] == 0.0

    # Parquet: the same figure and its name, through the result table and a file
    frame = results_frame(model, batch, model.evaluate(batch), ["g-fastest"])
    write_table(frame, tmp_path / "r.parquet")
    row = read_table(tmp_path / "r.parquet").iloc[0]
    assert row["utilization"] == pytest.approx(550_040 / 288_083, rel=1e-6)
    assert row["binding"] == "lut SLR0"

    # summary.md shows the same value and name
    selected = read_table(tmp_path / "r.parquet").assign(selection="fastest")
    md = table(selected, {})
    header = [h.strip() for h in md.splitlines()[0].split("|")]
    cells = [v.strip() for v in md.splitlines()[2].split("|")]
    assert cells[header.index("util (fullest SLR)")] == "190.9%"
    assert cells[header.index("binding")] == "lut SLR0"

    # design.json of the export: the row's figure and name, unchanged
    import json

    from dse.export import export_design

    export_design(read_table(tmp_path / "r.parquet").to_dict("records")[0], cfg.platform.raw,
                  tmp_path / "hls")
    exported = json.loads((tmp_path / "hls" / "design.json").read_text())
    assert exported["utilization"] == row["utilization"]
    assert exported["binding"] == "lut SLR0"

    # resources.png's data: the per-SLR bars of the model's detail, their largest bar, and the
    # legend the figure writes
    _, res = detail_frames(model, selected)
    fr = resources_plot.fractions(res)
    lut0 = fr[(fr["resource"] == "lut") & (fr["slr"] == "SLR0")]["fraction"].iloc[0]
    assert lut0 == pytest.approx(row["utilization"], rel=1e-9)
    top = resources_plot.binding(res).iloc[0]
    assert top["utilization"] == pytest.approx(row["utilization"], rel=1e-9)
    assert top["binding"] == row["binding"]
    for name, util in (("lut", "util_lut"), ("dsp", "util_dsp"), ("bram18", "util_bram")):
        most = fr[fr["resource"] == name]["fraction"].max()
        assert most == pytest.approx(row[util], rel=1e-9)
    fig = resources_plot.figure(res, title=None)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[0] == "g-fastest: 190.9% (lut SLR0)"


@settings(max_examples=60, deadline=None)
@given(st.lists(designs, min_size=1, max_size=8))
def test_utilization_over_one_exactly_when_an_slr_overflows(cfg, model, raws):
    # The search's constraint counts utilization - 1 as the resource excess: it must be > 0
    # for designs the model rejects for an SLR resource (codes >= 10) and <= 1 for feasible
    # ones. The violation names the first resource over budget on its fullest SLR; utilization
    # is the largest such fraction, so it is at least that violation's used / available, and
    # when both name the same resource they name the same SLR.
    from dse.model import violation_text
    from dse.results import binding_names

    r = model.evaluate(design_batch([_design(x) for x in raws], cfg.platform)).columns
    code, util = r["violation_code"], r["utilization"]
    assert np.all(util[code == 0] <= 1.0)
    slr = code >= 10
    assert np.all(util[slr] > 1.0)
    used, limit = r["violation_used"][slr], r["violation_limit"][slr]
    assert np.all(util[slr] >= used / limit * (1 - 1e-6))
    text = violation_text(cfg.platform, code[slr], used, limit)
    names = np.array(binding_names(cfg.platform), dtype=object)[r["binding"][slr]]
    for t, n in zip(text, names, strict=True):
        if t.split()[0] == n.split()[0]:
            assert t.startswith(n + " ")


def test_design_bound_is_where_most_time_goes(cfg):
    # `bound` is one figure shown twice: the Parquet column and the breakdown plot's "X-bound"
    # label (the bound under which most of the call's time is spent). Recompute it from the
    # per-kernel detail: each kernel's time goes to its own limiting bound.
    from dse.model import BOUNDS
    from dse.space import Grid

    model = cfg.model()
    grid = Grid(cfg.raw["sweep"]["space"])
    batch = grid.decode(np.arange(0, grid.size, grid.size // 500))
    res = model.evaluate(batch, detail=True)
    per_bound = np.zeros((len(res.kernel_ms), len(BOUNDS)))
    for j in range(len(BOUNDS)):
        per_bound[:, j] = np.where(res.kernel_bound == j, res.kernel_ms, 0.0).sum(axis=1)
    np.testing.assert_array_equal(res.columns["bound"], per_bound.argmax(axis=1))
    assert len(set(res.columns["bound"].tolist())) > 1  # the sample is not all one bound


class _Bursts:
    """A stand-in batch for dse.model._tiled_row_s: one channel of 1 byte/ns, 100 ns a burst."""

    maxb = 4096.0

    def bw(self, nch, burst, lat):
        b = np.minimum(burst, self.maxb)
        return nch * b / (b / 1e9 + lat)


def test_a_ragged_last_tile_is_a_burst_of_its_own():
    # kernel.cpp moves a matrix row as one burst per tile, in whole 64-byte words. At 1 byte/ns
    # and 100 ns latency a burst of w bytes takes (w + 100) ns.
    from dse.model import _tiled_row_s

    def row_ns(width, tile, row_al=1.0, slice_b=0.0, split=1.0):
        T, alt = np.ceil(width / tile), float(tile % 64 == 0)
        s = _tiled_row_s(_Bursts(), 1.0, 100e-9, width, tile, T, row_al, alt, slice_b, split)
        return float(np.ravel(s)[0]) * 1e9

    # 64 bytes (the default export's head dimension) in one tile: one word, 164 ns
    assert row_ns(64, 64) == pytest.approx(164)
    # ... in tiles of 60 (its attention tile_n): bytes 0-59 (one word) and 60-63 (the same word
    # again, its own burst): 2 x 164 ns; the average-tile count 64/60 would charge 175 ns
    assert row_ns(64, 60) == pytest.approx(2 * 164)
    # 128 bytes in tiles of 60: 0-59 (one word), 60-119 (starts inside a word: two), 120-127 (one)
    assert row_ns(128, 60) == pytest.approx((64 + 100) + (128 + 100) + (64 + 100))
    # tiles that divide the row: T bursts of the tile, as the average-tile count charges
    assert row_ns(512, 128) == pytest.approx(4 * (128 + 100))
    # rows that do not start on words: every tile one word more
    assert row_ns(64, 64, row_al=0.0) == pytest.approx(128 + 100)
    # three CUs share 128-byte rows in slices of 43 bytes (q_proj's 128 columns, 43/43/42): the
    # second CU's bytes 43-85 span two words, and the step waits for it
    assert row_ns(43, 576, slice_b=43, split=3) == pytest.approx(128 + 100)
    # ... slices of 32 bytes of a 96-byte row start at 0, 32, 64: none crosses a word
    assert row_ns(32, 576, slice_b=32, split=3) == pytest.approx(64 + 100)
    # 768 bytes in tiles of 32 (r-6071ab79b1c00a07's patch rows, tile_k 32): every tile sits
    # inside one word (bytes 32j .. 32j+31), 24 bursts of one word; counting a word more for the
    # 22 middle tiles that start inside a word would charge 24 x 164 + 22 x 64 ns
    assert row_ns(768, 32) == pytest.approx(24 * 164)
    # 768 bytes in tiles of 96: tiles 0..7 at bytes 0, 96, ..., 672; each spans two words
    # (96 = 1.5 words, starting on a word or half way: 0-95, 96-191 = words 1-2, ...)
    assert row_ns(768, 96) == pytest.approx(8 * (128 + 100))


def test_fused_attention_pipeline_never_slower_than_serial(cfg):
    # Each row-block call of fused attention is its own pipeline; only the head's first call
    # reads K^T / V from memory. Double buffering overlaps load, compute and store, so it can
    # never take longer than running them one after another (the model charged 2 x the first
    # call's V load when the C simulation's per-call sum was lower, issue 16).
    from dse import csim
    from dse.model import Model, _Batch
    from dse.platform import Platform
    from dse.workload import Workload

    small = csim.reduced_model(cfg.model_raw)  # 256 tokens: two row-block calls of 128 rows
    m = Model(Platform.from_mapping(cfg.platform_raw), Workload.from_mapping(small))
    base = {**BASE_DESIGN, "fuse_attention": True, "dataflow": "mnk", "tile_m": 128}
    b = _Batch(m, design_batch([{**base, "double_buffer": v} for v in (True, False)], m.platform))
    for name in ("attn_scores", "attn_context"):
        k = next(k for k in m.workload.kernels if k.name == name)
        t = m._gemm(k, b)[0]
        assert t[0] <= t[1] * (1 + 1e-9), name


def test_a_streamed_operand_is_its_bytes_in_the_longest_bursts():
    # operand_layout "tiles" (AutoSA --host-serialize): the host stores each operand tile by
    # tile, so the kernel reads it as one sequential stream, whatever the tile width. At 1
    # byte/ns and 100 ns a burst, 4096-byte bursts (max_burst_bytes) move 4096 B per 4196 ns.
    from dse.model import _streamed_row_s, _tiled_row_s

    rate = 4096 / 4196e-9  # bytes/s
    # a 1024-byte row in 16 tiles of 64 bytes: 16 one-word bursts as dse's kernel reads it
    # (16 x 164 ns), 1024 B at the long-burst rate streamed (1049 ns)
    rows = float(np.ravel(_tiled_row_s(_Bursts(), 1.0, 100e-9, 1024.0, 64.0, 16.0, 1.0, 1.0))[0])
    assert rows * 1e9 == pytest.approx(16 * 164)
    row, last = _streamed_row_s(_Bursts(), 1.0, 100e-9, 1024.0, 64.0, 16.0, with_last=True)
    assert row == pytest.approx(1024 / rate)
    assert last == pytest.approx(64 / rate)  # the last k tile's 64 bytes of the row
    # a ragged last tile (1000 bytes in tiles of 64: 15 x 64 + 40) streams its 40 bytes
    assert _streamed_row_s(_Bursts(), 1.0, 100e-9, 1000.0, 64.0, 16.0, with_last=True)[1] == (
        pytest.approx(40 / rate))


def test_operand_layout_changes_only_the_transfers(cfg):
    # The same design with streamed operands: compute and the epilogue are unchanged, the
    # input stream never slower (one long stream instead of a burst per tile row), and a layout
    # the model does not know is refused.
    from dse.model import Model, _Batch

    design = dict(compute_units=1, pe_m=16, pe_n=16, pe_k=64, tile_m=256, tile_n=256,
                  tile_k=64, weight_precision="INT8", act_precision="INT8", pc_inputs=1,
                  pc_weights=1, pc_outputs=1, clock_mhz=300)
    k = next(k for k in cfg.workload.kernels if k.name == "fc1")
    parts = {}
    for layout in ("rows", "tiles"):
        m = Model(cfg.platform, cfg.workload, operand_layout=layout)
        b = _Batch(m, design_batch([{**BASE_DESIGN, **design}], m.platform))
        parts[layout] = [float(np.ravel(x)[0]) for x in m._gemm(k, b)[1]]
    comp, w, t_in, out, vec = range(5)
    assert parts["tiles"][comp] == parts["rows"][comp]
    assert parts["tiles"][vec] == parts["rows"][vec]
    # A's rows of tile_k = 64 bytes are one word per burst: latency-bound, far slower than
    # the stream
    assert parts["tiles"][t_in] < 0.8 * parts["rows"][t_in]
    assert parts["tiles"][w] <= parts["rows"][w] * (1 + 1e-6)
    with pytest.raises(ValueError, match="operand_layout"):
        Model(cfg.platform, cfg.workload, operand_layout="columns")


def test_a_published_build_overlaps_its_bank_writes_with_its_reads(cfg):
    # dse's kernel writes each row group's bank words after its bursts (kernel.cpp load_a), so
    # the A loader takes reads + writes; a published build (template False; Vitis BLAS streams
    # its reads through concurrent dataflow stages into its buffers) takes the longer of them.
    # fc1: M = 1024, K = 768, N = 3072, PE 16 x 16 x 16, tiles 128 x 128 x 256, loop order mnk:
    # A is read once per n tile (Tn = 24) and writes 24 x (1024/16) x (768/16) = 73,728 bank
    # words, one per cycle: 0.24576 ms at 300 MHz.
    from dse.model import Model, _Batch

    design = dict(compute_units=1, pe_m=16, pe_n=16, pe_k=16, tile_m=128, tile_n=128,
                  tile_k=256, dataflow="mnk", weight_precision="INT8", act_precision="INT8",
                  clock_mhz=300)
    k = next(k for k in cfg.workload.kernels if k.name == "fc1")
    words_s = 24 * 64 * 48 / 300e6
    t_in = {}
    for template in (True, False):
        m = Model(cfg.platform, cfg.workload, template=template)
        b = _Batch(m, design_batch([{**BASE_DESIGN, **design}], m.platform))
        t_in[template] = float(np.ravel(m._gemm(k, b)[1][2])[0])
    reads_s = t_in[True] - words_s
    assert reads_s > 0
    assert t_in[False] == pytest.approx(max(reads_s, words_s), rel=1e-5)


@pytest.mark.parametrize("cus", [(1, 3), (1,)])
def test_per_design_constants_equal_one_platform_per_value(cfg, cus):
    # Model.evaluate(constants=...) gives each design its own pipeline fill, epilogue overlap
    # and read latency (dse.fit's latency fit runs its trials so): each design's figures must
    # be bit for bit those of a model of the board file with that value, built independently
    # from the edited YAML mapping. The values: the grid's ends and the shipped ones; with 3
    # CUs in the batch a CU crosses SLRs (the read latency's crossing branch), with 1 CU only
    # none does (the other branch); the mapper on (TILE_DIVISORS).
    import copy

    from dse.model import Model
    from dse.params import TILE_DIVISORS
    from dse.platform import Platform

    designs = [{**BASE_DESIGN, "compute_units": cu, "dataflow": df}
               for cu in cus for df in ("mnk", "kmn")]
    values = [(12, 1.0, 289.0), (0, 0.3, 25.0), (256, 0.0, 400.0)]
    kind = cfg.platform.raw["design_memory"]

    def platform(fill, overlap, latency):
        raw = copy.deepcopy(cfg.platform.raw)
        raw["logic"]["pipeline_fill_cycles"] = fill
        raw["logic"]["epilogue_overlap"] = overlap
        raw["memories"][kind]["read_latency_ns"] = latency
        return Platform.from_mapping(raw, source="edited u280")

    alone = []
    for v in values:
        P = platform(*v)
        m = Model(P, cfg.workload, tile_divisors=TILE_DIVISORS)
        alone.append(m.evaluate(design_batch(designs, P), detail=True))
    base = platform(*values[0])
    one = design_batch(designs, base)
    n = len(designs)
    batch = {k: np.concatenate([np.asarray(x)] * len(values)) for k, x in one.items()}
    constants = {name: np.repeat([v[i] for v in values], n) for i, name in
                 enumerate(("pipeline_fill_cycles", "epilogue_overlap", "read_latency_ns"))}
    together = Model(base, cfg.workload, tile_divisors=TILE_DIVISORS).evaluate(
        batch, detail=True, constants=constants)
    for key in ("latency_ms", "latency_per_image_ms", "bound", "fmax_mhz", "feasible"):
        np.testing.assert_array_equal(
            together.columns[key], np.concatenate([a.columns[key] for a in alone]))
    np.testing.assert_array_equal(together.kernel_ms,
                                  np.concatenate([a.kernel_ms for a in alone]))
    for key in together.mapping:
        np.testing.assert_array_equal(together.mapping[key],
                                      np.concatenate([a.mapping[key] for a in alone]))
    # the values matter: the three platforms' latencies differ
    lat = [a.columns["latency_ms"] for a in alone]
    assert not np.array_equal(lat[0], lat[1]) and not np.array_equal(lat[0], lat[2])
    with pytest.raises(ValueError, match="launch_us"):
        Model(base, cfg.workload).evaluate(one, constants={"launch_us": np.zeros(n)})
