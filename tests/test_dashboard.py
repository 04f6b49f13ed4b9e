"""dse dashboard's Pareto front (dse.search.dashboard) is optuna-dashboard's, computed at once."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState, create_trial

from dse.cli import main
from dse.search.dashboard import pareto_front_trials

MIN3 = [StudyDirection.MINIMIZE] * 3


def _trials(values, states=None):
    dists = {}
    return [create_trial(state=(states[i] if states else TrialState.COMPLETE),
                         values=None if (states and states[i] != TrialState.COMPLETE) else v,
                         params={}, distributions=dists) for i, v in enumerate(values)]


def _brute_force(values, directions):
    """Independent: i is kept unless some j is <= everywhere and < somewhere (min form)."""
    v = np.asarray(values, float) * np.array([-1 if d == StudyDirection.MAXIMIZE else 1
                                               for d in directions])
    le = (v[:, None, :] <= v[None, :, :]).all(2)
    lt = (v[:, None, :] < v[None, :, :]).any(2)
    dominated = (le & lt).any(0)
    return [i for i in range(len(v)) if not dominated[i]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_front_equals_brute_force_with_ties_and_mixed_directions(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 6, size=(300, 3)).astype(float)  # many ties and duplicates
    directions = [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    trials = _trials(values.tolist())
    for i, t in enumerate(trials):
        t.number = i
    got = [t.number for t in pareto_front_trials(trials, directions)]
    assert got == _brute_force(values, directions)


def test_only_complete_trials_count():
    trials = _trials([[1, 1, 1], [0, 0, 0], [2, 0, 2]],
                     states=[TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE])
    for i, t in enumerate(trials):
        t.number = i
    assert [t.number for t in pareto_front_trials(trials, MIN3)] == [0, 2]


def test_same_front_as_optuna_dashboard_when_installed():
    dash = pytest.importorskip("optuna_dashboard._pareto_front")
    rng = np.random.default_rng(5)
    study = optuna.create_study(directions=["minimize"] * 3)
    for v in rng.integers(0, 8, size=(200, 3)).astype(float).tolist():
        study.add_trial(create_trial(values=v, params={}, distributions={}))
    trials = study.get_trials()
    ours = [t.number for t in pareto_front_trials(trials, study.directions)]
    theirs = [t.number for t in dash.get_pareto_front_trials(trials, study.directions)]
    assert ours == theirs


def test_dashboard_without_the_package_is_a_one_line_error(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "optuna_dashboard" else real(name, *a))
    from tests.conftest import CONFIG

    assert main(["dashboard", "--config", str(CONFIG)]) == 2
    err = capsys.readouterr().err
    assert "pip install optuna-dashboard" in err and "\n" not in err.strip()
