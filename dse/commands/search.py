"""``dse search``: one worker (island) of the shared Optuna study; exports its trials to Parquet."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

HELP = "run one Optuna search worker on the configured study (resumable) and export its trials"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the worker's options."""
    parser.add_argument("--config", required=True, help="main config YAML (its search: section)")
    parser.add_argument("--worker", required=True, type=int, metavar="W",
                        help="worker index 0..workers-1 (seed = search.seed + W)")
    parser.add_argument("--out", required=True,
                        help="Parquet file of this worker's trials "
                             "(e.g. results/search/worker-0.parquet)")
    parser.add_argument("--warm-start", metavar="FRONT",
                        help="sweep front Parquet: generation 0 of every worker's island "
                             "(ignored when search.warm_start is false)")
    parser.add_argument("--trials", type=int, metavar="N",
                        help="sampled trials of this worker (default search.trials_per_worker)")
    parser.add_argument("--storage", metavar="PATH_OR_URL",
                        help="override search.storage (journal file path or RDB URL)")
    parser.add_argument("--sampler", help="override search.sampler (tpe, nsgaii, random)")
    parser.add_argument("--study-name", help="override search.study_name")


def _stop_on_sigterm() -> None:
    """SIGTERM (Snakemake cancelling a job) stops like Ctrl-C: the batch in flight is dropped,
    the shared study keeps every finished trial and no storage lock is left behind."""

    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _log(line: str) -> None:
    print(line, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Load the config, run the worker, export its trials, print a JSON summary line."""
    import optuna

    from dse import search, store
    from dse.config import load_config
    from dse.errors import UserError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _stop_on_sigterm()
    store.check_output(args.out)
    if args.trials is not None and args.trials < 1:
        raise UserError("must be positive", key="--trials", value=args.trials,
                        allowed="an integer >= 1")
    cfg = load_config(args.config)
    settings = search.settings_from_config(cfg, storage=args.storage, sampler=args.sampler,
                                           study_name=args.study_name)
    if not 0 <= args.worker < settings.workers:
        raise UserError("worker index out of range", key="--worker", value=args.worker,
                        allowed=f"0..{settings.workers - 1} (search.workers = {settings.workers})")
    front = None
    if args.warm_start and settings.warm_start:
        front = store.read_table(args.warm_start)
    report = search.run_worker(cfg, settings, worker=args.worker, trials=args.trials,
                               warm_front=front, log=_log)
    trials = [t for t in report.trials if t.state == optuna.trial.TrialState.COMPLETE]
    frame = search.export_frame(cfg.model(), settings.space, trials,
                                batch_size=settings.batch_size)
    store.write_table(frame, args.out, metadata={
        "config_hash": cfg.hash, "platform": cfg.platform.name, "model": cfg.workload.name,
        "source": "search", "sampler": settings.sampler, "worker": args.worker,
        "seed": settings.seed, "batch_size": settings.batch_size,
        "study_name": settings.study_name, "storage": settings.storage_shown,
        "space_size": settings.space.size, "fingerprint": settings.fingerprint})
    summary = {
        "worker": args.worker, "sampler": settings.sampler, "study": settings.study_name,
        "storage": settings.storage_shown, "trials_before": report.trials_before,
        "trials_added": report.trials_added, "warm_start": report.warm_started,
        "study_trials": report.study_trials, "exported": len(frame),
        "feasible": int(frame["feasible"].sum()) if len(frame) else 0,
        "seconds": round(report.seconds, 2), "trials_per_s": round(report.trials_per_s, 1),
        "out": str(Path(args.out)),
    }
    print(json.dumps(summary))
    return 0
