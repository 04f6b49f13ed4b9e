"""dse csim: the reduced workload, the model's cycles per GEMM call, and the C simulation end to
end on exported designs."""

from __future__ import annotations

import pytest

from dse import csim
from dse.model import _Batch
from dse.params import EXAMPLE_DESIGN
from dse.space import design_batch
from dse.workload import GEMM, Workload, check_model


def test_reduced_model_keeps_the_models_proportions(cfg):
    raw = cfg.model_raw  # smolVLA: 768 hidden, 12 heads of 64, MLP 3072, 32 x 32 grid, scale 4
    small = csim.reduced_model(raw)
    check_model(small)  # divisibility kept: heads divide hidden, the scale divides the grid
    # 2 heads of the model's 64 -> hidden 128; MLP ratio 4 -> 512; grid side 16 (a multiple of
    # the scale 4) -> 256 tokens, 16 after the shuffle; connector out 960 x 128 / 768 = 160
    assert (small["heads"], small["hidden"], small["mlp"]) == (2, 128, 512)
    assert small["image_size"] // small["patch_size"] == 16
    assert small["connector"] == {**raw["connector"], "out_features": 160}
    assert (small["layers"], small["cameras"]) == (1, 1)
    gemms = {k.name: (k.m, k.k, k.n) for k in Workload.from_mapping(small).gemms}
    assert gemms["attn_scores"] == (256, 64, 256) and gemms["connector"] == (16, 2048, 160)
    full = csim.reduced_model(raw, full_size=True)
    assert {**full, "layers": raw["layers"], "cameras": raw["cameras"]} == raw


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"dataflow": "nkm", "tile_m_div_attention": 2, "tile_n_div_mlp": 4, "compute_units": 2},
        {"pe_m": 8, "tile_m": 64, "tile_k": 96, "tile_n_div_embed": 8, "compute_units": 1},
    ],
)
def test_expected_cycles_are_the_models_compute_cycles(cfg, changes):
    # model_gemm_cycles restates the model's compute time (Model._gemm's t_comp) for one call;
    # here both are evaluated on the reduced workload, call by call, and must agree.
    design = {**EXAMPLE_DESIGN, "design_id": "t", **changes}
    small = csim.reduced_model(cfg.model_raw)
    sched = csim.reduced_schedule(design, cfg.platform_raw, small)
    fill = cfg.platform_raw["logic"]["pipeline_fill_cycles"]
    rows = csim.expected_cycles(sched, design, fill)
    from dse.model import Model
    from dse.platform import Platform

    model = Model(Platform.from_mapping(cfg.platform_raw), Workload.from_mapping(small))
    b = _Batch(model, design_batch([design], model.platform))
    for k in model.workload.kernels:
        if k.kind != GEMM:
            continue
        t_comp = model._gemm(k, b)[1][0]
        mine = {r["model_cycles"] for r in rows if r["kernel"] == k.name}
        assert len(mine) == 1
        assert mine.pop() == pytest.approx(float(t_comp[0]) * design["clock_mhz"] * 1e6, rel=1e-6)
    # one row per call: 2 heads of scores and context, the others once per CU that shares them
    g = design["compute_units"]
    assert sum(r["kernel"] == "attn_scores" for r in rows) == 2
    assert sum(r["kernel"] == "fc1" for r in rows) == g


def test_model_gemm_cycles_by_hand():
    # M = 100 on tile 64 -> 2 tiles, N = 128 on 128 -> 1, K = 300 on 256 -> 2: 4 tiles, each
    # (64/16)(128/16)(256/16) = 512 steps + 12 fill
    got = csim.model_gemm_cycles(
        {"m": 100, "k": 300, "n": 128},
        {"m": 64, "n": 128, "k": 256},
        {"pe_m": 16, "pe_n": 16, "pe_k": 16},
        12,
    )
    assert got == 4 * (512 + 12)
