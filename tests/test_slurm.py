"""The workflow on a real Slurm cluster through the shipped profile (issue 12, item 2).

From a copy of the repository, with a tiny sweep and a short search, as the README's cluster
section says: `snakemake --executor slurm --profile profiles/slurm ...`, every job an sbatch job.
The Parquet results must equal those of a local run of the same config (every rule is
deterministic: fixed grid, fixed seeds): the session's tiny run (tests/workflow_repo.py TinyRun,
the one tests/test_workflow.py looks at), and every job must have been a Slurm job that
completed.

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
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from dse.store import read_metadata
from tests.conftest import ROOT
from tests.workflow_repo import MY_CONFIG, env, user_repo

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

LOCAL_SLURM = ROOT / "scripts" / "local-slurm.sh"

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
# `finish` (roofline, refine, pareto, select, export, plots, explore, summary in one job); `all`
# runs on the host
N_JOBS = 6
# rule jobs, each with its benchmark file: 2 sweep shards, calibration, pareto_sweep, 1 search
# worker and the 8 rules of `finish`
N_RULE_JOBS = 13
TABLES = [
    "sweep/shard-0.parquet",
    "sweep/shard-1.parquet",
    "pareto/sweep_front.parquet",
    "search/worker-0.parquet",
    "search/refine.parquet",
    "pareto/front.parquet",
    "selected.parquet",
]


def _answers() -> bool:
    try:
        proc = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "UP" in proc.stdout


def _cluster() -> tuple[bool, str | None]:
    """Bring a cluster that answers: (whether this session started it, why there is none)."""
    if shutil.which("sbatch") is None:
        return False, "no Slurm client (sbatch) here; scripts/local-slurm.sh up installs one"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return False, "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    if _answers():
        return False, None
    if os.geteuid() != 0 or shutil.which("slurmctld") is None:
        return False, "no Slurm controller answers 'scontrol ping' (start: local-slurm.sh up)"
    proc = subprocess.run([str(LOCAL_SLURM), "up"], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if "error" in line]
        return False, f"scripts/local-slurm.sh up failed: {(lines or ['?'])[-1]}"
    return True, None


class Runs:
    """The Slurm run of the tiny run's config (tests/workflow_repo.py user_repo).

    It mostly waits (the plugin's status checks; the cluster's job start-up), so
    tests/conftest.py starts it right after collection, in the background of the other tests,
    and the test below only collects it: the suite's time does not grow by its ~100 s.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.started, self.reason = _cluster()
        self.on_slurm = self.slurm = None
        if self.reason:
            return
        self.on_slurm = user_repo(base / "slurm")
        self.slurm = _popen(self.on_slurm, *SLURM_RUN, *MY_CONFIG)

    def wait(self) -> tuple[int, str]:
        """(returncode, stderr) of the Slurm run."""
        _, err = self.slurm.communicate(timeout=900)
        return self.slurm.returncode, err

    def close(self) -> None:
        if self.slurm is not None and self.slurm.poll() is None:
            self.slurm.kill()
            self.slurm.wait()
        if self.started:
            subprocess.run([str(LOCAL_SLURM), "down"], capture_output=True, timeout=120)
        shutil.rmtree(self.base, ignore_errors=True)


def _popen(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


_RUNS: Runs | None = None


def start_runs() -> None:
    """Start the runs once per session (called by tests/conftest.py after collection)."""
    global _RUNS
    if _RUNS is None:
        _RUNS = Runs(Path(tempfile.mkdtemp(prefix="dse-slurm-test-")))


def stop_runs() -> None:
    global _RUNS
    if _RUNS is not None:
        _RUNS.close()
        _RUNS = None


@pytest.fixture(scope="module")
def runs():
    start_runs()  # already started after collection, unless this test was picked on its own
    assert _RUNS is not None
    if _RUNS.reason:
        if os.environ.get("DSE_REQUIRE_SLURM") == "1":
            pytest.fail(f"DSE_REQUIRE_SLURM=1 but {_RUNS.reason}")
        pytest.skip(_RUNS.reason)
    return _RUNS


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


def test_workflow_on_slurm_equals_a_local_run(runs, tiny_run):
    code, err = runs.wait()
    assert code == 0, err[-3000:]
    on_slurm, (_, local) = runs.on_slurm, tiny_run  # local: the tiny run's outputs as it ended

    # every rule job went to Slurm and completed there
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", err)
    assert len(job_ids) == len(set(job_ids)) == N_JOBS, err[-3000:]
    assert slurm_states(job_ids) == {j: "COMPLETED" for j in job_ids}
    # each rule job ran with its benchmark inside a Slurm job
    assert len(list(on_slurm.glob("results/benchmarks/**/*.tsv"))) == N_RULE_JOBS

    # the same rows as the local run, table by table, from the same merged config
    got = tables(on_slurm)
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], local["tables"][name], obj=name)
        a = read_metadata(on_slurm / "results" / name)
        assert a["config_hash"] == local["meta"][name]["config_hash"], name
    assert len(got["selected.parquet"]) > 0 and len(got["pareto/front.parquet"]) > 0
    assert (on_slurm / "results/hls/index.json").read_text() == local["index_text"]
