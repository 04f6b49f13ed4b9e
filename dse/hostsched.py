"""A schedule (dse.schedule) -> ``schedule.txt``: the flat form the exported host.cpp reads.

One line per kernel call, ``key=value`` tokens, with everything the host needs to issue the call:
shapes, runtime tiles, precisions, the operand tensors by name (with column offsets and leading
dimensions) and the fused epilogues. ``tensor`` lines first declare every tensor (shape,
precision, kind, scale name). The tensor names follow a SigLIP pre-LN encoder layer stack with
SmolVLM's pixel-shuffle connector (the smolVLA vision encoder); kernels of other models (class
tokens, classifiers, pooling heads, token input) are written as ``unsupported`` lines, which the
host refuses.

The host's files and arithmetic (what ``dse csim`` and dse.reference rely on):

- Tensors: one raw little-endian row-major file ``<name>.bin`` each; int8 for INT8/INT4 (INT4
  values in [-7, 7]), bfloat16 bits as uint16 for BF16, float32 for FP32 and for every bias and
  LayerNorm vector. Weights are ``[K, N]`` (a torch Linear weight transposed). ``scales.txt``:
  ``name value`` per quantised tensor (per-tensor symmetric scales, static; one per layer for the
  per-head ``l{L}.s{h}``/``l{L}.p{h}``: ``l{L}.s``, ``l{L}.p``).
- Quantise ``q = clamp(nearbyint(y / s), -Q, Q)``, Q = 127 (INT8) or 7 (INT4), ties to even, in
  float32; dequantise ``q * s``. BF16: round to nearest even on the upper 16 bits.
- GEMM: products of the stored codes, int32 sums (integer engines, exact) or float32 sums in
  ascending k; epilogue in float32 ``y = acc * ((s_a * s_b) * alpha)``, ``+ bias``, ``gelu``
  (tanh form), ``+ residual * s_r``, then quantised to the output precision.
- Vector unit (float32): LayerNorm (two-pass mean and variance, eps 1e-6), softmax (max
  subtracted), GELU, residual add, pixel shuffle (output row ``i*(w/r)+j``, column
  ``a*(r*d)+b*d+c`` = token ``(i*r+a)*w + j*r+b``, channel ``c``).
- Fused attention: a ``softmax=1`` score line and its ``a=@chip`` context line run as pairs of
  calls per row block of ``tm`` rows; P never leaves the chip.
- C simulation (``-DDSE_CSIM``): ``host_csim <schedule.txt> <data-dir> <out-dir> [--dump]`` runs
  image 0 and writes each produced activation, ``counters.jsonl`` (per GEMM call: tiles, counted
  PE-array loop iterations, fill, cycles and the model's compute cycles; per vector call the
  lane-loop iterations) and with ``--dump`` each GEMM call's operands and raw accumulators
  (``dump/<call>.{a,b,acc}.bin``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dse.params import PRECISIONS
from dse.workload import GEMM, Workload

#: Version tag of the format (first line of the file).
FORMAT = "dse-schedule-txt/1"

#: SigLIP's LayerNorm epsilon (vision_config.layer_norm_eps; shared/reference/facts.md §6).
LAYERNORM_EPS = 1e-6

_VECTOR_OPS = {
    "ln1": "layernorm",
    "ln2": "layernorm",
    "post_layernorm": "layernorm",
    "softmax": "softmax",
    "pixel_shuffle": "pixel_shuffle",
}


def _wider(a: str, b: str) -> str:
    return min(a, b, key=PRECISIONS.index)


def _dims(w: Workload) -> dict[str, int]:
    """Sizes of the encoder from its kernel table."""
    by = {k.name: k for k in w.kernels}
    s, d = w.tokens, w.hidden
    heads = by["attn_scores"].instances if "attn_scores" in by else 1
    dims = {
        "s": s,
        "d": d,
        "h": heads,
        "dh": d // heads,
        "f": by["fc1"].n if "fc1" in by else 0,
        "L": by["q_proj"].count if "q_proj" in by else 0,
        "pk": by["patch_embed"].k if "patch_embed" in by else 0,
        "r": 0,
        "out": 0,
        "side": math.isqrt(s),
    }
    if "connector" in by:
        dims["r"] = math.isqrt(by["connector"].k // d)
        dims["out"] = by["connector"].n
    return dims


def schedule_text(
    schedule: Mapping[str, Any], workload: Workload, params: Mapping[str, Any]
) -> str:
    """The text of ``schedule.txt`` for a schedule dict of :func:`dse.schedule.build_schedule`."""
    z = _dims(workload)
    act = str(schedule["act_precision"])
    att = str(schedule["classes"].get("attention", {}).get("precision", act))
    cls_prec = {c: str(v["precision"]) for c, v in schedule["classes"].items()}
    fused = bool(schedule["fuse_attention"])
    s, d, h, f, L = z["s"], z["d"], z["h"], z["f"], z["L"]
    tensors: dict[str, tuple[int, int, str, str, str]] = {}

    def tensor(name: str, rows: int, cols: int, prec: str, kind: str, scale: str | None = None):
        quant = prec in ("INT8", "INT4") and kind != "param"
        tensors.setdefault(name, (rows, cols, prec, kind, (scale or name) if quant else "-"))

    # the encoder's tensors: inputs, weights, float vectors, activations
    if z["pk"]:
        tensor("patches", s, z["pk"], act, "input")
        tensor("pos", s, d, act, "input")
        tensor("patch_embed.w", z["pk"], d, cls_prec["embed"], "weight")
        tensor("patch_embed.b", 1, d, "FP32", "param")
        tensor("x0", s, d, act, "act")
    for layer in range(L):
        p = f"l{layer}."
        for ln in ("ln1", "ln2"):
            tensor(p + ln + ".g", 1, d, "FP32", "param")
            tensor(p + ln + ".bt", 1, d, "FP32", "param")
        for x in ("q", "k", "v", "o"):
            tensor(f"{p}{x}.w", d, d, cls_prec["proj"], "weight")
            tensor(f"{p}{x}.b", 1, d, "FP32", "param")
        tensor(p + "fc1.w", d, f, cls_prec["mlp"], "weight")
        tensor(p + "fc1.b", 1, f, "FP32", "param")
        tensor(p + "fc2.w", f, d, cls_prec["mlp"], "weight")
        tensor(p + "fc2.b", 1, d, "FP32", "param")
        tensor(p + "ln1", s, d, act, "act")
        for x in "qkv":
            tensor(p + x, s, d, att, "act")
        for head in range(h):
            if not fused:
                tensor(f"{p}s{head}", s, s, att, "act", p + "s")
                tensor(f"{p}p{head}", s, s, att, "act", p + "p")
        tensor(p + "ctx", s, d, act, "act")
        tensor(p + "h", s, d, act, "act")
        tensor(p + "ln2", s, d, act, "act")
        tensor(p + "f1", s, f, act, "act")
        tensor(f"x{layer + 1}", s, d, act, "act")
    tensor("post.g", 1, d, "FP32", "param")
    tensor("post.bt", 1, d, "FP32", "param")
    tensor("post", s, d, act, "act")
    if z["r"]:
        r = z["r"]
        tensor("shuf", s // (r * r), d * r * r, act, "act", "post")
        tensor("connector.w", d * r * r, z["out"], cls_prec["embed"], "weight")
        tensor("out", s // (r * r), z["out"], act, "act")

    def scale(name: str) -> str:
        return tensors[name][4] if name in tensors else "-"

    lines = [
        f"# {FORMAT}",
        f"design {schedule['design_id']}",
        f"model tokens={s} hidden={d} heads={h} mlp={f} layers={L} patch_k={z['pk']} "
        f"shuffle={z['r']} out={z['out']} side={z['side']} eps={LAYERNORM_EPS!r} "
        f"fuse_attention={int(fused)} compute_units={schedule['compute_units']} "
        f"cameras={schedule['cameras']}",
    ]
    for name, (rows, cols, prec, kind, sc) in tensors.items():
        lines.append(
            f"tensor name={name} rows={rows} cols={cols} prec={prec} kind={kind} scale={sc}"
        )

    kernels = {k.name: k for k in workload.kernels}
    for step in schedule["steps"]:
        k = kernels[step["kernel"]]
        layer = step["layer"] if step["layer"] is not None else -1
        for call in step["calls"]:
            head = call.get("head", -1)
            base = (
                f"k={k.name} step={step['step']} cu={call['cu']} image={call['image']} "
                f"layer={layer} head={head}"
            )
            if k.kind == GEMM:
                ops = _gemm_operands(k.name, layer, head, z, fused, step)
                if ops is None:
                    lines.append(f"unsupported {base}")
                    continue
                lo = call.get("cols", [0, k.n])[0]
                n = call.get("cols", [0, k.n])[1] - lo
                cls = step["class"]
                pa = att if cls == "attention" else act
                pb = att if cls == "attention" else cls_prec[cls]
                # Q, K, V and the scores are stored in the attention precision (their consumer's)
                pc = att if k.name in ("q_proj", "k_proj", "v_proj", "attn_scores") else act
                cls_tile = schedule["classes"][cls]
                vals = {
                    "M": k.m,
                    "K": k.k,
                    "N": n,
                    "tm": cls_tile["tile_m"],
                    "tn": cls_tile["tile_n"],
                    "tk": int(params["tile_k"]),
                    "pa": pa,
                    "pb": pb,
                    "pc": pc,
                    "mode": _wider(pa, pb),
                    **ops,
                }
                for key in ("bcol", "ccol", "rcol"):
                    vals[key] = vals.get(key, 0) + lo
                vals["bias0"] = lo
                for op in ("a", "b", "c", "res"):
                    vals["s" + op] = scale(vals[op]) if vals[op] not in ("-", "@chip") else "-"
                if vals["c"] == "@chip":
                    vals["sc"] = f"l{layer}.p"
                if vals["a"] == "@chip":
                    vals["sa"] = f"l{layer}.p"
                lines.append("gemm " + base + " " + _kv(vals) + f" ms={step['ms']!r}")
            else:
                op = _VECTOR_OPS.get(k.name)
                if op is None:
                    lines.append(f"unsupported {base}")
                    continue
                lo, hi = call.get("rows", [0, k.m])
                if op == "pixel_shuffle":
                    if lo > 0:
                        continue  # one call regroups the whole grid
                    lo, hi = 0, k.m
                vals = _vector_operands(k.name, layer, head, z)
                vals.update(op=op, M=hi - lo, N=k.n, row0=lo, K=z["side"], shuffle=z["r"])
                vals["pa"] = tensors[vals["a"]][2]
                vals["pc"] = tensors[vals["c"]][2]
                vals["sa"], vals["sc"] = scale(vals["a"]), scale(vals["c"])
                vals["eps"] = repr(LAYERNORM_EPS)
                lines.append("vector " + base + " " + _kv(vals) + f" ms={step['ms']!r}")
    return "\n".join(lines) + "\n"


def _kv(vals: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in vals.items())


def _gemm_operands(
    name: str, layer: int, head: int, z: Mapping[str, int], fused: bool, step: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Operand tensors, offsets, leading dimensions and epilogue flags of one GEMM call."""
    s, d, f, dh = z["s"], z["d"], z["f"], z["dh"]
    p = f"l{layer}."
    epi = set(step.get("fused", []))
    none = {
        "bias": "-",
        "res": "-",
        "gelu": 0,
        "softmax": 0,
        "bsrc": "weights",
        "btrans": 0,
        "alpha": 1.0,
        "acol": 0,
        "bcol": 0,
        "ccol": 0,
        "rcol": 0,
        "ldr": 0,
    }
    if name == "patch_embed":
        return {
            **none,
            "a": "patches",
            "b": "patch_embed.w",
            "c": "x0",
            "lda": z["pk"],
            "ldb": d,
            "ldc": d,
            "bias": "patch_embed.b" if "patch_bias" in epi else "-",
            "res": "pos" if "position_add" in epi else "-",
            "ldr": d,
        }
    if name in ("q_proj", "k_proj", "v_proj"):
        x = name[0]
        return {
            **none,
            "a": p + "ln1",
            "b": f"{p}{x}.w",
            "c": p + x,
            "lda": d,
            "ldb": d,
            "ldc": d,
            "bias": f"{p}{x}.b" if f"{x}_bias" in epi else "-",
        }
    if name == "attn_scores":
        ops = {
            **none,
            "a": p + "q",
            "b": p + "k",
            "c": f"{p}s{head}",
            "lda": d,
            "ldb": d,
            "ldc": s,
            "acol": head * dh,
            "bcol": head * dh,
            "bsrc": "inputs",
            "btrans": 1,
            "alpha": repr(float(1.0 / math.sqrt(dh))),
        }
        if fused:
            ops.update(c="@chip", softmax=1, ldc=s)
        return ops
    if name == "attn_context":
        return {
            **none,
            "a": "@chip" if fused else f"{p}p{head}",
            "b": p + "v",
            "c": p + "ctx",
            "lda": s,
            "ldb": d,
            "ldc": d,
            "bcol": head * dh,
            "ccol": head * dh,
            "bsrc": "inputs",
        }
    if name == "out_proj":
        return {
            **none,
            "a": p + "ctx",
            "b": p + "o.w",
            "c": p + "h",
            "lda": d,
            "ldb": d,
            "ldc": d,
            "bias": p + "o.b" if "out_bias" in epi else "-",
            "res": f"x{layer}" if "residual1" in epi else "-",
            "ldr": d,
        }
    if name == "fc1":
        return {
            **none,
            "a": p + "ln2",
            "b": p + "fc1.w",
            "c": p + "f1",
            "lda": d,
            "ldb": f,
            "ldc": f,
            "bias": p + "fc1.b" if "fc1_bias" in epi else "-",
            "gelu": int("gelu" in epi),
        }
    if name == "fc2":
        return {
            **none,
            "a": p + "f1",
            "b": p + "fc2.w",
            "c": f"x{layer + 1}",
            "lda": f,
            "ldb": d,
            "ldc": d,
            "bias": p + "fc2.b" if "fc2_bias" in epi else "-",
            "res": p + "h" if "residual2" in epi else "-",
            "ldr": d,
        }
    if name == "connector" and z["r"]:
        kk = d * z["r"] ** 2
        return {
            **none,
            "a": "shuf",
            "b": "connector.w",
            "c": "out",
            "lda": kk,
            "ldb": z["out"],
            "ldc": z["out"],
        }
    return None


def _vector_operands(name: str, layer: int, head: int, z: Mapping[str, int]) -> dict[str, Any]:
    """Operand tensors of one vector-unit call (LayerNorm parameters by name)."""
    s, d = z["s"], z["d"]
    p = f"l{layer}."
    last = f"x{z['L']}"
    table = {
        "ln1": (f"x{layer}", p + "ln1", p + "ln1", d),
        "ln2": (p + "h", p + "ln2", p + "ln2", d),
        "post_layernorm": (last, "post", "post", d),
        "softmax": (f"{p}s{head}", f"{p}p{head}", None, s),
        "pixel_shuffle": ("post", "shuf", None, d),
    }
    a, c, ln, ld = table[name]
    shuf_ld = d * z["r"] ** 2 if name == "pixel_shuffle" else ld
    return {
        "a": a,
        "c": c,
        "r": "-",
        "ldr": 0,
        "sr": "-",
        "gamma": ln + ".g" if ln else "-",
        "beta": ln + ".bt" if ln else "-",
        "lda": ld,
        "ldc": shuf_ld,
    }
