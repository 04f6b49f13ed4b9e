"""schedule.txt (dse.hostsched): one line per call of schedule.json, every operand declared."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from dse.config import load_config
from dse.export import export_design
from dse.params import EXAMPLE_DESIGN

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "configs" / "config.yaml")


def _parse(text: str):
    lines = [ln.split() for ln in text.splitlines() if ln and not ln.startswith("#")]
    return [(w[0], dict(x.split("=", 1) for x in w[1:] if "=" in x)) for w in lines]


@pytest.mark.parametrize(
    "changes",
    [{}, {"fuse_attention": True, "compute_units": 6, "pc_weights": 1, "pc_outputs": 2}],
)
def test_schedule_text_mirrors_schedule_json(cfg, tmp_path, changes):
    design = dict(EXAMPLE_DESIGN, design_id="d", **changes)
    export_design(design, cfg.platform_raw, tmp_path, model=cfg.model(mapper=False))
    sched = json.loads((tmp_path / "schedule.json").read_text())
    lines = _parse((tmp_path / "schedule.txt").read_text())
    tensors = {f["name"]: f for kind, f in lines if kind == "tensor"}
    calls = [(kind, f) for kind, f in lines if kind in ("gemm", "vector")]
    assert not [f for kind, f in lines if kind == "unsupported"]  # smolVLA: every kernel known
    # one line per call of schedule.json; the pixel shuffle regroups an image's whole grid in
    # one call (its row shares on several CUs of one image become one line per image)
    expected = sum(
        len({c["image"] for c in s["calls"]}) if s["kernel"] == "pixel_shuffle" else len(s["calls"])
        for s in sched["steps"]
    )
    assert len(calls) == expected
    # smolVLA: 12 layers x 12 heads of (scores, context) per image, unfused also a softmax
    heads = [f for _, f in calls if f["k"] == "attn_scores" and f["image"] == "0"]
    assert len(heads) == 12 * 12
    for kind, f in calls:
        for op in ("a", "b", "c", "res", "bias", "gamma", "beta", "r"):
            name = f.get(op, "-")
            assert name in ("-", "@chip") or name in tensors, (f["k"], op, name)
        if kind == "gemm":
            # the class's runtime tile, unclipped, and the build tile_k: what the model charges
            tile = sched["classes"][
                next(s for s in sched["steps"] if s["kernel"] == f["k"])["class"]
            ]
            assert (int(f["tm"]), int(f["tn"]), int(f["tk"])) == (
                tile["tile_m"],
                tile["tile_n"],
                tile["tile_k"],
            )
    fused = [f for _, f in calls if f.get("softmax") == "1"]
    chips = [f for _, f in calls if f.get("a") == "@chip"]
    assert len(fused) == len(chips) == (len(heads) * 3 if changes else 0)
    # the model's 1/sqrt(head dim) scaling of the scores: 1/8 for smolVLA's 64
    assert all(float(f["alpha"]) == 0.125 for f in heads)


def _arena_lines(text: str):
    lines = _parse(text)
    tensors = {f["name"]: f for kind, f in lines if kind == "tensor"}
    arena = next(f for kind, f in lines if kind == "arena")
    calls = [(kind, f) for kind, f in lines if kind in ("gemm", "vector", "copy")]
    return tensors, {k: int(v) for k, v in arena.items()}, calls


@pytest.mark.parametrize(
    "changes",
    [{}, {"fuse_attention": True}, {"compute_units": 6, "pc_weights": 1, "pc_outputs": 2}],
)
def test_activation_arena_never_overwrites_a_tensor_still_to_be_read(cfg, tmp_path, changes):
    # An independent replay of the placement: walk image 0's calls in order, give every arena
    # element the tensor last written there (an input is written just before its first call),
    # and require every operand read to find its own tensor on all its elements. A plan that
    # let a tensor reuse the space of one still to be read fails here.
    design = dict(EXAMPLE_DESIGN, design_id="d", **changes)
    export_design(design, cfg.platform_raw, tmp_path, model=cfg.model(mapper=False))
    tensors, arena, calls = _arena_lines((tmp_path / "schedule.txt").read_text())
    owner = np.full(arena["acts_elems"], -1, dtype=np.int32)
    ids = {name: i for i, name in enumerate(tensors)}

    def span(name):
        t = tensors[name]
        off = int(t["off"])
        return slice(off, off + int(t["rows"]) * int(t["cols"]))

    written = set()
    for _kind, f in calls:
        if f["image"] != "0":
            continue
        for op in ("a", "b", "res", "r"):
            name = f.get(op, "-")
            if name in ("-", "@chip") or tensors[name]["kind"] in ("weight", "param"):
                continue
            if tensors[name]["kind"] == "input" and name not in written:
                owner[span(name)] = ids[name]
                written.add(name)
            assert (owner[span(name)] == ids[name]).all(), (f["k"], f["step"], name)
        if f["c"] != "@chip":
            owner[span(f["c"])] = ids[f["c"]]
            written.add(f["c"])
    # and the arena is the plan's peak: far below one buffer per tensor (the old host's layout)
    acts = [t for t in tensors.values() if t["kind"] in ("act", "input")]
    whole = sum(int(t["rows"]) * int(t["cols"]) for t in acts)
    assert arena["acts_elems"] <= owner.size and arena["acts_elems"] < whole / 10


def test_channel_capacity_by_hand(cfg):
    # smolVLA's weights: 12 x (4 x 768^2 + 2 x 768 x 3072) + 768 x 768 (patch embedding) +
    # 12288 x 960 (connector) = 97,320,960 elements, one copy on every weight channel: INT8
    # 92.8 MiB, BF16 185.6 MiB, FP32 371.3 MiB (+ 122,112 float vectors, 0.47 MiB, on the
    # first). A U280 pseudo-channel holds 256 MiB (8 GB / 32): FP32 weights do not fit.
    from dse.capacity import arena_elems, channel_mib
    from dse.model import VIOLATION_CAPACITY, Model, _Batch, violations_text
    from dse.space import design_batch

    model = Model(cfg.platform, cfg.workload)
    weights, params, acts, ps = arena_elems(model, False, 1)
    # + 64 elements of padding (the kernel reads whole 64-byte words) and + 1 float, as host.cpp
    # allocates them (ARENA_PAD, prm_elems + 1)
    assert weights == 12 * (4 * 768**2 + 2 * 768 * 3072) + 768 * 768 + 12288 * 960 + 64
    assert params == 12 * (9 * 768 + 3072) + 768 + 2 * 768 + 1  # biases, LayerNorms (+ patch, post)
    assert ps == 1024 * 3072  # fc1's M x N, the largest GEMM call on one CU
    designs = [
        dict(EXAMPLE_DESIGN, weight_precision=p, compute_units=1) for p in ("FP32", "BF16", "INT8")
    ]
    batch = design_batch(designs, cfg.platform)
    b = _Batch(model, batch)
    mib = channel_mib(
        model, fuse=b.fuse, cus_per_image=b.g, weight_code=b.wc, act_code=b.ac,
        share_weights=b.share, share_streams=b.share_streams,
    )  # fmt: skip
    wmib = weights / 2**20
    assert mib == pytest.approx([4 * wmib, 2 * wmib, wmib] + np.array(params * 4 / 2**20))
    r = model.evaluate(batch)
    viol = violations_text(cfg.platform, r.columns["violation_code"], r.columns["violation_used"],
                           r.columns["violation_limit"], r.violations)  # fmt: skip
    assert r.columns["violation_code"][0] == VIOLATION_CAPACITY
    assert viol[0].startswith("hbm MiB per channel 372 > 256 available")
    assert "MiB per channel" not in viol[1] + viol[2]
    # all of a CU's streams on one channel (share_streams, weights not shared): weights and the
    # activation arena with the partial sums add up there
    shared = dict(designs[2], share_streams=True)
    b2 = _Batch(model, design_batch([shared], cfg.platform))
    both = channel_mib(
        model, fuse=b2.fuse, cus_per_image=b2.g, weight_code=b2.wc, act_code=b2.ac,
        share_weights=b2.share, share_streams=b2.share_streams,
    )  # fmt: skip
    assert both[0] == pytest.approx(mib[2] + (acts + 4 * ps) / 2**20)


SP = re.compile(r"^sp=(dse_gemm_\d+)\.(\w+):HBM\[(\d+)\]$")


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"share_weights": True, "share_streams": True, "compute_units": 3, "pc_weights": 2},
        {"share_streams": True, "compute_units": 2, "pc_weights": 3, "pc_inputs": 1},
    ],
)
def test_link_cfg_places_every_argument_where_the_host_puts_its_buffer(cfg, tmp_path, changes):
    # Every m_axi argument of kernel.cpp has exactly one sp line; arguments of one bundle sit on
    # one channel; the port arguments follow schedule.txt's `cu` lines (the channels host.cpp
    # binds), prm the first weight channel and ps the first output channel (host.cpp's prm and
    # ps buffers).
    design = dict(EXAMPLE_DESIGN, design_id="d", **changes)
    export_design(design, cfg.platform_raw, tmp_path, model=cfg.model(mapper=False))
    sps: dict[str, dict[str, int]] = {}
    for line in (tmp_path / "link.cfg").read_text().splitlines():
        m = SP.match(line)
        if m:
            assert m.group(2) not in sps.setdefault(m.group(1), {})
            sps[m.group(1)][m.group(2)] = int(m.group(3))
    kernel = (tmp_path / "kernel.cpp").read_text()
    bundles = dict(re.findall(r"INTERFACE mode=m_axi port=(\w+) bundle=(\w+)", kernel))
    cus = [f for kind, f in _parse((tmp_path / "schedule.txt").read_text()) if kind == "cu"]
    assert len(sps) == len(cus) == design["compute_units"]
    for cu in cus:
        args = sps[f"dse_gemm_{int(cu['index']) + 1}"]
        assert set(args) == set(bundles)
        on: dict[str, set[int]] = {}
        for arg, ch in args.items():
            on.setdefault(bundles[arg], set()).add(ch)
        assert all(len(chs) == 1 for chs in on.values())
        chans = {s: [int(x) for x in cu[s].split(",")] for s in ("weights", "inputs", "outputs")}
        for stream, prefix in (("weights", "w"), ("inputs", "a"), ("outputs", "c")):
            assert [args[f"{prefix}{j}"] for j in range(len(chans[stream]))] == chans[stream]
        assert args["prm"] == chans["weights"][0] and args["ps"] == chans["outputs"][0]
