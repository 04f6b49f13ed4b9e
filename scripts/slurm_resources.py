"""Per-rule Slurm resources from the benchmark files of local runs, with a safety margin.

    python scripts/slurm_resources.py results/benchmarks [more/results/benchmarks ...]

Every rule of the workflow writes one Snakemake benchmark file per job under results/benchmarks/
(`roofline.tsv`, `sweep/shard-0.tsv`, `search/worker-1.tsv`, ...: the rule is the file's stem at
the top level, else its folder). For each rule this takes the largest figure over its jobs and over
the runs given, and prints the `set-resources` and `set-threads` blocks of
profiles/slurm/config.yaml, each value with the measured figure it came from:

- mem_mb: MEM_MARGIN x the largest `max_rss` (MB, resident memory of the job's processes), rounded
  up to MEM_STEP_MB, at least MEM_FLOOR_MB;
- runtime (minutes, Slurm's time limit): RUNTIME_MARGIN x the longest wall time `s`, rounded up to
  a minute, at least RUNTIME_FLOOR_MIN;
- threads: the largest `cpu_time / s` (cores kept busy on average), rounded up, at least 1.

Snakemake samples memory every 0.5 s for a job's first 30 s, then every 30 s, so `max_rss` is a
lower bound of the peak: hence the margin.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path

MEM_MARGIN = 1.5  # assumption: sampled peaks miss short spikes; 50 % head-room
MEM_STEP_MB = 256  # assumption: a round request
MEM_FLOOR_MB = 512  # assumption: a Python process with numpy, pandas and pyarrow needs ~120 MB
RUNTIME_MARGIN = 3.0  # assumption: a busy or slower cluster node
RUNTIME_FLOOR_MIN = 5  # assumption: Slurm limits are whole minutes; covers job start-up


@dataclass
class Measured:
    """The largest figures of one rule's jobs."""

    jobs: int
    seconds: float
    max_rss_mb: float
    cores: float  # cpu_time / s


def rule_of(tsv: Path, root: Path) -> str:
    """The rule a benchmark file belongs to: its stem at the top level, else its first folder."""
    rel = tsv.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def read_benchmark(tsv: Path) -> tuple[float, float, float]:
    """(s, max_rss MB, cpu_time / s) of the last record of one benchmark file."""
    with tsv.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        raise ValueError(f"{tsv}: no benchmark record")
    row = rows[-1]

    def number(key: str) -> float:
        try:
            return float(row[key])
        except (KeyError, ValueError):
            raise ValueError(f"{tsv}: column {key!r} missing or not a number") from None

    seconds, rss, cpu = number("s"), number("max_rss"), number("cpu_time")
    return seconds, rss, (cpu / seconds if seconds > 0 else 0.0)


def measure(roots: list[Path]) -> dict[str, Measured]:
    """The largest figures per rule over every benchmark file under the given folders."""
    found: dict[str, Measured] = {}
    for root in roots:
        files = sorted(root.rglob("*.tsv"))
        if not files:
            raise ValueError(f"{root}: no benchmark files (*.tsv)")
        for tsv in files:
            seconds, rss, cores = read_benchmark(tsv)
            rule = rule_of(tsv, root)
            old = found.get(rule, Measured(0, seconds, rss, cores))
            found[rule] = Measured(
                old.jobs + 1,
                max(old.seconds, seconds),
                max(old.max_rss_mb, rss),
                max(old.cores, cores),
            )
    return found


def resources(m: Measured) -> dict[str, int]:
    """mem_mb, runtime (minutes) and threads of one rule, with the margins above."""
    mem = MEM_STEP_MB * math.ceil(MEM_MARGIN * m.max_rss_mb / MEM_STEP_MB)
    runtime = math.ceil(RUNTIME_MARGIN * m.seconds / 60)
    return {
        "mem_mb": max(MEM_FLOOR_MB, mem),
        "runtime": max(RUNTIME_FLOOR_MIN, runtime),
        "threads": max(1, math.ceil(round(m.cores, 2))),
    }


def profile_blocks(measured: dict[str, Measured]) -> str:
    """The profile's set-resources and set-threads blocks, each rule with its measured figures."""
    res = ["set-resources:"]
    threads = ["set-threads:"]
    for rule in sorted(measured):
        m = measured[rule]
        r = resources(m)
        res.append(
            f"  {rule}:  # measured: max_rss {m.max_rss_mb:.0f} MB, {m.seconds:.1f} s "
            f"(largest of {m.jobs} job{'s' if m.jobs > 1 else ''})"
        )
        res.append(f"    mem_mb: {r['mem_mb']}")
        res.append(f"    runtime: {r['runtime']}")
        threads.append(f"  {rule}: {r['threads']}  # measured: cpu_time/s {m.cores:.2f}")
    return "\n".join(res + threads) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path, help="results/benchmarks folders of local runs")
    args = p.parse_args(argv)
    try:
        measured = measure(args.folders)
    except (OSError, ValueError) as exc:
        print(f"slurm_resources: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(profile_blocks(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
