"""Fuzzed configs: mutate the shipped config, platform and model files and check that `dse
evaluate` either succeeds with finite, non-negative figures or exits 2 with one line.

Each mutation changes one of configs/config.yaml, configs/platforms/u280.yaml and
configs/models/smolvla_vision.yaml: a leaf replaced by NaN, inf, -inf, 0, a negative or a huge
number, a value of the wrong type, an empty string or random text; a key deleted; an unknown key
added; or the file's bytes corrupted (non-UTF-8 bytes, truncation). Prints counts as JSON:

    python benchmarks/fuzz_configs.py [--mutations 500] [--edges 100] [--seed 0] [--show 5]

``--edges`` adds configs with several platform and model figures at once at the edge of their
ranges, each evaluated on four designs from the smallest to the largest the parameters allow:
whatever the ranges accept must give finite, non-negative figures (no int64 overflow, no NaN).

tests/test_fuzz.py drives the same mutations with hypothesis.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dse.params import EXAMPLE_DESIGN

ROOT = Path(__file__).resolve().parent.parent

#: The shipped files, by their path relative to the config's folder (the layout is kept).
FILES = {
    "config.yaml": ROOT / "configs" / "config.yaml",
    "platforms/u280.yaml": ROOT / "configs" / "platforms" / "u280.yaml",
    "models/smolvla_vision.yaml": ROOT / "configs" / "models" / "smolvla_vision.yaml",
}

#: A known, feasible design on the shipped platform (dse.params.EXAMPLE_DESIGN).
DESIGN = dict(EXAMPLE_DESIGN)

#: Replacement values for a leaf (``negative`` and ``wrong_type`` depend on the old value;
#: ``at_minimum``/``at_maximum`` put a number at the edge of the range its schema allows).
LEAF_KINDS = (
    "nan",
    "inf",
    "-inf",
    "zero",
    "negative",
    "huge",
    "wrong_type",
    "empty_string",
    "text",
    "at_minimum",
    "at_maximum",
)
#: Whole-file or structural mutations.
OTHER_KINDS = ("delete_key", "unknown_key", "non_utf8", "truncate")
KINDS = LEAF_KINDS + OTHER_KINDS


@dataclass(frozen=True)
class Mutation:
    """One change to one shipped file.

    Attributes:
        file: key of FILES.
        kind: one of KINDS.
        path: key path of the node changed (leaf kinds, delete_key, unknown_key).
        position: fraction 0..1 of the file's length (non_utf8, truncate).
        text: random text (``text`` kind).
    """

    file: str
    kind: str
    path: tuple = ()
    position: float = 0.0
    text: str = ""

    def describe(self) -> str:
        where = ".".join(map(str, self.path)) if self.path else f"@{self.position:.3f}"
        extra = f" {self.text!r}" if self.kind == "text" else ""
        return f"{self.file}: {self.kind} {where}{extra}"


def load_originals() -> dict[str, tuple[bytes, Any]]:
    """The shipped files: name -> (bytes, parsed YAML)."""
    return {name: (p.read_bytes(), yaml.safe_load(p.read_bytes())) for name, p in FILES.items()}


def _children(data: Any) -> Any:
    """(key, value) pairs of a mapping or a list; nothing for a scalar."""
    if isinstance(data, dict):
        return data.items()
    return enumerate(data) if isinstance(data, list) else ()


def node_paths(data: Any, *, leaves_only: bool, prefix: tuple = ()) -> list[tuple]:
    """Key paths of every node below ``data`` (mapping keys and list indices)."""
    out: list[tuple] = []
    items = _children(data)
    for k, v in items:
        p = prefix + (k,)
        inner = isinstance(v, (dict, list)) and len(v) > 0
        if not inner or not leaves_only:
            out.append(p)
        if inner:
            out.extend(node_paths(v, leaves_only=leaves_only, prefix=p))
    return out


def mapping_paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Key paths of every mapping (the top level is ``()``)."""
    out = [prefix] if isinstance(data, dict) else []
    items = _children(data)
    for k, v in items:
        out.extend(mapping_paths(v, prefix + (k,)))
    return out


def _wrong_type(old: Any) -> Any:
    if isinstance(old, bool):
        return 7
    if isinstance(old, (int, float)):
        return "twelve"
    if isinstance(old, str):
        return 123
    if isinstance(old, list):
        return {"a": 1}
    return [1, 2]


def _negative(old: Any) -> Any:
    if isinstance(old, bool) or not isinstance(old, (int, float)) or old == 0:
        return -1
    return -abs(old)


#: The schema of each file (the config's search section has its own).
SCHEMAS = {"config.yaml": "config", "platforms/u280.yaml": "platform"}
SCHEMAS["models/smolvla_vision.yaml"] = "model"


def boundary(file: str, path: tuple, old: Any, *, upper: bool) -> Any:
    """The smallest or largest value the schema allows at ``path`` (``old`` when unbounded)."""
    from dse.config import subschema

    name = SCHEMAS[file]
    if name == "config" and path[:1] == ("search",):
        name, path = "search", path[1:]
    s = subschema(name, path)
    if upper:
        edge = s.get("maximum", s.get("exclusiveMaximum"))
    else:
        edge = s.get("minimum", s.get("exclusiveMinimum"))
    if edge is None or isinstance(old, bool) or not isinstance(old, (int, float)):
        return old
    if "exclusiveMinimum" in s and not upper:
        return edge + 1e-6  # just inside an open lower end
    if "exclusiveMaximum" in s and upper:
        return edge - 1e-6
    return int(edge) if s.get("type") == "integer" else edge


def leaf_value(kind: str, old: Any, text: str = "") -> Any:
    """The replacement value of a leaf mutation (not for ``at_minimum``/``at_maximum``)."""
    return (
        {
            "nan": math.nan,
            "inf": math.inf,
            "-inf": -math.inf,
            "zero": 0,
            "huge": 1e30,
            "empty_string": "",
            "text": text,
        }.get(kind)
        if kind not in ("negative", "wrong_type")
        else (_negative(old) if kind == "negative" else _wrong_type(old))
    )


def _get(data: Any, path: tuple) -> Any:
    for k in path:
        data = data[k]
    return data


def apply(mutation: Mutation, originals: dict[str, tuple[bytes, Any]]) -> dict[str, bytes]:
    """The bytes of every file after ``mutation`` (untouched files keep their shipped bytes)."""
    out = {name: raw for name, (raw, _) in originals.items()}
    raw, data = originals[mutation.file]
    m = mutation
    if m.kind == "non_utf8":
        i = int(m.position * len(raw))
        out[m.file] = raw[:i] + b"\xff\xfe\xc3(" + raw[i:]
        return out
    if m.kind == "truncate":
        out[m.file] = raw[: int(m.position * len(raw))]
        return out
    data = copy.deepcopy(data)
    if m.kind == "unknown_key":
        _get(data, m.path)["zz_unknown_key"] = 1
    else:
        parent, key = _get(data, m.path[:-1]), m.path[-1]
        if m.kind == "delete_key":
            del parent[key]
        elif m.kind in ("at_minimum", "at_maximum"):
            parent[key] = boundary(m.file, m.path, parent[key], upper=m.kind == "at_maximum")
        else:
            parent[key] = leaf_value(m.kind, parent[key], m.text)
    out[m.file] = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")
    return out


def random_mutation(rng: random.Random, originals: dict[str, tuple[bytes, Any]]) -> Mutation:
    """A mutation drawn with ``rng`` (the benchmark's sampler; the test uses hypothesis)."""
    file = rng.choice(sorted(originals))
    kind = rng.choice(KINDS)
    data = originals[file][1]
    if kind in ("non_utf8", "truncate"):
        return Mutation(file, kind, position=rng.random())
    if kind == "unknown_key":
        return Mutation(file, kind, path=rng.choice(mapping_paths(data)))
    paths = node_paths(data, leaves_only=kind != "delete_key")
    text = "".join(rng.choice("abc xyz:{}[]-#&*!|>'\"\\0123é") for _ in range(rng.randint(1, 12)))
    return Mutation(file, kind, path=rng.choice(paths), text=text)


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    """Write the (mutated) files under ``folder``; return the config's path."""
    for name, raw in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(raw)
    return folder / "config.yaml"


def run_dse(argv: list[str]) -> tuple[int | None, str, str, str | None]:
    """Run ``dse`` in this process: (exit code, stdout, stderr, traceback or None)."""
    from dse.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: int | None
    tb = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001  (the very thing counted)
            code, tb = None, traceback.format_exc()
    return code, out.getvalue(), err.getvalue(), tb


#: Figures that are signed by definition (a design above its fmax has a negative margin).
SIGNED = ("fmax_margin_mhz",)


def bad_numbers(obj: Any, path: str = "") -> list[str]:
    """Key paths of numbers in a JSON value that are NaN, infinite or negative (negative only
    where the figure is not signed by definition: ``SIGNED``)."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return []
    if isinstance(obj, (int, float)):
        negative = obj < 0 and path.rsplit(".", 1)[-1] not in SIGNED
        return [f"{path}={obj!r}"] if not math.isfinite(obj) or negative else []
    if isinstance(obj, dict):
        return [b for k, v in obj.items() for b in bad_numbers(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [b for i, v in enumerate(obj) for b in bad_numbers(v, f"{path}[{i}]")]
    return [f"{path}: unexpected {type(obj).__name__}"]


def check_evaluate(config: Path, design: dict | None = None) -> tuple[str, str]:
    """Run `dse evaluate` on a config; classify the outcome.

    Returns:
        (outcome, detail): outcome is ``exit0``, ``exit2``, ``traceback``, ``nonfinite``
        (exit 0 with a NaN, infinite or negative figure), ``multiline`` (exit 2 with other than
        one line on stderr) or ``other_exit``.
    """
    code, out, err, tb = run_dse(
        ["evaluate", "--config", str(config), "--design", json.dumps(design or DESIGN)]
    )
    if tb is not None:
        return "traceback", tb.strip().splitlines()[-1]
    if code == 0:
        try:
            bad = bad_numbers(json.loads(out))
        except json.JSONDecodeError as exc:
            return "nonfinite", f"unparsable output: {exc}"
        return ("nonfinite", ", ".join(bad[:3])) if bad else ("exit0", "")
    if code == 2:
        lines = err.splitlines()
        if len(lines) != 1 or not err.endswith("\n") or "Traceback" in err:
            return "multiline", err
        return "exit2", lines[0]
    return "other_exit", f"exit {code}: {err.strip()}"


#: Designs from the smallest to the largest dse/params.py allows, for the edge configs.
EXTREME_DESIGNS = (
    DESIGN,
    {
        **DESIGN,
        **dict(pe_m=1024, pe_n=1024, pe_k=1024, tile_m=65536, tile_n=65536, tile_k=65536),
        **dict(compute_units=64, vector_lanes=4096, clock_mhz=1000, fuse_attention=True),
        **dict(weight_precision="FP32", act_precision="FP32", buffer_storage="uram"),
    },
    {
        **DESIGN,
        **dict(pe_m=1, pe_n=1, pe_k=1, tile_m=1, tile_n=1, tile_k=1, compute_units=1),
        **dict(vector_lanes=1, clock_mhz=50, pc_weights=1, pc_inputs=1, pc_outputs=1),
        **dict(double_buffer=False, dataflow="knm", share_weights=True),
    },
    {
        **DESIGN,
        **dict(pe_m=1, pe_n=1, pe_k=1, tile_m=65536, tile_n=65536, tile_k=65536),
        **dict(compute_units=64, vector_lanes=1, clock_mhz=50, fuse_attention=True),
        **dict(pc_weights=32, pc_inputs=32, pc_outputs=32, dataflow="kmn"),
        **dict(weight_precision="INT4", act_precision="INT4"),
    },
)


def edge_files(rng: random.Random, originals: dict[str, tuple[bytes, Any]], share: float = 0.06):
    """Every file, with about ``share`` of the platform's and model's numbers at a range edge."""
    files = {}
    for name, (raw, data) in originals.items():
        if name == "config.yaml":
            files[name] = raw
            continue
        data = copy.deepcopy(data)
        for path in node_paths(data, leaves_only=True):
            if rng.random() < share:
                parent = _get(data, path[:-1])
                parent[path[-1]] = boundary(name, path, parent[path[-1]], upper=rng.random() < 0.5)
        files[name] = yaml.safe_dump(data, sort_keys=False).encode("utf-8")
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutations", type=int, default=500, help="mutations to run")
    ap.add_argument("--edges", type=int, default=100, help="edge configs (x 4 designs) to run")
    ap.add_argument("--seed", type=int, default=0, help="seed of the mutation sampler")
    ap.add_argument("--show", type=int, default=5, help="failures to print on stderr")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    originals = load_originals()
    counts: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    failures: list[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dse-fuzz-") as tmp:
        for i in range(args.mutations):
            m = random_mutation(rng, originals)
            folder = Path(tmp) / f"m{i}"
            config = write_files(folder, apply(m, originals))
            outcome, detail = check_evaluate(config)
            counts[outcome] += 1
            by_kind.setdefault(m.kind, Counter())[outcome] += 1
            if outcome not in ("exit0", "exit2"):
                failures.append(f"{m.describe()} -> {outcome}: {detail}")
        edges: Counter[str] = Counter()
        for i in range(args.edges):
            config = write_files(Path(tmp) / f"e{i}", edge_files(rng, originals))
            for j, design in enumerate(EXTREME_DESIGNS):
                outcome, detail = check_evaluate(config, design)
                edges[outcome] += 1
                if outcome not in ("exit0", "exit2"):
                    failures.append(f"edge config {i}, design {j} -> {outcome}: {detail}")
    for f in failures[: args.show]:
        print(f, file=sys.stderr)
    report = {
        "mutations": args.mutations,
        "seed": args.seed,
        "exit_0": counts["exit0"],
        "exit_2": counts["exit2"],
        "tracebacks": counts["traceback"],
        "non_finite_or_negative_outputs": counts["nonfinite"],
        "exit_2_not_one_line": counts["multiline"],
        "other_exit": counts["other_exit"],
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "edge_configs": args.edges,
        "edge_evaluations": dict(sorted(edges.items())),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(report, indent=2))
    return 0 if len(failures) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
