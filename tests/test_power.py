"""The board power model (dse/power.py), the traffic it reads (dse.model) and energy as an
objective (dse.config)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from dse.config import load_config, load_validated
from dse.errors import UserError
from dse.power import PowerModel, breakdown, power_columns, power_model
from dse.space import design_batch
from tests.conftest import BASE_DESIGN, CONFIG, ROOT


def test_gemm_bytes_by_hand(model):
    # fc1: M = 1024, K = 768, N = 3072 on one CU, INT8 (1 byte), tiles 128 x 128 x 256, loop
    # order mnk: Tm = 8, Tn = 24, Tk = 3. m sits outside n, so kernel.cpp holds A: A is read
    # once per n tile because k (inside n) iterates: 24 times; B is read once per m tile: 8
    # times; k innermost spills no partial sum. 1024 x 768 x 24 + 768 x 3072 x 8 + 1024 x 3072
    # = 18,874,368 + 18,874,368 + 3,145,728 = 40,894,464 bytes.
    from dse.model import _Batch

    b = _Batch(model, design_batch([{**BASE_DESIGN, "compute_units": 1}], model.platform))
    fc1 = next(k for k in model.workload.kernels if k.name == "fc1")
    assert float(model._gemm_bytes(fc1, b)[0]) == 40_894_464


def test_bytes_per_call_grows_with_refetch_and_cameras(cfg, model):
    # smaller tiles re-fetch more; the call's bytes are the images' bytes
    big = model.evaluate(design_batch([{**BASE_DESIGN, "tile_n": 128}], cfg.platform)).columns
    small = model.evaluate(design_batch([{**BASE_DESIGN, "tile_n": 32}], cfg.platform)).columns
    assert small["bytes_per_call"][0] > big["bytes_per_call"][0] > 0


def test_power_breakdown_by_hand():
    # 37.5 W idle; 100,000 LUT x 0.2 uW/MHz x 300 MHz = 6 W, 1,000 DSP x 3 uW/MHz x 300 MHz =
    # 0.9 W, 500 BRAM18 x 10 x 300 = 1.5 W, 10 URAM x 20 x 300 = 0.06 W: 8.46 W on the chip,
    # x 1.25 card/chip x 25 / 12.5 toggle = 21.15 W; 1e9 bytes in 100 ms at 10 pJ/bit =
    # 8e9 x 1e-11 J / 0.1 s = 0.8 W. Total 59.45 W; x 100 ms = 5,945 mJ per call, / 3 per image.
    pm = PowerModel(static_w=37.5, uw_per_mhz=(0.2, 3.0, 10.0, 20.0), toggle_pct=25.0,
                    board_per_chip_w=1.25, pj_per_bit=10.0)
    c = {"lut": np.array([1e5]), "dsp": np.array([1e3]), "bram18": np.array([500.0]),
         "uram": np.array([10.0]), "clock_mhz": np.array([300.0]),
         "latency_ms": np.array([100.0]), "bytes_per_call": np.array([1e9])}
    parts = breakdown(pm, c)
    assert parts["lut"][0] == pytest.approx(6.0 * 2.5)
    assert parts["memory"][0] == pytest.approx(0.8)
    assert sum(p[0] for p in parts.values()) == pytest.approx(59.45)


def test_power_columns_of_the_u280_and_a_board_without_a_model():
    raw = load_validated(ROOT / "configs" / "platforms" / "u280.yaml", "platform")
    c = {"lut": np.array([0.0]), "dsp": np.array([0.0]), "bram18": np.array([0.0]),
         "uram": np.array([0.0]), "clock_mhz": np.array([300.0]),
         "latency_ms": np.array([50.0]), "bytes_per_call": np.array([0.0])}
    cols = power_columns(raw, c, cameras=2)
    # nothing used, nothing moved: the idle card (FlexLLM's idle median), 37.46 W x 50 ms
    assert cols["power_w"][0] == pytest.approx(37.46)
    assert cols["energy_mj"][0] == pytest.approx(37.46 * 50)
    assert cols["energy_per_image_mj"][0] == pytest.approx(37.46 * 25)
    u200 = load_validated(ROOT / "configs" / "platforms" / "u200.yaml", "platform")
    assert power_model(u200) is None
    assert all(np.isnan(v[0]) for v in power_columns(u200, c, cameras=2).values())


def _config(tmp_path, objectives, platform="platforms/u280.yaml"):
    raw = yaml.safe_load(CONFIG.read_text())
    raw["objectives"] = objectives
    raw["platform"] = str(ROOT / "configs" / platform)
    raw["model"] = str(ROOT / "configs" / raw["model"])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_energy_objective_validated(tmp_path):
    objs = [{"name": "latency_ms", "direction": "min"}, {"name": "energy_mj", "direction": "min"}]
    assert ("energy_mj", "min") in load_config(_config(tmp_path, objs)).objectives
    with pytest.raises(UserError, match=r"objectives\[1\]\.name.*power model.*energy_mj"):
        load_config(_config(tmp_path, objs, "platforms/u200.yaml"))


def test_evaluate_gives_null_power_on_a_board_without_a_power_model(tmp_path, capsys):
    # u200.yaml has no power: section (no published idle figure): dse evaluate prints its power
    # figures as JSON null (n/a), not NaN, which is no JSON number (the config fuzzer cut
    # u280.yaml before its power: section and read NaN)
    import json

    from dse.cli import main
    from tests.conftest import BASE_DESIGN

    objs = [{"name": "latency_ms", "direction": "min"}, {"name": "utilization", "direction": "min"}]
    cfg = _config(tmp_path, objs, "platforms/u200.yaml")
    assert main(["evaluate", "--config", str(cfg), "--design", json.dumps(BASE_DESIGN)]) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
    assert out["power_w"] is out["energy_mj"] is out["energy_per_image_mj"] is None
    assert out["latency_ms"] > 0


def test_power_section_must_cover_the_design_memory(tmp_path):
    from dse.platform import Platform

    raw = copy.deepcopy(load_validated(ROOT / "configs" / "platforms" / "u280.yaml", "platform"))
    del raw["power"]["pj_per_bit"]["hbm"]
    with pytest.raises(UserError, match=r"power\.pj_per_bit.*ddr.*an entry hbm"):
        Platform.from_mapping(raw, source="u280.yaml")


def test_power_calibration_of_the_shipped_figures():
    from dse.powercal import power_table

    t = power_table(ROOT / "configs" / "calibration" / "power.yaml")
    held = t[t["split"] == "held-out"].set_index("design")
    # the U50LV ramp predicted with the U55C's energy per bit: the U55C card rises 28.3 W (36.3
    # -> 64.6 W, three rails) for (12,300 - 400) MB/s x 32 channels = 380.8 GB/s, 9.290 pJ/bit;
    # the U50LV moves (5,250 - 120) x 32 = 164.16 GB/s more: 9.290e-12 x 164.16e9 x 8 = 12.20 W
    # against the 11.5 W it rose (8.4 W on 3v3_pex + 3.1 W on 12v_pex): +6.1%
    assert held.loc["xbtest-u50lv-hbm-read-ramp", "predicted_w"] == pytest.approx(12.20, abs=0.01)
    assert held.loc["xbtest-u50lv-hbm-read-ramp", "published_w"] == pytest.approx(11.5)
    # chip scope, held out by design: 14 builds of 5 designs (Hastlayer's 3 algorithms on 4
    # boards, FSA on the U280, CyanSemi's CSRE on the U50), each predicted without any build of
    # its design, so the count of designs is 5, not 14. The review of the power model (item 4)
    # recomputed 21.7% for the 13 builds of 4 designs held out this way; with FSA's DSP and
    # BRAM at their printed watts and CSRE added: 16.5% (issue 21: >= 5 designs, <= 25%)
    chip = held[held["scope"] == "chip"]
    assert len(chip) == 14 and chip["group"].nunique() == 5
    assert set(chip.loc[chip["group"] == "hastlayer-parallel", "board"]) == {
        "u200", "u250", "u280", "u50"}
    assert chip["error"].abs().median() == pytest.approx(0.165, abs=0.001)
    assert chip["error"].abs().median() <= 0.25
    # the board files' LUT coefficient is this fit's (0.143 uW per LUT per MHz)
    raw = load_validated(ROOT / "configs" / "platforms" / "u280.yaml", "platform")
    assert raw["power"]["uw_per_mhz"]["lut"] == pytest.approx(t.attrs["lut_uw_per_mhz"], abs=5e-4)


def test_chip_held_out_fit_has_no_build_of_the_design(tmp_path):
    # a held-out prediction must not move when another build of its design changes (all of
    # them are out of its fit), and must move when a build of another design changes
    from dse.powercal import power_table

    src = ROOT / "configs" / "calibration" / "power.yaml"

    def predicted(entry_id, value_w):
        raw = yaml.safe_load(src.read_text())
        _entry(raw, entry_id)["power"]["value_w"] = value_w
        path = tmp_path / "power.yaml"
        path.write_text(yaml.safe_dump(raw))
        t = power_table(path, ROOT / "configs" / "platforms")
        return t[t["split"] == "held-out"].set_index("design")["predicted_w"]

    base = predicted("hastlayer-u50-parallel", 11.69)  # as published
    sibling = predicted("hastlayer-u50-parallel", 30.0)  # same design, another board
    other = predicted("hastlayer-u50-montecarlo", 30.0)  # another design, same board
    assert sibling["hastlayer-u280-parallel"] == base["hastlayer-u280-parallel"]
    assert other["hastlayer-u280-parallel"] != base["hastlayer-u280-parallel"]


def test_report_power_and_power_log_are_read_apart():
    from dse.reports import read_reports

    f = read_reports(ROOT / "tests" / "data" / "power").figures
    got = {(r.design, r.quantity): (r.published, r.scope) for r in f.itertuples()}
    # report_power (FSA's printed summary): the die's estimate, chip scope, under chip_* names
    # (never the card's power_w)
    assert got[("fsa-u280", "chip_power_w")] == (20.239, "chip")
    assert got[("fsa-u280", "chip_static_w")] == (3.575, "chip")
    assert got[("fsa-u280", "chip_hbm_w")] == (8.890, "chip")
    # the FlexLLM log excerpt (19 distinct readings): idle = the lowest, 37.342674 W; running =
    # the median of the 13 readings above 39.342674 W (41.28 ... 59.79 sorted, the 7th:
    # 44.008252 W); peak 59.785920 W; board scope
    assert got[("flexllm-u280", "power_idle_w")] == (37.342674, "board")
    assert got[("flexllm-u280", "power_w")] == (pytest.approx(44.008252), "board")
    assert got[("flexllm-u280", "power_peak_w")] == (59.785920, "board")
    assert ("fsa-u280", "power_w") not in got
    assert {q for (_, q), (_, scope) in got.items() if scope == "chip"} == {
        "chip_power_w", "chip_dynamic_w", "chip_static_w", "chip_hbm_w", "chip_clb_logic_w",
        "chip_signals_w", "chip_gty_w", "chip_bram_w", "chip_clocks_w", "chip_dsp_w",
        "chip_pcie_w"}


def test_power_log_without_readings_is_refused(tmp_path):
    from dse.reports import parse_file

    bad = tmp_path / "log.csv"
    bad.write_text("timestamp,power_W\n2025-10-15 22:56:04,-1\n")
    with pytest.raises(UserError, match=r"line 2\.power_W.*not a power in W"):
        parse_file(bad)


def test_power_figure_parts_add_up_to_the_row(cfg, model, tmp_path):
    # power.png stacks dse.power.breakdown of the selected rows: the parts must add up to the
    # power_w the row carries (the same formula), and a board without a model draws a note
    from dse.plots.energy import figure, power_parts
    from dse.results import results_frame

    batch = design_batch([BASE_DESIGN], cfg.platform)
    row = results_frame(model, batch, model.evaluate(batch), ["d"]).assign(selection="knee")
    parts = power_parts(row, cfg.platform.raw).iloc[0]
    r = row.iloc[0]
    # by hand, docs/power.md's formula with configs/platforms/u280.yaml's power: section typed
    # in (37.46 W idle; 0.143 / 2.7 / 10 / 20 uW per LUT / DSP / BRAM18 / URAM per MHz at the
    # 12.5% reference toggle, 1.22 card W per chip W; 9.3 pJ per HBM bit) and the row's own
    # resources, clock, latency and bytes
    clk, lat_s = float(r["clock_mhz"]), float(r["latency_ms"]) * 1e-3
    chip = {"lut": 0.143, "dsp": 2.7, "bram18": 10.0, "uram": 20.0}
    hand = {name: 1.22 * uw * 1e-6 * float(r[name]) * clk for name, uw in chip.items()}
    hand["static"] = 37.46
    hand["memory"] = 9.3e-12 * 8 * float(r["bytes_per_call"]) / lat_s
    assert hand["lut"] > 1 and hand["memory"] > 0.1  # the design uses both (not a 0 = 0 check)
    # (to float32 precision: the model's arrays are float32, the stored columns their float64)
    for name, w in hand.items():
        assert parts[name] == pytest.approx(w, rel=1e-5), name
    assert r["power_w"] == pytest.approx(sum(hand.values()), rel=1e-5)
    assert r["energy_mj"] == pytest.approx(sum(hand.values()) * float(r["latency_ms"]), rel=1e-5)
    u200 = load_validated(ROOT / "configs" / "platforms" / "u200.yaml", "platform")
    assert power_parts(row, u200).empty
    assert "no board power model" in figure(power_parts(row, u200)).axes[0].texts[0].get_text()


def test_calibrate_reports_reads_an_export_and_its_power_log(cfg, model, tmp_path, capsys):
    # a folder dse export wrote (design.json, platform.json, and model.json: the run's model
    # mapping, which records cameras: 3) with an xbutil log beside it: --reports prints the
    # measured card power and the model's power_w of the exported design, the one the run's
    # results row carries, at the run's 3 images per call (was: model.json refused for its
    # cameras key)
    from dse.cli import main
    from dse.export import export_design
    from dse.results import results_frame

    batch = design_batch([BASE_DESIGN], cfg.platform)
    row = results_frame(model, batch, model.evaluate(batch), ["d1"]).iloc[0].to_dict()
    folder = tmp_path / "reports" / "d1"
    export_design(row, cfg.platform_raw, folder, model_raw=cfg.model_raw)
    assert yaml.safe_load((folder / "model.json").read_text())["cameras"] == 3
    (folder / "xbutil.csv").write_text("timestamp,power_W\n1,37.5\n2,50.0\n3,52.0\n")
    assert main(["calibrate", "--reports", str(tmp_path / "reports")]) == 0
    out = capsys.readouterr().out
    # measured: the median of the readings above idle + 2 W (37.5 + 2): (50 + 52) / 2 = 51 W
    assert (f"d1: model power_w {row['power_w']:.2f} W (3 images per call, "
            f"{row['energy_mj']:.1f} mJ) against 51.00 W measured") in out


def _entry(raw, entry_id):
    return next(e for e in raw["entries"] if e["id"] == entry_id)


def _set(entry_id, *keys, value):
    """A change to one entry of the shipped power.yaml: keys[-1] of the entry's nested keys."""
    def change(raw):
        d = _entry(raw, entry_id)
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return change


def _idle_zero(raw):
    raw["coefficients"]["idle_board_w"]["u280_unknown_state"]["values"][1] = 0


@pytest.mark.parametrize(("change", "key", "bad", "allowed"), [
    (_set("hastlayer-u280-parallel", "power", "value_w", value="abc"),
     "entries[8] (hastlayer-u280-parallel).power.value_w", "abc", "0 < W <= 500"),
    (_set("hastlayer-u280-parallel", "power", "value_w", value=0),
     "entries[8] (hastlayer-u280-parallel).power.value_w", 0, "0 < W <= 500"),
    (_set("fsa-16x16-u280-hbm", "clock_mhz", value="fast"),
     "entries[19] (fsa-16x16-u280-hbm).clock_mhz", "fast", "0 < MHz <= 1000"),
    (_set("fsa-16x16-u280-hbm", "power", value=5),
     "entries[19] (fsa-16x16-u280-hbm).power", 5, "a mapping"),
    (_set("fsa-16x16-u280-hbm", "resources", value=[1]),
     "entries[19] (fsa-16x16-u280-hbm).resources", [1], "a mapping"),
    (_set("fsa-16x16-u280-hbm", "resources", "lut", value=None),
     "entries[19] (fsa-16x16-u280-hbm).resources.lut", None, "a positive number"),
    (_set("xbtest-u55c-hbm-read-ramp", "bandwidth", "ramp_mbps_per_channel", "end", value=400),
     "entries[2] (xbtest-u55c-hbm-read-ramp).bandwidth.ramp_mbps_per_channel.end", 400,
     "400 < MB/s"),
    (_set("xbtest-u55c-hbm-read-ramp", "power", "pex12_w", "at_1pct", value=-3),
     "entries[2] (xbtest-u55c-hbm-read-ramp).power.pex12_w.at_1pct", -3, "0 <= W <= 500"),
    (_set("xbtest-u55c-hbm-read-ramp", "use", value="maybe"),
     "entries[2] (xbtest-u55c-hbm-read-ramp).use", "maybe", "fit, check, exclude"),
    (_idle_zero, "coefficients.idle_board_w.u280_unknown_state.values[1]", 0, "0 < W <= 500"),
    (_set("fsa-16x16-u280-hbm", "power", "derives", value=["lut"]),
     "entries[19] (fsa-16x16-u280-hbm).power.derives", ["lut"], "dsp, bram18, uram"),
])
def test_hostile_power_yaml_values_are_one_line_errors(tmp_path, capsys, change, key, bad,
                                                       allowed):
    # every value dse.powercal reads is checked (was: ValueError, AttributeError or
    # ZeroDivisionError tracebacks, and value_w: 0 silently dropping the entry); the error
    # names the file, the entry's index and id, the key, the value and what is allowed, and
    # dse calibrate --power exits 2 with that one line before its fit
    from dse.cli import main
    from dse.powercal import power_table

    raw = yaml.safe_load((ROOT / "configs" / "calibration" / "power.yaml").read_text())
    change(raw)
    path = tmp_path / "power.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError) as exc:
        power_table(path, ROOT / "configs" / "platforms")
    msg = str(exc.value)
    assert str(path) in msg and f"key '{key}'" in msg
    assert f"(got {bad!r})" in msg if bad is not None else ": missing;" in msg
    assert allowed in msg
    code = main(["calibrate", "--designs", str(ROOT / "configs" / "calibration" / "designs.yaml"),
                 "--out", str(tmp_path / "o"), "--power", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and msg in err


def test_energy_plot_draws_the_cloud_pareto_png_draws(cfg, tmp_path, monkeypatch):
    # a design in both the sweep and the search tables is two cloud rows in pareto.png; energy.png
    # must draw the same rows (was: a second read merged on design_id, 2 x 2 = 4 rows)
    import pandas as pd

    from dse import plots
    from dse.commands.plot import energy_plots

    seen = {}

    def plot_pareto(cloud, front, selected, out, **kw):
        seen["cloud"], seen["front"], seen["title"] = cloud, front, kw["title"]
        return out

    monkeypatch.setattr(plots, "plot_pareto", plot_pareto)
    cloud = pd.DataFrame({"design_id": ["a", "a", "b"], "feasible": True,
                          "latency_ms": [10.0, 10.0, 20.0], "utilization": [0.5, 0.5, 0.3],
                          "weight_precision": "INT8", "energy_mj": [500.0, 500.0, 700.0]})
    selected = cloud.iloc[:0].assign(selection=pd.Series(dtype=str))
    energy_plots(cfg, cloud, selected, tmp_path, None)
    assert len(seen["cloud"]) == 3 and "3 feasible designs" in seen["title"]
    # b is slower and costs more energy than a: the front is a's rows only
    assert set(seen["front"]["design_id"]) == {"a"}


def test_gemm_bytes_are_the_bytes_gemm_times(cfg, model):
    # dse.model._gemm_bytes restates _gemm's byte rules (re-fetch, hold copy, fused attention,
    # partial-sum spill, residual rows) for the power model's traffic; this ties the two: every
    # GEMM execution _gemm times (read from its own locals as it returns) moves the bytes
    # _gemm_bytes counts, over the six loop orders, fused and unfused attention, 1 and 3 CUs
    import sys

    from dse.model import Model, _Batch
    from dse.workload import GEMM

    designs = [{**BASE_DESIGN, "dataflow": d, "fuse_attention": f, "compute_units": cu}
               for d in ("mnk", "nmk", "mkn", "nkm", "kmn", "knm")
               for f, cu in ((False, 1), (True, 3))]
    code, seen = Model._gemm.__code__, []

    def watch(frame, event, arg):
        if event == "return" and frame.f_code is code:
            seen.append(dict(frame.f_locals))

    b = _Batch(model, design_batch(designs, cfg.platform))
    for k in model.workload.kernels:  # the model's own batch view, as evaluate times it
        if k.kind == GEMM:
            sys.setprofile(watch)
            try:
                model._gemm(k, b)
            finally:
                sys.setprofile(None)
    assert len(seen) == sum(k.kind == GEMM for k in model.workload.kernels) > 5
    spilled = 0
    for loc in seen:
        k = loc["k"]
        want = loc["bytes_a"] + loc["bytes_b"] + loc["bytes_c"]
        if "ps_bursts" in loc:  # partial sums written and read back, whole words per row
            want = want + 2 * loc["ps_bursts"] * loc["ps_words"]
            spilled += int(np.count_nonzero(loc["spill"]))
        if k.name in model._residual:  # the residual's rows, read by the epilogue
            want = want + loc["M"] * loc["ne"] * b.act_b
        np.testing.assert_allclose(model._gemm_bytes(k, b), want, rtol=1e-6, err_msg=k.name)
    assert spilled > 0  # the k-outside orders spill, so that rule is compared too
