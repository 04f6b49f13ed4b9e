"""End to end: the Snakemake workflow on a tiny config, run as a user does.

From the root of a copy of the repository (whose configs/config.yaml is the shipped default) with
`snakemake --cores 2 --configfile mine/my.yaml`: the user's tiny config must be what every job
reads, not the default file (issue 7, item 1).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from dse.config import load_config
from dse.store import read_metadata
from tests.conftest import ROOT
from tests.workflow_repo import (
    MY_CONFIG,
    env,
    outputs,
    repo_copy,
    snakemake,
    stale_files,
    user_repo,
)

pytestmark = pytest.mark.slow

OUTPUTS = [
    "results/config.yaml",
    "results/roofline/kernels.parquet",
    "results/roofline/roofline.png",
    "results/roofline/roofline_seed.png",
    "results/sweep/shard-0.parquet",
    "results/sweep/shard-1.parquet",
    "results/search/worker-0.parquet",
    "results/pareto/front.parquet",
    "results/selected.parquet",
    "results/hls/index.json",
    "results/summary.md",
    "results/plots/pareto.png",
    "results/plots/breakdown.png",
    "results/plots/roofline_designs.png",
    "results/plots/resources.png",
    "results/plots/hbm.png",
    "results/plots/energy.png",
    "results/plots/power.png",
    "results/explore.html",
    "results/calibration/calibration.parquet",
    "results/calibration/calibration.md",
    "results/calibration/calibration.png",
]


@pytest.fixture(scope="module")
def run(tiny_run):
    """The clean run's folder (tests/workflow_repo.py TinyRun: started after collection)."""
    return tiny_run[0]


@pytest.fixture(scope="module")
def clean(tiny_run):
    """What the clean run produced."""
    return tiny_run[1]


def sweep_rows(work):
    shards = sorted((work / "results/sweep").glob("shard-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in shards], ignore_index=True)


def test_every_declared_output_exists(run):
    work = run
    for rel in OUTPUTS:
        p = work / rel
        assert p.exists() and p.stat().st_size > 0, rel
    for png in work.glob("results/**/*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
    # every rule kept a log and a benchmark: roofline, 2 sweep shards, pareto_sweep, 1 search
    # worker, refine, pareto, select, export, summary, plots, explore, calibration
    assert len(list(work.glob("results/logs/**/*.log"))) == 13     # refine's log among them
    assert len(list(work.glob("results/benchmarks/**/*.tsv"))) == 13
    assert stale_files(work / "results") == []


def test_configfile_takes_effect_in_every_job(run):
    work = run
    merged = load_config(work / "results/config.yaml")
    # the platform named in mine/my.yaml, resolved against mine/, written relative to results/
    assert merged.raw["platform"] == "../mine/board.yaml"
    assert merged.raw["model"] == "../configs/models/smolvla_vision.yaml"
    sweep = sweep_rows(work)
    # my.yaml's grid: 2 values each of pe_m, pe_n, tile_m, dataflow, pc_weights, share_weights,
    # compute_units, fuse_attention and 1 of every other parameter (INT8 only) = 2^8 designs;
    # the default grid has four weight precisions and millions of designs
    assert set(sweep["weight_precision"]) == {"INT8"}
    assert len(sweep) == 2**8
    default_hash = load_config(work / "configs/config.yaml").hash
    for shard in (work / "results/sweep").glob("shard-*.parquet"):
        assert read_metadata(shard)["config_hash"] == merged.hash != default_hash
    # the search: one worker (the default has two), 20 trials besides the warm start (not 2,500)
    workers = sorted((work / "results/search").glob("worker-*.parquet"))
    assert [p.name for p in workers] == ["worker-0.parquet"]
    trials = pd.read_parquet(workers[0])
    assert (~trials["source"].str.contains("warm")).sum() == 20
    assert read_metadata(workers[0])["config_hash"] == merged.hash


def test_outputs_are_consistent(run):
    work = run
    front = pd.read_parquet(work / "results/pareto/front.parquet")
    selected = pd.read_parquet(work / "results/selected.parquet")
    assert front["feasible"].all() and len(front) >= 1
    # from the front, or (when the objectives leave quality out and refinement made the front
    # all lower-precision designs) from the front of the quality tier's designs
    tier = selected["quality_loss"].max() if len(selected) else 0.0
    if (front["quality_loss"] <= tier).any():
        assert set(selected["design_id"]) <= set(front["design_id"])
    else:
        results = pd.concat([pd.read_parquet(p) for p in work.glob("results/s*/*.parquet")])
        assert set(selected["design_id"]) <= set(results["design_id"])
    index = json.loads((work / "results/hls/index.json").read_text())
    exported = {d["design_id"] for d in index["designs"]}
    assert exported == set(selected["design_id"])
    for d in exported:
        for f in ("dse_config.h", "kernel.cpp", "hls_config.cfg", "link.cfg", "design.json"):
            assert (work / "results/hls" / d / f).exists()
    # the export folder holds exactly the selected designs
    assert {p.name for p in (work / "results/hls").iterdir() if p.is_dir()} == exported
    summary = (work / "results/summary.md").read_text()
    for d in exported:
        assert d in summary


def test_second_run_does_nothing(run):
    proc = snakemake(run, "--dry-run", *MY_CONFIG)
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_plot_setting_reruns_only_plots(run):
    work = run
    (work / "mine/dpi.yaml").write_text("plots:\n  dpi: 70\n")  # a second --configfile
    both = (*MY_CONFIG, "mine/dpi.yaml")
    proc = snakemake(work, "--dry-run", "--quiet", "rules", *both)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "plots" in out
    for rule in ("sweep", "pareto", "select", "export", "roofline", "summary", "search"):
        assert f"\n{rule} " not in out and not out.strip().startswith(rule), out
    # the merged config (now dpi 70) is not an input whose mtime would rerun everything
    shard = work / "results/sweep/shard-0.parquet"
    before = shard.stat().st_mtime_ns
    proc = snakemake(work, "--cores", "2", *both)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert shard.stat().st_mtime_ns == before
    assert load_config(work / "results/config.yaml").raw["plots"]["dpi"] == 70
    proc = snakemake(work, "--dry-run", *both)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_report(run):
    proc = snakemake(run, "--report", "results/report.html", *MY_CONFIG)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (run / "results/report.html").stat().st_size > 10_000


def test_config_on_the_command_line_takes_effect(run):
    # --config overrides the files; its relative paths are relative to the working folder.
    work = run
    (work / "alt").mkdir()
    board = (work / "configs/platforms/u280.yaml").read_text()
    # same figures under another name, to see which platform file the jobs read
    (work / "alt/board.yaml").write_text(board.replace("name: u280", "name: u280-alt", 1))
    shards = ["results/sweep/shard-0.parquet", "results/sweep/shard-1.parquet"]
    proc = snakemake(
        work,
        *shards,  # only the sweep, to keep the test short
        "--cores",
        "2",
        *MY_CONFIG,
        "--config",
        "sweep={space: {weight_precision: [BF16, INT8]}}",
        "platform=alt/board.yaml",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    merged = load_config(work / "results/config.yaml")
    assert merged.raw["platform"] == "../alt/board.yaml"
    assert merged.raw["sweep"]["space"]["pe_m"] == [8, 16]  # the rest of my.yaml's grid stays
    sweep = sweep_rows(work)
    # my.yaml alone sweeps INT8 only (2^8 designs, see above); --config adds BF16: 2^9
    assert set(sweep["weight_precision"]) == {"BF16", "INT8"} and len(sweep) == 2**9
    for shard in shards:
        meta = read_metadata(work / shard)
        assert meta["config_hash"] == merged.hash and meta["platform"] == "u280-alt"


@pytest.mark.parametrize(
    ("layer", "needle"),
    [
        # dse's own checks, beyond the schema: an empty platform file is not a mapping
        ("platform: empty.yaml\n", "empty.yaml"),
        # the schema accepts tile_m 100; dse does not: not a multiple of the default pe_m values
        ("sweep:\n  space:\n    tile_m: [100]\n", "tile_m"),
        # the schema rejects it
        ("sweep:\n  space:\n    dataflow: [mnk, zzz]\n", "zzz"),
        # the search space asks for 32 channels per stream of a board with 4 DDR banks
        ("platform: configs/platforms/u250.yaml\n", "search.space.pc_weights"),
    ],
)
def test_bad_config_stops_a_dry_run_with_one_line(tmp_path, layer, needle):
    work = repo_copy(tmp_path / "repo")
    (work / "empty.yaml").write_text("")
    (work / "bad.yaml").write_text(layer)
    proc = snakemake(work, "-n", "--configfile", "bad.yaml")
    assert proc.returncode == 2  # dse's code for bad input, under Snakemake too
    errors = [line for line in proc.stderr.splitlines() if line.startswith("dse: ")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (work / "results").exists()


def test_yte_templating_is_refused(tmp_path):
    """Snakemake evaluates `?` values as Python in a config file whose top level says
    `__use_yte__: true` (YTE). In configs/config.yaml dse refuses the key before Snakemake reads
    the file, so the planted code never runs; a --configfile has already been evaluated by
    Snakemake's command line, so there dse can only refuse the run and say so."""
    work = repo_copy(tmp_path / "repo")
    marker = tmp_path / "ran"
    planted = f"__use_yte__: true\nnote: ?open({str(marker)!r}, 'w').write('x')\n"
    default = work / "configs/config.yaml"
    default.write_text(planted + default.read_text())
    proc = snakemake(work, "-n")
    assert proc.returncode == 2, proc.stderr
    assert "configs/config.yaml: key '__use_yte__'" in proc.stderr
    assert not marker.exists()  # refused before Snakemake read the file

    (work / "tpl.yaml").write_text(planted)
    default.write_text(default.read_text().split("\n", 2)[2])  # the planted lines removed
    proc = snakemake(work, "-n", "--configfile", "tpl.yaml")
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("dse: ")]
    assert len(errors) == 1 and "tpl.yaml: key '__use_yte__'" in errors[0], proc.stderr
    assert "Snakemake evaluated it" in errors[0]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_lint_is_clean(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "good condition" in proc.stdout + proc.stderr


# ---- an interrupted run resumes with the README's command (issue 7, item 2) -------------------


def resume_repo(root, clean):
    """A copy whose default config is the clean run's merged config: `snakemake --cores 8`."""
    work = user_repo(root)
    # results/config.yaml is a complete config; its paths (relative to results/) resolve the
    # same from configs/, so this run's merged config, and its config hash, equal the clean run's
    (work / "configs/config.yaml").write_text(clean["config"])
    return work


def _as_a_shell_job() -> None:
    """A shell starts a foreground job with SIGINT at its default action and unblocked. The
    test process may hold it ignored or blocked (both pass to children, and Python then
    installs no KeyboardInterrupt handler: the run would never see the Ctrl-C; in the full
    suite it ran to its end)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def start(work):
    """`snakemake --cores 8` in its own process group, as a terminal's foreground job."""
    log = (work / "run.log").open("a")
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "8"],
        cwd=work,
        env=env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_as_a_shell_job,
    )


def wait_for_job(proc, work, log_glob, since):
    """Wait until a job whose log matches log_glob has started (its log written after since)."""
    deadline = time.time() + 300
    while not any(p.stat().st_mtime > since for p in work.glob(log_glob)):
        assert proc.poll() is None, (work / "run.log").read_text()[-3000:]
        assert time.time() < deadline, "the job never started"
        time.sleep(0.02)


def interrupt(proc, work, log_glob, sig, *, since=None, after=0.3):
    """Send sig to the whole process group once a job whose log matches log_glob has started."""
    wait_for_job(proc, work, log_glob, time.time() if since is None else since)
    time.sleep(after)  # inside the job (Python start-up takes longer than this)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, sig)
    proc.wait(timeout=120)


def _export_pids(session):
    """Pids of the `dse export` processes (not their shell) in a session."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if int(fields[3]) == session and b"export" in argv[1:3] and argv[1].endswith(b"dse"):
            pids.append(int(entry.name))
    return pids


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def interrupt_inside_export(proc, work, sig, *, since):
    """Send sig to the whole process group while `dse export` is building its folder.

    A fixed delay after the job starts raced with the job on a fast machine (the export could
    finish first). Here the export process is stopped (SIGSTOP) as soon as it exists and let run
    in 2 ms slices until its hidden build folder `results/.hls.*.tmp` appears; the signal is sent
    while it is stopped and lands when it continues: inside the export, however fast it is.
    """
    wait_for_job(proc, work, "results/logs/export.log", since)
    deadline = time.time() + 300
    while not (pids := _export_pids(proc.pid)):
        assert proc.poll() is None, (work / "run.log").read_text()[-3000:]
        assert time.time() < deadline, "the export job never started"
        time.sleep(0.002)
    pid = pids[0]
    os.kill(pid, signal.SIGSTOP)
    before = set((work / "results").glob(".hls.*.tmp"))
    while not set((work / "results").glob(".hls.*.tmp")) - before:
        assert _alive(pid), "the export finished before it could be interrupted"
        assert time.time() < deadline, "the export never began its folder"
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.002)
        os.kill(pid, signal.SIGSTOP)
    os.killpg(proc.pid, sig)
    os.kill(pid, signal.SIGCONT)
    proc.wait(timeout=120)


def plant_stale_temporaries(work):
    """What SIGKILL leaves mid-write: atomic-write temporaries and a half-built export folder."""
    (work / "results/sweep").mkdir(parents=True, exist_ok=True)
    (work / "results/sweep/.shard-0.parquet.k1ll3d.tmp").write_bytes(b"PAR1 half")
    (work / "results/.hls.k1ll3d.tmp/g-000000001").mkdir(parents=True, exist_ok=True)
    (work / "results/hls/g-999999999").mkdir(parents=True, exist_ok=True)  # an earlier selection
    (work / "results/hls/g-999999999/design.json").write_text("{}")
    journal_lock = work / "results/search/study.journal.lock"  # Optuna's, of a killed worker
    journal_lock.parent.mkdir(parents=True, exist_ok=True)
    if not journal_lock.is_symlink():
        journal_lock.symlink_to("study.journal")


def assert_same_as_clean(work, clean):
    proc = snakemake(work, "--cores", "8")  # the README's command, nothing else
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = outputs(work)
    assert again["tables"].keys() == clean["tables"].keys()
    for name, frame in clean["tables"].items():
        pd.testing.assert_frame_equal(again["tables"][name], frame, obj=name)
    for name, meta in clean["meta"].items():
        assert again["meta"][name]["config_hash"] == meta["config_hash"], name
    assert again["index"] == clean["index"]
    exported = {d["design_id"] for d in clean["index"]["designs"]}
    assert again["folders"] == clean["folders"] == exported
    assert stale_files(work / "results") == []
    assert not (work / "results/search/study.journal.lock").is_symlink()


def test_interrupted_runs_resume_with_the_readme_command(tmp_path, clean):
    # SIGINT is Ctrl-C in the terminal (the whole foreground group); SIGKILL of the whole group
    # is a crash or an out-of-memory kill. Each is sent while a sweep job or the export job runs.
    work = resume_repo(tmp_path / "repo", clean)
    sweep_front, summary = work / "results/pareto/sweep_front.parquet", work / "results/summary.md"
    interrupt(start(work), work, "results/logs/sweep/shard-*.log", signal.SIGINT)
    assert not sweep_front.exists()  # stopped before the sweep was done
    interrupt(start(work), work, "results/logs/sweep/shard-*.log", signal.SIGKILL)
    assert not sweep_front.exists()
    plant_stale_temporaries(work)
    # a second run while one works in the folder stops with a clear message, harming nothing
    since = time.time()
    first = start(work)
    lock = work / ".snakemake/dse-run.lock"
    while not (lock.exists() and lock.read_text().strip() == str(first.pid)):  # it holds the lock
        assert first.poll() is None, (work / "run.log").read_text()[-3000:]
        time.sleep(0.02)
    second = snakemake(work, "--cores", "8")
    assert second.returncode != 0
    assert "another snakemake run" in second.stderr, second.stderr[-2000:]
    interrupt_inside_export(first, work, signal.SIGINT, since=since)
    assert sweep_front.exists() and not summary.exists()  # stopped in the export
    interrupt(start(work), work, "results/logs/export.log", signal.SIGKILL)
    assert not summary.exists()
    plant_stale_temporaries(work)
    assert_same_as_clean(work, clean)


def test_every_row_records_the_mapping_it_got(run):
    # Sweep, search workers and refinement all range over hardware and map each design: every
    # row's figures are what the mapper gives for its hardware, with the mapping it chose
    # recorded in its tile_*_div_* columns (re-evaluated here with the run's own config).
    from dse.params import MAPPING_PARAMS
    from dse.results import batch_from_frame

    work = run
    cfg = load_config(work / "results/config.yaml")
    model = cfg.model()
    for path in sorted(work.glob("results/s*/*.parquet")):
        rows = pd.read_parquet(path)
        batch = batch_from_frame(rows)
        res = model.evaluate(batch)
        np.testing.assert_allclose(rows["latency_ms"], res.columns["latency_ms"], rtol=1e-6)
        for name in MAPPING_PARAMS:
            np.testing.assert_array_equal(rows[name], res.mapping[name], err_msg=str(path))


def test_every_exported_design_passes_csim(run, tmp_path_factory):
    # Issue 11: every design the run exports passes `dse csim`, as a user runs it after the
    # workflow: one encoder layer and the connector against numpy, every integer GEMM call
    # bit-exact, every GEMM call's cycles within 5% of the model's. The designs run side by
    # side (each waits on its own g++ and C simulation).
    results = run / "results"
    index = json.loads((results / "hls/index.json").read_text())
    assert index["designs"]
    cache = tmp_path_factory.getbasetemp() / "csim-objects"  # the session's: its compiled headers
    procs = {}
    for entry in index["designs"]:
        folder = results / "hls" / entry["path"]
        assert (folder / "model.json").is_file()  # the export carries the model it was costed on
        procs[folder] = subprocess.Popen(
            [sys.executable, "-m", "dse.cli", "csim", str(folder)],
            cwd=run, env={**env(), "DSE_CSIM_CACHE": str(cache)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    for folder, proc in procs.items():
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, out[-3000:] + err[-3000:]
        report = json.loads((folder / "csim.json").read_text())
        assert report["passed"] and report["checks"]["cycles"], folder.name
