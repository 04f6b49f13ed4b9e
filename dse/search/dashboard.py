"""optuna-dashboard on a dse study, with a vectorised Pareto front.

optuna-dashboard (0.21) recomputes a study's Pareto front on every page load and every "Live
Update" refresh; for three or more objectives it compares every trial with the others in Python
(``optuna_dashboard/_pareto_front.py``): about 5.4 million comparisons and tens of seconds for
the default study's 5,000 trials. :func:`pareto_front_trials` returns the same trials with one
vectorised non-dominance test (moocore), and :func:`serve` starts the dashboard with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import moocore
import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

#: The optuna-dashboard releases whose private front function :func:`serve` replaces.
DASHBOARD_VERSIONS = "0.21"


def pareto_front_trials(
    trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]
) -> list[FrozenTrial]:
    """The complete trials that no other complete trial dominates, in trial order.

    The dashboard's own rule: constraints are not looked at (the dashboard marks infeasible trials
    separately), values are negated for maximised objectives, and trials with equal values do not
    dominate each other (all are kept).

    Args:
        trials: the study's trials (any states).
        directions: the study's directions.

    Returns:
        the non-dominated complete trials.
    """
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    if not done:
        return []
    values = np.array([t.values for t in done], dtype=np.float64)
    sign = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in directions])
    values = values * sign  # minimisation form, as the dashboard normalises
    keep = moocore.is_nondominated(np.ascontiguousarray(values), keep_weakly=True)
    return [t for t, k in zip(done, keep, strict=True) if k]


def serve(storage, *, host: str, port: int, log=print) -> None:
    """Run optuna-dashboard on ``storage`` with :func:`pareto_front_trials` (blocks)."""
    import optuna_dashboard
    from optuna_dashboard import _app

    if hasattr(_app, "get_pareto_front_trials"):
        _app.get_pareto_front_trials = pareto_front_trials
    else:
        log(f"dse dashboard: optuna-dashboard {optuna_dashboard.__version__} has no front "
            f"function to replace (made for {DASHBOARD_VERSIONS}); it computes its own")
    optuna_dashboard.run_server(storage, host=host, port=port)


__all__ = ["DASHBOARD_VERSIONS", "pareto_front_trials", "serve"]
