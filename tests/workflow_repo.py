"""End-to-end helpers: run the workflow as a user does, from a copy of the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.fuzz_snakemake import repo_copy  # noqa: F401  (a copy of what a clone holds)
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
