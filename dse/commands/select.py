"""``dse select``: the designs worth exporting from a Pareto front."""

from __future__ import annotations

import argparse

from dse import store
from dse.config import load_config
from dse.select import (
    budget_report,
    in_tier,
    latency_budget,
    select_designs,
    tier_bound,
    tier_front,
)

HELP = "Choose designs from a front: knee, fastest, smallest under the latency budget, named."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``--config``, ``--in``, ``--all`` and ``--out``."""
    parser.add_argument("--config", required=True, help="main config YAML")
    parser.add_argument(
        "--in",
        dest="front",
        required=True,
        metavar="FILE",
        help="front Parquet file written by 'dse pareto'",
    )
    parser.add_argument(
        "--all",
        dest="all_designs",
        nargs="+",
        metavar="FILE",
        default=None,
        help="all result files, where named designs off the front are looked up",
    )
    parser.add_argument("--out", required=True, help="selected designs Parquet file to write")


def run(args: argparse.Namespace) -> int:
    """Select from the front and write the chosen rows with their ``selection`` reasons."""
    store.check_output(args.out)
    cfg = load_config(args.config)
    objectives = cfg.objectives
    settings = cfg.raw.get("select") or {}
    quality_max = tier_bound(cfg)
    front = store.read_table(args.front)
    # every result row (millions) is read only when the front cannot answer: a named design
    # off the front, or no design of the quality tier on it
    named = {str(n) for n in settings.get("named") or []}
    needed = bool(named - set(front["design_id"].astype(str))) if "design_id" in front else True
    needed = needed or not in_tier(front, quality_max).any()
    all_designs = store.read_tables(args.all_designs) if args.all_designs and needed else None
    front = tier_front(front, objectives, quality_max, all_designs)
    model = cfg.workload.name
    budget_ms, budget_key = latency_budget(settings, model)
    chosen = select_designs(
        front,
        objectives,
        {**settings, "latency_budget_ms": budget_ms},
        all_designs=all_designs,
        quality_max=quality_max,
    )
    budget = budget_report(front, budget_ms, budget_key, quality_max=quality_max)
    metadata = store.read_metadata(args.front) | {
        "select": dict(settings),
        "quality_max": quality_max,
        "budget": budget,
        "selected": dict(zip(chosen["design_id"].astype(str), chosen["selection"], strict=True)),
    }
    store.write_table(chosen, args.out, metadata=metadata)
    print(
        f"selected {len(chosen)} designs from {len(front)} on the front (quality tier: "
        f"quality_loss <= {quality_max:.6g}) -> {args.out}"
    )
    print(budget_line(budget, model))
    return 0


def budget_line(budget: dict, model: str) -> str:
    """One line on what the latency budget did (printed by ``dse select``, kept in the log)."""
    if budget["budget_ms"] is None:
        return (f"no latency budget for {model} ({budget['key']}): knee over the whole quality "
                "tier, no smallest_under_budget")
    head = f"latency budget for {model}: {budget['budget_ms']:g} ms per call ({budget['key']})"
    if budget["within"]:
        return f"{head}; {budget['within']:,} of {budget['tier']:,} tier designs meet it"
    near = ", ".join(
        f"{n['design_id']} {n['latency_ms']:.1f} ms" for n in budget.get("nearest", [])
    )
    return (f"{head}; NO design of the quality tier meets it, so no knee and no "
            f"smallest_under_budget; nearest: {near or 'none'}")
