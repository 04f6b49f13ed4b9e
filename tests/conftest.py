"""Shared fixtures: the default config, its platform, workload and model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dse.config import load_config
from dse.model import Model
from dse.params import EXAMPLE_DESIGN
from dse.space import design_batch

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "config.yaml"

#: A reasonable INT8 design used as a base for hand checks.
BASE_DESIGN = dict(EXAMPLE_DESIGN)


@pytest.fixture(scope="session")
def cfg():
    return load_config(CONFIG)


@pytest.fixture(scope="session")
def model(cfg):
    return Model(cfg.platform, cfg.workload)


def batch_of(cfg, **overrides):
    """A one-design batch: BASE_DESIGN with overrides."""
    return design_batch([{**BASE_DESIGN, **overrides}], cfg.platform)


def concat(batches):
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}



_SLURM_MODULES: list = []


def pytest_collection_finish(session):
    """Start the workflow runs that tests wait for now, so they run in the background of the
    rest: the user's tiny run (tests/workflow_repo.py TinyRun: tests/test_workflow.py looks at
    it, the Slurm test compares with it) and the Slurm test's run."""
    if session.config.option.collectonly:
        return
    if any("tiny_run" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests.workflow_repo import start_tiny_run

        start_tiny_run()
    for item in session.items:
        if item.get_closest_marker("slurm") and hasattr(item.module, "start_runs"):
            item.module.start_runs()  # the module as collected (not a second import of it)
            _SLURM_MODULES.append(item.module)
            return


def pytest_sessionfinish(session):
    for module in _SLURM_MODULES:
        module.stop_runs()
    repo = sys.modules.get("tests.workflow_repo")  # imported where a tiny run may have started
    if repo is not None:
        repo.stop_tiny_run()


@pytest.fixture(scope="session")
def tiny_run():
    """(folder, outputs) of the user's tiny workflow run, once per session (started after
    collection; see pytest_collection_finish)."""
    from tests.workflow_repo import start_tiny_run

    code, err, clean = start_tiny_run().wait()
    assert code == 0, err[-3000:]
    return start_tiny_run().work, clean
