"""dse.fit: the constants fitted to real builds, held-out error, calibrated platform copies."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dse.builds import FIGURE_COLUMNS
from dse.config import load_validated
from dse.fit import (
    Calibration,
    Evaluator,
    family,
    held_out_table,
    intervals,
    nnls,
    observations,
    relative_error,
)
from dse.fitfile import apply_fit
from dse.params import EXAMPLE_DESIGN
from dse.platform import RESOURCES, Platform

ROOT = Path(__file__).resolve().parent.parent
U280 = ROOT / "configs" / "platforms" / "u280.yaml"
U250 = ROOT / "configs" / "platforms" / "u250.yaml"


def _figure(design, quantity, value, *, stage="route", scope="cu", slr="", timed="",
            floorplan="", url="u"):
    row = dict.fromkeys(FIGURE_COLUMNS, "")
    row.update(design=design, quantity=quantity, published=float(value), stage=stage,
               scope=scope, slr=slr, timed=timed, floorplan=floorplan, url=url)
    return row


def _knee_030(tmp_path) -> Path:
    """u280.yaml with the LUT knee at 0.30 (265 MHz at a full SLR), the constants the clock-fit
    mechanism tests were written for: small designs on SLR0 (the shell's 0.245 of its LUTs) are
    under that knee, so their fmax is base_mhz. The refitted knee, 0.22, is below the shell."""
    text = U280.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(    lut: )0\.22\b", r"\g<1>0.30", text, count=1)
    text = re.sub(r"(?m)^(    lut: )215\b", r"\g<1>265", text, count=1)
    out = tmp_path / "u280_knee030.yaml"
    out.write_text(text, encoding="utf-8")
    return out


def _designs(rows):
    out = []
    for name, board, params in rows:
        out.append({"design": name, "title": name, "expressible": True, "missing": "",
                    "board": str(board), "model": "", "cameras": 1, "given": "",
                    **EXAMPLE_DESIGN, **params})
    return pd.DataFrame(out, dtype=object)


# --------------------------------------------------------------------------- least squares
def test_nnls_matches_the_unconstrained_solution_when_it_is_non_negative():
    # y = 2 x0 + 3 x1 exactly: the solution is (2, 3)
    A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    x = nnls(A, A @ np.array([2.0, 3.0]))
    assert x == pytest.approx([2.0, 3.0])


def test_nnls_clips_a_negative_coefficient_to_zero():
    # unconstrained: b = 1*a0 - 1*a1 would fit; with x >= 0 the best is x1 = 0 and x0 by
    # least squares on column 0 alone: x0 = (a0 . b) / (a0 . a0) = (1 + 0 + 2) / (1 + 0 + 1)
    A = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    b = np.array([1.0, 0.0, 2.0]) - 0.0
    x = nnls(A, b)
    assert (x >= 0).all()
    unconstrained = np.linalg.lstsq(A, b, rcond=None)[0]
    assert unconstrained[1] < 0  # the case is a real test of the constraint
    assert x[1] == 0.0 and x[0] == pytest.approx(1.5)


# --------------------------------------------------------------------------- observations
def test_a_met_clock_is_a_lower_bound_and_a_derated_one_is_fmax():
    figs = pd.DataFrame([
        _figure("met", "clock_target_mhz", 300), _figure("met", "clock_mhz", 300),
        _figure("derated", "clock_target_mhz", 300), _figure("derated", "clock_mhz", 242),
        _figure("wns", "fmax_mhz", 244.8), _figure("wns", "clock_mhz", 250),
        _figure("hls", "fmax_mhz", 411.0, stage="hls"),  # an HLS estimate closes nothing
    ])
    des = _designs([(d, U280, {}) for d in ("met", "derated", "wns", "hls")])
    obs = observations(figs, des).set_index("design")
    assert obs.loc["met", "kind"] == "lower" and obs.loc["met", "published"] == 300
    assert obs.loc["derated", "kind"] == "eq" and obs.loc["derated", "published"] == 242
    assert obs.loc["wns", "kind"] == "eq" and obs.loc["wns", "published"] == 244.8
    assert "hls" not in obs.index


def test_the_post_route_figure_wins_and_cycles_become_milliseconds():
    figs = pd.DataFrame([
        _figure("a", "lut", 200_000, stage="hls"), _figure("a", "lut", 150_000, stage="route"),
        _figure("a", "cycles", 2_500_000, stage="board", timed="layer"),
    ])
    obs = observations(figs, _designs([("a", U280, {"clock_mhz": 250})])).set_index("quantity")
    assert obs.loc["lut", "published"] == 150_000
    # 2.5 M cycles at the design's 250 MHz = 10 ms, of one layer
    assert obs.loc["latency_ms", "published"] == pytest.approx(10.0)
    assert obs.loc["latency_ms", "timed"] == "layer"


def test_a_lower_bound_costs_only_when_the_prediction_is_below_it():
    e = relative_error([310, 290, 290], [300, 300, 300], ["lower", "lower", "eq"])
    assert e == pytest.approx([0.0, -1 / 30, -1 / 30])


# --------------------------------------------------------------------------- the fit
#: Designs of different shapes, so the LUT terms (MACs, banks, ports, CUs, lanes) are told apart.
SHAPES = [
    {"pe_m": 8, "pe_n": 8, "pe_k": 8, "compute_units": 1, "vector_lanes": 8},
    {"pe_m": 16, "pe_n": 16, "pe_k": 8, "compute_units": 2, "vector_lanes": 16},
    {"pe_m": 16, "pe_n": 8, "pe_k": 16, "compute_units": 3, "vector_lanes": 32, "pc_weights": 2},
    {"pe_m": 32, "pe_n": 16, "pe_k": 8, "compute_units": 1, "vector_lanes": 64, "pc_inputs": 4},
    {"pe_m": 8, "pe_n": 32, "pe_k": 4, "compute_units": 2, "vector_lanes": 4, "pc_outputs": 2},
    {"pe_m": 16, "pe_n": 16, "pe_k": 16, "compute_units": 1, "vector_lanes": 128},
    {"pe_m": 4, "pe_n": 4, "pe_k": 32, "compute_units": 3, "vector_lanes": 16},
    {"pe_m": 32, "pe_n": 8, "pe_k": 4, "compute_units": 2, "vector_lanes": 8, "pc_weights": 6},
]
TRUTH = {
    "precisions.INT8.lut_per_mac": 30.0,
    # 4, not the earlier 40: since the row stages are described a design has several times the
    # banks, and at 40 LUT per bank (40x the file's 1) the pull towards the file alone cost 7%
    "logic.lut_per_bank": 4.0,
    "logic.lut_per_axi_port": 2500.0,
    "logic.lut_per_cu": 9000.0,
    "logic.lut_per_vector_lane": 500.0,
}


@pytest.fixture(scope="module")
def synthetic():
    """Builds whose LUT counts are the model's own with known constants (TRUTH) and double
    pumping off: the fit must recover TRUTH from them."""
    shapes = [{**s, "double_pump": False, "clock_mhz": 250} for s in SHAPES]
    des = _designs([(f"d{i}", U280, s) for i, s in enumerate(shapes)])
    truth = Evaluator(des).predict(TRUTH)
    figs = pd.DataFrame([
        _figure(d, "lut", truth.value(d, "lut", "kernels"), scope="kernels")
        for d in des["design"]
    ])
    return Calibration(figs, des)


def test_the_fit_recovers_known_lut_constants(synthetic, monkeypatch):
    import dse.fit

    # with the pull towards the file's values (PRIOR_WEIGHT) made negligible, exact data give
    # the constants back (negligible against the file's refitted lut_per_bank 1 and lut_per_cu
    # 4,360, 4x and 4,640 LUT from TRUTH: 1e-14)
    monkeypatch.setattr(dse.fit, "PRIOR_WEIGHT", 1e-14)
    fit = synthetic.fit(synthetic.designs["design"].tolist())
    for key, value in TRUTH.items():
        assert fit.constants[key] == pytest.approx(value, rel=1e-3), key
    assert fit.residual["lut"] < 1e-4


def test_the_pull_towards_the_file_costs_little_error(synthetic):
    # the default pull trades a little fit for stable constants: a few percent at most. The
    # cost grows with the file's distance from TRUTH (refitted u280.yaml: lut_per_vector_lane
    # 3,162 against 500, lut_per_axi_port 8,880 against 2,500, INT8 lut_per_mac 10.7 against
    # 30, lut_per_bank 1 against 4): 2.8% median on these builds
    fit = synthetic.fit(synthetic.designs["design"].tolist())
    assert fit.residual["lut"] < 0.03


def test_held_out_rows_are_predicted_without_their_design(synthetic):
    _, rows = synthetic.cross_validate()
    held = rows[rows["split"] == "held-out"]
    assert sorted(held["design"]) == sorted(synthetic.designs["design"])
    table = held_out_table(rows).set_index("quantity")
    assert table.loc["lut", "n"] == len(SHAPES)
    # exact data: held out as good as fitted, within a few percent (the pull towards the file's
    # values, farther from TRUTH in the refitted file: 4.9%)
    assert table.loc["lut", "held_out_median_abs_error_pct"] < 6.0
    lo, hi = intervals(rows)["lut"]
    assert lo <= 0.0 <= hi


def _held(quantity: str, design: str, published: float, predicted: float) -> dict:
    return {"design": design, "quantity": quantity, "published": published,
            "predicted": predicted, "error": (predicted - published) / published, "kind": "eq",
            "split": "held-out"}


def test_a_resource_interval_resting_on_one_family_takes_the_pooled_floor():
    # URAM: four exact rows of one family (as DPUCAHX8H). LUT: ten rows of five families whose
    # ratios published / predicted are 0.8, 0.9, 1.0, 1.1, 1.2 (each twice). The pool is those
    # ten and URAM's four 1.0s, sorted 0.8 0.8 0.9 0.9 1 1 1 1 1 1 1.1 1.1 1.2 1.2; numpy's
    # linear percentiles sit at positions 0.1 x 13 = 1.3 (0.8 + 0.3 x 0.1 = 0.83) and
    # 0.9 x 13 = 11.7 (1.1 + 0.7 x 0.1 = 1.17), so URAM's (0, 0) widens to (-0.17, +0.17)
    rows = [_held("uram", f"dpu-{i}", 100.0, 100.0) for i in range(4)]
    lut = 2 * list(zip("abcde", (0.8, 0.9, 1.0, 1.1, 1.2), strict=True))
    rows += [_held("lut", f"{fam}-{i}", 100.0 * r, 100.0) for i, (fam, r) in enumerate(lut)]
    unc = intervals(pd.DataFrame(rows))
    assert unc["uram"] == pytest.approx((-0.17, 0.17))
    # LUT rests on five families: its own percentiles (positions 0.9 and 8.1 of ten: 0.8 and
    # 1.2), not the pool's narrower ones
    assert unc["lut"] == pytest.approx((-0.2, 0.2))
    assert family("dpucahx8h-u280-peak") == "dpucahx8h"
    # the held-out table says so: URAM's 4 rows are 1 family and its interval is the pool's
    table = held_out_table(pd.DataFrame(rows)).set_index("quantity")
    assert table.loc["uram", ["families", "pooled"]].tolist() == [1, True]
    assert table.loc["lut", ["families", "pooled"]].tolist() == [5, False]


def test_a_one_family_interval_is_kept_when_no_pool_spans_enough_families():
    # every row from one family: nothing independent to widen with, so URAM keeps (0, 0)
    rows = [_held("uram", f"dpu-{i}", 100.0, 100.0) for i in range(4)]
    rows += [_held("lut", f"dpu-{i}", 110.0, 100.0) for i in range(4)]
    unc = intervals(pd.DataFrame(rows))
    assert unc["uram"] == (0.0, 0.0)


def test_a_linear_constant_no_build_sees_keeps_its_value(synthetic):
    fit = synthetic.fit(synthetic.designs["design"].tolist())
    raw = load_validated(U280, "platform")
    # the synthetic builds are all INT8: the FP32 and BF16 costs are not seen
    assert fit.constants["precisions.FP32.lut_per_mac"] == raw["precisions"]["FP32"]["lut_per_mac"]


# --------------------------------------------------------------------------- the file
def test_apply_fit_rewrites_value_and_comment_and_stays_a_valid_platform():
    text = U280.read_text(encoding="utf-8")
    new = apply_fit(
        text,
        {"logic.lut_per_bank": 31.25, "timing.knee.lut": 0.55, "precisions.INT8.lut_per_mac": 17},
        {k: "fit: test" for k in ("logic.lut_per_bank", "timing.knee.lut",
                                   "precisions.INT8.lut_per_mac")},
        {"lut": (-0.1, 0.2), "fmax_mhz": (-0.05, 0.1)},
        "fit: test intervals",
    )
    import yaml

    raw = yaml.safe_load(new)
    assert raw["logic"]["lut_per_bank"] == 31  # a whole number (fitfile.INTEGER_KEYS)
    assert raw["timing"]["knee"]["lut"] == 0.55
    assert raw["timing"]["knee"]["dsp"] == 0.8  # a sibling key is untouched
    assert raw["precisions"]["INT8"]["lut_per_mac"] == 17
    assert raw["precisions"]["INT4"]["lut_per_mac"] == 12  # untouched (u280.yaml's assumption)
    assert raw["uncertainty"] == {"lut": {"lo": -0.1, "hi": 0.2},
                                  "fmax_mhz": {"lo": -0.05, "hi": 0.1}}
    line = next(ln for ln in new.splitlines() if ln.strip().startswith("lut_per_bank:"))
    assert line.rstrip().endswith("# fit: test")
    Platform.from_mapping(load_validated_text(new, tmp_name="u280"), source="fitted")
    # applying again replaces the uncertainty section instead of adding a second one
    again = apply_fit(new, {}, {}, {"lut": (-0.2, 0.3)}, "fit: again")
    assert again.count("\nuncertainty:") == 1
    assert yaml.safe_load(again)["uncertainty"] == {"lut": {"lo": -0.2, "hi": 0.3}}


def load_validated_text(text: str, *, tmp_name: str) -> dict:
    """Validate a platform text against the schema, as a file would be."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"{tmp_name}.yaml"
        p.write_text(text, encoding="utf-8")
        return load_validated(p, "platform")


# --------------------------------------------------------------------------- built designs
def test_pg367_dpu_fits_the_u280_budget_as_built():
    """DPUCAHX8H on the U280 (PG367, facts.md section 9): 14 engines, a 5-engine core takes
    238K LUT, 2,598 DSP, 320 URAM, 147.5 BRAM36 and fills an SLR. Per engine: 47,600 LUT,
    520 DSP, 64 URAM, 59 BRAM18. The model places 5 + 5 + 4 engines (SLR0 first): SLR1 then
    holds 320 URAM, all of its 320. The old 10% margin on every resource left 288: a built
    design called infeasible on its budget; hard blocks now have no margin (PG367)."""
    des = _designs([("dpu", U280, {
        "compute_units": 14, "pe_m": 16, "pe_n": 16, "pe_k": 8, "double_pump": True,
        "clock_mhz": 300, "tile_m": 64, "tile_n": 64, "tile_k": 256, "buffer_storage": "uram",
        "pc_weights": 1, "pc_inputs": 1, "pc_outputs": 1, "share_streams": True,
        "vector_lanes": 1,
    })])
    per_engine = pd.DataFrame([[47_600.0, 520.0, 59.0, 64.0]], index=["dpu"],
                              columns=list(RESOURCES))
    p = Evaluator(des).predict(resources=per_engine)
    violations = str(p.frame.at["dpu", "violations"])
    for r in RESOURCES:
        assert f"{r} SLR" not in violations, violations


def test_a_one_cu_kernel_larger_than_an_slr_is_judged_spread_over_the_slrs():
    """AutoSA's FP32 GEMM on the U250 (docs/examples/mm_large.rst): one kernel of 804,517 LUT,
    8,320 DSP and 953 BRAM36 built at 146 MHz, more than any SLR holds. Spread over the 4 SLRs
    with the shell's 107,629 LUT on its SLR, the fullest holds (804,517 / 4 + 107,629) /
    432,000 = 0.7147 of its LUTs; the U250 file's curve (345 MHz to a 0.22 knee, 215 at a full
    SLR) gives 345 - 130 (0.7147 - 0.22) / 0.78 = 262.55 MHz (DSP 0.68 and BRAM 0.65 of an SLR
    are under their 0.80 knees). Placed on one SLR the model called it infeasible."""
    params = {"weight_precision": "FP32", "act_precision": "FP32", "compute_units": 1,
              "pe_m": 13, "pe_n": 16, "pe_k": 8, "tile_m": 260, "tile_n": 256, "tile_k": 512,
              "clock_mhz": 146, "double_pump": False, "vector_lanes": 16,
              "buffer_storage": "bram", "pc_weights": 1, "pc_inputs": 1, "pc_outputs": 1}
    des = _designs([("autosa", U250, params),
                    ("too-big", U250, {**params, "clock_mhz": 100})])
    built = pd.DataFrame([[804_517.0, 8_320.0, 1_906.0, 0.0],
                          [2_000_000.0, 8_320.0, 1_906.0, 0.0]],
                         index=["autosa", "too-big"], columns=list(RESOURCES))
    p = Evaluator(des).predict(resources=built)
    assert p.frame.at["autosa", "fmax_mhz"] == pytest.approx(262.55, abs=0.1)
    assert bool(p.frame.at["autosa", "feasible"]), p.frame.at["autosa", "violations"]
    assert p.timing_inputs["autosa"][1][0][0] == pytest.approx(0.7147, abs=1e-4)
    # more LUTs than the device's 4 SLRs leave a kernel: infeasible on the device, not an SLR
    v = str(p.frame.at["too-big", "violations"])
    assert not bool(p.frame.at["too-big", "feasible"]) and "lut device" in v and "SLR" not in v


# --------------------------------------------------------------------------- the command
REPORTS = ROOT / "tests" / "data" / "reports"

#: Two builds in the tool's parameters (figures as a route report would give them), so the refit
#: has something to hold out; the reports folder adds builds that test the clock model only.
BUILDS = f"""
designs:
  - id: small
    title: a small INT8 engine
    board: {U280.as_posix()}
    design: {{pe_m: 8, pe_n: 8, pe_k: 8, compute_units: 1, vector_lanes: 8, double_pump: false,
              clock_mhz: 250}}
    figures:
      - {{stage: route, scope: kernels, where: report, clock_target_mhz: 250, clock_mhz: 250,
          lut: 30000, dsp: 300}}
    source: {{paper: P, venue: V, year: 2024, where: Table 1, url: "doi:10.1/x"}}
    measured: post-route resources
  - id: large
    title: a larger INT8 engine
    board: {U280.as_posix()}
    design: {{pe_m: 16, pe_n: 16, pe_k: 8, compute_units: 2, vector_lanes: 32,
              double_pump: false, clock_mhz: 250}}
    figures:
      - {{stage: route, scope: kernels, where: report, clock_target_mhz: 250, clock_mhz: 240,
          lut: 160000, dsp: 2200}}
    source: {{paper: P, venue: V, year: 2024, where: Table 2, url: "doi:10.1/x"}}
    measured: post-route resources
"""


def test_calibrate_reports_refits_into_a_calibrated_copy(tmp_path, capsys):
    from dse.cli import main

    designs = tmp_path / "builds.yaml"
    designs.write_text(BUILDS, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["calibrate", "--reports", str(REPORTS), "--designs", str(designs),
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "| lut |" in printed and "held-out" in printed
    copy = out / "u280.calibrated.yaml"
    assert copy.is_file()
    raw = load_validated(copy, "platform")  # a valid platform file
    Platform.from_mapping(raw, source=copy)
    assert "fit: " in copy.read_text(encoding="utf-8")
    rows = pd.read_csv(out / "resources.csv")
    # shipped: the board files' constants as given, on the same figures as the fit
    assert set(rows["split"]) == {"fit", "shipped", "held-out"}
    key = ["design", "quantity"]
    assert (rows[rows["split"] == "shipped"][key].values.tolist()
            == rows[rows["split"] == "fit"][key].values.tolist())
    assert {"design", "quantity", "published", "predicted", "error", "split"} <= set(rows.columns)
    # the shipped file is untouched: the refit writes a copy
    assert "fit: " + str(REPORTS) not in U280.read_text(encoding="utf-8")


def test_result_rows_carry_the_interval_of_the_platform_file():
    from dse.config import load_model
    from dse.model import Model
    from dse.results import results_frame
    from dse.space import design_batch
    from dse.workload import Workload

    raw = load_validated(U280, "platform")
    raw["uncertainty"] = {"latency_ms": {"lo": -0.2, "hi": 0.5}, "fmax_mhz": {"lo": -0.07,
                          "hi": 0.1}, "lut": {"lo": -0.1, "hi": 0.3}}
    P = Platform.from_mapping(raw, source="u280+uncertainty")
    W = Workload.from_mapping(load_model(ROOT / "configs" / "models" / "smolvla_vision.yaml"))
    batch = design_batch([EXAMPLE_DESIGN], P)
    model = Model(P, W)
    row = results_frame(model, batch, model.evaluate(batch), ["x"]).iloc[0]
    assert row["latency_ms_lo"] == pytest.approx(row["latency_ms"] * 0.8)
    assert row["latency_ms_hi"] == pytest.approx(row["latency_ms"] * 1.5)
    assert row["fmax_mhz_lo"] == pytest.approx(row["fmax_mhz"] * 0.93)
    # DSP has no interval in this file: zero width
    assert row["dsp_lo"] == row["dsp_hi"] == pytest.approx(row["dsp"], abs=1)
    # the pessimistic utilisation: LUT at 1.3 x, the others as they are
    expected = max(row["util_lut"] * 1.3, row["util_dsp"], row["util_bram"], row["util_uram"])
    assert row["utilization_hi"] == pytest.approx(expected)


def test_the_clock_fit_computes_fmax_as_the_model_does(synthetic):
    """The clock fit re-evaluates fmax from the recorded inputs of dse.timing (fractions of the
    fullest SLR, pumping, SLLs) for each trial of constants: at the file's constants it must
    give the model's own fmax column, and a changed knee must move it as the formula says."""
    from dse.fit import _timing_fmax

    ds = synthetic.designs["design"].tolist()
    inputs = synthetic.as_built.timing_inputs
    assert _timing_fmax(synthetic.ev, inputs, ds, {}) == pytest.approx(
        synthetic.as_built.frame.loc[ds, "fmax_mhz"].to_numpy(), rel=1e-6)
    # a rising curve (full-SLR clock above the base) is refused, as the platform check does
    assert np.isnan(_timing_fmax(synthetic.ev, inputs, ds, {"timing.full_mhz.lut": 900})).all()


def test_one_unreachable_clock_does_not_outvote_the_clocks_builds_met(tmp_path):
    """Three small engines, each under the LUT knee (fmax = base_mhz): two met 330 MHz (lower
    bounds), one reports fmax 250 (an equality no curve reaches without failing the other
    two). The clock fit sums absolute relative errors: lowering base from 330 by 5 MHz saves
    5/250 = 0.020 on the 250 MHz row and costs 2 x 5/330 = 0.030 on the met clocks, so base
    stops at 330 and both builds stay feasible. Squared errors would settle near 293 MHz
    (d/db of (b-250)^2/250^2 + 2 (b-330)^2/330^2 = 0), calling both
    built designs infeasible."""
    small = {"pe_m": 4, "pe_n": 4, "pe_k": 4, "compute_units": 1, "vector_lanes": 1,
             "tile_m": 16, "tile_n": 16, "tile_k": 16, "share_streams": True, "pc_weights": 1,
             "pc_inputs": 1, "pc_outputs": 1, "double_pump": False, "clock_mhz": 250}
    des = _designs([(n, _knee_030(tmp_path), small) for n in ("a", "b", "c")])
    figs = pd.DataFrame([
        *(_figure(d, q, 330, scope="kernels") for d in "ab"
          for q in ("clock_target_mhz", "clock_mhz")),
        _figure("c", "fmax_mhz", 250, scope="kernels"),
    ])
    cal = Calibration(figs, des)
    assert (cal.as_built.frame["fmax_mhz"] == 345).all()  # the file's base: under the knee
    assert cal.fit(["a", "b", "c"]).constants["timing.base_mhz"] == 330


@pytest.fixture(scope="module")
def shipped():
    """The calibration of the shipped published builds (configs/calibration/designs.yaml)."""
    from dse.builds import load_builds

    b = load_builds(ROOT / "configs" / "calibration" / "designs.yaml")
    return Calibration(b.figures, b.designs)


def test_double_pumped_dsp_figures_are_predicted_with_half_the_pe_dsps(shipped):
    # PG367/PG338 DPU rows are double-pumped (each DSP does its 2 packed INT8 MACs twice per
    # fabric cycle): a published build with double_pump gets half the PE array's DSPs. By hand,
    # 16 x 8 x ceil(16 / (2 x 2)) = 512 PE DSPs + 2 for the one vector lane = 514 per engine
    # (PG367: 2,598 for a 5-engine core, 519.6 per engine); DPUCZDX8G B512 (4 x 8 x 8):
    # 4 x 8 x ceil(8 / 4) = 64 + 2 = 66, PG338's figure. The rows enter the DSP fit.
    cal = shipped
    assert not (cal.unmodelled["quantity"] == "dsp").any()
    p = cal.ev.predict(subset=["dpucahx8h-u280-peak", "dpuczdx8g-b512-low-dsp"])
    assert p.per_cu.at["dpucahx8h-u280-peak", "dsp"] == 514
    assert p.per_cu.at["dpuczdx8g-b512-low-dsp", "dsp"] == 66
    fitted = cal.obs[(cal.obs["design"] == "dpuczdx8g-b512-low-dsp")]
    assert "dsp" in set(fitted["quantity"])


def test_latency_trials_run_together_equal_each_trial_alone(shipped):
    """The latency fit evaluates its trials of constants together (Evaluator.latency_trials:
    the designs repeated once per trial, the constants per design): each trial's latencies of
    the published builds with latency rows must be bit for bit what Evaluator.predict gives
    with that trial's overrides on its own. The trials span the latency grid's ends (the DDR
    read latency moves the U250's Vitis BLAS builds, the HBM builds not), and one trial with a
    constant the model cannot take per design falls back to predict."""
    from dse.fit import LATENCY_GRID

    designs = shipped.lat_rows["design"].unique().tolist()
    trials = [{k: float(v[i]) for k, v in LATENCY_GRID.items()} for i in (0, -1)]
    trials.append({**trials[0], "logic.pipeline_fill_cycles": 24.0})
    trials.append({**trials[1], "memories.ddr.read_latency_ns": 289.0})
    got = shipped.ev.latency_trials(trials, designs)
    for t, p in zip(trials, got, strict=True):
        alone = shipped.ev.predict(t, subset=designs).frame.loc[p.frame.index]
        for col in ("latency_ms", "layer_ms", "linear_ms"):
            np.testing.assert_array_equal(p.frame[col].to_numpy(float),
                                          alone[col].to_numpy(float))
    assert sorted(got[0].frame.index) == sorted(designs)
    lat = [p.frame.loc[designs, "latency_ms"].to_numpy(float) for p in got]
    assert not np.array_equal(lat[0], lat[2])  # the fill moves them
    assert not np.array_equal(lat[1], lat[3])  # and the DDR latency some
    # the per-call launch time is not a per-design constant: one predict per trial
    mixed = [{**trials[0], "logic.launch_us": 0.0}, {**trials[0], "logic.launch_us": 50.0}]
    got = shipped.ev.latency_trials(mixed, designs)
    for t, p in zip(mixed, got, strict=True):
        np.testing.assert_array_equal(
            p.frame["latency_ms"].to_numpy(float),
            shipped.ev.predict(t, subset=designs).frame.loc[p.frame.index, "latency_ms"]
            .to_numpy(float))
    assert (got[1].frame["latency_ms"] > got[0].frame["latency_ms"]).all()


def test_the_batched_grid_search_walks_as_the_one_trial_search():
    """fit_grid with ``batch`` evaluates trials ahead of the walk; it must take the same steps:
    the same end point and the same loss at every accepted move as the plain walk, on a loss
    with a coupled pair (so moves happen mid-sweep) and chunks smaller than a sweep."""
    from dse.fit import fit_grid

    grid = {"a": np.arange(0.0, 10.0), "b": np.arange(0.0, 10.0), "c": np.arange(0.0, 5.0)}

    def loss(c):
        return (c["a"] - 7) ** 2 + (c["b"] - 2) ** 2 + 3 * (c["a"] - c["b"] - 4) ** 2 + (
            c["c"] - 1.5) ** 2

    seen: list[list[float]] = [[], []]

    def plain(c):
        seen[0].append(loss(c))
        return loss(c)

    def batch(trials):
        return np.array([loss(c) for c in trials])

    start = {"a": 0.0, "b": 9.0, "c": 4.0}
    want = fit_grid(plain, grid, start, pairs=[("a", "b")])
    for chunk in (1, 3, 512):
        got = fit_grid(lambda c: seen[1].append(loss(c)) or loss(c), grid, start,
                       pairs=[("a", "b")], batch=batch, chunk=chunk)
        assert got == want
    # the walk moved (from the start) to the grid point of least loss: a = 7, b = 3 or so
    assert want != start and loss(want) < loss(start)
    assert want == min(({"a": a, "b": b, "c": c} for a in grid["a"] for b in grid["b"]
                        for c in grid["c"]), key=loss)


# --------------------------------------------------------------------------- the SLL term
def _sll_builds(truth: dict[str, float], board: Path = U280) -> Calibration:
    """Six 3-CU builds that differ only in their shared-stream ports (2 to 8 per CU), so the
    busiest boundary's SLLs go from 26% to 101% of the usable while the fabric stays the same:
    each build publishes the same small resources (30,000 LUT, 30 DSP, 60 BRAM18: under every
    knee on the fullest SLR, so the fabric term is base_mhz) and the fmax the model gives under
    ``truth``."""
    small = {"pe_m": 4, "pe_n": 4, "pe_k": 4, "vector_lanes": 1, "tile_m": 16, "tile_n": 16,
             "tile_k": 16, "share_streams": True, "share_weights": False, "double_pump": False,
             "clock_mhz": 200, "compute_units": 3, "pc_inputs": 1, "pc_outputs": 1}
    des = _designs([(f"s{p}", board, {**small, "pc_weights": p}) for p in (2, 4, 5, 6, 7, 8)])
    built = {"lut": 30_000.0, "dsp": 30.0, "bram18": 60.0, "uram": 0.0}
    per_cu = pd.DataFrame([[built[r] / 3 for r in RESOURCES]] * len(des), index=des["design"],
                          columns=list(RESOURCES))
    truth_p = Evaluator(des).predict(truth, resources=per_cu)
    figs = pd.DataFrame([f for d in des["design"] for f in (
        _figure(d, "fmax_mhz", truth_p.frame.at[d, "fmax_mhz"], scope="kernels"),
        *(_figure(d, r, v, scope="kernels") for r, v in built.items()))])
    return Calibration(figs, des)


def test_the_clock_fit_recovers_a_known_sll_derate_and_knee(tmp_path):
    """The SLL term is fitted: builds whose fmax the model computes with sll_derate 0.15 past
    a knee of 0.60 (u280.yaml ships others) give those back. Hand check of one row: 3 CUs of 8
    shared ports, two of them above SLR0: 2 x 8 x 1,294 SLLs (a read-write port: 512 data +
    102 beside them, and 512 data + 64 strobes + 104, dse.timing) + 2 x 107 control = 20,918 of
    0.9 x 23,040 = 20,736 usable, s = 1.0088; fmax = 345 x (1 - 0.15 x min(s - 0.6, 0.4) / 0.4)
    = 345 x 0.85 = 293.25 MHz."""
    truth = {"timing.sll_derate": 0.15, "timing.sll_knee": 0.60}
    cal = _sll_builds(truth, _knee_030(tmp_path))
    s8 = cal.as_built.timing_inputs["s8"][3]
    assert s8 == pytest.approx(20_918 / 20_736, rel=1e-4)
    pub = cal.obs[cal.obs["quantity"] == "fmax_mhz"].set_index("design")["published"]
    assert pub["s8"] == pytest.approx(293.25, rel=1e-6)  # s past 1: the whole derate
    s6 = cal.as_built.timing_inputs["s6"][3]
    assert 0.6 < s6 < 1.0
    assert pub["s6"] == pytest.approx(345 * (1 - 0.15 * (s6 - 0.6) / 0.4), rel=1e-6)
    fit = cal.fit(cal.designs["design"].tolist())
    assert fit.constants["timing.sll_derate"] == pytest.approx(0.15)
    assert fit.constants["timing.sll_knee"] == pytest.approx(0.60)
    assert fit.residual["fmax_mhz"] < 1e-6


def test_an_sll_derate_fitted_to_zero_leaves_its_knee_undetermined_and_says_so():
    """Builds whose clock no SLL count lowers: the derate goes to 0, its grid's lower edge (a
    bound: no build shows a cost), and the knee, which then moves nothing, is not written."""
    from dse.fit import calibrated_platform, determined, grid_edge

    cal = _sll_builds({"timing.sll_derate": 0.0})
    fit, rows = cal.cross_validate()
    assert fit.constants["timing.sll_derate"] == 0.0
    keys = determined(cal, fit)
    assert "timing.sll_derate" in keys and "timing.sll_knee" not in keys
    assert grid_edge("timing.sll_derate", 0.0) == "lower"
    assert grid_edge("timing.sll_derate", 0.1) == ""
    text = calibrated_platform(str(U280), load_validated(U280, "platform"), cal, fit, rows,
                               dataset="test")
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("sll_derate:"))
    assert "fit: test" in line and "lower edge of its grid" in line
    knee = next(ln for ln in text.splitlines() if ln.strip().startswith("sll_knee:"))
    assert "fit:" not in knee


def test_the_u280_dpu_as_built_closes_its_300_mhz_under_the_shipped_files():
    """DPUCAHX8H on the U280 (designs.yaml, PG367 resources; placement from Vitis-AI's U280
    build: the 4-engine core on SLR0, 5-engine cores on SLR1 and SLR2, cu_slr_order [1, 2, 0]).
    The build is floorplanned (Vitis-AI's constraints put each core in its SLR's pblock and
    place every DSP48E2 by hand), so the LUT term is the floorplanned curve (knee 0.46, 250 MHz
    at a full SLR). By hand, per engine 670,541 / 14 LUT, 7,276 / 14 DSP, 896 / 14 = 64 URAM:
    - SLR0: 4 engines + the shell's 107,629 LUT = 299,212 of 439,680 = 0.6805 -> 345 - 95 x
      0.2205 / 0.54 = 306.2 MHz;
    - SLR1: 5 engines, 2,598.6 of 3,072 DSP = 0.846 -> 345 - 95 x 0.046 / 0.20 = 323.2, double
      pumped: at most 600 / 2 = 300; 320 of 320 URAM -> its full-SLR clock, 300 (PG367);
    - SLR0-SLR1 carries 10 engines' ports: past the SLL knee, but the fitted derate is 0.
    So fmax = 300 MHz and the published 300 MHz closes. With the board's own order (5 engines
    on the shell's SLR0: 0.7895 of its LUTs) the LUT term alone gives 345 - 95 x 0.3295 / 0.54
    = 287.0 MHz."""
    from dse.builds import load_builds
    from dse.fit import Fit

    b = load_builds(ROOT / "configs" / "calibration" / "designs.yaml")
    d = "dpucahx8h-u280-peak"
    des = b.designs[b.designs["design"] == d].reset_index(drop=True)
    assert des.at[0, "cu_slr_order"] == "1,2,0"
    cal = Calibration(b.figures[b.figures["design"] == d], des)
    built = cal.as_built_table(Fit({}, {}, {})).set_index("design")
    assert built.at[d, "fmax_mhz"] == pytest.approx(300.0)
    assert bool(built.at[d, "feasible"]), built.at[d, "violations"]
    lut0 = float(np.ravel(cal.as_built.timing_inputs[d][1][0])[0])
    assert lut0 == pytest.approx((4 * 670_541 / 14 + 107_629) / 439_680, rel=1e-4)
    board_order = Calibration(b.figures[b.figures["design"] == d],
                              des.assign(cu_slr_order=""))
    other = board_order.as_built_table(Fit({}, {}, {})).set_index("design")
    assert other.at[d, "fmax_mhz"] == pytest.approx(345 - 95 * (0.7895 - 0.46) / 0.54, abs=0.05)
    assert not bool(other.at[d, "feasible"])


def test_a_met_clock_outweighs_several_reported_fmax_rows(monkeypatch, tmp_path):
    """Six small engines under the LUT knee (fmax = base_mhz): one met 330 MHz (a lower bound),
    five report fmax 320 (equalities). Unweighted, lowering base from 330 to 320 saves 5 x
    10/320 = 0.156 and costs 10/330 = 0.030: the fit would call the built design infeasible.
    A missed met clock weighs MET_CLOCK_WEIGHT = 100 times (3.03 > 0.156), so base stays at
    330: the issue's rule that no built design is infeasible, where the curve can keep it."""
    import dse.fit

    small = {"pe_m": 4, "pe_n": 4, "pe_k": 4, "compute_units": 1, "vector_lanes": 1,
             "tile_m": 16, "tile_n": 16, "tile_k": 16, "share_streams": True, "pc_weights": 1,
             "pc_inputs": 1, "pc_outputs": 1, "double_pump": False, "clock_mhz": 250}
    names = ["met", *(f"eq{i}" for i in range(5))]
    des = _designs([(n, _knee_030(tmp_path), small) for n in names])
    figs = pd.DataFrame([
        *(_figure("met", q, 330, scope="kernels") for q in ("clock_target_mhz", "clock_mhz")),
        *(_figure(n, "fmax_mhz", 320, scope="kernels") for n in names[1:]),
    ])
    cal = Calibration(figs, des)
    assert dse.fit.MET_CLOCK_WEIGHT == 100.0
    assert cal.fit(names).constants["timing.base_mhz"] == 330
    monkeypatch.setattr(dse.fit, "MET_CLOCK_WEIGHT", 1.0)
    assert cal.fit(names).constants["timing.base_mhz"] == 320


def test_met_clocks_alone_give_the_lowest_curve_they_allow(monkeypatch):
    """Three small engines built at 300, 310 and 320 MHz (met clocks, lower bounds), no
    reported fmax. Every curve whose fmax at their (equal) SLR0 fractions is 320 or more meets
    them all at no cost; the pull (PULL_WEIGHT) takes the lowest, so the fitted fmax is 320 to
    within the grids' resolution, and with the 320 build left out, 310. Without the pull the
    search keeps its start, the board file's constants (345 MHz base): a design left out would
    be predicted by the constants of the board file."""
    import dse.fit

    small = {"pe_m": 4, "pe_n": 4, "pe_k": 4, "compute_units": 1, "vector_lanes": 1,
             "tile_m": 16, "tile_n": 16, "tile_k": 16, "share_streams": True, "pc_weights": 1,
             "pc_inputs": 1, "pc_outputs": 1, "double_pump": False, "clock_mhz": 250}
    names = ["b300", "b310", "b320"]
    des = _designs([(n, U280, small) for n in names])
    figs = pd.DataFrame([_figure(n, "clock_mhz", float(n[1:]), scope="kernels")
                         for n in names])
    cal = Calibration(figs, des)

    def fmax(train):
        t = cal.as_built_table(cal.fit(train)).set_index("design")
        return t["fmax_mhz"]

    assert 320 <= fmax(names).min() < 321
    assert 310 <= fmax(names[:2]).min() < 311
    monkeypatch.setattr(dse.fit, "PULL_WEIGHT", 0.0)
    assert cal.fit(names).constants["timing.base_mhz"] == 345
