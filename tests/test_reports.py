"""dse.reports and dse.builds: build reports and the calibration dataset's figures.

The expected numbers are read by eye from the kept report files (tests/data/reports/*/SOURCE.md
names where each comes from); where two reports of one build print the same quantity in
different forms, the test checks that they agree (an independent check of the parser).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dse.builds import FIGURE_COLUMNS, load_builds
from dse.errors import UserError
from dse.reports import kind_of, parse_file, read_reports

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "reports"
BERT = DATA / "allo-bert-u280"
ATAX = DATA / "allo-atax-u280"
SYMM = DATA / "scalehls-symm-u280"
SHIPPED = ROOT / "configs" / "calibration" / "designs.yaml"


def test_csynth_xml_gives_the_estimates_printed_in_the_file() -> None:
    p = parse_file(SYMM / "csynth.xml")
    assert p.kind == "csynth_xml" and p.stage == "hls"
    assert p.part == "xcu280-fsvh2892-2L-e" and p.tool == "Vitis HLS 2022.1.2"
    v = p.values()
    # <TargetClockPeriod>3.33</...>, <EstimatedClockPeriod>4.405</...>, <Worst-caseLatency>
    assert v["clock_target_mhz"] == pytest.approx(1000 / 3.33)
    assert v["fmax_mhz"] == pytest.approx(1000 / 4.405)
    assert v["cycles"] == 182400011
    # <Resources>: BRAM_18K 0, DSP 6, FF 1546, LUT 1867, URAM 0
    assert {k: v[k] for k in ("bram18", "dsp", "ff", "lut", "uram")} == {
        "bram18": 0, "dsp": 6, "ff": 1546, "lut": 1867, "uram": 0,
    }


def test_csynth_summary_rpt_agrees_with_the_xml_of_the_same_run() -> None:
    rpt = parse_file(SYMM / "csynth.rpt").values()
    xml = parse_file(SYMM / "csynth.xml").values()
    for q in ("cycles", "dsp", "ff", "lut", "bram18", "uram"):
        assert rpt[q] == xml[q], q


def test_csynth_module_rpt() -> None:
    p = parse_file(BERT / "Bert_layer_dataflow_region_1_csynth.rpt")
    assert p.kind == "csynth_rpt" and p.part == "xcu280-fsvh2892-2L-e"
    v = p.values()
    # Timing: target 3.33 ns, estimated 2.433 ns; Latency 528900 cycles; Total row of the
    # Utilization Estimates: BRAM_18K 0, DSP 576, FF 205511, LUT 257971, URAM 3
    assert v["clock_target_mhz"] == pytest.approx(300.3, abs=0.01)
    assert v["fmax_mhz"] == pytest.approx(1000 / 2.433)
    assert v["cycles"] == 528900
    assert (v["bram18"], v["dsp"], v["ff"], v["lut"], v["uram"]) == (0, 576, 205511, 257971, 3)


def test_utilization_routed_kernel_out_of_context() -> None:
    p = parse_file(ATAX / "kernel_atax_utilization_routed.rpt")
    assert p.kind == "utilization" and p.stage == "route"  # Design State : Routed
    v = p.values(scope="cu")  # bd_0_wrapper: an HLS kernel, not a platform
    # CLB LUTs 36839, CLB Registers 43909, Block RAM Tile 1 (= 2 BRAM18), URAM 0, DSPs 243
    assert (v["lut"], v["ff"], v["bram18"], v["uram"], v["dsp"]) == (36839, 43909, 2, 0, 243)
    # the export summary of the same run counts BRAM in 18 Kb blocks: 2
    e = parse_file(ATAX / "export_impl.rpt").values()
    assert (e["lut"], e["ff"], e["dsp"], e["bram18"], e["uram"]) == (36839, 43909, 243, 2, 0)


def test_utilization_of_a_full_device_and_its_slr_table() -> None:
    p = parse_file(BERT / "impl_1_full_util_routed.rpt")
    v = p.values(scope="device")  # level0_wrapper: the Vitis platform's top
    # CLB LUTs 570279, CLB Registers 652181, Block RAM Tile 383.5, URAM 47, DSPs 1780
    assert (v["lut"], v["ff"], v["bram18"], v["uram"], v["dsp"]) == (570279, 652181, 767, 47, 1780)
    # SLR table: CLB LUTs 170310 / 212860 / 187109, Block RAM Tile 128.5 / 131.5 / 123.5
    assert (v["lut@SLR0"], v["lut@SLR1"], v["lut@SLR2"]) == (170310, 212860, 187109)
    assert (v["bram18@SLR0"], v["bram18@SLR1"], v["bram18@SLR2"]) == (257, 263, 247)
    # the per-SLR counts add up to the totals
    for q in ("lut", "ff", "bram18", "uram", "dsp"):
        assert sum(v[f"{q}@SLR{i}"] for i in range(3)) == v[q], q
    # report_utilization -slr of the same build prints the same SLR table
    slr = parse_file(BERT / "impl_1_slr_util_routed.rpt").values()
    assert slr == {k: x for k, x in v.items() if "@" in k}


def test_accelerator_utilization_rows_and_used_resources() -> None:
    p = parse_file(BERT / "impl_1_kernel_util_routed.rpt")
    assert p.kind == "accelerator_utilization" and p.stage == "route"
    r1 = p.values(where="Bert_layer_dataflow_region_1")
    # LUT 133022, REG 128419, BRAM 63 (36 Kb tiles), URAM 3, DSP 482
    assert (r1["lut"], r1["ff"], r1["bram18"]) == (133022, 128419, 126)
    assert (r1["uram"], r1["dsp"]) == (3, 482)
    used = p.values(scope="kernels")
    assert (used["lut"], used["dsp"], used["bram18"]) == (437457, 1776, 370)
    regions = [p.values(where=f"Bert_layer_dataflow_region_{i}") for i in (1, 2, 3)]
    for q in ("lut", "ff", "bram18", "uram", "dsp"):  # the kernels add up to Used Resources
        assert sum(r[q] for r in regions) == used[q], q


def test_timing_summary_gives_fmax_from_wns() -> None:
    p = parse_file(ATAX / "kernel_atax_timing_routed.rpt")
    assert p.kind == "timing_summary"
    v = p.values()
    # Clock Summary: ap_clk period 2.500 ns; Intra Clock Table: WNS 0.068 ns (met)
    assert v["clock_target_mhz"] == pytest.approx(400.0)
    assert v["fmax_mhz"] == pytest.approx(1000 / (2.5 - 0.068))
    assert v["clock_mhz"] == pytest.approx(400.0)
    # export_impl.rpt of the same run: post-route period 2.432 ns
    e = parse_file(ATAX / "export_impl.rpt").values()
    assert e["fmax_mhz"] == pytest.approx(v["fmax_mhz"], rel=1e-9)


def test_timing_summary_failing_and_unknown_clock(tmp_path: Path) -> None:
    text = (ATAX / "kernel_atax_timing_routed.rpt").read_text()
    failing = text.replace("ap_clk              0.068", "ap_clk             -0.250")
    f = tmp_path / "t.rpt"
    f.write_text(failing)
    v = parse_file(f).values()
    assert v["fmax_mhz"] == pytest.approx(1000 / 2.75)  # 2.5 ns + 0.25 ns of violation
    assert "clock_mhz" not in v  # timing not met: not built at the target
    two = text.replace("ap_clk", "clk_a")
    two = two.replace("clk_a  {0.000 1.250}        2.500           400.000",
                      "clk_a  {0.000 1.250}        2.500           400.000\n"
                      "clk_b  {0.000 2.000}        4.000           250.000")
    two = two.replace("clk_a              0.068", "clk_b              1.000  0.0 0 1\n"
                      "clk_a              0.068")
    f.write_text(two)  # two clocks with timed paths, neither named like a kernel clock
    with pytest.raises(UserError, match="cannot tell the kernel clock"):
        parse_file(f)


def test_latency_csv_median_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "latency.csv"
    f.write_text("latency_ms,timed\n12.0,call\n10.0,call\n11.0,call\n3.0,layer\n")
    p = parse_file(f)
    rows = {(r["quantity"], r["timed"]): r["published"] for r in p.rows}
    assert rows == {("latency_ms", "call"): 11.0, ("latency_ms", "layer"): 3.0}
    assert p.stage == "board"
    f.write_text("latency_ms\n-1\n")
    with pytest.raises(UserError, match="not a positive number"):
        parse_file(f)
    f.write_text("latency_ms,timed\n1,image\n")
    with pytest.raises(UserError, match="timed"):
        parse_file(f)


def test_unknown_and_broken_files(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("hello\n")
    assert kind_of("hello\n") is None
    with pytest.raises(UserError, match="not a report dse can read"):
        parse_file(f)
    g = tmp_path / "csynth.xml"
    g.write_text("<profile><ReportVersion><Version>2022.1</Version></ReportVersion>")
    with pytest.raises(UserError, match="malformed XML"):
        parse_file(g)
    h = tmp_path / "u.rpt"
    h.write_bytes(b"Utilization Design Information\n\xff\n")
    with pytest.raises(UserError, match="not UTF-8"):
        parse_file(h)


def test_read_reports_folder_with_an_exported_design(tmp_path: Path) -> None:
    from dse.params import EXAMPLE_DESIGN

    d = tmp_path / "reports" / "mine"
    d.mkdir(parents=True)
    for f in ATAX.iterdir():
        if f.name != "SOURCE.md":
            (d / f.name).write_bytes(f.read_bytes())
    (d / "design.json").write_text(json.dumps({**EXAMPLE_DESIGN, "design_id": "d42",
                                               "latency_ms": 1.0}))
    (d / "latency.csv").write_text("latency_ms\n2.0\n4.0\n")
    (d / "kernel_atax_utilization_routed.pb").write_bytes(b"\x08\xff\x00")  # Vivado's companion
    rs = read_reports(tmp_path / "reports")
    assert list(rs.designs["design"]) == ["d42"] and bool(rs.designs["expressible"].iloc[0])
    assert rs.design_params["d42"]["pe_m"] == EXAMPLE_DESIGN["pe_m"]
    assert list(rs.figures.columns) == list(FIGURE_COLUMNS)
    lat = rs.figures[rs.figures["quantity"] == "latency_ms"]
    assert lat["published"].tolist() == [3.0] and lat["stage"].tolist() == ["board"]
    (d / "design.json").write_text(json.dumps({"design_id": "d42"}))
    with pytest.raises(UserError, match="missing design parameter"):
        read_reports(tmp_path / "reports")
    with pytest.raises(UserError, match="not a folder"):
        read_reports(tmp_path / "nowhere")


def test_cli_reports_prints_and_rejects_bad_files(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "dse.cli", "calibrate", "--reports"]
    ok = subprocess.run([*run, str(DATA), "--out", str(tmp_path / "o")], capture_output=True,
                        text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "read 9 report files" in ok.stdout
    assert (tmp_path / "o" / "reports.csv").is_file()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.rpt").write_text("nothing here\n")
    err = subprocess.run([*run, str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert err.returncode == 2
    assert err.stderr.count("\n") == 1 and "x.rpt: not a report dse can read" in err.stderr
    assert "Traceback" not in err.stderr


# ---- the dataset ----------------------------------------------------------------------------


def test_shipped_dataset_loads_and_counts() -> None:
    b = load_builds(SHIPPED)
    assert len(b.designs) >= 30  # issue 17: at least 30 builds with resources or clocks
    assert set(b.figures["quantity"]) <= {
        "lut", "ff", "dsp", "bram18", "uram", "clock_mhz", "fmax_mhz", "clock_target_mhz",
        "cycles", "latency_ms",
    }
    assert (b.figures["published"] >= 0).all()
    expressible = b.designs[b.designs["expressible"].astype(bool)]["design"]
    for d in expressible:  # every expressible entry has its full parameter set
        assert b.params(d)["clock_mhz"] > 0
    # a figure printed as 36 Kb tiles is doubled into 18 Kb blocks
    row = b.figures[(b.figures["design"] == "allo-atax-fp32") & (b.figures["quantity"] == "bram18")
                    & (b.figures["stage"] == "route")].iloc[0]
    assert row["published"] == 2 and row["as_published"] == "bram36 1"


def test_dataset_figures_match_the_kept_reports() -> None:
    """The dataset's figures of the Allo builds are the parser's reading of the kept files."""
    b = load_builds(SHIPPED).figures

    def figs(design: str, stage: str, scope: str) -> dict[str, float]:
        f = b[(b["design"] == design) & (b["stage"] == stage) & (b["scope"] == scope)]
        return {r.quantity + (f"@{r.slr}" if r.slr else ""): r.published
                for r in f.itertuples(index=False)}

    dev = parse_file(BERT / "impl_1_full_util_routed.rpt").values(scope="device")
    mine = figs("chen-bert-base-w4a8", "route", "device")
    assert {k: mine[k] for k in dev} == dev
    kern = parse_file(BERT / "impl_1_kernel_util_routed.rpt")
    assert {k: figs("chen-bert-base-w4a8", "route", "kernels")[k]
            for k in kern.values(scope="kernels")} == kern.values(scope="kernels")
    r1 = figs("allo-bert-region1-qkv", "route", "cu")
    assert {k: r1[k] for k in ("lut", "ff", "bram18", "uram", "dsp")} == kern.values(
        where="Bert_layer_dataflow_region_1")
    hls = parse_file(BERT / "Bert_layer_dataflow_region_1_csynth.rpt").values()
    mine = figs("allo-bert-region1-qkv", "hls", "cu")
    for q in ("cycles", "lut", "ff", "dsp", "bram18", "uram"):
        assert mine[q] == hls[q], q
    atax = parse_file(ATAX / "kernel_atax_utilization_routed.rpt").values(scope="cu")
    mine = figs("allo-atax-fp32", "route", "cu")
    for q in ("lut", "ff", "dsp", "bram18", "uram"):
        assert mine[q] == atax[q], q
    t = parse_file(ATAX / "kernel_atax_timing_routed.rpt").values()
    assert mine["fmax_mhz"] == pytest.approx(t["fmax_mhz"], abs=0.05)


def test_dataset_errors(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    base = """designs:
  - id: x
    title: t
    board: {board}
    design: {{pe_m: 4}}
    measured: m
    source: {{paper: p, venue: v, year: 2020, where: w, url: "https://e.org"}}
    figures:
      - {{stage: route, scope: cu, where: w, cycles: 10}}
"""
    board = ROOT / "configs" / "platforms" / "u280.yaml"
    f.write_text(base.format(board=board))
    with pytest.raises(UserError, match="model"):  # cycles need the workload they time
        load_builds(f)
    f.write_text(base.format(board=board).replace("cycles: 10", "lut: 5, dsp: 1"))
    assert len(load_builds(f).figures) == 2
    f.write_text(base.format(board=board).replace("stage: route", "stage: guessed"))
    with pytest.raises(UserError, match="stage"):
        load_builds(f)
    f.write_text(base.format(board=board).replace("pe_m: 4", "pe_q: 4").replace("cycles", "lut"))
    with pytest.raises(UserError, match="pe_q"):
        load_builds(f)


def test_cli_reports_hands_the_builds_to_the_refit(monkeypatch, capsys) -> None:
    """When dse.fit.refit_reports exists, --reports calls it with the reports merged with the
    published builds of --designs, and prints what it returns."""
    import types

    from dse.cli import main

    seen = {}

    def refit_reports(builds, *, out):
        seen["designs"] = set(builds.designs["design"])
        seen["out"] = out
        return "refitted"

    monkeypatch.setitem(sys.modules, "dse.fit", types.SimpleNamespace(refit_reports=refit_reports))
    assert main(["calibrate", "--reports", str(DATA), "--designs", str(SHIPPED)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "refitted"
    assert {"allo-atax-u280", "scalehls-symm-u280", "chen-bert-base-w4a8"} <= seen["designs"]
    assert seen["out"] is None


def test_utilization_synthesized_with_footnote_marks(tmp_path: Path) -> None:
    """A post-synthesis report marks LUTs and registers with a footnote '*' (as Vivado prints
    them before placement) and may print '<0.01' percentages; the counts are still read."""
    text = (ATAX / "kernel_atax_utilization_routed.rpt").read_text()
    text = text.replace("| Design State : Routed", "| Design State : Synthesized")
    text = text.replace("| CLB LUTs                   |", "| CLB LUTs*                  |", 1)
    text = text.replace("| CLB Registers              |", "| CLB Registers*             |", 1)
    assert "| CLB LUTs*" in text and "| CLB Registers*" in text and "Synthesized" in text
    f = tmp_path / "synth.rpt"
    f.write_text(text)
    p = parse_file(f)
    assert p.stage == "synth"
    v = p.values(scope="cu")
    assert (v["lut"], v["ff"], v["dsp"]) == (36839, 43909, 243)


def test_csynth_rpt_of_vivado_hls_2019_without_units(tmp_path: Path) -> None:
    """Vivado HLS 2019 prints the clock table without 'ns'; the same numbers are read."""
    text = (BERT / "Bert_layer_dataflow_region_1_csynth.rpt").read_text()
    old = text.replace("== Vitis HLS Report for", "== Vivado HLS Report for")
    old = old.replace(
        "|ap_clk  |  3.33 ns|  2.433 ns|     0.90 ns|", "|ap_clk  |   3.33|     2.433|        0.90|"
    )
    assert "|ap_clk  |   3.33|" in old
    f = tmp_path / "old_csynth.rpt"
    f.write_text(old)
    v = parse_file(f).values()
    assert v["clock_target_mhz"] == pytest.approx(1000 / 3.33)
    assert v["fmax_mhz"] == pytest.approx(1000 / 2.433)
    assert v["cycles"] == 528900


# ---- power reports: hostile input -----------------------------------------------------------

FSA_POWER = ROOT / "tests" / "data" / "power" / "fsa-u280" / "power_routed.rpt"


def _report_power(old: str, new: str) -> str:
    text = FSA_POWER.read_text()
    assert text.count(old) == 1
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("name", "text", "key", "bad", "allowed"),
    [
        # a ragged log: extra fields on one line, one field on the next
        ("log.csv", "timestamp,power_W\n1,37,5,6\n2\n", "line 2", "1,37,5,6", "power_W column"),
        ("log.csv", "timestamp,power_W\n1,37.5\n2\n", "line 3", "2", "power_W column"),
        ("log.csv", "timestamp,power_W\n1,abc\n", "line 2.power_W", "abc", "0 < W <= 500"),
        ("log.csv", "timestamp,power_W\n1,-1\n", "line 2.power_W", "-1", "0 < W <= 500"),
        ("log.csv", "timestamp,power_W\n1,37\n2,1e300\n", "line 3.power_W", "1e300",
         "0 < W <= 500"),
        ("log.csv", "timestamp,power_W\n1,nan\n", "line 2.power_W", "nan", "0 < W <= 500"),
        ("power.rpt", _report_power("| 20.239       |", "| -5           |"),
         "Total On-Chip Power (W)", "-5", "0 < W <= 500"),
        ("power.rpt", _report_power("| 20.239       |", "| 2e4          |"),
         "Total On-Chip Power (W)", "2e4", "0 < W <= 500"),
        ("power.rpt", _report_power("| 3.575        |", "| hot          |"),
         "Device Static (W)", "hot", "0 <= W <= 500"),
    ],
)
def test_hostile_power_reports_are_one_line_errors(tmp_path, capsys, name, text, key, bad,
                                                   allowed) -> None:
    """A bad power log or report_power names the file, the line or row, the bad value and what
    is allowed, and `dse calibrate --reports` exits 2 with one line (no traceback)."""
    from dse.cli import main

    folder = tmp_path / "r"
    folder.mkdir()
    (folder / name).write_text(text)
    with pytest.raises(UserError) as exc:
        parse_file(folder / name)
    msg = str(exc.value)
    assert name in msg and f"key '{key}'" in msg and repr(bad) in msg and allowed in msg
    assert main(["calibrate", "--reports", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and msg in err


def test_report_power_with_vivado_remarks_and_a_blank_log_line(tmp_path) -> None:
    """Vivado prints '(Junction temp exceeded!)' after the total of a hot design; the figure is
    still read. A blank line in a log is skipped, not a ragged row."""
    f = tmp_path / "power.rpt"
    f.write_text(_report_power("| 20.239       |", "| 20.239 (Junction temp exceeded!) |"))
    assert parse_file(f).values()["chip_power_w"] == 20.239
    g = tmp_path / "log.csv"
    g.write_text("timestamp,power_W\n1,37.5\n\n2,45.0\n")
    # idle = the lowest reading, 37.5 W; running = readings above 39.5 W: 45.0 W
    assert parse_file(g).values() == {"power_idle_w": 37.5, "power_peak_w": 45.0, "power_w": 45.0}
