"""Snakemake's run log -> one line per job that was killed, most likely for lack of memory.

A job whose process gets SIGKILL (the kernel's out-of-memory killer, or a cluster's memory limit)
ends with exit status 137 (128 + 9) and usually an empty log: Snakemake then prints only
``returned non-zero exit status 137``. The workflow's ``onerror`` handler
(workflow/rules/resources.smk) reads the run log with :func:`killed_jobs` and prints, and appends
to each such job's own log, :func:`killed_message`: which rule, which log, the memory the job had
declared, and what to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Exit status of a shell command whose process was killed by SIGKILL (128 + 9).
KILLED_STATUS = 137

_STATUS = re.compile(r"returned non-zero exit status (\d+)|died with <Signals\.SIGKILL: 9>")
_RULE = re.compile(r"^Error in rule ([\w-]+):")
_LOG = re.compile(r"^\s+log: (\S+)")


@dataclass(frozen=True)
class KilledJob:
    """A job whose command was killed by SIGKILL.

    Attributes:
        rule: the rule's name.
        log: the job's log file ('' when the rule has none); it names the job (its wildcards).
    """

    rule: str
    log: str


def killed_jobs(text: str) -> list[KilledJob]:
    """The jobs of a Snakemake run log whose command was killed by SIGKILL: exit status 137
    (a process the job's shell started) or ``died with <Signals.SIGKILL: 9>`` (the shell itself).
    Each job once, in the order of the log."""
    out: list[KilledJob] = []
    killed = False
    current: KilledJob | None = None
    for line in text.splitlines():
        m = _STATUS.search(line)
        if m:
            killed = m.group(1) is None or int(m.group(1)) == KILLED_STATUS
            continue
        m = _RULE.match(line)
        if m:
            current = KilledJob(m.group(1), "") if killed else None
            killed = False
            if current is not None:
                out.append(current)
            continue
        m = _LOG.match(line)
        if current is not None and m:
            out[-1] = current = KilledJob(current.rule, m.group(1))
    return list(dict.fromkeys(out))


def killed_message(job: KilledJob, *, mem_mb: int | None = None) -> str:
    """One line for a killed job: rule, log, declared memory and the remedies."""
    where = f", log {job.log}" if job.log else ""
    declared = f"; it declared mem_mb={mem_mb}" if mem_mb else ""
    return (
        f"dse: rule {job.rule} was killed (SIGKILL, exit status {KILLED_STATUS}{where}), most "
        f"likely by the kernel for lack of memory{declared}. Run fewer jobs at once (--cores, or "
        f"--resources mem_mb=<MB> below the free memory), or raise sweep.shards to shrink each "
        f"shard (docs/scale-out.md)."
    )


__all__ = ["KILLED_STATUS", "KilledJob", "killed_jobs", "killed_message"]
