"""dse csim: the reduced workload, the model's cycles per GEMM call, and the C simulation end to
end on exported designs."""

from __future__ import annotations

import shutil

import numpy as np
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
        {"pe_n": 4, "tile_n": 64},
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
    g = design["compute_units"]
    from dse.model import Model
    from dse.platform import Platform

    model = Model(Platform.from_mapping(cfg.platform_raw), Workload.from_mapping(small))
    b = _Batch(model, design_batch([design], model.platform))
    for k in model.workload.kernels:
        if k.kind != GEMM:
            continue
        t_comp = model._gemm(k, b)[1][0]
        mine = {r["model_cycles"] for r in rows if r["kernel"] == k.name}
        # the model charges the step its slowest call (the largest column share); a CU with
        # fewer columns may run fewer PE steps (160 columns on 3 CUs: 54, 54, 52; on pe_n 4 that
        # is 14, 14, 13 steps, on this pe_n 16 4 each)
        assert max(mine) == pytest.approx(float(t_comp[0]) * design["clock_mhz"] * 1e6, rel=1e-6)
        for r in rows:
            if r["kernel"] == k.name:
                n = r["cols"][1] - r["cols"][0] if "cols" in r else r["shape"]["n"]
                assert r["shape"]["n"] == n
                assert r["model_cycles"] == csim.model_gemm_cycles(
                    r["shape"], r["tile"], {p: design[p] for p in ("pe_m", "pe_n", "pe_k")}, fill
                )
    if design["pe_n"] == 4:
        # the connector (16 x 2048 x 160) on 3 CUs: 54, 54 and 52 columns on tiles 128 x 64 x
        # 256, PE 16 x 4 x 16: 1 x 1 x 8 tiles (12 fill each) and 1 x 14 x 128 or 1 x 13 x 128
        # PE steps
        con = [r["model_cycles"] for r in rows if r["kernel"] == "connector"]
        assert con == [14 * 128 + 96, 14 * 128 + 96, 13 * 128 + 96]
    # one row per call: 2 heads of scores and context, the others once per CU that shares them
    assert sum(r["kernel"] == "attn_scores" for r in rows) == 2
    assert sum(r["kernel"] == "fc1" for r in rows) == g


def test_model_gemm_cycles_by_hand():
    # M = 100 on tile 64 -> 2 tiles, N = 128 on 128 -> 1, K = 300 on 256 -> 2: 4 tiles. The PE
    # loop runs each tile's real extent rounded up to the PE factors: m 64 + 36 -> 4 + 3 = 7
    # steps, n 8, k 256 + 44 -> 16 + 3 = 19: 7 x 8 x 19 = 1064 steps, + 4 x 12 fill
    # (the padding model charged 4 x (4 x 8 x 16 + 12) = 2096)
    got = csim.model_gemm_cycles(
        {"m": 100, "k": 300, "n": 128},
        {"m": 64, "n": 128, "k": 256},
        {"pe_m": 16, "pe_n": 16, "pe_k": 16},
        12,
    )
    assert got == 7 * 8 * 19 + 4 * 12
    # the attention scores: K = head_dim = 64 on tile_k 256 with pe_k 32 costs 64 / 32 = 2 steps
    # per (m, n) step, not 256 / 32 = 8: M = N = 256 on 128 x 128 tiles of PE 16 x 16 ->
    # 4 tiles x ((128/16)(128/16)(64/32) + 12)
    got = csim.model_gemm_cycles(
        {"m": 256, "k": 64, "n": 256},
        {"m": 128, "n": 128, "k": 256},
        {"pe_m": 16, "pe_n": 16, "pe_k": 32},
        12,
    )
    assert got == 4 * (8 * 8 * 2 + 12)


def test_gemm_dump_checks():
    rng = np.random.default_rng(7)
    a = rng.integers(-127, 128, (5, 300)).astype(np.int8)
    b = rng.integers(-7, 8, (300, 4)).astype(np.int8)
    acc = a.astype(np.int64) @ b.astype(np.int64)
    assert csim.check_gemm_dump(a, b, acc.astype(np.int32), integer=True)["exact"]
    acc[2, 3] += 1  # one accumulator off by one: not bit-exact
    bad = csim.check_gemm_dump(a, b, acc.astype(np.int32), integer=True)
    assert not bad["exact"] and bad["max_diff"] == 1
    # float engines: float32 sums in ascending k lie within gamma_K sum |a b| of the exact sum;
    # an error of 1e-3 relative is far outside it (gamma_300 = 1.8e-5)
    fa, fb = rng.standard_normal((5, 300)).astype(np.float32), rng.standard_normal((300, 4))
    fb = fb.astype(np.float32)
    from dse.reference import float32_matmul

    good = float32_matmul(fa, fb)
    assert csim.check_gemm_dump(fa, fb, good, integer=False)["exact"]
    assert not csim.check_gemm_dump(fa, fb, good * np.float32(1.001), integer=False)["exact"]


def test_kernel_order_sums_as_the_pe_tree():
    # one output, K = 4 on pe_k = 4: the PE step sums its four products as a tree,
    # (1 + 1e8) + (-1e8 + 1) = 1e8 - 1e8 = 0 in float32 (each bracket rounds the 1 away), where
    # ascending k gives ((1 + 1e8) - 1e8) + 1 = 1
    from dse.reference import Order, float32_matmul, kernel_matmul32

    a = np.array([[1.0, 1e8, -1e8, 1.0]], dtype=np.float32)
    b = np.ones((4, 1), dtype=np.float32)
    order = Order(tile_k=4, pe_k=4, acc_slots=5, lanes=8, vector_slots=5)
    assert kernel_matmul32(a, b, order)[0, 0] == 0.0
    assert float32_matmul(a, b)[0, 0] == 1.0
    # pe_k = 2, 2 slots: steps (1 + 1e8) -> slot 0, (-1e8 + 1) -> slot 1, slots 1e8 + -1e8 = 0;
    # tile_k = 2 instead: tile totals 1e8, then 1e8 + (-1e8 + 1 = -1e8) = 0 as well
    assert kernel_matmul32(a, b, Order(4, 2, 2, 8, 5))[0, 0] == 0.0
    assert kernel_matmul32(a, b, Order(2, 2, 1, 8, 5))[0, 0] == 0.0
    # the dump check holds a float engine's accumulators to that order exactly
    good = kernel_matmul32(a, b, order)
    assert csim.check_gemm_dump(a, b, good, integer=False, order=order)["exact"]
    assert not csim.check_gemm_dump(a, b, good + 1, integer=False, order=order)["exact"]


def test_stage_tolerances():
    # INT8: one code apart is a rounding-boundary case, two codes apart is a fault
    want = np.array([[3, -5, 127]], dtype=np.int8)
    one = np.array([[4, -5, 126]], dtype=np.int8)
    two = np.array([[5, -5, 127]], dtype=np.int8)
    assert csim.compare_stage("t", one, want, "INT8")["ok"]
    assert not csim.compare_stage("t", two, want, "INT8")["ok"]
    # FP32: 8 ulp (2^-20 relative) allowed, 2^-16 not
    x = np.array([[1.0, -3.0, 0.5]], dtype=np.float32)
    assert csim.compare_stage("t", x * np.float32(1 + 2**-21), x, "FP32")["ok"]
    assert not csim.compare_stage("t", x * np.float32(1 + 2**-16), x, "FP32")["ok"]
    # BF16 (stored as bits): one bf16 step allowed, two not
    from dse.reference import bf16_bits

    b = bf16_bits(np.array([1.0, 2.0], np.float32))
    assert csim.compare_stage("t", b + np.uint16(1), b, "BF16")["ok"]
    assert not csim.compare_stage("t", b + np.uint16(3), b, "BF16")["ok"]


# ---- dse csim end to end ------------------------------------------------------------------------

GXX = shutil.which("g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ is not installed")


@pytest.fixture(autouse=True)
def _object_cache(tmp_path_factory, monkeypatch):
    """Compiled objects shared by this session's runs (not the user's ~/.cache): the broken
    kernel's run reuses the host and vector unit of the passing run."""
    monkeypatch.setenv("DSE_CSIM_CACHE", str(tmp_path_factory.getbasetemp() / "csim-objects"))


def _export(tmp_path, cfg, design_id="c1", **changes):
    """Export one design (EXAMPLE_DESIGN with changes) as `dse export` does; its folder."""
    from dse.commands.export import export_rows

    design = {**EXAMPLE_DESIGN, "design_id": design_id, **changes}
    out = tmp_path / "hls"
    export_rows(
        [design], cfg.platform_raw, out, model=cfg.model(mapper=False), model_raw=cfg.model_raw
    )
    return out / design_id


def _csim(folder, *extra):
    """`dse csim FOLDER EXTRA...`; the run config names the model and the board when the export
    does not carry them (model.json, platform.json)."""
    from dse.cli import main
    from tests.conftest import CONFIG

    args = ["csim", str(folder), *extra]
    if not (folder / "model.json").is_file():
        args += ["--config", str(CONFIG)]
    return main(args)


#: A float engine (BF16 x BF16: BF16 weights, INT8 activations, attention at BF16) that multiplies
#: INT8/INT4 codes and bf16 values in float32; the MLP at INT4, fused attention (P on chip), a
#: k-middle loop order, runtime tiles divided and tiles that do not divide the reduced shapes.
#: (INT8 engines: every design of the workflow run, tests/test_workflow.py.)
MIXED = {
    "weight_precision": "BF16", "prec_mlp": "INT4", "prec_attention": "BF16",
    "fuse_attention": True, "dataflow": "nkm", "compute_units": 1,
    "pe_m": 8, "pe_n": 4, "pe_k": 8, "tile_m": 48, "tile_n": 40, "tile_k": 24,
    "tile_m_div_proj": 2, "tile_n_div_mlp": 2,
}  # fmt: skip


@pytest.mark.slow
@needs_gxx
def test_csim_passes_and_fails_once_the_kernel_is_broken(tmp_path, cfg, capsys):
    import json

    folder = _export(tmp_path, cfg, **MIXED)
    code = _csim(folder)
    out = capsys.readouterr().out
    report = json.loads((folder / "csim.json").read_text())
    functional = ("gemm_bit_exact", "stages", "outputs", "pe_steps")
    assert all(report["checks"][k] for k in functional), out
    assert code == (0 if report["passed"] else 1)  # the cycle checks decide the rest
    assert not report["engine"]["integer"]
    # every GEMM call of the reduced schedule ran and was checked: patch embedding, 4 projections,
    # 2 MLP GEMMs and the connector once (one CU), scores and context once per head (2 heads)
    kernels = [c["kernel"] for c in report["gemm_calls"]]
    assert kernels.count("attn_scores") == kernels.count("attn_context") == 2
    assert len(kernels) == 12
    # every call counted its data movement: the loads, the PE loop and the store take cycles,
    # and the whole call is at least its PE loop
    for c in report["gemm_calls"]:
        assert c["load_b_cycles"] > 0 and c["store_cycles"] > 0
        assert c["cycles"] >= c["compute_cycles"] / 2  # (overlapped tiles: at least half)
        assert c["compute_cycles"] == c["pe_cycles"]  # the PE loop's steps + fill per tile
    lay = report["layer"]
    assert lay["steps_counted"] == lay["steps"] and lay["csim_cycles"] > 0

    # A sign flipped in the PE array's accumulation: the C simulation still builds and runs,
    # and dse csim must say that it computes the wrong thing (exit 1, not a user error).
    text = (folder / "kernel.cpp").read_text()
    acc = "acc_partials[i][j][slot] += dot[i][j];"
    assert text.count(acc) == 1
    (folder / "kernel.cpp").write_text(text.replace(acc, acc.replace("+=", "-=")))
    assert _csim(folder) == 1
    report = json.loads((folder / "csim.json").read_text())
    assert not report["passed"] and not report["checks"]["gemm_bit_exact"]
    assert not report["checks"]["stages"]
    assert "FAILED" in capsys.readouterr().out

    # A PE loop that counts two steps per step (a kernel running half the PE array's width would
    # take twice the steps): the results stay right, only the PE-step check can see it.
    count = "DSE_COUNT(gemm_iterations, 1);"
    assert text.count(count) == 1
    (folder / "kernel.cpp").write_text(text.replace(count, "DSE_COUNT(gemm_iterations, 2);"))
    assert _csim(folder) == 1
    report = json.loads((folder / "csim.json").read_text())
    checks = report["checks"]
    assert checks["gemm_bit_exact"] and checks["stages"] and checks["outputs"]
    assert not checks["pe_steps"]


def test_csim_bad_input_is_a_one_line_error(tmp_path, cfg, capsys, monkeypatch):
    assert _csim(tmp_path / "nowhere") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err
    (tmp_path / "empty").mkdir()
    assert _csim(tmp_path / "empty") == 2
    assert "design.json is missing" in capsys.readouterr().err
    folder = _export(tmp_path, cfg)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no g++ on PATH
    assert _csim(folder) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "g++ is not installed" in err
    assert not (folder / "csim.json").exists()


@needs_gxx
@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump is not installed")
def test_the_precompiled_prelude_changes_no_instruction(tmp_path, cfg):
    # dse.csim.build precompiles, once per object cache, the includes dse_config.h opens with
    # (the HLS type headers and four standard headers) and passes them to g++ with -include.
    # Every exported source opens with dse_config.h, so the prelude is what it includes first
    # anyway: g++ must read the precompiled header (-H marks a used one with "!"), and kernel.cpp
    # compiled with and without it must give the same machine code, instruction for instruction.
    import subprocess

    from dse.hls_headers import include_dir

    folder = _export(tmp_path, cfg, **MIXED)  # MIXED's objects are in this session's cache
    includes = csim.prelude_includes((folder / "dse_config.h").read_text())
    assert {"#include <ap_int.h>", "#include <hls_stream.h>", "#include <cmath>"} <= set(includes)
    assert all(csim._opens_with_config((folder / src).read_text()) for src in csim.SOURCES)
    assert not csim._opens_with_config("#define AP_INT_MAX_W 4096\n#include \"dse_config.h\"\n")
    cache = csim.object_cache()
    (tmp_path / "b").mkdir()
    exe, messages = csim.build(folder, tmp_path / "b", cache=cache)
    assert exe is not None, messages
    (prelude,) = cache.glob("prelude-*.h")
    assert prelude.with_name(prelude.name + ".gch").is_file()
    code = {}
    for name, extra in (("with", ["-include", str(prelude), "-H"]), ("without", [])):
        obj = tmp_path / f"kernel-{name}.o"
        cmd = [GXX, *csim.CXXFLAGS, "-isystem", str(include_dir()), "-I", str(folder), *extra,
               "-c", str(folder / "kernel.cpp"), "-o", str(obj)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        if extra:
            assert f"! {prelude}.gch" in proc.stderr.splitlines()[0], proc.stderr[:500]
        dump = subprocess.run(["objdump", "-d", str(obj)], capture_output=True, text=True).stdout
        code[name] = dump.split("\n", 2)[2]  # below the line naming the file
    assert code["with"] == code["without"] and "<_ZN" in code["with"]


#: The default run's export under MODEL_VERSION 2.0.0 (r-ec135981d467fd54): the fused attention
#: context runs 64 head-dimension columns in runtime tiles of 60 (508 / 8 rounded to pe_n 4), so
#: each of its 256 rows is a 60-byte and a 4-byte burst, and tile_k 64 < 256 tokens puts four k
#: tiles before the first C tile's store.
#: r-0f0439b591177d2f (csim_front on the integration run's front): INT4, loop order nmk, patch
#: rows in k tiles of 128 bytes (Tk = 6) and two m tiles of 128 rows.
NMK_INT4 = {
    "weight_precision": "INT4", "act_precision": "INT4", "pe_m": 32, "pe_n": 2, "pe_k": 32,
    "tile_m": 256, "tile_n": 256, "tile_k": 128, "dataflow": "nmk", "pc_weights": 1,
    "buffer_storage": "uram", "fuse_attention": True, "vector_lanes": 8, "clock_mhz": 275,
    "tile_m_div_embed": 2, "tile_n_div_proj": 2, "tile_n_div_attention": 8, "tile_n_div_mlp": 2,
}  # fmt: skip


def test_a_held_operand_that_changes_every_tile_is_read_beside_the_other(cfg):
    # Loop order nmk holds B (kernel.cpp's b_hold), but with k innermost B's tile changes in
    # every tile, so load_b reads memory in all 12 tiles beside load_a; the model had charged
    # B's reads as if they came in one of every Tm = 2 tiles and A's in the others (17,984
    # cycles). The C simulation's per-tile counters for the step's slowest CU (cols 43-85):
    # 12 tiles whose load is load_b's 1,163.7 cycles (load_a 553.9), then the last PE tile
    # (364) and the second C tile's store (869.9): 15,198.8 cycles.
    design = {**EXAMPLE_DESIGN, "design_id": "t", **NMK_INT4}
    small = csim.reduced_model(cfg.model_raw)
    sched = csim.reduced_schedule(design, cfg.platform_raw, small)
    step = next(s for s in sched["steps"] if s["kernel"] == "patch_embed")
    cycles = step["ms"] * design["clock_mhz"] * 1e3
    assert cycles == pytest.approx(12 * 1163.7 + 364 + 869.9, rel=0.01)


RAGGED_FUSED = {
    "pe_m": 32, "pe_n": 4, "pe_k": 32, "tile_m": 512, "tile_n": 508, "tile_k": 64,
    "pc_weights": 1, "pc_inputs": 3, "pc_outputs": 2, "buffer_storage": "uram",
    "fuse_attention": True, "vector_lanes": 128, "clock_mhz": 225,
    "tile_m_div_embed": 2, "tile_m_div_proj": 2, "tile_n_div_attention": 8, "tile_m_div_mlp": 2,
}  # fmt: skip


def _passing_csim(tmp_path, cfg, capsys, design_id: str, design: dict) -> tuple[dict, str]:
    """Export ``design``, C-simulate it and assert every check passed: (csim.json, stdout)."""
    import json

    folder = _export(tmp_path, cfg, design_id=design_id, **design)
    code = _csim(folder)
    out = capsys.readouterr().out
    report = json.loads((folder / "csim.json").read_text())
    assert report["passed"] and code == 0, out
    return report, out


@pytest.mark.slow
@needs_gxx
def test_csim_cycles_of_a_ragged_fused_context(tmp_path, cfg, capsys):
    # Issue 16: the C simulation counted this design's attn_context at +42.7% over the model,
    # which charged the 4-byte tile's rows as 4/60 of a burst and let the first C tile's store
    # start after one k tile. Per tile (kernel.cpp's counters): 4 k tiles of 252 PE cycles
    # (8 x 15 x 2 steps + 12 fill), a 628.5-cycle store of the 60-column C tile, then the
    # 4-column tile's 516.5-cycle store waits for it: 160 + 4 x 252 + 628.5 + 516.5 = 2313
    # cycles. Every call, the context included, must now be within the csim's tolerance.
    report, out = _passing_csim(tmp_path, cfg, capsys, "ragged", RAGGED_FUSED)
    ctx = [c for c in report["gemm_calls"] if c["kernel"] == "attn_context"]
    assert ctx and all(c["tile"]["n"] == 60 and c["N"] == 64 for c in ctx)  # the ragged tiles
    assert all(c["cycles"] == pytest.approx(2313, abs=1) for c in ctx), out
    assert all(abs(c["cycle_diff"]) <= csim.CYCLE_TOLERANCE for c in ctx)


#: r-86cf958f231a05a5 (exported under MODEL_VERSION 2.2.0, C-simulated: q/k/v/out_proj -15.0%):
#: INT8, 3 CUs of PE 8 x 8 x 32, tiles 120 x 512 x 224 (the projections and attention at
#: tile_n 256), mnk, channels 1 weight / 2 input / 1 output, double-buffered, not fused.
QPROJ = {
    "weight_precision": "INT8", "act_precision": "INT8", "pe_m": 8, "pe_n": 8, "pe_k": 32,
    "tile_m": 120, "tile_n": 512, "tile_k": 224, "dataflow": "mnk", "pc_weights": 1,
    "pc_inputs": 2, "pc_outputs": 1, "share_weights": False, "share_streams": False,
    "compute_units": 3, "double_pump": False, "buffer_storage": "uram", "double_buffer": True,
    "fuse_attention": False, "vector_lanes": 32, "clock_mhz": 260,
    "tile_m_div_embed": 1, "tile_n_div_embed": 1, "tile_m_div_proj": 1, "tile_n_div_proj": 2,
    "tile_m_div_attention": 1, "tile_n_div_attention": 2, "tile_m_div_mlp": 1,
    "tile_n_div_mlp": 1,
}  # fmt: skip


def test_a_call_drains_with_its_last_tile_not_an_average_one(cfg):
    # Reduced layer (256 tokens, hidden 128): q_proj's slowest CU (cols 43-85) runs M = 256 in
    # m tiles of 120, 120 and 16 rows. Its load is B's in every tile (mnk holds A; the 43-byte
    # slice at byte 43 is two words a row, 128 rows on the one weight port): 1,046.3 cycles per
    # tile (kernel.cpp's counters); PE loop 372, 372, 60; store 788.6, 788.6, 113.2. The loads
    # end at 3 x 1,046.3 = 3,138.9, but the second tile's store (after two loads and its PE
    # loop: 2,092.6 + 372, to 3,253.2) outlasts the last tile's PE loop (3,198.9), so the last
    # store ends at 3,253.2 + 113.2 = 3,366.3. The model had drained with an average tile's PE
    # loop (268) and store (554) after the loads: 3,961 (-15%).
    #
    # attn_context (M = K = 256 tokens, N = 64 per head): k tiles of 224 and 32 (k innermost).
    # load_a 736.6 / 418.0 (a burst per row whatever its width: the 32-byte rows are latency
    # bound), load_b 808.2 / 115.5 (a row per k), PE 852 / 132, the C tile's store 656.9 (16-row
    # tile: 124 / 28 PE, 87.6 store). The tile's slower loader alternates (B, then A): the loads
    # to the second C tile's first k tile are 808.2 + 418.0 + 808.2 = 2,034.4, then its PE loops
    # 852 + 132, its store 656.9 and the last store 87.6: 3,763.1. The model had taken the
    # loaders' totals side by side (2,771 for 3,376 of per-tile maxima) and an average drain.
    design = {**EXAMPLE_DESIGN, "design_id": "t", **QPROJ}
    small = csim.reduced_model(cfg.model_raw)
    sched = csim.reduced_schedule(design, cfg.platform_raw, small)
    cycles = {s["kernel"]: s["ms"] * design["clock_mhz"] * 1e3 for s in sched["steps"]}
    assert cycles["q_proj"] == pytest.approx(2 * 1046.3 + 372 + 788.6 + 113.2, rel=0.01)
    assert cycles["attn_context"] == pytest.approx(
        808.2 + 418.0 + 808.2 + 852 + 132 + 656.9 + 87.6, rel=0.01
    )


def test_a_shared_weight_channel_slows_each_cus_weight_bursts():
    # dse.model gives a weight channel that every CU reads (share_weights) ch x lat_factor /
    # readers: 3 CUs on the U280's HBM (lateral_efficiency 0.5, PG276) take lateral = 2/3 of
    # the channel across the switch, lat_factor = 1 / (1/3 + (2/3) / 0.5) = 0.6, so a CU's
    # weight burst takes 3 / 0.6 = 5 times its time alone; the C-sim's weight bursts the same.
    from dse.export import DEFAULT_MEMORY, memory_timing

    assert memory_timing(DEFAULT_MEMORY, 250, 3)["weight_share"] == pytest.approx(5.0)
    assert memory_timing(DEFAULT_MEMORY, 250, 1)["weight_share"] == 1.0
    assert memory_timing({**DEFAULT_MEMORY, "lateral_efficiency": 1.0}, 250, 4)[
        "weight_share"] == pytest.approx(4.0)  # no switch penalty: the CUs' turns only


@pytest.mark.slow
@needs_gxx
def test_csim_of_a_shared_weight_channel(tmp_path, cfg, capsys):
    # Issue 16: a share_weights design (r-66d4652e288beeb9, and 4 of the default front's 567)
    # failed the cycle checks: the C simulation ran one CU on a weight channel of its own,
    # where the model divides the channel among the CUs (connector -62%, the layer -17% on
    # r-1d2d1e4f8cbcf8d9). QPROJ's three CUs on one shared weight port: every call within the
    # tolerance, and the weight-bound connector's load_b well over 3x what the same design
    # counts on channels of its own (5x per burst, the bank words unchanged).
    shared, out = _passing_csim(tmp_path, cfg, capsys, "shared", {**QPROJ, "share_weights": True})
    own, _ = _passing_csim(tmp_path / "own", cfg, capsys, "own", QPROJ)
    # (each step's slowest CU is what the model charges and the cycle check holds)
    slowest = {}
    for c in shared["gemm_calls"]:
        if c["cycles"] > slowest.get(c["step"], {"cycles": -1})["cycles"]:
            slowest[c["step"]] = c
    assert all(abs(c["cycle_diff"]) <= csim.CYCLE_TOLERANCE for c in slowest.values()), out

    def load_b(report):
        return sum(c["load_b_cycles"] for c in report["gemm_calls"] if c["kernel"] == "connector")

    assert load_b(shared) > 3 * load_b(own), out


#: Two designs of a front (csim_front, this branch's run) that failed the per-call check.
#: r-7770359528a73273: INT8 x INT4, PE 4 x 4 x 64, tiles 124 x 128 x 64, one port a stream.
RAGGED_M = {
    "act_precision": "INT4", "pe_m": 4, "pe_n": 4, "pe_k": 64, "tile_m": 124, "tile_k": 64,
    "pc_weights": 1, "pc_inputs": 1, "buffer_storage": "uram", "vector_lanes": 8,
    "clock_mhz": 280, "tile_n_div_attention": 2,
}  # fmt: skip
#: r-0ba250652401bfb7: BF16 x INT8, PE 2 x 2 x 128, tiles 112 x 256 x 256 (128 columns for the
#: patch embedding and the projections), one port a stream.
SHORT_SLICE = {
    "weight_precision": "BF16", "pe_m": 2, "pe_n": 2, "pe_k": 128, "tile_m": 112,
    "tile_n": 256, "pc_weights": 1, "pc_inputs": 1, "buffer_storage": "uram",
    "vector_lanes": 16, "clock_mhz": 245, "prec_embed": "INT8", "prec_proj": "INT8",
    "tile_n_div_embed": 2, "tile_n_div_proj": 2, "tile_m_div_attention": 2,
    "tile_n_div_attention": 2,
}  # fmt: skip


def test_a_tiles_slower_loader_and_the_last_slice_of_a_row(cfg):
    small = csim.reduced_model(cfg.model_raw)

    def cycles(changes, kernel):
        design = {**EXAMPLE_DESIGN, "design_id": "t", **changes}
        sched = csim.reduced_schedule(design, cfg.platform_raw, small)
        step = next(s for s in sched["steps"] if s["kernel"] == kernel)
        return step["ms"] * design["clock_mhz"] * 1e3

    # RAGGED_M's q_proj (slowest CU, cols 43-85): M = 256 in m tiles of 124, 124 and 8, K = 128
    # in two k tiles. Per tile (kernel.cpp's counters) load_a 920.8 (124 rows of one word on
    # the one input port) or 59.4 (8 rows), load_b 557.8 in every tile, so A binds the four
    # full-m tiles and B the two 8-row ones: 4 x 920.8 + 2 x 557.8 = 4,798.6 of loads, where
    # the loaders' totals side by side are 3,683 + 3,347. The second C tile's last k tile
    # (PE 353) and its store (1,110.8) then outlast the last loads, and the last store (80.9)
    # follows: 4 x 920.8 + 353 + 1,110.8 + 80.9 = 5,227.9 (MODEL_VERSION 2.3.0: 4,806, an
    # average tile's drain after the loaders' larger total, 3,683).
    assert cycles(RAGGED_M, "q_proj") == pytest.approx(4 * 920.8 + 353 + 1110.8 + 80.9, rel=0.01)
    # SHORT_SLICE's patch_embed: B's rows are 128 BF16 columns (256 bytes) in slices of 43, 43
    # and 42 columns: bytes 0-85, 86-171 and 172-255, two words each. The model had taken the
    # third slice as 86 bytes at byte 172 (three words, the slowest CU), 23,887 cycles under
    # MODEL_VERSION 2.3.0 (-18.0%; 21,836 with the drain above). Counted: 9 tiles of B (1,981.7
    # each: 256 rows of two words) and the end of the last PE tiles and store: 19,588.7.
    assert cycles(SHORT_SLICE, "patch_embed") == pytest.approx(19588.7, rel=0.01)


@pytest.mark.slow
@needs_gxx
def test_csim_cycles_of_a_load_bound_design_with_a_ragged_last_m_tile(tmp_path, cfg, capsys):
    # r-86cf958f231a05a5 failed the per-call check (q/k/v/out_proj -15.0%, above); every call
    # and the layer must now be within the tolerance.
    report, _ = _passing_csim(tmp_path, cfg, capsys, "qproj", QPROJ)
    q = [c for c in report["gemm_calls"] if c["kernel"] == "q_proj"]
    assert max(c["cycles"] for c in q) == pytest.approx(3366.3, abs=1)


def test_the_build_cache_key_follows_the_hls_headers(tmp_path):
    # dse.csim keys its cached objects and precompiled headers by the HLS headers' files too:
    # headers re-extracted (a new hls4ml wheel) or edited in place at the same path change the
    # key, so no stale .gch or object is reused (g++ does not check a .gch's dependencies)
    import os

    from dse.csim import headers_fingerprint

    (tmp_path / "sub").mkdir()
    f = tmp_path / "sub" / "ap_int.h"
    f.write_text("// v1\n")
    (tmp_path / "hls_stream.h").write_text("// s\n")
    first = headers_fingerprint(tmp_path)
    assert headers_fingerprint(tmp_path) == first  # stable
    f.write_text("// v2, longer\n")
    second = headers_fingerprint(tmp_path)
    assert second != first
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # same size, touched
    assert headers_fingerprint(tmp_path) != second
    (tmp_path / "new.h").write_text("")
    assert len({first, second, headers_fingerprint(tmp_path)}) == 3
