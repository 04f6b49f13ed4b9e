"""Per-kernel-class precision and runtime tiling on one engine, and the quality proxy."""

from __future__ import annotations

import pytest

from tests.conftest import batch_of
from tests.test_export import hls_include

# MACs per image by class (hand arithmetic, S = 1024, D = 768, F = 3072, 12 layers, 12 heads):
EMBED = 1024 * 768 * 768 + 64 * 12288 * 960  # patch embedding + connector
PROJ = 4 * 12 * 1024 * 768 * 768  # q, k, v, out
ATTN = 2 * 12 * 12 * 1024 * 64 * 1024  # scores + context
MLP = 2 * 12 * 1024 * 768 * 3072  # fc1 + fc2
TOTAL = EMBED + PROJ + ATTN + MLP


def test_class_shares_add_up(cfg):
    assert cfg.workload.macs_per_image == TOTAL


def test_quality_proxy_hand_value(cfg, model):
    # uniform INT8 x INT8: sum_c share_c x sensitivity_c x (penalty INT8 weights + INT8 acts)
    sens = {"embed": 2.0, "proj": 1.0, "attention": 1.5, "mlp": 0.8}  # configs/models/...yaml
    share = {"embed": EMBED, "proj": PROJ, "attention": ATTN, "mlp": MLP}
    expected = sum(share[c] / TOTAL * sens[c] for c in sens) * (0.00227 + 0.00227)
    q = model.evaluate(batch_of(cfg)).columns["quality_loss"][0]
    assert q == pytest.approx(expected, rel=1e-5)
    # INT4 MLP weights add share_mlp x 0.8 x (0.04124 - 0.00227)
    q4 = model.evaluate(batch_of(cfg, prec_mlp="INT4")).columns["quality_loss"][0]
    assert q4 - q == pytest.approx(MLP / TOTAL * 0.8 * (0.04124 - 0.00227), rel=1e-4)


def test_engine_pays_for_the_widest_mode(cfg, model):
    # INT8 engine with BF16 MLP weights: the PE array must do BF16 MACs, multiplied in FP32
    # (fmul 3 DSP + fadd 2 DSP per MAC), not 2 INT8 MACs per DSP
    base = model.evaluate(batch_of(cfg, double_pump=False, compute_units=1)).columns
    mixed = model.evaluate(
        batch_of(cfg, double_pump=False, compute_units=1, prec_mlp="BF16")
    ).columns
    assert base["dsp"][0] == 4096 / 2 + 64
    # plus the float engine's slot adders: 16 x 16 outputs x (5 partial sums - 1) fadds x 2 DSP
    assert mixed["dsp"][0] == 4096 * 5 + 64 + 16 * 16 * 4 * 2
    # narrower classes cost no DSPs: INT4 MLP weights on the INT8 engine (INT4xINT8: 2 per DSP)
    narrow = model.evaluate(
        batch_of(cfg, double_pump=False, compute_units=1, prec_mlp="INT4")
    ).columns
    assert narrow["dsp"][0] == base["dsp"][0]


def test_int4_weights_travel_as_bytes(cfg, model):
    # one weight channel per CU makes fc1/fc2 weight-bound; INT4 weights do not shorten them:
    # the kernel and the host keep one INT4 element per byte in memory (docs/kernel.md,
    # "Interface"), so the weight traffic is the INT8 design's (issue 16, item 4)
    kw = dict(pc_weights=1, tile_m=64, dataflow="mnk", fuse_attention=True, vector_lanes=128)
    r8 = model.evaluate(batch_of(cfg, **kw), detail=True)
    r4 = model.evaluate(batch_of(cfg, prec_mlp="INT4", **kw), detail=True)
    i = list(model.kernel_names).index("fc2")
    assert r8.kernel_bound[0, i] == 1  # weights
    assert r4.kernel_ms[0, i] == r8.kernel_ms[0, i]


def test_a_narrower_class_moves_the_engines_bytes(cfg, model):
    # A BF16 engine with INT8 connector weights (r-5b7e771cb1f6bc17's case): the exported kernel
    # stores and reads every class's weights as weight_t (BF16, 2 bytes) and the host lays them
    # out so (dse.export, host.cpp), so the narrower class saves no traffic and no time; only
    # its quality changes. Before MODEL_VERSION 2.2.0 the model charged 1 byte, and csim counted
    # the connector +13.2% over the model.
    kw = dict(weight_precision="BF16", act_precision="BF16", pc_weights=1)
    uniform = model.evaluate(batch_of(cfg, **kw), detail=True)
    narrow = model.evaluate(batch_of(cfg, prec_embed="INT8", **kw), detail=True)
    i = list(model.kernel_names).index("connector")
    assert narrow.kernel_ms[0, i] == uniform.kernel_ms[0, i]
    assert narrow.columns["bytes_per_call"][0] == uniform.columns["bytes_per_call"][0]
    assert narrow.columns["quality_loss"][0] > uniform.columns["quality_loss"][0]


def test_runtime_tile_for_the_connector(cfg, model):
    # connector M = 64: the kernel's PE loop runs the tile's 64 real rows (runtime trip counts),
    # so a 128-row engine tile wastes nothing and a runtime tile of 128 / 2 = 64 rows for the
    # embed class costs the same (one tile along m either way; compute-bound case)
    kw = dict(pc_weights=8, pc_inputs=2, pc_outputs=1, compute_units=1, tile_m=128)
    full = model.evaluate(batch_of(cfg, **kw), detail=True)
    half = model.evaluate(batch_of(cfg, tile_m_div_embed=2, **kw), detail=True)
    i = list(model.kernel_names).index("connector")
    assert full.kernel_ms[0, i] == pytest.approx(half.kernel_ms[0, i], rel=1e-6)
    # a quarter tile (32 rows) needs 2 tiles along m: the same PE steps, twice the fills and
    # twice the weight re-fetches (mnk: B is read once per m tile), so it is slower
    quarter = model.evaluate(batch_of(cfg, tile_m_div_embed=4, **kw), detail=True)
    assert quarter.kernel_ms[0, i] > full.kernel_ms[0, i] * (1 + 1e-3)
    # the engine's buffers stay sized for the full tile
    assert full.columns["bram18"][0] == half.columns["bram18"][0]


def test_divisor_never_goes_below_one_pe_step(cfg, model):
    # tile_n 128 / 64 = 2 < pe_n 16: the class runs one PE step (16 columns), same as /8
    a = model.evaluate(batch_of(cfg, tile_n_div_mlp=8)).columns["latency_ms"][0]
    b = model.evaluate(batch_of(cfg, tile_n_div_mlp=64)).columns["latency_ms"][0]
    assert a == b


def test_export_carries_the_engine_and_class_settings(tmp_path):
    # INT8 engine default, INT4 MLP weights, BF16 attention operands, connector class on half
    # rows: the engine is built for the widest modes (INT8 weights, BF16 activations) and the
    # header lists each class's runtime tile and precision; it still compiles with plain g++.
    import shutil
    import subprocess

    from dse.export import export_design
    from tests.test_export import PLATFORM, make_design

    design = make_design(prec_mlp="INT4", prec_attention="BF16", tile_m_div_embed=2)
    export_design(design, PLATFORM, tmp_path)
    header = (tmp_path / "dse_config.h").read_text()
    assert "using weight_t = std::int8_t;" in header.replace("  ", " ")
    assert "// act_precision = BF16" in header
    assert '{"mlp", 16, 8, "INT4"}' in header  # tile 16 x 8, divisors 1
    assert '{"embed", 8, 8, "INT8"}' in header  # 16 / 2 = 8 rows (pe_m = 4 -> multiple of 4)
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-fsyntax-only",
            "-Wno-unknown-pragmas",
            f"-I{hls_include()}",
            str(tmp_path / "kernel.cpp"),
        ],
        check=True,
        cwd=tmp_path,
    )


def test_uniform_quality_loss_matches_the_model(cfg, model):
    # the selection's quality bound (Workload.uniform_quality_loss) is the model's own figure
    # for a uniform design of that precision
    for prec in ("BF16", "INT8", "INT4"):
        q = model.evaluate(batch_of(cfg, weight_precision=prec, act_precision=prec))
        assert q.columns["quality_loss"][0] == pytest.approx(
            cfg.workload.uniform_quality_loss(prec), rel=1e-5
        )
