"""The workflow on a real Slurm cluster through the shipped profile (issue 12, item 2).

From a copy of the repository, with a tiny sweep and a short search, as the README's cluster
section says: `snakemake --executor slurm --profile profiles/slurm ...`, every job an sbatch job.
The Parquet results must equal those of a local run of the same config (every rule is
deterministic: fixed grid, fixed seeds), and every job must have been a Slurm job that completed.

The cluster is the one `sbatch` reaches (`scontrol ping` answers); when none answers and this
machine has Debian's Slurm packages and root, `scripts/local-slurm.sh up` starts a one-node cluster
for the test and `down` stops it afterwards. Otherwise the test is skipped with the reason, unless
DSE_REQUIRE_SLURM=1 (set by .ci/slurm.sh in CI), where a missing cluster is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from dse.store import read_metadata
from tests.conftest import ROOT
from tests.workflow_repo import env, repo_copy, snakemake, tiny_config_text

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

LOCAL_SLURM = ROOT / "scripts" / "local-slurm.sh"

# tests/data/tiny_config.yaml (128 grid designs in 2 shards) and a short search: one worker,
# 20 trials, so that the run is a few seconds of work per job
SMALL_SEARCH = """
search:
  workers: 1
  trials_per_worker: 20
  batch_size: 10
"""
MY_CONFIG = ("--configfile", "mine/my.yaml")
# The README's cluster command. The local cluster's jobs take seconds, so the first status check
# comes after 3 s instead of the plugin's 40 s (the plugin adds 10 s to the wait after each check
# that finds no job finished: checks at 3, 16, 39 s after a submission).
SLURM_RUN = (
    "--executor",
    "slurm",
    "--profile",
    "profiles/slurm",
    "--slurm-init-seconds-before-status-checks",
    "3",
)
# sbatch jobs: 2 sweep shards, calibration, pareto_sweep, 1 search worker, and the profile's group
# `finish` (roofline, refine, pareto, select, export, plots, summary in one job); `all` runs on the
# host
N_JOBS = 6
N_RULE_JOBS = 12
TABLES = [
    "sweep/shard-0.parquet",
    "sweep/shard-1.parquet",
    "pareto/sweep_front.parquet",
    "search/worker-0.parquet",
    "search/refine.parquet",
    "pareto/front.parquet",
    "selected.parquet",
]


def _unavailable(reason: str):
    if os.environ.get("DSE_REQUIRE_SLURM") == "1":
        pytest.fail(f"DSE_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


def _answers() -> bool:
    try:
        proc = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "UP" in proc.stdout


@pytest.fixture(scope="module")
def cluster():
    """A Slurm cluster that answers: the one configured here, or a local one for the test."""
    if shutil.which("sbatch") is None:
        _unavailable("no Slurm client (sbatch) here; scripts/local-slurm.sh up installs one")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        _unavailable("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    started = False
    if not _answers():
        if os.geteuid() != 0 or shutil.which("slurmctld") is None:
            _unavailable("no Slurm controller answers 'scontrol ping' (start: local-slurm.sh up)")
        proc = subprocess.run([str(LOCAL_SLURM), "up"], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if "error" in line]
            _unavailable(f"scripts/local-slurm.sh up failed: {(lines or ['?'])[-1]}")
        started = True
    yield
    if started:
        subprocess.run([str(LOCAL_SLURM), "down"], capture_output=True, timeout=120)


def user_repo(root):
    root = repo_copy(root)
    (root / "mine").mkdir()
    text = tiny_config_text(
        "../configs/platforms/u280.yaml", "../configs/models/smolvla_vision.yaml"
    )
    (root / "mine" / "my.yaml").write_text(text + SMALL_SEARCH)
    return root


def tables(work):
    results = work / "results"
    return {t: pd.read_parquet(results / t) for t in TABLES}


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """Job id -> state as squeue reports it (finished jobs stay listed for MinJobAge seconds)."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i %T"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def test_workflow_on_slurm_equals_a_local_run(tmp_path, cluster):
    on_slurm = user_repo(tmp_path / "slurm")
    local = user_repo(tmp_path / "local")
    # the local reference runs meanwhile: the Slurm run mostly waits for its status checks
    reference = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "1", *MY_CONFIG],
        cwd=local,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        proc = snakemake(on_slurm, *SLURM_RUN, *MY_CONFIG, timeout=600)
    finally:
        _, local_err = reference.communicate(timeout=600)
    assert reference.returncode == 0, local_err[-3000:]
    assert proc.returncode == 0, proc.stderr[-3000:]

    # every rule job went to Slurm and completed there
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", proc.stderr)
    assert len(job_ids) == len(set(job_ids)) == N_JOBS, proc.stderr[-3000:]
    assert slurm_states(job_ids) == {j: "COMPLETED" for j in job_ids}
    # each rule job ran with its benchmark inside a Slurm job
    assert len(list(on_slurm.glob("results/benchmarks/**/*.tsv"))) == N_RULE_JOBS

    # the same rows as the local run, table by table, from the same merged config
    got, want = tables(on_slurm), tables(local)
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
        a = read_metadata(on_slurm / "results" / name)
        b = read_metadata(local / "results" / name)
        assert a["config_hash"] == b["config_hash"], name
    assert len(got["selected.parquet"]) > 0 and len(got["pareto/front.parquet"]) > 0
    assert (on_slurm / "results/hls/index.json").read_text() == (
        local / "results/hls/index.json"
    ).read_text()
