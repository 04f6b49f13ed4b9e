"""The search-quality benchmark (benchmarks/search_quality.py) and the greedy walk it compares
with (benchmarks/greedy_walk.py), on the tiny search config with small budgets."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from dse.config import load_config
from dse.model import Model
from tests.test_search import run_cli, write_config

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, file: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gw = _load("greedy_walk", "greedy_walk.py")
# the name dse search-quality registers the script under (dse/commands/search_quality.py)
sq = _load("dse_benchmarks_search_quality", "search_quality.py")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The tiny search config (512-design grid, 2 workers x 60 trials, batches of 20) with a
    refinement budget of 500 evaluations and its greedy walks at two caps from one start each
    (the default's 13 caps x 3 starts took ~10 s of the end-to-end test's two calls)."""
    return write_config(tmp_path, refine={"max_evaluations": 500, "walk_caps": [0.9, 1.0],
                                          "walk_starts": 1})


def test_benchmark_end_to_end_with_a_cached_reference(config, tmp_path, capsys):
    out, cache = tmp_path / "q.json", tmp_path / "cache"
    args = ["search-quality", "--config", config, "--out", out, "--cache", cache,
            "--checkpoints", "40,100", "--plot", tmp_path / "c.png",
            "--reference-chains", "2", "--reference-steps", "20", "--reference-restarts", "1",
            # the reference at two caps with one kick round (the default's 12 caps and 4 rounds
            # took 54 s of the test's first call)
            "--reference-caps", "0.9,1.0", "--reference-kicks", "1",
            # the tiny grid's tier designs use 78-98% of their SLR (MODEL_VERSION 2.1.0)
            "--caps", "0.9,1.0",
            # two seeds per method, not the default three: the median, the per-seed figures and
            # the same-seeds-same-figures check need no third (a third took about 30 s of 86)
            "--seeds", "2"]
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    first = json.loads(out.read_text())
    assert json.loads(stdout) == first
    assert (tmp_path / "c.png").stat().st_size > 0
    assert first["reference"]["reused"] is False and first["grid"]["reused"] is False
    assert (cache / "reference_front.parquet").is_file()
    # the independent reference: 2 chains per cap x (1 start + 20 steps), then coordinate
    # descent from the chains' best and 1 random design per cap (at least one pass each)
    built = first["reference"]["built"]
    assert "annealing" in built["method"] and built["clock"] == "per design, 5 MHz steps"
    caps = len(built["caps"])
    assert built["anneal"]["evaluations"] == caps * 2 * 21
    assert built["descent"]["evaluations"] > caps * 3
    # one kick round from the KEEP (8) best descended designs per cap: 3 per cap here (2 chains
    # and 1 restart), each kicked and descended again (at least one pass each)
    assert built["caps"] == [0.9, 1.0]
    assert built["kicks"]["rounds"] == 1 and built["kicks"]["designs"] == caps * 3
    assert built["kicks"]["evaluations"] > caps * 3
    assert first["grid"]["designs"] == 512  # 2^9: the tiny grid has nine two-valued params
    # the tiny config has no quality objective: no region-of-interest figure
    assert first["bar"]["roi_hv_ratio"] is None
    for method in ("nsgaii", "random"):
        m = first["methods"][method]
        assert m["seeds"] == [0, 1]
        labels = [c["label"] for c in m["checkpoints"]]
        # 2 workers x 60 trials: checkpoints at 40, 100, the end (120) and after refinement
        assert labels == ["warm start", "40 trials", "100 trials", "120 trials", "refined"]
        evals = [c["evaluations"] for c in m["checkpoints"]]
        # refinement spends evaluations: its rounds (budget 500) and then the walks
        assert evals == sorted(evals) and evals[-1] > evals[-2]
        for c in m["checkpoints"]:
            assert len(c["hv_ratio_per_seed"]) == 2
            # before refinement a run may hold no design inside the reference's box (hypervolume
            # 0: under MODEL_VERSION 2.2.0 the tiny config's warm start and its first 40 trials
            # have none, nor have random's 120 on some seeds); the refined front must
            lo = 1e-12 if c["label"] == "refined" else 0.0
            assert all(lo <= r <= 1.2 for r in c["hv_ratio_per_seed"]), c
            assert all(lo <= r <= 1.2 for r in c["hv_ratio_log_per_seed"]), c
            # the median of the per-seed ratios, rounded to 6 decimals (benchmarks/search_quality.py
            # _median): two seeds' mean can end in a 7th-decimal 5, so up to one unit in the 6th
            assert c["hv_ratio"] == pytest.approx(np.median(c["hv_ratio_per_seed"]), abs=1e-6)
        # the best-known front holds the runs' own designs
        assert all(r <= 1 + 1e-9 for r in m["checkpoints"][-1]["hv_ratio_per_seed"])
        # fronts only grow: the hypervolume ratio never falls from one checkpoint to the next
        ratios = np.array([c["hv_ratio_per_seed"] for c in m["checkpoints"]])
        assert (np.diff(ratios, axis=0) >= -1e-9).all()
    for cap, walk in first["greedy"].items():
        assert walk["evaluations"] > 0 and walk["latency_ms"] <= walk["start_latency_ms"]
        assert walk["utilization"] <= float(cap)
    assert all(v is None or v > 0 for v in first["baseline_ratio"].values())
    assert isinstance(first["bar"]["hv_met"], bool)
    # second call: the reference is read back, and the same seeds give the same figures
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    second = json.loads(out.read_text())
    assert second["reference"]["reused"] is True and second["grid"]["reused"] is True
    assert second["reference"]["key"] == first["reference"]["key"]
    for method in ("nsgaii", "random"):
        assert ([c["hv_ratio_per_seed"] for c in second["methods"][method]["checkpoints"]]
                == [c["hv_ratio_per_seed"] for c in first["methods"][method]["checkpoints"]])


def test_reference_is_rebuilt_when_the_config_changes(config, tmp_path):
    setup = sq.make_setup(str(config), gw.CAPS)
    raw = yaml.safe_load(config.read_text())
    raw["search"]["trials_per_worker"] = 40
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(raw))
    assert sq.cache_key(sq.make_setup(str(other), gw.CAPS)) != sq.cache_key(setup)


def test_island_is_what_a_search_worker_samples(config):
    # the benchmark measures what ships: its island (no storage) samples the same trials as
    # dse.search.run_worker with an in-memory study, given the model the worker evaluates with
    from dse.search import run_worker, warm_start_params

    setup = sq.make_setup(str(config), gw.CAPS)
    cfg = load_config(config)
    scan = gw.scan_grid(cfg, setup.model)
    warm_front = sq.grid_front_frame(setup, scan)
    report = run_worker(cfg, setup.settings, worker=1, trials=40, warm_front=warm_front,
                        storage=optuna.storages.InMemoryStorage(), log=lambda s: None)
    shipped = [t.params for t in report.trials]
    warm = warm_start_params(setup.settings.space, warm_front)
    matches = []
    for model in (cfg.model(), Model(cfg.platform, cfg.workload)):  # with the mapper or without
        setup.model = model
        matches.append(sq.run_island(setup, setup.settings, 1, warm, 40).params == shipped)
    assert any(matches)


def test_greedy_walk_stops_at_a_local_optimum_within_its_caps(config):
    # the end design is feasible, within the cap and the quality tier, no slower than the start,
    # and no one-parameter move of it within the same limits is faster (a local optimum)
    from dse.refine import neighbours
    from dse.search import settings_from_config

    cfg = load_config(config)
    model = cfg.model()
    qmax = gw.quality_bound(cfg)
    # cap 0.9: the tiny grid's feasible tier designs use 78-98% of their fullest SLR under
    # MODEL_VERSION 2.1.0 (m_axi data buffers, refitted LUT terms), none under 0.6
    scan = gw.scan_grid(cfg, model, caps=(0.9,))
    walk = gw.walks(cfg, model, scan, caps=(0.9,))[0.9]
    assert walk is not None and walk.rounds >= 1
    assert walk.latency_ms < walk.start_latency_ms
    assert walk.utilization <= 0.9 and walk.quality_loss <= qmax
    assert all(b < a for a, b in zip(walk.path_ms, walk.path_ms[1:], strict=False))
    cand = neighbours(settings_from_config(cfg).space, walk.design)
    c = model.evaluate(cand).columns
    ok = (c["feasible"] & (c["utilization"] <= 0.9) & (c["quality_loss"] <= qmax))
    assert not (ok & (c["latency_ms"] < walk.latency_ms)).any()
    end = model.evaluate(walk.design).columns
    assert bool(end["feasible"][0]) and end["latency_ms"][0] == pytest.approx(walk.latency_ms)


def test_greedy_walk_script_prints_json(config, capsys):
    assert gw.main(["--config", str(config), "--caps", "0.95"]) == 0
    figures = json.loads(capsys.readouterr().out)
    walk = figures["walks"]["0.95"]
    assert walk["utilization"] <= 0.95 and walk["evaluations"] > 0


def test_bad_caps_are_a_one_line_error(config, tmp_path, capsys):
    code, _, err = run_cli(capsys, "search-quality", "--config", config, "--out",
                           tmp_path / "q.json", "--caps", "0.6,1.5")
    assert code == 2 and "--caps" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "search-quality", "--config", config, "--out",
                           tmp_path / "q.json", "--reference-kicks", "-1")
    assert code == 2 and "--reference-kicks" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "search-quality", "--config", config, "--out",
                           tmp_path / "q.json", "--reference-caps", "0.9,2")
    assert code == 2 and "--reference-caps" in err and len(err.strip().splitlines()) == 1


def test_roi_hypervolume_by_hand():
    # budget 150 ms: the region is latency <= 300 ms in the quality tier (quality_loss <= 0.1).
    # Points (latency, utilization, quality): (100, 0.5, 0.1) and (200, 0.2, 0.05) are in it;
    # (90, 0.1, 0.2) is outside the tier and (310, 0.1, 0) beyond 2 x budget. Area dominated up
    # to (300, 1.0): (300 - 100) x (1 - 0.5) + (300 - 200) x (0.5 - 0.2) = 100 + 30 = 130.
    from types import SimpleNamespace

    setup = SimpleNamespace(
        objectives=[("latency_ms", "min"), ("utilization", "min"), ("quality_loss", "min")],
        cfg=SimpleNamespace(raw={"select": {"latency_budget_ms": 150.0}},
                            workload=SimpleNamespace(name="m")), quality_max=0.1)
    pts = np.array([[100, 0.5, 0.1], [200, 0.2, 0.05], [90, 0.1, 0.2], [310, 0.1, 0.0]])
    assert sq.roi_hypervolume(pts, setup) == pytest.approx(130.0)
    assert sq.roi_hypervolume(pts[2:], setup) == 0.0


def test_independent_descent_ends_at_a_coordinate_optimum(config):
    # the reference's coordinate descent: no single parameter of the end design, set to any value
    # of its range, lowers the energy for its cap (checked here value by value)
    ind = sq.ind
    setup = sq.make_setup(str(config), (0.6,))
    space = setup.settings.space
    archive = ind._Archive()
    score = ind._Scorer(setup.model, setup.quality_max, archive)
    start = ind.random_designs(space, np.random.default_rng(3), 1)
    caps = np.array([0.6])
    end, e = ind.coordinate_descent(space, score, start, caps)
    assert e[0] <= score(start, caps)[0]
    from dse.search.space import repair_tiles

    for name, pool in ind._pools(space).items():
        for v in pool[:: max(1, len(pool) // 16)]:
            cand = repair_tiles({**{k: x.copy() for k, x in end.items()},
                                 name: np.array([v])})
            assert score(cand, caps)[0] >= e[0] - 1e-9
    # the archive holds feasible designs only, none dominating another
    cols = setup.model.evaluate(archive.batch).columns
    assert cols["feasible"].all()
