"""Timing closure and SLR crossings (dse.timing): hand-calculated fmax, the issue's example,
the SLL budget, the crossing latency and the placement shared with the export."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from dse.allocation import cu_slrs
from dse.channels import channels_used
from dse.config import load_validated
from dse.model import VIOLATION_SLL, Model
from dse.platform import Platform
from dse.results import results_frame
from dse.space import design_batch
from dse.timing import _spread, crossings, fmax_mhz
from tests.conftest import BASE_DESIGN, ROOT

#: The fastest design of the default run before the clock model (issue 10: 3 CUs at 375 MHz,
#: LUTs in SLR0 nearly full), without double pumping (no documented HLS route, facts.md §9) and
#: so with pe_k 32 instead of 64 to keep its DSPs within the SLRs.
ISSUE_FASTEST = {
    **BASE_DESIGN,
    "pe_m": 32, "pe_n": 4, "pe_k": 32, "tile_m": 128, "tile_n": 256, "tile_k": 64,
    "dataflow": "nmk", "pc_weights": 2, "pc_inputs": 5, "pc_outputs": 2,
    "compute_units": 3, "double_pump": False, "fuse_attention": True, "vector_lanes": 256,
    "clock_mhz": 375, "prec_attention": "INT8",
}


def _platform(name="u280", **timing):
    raw = copy.deepcopy(load_validated(ROOT / "configs" / "platforms" / f"{name}.yaml", "platform"))
    raw["timing"].update(timing)
    return Platform.from_mapping(raw)


#: The hand-placed constants these hand calculations were written for (u280.yaml before
#: dse calibrate fitted them to the build figures; docs/calibration.md): the formula is under
#: test here, not the constants.
HAND_PLACED_TIMING = {
    "base_mhz": 300,
    "knee": {"lut": 0.40, "dsp": 0.80, "bram18": 0.80, "uram": 0.80},
    "full_mhz": {"lut": 120, "dsp": 250, "bram18": 250, "uram": 300},
    "pump_derate": 0.03,
    "sll_knee": 0.50,
    "sll_derate": 0.10,
}
HAND_PLACED_LOGIC = {"lut_per_bank": 24, "lut_per_axi_port": 1800, "lut_per_cu": 6000,
                     "lut_per_vector_lane": 350, "pipeline_fill_cycles": 12,
                     "launch_us": 0.0, "epilogue_overlap": 1.0}
HAND_PLACED_LUT_PER_MAC = {"FP32": 326, "BF16": 326, "INT8": 20, "INT4": 12}


def _hand_placed() -> Platform:
    raw = copy.deepcopy(load_validated(ROOT / "configs" / "platforms" / "u280.yaml", "platform"))
    raw["timing"].update(copy.deepcopy(HAND_PLACED_TIMING))
    raw["logic"].update(HAND_PLACED_LOGIC)
    for p, v in HAND_PLACED_LUT_PER_MAC.items():
        raw["precisions"][p]["lut_per_mac"] = v
    raw.pop("uncertainty", None)  # the intervals belong to the fitted constants
    return Platform.from_mapping(raw)


def test_fmax_hand_calculation():
    # U280: base 300 MHz; LUT knee 0.40, 120 MHz at a full SLR: 300 MHz lost per unit of LUT
    # fraction above the knee. LUT at 85% of its SLR: drop = 0.45 x 300 = 135 -> 165 MHz.
    # DSP at 90% (knee 0.80, 250 MHz full): drop 0.10 x 250 = 25, smaller, so the LUTs decide.
    P = _hand_placed()
    u = [np.array([0.85]), np.array([0.90]), np.array([0.5]), np.array([0.5])]
    no = np.array([False])
    assert fmax_mhz(P, u, no, np.array([0.0]))[0] == pytest.approx(165.0)
    # double pumped: 3% off (165 x 0.97 = 160.05), under the 600 / 2 = 300 MHz DSP cap
    assert fmax_mhz(P, u, ~no, np.array([0.0]))[0] == pytest.approx(160.05)
    # 75% of the usable SLLs: (0.75 - 0.50) / 0.50 x 10% = 5% off -> 156.75 MHz
    assert fmax_mhz(P, u, no, np.array([0.75]))[0] == pytest.approx(165.0 * 0.95)
    # a light design: the base clock; double pumped 3% less (under the 300 MHz DSP cap)
    light = [np.array([0.3])] * 4
    assert fmax_mhz(P, light, no, np.array([0.2]))[0] == pytest.approx(300.0)
    assert fmax_mhz(P, light, ~no, np.array([0.2]))[0] == pytest.approx(291.0)
    # past a full SLR (infeasible on resources anyway) each resource's clock stays at its own
    # full-SLR clock: every resource over full -> the lowest of them, LUT's 120 MHz
    assert fmax_mhz(P, [np.array([3.0])] * 4, no, np.array([0.0]))[0] == pytest.approx(120.0)
    # DSPs at 167% (a double-pumped build counted without pumping), LUTs at 68%: the DSP term
    # stops at the DSP's full-SLR 250 MHz, the LUT term is 300 - 300 x 0.28 = 216 MHz -> 216;
    # URAM over full (300 MHz) with LUTs at 45% (285 MHz) -> 285, not LUT's full-SLR 120 MHz
    dsp_over = [np.array([0.68]), np.array([1.67]), np.array([0.5]), np.array([0.5])]
    assert fmax_mhz(P, dsp_over, no, np.array([0.0]))[0] == pytest.approx(216.0)
    uram_over = [np.array([0.45]), np.array([0.5]), np.array([0.5]), np.array([1.2])]
    assert fmax_mhz(P, uram_over, no, np.array([0.0]))[0] == pytest.approx(285.0)


def test_issue_example_full_slr0_at_375_mhz_is_infeasible(cfg):
    # issue 10: LUTs in SLR0 at 247,096 of 288,083 available (dse.hardware's count then) did not
    # close at 375 MHz. With the row stages and the p_s FIFO described (dse/hardware.py: a_stage
    # 1,024 LUTRAM banks of 8 bits x 2 -> 8,192 + 24 x 1,024; bt_stage 128 of 8 x 2 -> 1,024 +
    # 3,072; b_stage 128 of 8 x 64 -> 2,048 + 3,072; p_stage, c_stage 128 of 32 x 64 -> 5,120 +
    # 3,072 each; bias/res/out rows 24 each; b_hold in BRAM: 96; p_s, one group of 32 rows: 4,096
    # bits x 256/4 = 64 blocks in LUTRAM, ceil(4,096 / 7) = 586 RAM64M8 -> 4,688 + 24) a CU took
    # 247,096 + 63,248 = 310,344 LUTs and 965 BRAM18 (MODEL_VERSION 2.3.0; 939 with its two output
    # ports' m_axi write buffers holding one 64-word burst, 16 BRAM18 each instead of 29). Its 256
    # lanes now get their banks (MODEL_VERSION 2.4.0, dse.hardware epilogue_banks, score_banks):
    # store_c's stage 32 x 256 single registers, each behind a read mux: 8,192 x 24 = 196,608 LUT
    # instead of 8,192; bias, res and out rows in registers: -72 LUT, -3 BRAM18; s_buf's 32 row
    # banks split in 256 / 4 = 64: 2,048 banks of 128 bits x 16 words, 10 RAM32M16 = 80 LUT + 24
    # each -> 212,992 LUT instead of 256 BRAM18 and 768 LUT; c_buf one copy (-128 BRAM18, -768
    # LUT) and c_s its own FIFO: 4,096 bits x 256 blocks, 114 BRAM18 + 24 LUT. A CU takes 310,344
    # + 188,416 - 72 + 212,224 - 768 + 24 = 710,168 LUTs (246.5% of SLR0's 288,083) and 939 - 3 -
    # 256 - 128 + 114 = 666 BRAM18. Raw SLR0 LUTs (710,168 + 107,629 shell) / 439,680 = 1.86 are
    # past a full SLR: the full-SLR clock, 120 MHz (DSPs, (2,560 + 4) / 2,880 = 0.890, lose only
    # 22.6); the SLR0-SLR1 boundary carries CU1 and CU2 (2 x (7 read x 614 + 2 write x 680 + 107
    # control) = 11,530 SLLs, 0.556 of 20,736): x (1 - 0.1 x 0.112) -> 118.66 MHz. (with the
    # hand-placed constants the issue's figures were computed with)
    model = Model(_hand_placed(), cfg.workload)
    batch = design_batch([ISSUE_FASTEST, {**ISSUE_FASTEST, "clock_mhz": 115}], cfg.platform)
    res = model.evaluate(batch)
    df = results_frame(model, batch, res, ["at375", "at115"])
    c = res.columns
    assert c["util_lut"][0] == pytest.approx(710168 / 288083, abs=1e-4)
    assert c["bram18"][0] == 3 * 666
    assert c["slls"][0] == pytest.approx(11530)
    assert c["fmax_mhz"][0] == pytest.approx(118.66, abs=0.01)
    assert not c["feasible"][0]
    assert df["violations"][0].split(";") == [
        "lut SLR0 710168 > 288083 available",
        "clock_mhz for timing closure 375 > 118 available",
    ]
    assert df["fmax_mhz"][0] == pytest.approx(118.66, abs=0.01)
    # the same hardware at a clock it closes has no timing violation, only the resources
    assert "timing" not in df["violations"][1] and not c["feasible"][1]


def test_sll_budget_exceeded_is_infeasible(cfg, model):
    # BASE_DESIGN: 3 CUs with 4 + 2 read ports and 1 write port of 512 bits each. A CU's
    # crossing: 6 x (512 + 102) + 1 x (512 x 1.125 + 104) + 107 control = 4,471 SLLs.
    # SLR0-SLR1 carries CU1 and CU2 (8,942), SLR1-SLR2 carries CU2 (4,471). With 9,000 SLLs
    # per boundary, 90% usable = 8,100: the first boundary is over, the second is not.
    P = _platform(sll_per_boundary=9000)
    m = Model(P, cfg.workload)
    batch = design_batch([BASE_DESIGN], P)
    res = m.evaluate(batch)
    df = results_frame(m, batch, res, ["a"])
    assert res.columns["violation_code"][0] == VIOLATION_SLL + 0
    assert df["violation"][0] == "SLLs SLR0-SLR1 8942 > 8100 available"
    assert VIOLATION_SLL + 1 not in res.violations
    slls, hops = crossings(P, batch)
    assert slls[:, 0].tolist() == [8942, 4471] and hops[0] == 2
    # on the real U280 (20,736 usable): 3 CUs of 10 read-write ports (share_streams), each
    # 614 + 680 = 1,294 SLLs: 2 x (10 x 1,294 + 107) = 26,094 on SLR0-SLR1
    rw = {**BASE_DESIGN, "pc_weights": 10, "pc_inputs": 10, "pc_outputs": 10,
          "share_streams": True}
    batch = design_batch([rw], cfg.platform)
    df = results_frame(model, batch, model.evaluate(batch), ["rw"])
    # (its 10 ports' FIFOs and adapters also overfill SLR0's LUTs; the SLLs are over as well)
    assert "SLLs SLR0-SLR1 26094 > 20736 available" in df["violations"][0].split(";")


def test_crossing_latency_charged_to_the_farthest_cu(cfg, model):
    # one CU sits next to the HBM (no crossing); with three CUs the SLR2 one crosses two
    # boundaries: its transactions take 2 x 2 x 3 cycles longer. Everything else equal, a
    # model with zero crossing cycles must be faster for 3 CUs and identical for 1 CU.
    P0 = _platform(crossing_cycles=0)
    m0 = Model(P0, cfg.workload)
    for cus, faster in ((1, False), (3, True)):
        batch = design_batch([{**BASE_DESIGN, "compute_units": cus}], cfg.platform)
        t = model.evaluate(batch).columns["latency_ms"][0]
        t0 = m0.evaluate(batch).columns["latency_ms"][0]
        assert (t > t0) == faster and t >= t0


def test_spread_channels_hand_case():
    # U250: DDR[n] on SLR n, CUs placed SLR0, SLR2, SLR3, SLR1, the shell on SLR1.
    # 1 CU (SLR0), weights 1, inputs 1, outputs 2: weights take DDR0 (local), inputs DDR1,
    # outputs DDR2 and DDR3 (the lowest free). SLR0-SLR1: inputs 614 + 2 outputs x 680 +
    # control 107 = 2,081; SLR1-SLR2: 2 x 680 = 1,360; SLR2-SLR3: 680; farthest path 3 hops.
    P = _platform("u250")
    batch = design_batch(
        [{**BASE_DESIGN, "pc_weights": 1, "pc_inputs": 1, "pc_outputs": 2, "compute_units": 1}],
        P,
    )
    slls, hops = crossings(P, batch)
    assert slls[:, 0].tolist() == [2081, 1360, 680] and hops[0] == 3


def test_exact_allocation_agrees_with_the_table_on_hbm(cfg):
    # the general path (one exact allocation per layout) and the HBM table must agree
    rng = np.random.default_rng(0)
    rows = [
        {**BASE_DESIGN, "pc_weights": int(w), "pc_inputs": int(i), "pc_outputs": int(o),
         "compute_units": int(c), "share_weights": bool(sw), "share_streams": bool(ss)}
        for w, i, o, c, sw, ss in rng.integers([1, 1, 1, 1, 0, 0], [5, 5, 4, 7, 2, 2], (40, 6))
    ]
    P = cfg.platform
    d = design_batch(rows, P)
    slls, hops = crossings(P, d)
    cu = np.asarray(d["compute_units"])
    g_slls, g_hops = _spread(
        P, cu, *(np.asarray(d[k]) for k in ("pc_weights", "pc_inputs", "pc_outputs")),
        np.asarray(d["share_weights"], dtype=bool), np.asarray(d["share_streams"], dtype=bool),
    )
    fits = channels_used(
        *(d[k] for k in ("pc_weights", "pc_inputs", "pc_outputs", "compute_units")),
        d["share_weights"], d["share_streams"],
    ) <= P.memory.usable_channels  # designs over the channel count are skipped there
    assert fits.sum() > 10
    np.testing.assert_allclose(g_slls[:, fits], slls[:, fits])
    np.testing.assert_array_equal(g_hops[fits], hops[fits])


def test_model_placement_is_the_exports(cfg, model):
    # the model costs CUs on the SLRs dse.allocation.cu_slrs gives, which link.cfg writes as slr=
    P = cfg.platform
    for cus in range(1, 8):
        batch = design_batch([{**BASE_DESIGN, "compute_units": cus}], P)
        per_slr = model.evaluate(batch, detail=True).slr_used[0, :, 1]  # DSPs per SLR
        placed = np.bincount(cu_slrs(cus, P.cu_slr_order), minlength=len(P.slr_names))
        np.testing.assert_allclose(per_slr / per_slr.max(), placed / placed.max())


# ---------------------------------------------------------------------- the clock per design
def _per_design(cfg, **policy):
    from dse.timing import ClockPolicy

    return Model(cfg.platform, cfg.workload, clock=ClockPolicy(**policy))


def test_clock_per_design_is_the_highest_step_under_fmax(cfg):
    # BASE_DESIGN (3 CUs of 16 x 16 x 16 INT8) with u280.yaml's fitted constants: one CU's LUTs
    # before the row stages were described were the hand-placed 138,856 moved by the fitted
    # terms: 4,096 MACs x (10.7 - 20) + 32 lanes x (3,162 - 350) + 192 banks x (1 - 24) + 7
    # ports x (8,880 - 1,800) + (4,360 - 6,000) = 234,251.2. The row stages, hold copy and p_s
    # (dse/hardware.py, LUTRAM at 7 bits per 8-LUT RAM64M8, 14 per RAM32M16; 1 LUT per bank):
    # a_hold 16 BRAM banks: 16; a_stage, bt_stage 256 banks of 8 bits x 16: 2,048 + 256 each;
    # b_stage 256 of 8 x 8: 2,048 + 256; p_stage, c_stage 256 of 32 x 8: 6,144 + 256 each;
    # bias/res/out rows 1 BRAM bank each: 3; p_s one bank of 8,192 bits x 128/16 = 8 blocks (one
    # group of 16 rows) in RAM32M16 (14 bits): 586 x 8 = 4,688 + 1; in all 24,420 -> 258,671.2
    # (MODEL_VERSION 2.3.0). The epilogue's 32 lanes get their banks (2.4.0, epilogue_banks):
    # c_stage 16 x 32 banks of 32 bits x 4 (3 RAM32M16 + 1): 12,800 instead of 6,400; bias 32
    # banks of 32 x 4: 800; res, out 64 banks (a 512-bit word is 64 bytes) of 8 x 2 (1 RAM32M16
    # + 1): 576 each, instead of 1 each; c_s, compute's output FIFO, its own LUTRAM bank of 8,192
    # bits x 64 blocks (1,171 RAM64M8 + 1 = 9,369) instead of c_buf's second copy (16 banks of
    # 512 bits x 64: 9,488): 258,671.2 + 6,400 + 799 + 1,150 - 119 = 266,901.2.
    # SLR0 with the shell: (266,901.2 + 107,629) / 439,680 = 0.851825 -> 345 - (0.851825 -
    # 0.22) / 0.78 x (345 - 215) = 239.696 MHz (DSP, BRAM under their knees; the SLL crossings
    # under theirs, and the fitted SLL derate is 0). The timing margin (u280.yaml uncertainty:
    # fmax_mhz lo -0.061, the held-out fmax error's 10th percentile) leaves 239.696 x 0.939 =
    # 225.07 MHz: the highest multiple of 5 MHz, of 25 MHz and of 1 MHz at or below it is 225.
    # The row records the clock and the margin fmax - clock.
    hw = {k: v for k, v in BASE_DESIGN.items() if k != "clock_mhz"}
    batch = design_batch([hw], cfg.platform)
    for step, want in ((5, 225), (25, 225), (1, 225)):
        m = _per_design(cfg, step_mhz=step)
        res = m.evaluate(batch)
        c = res.columns
        assert c["fmax_mhz"][0] == pytest.approx(239.696, abs=0.01)
        assert c["clock_mhz"][0] == want and c["feasible"][0]
        assert c["fmax_margin_mhz"][0] == pytest.approx(239.696 - want, abs=0.01)
        row = results_frame(m, batch, res, ["d"]).iloc[0]
        assert row["clock_mhz"] == want


def test_clock_per_design_is_the_fastest_feasible_clock(cfg, model):
    # An independent check of the choice: the same hardware evaluated at every clock from 100 to
    # 400 MHz as given (no clock policy); the fastest feasible one within the timing margin is
    # the per-design choice, because resources and fmax do not depend on the clock and latency
    # falls with it.
    designs = [{k: v for k, v in d.items() if k != "clock_mhz"}
               # ISSUE_FASTEST with 8 lanes, 2 input ports and 64-wide C tiles: its 256 lanes at
               # the fitted LUT per lane overflow SLR0 at any clock (64 do too), and so do its 9
               # ports' 10 m_axi data buffers (290 BRAM18 on top of the tile buffers) and, with
               # 256-wide C tiles, its p_s FIFO (114 BRAM18); at 32 lanes s_buf's 32 row banks
               # split in 32 / 4 = 8 shallow BRAM banks (dse.hardware.score_banks) overflow
               # SLR0's BRAM18
               for d in (BASE_DESIGN,
                         {**ISSUE_FASTEST, "vector_lanes": 8, "pc_inputs": 2, "tile_n": 64},
                         {**BASE_DESIGN, "double_pump": False, "compute_units": 1})]
    per = _per_design(cfg, step_mhz=5)
    clocks = np.arange(100, 401, 5)
    for hw in designs:
        chosen = per.evaluate(design_batch([hw], cfg.platform)).columns
        sweep = model.evaluate(design_batch([{**hw, "clock_mhz": int(f)} for f in clocks],
                                            cfg.platform)).columns
        assert np.all(sweep["fmax_mhz"] == sweep["fmax_mhz"][0])  # fmax ignores the clock
        ok = sweep["feasible"]
        # the choice keeps the timing margin: the fastest feasible clock at or below fmax x 0.939
        # (u280.yaml uncertainty: fmax_mhz lo -0.061)
        ok = ok & (clocks <= sweep["fmax_mhz"] * 0.939)
        best = int(np.argmin(np.where(ok, sweep["latency_ms"], np.inf)))
        assert chosen["clock_mhz"][0] == clocks[best] == clocks[ok].max()
        assert chosen["latency_ms"][0] == pytest.approx(sweep["latency_ms"][best], rel=1e-6)
        assert np.all(np.diff(sweep["latency_ms"]) <= 1e-6 * sweep["latency_ms"][1:])


def test_pinned_clock_above_fmax_is_infeasible(cfg):
    # pinned at 300 MHz: BASE_DESIGN closes 239.696 MHz (the hand calculation above), so it is
    # infeasible on timing, as a design whose own clock_mhz is too high; pinned at 225 (under
    # 225.07 with the timing margin) it runs at 225.
    hw = {k: v for k, v in BASE_DESIGN.items() if k != "clock_mhz"}
    batch = design_batch([hw], cfg.platform)
    m = _per_design(cfg, mode="pinned", mhz=300)
    res = m.evaluate(batch)
    df = results_frame(m, batch, res, ["p"])
    assert not res.columns["feasible"][0]
    assert df["violation"][0] == "clock_mhz for timing closure 300 > 239 available"
    assert df["clock_mhz"][0] == 300
    assert df["fmax_margin_mhz"][0] == pytest.approx(239.696 - 300, abs=0.01)
    res = _per_design(cfg, mode="pinned", mhz=225).evaluate(batch)
    assert res.columns["feasible"][0] and res.columns["clock_mhz"][0] == 225


@pytest.mark.parametrize("clock, key", [
    ({"mode": "pinned"}, "clock.mhz"),
    ({"mode": "per_design", "mhz": 300}, "clock.mhz"),
    ({"mode": "pinned", "mhz": 600}, "clock.mhz"),
    ({"mode": "sometimes"}, "clock.mode"),
    ({"step_mhz": 0}, "clock.step_mhz"),
    ({"step_mhz": "5"}, "clock.step_mhz"),
])
def test_bad_clock_section_is_one_line(tmp_path, capsys, clock, key):
    import yaml

    from dse.cli import main

    raw = yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text())
    for k in ("platform", "model"):
        raw[k] = str((ROOT / "tests" / "data" / raw[k]).resolve())
    raw["clock"] = clock
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    code = main(["sweep", "--config", str(path), "--shard", "0/1",
                 "--out", str(tmp_path / "s.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and key in err, err


def test_evaluate_runs_a_given_clock_and_chooses_a_missing_one(cfg):
    # dse evaluate: a design with its own clock_mhz runs at it; without one it gets the config's
    # per-design clock (BASE_DESIGN closes 239.696 MHz, 225.07 with the timing margin: 225 in 5
    # MHz steps)
    from dse.commands.evaluate import evaluate_design

    assert evaluate_design(cfg, dict(BASE_DESIGN))["clock_mhz"] == 250
    hw = {k: v for k, v in BASE_DESIGN.items() if k != "clock_mhz"}
    out = evaluate_design(cfg, hw)
    assert out["clock_mhz"] == 225 and out["fmax_margin_mhz"] == pytest.approx(14.696, abs=0.01)


def test_per_design_clocks_keep_the_timing_margin_the_selection_asks_for(cfg):
    # the per-design clock stays at or below the pessimistic fmax (fmax x (1 + lo), lo from
    # u280.yaml's uncertainty section), so dse.select's robust timing filter keeps it; a clock
    # pinned at the predicted fmax's 5 MHz step (1-2% under it) does not
    from dse.select import robust_timing
    from dse.timing import timing_margin

    assert timing_margin(cfg.platform) == pytest.approx(0.939)
    hw = {k: v for k, v in BASE_DESIGN.items() if k != "clock_mhz"}
    rows = [hw, {**hw, "compute_units": 1}, {**hw, "pe_m": 32, "vector_lanes": 16}]
    batch = design_batch(rows, cfg.platform)
    m = _per_design(cfg, step_mhz=5)
    df = results_frame(m, batch, m.evaluate(batch), ["a", "b", "c"])
    assert robust_timing(df).all()
    assert (df["clock_mhz"] <= df["fmax_mhz"] * 0.939 + 1e-9).all()
    tight = df.assign(clock_mhz=np.floor(df["fmax_mhz"] / 5) * 5)
    assert not robust_timing(tight).any()
