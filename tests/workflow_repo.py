"""End-to-end helpers: run the workflow as a user does, from a copy of the repository."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from benchmarks.fuzz_snakemake import repo_copy  # noqa: F401  (a copy of what a clone holds)
from dse.store import read_metadata
from tests.conftest import ROOT

TINY = ROOT / "tests" / "data" / "tiny_config.yaml"
# A small search (one worker, 20 trials) to append to a tiny config: merged into the default's
# search section (two workers, 2,500 trials each), which would take minutes.
SMALL_SEARCH = """
search:
  workers: 1
  trials_per_worker: 20
  batch_size: 10
"""
# The refinement on a small budget, to append after SMALL_SEARCH: the default budget's 500,000
# evaluations and walks at 13 caps take ~50 s of CPU per run. The workflow tests check what the
# jobs write and where they run, not what refinement finds (tests/test_refine.py does that).
SMALL_REFINE = """  refine:
    max_evaluations: 2000
    walk_caps: [0.6, 1.0]
    walk_starts: 1
    roi_evaluations: 2000
"""
# The user's own config, written to mine/my.yaml of a repository copy.
MY_CONFIG = ("--configfile", "mine/my.yaml")


def tiny_config_text(platform: str, model: str) -> str:
    """tests/data/tiny_config.yaml with its platform and model paths replaced."""
    text = TINY.read_text()
    text = text.replace("../../configs/platforms/u280.yaml", platform)
    return text.replace("../../configs/models/smolvla_vision.yaml", model)


def env() -> dict[str, str]:
    """The environment of a user whose PATH holds this interpreter's `dse` and `snakemake`."""
    bindir = os.path.dirname(sys.executable)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


def snakemake(cwd: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`snakemake ARGS` in cwd, as typed at a shell (the workflow profile is found beside it)."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stale_files(results: Path) -> list[str]:
    """Hidden temporaries (`.NAME.*.tmp` files and folders) anywhere under results/."""
    found = (p for p in results.rglob(".*") if p.name.endswith(".tmp"))
    return sorted(str(p.relative_to(results)) for p in found)


def user_repo(root):
    """A repository copy with the user's own config in mine/, naming a platform beside it, with
    SMALL_SEARCH and SMALL_REFINE (the tests check the jobs, not what search or refinement find):
    tests/data/tiny_config.yaml with INT8 weights only, 2^8 = 256 grid designs in 2 shards."""
    root = repo_copy(root)
    mine = root / "mine"
    mine.mkdir()
    # relative paths in my.yaml are relative to mine/
    shutil.copy(root / "configs/platforms/u280.yaml", mine / "board.yaml")
    text = tiny_config_text("board.yaml", "../configs/models/smolvla_vision.yaml")
    text = text.replace("weight_precision: [BF16, INT8]", "weight_precision: [INT8]")
    (mine / "my.yaml").write_text(text + SMALL_SEARCH + SMALL_REFINE)
    return root


def outputs(work):
    """Every result a rerun must reproduce: Parquet rows (sweep shards, sweep front, search
    workers and refinement, front, selection) with their metadata, the export index and its
    folders, the merged config."""
    results = work / "results"
    tables = ["pareto/front.parquet", "pareto/sweep_front.parquet", "selected.parquet"]
    tables += [str(p.relative_to(results)) for p in results.glob("sweep/shard-*.parquet")]
    tables += [str(p.relative_to(results)) for p in results.glob("search/*.parquet")]
    index = (results / "hls/index.json").read_text()
    return {
        "tables": {t: pd.read_parquet(results / t) for t in sorted(tables)},
        "meta": {t: read_metadata(results / t) for t in sorted(tables)},
        "index": json.loads(index),
        "index_text": index,
        "folders": {p.name for p in (results / "hls").iterdir() if p.is_dir()},
        "config": (results / "config.yaml").read_text().split("\n", 1)[1],  # below the header
    }


class TinyRun:
    """The user's tiny run, `snakemake --cores 2 --configfile mine/my.yaml` in a
    :func:`user_repo`, once per session: tests/test_workflow.py's tests look at it (and change
    its folder afterwards), tests/test_slurm.py compares the Slurm run's rows with it.
    tests/conftest.py starts it right after collection, in the background of the other tests;
    :meth:`wait` keeps :func:`outputs` of the run as it ended, before any test changes it."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="dse-tiny-run-"))
        self.work = user_repo(self.base / "repo")
        self.log = self.base / "snakemake.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "snakemake", "--cores", "2", *MY_CONFIG],
                cwd=self.work, env=env(), stdout=subprocess.DEVNULL, stderr=log, text=True,
                start_new_session=True,  # its own process group: close() ends its jobs too
            )  # fmt: skip
        self.result: tuple[int, str, dict | None] | None = None

    def wait(self) -> tuple[int, str, dict | None]:
        """(returncode, stderr, outputs of the clean run or None when it failed)."""
        if self.result is None:
            code = self.proc.wait(timeout=900)
            err = self.log.read_text()
            self.result = (code, err, outputs(self.work) if code == 0 else None)
        return self.result

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)


_TINY: TinyRun | None = None


def start_tiny_run() -> TinyRun:
    global _TINY
    if _TINY is None:
        _TINY = TinyRun()
        atexit.register(stop_tiny_run)  # also when the session ends without its finish hook
    return _TINY


def stop_tiny_run() -> None:
    global _TINY
    if _TINY is not None:
        _TINY.close()
        _TINY = None
