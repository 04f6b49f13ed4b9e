# Memory each job declares (resources: mem_mb), from measured peaks, so that the jobs Snakemake
# runs side by side never ask for more than the machine has:
#
# - every rule declares mem_mb = MEM_MARGIN x its measured peak resident memory, rounded up to
#   64 MB; the rules that hold every design of the grid in memory (a sweep shard, the fronts,
#   the plots' cloud) scale with the designs they read (docs/scale-out.md, "Memory");
# - a local run (not a cluster executor) without `--resources mem_mb=N` runs its jobs within
#   LOCAL_FRACTION of the memory available when it starts (MemAvailable of /proc/meminfo): a job
#   waits until the running ones leave it room; one that asks for more than all of it is given
#   all of it (Snakemake caps a request at the limit);
# - a job killed anyway (exit status 137) is named, with the memory it declared, by the onerror
#   handler below (dse/runlog.py), in the run's output and in the job's own log.
#
# Peaks: /usr/bin/time -v (maximum resident set size) of each rule's command, 2026-12-07, on the
# default config (2,985,984 grid designs, 4 shards) and on the U250 recipe of docs/scale-out.md
# (11,943,936 designs, 4 shards). Snakemake's benchmark files sample memory every 0.5 s (every
# 30 s after a job's first 30 s) and miss peaks: a default shard showed 740 MB there, 1,652 MB here.
import math

from dse.machine import available_memory_mb
from dse.space import Grid

# assumption: head-room over the measured peaks (they are true peaks, not samples; this covers
# other inputs and allocator slack)
MEM_MARGIN = 1.15
# assumption: the share of the available memory a local run may plan with (other programs grow)
LOCAL_FRACTION = 0.8

# measured: a sweep shard of 186,624 designs peaked at 506 MB, 746,496 at 1,652 MB (default) and
# 1,635 MB (U250), 2,985,984 at 6,671 MB (U250): 95 MB + 2.26 KB per design (the fit's line lies
# within 5% above every point)
SWEEP_BASE_MB, SWEEP_KB_PER_DESIGN = 95.0, 2.26
# measured at 2,985,984 grid designs (default) and 11,943,936 (U250 recipe), each with 5,000
# trials and the refinement: pareto_sweep 910 and 2,930 MB, pareto 505 and 2,930 MB, plots 405
# and 933 MB; the lines pass through both points (pareto: through the larger, above the other)
ROWS_RULES = {  # rule: (base MB, KB per grid design read)
    "pareto_sweep": (237.0, 0.231),
    "pareto": (150.0, 0.24),
    "plots": (230.0, 0.06),
}
# measured peaks of the rules whose memory does not grow with the grid (MB)
FIXED_MB = {
    "roofline": 195,
    "calibration": 185,
    "search": 245,
    "refine": 200,
    "select": 152,
    "export": 142,
    "summary": 104,
    "search_quality": 600,  # assumption: not measured; search workers plus a reference front
}


def _rounded(mb):
    return int(math.ceil(mb * MEM_MARGIN / 64.0) * 64)


GRID_DESIGNS = Grid(config["sweep"]["space"]).size  # the config is validated above
SHARD_DESIGNS = -(-GRID_DESIGNS // N_SHARDS)
MEM_MB = {rule: _rounded(mb) for rule, mb in FIXED_MB.items()}
MEM_MB["sweep"] = _rounded(SWEEP_BASE_MB + SWEEP_KB_PER_DESIGN * SHARD_DESIGNS / 1024.0)
for _rule, (_base, _kb) in ROWS_RULES.items():
    MEM_MB[_rule] = _rounded(_base + _kb * GRID_DESIGNS / 1024.0)
# select reads every result (all columns) only for a named design off the front, or for a front
# without the quality tier (quality not an objective); measured: 2,093 MB at 2,985,984 grid rows
SELECT_ALL_BASE_MB, SELECT_ALL_KB_PER_DESIGN = 150.0, 0.67
if config.get("select", {}).get("named") or "quality_loss" not in [
    o.get("name") for o in config.get("objectives", [])
]:
    MEM_MB["select"] = _rounded(SELECT_ALL_BASE_MB + SELECT_ALL_KB_PER_DESIGN * GRID_DESIGNS / 1024.0)


def limit_local_memory():
    """Called by onstart (common.smk): a local run without --resources mem_mb plans its jobs
    within LOCAL_FRACTION of the memory available now."""
    if not workflow.local_exec or "mem_mb" in workflow.global_resources:
        return
    available = available_memory_mb()
    if available is None:
        return
    limit = max(int(available * LOCAL_FRACTION), min(MEM_MB.values()))
    workflow.register_resource("mem_mb", limit)
    # Snakemake 9's scheduler keeps its own copy of the limits, made before onstart: without
    # this entry it would cap each job at the limit but never count the running jobs against it
    scheduler = getattr(workflow, "scheduler", None)
    if scheduler is not None and isinstance(getattr(scheduler, "global_resources", None), dict):
        scheduler.global_resources["mem_mb"] = limit
    big = max(MEM_MB.values())
    print(
        f"dse: jobs run within mem_mb={limit:,} ({LOCAL_FRACTION:.0%} of the {available:,} MB "
        f"available; the largest job declares {big:,}); --resources mem_mb=N sets another limit",
        file=sys.stderr,
    )


onerror:
    from dse.runlog import killed_jobs, killed_message

    try:
        text = Path(log).read_text(encoding="utf-8", errors="replace")
    except (OSError, TypeError):
        text = ""
    for job in killed_jobs(text):
        line = killed_message(job, mem_mb=MEM_MB.get(job.rule))
        print(line, file=sys.stderr)
        if job.log:
            try:
                with open(job.log, "a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
            except OSError:
                pass
