"""Local refinement (dse/refine.py, ``dse refine``): the moves, never losing a front design, a
known improving move found, determinism, and the command's output."""

from __future__ import annotations

import json
from pathlib import Path

import moocore
import numpy as np
import pytest

from dse import search, store
from dse.cli import main
from dse.config import load_config
from dse.model import Model
from dse.params import PARAMS
from dse.pareto import front, objective_matrix
from dse.refine import ROI_SLACK, design_hash, neighbours, refine, refine_frame
from dse.results import FIGURES, results_frame
from dse.space import Grid, design_batch, design_id

ROOT = Path(__file__).resolve().parent.parent
SEARCH_CONFIG = ROOT / "tests" / "data" / "search_config.yaml"

BASE = {"weight_precision": "INT8", "act_precision": "INT8", "pe_m": 16, "pe_n": 16,
        "pe_k": 16, "tile_m": 128, "tile_n": 128, "tile_k": 256, "dataflow": "mnk",
        "pc_weights": 4, "pc_inputs": 2, "pc_outputs": 1, "share_weights": False,
        "compute_units": 3, "double_pump": False, "buffer_storage": "bram",
        "double_buffer": True, "fuse_attention": False, "vector_lanes": 32}


@pytest.fixture(scope="module")
def scfg():
    return load_config(SEARCH_CONFIG)


@pytest.fixture(scope="module")
def smodel(scfg):
    return Model(scfg.platform, scfg.workload)  # the clock per design (no clock in the designs)


@pytest.fixture(scope="module")
def sweep_rows(scfg, smodel):
    grid = Grid(scfg.raw["sweep"]["space"])
    index = np.arange(grid.size)
    batch = grid.decode(index)
    return results_frame(smodel, batch, smodel.evaluate(batch), design_id("g", index))


def fixed_space(**searched) -> search.SearchSpace:
    """BASE as one-value lists, with ``searched`` parameters given ranges/lists."""
    return search.SearchSpace({**{k: [v] for k, v in BASE.items()}, **searched})


def test_moves_of_each_kind(scfg):
    space = fixed_space(pe_m={"powers_of_two": [4, 64]}, dataflow=["mnk", "nkm", "kmn"],
                        tile_m={"low": 16, "high": 1024, "step": 16})
    parent = design_batch([BASE], scfg.platform)
    cand = neighbours(space, parent)
    moved = sorted({(p.name, int(v)) for p in PARAMS
                    for v in cand[p.name][cand[p.name] != parent[p.name][0]]})
    # pe_m 16 in powers of two 4..64: 8 and 32 (the tile 128 stays a multiple of both);
    # dataflow: every other choice (nkm=3, kmn=4 in dse.params order mnk, nmk, mkn, nkm, kmn, knm);
    # tile_m 128 with pe_m 16: 112, 144, 256, 64. No compound move: only pe_m of the PE factors
    # and no CU count are searched. The clock is never a move (the model chooses it).
    assert moved == sorted([("pe_m", 8), ("pe_m", 32), ("dataflow", 3), ("dataflow", 4),
                            ("tile_m", 112), ("tile_m", 144), ("tile_m", 256), ("tile_m", 64)])
    # each candidate differs from the parent in exactly one parameter
    diff = sum((cand[p.name] != parent[p.name][0]).astype(int) for p in PARAMS)
    assert np.all(diff == 1)


def test_compound_moves(scfg):
    # BASE: pe 16 x 16, 3 CUs, 4 weight and 2 input channels per CU; pe_m and pe_n in powers of
    # two 4..64, CUs 1..12, channels 1..32 searched.
    space = fixed_space(pe_m={"powers_of_two": [4, 64]}, pe_n={"powers_of_two": [4, 64]},
                        compute_units={"low": 1, "high": 12}, pc_weights={"low": 1, "high": 32},
                        pc_inputs={"low": 1, "high": 32})
    parent = design_batch([BASE], scfg.platform)
    cand = neighbours(space, parent)
    names = ("pe_m", "pe_n", "compute_units", "pc_weights", "pc_inputs")
    base = tuple(BASE[k] for k in names)
    moves = {tuple(int(cand[k][i]) for k in names) for i in range(len(cand["pe_m"]))}
    several = {m for m in moves if sum(a != b for a, b in zip(m, base, strict=True)) > 1}
    assert several == {
        # engine size with CU count: pe x 2 with 3 // 2 = 1 or (3 + 1) // 2 = 2 CUs; pe / 2 with 6
        (32, 16, 1, 4, 2), (32, 16, 2, 4, 2), (8, 16, 6, 4, 2),
        (16, 32, 1, 4, 2), (16, 32, 2, 4, 2), (16, 8, 6, 4, 2),
        # channels with CUs (12 weight and 6 input channels in all): 2 CUs x (6, 3), 4 x (3, 1),
        # 6 x (2, 1), 1 x (12, 6) -- per CU floor(channels x 3 / CUs), at least 1
        (16, 16, 2, 6, 3), (16, 16, 4, 3, 1), (16, 16, 6, 2, 1), (16, 16, 1, 12, 6),
        # PE shape: one factor doubled, the other halved
        (32, 8, 3, 4, 2), (8, 32, 3, 4, 2),
    }
    # without the compound moves only one parameter changes at a time
    single = neighbours(space, parent, compound=False)
    diff = sum((single[p.name] != parent[p.name][0]).astype(int) for p in PARAMS)
    assert np.all(diff == 1)


def test_refine_reaches_the_exhaustive_front_of_a_small_space(scfg, smodel):
    # A small space enumerated by brute force (an independent method): PE factors, CU count and
    # weight channels. The clock is chosen per design, so every design is at its best clock
    # and refinement from one corner must reach the whole front of the space. One front design
    # (PE 32x4, 3 CUs, 4 weight channels) lies two moves from every other front design, through
    # a dominated one: the search keeps the designs within ROI_SLACK (3%) of the front, as the
    # workflow's region-of-interest pass does, and the front of what it keeps is compared.
    searched = dict(pe_m={"powers_of_two": [4, 64]}, pe_n={"powers_of_two": [4, 32]},
                    compute_units={"low": 1, "high": 6}, pc_weights={"low": 1, "high": 8})
    space = fixed_space(**searched)
    grid = Grid({**{k: [v] for k, v in BASE.items()},
                 "pe_m": [4, 8, 16, 32, 64], "pe_n": [4, 8, 16, 32],
                 "compute_units": list(range(1, 7)), "pc_weights": list(range(1, 9))})
    every = grid.decode(np.arange(grid.size))
    rows = results_frame(smodel, every, smodel.evaluate(every), design_id("g", np.arange(
        grid.size)))
    best = objective_matrix(front(rows, scfg.objectives), scfg.objectives)
    start = design_batch([{**BASE, "pe_m": 4, "pe_n": 4, "compute_units": 1, "pc_weights": 1}],
                         scfg.platform)
    res = refine(smodel, space, scfg.objectives, start, max_evaluations=grid.size,
                 slack=ROI_SLACK)
    kept = moocore.is_nondominated(np.ascontiguousarray(res.points), keep_weakly=True)
    # the same front points (designs with equal objectives may differ: compare the points)
    got, want = np.unique(res.points[kept], axis=0), np.unique(best, axis=0)
    assert res.evaluations < grid.size
    assert got.shape == want.shape and np.allclose(got, want, rtol=1e-6)


def test_never_loses_a_front_design(scfg, smodel, sweep_rows):
    settings = search.settings_from_config(scfg)
    start = front(sweep_rows, scfg.objectives)
    for budget in (0, 50, 3000):
        out, res = refine_frame(smodel, settings.space, scfg.objectives, sweep_rows,
                                max_evaluations=budget)
        assert res.evaluations <= budget
        a = objective_matrix(start, scfg.objectives)
        b = objective_matrix(out, scfg.objectives)
        # every starting front point is weakly dominated by an output point
        weakly = (b[None, :, :] <= a[:, None, :] + 1e-12).all(axis=2).any(axis=1)
        assert weakly.all()
        assert out["feasible"].all()
    assert (out["source"] == "refine").any(), "3000 evaluations find a better design"
    assert out["design_id"].is_unique


def test_refine_is_deterministic(scfg, smodel, sweep_rows):
    settings = search.settings_from_config(scfg)
    a, _ = refine_frame(smodel, settings.space, scfg.objectives, sweep_rows, max_evaluations=2000)
    b, _ = refine_frame(smodel, settings.space, scfg.objectives, sweep_rows.iloc[::-1],
                        max_evaluations=2000)
    assert a.equals(b)
    # with walks from diverse starts and the region-of-interest pass too
    kw = dict(max_evaluations=500, walk_caps=(0.6, 0.95), quality_max=1.0, walk_starts=2,
              roi_evaluations=500, latency_max=1000.0)
    a, ra = refine_frame(smodel, settings.space, scfg.objectives, sweep_rows, **kw)
    b, _ = refine_frame(smodel, settings.space, scfg.objectives, sweep_rows.iloc[::-1], **kw)
    assert a.equals(b) and ra.walk_evaluations > 0 and 0 < ra.roi_evaluations <= 500


def test_design_hash_tells_designs_apart(scfg):
    grid = Grid(scfg.raw["sweep"]["space"])
    batch = grid.decode(np.arange(grid.size))
    h = design_hash(batch)
    assert np.unique(h).size == grid.size
    assert np.array_equal(h, design_hash(batch))


def test_command_writes_the_search_columns(tmp_path, capsys, sweep_rows, scfg):
    rows = tmp_path / "rows.parquet"
    store.write_table(front(sweep_rows, scfg.objectives), rows)
    out = tmp_path / "refine.parquet"
    code = main(["refine", "--config", str(SEARCH_CONFIG), "--in", str(rows), "--out", str(out),
                 "--max-evaluations", "500"])
    stdout, _ = capsys.readouterr()
    assert code == 0
    summary = json.loads(stdout.splitlines()[0])
    assert summary["evaluations"] <= 500
    frame = store.read_table(out)
    assert list(frame.columns) == ["design_id", *[p.name for p in PARAMS], *FIGURES,
                                   "trial_number", "source"]
    assert set(frame["source"]) <= {"refine", "sweep"}
    assert main(["refine", "--config", str(SEARCH_CONFIG), "--in", str(rows), "--out", str(out),
                 "--max-evaluations", "-1"]) == 2


def test_rounds_expand_the_designs_best_in_some_objective_first(monkeypatch):
    from dse import refine as refine_module

    monkeypatch.setattr(refine_module, "ROUND_PARENTS", 2)
    # a 2-objective front of 4 designs: 0 and 3 are the extremes (rank 0 in one objective each)
    points = np.array([[1.0, 9.0], [2.0, 5.0], [3.0, 4.0], [9.0, 1.0]])
    expanded = np.zeros(4, dtype=bool)
    assert refine_module._parents(points, expanded).tolist() == [0, 3]
    expanded[[0, 3]] = True
    # then the next best ranks: design 1 (rank 1 in the first) ties design 2 (rank 1 in the
    # second): both go
    assert refine_module._parents(points, expanded).tolist() == [1, 2]


def test_the_mapping_a_row_records_is_not_part_of_the_design(scfg, sweep_rows):
    from dse.params import MAPPING_PARAMS, UNIFORM_DEFAULTS
    from dse.results import batch_from_frame
    from dse.search.space import hardware_only

    batch = batch_from_frame(sweep_rows)
    for name in MAPPING_PARAMS:
        batch[name] = np.full(len(sweep_rows), 4)      # as if the mapper had chosen 4
    hw = hardware_only(batch)
    assert all((hw[n] == UNIFORM_DEFAULTS[n]).all() for n in MAPPING_PARAMS)
    assert np.array_equal(design_hash(hw), design_hash(hardware_only(batch_from_frame(sweep_rows))))


def test_workflow_refines_between_the_search_and_the_front(tmp_path):
    # dry run of the default workflow on the search test config: refine reads the sweep front
    # and every search worker, and the front (pareto) reads refine's output
    import subprocess
    import sys

    import yaml

    raw = yaml.safe_load(SEARCH_CONFIG.read_text())
    for key in ("platform", "model"):
        raw[key] = str((SEARCH_CONFIG.parent / raw[key]).resolve())
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile",
                           str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--configfile",
                           str(config), "-n", "-p", "--cores", "1",
                           "results/pareto/front.parquet"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    refine = next(x for x in lines if "dse refine" in x)
    assert "results/pareto/sweep_front.parquet" in refine
    assert all(f"results/search/worker-{w}.parquet" in refine for w in (0, 1))
    pareto = next(x for x in lines
                  if "dse pareto" in x and "--out results/pareto/front.parquet" in x)
    assert "results/search/refine.parquet" in pareto


def test_walks_end_the_refinement_at_a_greedy_local_optimum(scfg, sweep_rows):
    # After the rounds, a greedy latency walk per cap starts from the refined front's fastest
    # tier design within that cap. So with the walks, a walk started there again finds nothing
    # faster: no one-parameter move of the front's fastest tier design within the cap is a
    # feasible, in-tier, within-cap speed-up (that is the walk's stopping rule).
    from dse.walk import greedy_walk, quality_bound, take_rows

    model = scfg.model()
    space = search.settings_from_config(scfg).space
    # cap 0.9: under MODEL_VERSION 2.1.0 (m_axi data buffers, refitted LUT terms) the tiny
    # grid's feasible tier designs used 78-98% of their fullest SLR, none under 0.6 (2.4.0:
    # 32 lanes instead of 64, from 55%)
    qmax, cap = quality_bound(scfg), 0.9
    rows = front(sweep_rows, scfg.objectives)
    plain, _ = refine_frame(model, space, scfg.objectives, rows, max_evaluations=50)
    walked, res = refine_frame(model, space, scfg.objectives, rows, max_evaluations=50,
                               walk_caps=(cap,), quality_max=qmax)
    assert res.walk_evaluations > 0

    def fastest(frame):
        ok = frame["feasible"] & (frame["quality_loss"] <= qmax) & (frame["utilization"] <= cap)
        return frame[ok].sort_values(["latency_ms", "design_id"]).iloc[[0]]

    from dse.results import batch_from_frame
    from dse.search.space import hardware_only

    best = fastest(walked)
    again = greedy_walk(model, space, take_rows(hardware_only(batch_from_frame(best)), [0]),
                        util_cap=cap, quality_max=qmax)
    assert again.rounds <= 1 and again.latency_ms == pytest.approx(best["latency_ms"].item())
    # and the refinement with walks got faster than the front it started from (the tiny
    # config's fastest tier design within the cap: 318.7 ms under MODEL_VERSION 2.4.0; 271.4
    # after the walks). Not necessarily faster than the rounds without walks: those start from
    # the plain front and, on 2.4.0's tiny config, reach another basin (252.8 ms) that no
    # one-parameter move from the walks' end leads to
    assert best["latency_ms"].item() < fastest(rows)["latency_ms"].item()
    assert fastest(plain)["latency_ms"].item() < fastest(rows)["latency_ms"].item()


def test_slack_keeps_designs_just_behind_the_front():
    # front {(1, 1)}; with 3% slack (1.03, 1.03) dominates what lies beyond it in every
    # objective: (1.02, 1.01) is within 3% in latency and kept, (2, 2.5) is dropped, and
    # (1.05, 1.0) is kept (no front point is 3% better in utilization).
    from dse.refine import _kept

    pts = np.array([[1.0, 1.0], [2.0, 2.5], [1.02, 1.01], [1.05, 1.0]])
    assert _kept(pts, 0.0).tolist() == [True, False, False, False]
    assert _kept(pts, 0.03).tolist() == [True, False, True, True]
