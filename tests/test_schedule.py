"""schedule.json: every kernel call of one policy call, whose model times add up to latency_ms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dse.config import load_config
from dse.export import export_design
from dse.params import EXAMPLE_DESIGN
from dse.pareto import front, objectives_from
from dse.results import batch_from_frame, results_frame
from dse.schedule import call_counts, latency_of
from dse.select import select_designs
from dse.space import Grid, design_batch, design_id

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_config.yaml"

# smolVLA's SigLIP encoder (configs/models/smolvla_vision.yaml): 12 layers, 12 heads, 3 cameras
LAYERS, HEADS, CAMERAS = 12, 12, 3
# steps of one image on one CU with g = 1: the stem (patch_embed, its bias and position add as
# epilogues), per layer ln1, q, k, v, per head scores (+ softmax unfused) and context, out_proj,
# ln2, fc1, fc2; then post_layernorm, pixel_shuffle and the connector
STEPS_FUSED = 1 + LAYERS * (4 + 2 * HEADS + 4) + 3  # 388
STEPS_UNFUSED = 1 + LAYERS * (4 + 3 * HEADS + 4) + 3  # 532


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "configs" / "config.yaml")


def _rows(cfg, designs):
    """Result rows of the given designs as the run writes them (mapper on, its choice kept)."""
    model = cfg.model()
    batch = design_batch(designs, cfg.platform)
    ids = [f"d{i}" for i in range(len(designs))]
    frame = results_frame(model, batch, model.evaluate(batch), ids)
    return frame.to_dict("records")


def _schedule(cfg, row, tmp_path, model=None):
    out = tmp_path / str(row["design_id"])
    files = export_design(row, cfg.platform_raw, out, model=model or cfg.model(mapper=False))
    assert out / "schedule.json" in files
    return json.loads((out / "schedule.json").read_text())


def _agrees(schedule, row):
    # the model sums float32 kernel times: agreement to float32 rounding (7 digits)
    assert latency_of(schedule) == pytest.approx(float(row["latency_ms"]), rel=2e-6)


def test_hand_picked_designs(cfg, tmp_path):
    designs = [
        {**EXAMPLE_DESIGN, "compute_units": 3, "fuse_attention": False},
        {**EXAMPLE_DESIGN, "compute_units": 1, "fuse_attention": False},
        {**EXAMPLE_DESIGN, "compute_units": 3, "fuse_attention": True},
        {**EXAMPLE_DESIGN, "compute_units": 6, "pc_weights": 1, "pc_inputs": 1, "pc_outputs": 1},
        {
            **EXAMPLE_DESIGN,
            "weight_precision": "BF16",
            "prec_attention": "INT4",
            "prec_mlp": "INT8",
            "prec_embed": "BF16",
        },
    ]
    rows = _rows(cfg, designs)
    three, one, fused, six, mixed = (_schedule(cfg, r, tmp_path) for r in rows)
    for s, row in zip((three, one, fused, six, mixed), rows, strict=True):
        _agrees(s, row)
        # every image runs every layer's every head once: 12 x 12 score calls per image
        counts = call_counts(s)
        assert counts["attn_scores"] == CAMERAS * LAYERS * HEADS
        assert counts["attn_context"] == CAMERAS * LAYERS * HEADS
        assert counts["connector"] == CAMERAS * s["cus_per_image"]
        # no epilogue is a call of its own
        assert not {"q_bias", "gelu", "residual1", "position_add"} & set(counts)
        assert [st["step"] for st in s["steps"]] == list(range(len(s["steps"])))

    # 3 CUs, 3 cameras: one round, each CU one image, 3 calls per step
    assert (three["rounds"], three["cus_per_image"]) == (1, 1)
    assert len(three["steps"]) == STEPS_UNFUSED
    assert {len(st["calls"]) for st in three["steps"]} == {3}
    assert call_counts(three)["softmax"] == CAMERAS * LAYERS * HEADS
    # 1 CU: the three images one after another on CU 0
    assert (one["rounds"], one["cus_per_image"]) == (3, 1)
    assert len(one["steps"]) == 3 * STEPS_UNFUSED
    assert {c["cu"] for st in one["steps"] for c in st["calls"]} == {0}
    assert [st["calls"][0]["image"] for st in one["steps"][:: STEPS_UNFUSED]] == [0, 1, 2]
    # the same kernel costs the same per call whatever the CU count (g = 1 in both), except
    # that with 3 CUs the one on SLR2 reaches the HBM across two registered SLR crossings
    # (dse.timing: 2 x 2 x 3 cycles more per transaction), which sets the pace of all three.
    # q_proj's loads are one burst per tile row (as the kernel reads them), latency-bound, so
    # the crossings cost a few percent (measured +7.3%), not the 1% of whole-tile bursts
    q3 = next(st for st in three["steps"] if st["kernel"] == "q_proj")
    q1 = next(st for st in one["steps"] if st["kernel"] == "q_proj")
    assert q1["ms"] < q3["ms"] < q1["ms"] * 1.10

    # fused attention: softmax rides on the score GEMM, scores and probabilities stay on chip
    assert len(fused["steps"]) == STEPS_FUSED
    assert "softmax" not in call_counts(fused)
    score = next(st for st in fused["steps"] if st["kernel"] == "attn_scores")
    ctx = next(st for st in fused["steps"] if st["kernel"] == "attn_context")
    assert score["fused"] == ["softmax"] and score["streams"]["c"] == "on_chip"
    assert ctx["streams"]["a"] == "on_chip" and score["calls"][0]["channels"]["c"] == []
    fc1 = next(st for st in fused["steps"] if st["kernel"] == "fc1")
    assert fc1["fused"] == ["fc1_bias", "gelu"]

    # 6 CUs, 3 cameras: two CUs per image; heads alternate between them (6 score steps per
    # layer), GEMM output columns split in halves (768 -> 2 x 384)
    assert (six["rounds"], six["cus_per_image"]) == (1, 2)
    layer0 = [st for st in six["steps"] if st["layer"] == 0 and st["kernel"] == "attn_scores"]
    assert len(layer0) == HEADS // 2
    assert {(c["cu"], c["head"]) for c in layer0[0]["calls"]} == {
        (0, 0), (1, 1), (2, 0), (3, 1), (4, 0), (5, 1)
    }
    q6 = next(st for st in six["steps"] if st["kernel"] == "q_proj")
    assert q6["shape"] == {"m": 1024, "k": 768, "n": 384}
    assert [c["cols"] for c in q6["calls"][:2]] == [[0, 384], [384, 768]]
    ln6 = next(st for st in six["steps"] if st["kernel"] == "ln1")
    assert [c["rows"] for c in ln6["calls"][:2]] == [[0, 512], [512, 1024]]

    # mixed precision: each class's precision on its calls, activations at act_precision
    sc = next(st for st in mixed["steps"] if st["kernel"] == "attn_scores")
    assert sc["precision"] == {"a": "INT4", "b": "INT4", "c": "INT4"}
    f1 = next(st for st in mixed["steps"] if st["kernel"] == "fc1")
    assert f1["precision"] == {"a": "INT8", "b": "INT8", "c": "INT8"}
    qp = next(st for st in mixed["steps"] if st["kernel"] == "q_proj")
    assert qp["precision"]["b"] == "BF16"  # proj: 'same' follows weight_precision


def test_tiles_and_channels_are_the_rows(cfg, tmp_path):
    """Runtime tiles are the row's mapper choice; channels are the CU's allocation."""
    row = _rows(cfg, [dict(EXAMPLE_DESIGN)])[0]
    s = _schedule(cfg, row, tmp_path)
    for cls in ("proj", "mlp", "attention", "embed"):
        pe, tile, div = row["pe_n"], row["tile_n"], row[f"tile_n_div_{cls}"]
        # the model's rule: tile / divisor rounded down to a PE multiple, at least one PE step
        assert s["classes"][cls]["tile_n"] == max(pe, tile // (div * pe) * pe)
    fc2 = next(st for st in s["steps"] if st["kernel"] == "fc2")
    assert fc2["tile"]["n"] == min(s["classes"]["mlp"]["tile_n"], 768)
    # EXAMPLE_DESIGN: 3 CUs without shared weights -> CU i has its own contiguous channel block
    per_cu = row["pc_weights"] + row["pc_inputs"] + row["pc_outputs"]
    for c in fc2["calls"]:
        first = c["cu"] * per_cu
        assert c["channels"]["b"] == list(range(first, first + row["pc_weights"]))


def test_every_design_the_tiny_run_exports(tmp_path):
    """The whole tiny grid (tests/data/tiny_config.yaml) -> front -> selection, as the workflow
    runs it: every exported design's schedule sums to its latency_ms."""
    tiny = load_config(TINY)
    grid = Grid(tiny.raw["sweep"]["space"])
    batch = grid.decode(np.arange(grid.size))
    model = tiny.model()
    frame = results_frame(model, batch, model.evaluate(batch), design_id("s", np.arange(grid.size)))
    objectives = objectives_from(tiny.raw)
    chosen = select_designs(front(frame, objectives), objectives, tiny.raw["select"],
                            all_designs=frame)
    assert len(chosen) >= 1
    plain = tiny.model(mapper=False)
    for row in chosen.to_dict("records"):
        s = _schedule(tiny, row, tmp_path, plain)
        _agrees(s, row)
        assert s["model_latency_ms"] == pytest.approx(float(row["latency_ms"]), rel=1e-6)


def test_each_kernel_gets_its_model_time(cfg, tmp_path):
    """Not only the total: each kernel's steps add up to the model's time of that kernel (ms per
    image on one CU, Result.kernel_ms) times the image rounds; fused epilogues have no time of
    their own (their work is inside their GEMM's time)."""
    designs = [
        {**EXAMPLE_DESIGN, "compute_units": 1, "fuse_attention": True},
        {**EXAMPLE_DESIGN, "compute_units": 6, "pc_weights": 1, "pc_inputs": 1, "pc_outputs": 1},
    ]
    rows = _rows(cfg, designs)
    plain = cfg.model(mapper=False)
    res = plain.evaluate(batch_from_frame(pd.DataFrame(rows)), detail=True)
    for i, row in enumerate(rows):
        s = _schedule(cfg, row, tmp_path, plain)
        per_kernel: dict[str, float] = {}
        for st in s["steps"]:
            per_kernel[st["kernel"]] = per_kernel.get(st["kernel"], 0.0) + st["ms"]
        for j, name in enumerate(res.kernel_names):
            expected = float(res.kernel_ms[i, j]) * s["rounds"]
            assert per_kernel.get(name, 0.0) == pytest.approx(expected, rel=1e-6, abs=1e-12), name


def test_dse_export_writes_the_schedule(cfg, tmp_path):
    """`dse export --config` builds the schedule with the run's model; the index lists it."""
    from dse import cli
    from dse.store import write_table

    rows = _rows(cfg, [{**EXAMPLE_DESIGN, "compute_units": 2}])
    write_table(pd.DataFrame(rows), tmp_path / "selected.parquet")
    out = tmp_path / "hls"
    args = ["export", "--config", str(ROOT / "configs" / "config.yaml"),
            "--in", str(tmp_path / "selected.parquet"), "--out", str(out)]
    assert cli.main(args) == 0
    index = json.loads((out / "index.json").read_text())
    assert "d0/schedule.json" in index["designs"][0]["files"]
    s = json.loads((out / "d0" / "schedule.json").read_text())
    # 2 CUs, 3 cameras: images 0 and 1 side by side, then image 2 alone (2 rounds)
    assert (s["rounds"], s["cus_per_image"]) == (2, 1)
    assert [len(st["calls"]) for st in s["steps"][:: STEPS_UNFUSED]] == [2, 1]
    _agrees(s, rows[0])
