"""Shared fixtures: the default config, its platform, workload and model."""

from __future__ import annotations

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
