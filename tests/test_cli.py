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
        ({"  latency_budget_ms: 150.0": "  latency_budget_ms: [150"}, ["malformed YAML", "line"]),
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
