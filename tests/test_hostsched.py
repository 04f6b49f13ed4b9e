"""schedule.txt (dse.hostsched): one line per call of schedule.json, every operand declared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dse.config import load_config
from dse.export import export_design
from dse.params import EXAMPLE_DESIGN

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "configs" / "config.yaml")


def _parse(text: str):
    lines = [ln.split() for ln in text.splitlines() if ln and not ln.startswith("#")]
    return [(w[0], dict(x.split("=", 1) for x in w[1:] if "=" in x)) for w in lines]


@pytest.mark.parametrize(
    "changes",
    [{}, {"fuse_attention": True, "compute_units": 6, "pc_weights": 1, "pc_outputs": 2}],
)
def test_schedule_text_mirrors_schedule_json(cfg, tmp_path, changes):
    design = dict(EXAMPLE_DESIGN, design_id="d", **changes)
    export_design(design, cfg.platform_raw, tmp_path, model=cfg.model(mapper=False))
    sched = json.loads((tmp_path / "schedule.json").read_text())
    lines = _parse((tmp_path / "schedule.txt").read_text())
    tensors = {f["name"]: f for kind, f in lines if kind == "tensor"}
    calls = [(kind, f) for kind, f in lines if kind in ("gemm", "vector")]
    assert not [f for kind, f in lines if kind == "unsupported"]  # smolVLA: every kernel known
    # one line per call of schedule.json; the pixel shuffle regroups an image's whole grid in
    # one call (its row shares on several CUs of one image become one line per image)
    expected = sum(
        len({c["image"] for c in s["calls"]}) if s["kernel"] == "pixel_shuffle" else len(s["calls"])
        for s in sched["steps"]
    )
    assert len(calls) == expected
    # smolVLA: 12 layers x 12 heads of (scores, context) per image, unfused also a softmax
    heads = [f for _, f in calls if f["k"] == "attn_scores" and f["image"] == "0"]
    assert len(heads) == 12 * 12
    for kind, f in calls:
        for op in ("a", "b", "c", "res", "bias", "gamma", "beta", "r"):
            name = f.get(op, "-")
            assert name in ("-", "@chip") or name in tensors, (f["k"], op, name)
        if kind == "gemm":
            # the class's runtime tile, unclipped, and the build tile_k: what the model charges
            tile = sched["classes"][
                next(s for s in sched["steps"] if s["kernel"] == f["k"])["class"]
            ]
            assert (int(f["tm"]), int(f["tn"]), int(f["tk"])) == (
                tile["tile_m"],
                tile["tile_n"],
                tile["tile_k"],
            )
    fused = [f for _, f in calls if f.get("softmax") == "1"]
    chips = [f for _, f in calls if f.get("a") == "@chip"]
    assert len(fused) == len(chips) == (len(heads) * 3 if changes else 0)
    # the model's 1/sqrt(head dim) scaling of the scores: 1/8 for smolVLA's 64
    assert all(float(f["alpha"]) == 0.125 for f in heads)
