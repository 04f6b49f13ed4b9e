"""End to end: the Snakemake workflow on a tiny config in a temporary folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

TINY = ROOT / "tests" / "data" / "tiny_config.yaml"
OUTPUTS = [
    "results/roofline/kernels.parquet",
    "results/roofline/roofline.png",
    "results/roofline/roofline_seed.png",
    "results/sweep/shard-0.parquet",
    "results/sweep/shard-1.parquet",
    "results/pareto/front.parquet",
    "results/selected.parquet",
    "results/hls/index.json",
    "results/summary.md",
    "results/plots/pareto.png",
    "results/plots/breakdown.png",
    "results/plots/roofline_designs.png",
    "results/plots/resources.png",
    "results/plots/hbm.png",
]


def snakemake(workdir, config, *args):
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--cores",
        "2",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    config = work / "config.yaml"
    text = TINY.read_text().replace("../../configs/", f"{ROOT}/configs/")
    config.write_text(text)
    proc = snakemake(work, config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work, config


def test_every_declared_output_exists(run):
    work, _ = run
    for rel in OUTPUTS:
        p = work / rel
        assert p.exists() and p.stat().st_size > 0, rel
    for png in work.glob("results/**/*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
    # every rule kept a log and a benchmark
    # roofline, 2 sweep shards, pareto, select, export, summary, plots
    assert len(list(work.glob("results/logs/**/*.log"))) == 8
    assert len(list(work.glob("results/benchmarks/**/*.tsv"))) == 8


def test_outputs_are_consistent(run):
    work, _ = run
    front = pd.read_parquet(work / "results/pareto/front.parquet")
    selected = pd.read_parquet(work / "results/selected.parquet")
    assert front["feasible"].all() and len(front) >= 1
    assert set(selected["design_id"]) <= set(front["design_id"])
    index = json.loads((work / "results/hls/index.json").read_text())
    exported = {d["design_id"] for d in index["designs"]}
    assert exported == set(selected["design_id"])
    for d in exported:
        for f in ("dse_config.h", "kernel.cpp", "hls_config.cfg", "link.cfg", "design.json"):
            assert (work / "results/hls" / d / f).exists()
    summary = (work / "results/summary.md").read_text()
    for d in exported:
        assert d in summary


def test_second_run_does_nothing(run):
    work, config = run
    proc = snakemake(work, config, "--dry-run")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_plot_setting_reruns_only_plots(run, tmp_path):
    work, config = run
    original = config.read_text()
    config.write_text(original.replace("dpi: 60", "dpi: 70"))  # the user edits one setting
    try:
        proc = snakemake(work, config, "--dry-run", "--quiet", "rules")
    finally:
        config.write_text(original)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "plots" in out
    for rule in ("sweep", "pareto", "select", "export", "roofline", "summary"):
        assert f"\n{rule} " not in out and not out.strip().startswith(rule), out


def test_report(run):
    work, config = run
    proc = snakemake(work, config, "--report", "results/report.html")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (work / "results/report.html").stat().st_size > 10_000


def test_bad_config_stops_before_any_job(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        TINY.read_text()
        .replace("../../configs/", f"{ROOT}/configs/")
        .replace("dataflow: [mnk, nkm]", "dataflow: [mnk, zzz]")
    )
    proc = snakemake(tmp_path, config)
    assert proc.returncode != 0
    assert "zzz" in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()


def test_lint_is_clean(tmp_path):
    shutil.copy(TINY, tmp_path / "unused.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "good condition" in proc.stdout + proc.stderr
