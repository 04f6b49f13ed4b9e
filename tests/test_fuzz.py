"""Property-based: mutate the shipped config, platform and model files; `dse evaluate` and
`dse sweep` either succeed with finite, non-negative figures or exit 2 with one line on stderr,
and never let an exception escape. The mutations are those of benchmarks/fuzz_configs.py, which
runs many more of them and prints the counts."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_configs import (
    KINDS,
    Mutation,
    apply,
    check_evaluate,
    load_originals,
    mapping_paths,
    node_paths,
    run_dse,
    write_files,
)

ORIGINALS = load_originals()
FILES = tuple(sorted(ORIGINALS))

#: A grid of 8 designs for the sweep check (a few seconds for every example together).
TINY_SPACE = {
    "weight_precision": ["INT8", "FP32"],
    "act_precision": ["INT8"],
    "pe_m": [16],
    "pe_n": [16],
    "pe_k": [16],
    "tile_m": [128],
    "tile_n": [128],
    "tile_k": [256],
    "dataflow": ["mnk"],
    "pc_weights": [4],
    "pc_inputs": [2],
    "pc_outputs": [1],
    "share_weights": [False],
    "compute_units": [1, 3],
    "double_pump": [False],  # only false: no documented HLS route (facts.md §9)
    "buffer_storage": ["bram"],
    "double_buffer": [True],
    "fuse_attention": [False],
    "vector_lanes": [32],
}


@st.composite
def mutations(draw, files=FILES):
    """One mutation of one shipped file (the benchmark draws the same kinds with random)."""
    file = draw(st.sampled_from(files))
    kind = draw(st.sampled_from(KINDS))
    data = ORIGINALS[file][1]
    if kind in ("non_utf8", "truncate"):
        return Mutation(file, kind, position=draw(st.floats(0.0, 1.0)))
    if kind == "unknown_key":
        return Mutation(file, kind, path=draw(st.sampled_from(mapping_paths(data))))
    path = draw(st.sampled_from(node_paths(data, leaves_only=kind != "delete_key")))
    text = draw(st.text(max_size=12)) if kind == "text" else ""
    return Mutation(file, kind, path=path, text=text)


@settings(max_examples=200, deadline=None)
@given(mutation=mutations())
def test_evaluate_on_a_mutated_config_exits_0_with_finite_figures_or_2_with_one_line(mutation):
    with tempfile.TemporaryDirectory(prefix="dse-fuzz-") as tmp:
        config = write_files(Path(tmp), apply(mutation, ORIGINALS))
        outcome, detail = check_evaluate(config)
    assert outcome in ("exit0", "exit2"), f"{mutation.describe()}: {outcome}: {detail}"


def _finite_non_negative(frame: pd.DataFrame) -> list[str]:
    bad = []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            values = col.to_numpy(dtype=float)
            if not np.isfinite(values).all() or (values < 0).any():
                bad.append(name)
    return bad


@settings(max_examples=30, deadline=None)
@given(mutation=mutations(files=("models/smolvla_vision.yaml", "platforms/u280.yaml")))
def test_sweep_on_a_mutated_platform_or_model(mutation):
    files = apply(mutation, ORIGINALS)
    config = dict(ORIGINALS["config.yaml"][1])
    config.pop("search")
    config["sweep"] = {"shards": 1, "space": TINY_SPACE}
    files["config.yaml"] = yaml.safe_dump(config, sort_keys=False).encode()
    with tempfile.TemporaryDirectory(prefix="dse-fuzz-") as tmp:
        cfg = write_files(Path(tmp), files)
        out = Path(tmp) / "shard-0.parquet"
        code, _, err, tb = run_dse(
            ["sweep", "--config", str(cfg), "--shard", "0/1", "--out", str(out)]
        )
        assert tb is None, f"{mutation.describe()}: {tb}"
        assert code in (0, 2), f"{mutation.describe()}: exit {code}: {err}"
        if code == 2:
            assert len(err.splitlines()) == 1, err
            assert not out.exists()
        else:
            frame = pd.read_parquet(out)
            assert len(frame) == math.prod(len(v) for v in TINY_SPACE.values())
            assert _finite_non_negative(frame) == [], mutation.describe()


def test_the_shipped_configs_pass():
    # the mutations start from files that must themselves evaluate cleanly
    with tempfile.TemporaryDirectory(prefix="dse-fuzz-") as tmp:
        config = write_files(Path(tmp), {k: raw for k, (raw, _) in ORIGINALS.items()})
        assert check_evaluate(config) == ("exit0", "")
