"""End-to-end C simulation of an exported design (``dse csim``): the exported host program and
kernels, built with g++ in C-sim mode (``-DDSE_CSIM``), run one encoder layer and the connector
of the design's model at reduced size on random weights; the outputs are compared with the numpy
reference (dse.reference) and the kernels' loop counters with the model's compute cycles.

Stages (:func:`run_csim`):

1. the design, its model and platform from the export folder (``design.json``, ``model.json``,
   ``platform.json``);
2. a reduced workload of the model (:func:`reduced_model`: one layer, fewer heads and tokens, the
   head dimension, the MLP ratio and the connector's scale factor kept) and its schedule,
   built by :func:`dse.schedule.build_schedule` from the same design;
3. random inputs and weights from a fixed seed, written as the host's tensor files;
4. ``g++ -std=c++17 -O1 -DDSE_CSIM`` of host + kernels into a temporary build folder, then a run;
5. three checks: every integer GEMM call's int32 accumulators equal numpy's product of the
   quantised operands the C simulation dumped (bit-exact); the layer's and the connector's
   outputs are within :func:`output_tolerance` of the numpy reference with the design's
   numerics; every GEMM call's loop-counter cycles are within 5% of the model's compute cycles
   for the same call (:func:`model_gemm_cycles`).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dse.errors import UserError
from dse.reference import (
    Order,
    Sizes,
    decode,
    encode,
    int_matmul,
    kernel_matmul32,
    random_connector,
    random_layer,
    scale_name,
)

#: Agreement required between the C simulation's cycles (every loop, data movement included) and
#: the model's time, per GEMM call and per layer (issue 16).
CYCLE_TOLERANCE = 0.10

#: Sizes of the reduced workload: heads kept (at most), patch-grid side (at least, a multiple of
#: the connector's scale factor, at most the model's) and token count for token-input models.
REDUCED_HEADS = 2
REDUCED_GRID_SIDE = 16
REDUCED_TOKENS = 256


def reduced_model(raw: Mapping[str, Any], *, full_size: bool = False) -> dict[str, Any]:
    """The model mapping ``dse csim`` runs: one encoder layer of ``raw`` (a model mapping with
    its defaults, dse.config.load_model) on one image, and its connector.

    Reduced (the default): ``min(heads, 2)`` heads of the model's head dimension (hidden = heads x
    head dim, so hidden stays divisible by the heads and the attention products keep their K),
    the MLP and the connector's output scaled with hidden (their ratios kept; rounded up to a
    multiple of 16 when the ratio does not divide), a patch grid of side 16 (rounded up to a
    multiple of the connector's scale factor, at most the model's side), or 256 tokens for a
    token-input model. ``full_size``: the model's sizes, one layer.

    Heads stay: the connector, the classifier (its classes scaled with hidden) and the pooling
    head (with the reduced heads and MLP unless it names its own, then scaled the same way).
    Patch embedding and position add stay: they are the schedule's stem.
    """
    m = dict(raw)
    m["layers"] = 1
    m["cameras"] = 1
    if full_size:
        return m
    d, h = int(raw["hidden"]), int(raw["heads"])
    dh = d // h
    heads = min(h, REDUCED_HEADS)
    hidden = heads * dh
    m.update(heads=heads, hidden=hidden, mlp=_scaled(int(raw["mlp"]), hidden, d))
    if "classifier" in raw:
        c = dict(raw["classifier"])
        c["classes"] = _scaled(int(c["classes"]), hidden, d)
        m["classifier"] = c
    if "pooling" in raw:
        pool = dict(raw["pooling"])
        if "heads" in pool:
            pool["heads"] = min(int(pool["heads"]), REDUCED_HEADS)
        if "mlp" in pool:
            pool["mlp"] = _scaled(int(pool["mlp"]), hidden, d)
        m["pooling"] = pool
    if raw.get("input", "image") == "tokens":
        m["sequence_length"] = min(int(raw["sequence_length"]), REDUCED_TOKENS)
        return m
    side = int(raw["image_size"]) // int(raw["patch_size"])
    scale = int(raw["connector"]["scale_factor"]) if "connector" in raw else 1
    small = min(side, math.ceil(REDUCED_GRID_SIDE / scale) * scale)
    small = max(scale, small - small % scale)
    m["image_size"] = small * int(raw["patch_size"])
    m["crop_remainder"] = False
    if "connector" in raw:
        c = dict(raw["connector"])
        c["out_features"] = _scaled(int(c["out_features"]), hidden, d)
        m["connector"] = c
    return m


def _scaled(size: int, new: int, old: int) -> int:
    """``size x new / old``: exact when it divides, else rounded up to a multiple of 16."""
    if (size * new) % old == 0:
        return size * new // old
    return 16 * math.ceil(size * new / old / 16)


def model_gemm_cycles(
    shape: Mapping[str, int],
    tile: Mapping[str, int],
    pe: Mapping[str, int],
    fill: float,
) -> float:
    """The model's compute cycles of one GEMM call (dse.model: ``Model._gemm``'s ``t_comp`` x
    clock): the kernel's PE loop runs each tile's real extent rounded up to the PE factors
    (runtime trip counts; tiles are multiples of the PE factors), so the steps of a dimension add
    up to ``ceil(dim / pe)``; each of the ``ceil(m/tm) ceil(n/tn) ceil(k/tk)`` tiles adds ``fill``
    (the platform's ``logic.pipeline_fill_cycles``).

    Args:
        shape: ``m``, ``k``, ``n`` of the call.
        tile: the class's runtime tile ``m``, ``n``, ``k`` (multiples of the PE factors).
        pe: ``pe_m``, ``pe_n``, ``pe_k`` of the design.
        fill: pipeline fill cycles per tile.
    """
    tiles = (
        math.ceil(shape["m"] / tile["m"])
        * math.ceil(shape["n"] / tile["n"])
        * math.ceil(shape["k"] / tile["k"])
    )
    steps = (
        math.ceil(shape["m"] / pe["pe_m"])
        * math.ceil(shape["n"] / pe["pe_n"])
        * math.ceil(shape["k"] / pe["pe_k"])
    )
    return steps + tiles * fill


def kernel_order(params: Mapping[str, Any], platform_raw: Mapping[str, Any]) -> Order:
    """The exported kernels' float32 summation order for a design (dse.reference.Order): its
    tile depth and PE width, the platform's float-add stages as the interleaved partial sums
    (float engines; integers sum exactly in one slot) and the vector lanes."""
    from dse.export import DEFAULT_FADD_STAGES, accumulator_type, engine_precisions

    stages = int(platform_raw.get("logic", {}).get("fadd_stages", DEFAULT_FADD_STAGES))
    w, a, _ = engine_precisions(params)
    floating = accumulator_type(w, a) == "float"
    return Order(
        tile_k=int(params["tile_k"]), pe_k=int(params["pe_k"]),
        acc_slots=stages if floating else 1, lanes=int(params["vector_lanes"]),
        vector_slots=stages,
    )  # fmt: skip


def find_compiler() -> str:
    """The g++ to build with.

    Raises:
        UserError: g++ is not on PATH.
    """
    gxx = shutil.which("g++")
    if gxx is None:
        raise UserError(
            "g++ is not installed or not on PATH; the C simulation builds the exported host and "
            "kernels with it",
            allowed="install g++ (e.g. apt-get install g++) and run again",
        )
    return gxx


def reduced_schedule(
    design: Mapping[str, Any], platform_raw: Mapping[str, Any], model_raw: Mapping[str, Any]
) -> dict[str, Any]:
    """The schedule (dse.schedule) of ``design`` running ``model_raw`` (e.g. the reduced model),
    on the board ``platform_raw``, with the design's own runtime tiles (no mapper)."""
    from dse.export import check_design, engine_precisions
    from dse.model import Model
    from dse.platform import Platform
    from dse.schedule import build_schedule
    from dse.workload import Workload

    params, _, ports = check_design(design, platform_raw)
    model = Model(Platform.from_mapping(dict(platform_raw)), Workload.from_mapping(dict(model_raw)))
    return build_schedule(params, model, ports, classes=engine_precisions(params)[2])


def expected_cycles(
    schedule: Mapping[str, Any], design: Mapping[str, Any], fill: float
) -> list[dict[str, Any]]:
    """One entry per GEMM call of ``schedule`` (step, kernel, cu, head or column range, shape,
    tile) with the model's PE-loop cycles of that call (:func:`model_gemm_cycles` on the call's
    own shape: ``model_cycles``) and the model's whole time of its step in cycles
    (``model_step_cycles``: the step's ``ms`` at the design's clock, data movement and overlap
    included). The model charges a step the step's shape, the largest column share of its CUs;
    a CU with a smaller share (the last of a column split) runs fewer PE steps, since the
    kernel's loops run the real columns, and waits for the others."""
    pe = {p: int(design[p]) for p in ("pe_m", "pe_n", "pe_k")}
    per_ms = float(design["clock_mhz"]) * 1e3  # cycles per millisecond
    rows = []
    for s in schedule["steps"]:
        if s["kind"] != "gemm":
            continue
        c = schedule["classes"][s["class"]]
        tile = {"m": c["tile_m"], "n": c["tile_n"], "k": c["tile_k"]}
        for call in s["calls"]:
            shape = dict(s["shape"])
            if "cols" in call:
                shape["n"] = call["cols"][1] - call["cols"][0]
            row = {"step": s["step"], "kernel": s["kernel"], "cu": call["cu"]}
            row.update({k: call[k] for k in ("image", "head", "cols") if k in call})
            cycles = model_gemm_cycles(shape, tile, pe, fill)
            row.update(shape=shape, tile=tile, model_cycles=cycles,
                       model_step_cycles=float(s["ms"]) * per_ms)  # fmt: skip
            rows.append(row)
    return rows


def layer_cycles(
    schedule: Mapping[str, Any], design: Mapping[str, Any], counted: Mapping[int, float]
) -> dict[str, Any]:
    """Whole-schedule cycles: the model's (every step's ``ms`` at the clock) against the C
    simulation's (``counted``: a step's kernel cycles, the slowest of its calls), and their
    relative difference."""
    per_ms = float(design["clock_mhz"]) * 1e3
    model = math.fsum(float(s["ms"]) * per_ms for s in schedule["steps"])
    csim_total = math.fsum(counted.get(int(s["step"]), 0.0) for s in schedule["steps"])
    return {
        "model_cycles": model,
        "csim_cycles": csim_total,
        "cycle_diff": (csim_total - model) / model if model else 0.0,
        "steps_counted": sum(int(s["step"]) in counted for s in schedule["steps"]),
        "steps": len(schedule["steps"]),
    }


# ---- inputs of a run ----------------------------------------------------------------------------


def sizes_of(model: Mapping[str, Any]) -> Sizes:
    """The :class:`dse.reference.Sizes` of a (reduced) model mapping."""
    con = model.get("connector")
    if model.get("input", "image") == "tokens":
        return Sizes(
            tokens=int(model["sequence_length"]),
            hidden=int(model["hidden"]),
            heads=int(model["heads"]),
            mlp=int(model["mlp"]),
            layers=int(model["layers"]),
            patch_k=0,
            scale=0,
            out=0,
            final_layernorm=bool(model.get("final_layernorm", True)),
            token_input=True,
            embed_layernorm=bool(model.get("embedding_layernorm", False)),
            **_head_sizes(model),
        )
    side = int(model["image_size"]) // int(model["patch_size"])
    special = int(bool(model.get("class_token"))) + int(bool(model.get("distillation_token")))
    return Sizes(
        tokens=side * side + special,
        special=special,
        hidden=int(model["hidden"]),
        heads=int(model["heads"]),
        mlp=int(model["mlp"]),
        layers=int(model["layers"]),
        patch_k=int(model["channels"]) * int(model["patch_size"]) ** 2,
        scale=int(con["scale_factor"]) if con else 0,
        out=int(con["out_features"]) if con else 0,
        final_layernorm=bool(model.get("final_layernorm", True)),
        embed_layernorm=bool(model.get("embedding_layernorm", False)),
        **_head_sizes(model),
    )


def _head_sizes(model: Mapping[str, Any]) -> dict[str, int]:
    """The classifier's and the pooling head's sizes of a model mapping (0: no such head)."""
    out = {"classes": 0, "class_heads": 0, "pool_heads": 0, "pool_mlp": 0}
    if "classifier" in model:
        out["classes"] = int(model["classifier"]["classes"])
        out["class_heads"] = int(model["classifier"].get("tokens", 1))
    if "pooling" in model:
        out["pool_heads"] = int(model["pooling"].get("heads", model["heads"]))
        out["pool_mlp"] = int(model["pooling"].get("mlp", model["mlp"]))
    return out


def make_floats(
    sizes: Sizes, seed: int, *, qkv_bias: bool = True, classifier_bias: bool = True
) -> dict[str, np.ndarray]:
    """Random inputs and weights (float32) under the interface's names, from ``seed``: patches
    uniform in [-1, 1] (SigLIP normalises pixels to that range), position embedding N(0, 0.1^2),
    matrices N(0, 1 / fan-in), LayerNorm gains near 1, small biases (zero when the model has
    none, which computes the same as no bias)."""
    rng = np.random.default_rng(seed)
    z = sizes
    if z.token_input:  # gathered word-embedding rows and the position (+ token-type) rows
        t: dict[str, np.ndarray] = {
            "tok": 0.5 * rng.standard_normal((z.tokens, z.hidden)),
            "pos": 0.1 * rng.standard_normal((z.tokens, z.hidden)),
        }
    else:
        t = {
            "patches": rng.uniform(-1, 1, (z.patches, z.patch_k)).astype(np.float32),
            "pos": (0.1 * rng.standard_normal((z.tokens, z.hidden))).astype(np.float32),
            "patch_embed.w": (rng.standard_normal((z.patch_k, z.hidden)) / math.sqrt(z.patch_k)),
            "patch_embed.b": 0.02 * rng.standard_normal(z.hidden),
        }
    if z.embed_layernorm:
        t["emb_ln.g"] = 1.0 + 0.1 * rng.standard_normal(z.hidden)
        t["emb_ln.bt"] = 0.02 * rng.standard_normal(z.hidden)
    for L in range(z.layers):
        w = random_layer(rng, z.hidden, z.mlp)
        p = f"l{L}"
        t.update({
            f"{p}.ln1.g": w.ln1_g, f"{p}.ln1.bt": w.ln1_b,
            f"{p}.q.w": w.wq, f"{p}.q.b": w.bq, f"{p}.k.w": w.wk, f"{p}.k.b": w.bk,
            f"{p}.v.w": w.wv, f"{p}.v.b": w.bv, f"{p}.o.w": w.wo, f"{p}.o.b": w.bo,
            f"{p}.ln2.g": w.ln2_g, f"{p}.ln2.bt": w.ln2_b,
            f"{p}.fc1.w": w.w1, f"{p}.fc1.b": w.b1, f"{p}.fc2.w": w.w2, f"{p}.fc2.b": w.b2,
        })  # fmt: skip
        if not qkv_bias:
            for m in "qkv":
                t[f"{p}.{m}.b"] = np.zeros(z.hidden, np.float32)
    if z.scale or z.final_layernorm:
        c = random_connector(rng, z.hidden, max(z.scale, 1), max(z.out, 1), bias=False)
        if z.final_layernorm:
            t.update({"post.g": c.ln_g, "post.bt": c.ln_b})
        if z.scale:
            t["connector.w"] = c.w
    if z.special:  # learned class (and distillation) tokens, N(0, 0.02^2), their position added
        tokens = 0.02 * rng.standard_normal((z.special, z.hidden))
        t["cls"] = tokens + t["pos"][: z.special]
    if z.classes:
        t["classifier.w"] = rng.standard_normal((z.hidden, z.classes)) / math.sqrt(z.hidden)
        t["classifier.b"] = 0.02 * rng.standard_normal(z.classes)
        if not classifier_bias:  # CLIP's visual projection: the host passes no bias
            t["classifier.b"] = np.zeros(z.classes, np.float32)
    if z.pool_heads:  # the probe, the attention and the MLP of the head (as a layer's)
        w = random_layer(rng, z.hidden, z.pool_mlp)
        t["pool.probe"] = rng.standard_normal((1, z.hidden))
        t.update({
            "pool.q.w": w.wq, "pool.q.b": w.bq, "pool.k.w": w.wk, "pool.k.b": w.bk,
            "pool.v.w": w.wv, "pool.v.b": w.bv, "pool.o.w": w.wo, "pool.o.b": w.bo,
            "pool.ln.g": w.ln2_g, "pool.ln.bt": w.ln2_b,
            "pool.fc1.w": w.w1, "pool.fc1.b": w.b1, "pool.fc2.w": w.w2, "pool.fc2.b": w.b2,
        })  # fmt: skip
    return {k: np.asarray(v, dtype=np.float32) for k, v in t.items()}


def stored_inputs(
    floats: Mapping[str, np.ndarray], precision: Mapping[str, str], scales: Mapping[str, float]
) -> dict[str, np.ndarray]:
    """Inputs, weights and vectors as the host reads them (stored at their precision)."""
    return {
        name: encode(x, precision[name], scales.get(scale_name(name), 1.0))
        for name, x in floats.items()
    }


def write_data(folder: Path, stored: Mapping[str, np.ndarray], scales: Mapping[str, float]):
    """``<name>.bin`` per tensor (raw little-endian, row-major) and ``scales.txt`` (interface
    section 3; the shuffled tensor has no line of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in stored.items():
        np.ascontiguousarray(raw).astype(raw.dtype.newbyteorder("<")).tofile(folder / f"{name}.bin")
    lines = [f"{k} {np.float32(v):.9g}" for k, v in sorted(scales.items()) if k != "shuf"]
    (folder / "scales.txt").write_text("\n".join(lines) + "\n")


_DTYPE = {"INT8": np.int8, "INT4": np.int8, "BF16": np.uint16, "FP32": np.float32}


def read_tensor(path: Path, precision: str, shape: tuple[int, ...]) -> np.ndarray:
    """A tensor file the C simulation wrote (raw little-endian, row-major).

    Raises:
        ValueError: the file's size does not match the shape.
    """
    dtype = np.dtype(_DTYPE[precision]).newbyteorder("<")
    raw = np.fromfile(path, dtype=dtype)
    if raw.size != math.prod(shape):
        raise ValueError(f"{path.name}: {raw.size} values, expected {shape}")
    return raw.reshape(shape).astype(dtype.newbyteorder("="))


def activation_shapes(z: Sizes, *, fuse_attention: bool) -> dict[str, tuple[int, int]]:
    """Shape of every activation the host writes (interface section 2)."""
    s, d = z.tokens, z.hidden
    shapes = {"x0": (s, d)}
    if z.embed_layernorm:
        shapes["emb"] = (s, d)
    for L in range(z.layers):
        p = f"l{L}"
        for a in ("ln1", "q", "k", "v", "ctx", "h", "ln2"):
            shapes[f"{p}.{a}"] = (s, d)
        for h in range(z.heads if not fuse_attention else 0):  # fused: P stays on chip
            shapes[f"{p}.s{h}"] = shapes[f"{p}.p{h}"] = (s, s)
        shapes[f"{p}.f1"] = (s, z.mlp)
        shapes[f"x{L + 1}"] = (s, d)
    if z.final_layernorm:
        shapes["post"] = (s, d)
    if z.classes:
        shapes["logits"] = (z.class_heads, z.classes)
    if z.pool_heads:
        shapes.update({"pool.q": (1, d), "pool.k": (s, d), "pool.v": (s, d)})
        for h in range(z.pool_heads):
            shapes[f"pool.s{h}"] = shapes[f"pool.p{h}"] = (1, s)
        for a in ("pool.ctx", "pool.o", "pool.ln", "pool.out"):
            shapes[a] = (1, d)
        shapes["pool.f1"] = (1, z.pool_mlp)
    if z.scale:
        r2 = z.scale * z.scale
        shapes["shuf"] = (s // r2, d * r2)
        shapes["out"] = (s // r2, z.out)
    return shapes


# ---- checks -------------------------------------------------------------------------------------

#: Relative float32 tolerance of a stage computed in float32 by both sides: glibc's expf / tanhf
#: and numpy's float32 exp / tanh differ by a few ulp (2^-23 each); 2^-20 allows 8 ulp.
FLOAT32_REL = 2.0**-20

#: A bfloat16 value is within one bf16 step (2^-7 of its magnitude) when a float32 difference
#: of a few ulp moved it across a rounding boundary.
BF16_REL = 2.0**-7


def compare_stage(name: str, got: np.ndarray, want: np.ndarray, precision: str) -> dict:
    """One stage's C-sim output against the emulation on the C simulation's own inputs.

    INT8/INT4: codes equal or one step apart (a float32 value within a few ulp of a rounding
    boundary, see :data:`FLOAT32_REL`, may round either way); BF16: within one bf16 step;
    FP32: within :data:`FLOAT32_REL` of the value (plus that much of the tensor's largest value,
    for values that cancel)."""
    row: dict[str, Any] = {"tensor": name, "precision": precision}
    if precision in ("INT8", "INT4"):
        diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
        row.update(max_diff=int(diff.max(initial=0)), unit="codes", limit=1)
        row["differing"] = int(np.count_nonzero(diff))
        row["ok"] = row["max_diff"] <= 1
        return row
    g = decode(got, precision, 1.0).astype(np.float64)
    w = decode(want, precision, 1.0).astype(np.float64)
    rel = BF16_REL if precision == "BF16" else FLOAT32_REL
    top = float(np.max(np.abs(w), initial=0.0))
    excess = np.abs(g - w) - rel * (np.maximum(np.abs(g), np.abs(w)) + top * FLOAT32_REL / rel)
    row.update(
        max_diff=float(np.max(np.abs(g - w), initial=0.0)),
        unit="abs",
        limit=f"{rel:.3g} x |value|",
        differing=int(np.count_nonzero(g != w)),
    )
    row["ok"] = bool(np.all(np.isfinite(g))) and bool(np.all(excess <= 0))
    return row


def check_gemm_dump(
    a: np.ndarray, b: np.ndarray, acc: np.ndarray, *, integer: bool, order: Order | None = None
) -> dict:
    """A GEMM call's accumulators against numpy's product of the operands it dumped.

    Integer engines: equal (exact int32 sums). Float engines with the kernel's summation
    ``order``: equal to :func:`dse.reference.kernel_matmul32` (the same float32 additions in the
    same order). Without it: float32 sums in some order, so within the classical bound
    ``|fl(sum) - sum| <= gamma_K sum |a_k b_k|`` with ``gamma_K = K u / (1 - K u)``,
    ``u = 2^-24`` (Higham, Accuracy and Stability of Numerical Algorithms, eq. 3.5), element by
    element."""
    if integer:
        want = int_matmul(a, b)
        diff = np.abs(acc.astype(np.int64) - want)
        return {"exact": bool(np.all(diff == 0)), "max_diff": int(diff.max(initial=0))}
    if order is not None:
        want32 = kernel_matmul32(a, b, order)
        diff = np.abs(acc.astype(np.float64) - want32.astype(np.float64))
        same = np.array_equal(acc.astype(np.float32), want32)
        return {"exact": bool(same), "max_diff": float(diff.max(initial=0.0))}
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = a64 @ b64
    k = a.shape[1]
    u = 2.0**-24
    bound = (k * u / (1 - k * u)) * (np.abs(a64) @ np.abs(b64))
    diff = np.abs(acc.astype(np.float64) - want)
    return {"exact": bool(np.all(diff <= bound)), "max_diff": float(diff.max(initial=0.0))}


def compare_output(name: str, got: np.ndarray, emulated: np.ndarray, exact: np.ndarray) -> dict:
    """A final output of the free run against the emulation's free run and the float64 model.

    Passes when the C simulation's RMS distance from the emulation is at most a tenth of the
    emulation's own distance from float64 (its precision's error: rounding differences of a few
    ulp that flip single codes stay far below it), or 1e-5 of the output's RMS for float designs
    whose precision error is itself at the float32 level."""
    g, e, x = (np.asarray(v, dtype=np.float64) for v in (got, emulated, exact))
    scale = math.sqrt(float(np.mean(x * x))) or 1.0

    def rms(v):
        return math.sqrt(float(np.mean(v * v))) / scale

    err, quant = rms(g - e), rms(e - x)
    limit = max(0.1 * quant, 1e-5)
    return {
        "tensor": name,
        "rms_vs_emulation": err,
        "rms_emulation_vs_float64": quant,
        "rms_vs_float64": rms(g - x),
        "limit": limit,
        "ok": bool(np.all(np.isfinite(g))) and err <= limit,
    }


# ---- the run ------------------------------------------------------------------------------------

#: Exported files the C simulation builds (interface section 0).
SOURCES = ("host.cpp", "kernel.cpp", "vector.cpp")

#: Warnings the HLS sources raise by design under g++: HLS pragmas and loop labels (for Vitis's
#: reports) are unknown or unused to g++, and g++ 12 takes ap_private's copy constructor (the
#: vendor header, inlined into a word copy) and its default constructor (clearUnusedBits reads
#: the value it is about to set) for reads of uninitialised memory.
VENDOR_WARNINGS = (
    "-Wno-unknown-pragmas", "-Wno-unused-label", "-Wno-maybe-uninitialized", "-Wno-uninitialized",
)  # fmt: skip

#: g++ flags of the C-sim build (interface section 0): no fused multiply-add, so float results
#: follow the formulas operation by operation; the HLS type headers come with -isystem
#: (dse.hls_headers). -O1, not -O2: measured on 4 shipped models' exports, -O2 took 25% more
#: compile time (6.6 against 5.3 CPU s per design) and ran no faster (1.8-3.0 s either way);
#: without fast-math every level computes the same IEEE results.
CXXFLAGS = ("-std=c++17", "-O1", "-ffp-contract=off", "-Wall", *VENDOR_WARNINGS, "-DDSE_CSIM")


def load_export(folder: Path, config: Path | None = None) -> tuple[dict, dict, dict]:
    """The design row, model mapping and platform mapping of an export folder.

    The model and the platform come from the folder's ``model.json`` and ``platform.json``, or
    from the run config ``config`` (its model and platform files).

    Raises:
        UserError: the folder is not an export, a file is missing or unreadable.
    """

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(
            "no such folder", file=str(folder), allowed="an export folder results/hls/<design_id>"
        )
    for name in ("design.json", "dse_config.h", *SOURCES):
        if not (folder / name).is_file():
            raise UserError(
                f"not an export folder with a host program: {name} is missing",
                file=str(folder),
                allowed="a folder written by `dse export` (results/hls/<design_id>)",
            )

    def read_json(name):
        from dse.loader import load_json  # the one reader of every input file

        data = load_json(folder / name)
        if not isinstance(data, dict):
            raise UserError("expected a JSON object", file=str(folder / name))
        return data

    design = read_json("design.json")
    if config is not None:
        from dse.config import load_config

        cfg = load_config(config)
        return design, dict(cfg.model_raw), dict(cfg.platform_raw)
    if (folder / "model.json").is_file() and (folder / "platform.json").is_file():
        return design, read_json("model.json"), read_json("platform.json")
    raise UserError(
        "the export has no model.json / platform.json",
        file=str(folder),
        allowed="an export of this dse version, or --config naming the run config it came from",
    )


def object_cache() -> Path | None:
    """Where compiled objects are kept between runs: ``$DSE_CSIM_CACHE`` (empty: no cache), else
    ``$XDG_CACHE_HOME/dse/csim`` or ``~/.cache/dse/csim``."""
    import os

    env = os.environ.get("DSE_CSIM_CACHE")
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dse" / "csim"


def prelude_includes(header: str) -> tuple[str, ...]:
    """The ``#include <...>`` lines that open ``dse_config.h`` (the vendor and standard headers it
    includes before any code of its own): the text of the precompiled prelude (:func:`build`)."""
    lines = []
    for raw in header.splitlines():
        line = raw.strip()
        if not line or line.startswith("//") or line in ("#ifndef DSE_CONFIG_H",
                                                          "#define DSE_CONFIG_H"):  # fmt: skip
            continue
        if not line.startswith("#include <"):
            break
        lines.append(line)
    return tuple(lines)


def _opens_with_config(source: str) -> bool:
    """Whether the first line of ``source`` that is not blank or a ``//`` comment includes
    ``dse_config.h``: then a prelude of that header's own opening includes, included before the
    source, is what the source would include first anyway."""
    for raw in source.splitlines():
        line = raw.strip()
        if line and not line.startswith("//"):
            return line == '#include "dse_config.h"'
    return False


def _unique() -> str:
    """A temporary file's tag no other process or thread writing the cache uses at once."""
    import os
    import threading

    return f"{os.getpid()}-{threading.get_ident()}"


def headers_fingerprint(folder: Path) -> str:
    """A digest of every file under the HLS headers' ``folder`` (relative path, size, mtime):
    a cache key that holds it changes when the headers are re-extracted or edited in place,
    so no stale object or precompiled header is reused (g++ does not check a ``.gch``'s
    dependencies)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(x for x in folder.rglob("*") if x.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def precompile(gxx: str, flags: Sequence[str], cache: Path, includes: Sequence[str], *,
               timeout: float = 900, salt: str = "",
               version: str | None = None) -> Path | None:  # fmt: skip
    """``cache/prelude-KEY.h`` (the ``includes``) with its precompiled ``.gch`` beside it, built
    once per compiler, ``flags`` (every flag of the compiles that will use it) and includes;
    None when g++ cannot precompile it.

    g++ reads the ``.gch`` for ``-include prelude-KEY.h`` when it was built with the same flags,
    else the header's text: either way the same code. Both files are written to a temporary name
    and renamed, so concurrent builds never read half a file."""
    import hashlib
    import os
    import subprocess

    if version is None:  # (build passes the one it read)
        version = subprocess.run([gxx, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256("\0".join([gxx, version, *flags, "", *includes, "", salt]).encode())
    key = key.hexdigest()
    header = cache / f"prelude-{key[:24]}.h"
    gch = header.with_name(header.name + ".gch")
    if header.is_file() and gch.is_file():
        return header
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = header.with_name(f".{header.name}.{_unique()}.tmp")
        tmp.write_text("// dse csim: precompiled prelude (dse.csim.build)\n" + "\n".join(includes)
                       + "\n")  # fmt: skip
        os.replace(tmp, header)
        tmp_gch = gch.with_name(f".{gch.name}.{_unique()}.tmp")
        cmd = [gxx, *flags, "-x", "c++-header", str(header), "-o", str(tmp_gch)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tmp_gch.unlink(missing_ok=True)
            return None
        os.replace(tmp_gch, gch)
    except (OSError, subprocess.SubprocessError):
        return None  # a cache that cannot be written only costs time
    return header


def build(
    folder: Path, build_dir: Path, *, cache: Path | None = None, timeout: float = 900
) -> tuple[Path | None, str]:
    """Compile the export's host and kernels with g++ as a C simulation into ``build_dir``.

    The three sources compile side by side, then link. With ``cache``, an object whose source,
    ``dse_config.h``, flags and compiler version are unchanged is reused from there (its name is
    their SHA-256), so a second run of the same design, or of a design whose kernel alone was
    edited, does not recompile the host. The cache also keeps a precompiled header of the
    vendor and standard headers ``dse_config.h`` opens with (:func:`prelude_includes`: ap_int.h,
    hls_stream.h ...), which every source includes first: parsing them is about half of each
    source's compile at -O1 and is done once per cache instead (same object code, instruction
    for instruction: tests/test_csim.py).

    Returns:
        The executable (None when the build failed) and the compiler's messages.
    """
    import hashlib
    import os
    import subprocess

    from dse.hls_headers import include_dir

    gxx = find_compiler()
    hls = include_dir()
    version = subprocess.run([gxx, "--version"], capture_output=True, text=True).stdout
    header = (folder / "dse_config.h").read_bytes()
    headers = headers_fingerprint(hls)
    tool = "\0".join([gxx, version, str(hls), headers, *CXXFLAGS])
    prelude = None
    includes = prelude_includes(header.decode(errors="replace"))
    if cache is not None and includes:
        prelude = precompile(gxx, [*CXXFLAGS, "-isystem", str(hls)], cache, includes,
                             timeout=timeout, salt=headers, version=version)  # fmt: skip
    objects, jobs = [], []
    for src in SOURCES:
        text = (folder / src).read_bytes()
        h = hashlib.sha256(tool.encode())
        h.update(header + b"\0" + text)
        cached = cache / f"{Path(src).stem}-{h.hexdigest()[:24]}.o" if cache else None
        obj = build_dir / f"{Path(src).stem}.o"
        objects.append(obj)
        if cached is not None and cached.is_file():
            shutil.copyfile(cached, obj)
            continue
        cmd = [gxx, *CXXFLAGS, "-isystem", str(hls), "-I", str(folder)]
        if prelude is not None and _opens_with_config(text.decode(errors="replace")):
            cmd += ["-include", str(prelude)]
        cmd += ["-c", str(folder / src), "-o", str(obj)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        jobs.append((proc, obj, cached))
    messages, ok = [], True
    for proc, obj, cached in jobs:
        _, err = proc.communicate(timeout=timeout)
        messages.append(err)
        ok = ok and proc.returncode == 0
        if proc.returncode == 0 and cached is not None:
            try:  # copy then rename: a reader never sees half an object
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_name(f".{cached.name}.{_unique()}.tmp")
                shutil.copyfile(obj, tmp)
                os.replace(tmp, cached)
            except OSError:
                pass  # a cache that cannot be written only costs time
    if not ok:
        return None, "".join(messages)
    exe = build_dir / "host_csim"
    proc = subprocess.run(
        [gxx, *map(str, objects), "-o", str(exe)], capture_output=True, text=True, timeout=timeout
    )
    messages.append(proc.stderr)
    return (exe if proc.returncode == 0 else None), "".join(messages)


def run_csim(
    folder: Path,
    *,
    layers: int = 1,
    full_size: bool = False,
    seed: int = 0,
    config: Path | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Build, run and check the C simulation of an export folder (module docstring).

    ``work_dir``: build and run there and keep it (schedule.txt, data/, out/, the executable);
    by default a temporary folder, removed afterwards.

    Returns:
        The report (JSON-ready): sizes, timings, one row per GEMM call (bit-exactness, cycles
        against the model), one per stage, the final outputs, the checks and ``passed``.

    Raises:
        UserError: bad input (not an export folder, no model, an unsupported model).
    """
    import subprocess
    import tempfile
    import time

    from dse.export import design_params, engine_precisions
    from dse.reference import Emulation, calibrate, exact_run, tensor_precisions
    from dse.workload import Workload

    folder = Path(folder)
    design, model_raw, platform_raw = load_export(folder, config)
    params = design_params(design)
    find_compiler()  # before the reference's work: a missing g++ is a one-line error at once
    from dse.hostsched import schedule_text  # the export's renderer of schedule.txt

    small = reduced_model(model_raw, full_size=full_size)
    small["layers"] = layers
    schedule = reduced_schedule(design, platform_raw, small)
    fill = float(platform_raw["logic"]["pipeline_fill_cycles"])
    w_engine, a_engine, classes = engine_precisions(params)
    integer = {w_engine, a_engine} <= {"INT8", "INT4"}
    fuse = bool(params["fuse_attention"])
    z = sizes_of(small)

    t0 = time.perf_counter()
    floats = make_floats(
        z, seed, qkv_bias=bool(small.get("qkv_bias", True)),
        classifier_bias=bool((small.get("classifier") or {}).get("bias", True)),
    )  # fmt: skip
    precision = tensor_precisions(z, {c: v[2] for c, v in classes.items()}, params["act_precision"])
    exact = exact_run(floats, z, fuse_attention=fuse)
    scales = calibrate({**floats, **exact}, precision)
    stored = stored_inputs(floats, precision, scales)
    order = kernel_order(params, platform_raw)
    emu = Emulation(z, precision, scales, integer_engine=integer, fuse_attention=fuse, order=order)
    free = emu.run(stored)
    t_ref = time.perf_counter() - t0

    report: dict[str, Any] = {
        "design_id": params["design_id"],
        "seed": seed,
        "full_size": full_size,
        "sizes": {
            "tokens": z.tokens, "hidden": z.hidden, "heads": z.heads, "mlp": z.mlp,
            "layers": z.layers, "patch_k": z.patch_k, "shuffle": z.scale, "out": z.out,
        },  # fmt: skip
        "engine": {"weights": w_engine, "activations": a_engine, "integer": integer},
        "classes": {c: v[2] for c, v in classes.items()},
        "act_precision": params["act_precision"],
        "scales": scales,
    }
    if work_dir is not None:
        work = Path(work_dir)
        if work.exists() and any(work.iterdir()):
            raise UserError(
                "the work folder is not empty", key="--work", value=str(work),
                allowed="a new or empty folder",
            )  # fmt: skip
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="dse-csim-"))
    try:
        workload = Workload.from_mapping(small)
        (work / "schedule.txt").write_text(schedule_text(schedule, workload, params))
        write_data(work / "data", stored, scales)
        (work / "out" / "dump").mkdir(parents=True)
        t0 = time.perf_counter()
        exe, messages = build(folder, work, cache=object_cache())
        report["build_s"] = round(time.perf_counter() - t0, 3)
        if exe is None:
            return _failed(report, "build", messages)
        t0 = time.perf_counter()
        cmd = [str(exe), str(work / "schedule.txt"), str(work / "data"), str(work / "out")]
        proc = subprocess.run([*cmd, "--dump"], capture_output=True, text=True, timeout=3600)
        report["run_s"] = round(time.perf_counter() - t0, 3)
        if proc.returncode != 0:
            return _failed(report, "run", f"exit {proc.returncode}: {proc.stderr}")
        t0 = time.perf_counter()
        try:
            _check(report, work / "out", schedule, design, fill, z, precision, emu, free, exact,
                   integer=integer, fuse=fuse, order=order)  # fmt: skip
        except (OSError, ValueError, KeyError) as exc:
            return _failed(report, "outputs", f"{type(exc).__name__}: {exc}")
        report["check_s"] = round(time.perf_counter() - t0 + t_ref, 3)
    finally:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return report


def _failed(report: dict[str, Any], stage: str, messages: str) -> dict[str, Any]:
    """The report of a run that stopped at ``stage`` (build, run, outputs): failed."""
    lines = [ln for ln in messages.strip().splitlines() if ln.strip()]
    report.update(passed=False, failed_at=stage, messages=lines[-40:])
    report["checks"] = {stage: False}
    return report


#: Per-process cycle fields of a counters.jsonl GEMM line (summed over the tiles, before overlap).
_PROCESS_FIELDS = (
    "load_a_cycles", "load_b_cycles", "load_p_cycles", "compute_cycles", "store_cycles",
    "vector_cycles",
)  # fmt: skip


def _check(
    report, out, schedule, design, fill, z, precision, emu, free, exact, *, integer, fuse, order
):
    """Fill the report's checks from the C simulation's output folder ``out``."""
    import json

    counters = [json.loads(ln) for ln in (out / "counters.jsonl").read_text().splitlines() if ln]
    expected = expected_cycles(schedule, design, fill)
    gemm_lines = [(i, c) for i, c in enumerate(counters) if c.get("kind") == "gemm"]
    if len(gemm_lines) != len(expected):
        raise ValueError(
            f"counters.jsonl has {len(gemm_lines)} GEMM calls, the schedule {len(expected)}"
        )
    # the host may reorder the calls of a step (a fused score call is followed by its context
    # call): pair each counted call with the schedule's calls of the same step and head
    todo: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for e in expected:
        todo.setdefault((e["step"], e.get("head", -1)), []).append(e)
    calls = []
    for line, c in gemm_lines:
        i = int(c.get("call", line))  # the GEMM call's number: its dump files
        left = todo.get((int(c["step"]), int(c.get("head", -1))))
        if not left:
            raise ValueError(f"call {i}: step {c['step']} head {c.get('head')} not in the schedule")
        e = left.pop(0)
        if c["kernel"] != e["kernel"]:
            raise ValueError(f"call {i}: counters name {c['kernel']}, schedule {e['kernel']}")
        shape = (int(c["M"]), int(c["K"]), int(c["N"]))
        dump = out / "dump"
        dt_in = np.int8 if integer else np.float32
        a = np.fromfile(dump / f"{i}.a.bin", dtype=dt_in).reshape(shape[0], shape[1])
        b = np.fromfile(dump / f"{i}.b.bin", dtype=dt_in).reshape(shape[1], shape[2])
        acc = np.fromfile(dump / f"{i}.acc.bin", dtype=np.int32 if integer else np.float32)
        exactness = check_gemm_dump(
            a, b, acc.reshape(shape[0], shape[2]), integer=integer, order=order
        )
        model = float(e["model_cycles"])
        step_model = float(e["model_step_cycles"])
        kernel = float(c.get("kernel_cycles", 0.0))
        diff = (kernel - step_model) / step_model if step_model else 0.0
        calls.append({
            "call": i, "step": c["step"], "kernel": c["kernel"], "cu": e["cu"],
            **{k: e[k] for k in ("head", "cols") if k in e},
            "M": shape[0], "K": shape[1], "N": shape[2],
            "tile": e["tile"], "bit_exact": exactness["exact"], "max_diff": exactness["max_diff"],
            "iterations": c["iterations"], "pe_cycles": c["cycles"], "model_pe_cycles": model,
            # the PE loop runs exactly the steps the model charges, plus its fill per tile
            "pe_ok": c["cycles"] == model and c["cycles"] == c["iterations"] + c.get("fill", 0),
            "cycles": kernel, "model_cycles": step_model, "cycle_diff": diff,
            **{k: c.get(k) for k in _PROCESS_FIELDS},
        })  # fmt: skip
    # a step's time is its slowest call's, and the model charges the step its slowest CU (the
    # largest column share, its slice's words as the worst-aligned CU's), so a step's slowest
    # call is held to the tolerance; the others wait for it (a CU whose column slice starts on
    # a word finishes before one whose rows cross one more word, with the same share)
    slowest: dict[int, float] = {}
    for c in calls:
        slowest[int(c["step"])] = max(slowest.get(int(c["step"]), 0.0), c["cycles"])
    gemm_slowest = dict(slowest)
    for c in calls:
        c["cycles_ok"] = (c["cycles"] < gemm_slowest[int(c["step"])]
                          or abs(c["cycle_diff"]) <= CYCLE_TOLERANCE)
    report["gemm_calls"] = calls
    vector_calls = []
    for c in counters:
        if c.get("kind") == "gemm":
            continue
        row = {k: c.get(k) for k in ("step", "kernel", "M", "N", "iterations")}
        row["cycles"] = float(c.get("kernel_cycles", 0.0))
        slowest[int(c["step"])] = max(slowest.get(int(c["step"]), 0.0), row["cycles"])
        vector_calls.append(row)
    report["vector_calls"] = vector_calls
    report["layer"] = layer_cycles(schedule, design, slowest)

    shapes = activation_shapes(z, fuse_attention=fuse)
    got = {n: read_tensor(out / f"{n}.bin", precision[n], s) for n, s in shapes.items()}
    # every stage on the C simulation's own inputs: errors stay where they arise
    have = {**{k: v for k, v in free.items() if k not in shapes}, **got}
    stages = []
    for names, fn in emu.stages():
        want = fn(have.__getitem__)
        for n in names:
            stages.append(compare_stage(n, got[n], want[n], precision[n]))
    report["stages"] = stages
    finals = [f"x{z.layers}"] + (["out"] if z.scale else ["post"] if z.final_layernorm else [])
    finals += (["logits"] if z.classes else []) + (["pool.out"] if z.pool_heads else [])
    report["outputs"] = [
        compare_output(
            n, emu.value(n, got[n]), emu.value(n, free[n]), exact[n]
        )
        for n in finals
    ]
    # the calls held to the tolerance (each step's slowest)
    held = [abs(c["cycle_diff"]) for c in calls if c["cycles"] >= gemm_slowest[int(c["step"])]]
    worst = max(held, default=0.0)
    report["worst_cycle_diff"] = worst
    checks = {
        "gemm_bit_exact": all(c["bit_exact"] for c in calls),
        "stages": all(s["ok"] for s in stages),
        "outputs": all(o["ok"] for o in report["outputs"]),
        "pe_steps": all(c["pe_ok"] for c in calls),
        "cycles": all(c["cycles_ok"] for c in calls),
        "layer_cycles": abs(report["layer"]["cycle_diff"]) <= CYCLE_TOLERANCE,
    }
    report["checks"] = checks
    report["passed"] = all(checks.values())


def format_table(report: Mapping[str, Any]) -> str:
    """A compact summary: per GEMM kernel its calls, bit-exact calls, summed and worst cycles
    against the model; then the stages that failed, the outputs and the verdict."""
    lines = [
        f"design {report['design_id']}: engine {report['engine']['weights']} x "
        f"{report['engine']['activations']}, sizes {report['sizes']}",
        f"build {report.get('build_s', '-')} s, run {report.get('run_s', '-')} s, "
        f"reference + checks {report.get('check_s', '-')} s",
    ]
    if "failed_at" in report:
        lines.append(f"FAILED at {report['failed_at']}:")
        lines += ["  " + ln for ln in report.get("messages", [])[-15:]]
        return "\n".join(lines)
    exact_name = "bit-exact"
    head = f"{'kernel':<14}{'calls':>6}{exact_name:>14}{'C-sim cycles':>15}{'model cycles':>15}"
    lines += ["", head + f"{'worst diff':>12}   C-sim: load A / B / psum, PE, store (per call)"]
    lines.append("(worst diff: of each step's slowest call, which the cycles check holds)")
    by: dict[str, list] = {}
    for c in report["gemm_calls"]:
        by.setdefault(c["kernel"], []).append(c)
    slowest: dict[int, float] = {}
    for c in report["gemm_calls"]:
        slowest[int(c["step"])] = max(slowest.get(int(c["step"]), 0.0), c["cycles"])
    for name, cs in by.items():
        # the calls the check holds: each step's slowest (the others wait for it)
        held = [c for c in cs if c["cycles"] >= slowest[int(c["step"])]]
        worst = max(held, key=lambda c: abs(c["cycle_diff"]))["cycle_diff"]
        parts = " / ".join(
            f"{max(c.get(f) or 0 for c in cs):,.0f}"
            for f in ("load_a_cycles", "load_b_cycles", "load_p_cycles", "compute_cycles",
                      "store_cycles")
        )  # fmt: skip
        lines.append(
            f"{name:<14}{len(cs):>6}{sum(c['bit_exact'] for c in cs):>14}"
            f"{sum(c['cycles'] for c in cs):>15,.0f}{sum(c['model_cycles'] for c in cs):>15,.0f}"
            f"{100 * worst:>+11.2f}%   {parts}"
        )
    vec: dict[str, list] = {}
    for c in report.get("vector_calls", []):
        vec.setdefault(c["kernel"], []).append(c)
    for name, cs in vec.items():
        lines.append(f"{name:<14}{len(cs):>6}{'-':>14}{sum(c['cycles'] for c in cs):>15,.0f}")
    if "layer" in report:
        lay = report["layer"]
        lines.append(
            f"{'whole layer':<34}{lay['csim_cycles']:>15,.0f}{lay['model_cycles']:>15,.0f}"
            f"{100 * lay['cycle_diff']:>+11.2f}%   ({lay['steps_counted']} of {lay['steps']} "
            "steps counted)"
        )
    bad = [s for s in report["stages"] if not s["ok"]]
    lines.append(
        f"\nstages: {len(report['stages']) - len(bad)} of {len(report['stages'])} within "
        "tolerance of the emulation on the C simulation's own inputs"
    )
    for s in bad:
        lines.append(f"  {s['tensor']}: max diff {s['max_diff']} {s['unit']} (limit {s['limit']})")
    for o in report["outputs"]:
        lines.append(
            f"output {o['tensor']}: RMS vs emulation {o['rms_vs_emulation']:.2e} "
            f"(limit {o['limit']:.2e}), emulation vs float64 {o['rms_emulation_vs_float64']:.2e}"
        )
    lines.append("checks: " + ", ".join(f"{k} {'ok' if v else 'FAILED'}"
                                        for k, v in report["checks"].items()))
    return "\n".join(lines)
