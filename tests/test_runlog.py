"""Jobs killed for memory are named (dse.runlog), from real Snakemake 9 run logs.

tests/data/runlogs/ holds the output of a two-job Snakefile whose second job is killed with
SIGKILL: ``killed_137.txt`` kills a process the job's shell started (bash then exits 137, what the
kernel's OOM killer does to ``dse``), ``killed_shell.txt`` kills the job's shell itself."""

from __future__ import annotations

from pathlib import Path

from dse.runlog import KilledJob, killed_jobs, killed_message

DATA = Path(__file__).parent / "data" / "runlogs"


def test_exit_137_is_found_with_its_rule_and_log():
    assert killed_jobs((DATA / "killed_137.txt").read_text()) == [KilledJob("boom", "logs/2.log")]


def test_a_killed_shell_is_found_too():
    assert killed_jobs((DATA / "killed_shell.txt").read_text()) == [KilledJob("boom", "logs/2.log")]


def test_other_failures_are_not_called_memory():
    # exit 127 (command not found) and exit 1 are not kills
    text = (DATA / "killed_137.txt").read_text().replace("exit status 137", "exit status 127")
    assert killed_jobs(text) == []


def test_message_names_rule_log_memory_and_remedy():
    line = killed_message(KilledJob("sweep", "results/logs/sweep/shard-2.log"), mem_mb=8192)
    assert "\n" not in line
    for part in ("rule sweep", "results/logs/sweep/shard-2.log", "lack of memory",
                 "mem_mb=8192", "--cores", "sweep.shards"):
        assert part in line


def test_available_memory_reads_meminfo(tmp_path):
    from dse.machine import available_memory_mb

    # a /proc/meminfo excerpt: MemAvailable 21,994,496 kB = 21,479 MB
    p = tmp_path / "meminfo"
    p.write_text("MemTotal:       24683520 kB\nMemFree:        16383016 kB\n"
                 "MemAvailable:   21994496 kB\n")
    assert available_memory_mb(p) == 21479
    p.write_text("MemTotal:       24683520 kB\n")
    assert available_memory_mb(p) is None
    assert available_memory_mb(tmp_path / "none") is None
