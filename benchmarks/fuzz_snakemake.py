"""Hostile inputs at the workflow level: mutate a copy of the repository's configs, run
``snakemake -n`` (a real ``snakemake --cores 1`` for planted links, which only a real run
follows) and ``dse evaluate`` on each, and count what comes out. Prints JSON:

    python benchmarks/fuzz_snakemake.py [--mutations 500] [--seed 0] [--jobs 2] [--show 5]

Every outcome must be exit 0, or exit 2 with one line (``dse: ...``; Snakemake's own notice
"Using workflow specific profile ..." printed before the Snakefile is read is not counted); a
trace, another exit code, or more than 30 s is a failure. The mutation classes are those of
issue 20 (file kinds and sizes, aliases, huge integers, nesting, duplicate keys, YAML 1.1
numbers, trailing newlines and injection payloads, planted links) plus every kind of
benchmarks/fuzz_configs.py (NaN, inf, wrong types, deleted and unknown keys, non-UTF-8 bytes,
truncation). tests/test_fuzz_hostile.py runs a sample of the same mutations.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fuzz_configs import (  # noqa: E402
    KINDS as CONFIG_KINDS,
)
from benchmarks.fuzz_configs import (  # noqa: E402
    Mutation,
    apply,
    check_evaluate,
    load_originals,
    node_paths,
    random_mutation,
)

#: The files mutated, relative to configs/ of the repository copy.
TARGETS = (
    "config.yaml", "platforms/u280.yaml", "models/smolvla_vision.yaml", "models/vit_b16.json",
)

#: Hostile classes (issue 20); the config kinds of benchmarks/fuzz_configs.py come on top.
HOSTILE = (
    "fifo", "folder", "dev_zero", "empty", "oversized", "alias_bomb", "recursive_alias",
    "huge_int", "deep_nesting", "duplicate_key", "yaml11_number", "trailing_newline",
    "injection", "planted_link",
)  # fmt: skip

#: Strings that would break out of C++, cfg, Markdown or a path if they got through.
PAYLOADS = ('"; system("x"); //', "*/ int x; /*", "#include <evil>", "$(touch /tmp/pwned)",
            "../../../etc/passwd", "a\nb", "x\n", "`rm -rf`", "| cat", "nk=evil:1")
YAML11 = ("012", "0b11", "1_000", "1:30", "0777")
#: Where a planted link points from (results/ paths a real run writes).
LINK_SITES = ("results/hls", "results", ".snakemake/dse-run.lock", "results/search/study.journal",
              "results/benchmarks/roofline.tsv", "results/sweep")

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Hostile:
    """One hostile mutation: ``kind`` applied to ``file`` (``site`` for a planted link,
    ``path`` the key path of a leaf, ``text`` a payload)."""

    kind: str
    file: str = "config.yaml"
    path: tuple = ()
    text: str = ""
    site: str = ""

    def describe(self) -> str:
        where = self.site or ".".join(map(str, self.path))
        return f"{self.file}: {self.kind} {where} {self.text!r}".strip()


def repo_copy(dest: Path) -> Path:
    """What a clone holds for running the workflow (Snakefile, workflow/, profiles/, configs/)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Snakefile", dest / "Snakefile")
    for folder in ("workflow", "profiles", "configs"):
        shutil.copytree(ROOT / folder, dest / folder)
    return dest


def _leaf_paths(data: Any, *, strings: bool = False) -> list[tuple]:
    paths = node_paths(data, leaves_only=True)
    if strings:
        paths = [p for p in paths if isinstance(_get(data, p), str)]
    return paths


def _get(data: Any, path: tuple) -> Any:
    for k in path:
        data = data[k]
    return data


def _load(path: Path) -> Any:
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _dump(path: Path, data: Any) -> None:
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=2))
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def random_hostile(rng: random.Random, configs: Path) -> Hostile:
    """A hostile mutation drawn with ``rng`` (leaf paths from the shipped files)."""
    kind = rng.choice(HOSTILE)
    file = rng.choice(TARGETS)
    if kind == "planted_link":
        return Hostile(kind, site=rng.choice(LINK_SITES))
    data = _load(configs / file)
    if kind in ("huge_int", "deep_nesting", "yaml11_number"):
        return Hostile(kind, file, path=rng.choice(_leaf_paths(data)), text=rng.choice(YAML11))
    if kind in ("trailing_newline", "injection"):
        paths = _leaf_paths(data, strings=True) or _leaf_paths(data)
        return Hostile(kind, file, path=rng.choice(paths), text=rng.choice(PAYLOADS))
    if kind == "duplicate_key":
        keys = list(data) if isinstance(data, dict) else ["x"]
        return Hostile(kind, file, path=(rng.choice(keys),), text=str(rng.randint(0, 64)))
    return Hostile(kind, file)


def _set_text(path: Path, leaf: tuple, literal: str) -> None:
    """Replace the leaf at ``leaf`` with a literal of YAML (or JSON) text, by a placeholder."""
    data = _load(path)
    parent = _get(data, leaf[:-1])
    parent[leaf[-1]] = "@@PLACEHOLDER@@"
    _dump(path, data)
    text = path.read_text()
    quoted = '"@@PLACEHOLDER@@"' if '"@@PLACEHOLDER@@"' in text else "@@PLACEHOLDER@@"
    path.write_text(text.replace(quoted, literal, 1))


def apply_hostile(m: Hostile, work: Path, outside: Path) -> None:
    """Apply ``m`` to the repository copy ``work`` (``outside``: a folder outside it)."""
    configs = work / "configs"
    if m.file == "models/vit_b16.json" and m.kind != "planted_link":
        text = (configs / "config.yaml").read_text()
        (configs / "config.yaml").write_text(
            text.replace("models/smolvla_vision.yaml", "models/vit_b16.json", 1))
    target = configs / m.file
    json_file = target.suffix == ".json"
    if m.kind == "fifo":
        target.unlink()
        os.mkfifo(target)
    elif m.kind == "folder":
        target.unlink()
        target.mkdir()
    elif m.kind == "dev_zero":
        target.unlink()
        target.symlink_to("/dev/zero")
    elif m.kind == "empty":
        target.write_text("")
    elif m.kind == "oversized":
        with target.open("a") as fh:
            fh.write(("\n" if json_file else "# ") + " " * (9 * 2**20) + "\n")
    elif m.kind == "alias_bomb":
        if json_file:  # JSON has no aliases: a 4,400-digit number instead
            _set_text(target, ("hidden_size",), "9" * 4400)
        else:
            lines = ["zz0: &zz0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
            lines += [f"zz{i}: &zz{i} [" + ", ".join([f"*zz{i - 1}"] * 9) + "]"
                      for i in range(1, 10)]
            with target.open("a") as fh:
                fh.write("\n" + "\n".join(lines) + "\n")
    elif m.kind == "recursive_alias":
        with target.open("a") as fh:
            fh.write("\nzz_loop: &zzl [*zzl]\n" if not json_file else "\n{")
    elif m.kind == "huge_int":
        _set_text(target, m.path, "7" * 4400)
    elif m.kind == "deep_nesting":
        _set_text(target, m.path, "[" * 3000 + "]" * 3000)
    elif m.kind == "yaml11_number":
        _set_text(target, m.path, m.text if not json_file else "0" + m.text)
    elif m.kind == "duplicate_key":
        if json_file:
            text = target.read_text()
            target.write_text(text.replace("{", f'{{"{m.path[0]}": {m.text}, ', 1))
        else:
            with target.open("a") as fh:
                fh.write(f"\n{m.path[0]}: {m.text}\n")
    elif m.kind in ("trailing_newline", "injection"):
        data = _load(target)
        parent = _get(data, m.path[:-1])
        old = parent[m.path[-1]]
        parent[m.path[-1]] = (f"{old}\n" if m.kind == "trailing_newline" else m.text)
        _dump(target, data)
    elif m.kind == "planted_link":
        site = work / m.site
        site.parent.mkdir(parents=True, exist_ok=True)
        outside_target = outside / Path(m.site).name
        if m.site in ("results", "results/hls", "results/sweep"):
            outside_target.mkdir(parents=True, exist_ok=True)
            (outside_target / "index.json").write_text("{}")
        else:
            outside_target.write_text("precious\n")
        site.symlink_to(outside_target)
    else:
        raise ValueError(m.kind)


_PROFILE_NOTICE = re.compile(r"^Using (workflow specific|profile) ")


def classify(code: int | None, stderr: str) -> tuple[str, str]:
    """An outcome: ``exit0``, ``exit2`` (one ``dse:`` line), ``multiline``, ``traceback``,
    ``hang`` or ``other_exit``; and a detail for failures."""
    if code is None:
        return "hang", "no answer within the timeout"
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not _PROFILE_NOTICE.match(ln)]
    if "Traceback" in stderr or re.search(r"Error in (file|rule)", stderr):
        return "traceback", stderr[-800:]
    if code == 0:
        return "exit0", ""
    if code == 2:
        if len(lines) == 1 and lines[0].startswith("dse"):
            return "exit2", lines[0]
        return "multiline", "\n".join(lines[-6:])
    return "other_exit", f"exit {code}: " + "\n".join(lines[-4:])


def run_snakemake(work: Path, *args: str, timeout: float = TIMEOUT_S) -> tuple[int | None, str]:
    """``snakemake ARGS`` in ``work`` (its own session, killed whole on a timeout)."""
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", *args], cwd=work, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        return None, ""
    return proc.returncode, err


_IN_PROCESS = threading.Lock()  # redirect_stdout is per process, not per thread


def evaluate_in_process(work: Path) -> tuple[str, str]:
    """``dse evaluate`` on the mutated config, in this process (a FIFO would block: the loader
    refuses it without waiting, which is the point)."""
    with _IN_PROCESS:
        return check_evaluate(work / "configs" / "config.yaml")


def run_one(m: Any, tmp: Path, originals: Any) -> dict[str, Any]:
    """Apply one mutation to a fresh repository copy; run snakemake (and dse evaluate)."""
    work = repo_copy(tmp / "repo")
    outside = tmp / "outside"
    outside.mkdir()
    if isinstance(m, Mutation):  # a kind of benchmarks/fuzz_configs.py
        for name, raw in apply(m, originals).items():
            (work / "configs" / name).write_bytes(raw)
    else:
        apply_hostile(m, work, outside)
    real = isinstance(m, Hostile) and m.kind == "planted_link"
    t0 = time.perf_counter()
    # a real run of one cheap job (the roofline) for a planted link; a dry run otherwise
    args = ("--cores", "1", "results/roofline/kernels.parquet") if real else ("-n", "--cores", "8")
    code, err = run_snakemake(work, *args)
    seconds = time.perf_counter() - t0
    outcome, detail = classify(code, err)
    if real and outcome == "exit0" and m.site != ".snakemake/dse-run.lock":
        # a planted run lock is replaced (the run goes on); any other link must stop the run
        outcome, detail = "other_exit", "a run through a planted link was not refused"
    record = {"mutation": m.describe(), "kind": m.kind, "snakemake": outcome,
              "detail": detail, "seconds": round(seconds, 1)}
    if real:
        untouched = all(
            (p.read_text() in ("precious\n", "{}")) for p in outside.rglob("*") if p.is_file()
        )
        record["outside_untouched"] = untouched
    else:
        record["dse"] = evaluate_in_process(work)[0]
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutations", type=int, default=500, help="mutations to run")
    ap.add_argument("--seed", type=int, default=0, help="seed of the mutation sampler")
    ap.add_argument("--jobs", type=int, default=2, help="snakemake runs side by side")
    ap.add_argument("--show", type=int, default=5, help="failures to print on stderr")
    ap.add_argument("--hostile-share", type=float, default=0.6,
                    help="share of hostile mutations (the rest: fuzz_configs kinds)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    originals = load_originals()
    mutations: list[Any] = []
    for _ in range(args.mutations):
        if rng.random() < args.hostile_share:
            mutations.append(random_hostile(rng, ROOT / "configs"))
        else:
            mutations.append(random_mutation(rng, originals))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dse-smfuzz-") as tmp:
        def task(i_m: tuple[int, Any]) -> dict[str, Any]:
            i, m = i_m
            folder = Path(tmp) / f"m{i}"
            folder.mkdir()
            try:
                return run_one(m, folder, originals)
            finally:
                shutil.rmtree(folder, ignore_errors=True)

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            records = list(pool.map(task, enumerate(mutations)))
    sm = Counter(r["snakemake"] for r in records)
    dse = Counter(r["dse"] for r in records if "dse" in r)
    by_kind: dict[str, Counter[str]] = {}
    for r in records:
        by_kind.setdefault(r["kind"], Counter())[r["snakemake"]] += 1
    failures = [r for r in records if r["snakemake"] not in ("exit0", "exit2")
                or r.get("dse", "exit0") not in ("exit0", "exit2")
                or r.get("outside_untouched") is False]
    for r in failures[: args.show]:
        print(json.dumps(r), file=sys.stderr)
    report = {
        "mutations": len(records),
        "seed": args.seed,
        "snakemake": {
            "exit_0": sm["exit0"], "exit_2_one_line": sm["exit2"], "tracebacks": sm["traceback"],
            "hangs_over_30_s": sm["hang"], "exit_2_not_one_line": sm["multiline"],
            "other_exit": sm["other_exit"],
        },
        "dse_evaluate": dict(sorted(dse.items())),
        "planted_links_outside_untouched": sum(1 for r in records if r.get("outside_untouched")),
        "planted_links": sum(1 for r in records if "outside_untouched" in r),
        "slowest_s": max((r["seconds"] for r in records), default=0.0),
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "failures": len(failures),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(report, indent=2))
    return 0 if not failures else 1


# the kinds of benchmarks/fuzz_configs.py, for the report's readers
__all__ = ["CONFIG_KINDS", "HOSTILE", "Hostile", "apply_hostile", "classify", "main",
           "random_hostile", "repo_copy", "run_one", "run_snakemake"]

if __name__ == "__main__":
    sys.exit(main())
