"""The command line: roofline/evaluate/bench work; bad input exits 2 with one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dse.cli import main
from tests.conftest import BASE_DESIGN, CONFIG, ROOT


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_prints_json(capsys):
    code, out, err = run_cli(
        capsys, "evaluate", "--config", CONFIG, "--design", json.dumps(BASE_DESIGN)
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["feasible"] in (True, False)
    assert res["latency_ms"] > 0
    assert len(res["kernels"]) > 20
    assert set(res["slr_resources"]) == {"SLR0", "SLR1", "SLR2"}
    # the kernel breakdown adds up to the per-image latency
    assert sum(k["time_ms"] for k in res["kernels"]) == pytest.approx(
        res["latency_per_image_ms"], rel=1e-5
    )


def test_roofline_writes_table_and_plots(tmp_path, capsys):
    out = tmp_path / "roofline" / "kernels.parquet"
    code, _, err = run_cli(capsys, "roofline", "--config", CONFIG, "--out", out)
    assert code == 0, err
    df = pd.read_parquet(out)
    assert set(df["table"]) == {"seed", "corrected"}
    assert (df["table"] == "seed").sum() == 8
    for png in ("roofline_seed.png", "roofline.png"):
        assert (out.parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp files


def test_bench_prints_figures(capsys):
    code, out, err = run_cli(capsys, "bench", "--designs", "20000", "--runs", "2")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["designs_per_s_median"] > 0
    assert figures["baseline_passes_per_s"] > 0


def _bad_design(**change):
    d = {**BASE_DESIGN, **change}
    return json.dumps({k: v for k, v in d.items() if v is not None})


@pytest.mark.parametrize(
    ("design", "expect"),
    [
        (
            _bad_design(weight_precision="INT3"),
            ["key 'weight_precision'", "'INT3'", "FP32, BF16, INT8, INT4"],
        ),
        (_bad_design(tile_m=100), ["key 'tile_m'", "100", "multiple of pe_m"]),
        (_bad_design(pe_n=0), ["key 'pe_n'", "0", "integer 1..1024"]),
        (_bad_design(pe_k=-4), ["key 'pe_k'", "-4"]),
        (_bad_design(compute_units=None), ["key 'compute_units'", "missing key"]),
        (_bad_design(pc_weights=40), ["key 'pc_weights'", "40", "1..32"]),
        (_bad_design(dataflow="xyz"), ["key 'dataflow'", "'xyz'", "mnk"]),
        ("{not json", ["--design", "not valid JSON"]),
    ],
)
def test_bad_design_exits_2_with_one_line(capsys, design, expect):
    code, out, err = run_cli(capsys, "evaluate", "--config", CONFIG, "--design", design)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err  # one line
    for piece in expect:
        assert piece in err, (piece, err)


def _write_config(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return p


def _config_text(**replace):
    text = (ROOT / "configs" / "config.yaml").read_text()
    text = text.replace(
        "platform: platforms/u280.yaml", f"platform: {ROOT / 'configs/platforms/u280.yaml'}"
    )
    text = text.replace(
        "model: models/smolvla_vision.yaml", f"model: {ROOT / 'configs/models/smolvla_vision.yaml'}"
    )
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize(
    ("replace", "expect"),
    [
        (
            {"weight_precision: [FP32, BF16, INT8, INT4]": "weight_precision: [FP32, INT7]"},
            ["key 'sweep.space.weight_precision[1]'", "'INT7'", "FP32, BF16, INT8, INT4"],
        ),
        (
            {"tile_m: [64, 128, 256]": "tile_m: [64, 100]"},
            ["key 'sweep.space.tile_m'", "100", "multiples of"],
        ),
        ({"pe_m: [8, 16, 32]": "pe_m: [0, 8]"}, ["key 'sweep.space.pe_m[0]'", "0", "1..1024"]),
        ({"  shards: 4": "  shards: -1"}, ["key 'sweep.shards'", "-1"]),
        (
            {"pc_weights: [1, 2, 4]": "pc_weights: [1, 64]"},
            ["key 'sweep.space.pc_weights[1]'", "64", "1..32"],
        ),
        ({"objectives:": "objectivez:"}, ["objectives", "missing key"]),
        ({"    smolvla_vision: 150.0": "    smolvla_vision: [150"}, ["malformed YAML", "line"]),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path, capsys, replace, expect):
    cfg = _write_config(tmp_path, _config_text(**replace))
    code, out, err = run_cli(
        capsys, "evaluate", "--config", cfg, "--design", json.dumps(BASE_DESIGN)
    )
    assert code == 2
    assert err.count("\n") == 1, err
    assert str(cfg) in err
    for piece in expect:
        assert piece in err, (piece, err)


def test_missing_config_file(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "roofline", "--config", tmp_path / "nope.yaml", "--out", tmp_path / "k.parquet"
    )
    assert code == 2 and "does not exist" in err and "nope.yaml" in err


def test_no_traceback_in_a_real_process(tmp_path):
    # a separate interpreter, as a user runs it: exit code 2, one line, no Python traceback
    cfg = _write_config(tmp_path, _config_text(**{"pe_m: [8, 16, 32]": "pe_m: [8, 16, 31]"}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dse.cli",
            "evaluate",
            "--config",
            str(cfg),
            "--design",
            json.dumps(BASE_DESIGN),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


# ---------------------------------------------------------------- fuzzed configs (issue 7, item 3)
PLATFORM = ROOT / "configs" / "platforms" / "u280.yaml"
MODEL = ROOT / "configs" / "models" / "smolvla_vision.yaml"


def _replaced(text: str, replace: dict[str, str]) -> str:
    for old, new in replace.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _setup(tmp_path: Path, *, platform=None, model=None, config=None) -> Path:
    """A config whose platform and model are copies of the shipped ones with text replaced."""
    plat, mod = tmp_path / "platform.yaml", tmp_path / "model.yaml"
    plat.write_text(_replaced(PLATFORM.read_text(), platform or {}))
    mod.write_text(_replaced(MODEL.read_text(), model or {}))
    text = _config_text(**(config or {}))
    text = text.replace(str(PLATFORM), str(plat)).replace(str(MODEL), str(mod))
    return _write_config(tmp_path, text)


def _exits_2(capsys, cfg: Path, expect: list[str]) -> str:
    code, out, err = run_cli(
        capsys, "evaluate", "--config", cfg, "--design", json.dumps(BASE_DESIGN)
    )
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1, err
    for piece in expect:
        assert piece in err, (piece, err)
    return err


@pytest.mark.parametrize(
    ("replace", "expect"),
    [
        # the NaN/inf cases: each went through as NaN latency or an int64 overflow
        (
            {"289                         # paper": ".nan                         # paper"},
            ["memories.hbm.read_latency_ns", "not a finite"],
        ),
        ({"lut_per_cu: 4360": "lut_per_cu: .inf"}, ["logic.lut_per_cu", "inf", "0..1000000"]),
        ({"lut_per_axi_port: 8880": "lut_per_axi_port: .nan"}, ["logic.lut_per_axi_port", "nan"]),
        ({"lut_per_mac: 12 ": "lut_per_mac: .nan "}, ["precisions.INT4.lut_per_mac", "nan"]),
        # the nonsense accepted silently
        ({"lut: 107629": "lut: 1.0e+30"}, ["shell.lut", "out of range", "1e+30"]),
        (
            {"channel_theoretical_gbps: 14.375": "channel_theoretical_gbps: .inf"},
            ["memories.hbm.channel_theoretical"],
        ),
        ({"macs_per_dsp: 0.2                            # HLS": "macs_per_dsp: 1.0e+30 # HLS"},
         ["FP32.macs_per_dsp", "<= 16"]),
        ({"dsp_max_mhz: 775": "dsp_max_mhz: 2.5"}, ["clock.dsp_max_mhz", "2.5", "100..1000"]),
        (
            {"vitis_platform: xilinx_u280_gen3x16_xdma_1_202211_1": "vitis_platform: BOGUS"},
            ["vitis_platform", "'BOGUS'", "xilinx_u280_gen3x16_xdma_1_202211_1"],
        ),
        ({"part: xcu280-fsvh2892-2L-e": "part: u280"}, ["key 'part'", "xc<device>"]),
        # integers are ints: YAML 32.0 is a float
        ({"    channels: 32": "    channels: 32.0"}, ["memories.hbm.channels", "integer"]),
        # checks across fields (dse/platform.py)
        (
            {"usable_channels: 32": "usable_channels: 33"},
            ["memories.hbm.usable_channels", "33", "channels (32)"],
        ),
        # a channel on an SLR the board lacks
        ({"channel_slrs: [0, 1]": "channel_slrs: [0, 3]"}, ["ddr.channel_slrs[1]", "3", "0..2"]),
        ({"default_mhz: 300": "default_mhz: 600"}, ["clock.default_mhz", "max_kernel_mhz (500)"]),
        ({"dsp_max_mhz: 775": "dsp_max_mhz: 450"}, ["clock.dsp_max_mhz", ">= clock.max_kernel"]),
        (
            {"channel_measured_gbps: 13.1": "channel_measured_gbps: 20"},
            ["channel_measured_gbps", "14.375"],
        ),
        # SLR0 has 1,344 BRAM18 (no margin on hard blocks, PG367); 395,712 LUT after the 10%
        ({"bram18: 391": "bram18: 1400"}, ["shell.bram18", "1400", "less than 1344"]),
        ({"lut: 107629": "lut: 400000"}, ["shell.lut", "400000", "less than 395712"]),
        ({"acc_bits: 32                                 # 24-bit": "acc_bits: 4 #"}, ["INT8.acc"]),
        ({"{name: SLR1,": "{name: SLR0,"}, ["slrs[1].name", "'SLR0'", "distinct"]),
        # the clock model (dse/timing.py): ranges from the schema, then the checks across fields
        ({"base_mhz: 345": "base_mhz: 5000"}, ["timing.base_mhz", "5000", "50..1000"]),
        ({"    lut: 0.22 ": "    lut: 1.5 "}, ["timing.knee.lut", "1.5", "0.1..0.99"]),
        ({"sll_usable: 0.90": "sll_usable: 0"}, ["timing.sll_usable", "0"]),
        ({"sll_per_boundary: 23040": "sll_per_boundary: 2.5e4"}, ["timing.sll_per_boundary"]),
        ({"    lut: 215": "    lut: 400"}, ["timing.full_mhz.lut", "400", "timing.base_mhz (345)"]),
        (
            {"pump_dsp_mhz: 600": "pump_dsp_mhz: 800"},
            ["timing.pump_dsp_mhz", "800", "clock.dsp_max_mhz (775)"],
        ),
    ],
)
def test_bad_platform_figure_exits_2_naming_the_key(tmp_path, capsys, replace, expect):
    cfg = _setup(tmp_path, platform=replace)
    err = _exits_2(capsys, cfg, expect)
    assert str(tmp_path / "platform.yaml") in err


@pytest.mark.parametrize(
    ("replace", "expect"),
    [
        ({"heads: 12": "heads: 7"}, ["key 'heads'", "divisor of hidden (768)"]),
        ({"patch_size: 16": "patch_size: 1024"}, ["key 'patch_size'", "image_size (512)"]),
        # a 32 x 32 patch grid does not split into 5 x 5 blocks
        ({"scale_factor: 4": "scale_factor: 5"}, ["connector.scale_factor", "patch_size = 32"]),
        ({"hidden: 768": "hidden: 1.0e+30"}, ["key 'hidden'", "out of range"]),
        ({"softmax: 5": "softmax: .inf"}, ["vector_ops.softmax", "0..1000"]),
        # 4096 x 4096 tokens: attention alone is 12 x 4096^4 x 768 x 2 x 3 MACs, far past 1e16
        ({"image_size: 512": "image_size: 4096", "patch_size: 16": "patch_size: 1"}, ["MACs"]),
    ],
)
def test_bad_model_figure_exits_2_naming_the_key(tmp_path, capsys, replace, expect):
    cfg = _setup(tmp_path, model=replace)
    err = _exits_2(capsys, cfg, expect)
    assert str(tmp_path / "model.yaml") in err


@pytest.mark.parametrize(
    ("replace", "expect"),
    [
        ({"trials_per_worker: 2500": "trials_per_worker: .nan"}, ["search.trials_per_worker"]),
        ({"  seed: 0": "  seed: -3"}, ["search.seed", "-3", "0..2147483391"]),
        ({"  shards: 4": "  shards: 4.0"}, ["sweep.shards", "wrong type", "1..1024"]),
        ({"    smolvla_vision: 150.0": "    smolvla_vision: .inf"}, ["select.latency_budget"]),
        ({"    smolvla_vision: 150.0": "    smolvla_vision: -5"}, ["select.latency_budget", "-5"]),
        (
            {"{name: utilization, direction: min}": "{name: latency_ms, direction: min}"},
            ["objectives[1].name", "twice"],
        ),
    ],
)
def test_bad_config_value_exits_2(tmp_path, capsys, replace, expect):
    _exits_2(capsys, _setup(tmp_path, config=replace), expect)


@pytest.mark.parametrize("which", ["config", "platform", "model", "design"])
def test_non_utf8_file_exits_2_with_one_line(tmp_path, capsys, which):
    cfg = _setup(tmp_path)
    target = {
        "config": cfg,
        "platform": tmp_path / "platform.yaml",
        "model": tmp_path / "model.yaml",
        "design": tmp_path / "design.json",
    }[which]
    if which == "design":
        target.write_text(json.dumps(BASE_DESIGN))
    raw = target.read_bytes()
    target.write_bytes(raw[:40] + b"\xff\xfe" + raw[40:])  # 0xff never occurs in UTF-8
    design = f"@{target}" if which == "design" else json.dumps(BASE_DESIGN)
    code, out, err = run_cli(capsys, "evaluate", "--config", cfg, "--design", design)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert str(target) in err and "not UTF-8 text: byte 0xff at line" in err


def test_shipped_platform_and_model_are_inside_every_range(cfg):
    # the ranges must not reject what ships: the session config loads, and its figures sit inside
    assert cfg.platform.dsp_max_mhz >= cfg.platform.max_kernel_mhz >= cfg.platform.default_mhz
    assert (cfg.platform.slr_available > 0).all()


# ------------------------------------------------------------------- command-line mistakes
def _inputs(tmp_path: Path) -> dict[str, Path]:
    """A tiny run's files: roofline table, one sweep shard, front, selection, exports."""
    c = ROOT / "tests" / "data" / "tiny_config.yaml"
    f = {
        "config": c,
        "roofline": tmp_path / "r" / "kernels.parquet",
        "shard": tmp_path / "s" / "shard-0.parquet",
        "front": tmp_path / "front.parquet",
        "selected": tmp_path / "selected.parquet",
        "hls": tmp_path / "hls",
    }
    assert main(["roofline", "--config", str(c), "--out", str(f["roofline"]), "--no-plots"]) == 0
    assert main(["sweep", "--config", str(c), "--shard", "0/4", "--out", str(f["shard"])]) == 0
    assert (
        main(["pareto", "--config", str(c), "--in", str(f["shard"]), "--out", str(f["front"])]) == 0
    )
    assert (
        main(["select", "--config", str(c), "--in", str(f["front"]), "--out", str(f["selected"])])
        == 0
    )
    assert (
        main(["export", "--config", str(c), "--in", str(f["selected"]), "--out", str(f["hls"])])
        == 0
    )
    return f


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return _inputs(tmp_path_factory.mktemp("tiny"))


def _argv(f: dict[str, Path], command: str, out: Path, **change) -> list[str]:
    args = {
        "roofline": ["--no-plots"],
        "sweep": ["--shard", "0/4"],
        "pareto": ["--in", f["shard"]],
        "select": ["--in", f["front"]],
        "export": ["--in", f["selected"]],
        "summary": [
            "--selected",
            f["selected"],
            "--front",
            f["front"],
            "--exports",
            f["hls"] / "index.json",
        ],
        "plot": [
            "--cloud",
            f["shard"],
            "--front",
            f["front"],
            "--selected",
            f["selected"],
            "--roofline",
            f["roofline"],
        ],
    }[command]
    argv = [command, "--config", f["config"], *args, "--out", out]
    for key, value in change.items():
        flag = f"--{key}"
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return [str(a) for a in argv]


def _one_line_exit_2(capsys, argv, expect):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, (argv, out, err)
    assert err.count("\n") == 1, err
    for piece in expect:
        assert piece in err, (piece, err)


@pytest.mark.parametrize("command", ["roofline", "sweep", "pareto", "select", "summary"])
def test_out_on_an_existing_folder_exits_2(tiny_run, tmp_path, capsys, command):
    _one_line_exit_2(
        capsys, _argv(tiny_run, command, tmp_path), ["--out", "is an existing folder", "file path"]
    )


@pytest.mark.parametrize("command", ["export", "plot"])
def test_out_folder_on_a_file_exits_2(tiny_run, tmp_path, capsys, command):
    out = tmp_path / "a-file"
    out.write_text("x")
    _one_line_exit_2(capsys, _argv(tiny_run, command, out), ["--out", "is a file, not a folder"])
    assert out.read_text() == "x"


@pytest.mark.parametrize("command", ["roofline", "sweep", "pareto", "select", "summary", "export"])
def test_out_in_a_read_only_folder_exits_2(tiny_run, tmp_path, capsys, command):
    import os

    if os.geteuid() == 0:  # root writes through permissions: use a read-only file system
        folder = Path("/sys")
        if os.access(folder, os.W_OK) and not (folder / "fs").exists():
            pytest.skip("no read-only folder here")
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
    _one_line_exit_2(
        capsys,
        _argv(tiny_run, command, folder / "sub" / "out.x"),
        ["--out", "cannot write in", "writable folder"],
    )


def test_plot_rejects_a_bad_dpi_and_wrong_tables(tiny_run, tmp_path, capsys):
    f = tiny_run
    out = tmp_path / "plots"
    for dpi in ("0", "-5", "100000"):
        _one_line_exit_2(capsys, _argv(f, "plot", out, dpi=dpi), ["--dpi", dpi, "50..600"])
    _one_line_exit_2(  # a sweep shard given as the roofline table
        capsys,
        _argv(f, "plot", out, roofline=f["shard"]),
        ["--roofline", "lacks column 'table'", "dse roofline"],
    )
    _one_line_exit_2(
        capsys, _argv(f, "plot", out, selected=f["shard"]), ["--selected", "'selection'"]
    )
    _one_line_exit_2(capsys, _argv(f, "plot", out, front=f["roofline"]), ["--front", "'design_id'"])
    _one_line_exit_2(capsys, _argv(f, "plot", out, cloud=f["roofline"]), ["--cloud"])
    assert not out.exists()  # checked before anything is drawn


def test_summary_rejects_a_wrong_table(tiny_run, tmp_path, capsys):
    _one_line_exit_2(
        capsys,
        _argv(tiny_run, "summary", tmp_path / "s.md", selected=tiny_run["roofline"]),
        ["--selected", "lacks column"],
    )
