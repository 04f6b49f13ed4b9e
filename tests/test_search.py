"""The Optuna search: the large space, parallel workers on one journal study, resuming, constraints,
the warm start, the export, and one-line errors (exit 2) for bad settings."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

from dse import search, store
from dse.cli import main
from dse.config import load_config
from dse.errors import UserError
from dse.model import Model
from dse.params import PARAMS
from dse.pareto import front
from dse.results import FIGURES, results_frame
from dse.space import Grid, design_id

ROOT = Path(__file__).resolve().parent.parent
SEARCH_CONFIG = ROOT / "tests" / "data" / "search_config.yaml"

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def scfg():
    return load_config(SEARCH_CONFIG)


@pytest.fixture(scope="module")
def settings(scfg):
    return search.settings_from_config(scfg)


@pytest.fixture(scope="module")
def smodel(scfg):
    return Model(scfg.platform, scfg.workload)


def write_config(tmp_path: Path, **search_changes) -> Path:
    """The test config with absolute platform/model paths and changed search settings."""
    raw = yaml.safe_load(SEARCH_CONFIG.read_text())
    raw["platform"] = str((SEARCH_CONFIG.parent / raw["platform"]).resolve())
    raw["model"] = str((SEARCH_CONFIG.parent / raw["model"]).resolve())
    raw["search"].update(search_changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def journal_trials(settings, path: Path) -> list[optuna.trial.FrozenTrial]:
    storage = search.open_storage(str(path))
    study = optuna.load_study(study_name=settings.study_name, storage=storage)
    return study.get_trials(deepcopy=False)


# ------------------------------------------------------------------------------------ space
def test_large_space_covers_every_parameter_and_exceeds_a_billion(settings):
    space = settings.space
    assert [d.param.name for d in space.dims] == [p.name for p in PARAMS]
    # distinct designs after the tile repair; still far above 10^9 (issue: "more than 10^9")
    assert space.size > 10**9
    assert space.size <= space.size_raw


def test_size_counts_distinct_repaired_designs():
    # pe 1|2, tile 1..4 -> pe 1: tiles 1,2,3,4; pe 2: tiles 2,2,4,4 -> 2 distinct; 6 pairs per dim
    space = {p.name: [p.choices[0]] if p.kind == "cat" else [False] if p.kind == "bool"
             else [max(p.low, 1)] for p in PARAMS}
    space["clock_mhz"] = [300]
    for d in "mnk":
        space[f"pe_{d}"] = [1, 2]
        space[f"tile_{d}"] = {"low": 1, "high": 4}
    sp = search.SearchSpace(space)
    assert sp.size_raw == 8**3
    assert sp.size == 6**3


def test_decode_repairs_tiles_deterministically(settings):
    sampler = optuna.samplers.RandomSampler(seed=1)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    trials = [study.ask(settings.space.distributions) for _ in range(500)]
    params = [t.params for t in trials]
    a, b = settings.space.decode(params), settings.space.decode(params)
    for d in "mnk":
        assert np.all(a[f"tile_{d}"] % a[f"pe_{d}"] == 0)
        assert np.all(a[f"tile_{d}"] >= a[f"pe_{d}"])
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_sweep_designs_encode_into_the_large_space(scfg, settings):
    grid = Grid(scfg.raw["sweep"]["space"])
    batch = grid.decode(np.arange(grid.size))
    params = settings.space.encode(batch)
    assert all(p is not None for p in params)
    back = settings.space.decode(params)
    assert all(np.array_equal(back[k], batch[k]) for k in batch)


# ------------------------------------------------------------------------------ constraints
def test_constraints_keep_infeasible_designs_out_of_the_front(settings, smodel, scfg):
    study = optuna.create_study(directions=["minimize", "minimize"],
                                sampler=optuna.samplers.NSGAIISampler(seed=3, population_size=50))
    values, feasible = search.optimize(study, settings.space, smodel, scfg.objectives, 300,
                                       batch_size=50)
    trials = study.get_trials(deepcopy=False)
    assert (~feasible).any() and feasible.any(), "the check needs both kinds of designs"
    # the constraint is > 0 exactly for the designs the model calls infeasible
    cons = np.array([t.constraints[search.CONSTRAINT] for t in trials])
    assert np.array_equal(cons > 0, ~feasible)
    # Optuna's front (best_trials) and dse's front of the exported table are feasible only
    assert study.best_trials
    assert all(t.constraints[search.CONSTRAINT] <= 0 for t in study.best_trials)
    frame = search.export_frame(smodel, settings.space, trials)
    fr = front(frame, scfg.objectives)
    assert len(fr) and fr["feasible"].all()


def test_constraint_values_are_positive_for_every_violation():
    cols = {"feasible": np.array([True, False, False, False]),
            "violation_used": np.array([0.0, 33.0, 3429.0, 1.0]),
            "violation_limit": np.array([0.0, 32.0, 3428.0, 0.0])}
    c = search.constraint_values(cols)
    assert c[0] == 0.0
    assert np.all(c[1:] > 0)
    assert c[1] == pytest.approx(33 / 32 - 1)


def test_constraint_grows_with_every_broken_limit(scfg, smodel):
    from dse.space import design_batch

    base = {"weight_precision": "INT8", "act_precision": "INT8", "pe_m": 16, "pe_n": 16,
            "pe_k": 16, "tile_m": 128, "tile_n": 128, "tile_k": 256, "dataflow": "mnk",
            "pc_weights": 4, "pc_inputs": 2, "pc_outputs": 1, "share_weights": False,
            "compute_units": 3, "double_pump": True, "buffer_storage": "bram",
            "double_buffer": True, "fuse_attention": False, "vector_lanes": 32, "clock_mhz": 300}
    designs = [base,
               {**base, "clock_mhz": 400},                                   # DSP clock only
               {**base, "clock_mhz": 400, "pc_weights": 16, "pc_inputs": 16}]  # and channels
    batch = design_batch(designs, scfg.platform)
    cols = smodel.evaluate(batch).columns
    assert cols["feasible"].tolist() == [True, False, False]
    graded = search.constraint_values(cols, batch, scfg.platform)
    first_only = search.constraint_values(cols)
    assert graded[0] == 0.0 and 0 < graded[1] < graded[2]
    # the model reports only the first broken limit (the DSP clock) for both
    assert first_only[1] == pytest.approx(first_only[2])
    assert graded[1] == pytest.approx(2 * 400 / scfg.platform.dsp_max_mhz - 1)


# ---------------------------------------------------------------------- parallel workers
def _dse(*args: str) -> list[str]:
    return [sys.executable, "-m", "dse.cli", *args]


def test_two_worker_processes_share_one_journal_study(tmp_path, settings):
    journal = tmp_path / "study.journal"
    procs = [subprocess.Popen(_dse("search", "--config", str(SEARCH_CONFIG), "--worker", str(w),
                                   "--out", str(tmp_path / f"worker-{w}.parquet"),
                                   "--storage", str(journal), "--trials", "60"),
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for w in (0, 1)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    trials = journal_trials(settings, journal)
    # total as requested, none lost, none duplicated, none left running
    assert len(trials) == 120
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(120))
    per_worker = pd.Series([t.user_attrs["worker"] for t in trials]).value_counts()
    assert per_worker.to_dict() == {0: 60, 1: 60}
    # each worker exports its own trials: disjoint, together the whole study
    frames = [store.read_table(tmp_path / f"worker-{w}.parquet") for w in (0, 1)]
    assert [len(f) for f in frames] == [60, 60]
    numbers = pd.concat([f["trial_number"] for f in frames])
    assert numbers.is_unique and set(numbers) == set(range(120))
    # the two workers sampled different designs (seed + worker)
    keys = [f[[p.name for p in PARAMS]].astype(str).agg("|".join, axis=1) for f in frames]
    assert len(set(keys[0]) & set(keys[1])) < 5


def test_other_workers_trials_join_the_current_generation(settings, smodel, scfg):
    # NSGA-II ignores trials of a generation it has already selected parents from; trials other
    # workers finished meanwhile must join this worker's current generation to be used at all
    storage = optuna.storages.InMemoryStorage()
    shared = search.open_study(settings, scfg.objectives, storage=storage)
    mirrors = []
    for w in (0, 1):
        local = optuna.create_study(directions=["minimize", "minimize"],
                                    sampler=search.make_sampler("nsgaii", seed=w, batch_size=20))
        mirrors.append(search.Mirror(shared, storage, local, w))
        mirrors[-1].pull()
    for _ in range(3):  # worker 0 runs three generations before worker 1 pulls
        res = search.ask_tell(mirrors[0].local, settings.space, smodel, scfg.objectives, 20)
        mirrors[0].push(res.trials, source="search:nsgaii")
    res = search.ask_tell(mirrors[1].local, settings.space, smodel, scfg.objectives, 20)
    mirrors[1].push(res.trials, source="search:nsgaii")
    assert mirrors[1].pull() == 60
    key = "NSGAIISampler:generation"
    local = mirrors[1].local.get_trials(deepcopy=False)
    own_generation = max(t.system_attrs[key] for t in local if t.user_attrs.get("worker") is None)
    migrants = [t for t in local if t.user_attrs.get("worker") == 0]
    assert len(migrants) == 60
    assert {t.system_attrs[key] for t in migrants} == {own_generation}
    # the shared study keeps each trial as its worker made it
    shared_generations = {t.system_attrs[key] for t in shared.get_trials(deepcopy=False)
                          if t.user_attrs["worker"] == 0}
    assert shared_generations == {0, 1, 2}


def test_export_has_the_sweep_columns_plus_trial_number_and_source(tmp_path, settings):
    out = tmp_path / "w.parquet"
    code = main(["search", "--config", str(SEARCH_CONFIG), "--worker", "0", "--out", str(out),
                 "--storage", str(tmp_path / "s.journal"), "--trials", "20"])
    assert code == 0
    frame = store.read_table(out)
    expected = ["design_id", *[p.name for p in PARAMS], *FIGURES, "trial_number", "source"]
    assert list(frame.columns) == expected
    assert frame["trial_number"].dtype == np.int64
    assert set(frame["source"]) == {"search:nsgaii"}
    assert frame["design_id"].is_unique
    meta = store.read_metadata(out)
    assert meta["study_name"] == settings.study_name and meta["worker"] == 0


# ----------------------------------------------------------------------------------- resume
def test_stopped_search_continues_on_rerun(tmp_path, settings):
    journal = tmp_path / "study.journal"
    args = ["search", "--config", str(SEARCH_CONFIG), "--worker", "0",
            "--out", str(tmp_path / "w0.parquet"), "--storage", str(journal)]
    proc = subprocess.Popen(_dse(*args, "--trials", "100000"), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:  # stop it once a few batches are in the study (like a cancelled Snakemake job)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if journal.exists() and journal.read_bytes().count(b'"op_code":4') >= 60:
                break
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode != 0
    before = journal_trials(settings, journal)
    n = len(before)
    assert n >= 60 and all(t.state.is_finished() for t in before)  # nothing left RUNNING
    snapshot = {t.number: (t.params, t.values) for t in before}
    code = main([*args, "--trials", str(n + 40)])
    assert code == 0
    after = journal_trials(settings, journal)
    assert len(after) == n + 40
    assert {t.number: (t.params, t.values) for t in after if t.number in snapshot} == snapshot
    # rerunning with the same request adds nothing
    assert main([*args, "--trials", str(n + 40)]) == 0
    assert len(journal_trials(settings, journal)) == n + 40


# ------------------------------------------------------------------------------ warm start
def test_warm_start_enqueues_the_front_once(tmp_path, scfg, smodel, settings):
    grid = Grid(scfg.raw["sweep"]["space"])
    index = np.arange(grid.size)
    batch = grid.decode(index)
    frame = results_frame(smodel, batch, smodel.evaluate(batch), design_id("g", index))
    sweep_front = front(frame, scfg.objectives)
    assert len(sweep_front) >= 1
    store.write_table(sweep_front, tmp_path / "front.parquet")
    args = ["search", "--config", str(SEARCH_CONFIG), "--worker", "0",
            "--out", str(tmp_path / "w0.parquet"), "--storage", str(tmp_path / "s.journal"),
            "--warm-start", str(tmp_path / "front.parquet")]
    assert main([*args, "--trials", "20"]) == 0
    exported = store.read_table(tmp_path / "w0.parquet")
    warm = exported[exported["source"] == search.SOURCE_WARM]
    assert len(warm) == len(sweep_front)
    # the warm-started designs are the front's designs, with the sweep's figures
    cols = ["latency_ms", "utilization"]
    assert np.allclose(np.sort(warm[cols].to_numpy(), axis=0),
                       np.sort(sweep_front[cols].to_numpy(), axis=0))
    assert (exported["source"] == "search:nsgaii").sum() == 20
    assert main([*args, "--trials", "40"]) == 0   # rerun: no second warm start
    again = store.read_table(tmp_path / "w0.parquet")
    assert (again["source"] == search.SOURCE_WARM).sum() == len(sweep_front)
    assert len(again) == len(sweep_front) + 40


# --------------------------------------------------------------------------- bad settings
@pytest.mark.parametrize(("change", "key", "shown"), [
    ({"sampler": "cmaes"}, "search.sampler", "cmaes"),
    ({"trials_per_worker": 0}, "search.trials_per_worker", "0"),
    ({"batch_size": -5}, "search.batch_size", "-5"),
    ({"storage": "postgresql://dse:s3cret@127.0.0.1:9/optuna"}, "search.storage",
     "postgresql://dse:***@127.0.0.1:9/optuna"),
    ({"storage": "sqlite:////nonexistent-dir/x/study.db", "workers": 1}, "search.storage",
     "sqlite:////nonexistent-dir/x/study.db"),
    ({"storage": "sqlite:///study.db", "workers": 2}, "search.storage", "sqlite:///study.db"),
    ({"space_extra": 1}, "search", "space_extra"),
    ({"tpe": {"multivariate": "yes"}}, "search.tpe.multivariate", "yes"),
    ({"space": "drop pe_n"}, "search.space.pe_n", None),
    ({"space": "pe_m below 1"}, "search.space.pe_m", "0"),
    ({"space": "tile_k not a power of two"}, "search.space.tile_k.powers_of_two[1]", "1000"),
    ({"space": "range for a categorical"}, "search.space.dataflow", None),
])
def test_bad_settings_exit_2_with_one_line(tmp_path, capsys, change, key, shown):
    if "space" in change:
        change = {"space": _broken_space(change["space"])}
    config = write_config(tmp_path, **change)
    code, out, err = run_cli(capsys, "search", "--config", config, "--worker", "0",
                             "--out", tmp_path / "w.parquet")
    assert code == 2
    line = err.strip()
    assert "\n" not in line and line.startswith("dse search: error:")
    assert key in line
    if shown is not None:
        assert shown in line
    assert "s3cret" not in err + out
    assert not (tmp_path / "w.parquet").exists()


def _broken_space(how: str) -> dict:
    space = yaml.safe_load(SEARCH_CONFIG.read_text())["search"]["space"]
    if how == "drop pe_n":
        del space["pe_n"]
    elif how == "pe_m below 1":
        space["pe_m"] = {"low": 0, "high": 8}
    elif how == "tile_k not a power of two":
        space["tile_k"] = {"powers_of_two": [16, 1000]}
    else:
        space["dataflow"] = {"low": 1, "high": 3}
    return space


@pytest.mark.parametrize(("args", "key"), [
    (["--trials", "0"], "--trials"),
    (["--worker", "2"], "--worker"),
    (["--sampler", "grid"], "--sampler"),
    (["--storage", ""], "--storage"),
])
def test_bad_command_line_exits_2(tmp_path, capsys, args, key):
    base = ["search", "--config", SEARCH_CONFIG, "--out", tmp_path / "w.parquet",
            "--storage", tmp_path / "s.journal"]
    if "--worker" not in args:
        base += ["--worker", "0"]
    code, _, err = run_cli(capsys, *base, *args)
    assert code == 2
    assert key in err and len(err.strip().splitlines()) == 1


def test_passwords_are_masked():
    assert search.mask_url("postgresql://u:pw@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert search.mask_url("mysql+pymysql://u@db/x") == "mysql+pymysql://u@db/x"
    assert search.mask_url("results/search/study.journal") == "results/search/study.journal"


def test_another_configs_study_is_refused(tmp_path, capsys):
    journal = tmp_path / "s.journal"
    base = ["search", "--worker", "0", "--out", tmp_path / "w.parquet", "--storage", journal,
            "--study-name", "shared", "--trials", "5"]
    assert run_cli(capsys, *base, "--config", SEARCH_CONFIG)[0] == 0
    raw_space = yaml.safe_load(SEARCH_CONFIG.read_text())["search"]["space"]
    raw_space["clock_mhz"] = [300]
    other = write_config(tmp_path, space=raw_space)
    code, _, err = run_cli(capsys, *base, "--config", other)
    assert code == 2 and "search.study_name" in err


def test_samplers_get_seed_plus_worker(settings):
    for name in search.SAMPLERS:
        s = search.make_sampler(name, seed=settings.seed + 1, batch_size=20)
        assert s is not None
    with pytest.raises(UserError):
        search.make_sampler("cmaes", seed=0, batch_size=20)


def test_search_quality_runs_on_a_tiny_budget(tmp_path, capsys):
    out = tmp_path / "q.json"
    code, stdout, err = run_cli(capsys, "search-quality", "--config", write_config(tmp_path),
                                "--out", out, "--budgets", "40", "--seeds", "1",
                                "--batch-size", "20", "--samplers", "nsgaii,random", "--jobs", "1")
    assert code == 0, err
    figures = json.loads(out.read_text())
    assert set(figures["grid"]["hv_ratio_median"]) == {"nsgaii", "random"}
    assert 0 < figures["grid"]["hv_ratio_median"]["nsgaii"]["40"] <= 1 + 1e-9
    assert figures["large"]["vs_random"]["random"]["40"] in (1.0, None)
