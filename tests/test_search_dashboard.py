"""The shared study as Optuna's tools read it: objective names, readable parameters, constraints
where optuna-dashboard looks for them (0.21: the trial system attribute ``constraints``, a list,
in ``optuna_dashboard/_serializer.py``; Optuna 5 reads that form as well)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.study._constrained_optimization import _get_constraints_from_system_attrs

from dse import search
from dse.cli import main
from dse.config import load_config
from dse.params import PARAM_NAMES

ROOT = Path(__file__).resolve().parent.parent
SEARCH_CONFIG = ROOT / "tests" / "data" / "search_config.yaml"


def _study(tmp_path):
    journal = tmp_path / "s.journal"
    code = main(["search", "--config", str(SEARCH_CONFIG), "--worker", "0", "--out",
                 str(tmp_path / "w.parquet"), "--storage", str(journal), "--trials", "200"])
    assert code == 0
    settings = search.settings_from_config(load_config(SEARCH_CONFIG))
    storage = search.open_storage(str(journal))
    return settings, optuna.load_study(study_name=settings.study_name, storage=storage)


def test_study_names_objectives_parameters_and_marks_infeasible_trials(tmp_path):
    settings, study = _study(tmp_path)
    cfg = load_config(SEARCH_CONFIG)
    assert study.metric_names == [name for name, _ in cfg.objectives]
    trials = study.get_trials(deepcopy=False)
    assert trials
    # every Optuna parameter is a design parameter, under its own name (no log2_pe_m)
    names = {n for t in trials for n in t.params}
    assert names <= set(PARAM_NAMES)
    # powers of two are stored as the value the design uses: pe_m = 32, not its exponent 5
    dist = settings.space.by_param["pe_m"].distribution
    assert isinstance(dist, CategoricalDistribution)
    assert all(t.params["pe_m"] & (t.params["pe_m"] - 1) == 0 for t in trials if "pe_m" in t.params)
    # constraints: the list optuna-dashboard shows; > 0 exactly for the model's infeasible
    # designs (the search test config has both kinds)
    frame = search.export_frame(cfg.model(), settings.space, trials)
    feasible = dict(zip(frame["trial_number"], frame["feasible"], strict=True))
    kinds = set()
    for t in trials:
        listed = t.system_attrs["constraints"]
        assert isinstance(listed, list) and len(listed) == 1
        assert (listed[0] > 0) == (not feasible[t.number])
        kinds.add(bool(feasible[t.number]))
        # Optuna 5 reads the same list: study.best_trials keeps feasible trials only
        assert list(_get_constraints_from_system_attrs(t.system_attrs).values()) == listed
    assert kinds == {True, False}
    best = {t.number for t in study.best_trials}
    assert best and all(feasible[n] for n in best)


def test_a_pow2_parameter_decodes_from_its_value(tmp_path):
    settings = search.settings_from_config(load_config(SEARCH_CONFIG))
    space = settings.space
    dim = space.by_param["pe_m"]
    params = {d.optuna_name: (d.distribution.choices[-1] if isinstance(
        d.distribution, CategoricalDistribution) else d.distribution.high)
        for d in space.dims if d.searched}
    batch = space.decode([params])
    assert int(batch["pe_m"][0]) == int(dim.values[-1])
    # encode is the inverse on a design the space holds
    assert space.encode(batch)[0]["pe_m"] == int(dim.values[-1])
