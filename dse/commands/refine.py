"""``dse refine``: local refinement of the front (moves of dse/moves.py, dse/refine.py)."""

from __future__ import annotations

import argparse
import json
import sys

HELP = ("refine the Pareto front of result files by one- and several-parameter moves until it "
        "stops improving, then greedy latency walks per utilization cap")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``--config``, ``--in``, ``--out`` and the budget override."""
    parser.add_argument("--config", required=True, help="main config YAML (search.space, "
                        "search.refine, objectives)")
    parser.add_argument("--in", dest="inputs", nargs="+", required=True, metavar="FILE",
                        help="result Parquet files whose front is refined (sweep front, search "
                             "workers)")
    parser.add_argument("--out", required=True,
                        help="Parquet file of the refined front "
                             "(e.g. results/search/refine.parquet)")
    parser.add_argument("--max-evaluations", type=int, metavar="N",
                        help="override search.refine.max_evaluations (model evaluations)")


def run(args: argparse.Namespace) -> int:
    """Read the inputs, refine their front, write it and print a JSON summary line."""
    from dse import search, store
    from dse.config import load_config
    from dse.errors import UserError
    from dse.refine import refine_frame, roi_latency_max
    from dse.walk import quality_bound

    if args.max_evaluations is not None and args.max_evaluations < 0:
        raise UserError("must not be negative", key="--max-evaluations",
                        value=args.max_evaluations, allowed="an integer >= 0")
    cfg = load_config(args.config)
    settings = search.settings_from_config(cfg)
    budget = (settings.refine_max_evaluations if args.max_evaluations is None
              else args.max_evaluations)
    designs = store.read_tables(args.inputs)
    model = cfg.model()  # with the mapper: moves change hardware, the mapper maps each
    frame, result = refine_frame(model, settings.space, cfg.objectives, designs,
                                 max_evaluations=budget, walk_caps=settings.refine_walk_caps,
                                 quality_max=quality_bound(cfg),
                                 walk_starts=settings.refine_walk_starts,
                                 roi_evaluations=settings.refine_roi_evaluations,
                                 latency_max=roi_latency_max(cfg, settings))
    figures = {
        "designs_read": len(designs), "front_out": len(frame),
        "found": int((frame["source"] == "refine").sum()), "evaluations": result.evaluations,
        "walk_evaluations": result.walk_evaluations,
        "roi_evaluations": result.roi_evaluations,
        "max_evaluations": budget, "rounds": result.rounds,
        "hv_start": round(result.hv_start, 6), "hv_end": round(result.hv_end, 6),
        "seconds": round(result.seconds, 2),
    }
    store.write_table(frame, args.out, metadata={
        "config_hash": cfg.hash, "platform": cfg.platform.name, "model": cfg.workload.name,
        "source": "refine", **{k: v for k, v in figures.items() if k != "seconds"}})
    print(json.dumps({**figures, "out": args.out}))
    print(f"refine: {figures['found']} new front designs in {result.rounds} rounds, "
          f"{result.evaluations} evaluations, {result.seconds:.1f} s", file=sys.stderr)
    return 0
