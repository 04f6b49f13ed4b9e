"""``dse explore``: the interactive Pareto explorer, one self-contained HTML file (dse.explore)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from dse.errors import UserError

HELP = "write the interactive Pareto explorer: one self-contained HTML file (no network needed)"

#: Columns read from every cloud file to choose the sample (the rest only for the chosen rows).
SAMPLE_COLUMNS = ["feasible", "latency_ms", "utilization"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="run configuration (results/config.yaml)")
    p.add_argument("--cloud", nargs="+", required=True, help="all results (sweep shards, search)")
    p.add_argument("--front", required=True, help="Pareto front Parquet (dse pareto)")
    p.add_argument("--selected", required=True, help="selected designs Parquet (dse select)")
    p.add_argument(
        "--max-cloud",
        type=int,
        default=None,
        help="largest number of cloud designs drawn (default 10,000; a binned sample)",
    )
    p.add_argument("--out", required=True, help="HTML file to write (results/explore.html)")


def _sample_cloud(files: list[str], max_points: int) -> tuple[pd.DataFrame, int, int]:
    """The binned sample of the feasible designs of ``files`` (every column, plus
    ``source_file``), the feasible count and the evaluated count."""
    from dse.explore import binned_sample
    from dse.store import read_table

    parts = []
    for f in sorted(dict.fromkeys(files)):  # the same sample whatever order the files come in
        t = read_table(f, columns=SAMPLE_COLUMNS, key="--cloud")
        ok = t["feasible"].to_numpy(dtype=bool)
        parts.append((f, len(t), np.flatnonzero(ok), t.loc[ok]))
    evaluated = sum(n for _, n, _, _ in parts)
    feasible = pd.concat([p[3] for p in parts], ignore_index=True)
    chosen = binned_sample(
        feasible["latency_ms"].to_numpy(float), feasible["utilization"].to_numpy(float), max_points
    )
    # chosen positions in the concatenation -> (file, row) pairs
    offsets = np.cumsum([0] + [len(p[2]) for p in parts])
    rows = []
    for j, (f, _, feasible_rows, _) in enumerate(parts):
        mine = chosen[(chosen >= offsets[j]) & (chosen < offsets[j + 1])] - offsets[j]
        if mine.size:
            full = read_table(f, key="--cloud")
            rows.append(full.iloc[feasible_rows[mine]].assign(source_file=f))
    cloud = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return cloud, len(feasible), evaluated


def run(args: argparse.Namespace) -> int:
    from dse import explore
    from dse.commands.plot import detail_frames
    from dse.config import load_config
    from dse.model import Model
    from dse.plots.breakdown import kernel_classes
    from dse.select import latency_budget, tier_bound
    from dse.store import atomic_write_text, check_output, read_metadata, read_table

    check_output(args.out)
    max_cloud = explore.MAX_CLOUD if args.max_cloud is None else args.max_cloud
    if not 0 <= max_cloud <= 200_000:
        raise UserError(
            "cloud size out of range", key="--max-cloud", value=max_cloud,
            allowed="0..200000 (the page holds every drawn design's figures)",
        )
    cfg = load_config(args.config)
    front = read_table(args.front, key="--front")
    selected = read_table(args.selected, key="--selected")
    for frame, name, writer in ((front, "--front", "dse pareto"), (selected, "--selected",
                                                                    "dse select")):
        if "design_id" not in frame.columns or "latency_ms" not in frame.columns:
            raise UserError(
                "not a table of designs (no design_id / latency_ms column)",
                file=getattr(args, name.strip("-")), key=name, allowed=f"a file {writer} wrote",
            )
    cloud, n_feasible, n_evaluated = _sample_cloud(args.cloud, max_cloud)
    sel_meta = read_metadata(args.selected)
    settings = cfg.raw.get("select") or {}
    budget = sel_meta.get("budget")
    if isinstance(budget, dict) and "budget_ms" in budget:
        budget_ms, budget_key = budget["budget_ms"], str(budget.get("key", ""))
    else:  # selected designs written before dse select recorded it
        budget_ms, budget_key = latency_budget(settings, cfg.workload.name)
    quality_max = sel_meta.get("quality_max")
    if not isinstance(quality_max, (int, float)):
        quality_max = tier_bound(cfg)
    has_quality = any(name == "quality_loss" for name, _ in cfg.objectives) or (
        "quality_loss" in front.columns
    )
    board = cfg.platform.name
    table = explore.design_table(cloud, front, selected, board=board)
    model = Model(cfg.platform, cfg.workload)
    breakdown, resources = detail_frames(model, front)
    detail = explore.detail_payload(breakdown, resources, kernel_classes(cfg.workload))
    run_info = explore.Run(
        title=f"Design explorer: {cfg.workload.name} on {board}",
        board=board,
        model=cfg.workload.name,
        cameras=cfg.workload.cameras,
        objectives=cfg.objectives,
        budget_ms=None if budget_ms is None else float(budget_ms),
        budget_key=budget_key,
        quality_max=float(quality_max) if has_quality else None,
        quality_reference=str(settings.get("quality_reference", "INT8")),
        feasible=n_feasible,
        evaluated=n_evaluated,
        config=str(args.config),
        front_file=str(args.front),
    )
    text = explore.page(run_info, table, detail)
    atomic_write_text(Path(args.out), text)
    print(
        f"wrote {args.out}: {len(table) - len(front):,} of {n_feasible:,} feasible designs "
        f"(binned sample), {len(front):,} front designs with their detail, "
        f"{len(text) / 1e6:.1f} MB"
    )
    return 0
