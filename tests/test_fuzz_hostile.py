"""A corpus of hostile inputs (issue 20), through `dse evaluate` and through Snakemake: every
class of benchmarks/fuzz_snakemake.py (file kinds, sizes, aliases, huge integers, nesting,
duplicate keys, YAML 1.1 numbers, trailing newlines, injection payloads, planted links) ends
in exit 0 or in exit 2 with one line, never in a trace or a hang. The benchmark runs hundreds
of random mutations; this test runs every class once on every file through `dse` and a sample
through `snakemake` (a few seconds each)."""

from __future__ import annotations

import fcntl
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.fuzz_snakemake import (
    TARGETS,
    Hostile,
    apply_hostile,
    classify,
    evaluate_in_process,
    repo_copy,
    run_snakemake,
)
from tests.conftest import ROOT

#: One leaf of each file to mutate (a number and a string where the file has one).
NUMBER_LEAF = {
    "config.yaml": ("cameras",),
    "platforms/u280.yaml": ("margin",),
    "models/smolvla_vision.yaml": ("layers",),
    "models/vit_b16.json": ("num_hidden_layers",),
}
STRING_LEAF = {
    "config.yaml": ("platform",),
    "platforms/u280.yaml": ("vitis_platform",),
    "models/smolvla_vision.yaml": ("name",),
    "models/vit_b16.json": ("hidden_act",),
}

CORPUS = [
    Hostile("fifo", f) for f in TARGETS
] + [Hostile("folder", f) for f in TARGETS] + [Hostile("dev_zero", f) for f in TARGETS] + [
    Hostile("empty", f) for f in TARGETS
] + [Hostile("oversized", f) for f in TARGETS] + [
    Hostile("alias_bomb", f) for f in TARGETS
] + [Hostile("recursive_alias", f) for f in TARGETS] + [
    Hostile("huge_int", f, path=NUMBER_LEAF[f]) for f in TARGETS
] + [Hostile("deep_nesting", f, path=NUMBER_LEAF[f]) for f in TARGETS] + [
    Hostile("yaml11_number", f, path=NUMBER_LEAF[f], text="012") for f in TARGETS
] + [Hostile("duplicate_key", f, path=(next(iter(NUMBER_LEAF[f])),), text="64") for f in TARGETS
] + [Hostile("trailing_newline", f, path=STRING_LEAF[f]) for f in TARGETS] + [
    Hostile("injection", f, path=STRING_LEAF[f], text=t)
    for f in TARGETS for t in ("x\n", '"; system("x"); //', "$(touch /tmp/pwned)", "../../x")
]  # fmt: skip


@pytest.mark.parametrize("mutation", CORPUS, ids=lambda m: f"{m.kind}-{m.file}-{m.text!r}")
def test_dse_refuses_each_hostile_input_with_one_line(tmp_path, mutation):
    work = repo_copy(tmp_path / "repo")
    (tmp_path / "outside").mkdir()
    apply_hostile(mutation, work, tmp_path / "outside")
    outcome, detail = evaluate_in_process(work)
    # nothing hostile may pass: every class above is invalid input
    assert outcome == "exit2", f"{mutation.describe()}: {outcome}: {detail}"


#: configs/config.yaml itself spoiled as issue 20 lists (non-UTF-8, huge integer, deep nesting,
#: truncated, empty, a directory), under `snakemake -n`.
def _replace(old, new):
    return lambda p: p.write_text(p.read_text().replace(old, new, 1))


def _bytes(edit):
    return lambda p: p.write_bytes(edit(p.read_bytes()))


CONFIG_SPOILS = {
    "non_utf8": _bytes(lambda raw: raw[:200] + b"\xff\xfe" + raw[200:]),
    "huge_int": _replace("cameras: 3", "cameras: " + "7" * 5000),
    "deep_nesting": _replace("cameras: 3", "cameras: " + "[" * 3000 + "]" * 3000),
    "truncated": _bytes(lambda raw: raw[: len(raw) // 3] + b"\n  - {name: lat"),
    "empty": lambda p: p.write_text(""),
    "directory": lambda p: (p.unlink(), p.mkdir()),
}  # duplicate keys and YAML 1.1 numbers: the dse-level corpus above, and the benchmark


@pytest.mark.slow
def test_snakemake_gives_dse_one_line_errors_and_exit_2_for_a_spoiled_config_yaml(tmp_path):
    # before: exit 1 and Snakemake's "Error in file ... Snakefile, line 11" with stack lines
    # (988 lines for deep nesting)
    def one(name):
        work = repo_copy(tmp_path / name)
        CONFIG_SPOILS[name](work / "configs" / "config.yaml")
        return name, run_snakemake(work, "-n", "--cores", "8")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, CONFIG_SPOILS))
    for name, (code, err) in results:
        outcome, detail = classify(code, err)
        assert outcome == "exit2", f"{name}: {outcome}: {detail}"
        assert "dse: configuration error: configs/config.yaml" in err, f"{name}: {err}"


@pytest.mark.slow
def test_snakemake_refuses_a_sample_of_hostile_inputs_in_other_files(tmp_path):
    sample = [  # benchmarks/fuzz_snakemake.py runs 500 (2 per test run keeps the suite fast)
        Hostile("fifo", "platforms/u280.yaml"),
        Hostile("alias_bomb", "models/smolvla_vision.yaml"),
    ]

    def one(i_m):
        i, m = i_m
        work = repo_copy(tmp_path / f"m{i}")
        (tmp_path / f"out{i}").mkdir()
        apply_hostile(m, work, tmp_path / f"out{i}")
        return m, run_snakemake(work, "-n", "--cores", "8")

    with ThreadPoolExecutor(max_workers=2) as pool:
        for m, (code, err) in pool.map(one, enumerate(sample)):
            outcome, detail = classify(code, err)
            assert outcome == "exit2", f"{m.describe()}: {outcome}: {detail}"


@pytest.mark.slow
def test_a_second_run_is_refused_before_snakemake_prints_its_banner(tmp_path):
    work = repo_copy(tmp_path / "repo")
    (work / ".snakemake").mkdir()
    fd = os.open(work / ".snakemake/dse-run.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a first run holds the lock
        os.write(fd, b"4242\n")
        code, err = run_snakemake(work, "--cores", "1")
    finally:
        os.close(fd)
    outcome, detail = classify(code, err)
    assert outcome == "exit2", detail
    assert "another snakemake run (pid 4242)" in err
    assert "Building DAG" not in err and "Job stats" not in err  # the 43-line banner, before


@pytest.mark.slow
def test_a_run_through_a_planted_link_is_refused_and_the_outside_is_untouched(tmp_path):
    work = repo_copy(tmp_path / "repo")
    outside = tmp_path / "outside"
    outside.mkdir()
    apply_hostile(Hostile("planted_link", site="results/benchmarks/roofline.tsv"), work, outside)
    code, err = run_snakemake(work, "--cores", "1", "results/roofline/kernels.parquet")
    outcome, detail = classify(code, err)
    assert outcome == "exit2", detail
    assert "results/benchmarks/roofline.tsv" in err and "outside the working folder" in err
    assert (outside / "roofline.tsv").read_text() == "precious\n"
    assert not (work / "results/roofline").exists()  # no job ran


def test_the_corpus_covers_every_hostile_class():
    from benchmarks.fuzz_snakemake import HOSTILE

    covered = {m.kind for m in CORPUS} | {"planted_link"}
    assert covered == set(HOSTILE)


def test_the_shipped_repository_passes(tmp_path):
    assert evaluate_in_process(repo_copy(tmp_path / "repo"))[0] == "exit0"
    assert ROOT.is_dir()
