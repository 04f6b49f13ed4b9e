"""`dse csim` on diverse designs of a run's Pareto front (issue 16: "20 diverse front designs").

Picks N designs of ``results/pareto/front.parquet`` spread over the front: the front sorted by
latency, then every distinct (weight, activation precision, loop order, fused attention) group
visited in turn (interleaved by precision pair), taking each group's designs at evenly spaced
latency ranks, so that the pick covers the precisions, loop orders and both ends of the front.
Exports them with `dse export` (the run's config) into a scratch folder and runs `dse csim` on
each (reduced layer), two at a time. Prints JSON: per design its label, latency, the csim
checks, the whole layer's C-sim and model cycles and the worst call; and how many passed every
check.

    python benchmarks/csim_front.py [--results results] [--designs 20] [--work /tmp/csim-front]

Deterministic: the pick depends only on the front's rows.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

GROUP = ["weight_precision", "act_precision", "dataflow", "fuse_attention"]


def pick(front: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` designs of ``front`` (see the module docstring)."""
    rows = front.sort_values(["latency_ms", "design_id"]).reset_index(drop=True)
    by_group = rows.groupby([rows[c].astype(str) for c in GROUP], sort=True)
    # groups interleaved by precision pair: every pair's first group, then every pair's second..
    pairs: dict[tuple, list[pd.DataFrame]] = {}
    for key, g in by_group:
        pairs.setdefault(key[:2], []).append(g)
    depth = max(len(v) for v in pairs.values())
    groups = [v[i] for i in range(depth) for v in pairs.values() if i < len(v)]
    taken: list[int] = []
    round_ = 0
    while len(taken) < min(n, len(rows)):
        added = False
        for g in groups:
            if len(taken) >= n:
                break
            if round_ < len(g):
                # the group's designs at evenly spaced ranks: first its fastest, then its slowest,
                # then the middle ...
                order = _spread(len(g))
                taken.append(int(g.index[order[round_]]))
                added = True
        if not added:
            break
        round_ += 1
    return rows.loc[sorted(set(taken))]


def _spread(k: int) -> list[int]:
    """0, k-1, then the midpoints of the gaps, breadth first: every index of range(k) once."""
    if k <= 2:
        return list(range(k))
    out, gaps = [0, k - 1], [(0, k - 1)]
    while gaps:
        nxt = []
        for a, b in gaps:
            if b - a > 1:
                m = (a + b) // 2
                out.append(m)
                nxt += [(a, m), (m, b)]
        gaps = nxt
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results", type=Path)
    ap.add_argument("--designs", default=20, type=int)
    ap.add_argument("--work", default=Path("/tmp/csim-front"), type=Path)
    args = ap.parse_args(argv)
    front = pd.read_parquet(args.results / "pareto" / "front.parquet")
    chosen = pick(front, args.designs)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    sel = args.work / "chosen.parquet"
    chosen.to_parquet(sel)
    t0 = time.perf_counter()
    subprocess.run(["dse", "export", "--config", str(args.results / "config.yaml"), "--in",
                    str(sel), "--out", str(args.work / "hls")], check=True,
                   capture_output=True)  # fmt: skip
    folders = [args.work / "hls" / d for d in chosen["design_id"].astype(str)]
    # `dse csim FOLDER` through the CLI's own entry point in two forked workers, which import
    # dse, numpy and pandas once (a process per design spent 1.4 CPU s on imports)
    importlib.import_module("dse.cli")  # before the fork: the workers share it
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.imap(_csim, folders)
        out = [_summary(f, chosen, code, err) for f, (code, err) in zip(folders, results,
                                                                         strict=True)]  # fmt: skip
    passed = sum(1 for r in out if r["passed"])
    print(json.dumps({
        "front": len(front), "designs": len(out), "passed_every_check": passed,
        "wall_s": round(time.perf_counter() - t0, 1),
        "layer_diff_pct": {"min": min((r["layer_diff_pct"] for r in out if r["layer_diff_pct"]
                                       is not None), default=None),
                           "max": max((r["layer_diff_pct"] for r in out if r["layer_diff_pct"]
                                       is not None), default=None)},
        "rows": out,
    }, indent=1))  # fmt: skip
    return 0 if passed == len(out) else 1


def _csim(folder: Path) -> tuple[int, str]:
    """``dse csim FOLDER`` (dse.cli.main): its exit code and what it wrote to stderr."""
    import contextlib
    import io
    import os

    from dse.cli import main

    err = io.StringIO()
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), \
            contextlib.redirect_stderr(err):  # fmt: skip
        try:
            code = main(["csim", str(folder)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:  # a crash is this design's failure, not the benchmark's
            print(f"{type(exc).__name__}: {exc}", file=err)
            code = 1
    return int(code or 0), err.getvalue()


def _summary(folder: Path, chosen: pd.DataFrame, code: int, err: str) -> dict:
    row = chosen[chosen["design_id"].astype(str) == folder.name].iloc[0]
    rep_path = folder / "csim.json"
    base = {"design_id": folder.name, "latency_ms": round(float(row["latency_ms"]), 3),
            **{c: (bool(row[c]) if c == "fuse_attention" else str(row[c])) for c in GROUP}}
    if not rep_path.is_file():
        return {**base, "passed": False, "error": err.strip().splitlines()[-1:] or [f"exit {code}"],
                "layer_diff_pct": None}
    rep = json.loads(rep_path.read_text())
    layer = rep.get("layer") or {}
    csim_c, model_c = layer.get("csim_cycles"), layer.get("model_cycles")
    diff = None if not (csim_c and model_c) else round(100.0 * (csim_c - model_c) / model_c, 2)
    calls = rep.get("gemm_calls", [])
    # the worst of the calls the cycles check holds: each step's slowest (the others wait for it)
    slowest: dict[int, float] = {}
    for c in calls:
        slowest[int(c["step"])] = max(slowest.get(int(c["step"]), 0.0), c.get("cycles") or 0.0)
    held = [c for c in calls if (c.get("cycles") or 0.0) >= slowest[int(c["step"])]]
    worst = max(held, key=lambda c: abs(c.get("cycle_diff", 0.0) or 0.0), default=None)
    return {**base, "passed": all(rep["checks"].values()), "checks": rep["checks"],
            "layer_csim_cycles": csim_c, "layer_model_cycles": model_c, "layer_diff_pct": diff,
            "worst_call": None if worst is None else {k: worst.get(k) for k in
                                                      ("kernel", "cu", "cycle_diff")}}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
