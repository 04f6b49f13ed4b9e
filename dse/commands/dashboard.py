"""dse dashboard: optuna-dashboard on the run's study, with a vectorised Pareto front."""

from __future__ import annotations

import argparse
import importlib.util

from dse.config import load_config
from dse.errors import UserError

HELP = "serve optuna-dashboard on the run's Optuna study (pip install optuna-dashboard)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="run configuration (results/config.yaml)")
    p.add_argument("--storage", default=None,
                   help="journal file or RDB URL (default: the config's search.storage)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (8080)")


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("optuna_dashboard") is None:
        raise UserError("optuna-dashboard is not installed", key="dse dashboard",
                        allowed="pip install optuna-dashboard (not a dependency of dse)")
    if not 0 < args.port < 65536:
        raise UserError("not a port", key="--port", value=args.port, allowed="1..65535")
    from dse.search import settings_from_config
    from dse.search.dashboard import serve
    from dse.search.storage import open_storage

    settings = settings_from_config(load_config(args.config), storage=args.storage)
    storage = open_storage(settings.storage, key=settings.storage_key)
    print(f"dse dashboard: study {settings.study_name} in {settings.storage_shown} on "
          f"http://{args.host}:{args.port}/")
    serve(storage, host=args.host, port=args.port)
    return 0
