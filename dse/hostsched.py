"""A schedule (dse.schedule) -> ``schedule.txt``: the flat form the exported host.cpp reads.

One line per kernel call, ``key=value`` tokens, with everything the host needs to issue the call:
shapes, runtime tiles, precisions, the operand tensors by name (with row and column offsets and
leading dimensions) and the fused epilogues. ``tensor`` lines first declare every tensor (shape,
precision, kind, scale name and its element offset in its arena); one ``arena`` line gives the
size of each arena (:func:`plan_arenas`). The tensor names follow a pre-LN encoder layer stack
(SigLIP, ViT, DeiT, BERT-shaped) with its stem and head:

- stem: the patch embedding (``patches`` . ``patch_embed.w`` + bias + ``pos``) writes the patch
  rows of ``x0``; class (and distillation) tokens are the first rows of ``x0``, copied from the
  input ``cls`` (the learned tokens with their position rows added, stored as ``x0``'s rows) by a
  ``copy`` line before the patch embedding. Token input: ``tok`` (the gathered word-embedding
  rows) + ``pos`` (position and token-type rows) on the vector unit. With an embedding
  LayerNorm (BERT; CLIP's pre-LayerNorm) the stem writes ``emb`` instead (class tokens too) and
  the LayerNorm ``emb`` -> ``x0`` follows;
- head: SmolVLM's pixel shuffle and connector (``shuf`` -> ``out``), a classifier per class token
  (row ``t`` of the head's input -> row ``t`` of ``logits``) or SigLIP's attention-pooling head
  (``pool.*`` tensors, ``pool.out`` its result).

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

Placement (:func:`plan_arenas`, docs/host.md): each kind of tensor lives in one arena per memory
channel. Weights (every weight tensor, one copy per weight channel) and the float vectors (on the
first weight channel) are resident; activations and inputs share an activation arena whose
offsets come from the tensors' lifetimes over one image's steps: a tensor takes the lowest free
gap among the tensors alive with it, so a layer's outputs reuse the memory of tensors no later
step reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dse.params import PRECISIONS
from dse.workload import GEMM, Workload

#: Version tag of the format (first line of the file).
FORMAT = "dse-schedule-txt/2"

#: SigLIP's LayerNorm epsilon (vision_config.layer_norm_eps; shared/reference/facts.md §6).
LAYERNORM_EPS = 1e-6

#: Every tensor starts at a multiple of this many elements in its arena: 64 elements are at least
#: one 512-bit AXI word (64 bytes) at every element size, so a tensor's first row starts a burst
#: on a word boundary (UG1399: m_axi bursts of the full port width need aligned addresses).
ALIGN_ELEMS = 64

_VECTOR_OPS = {
    "ln1": "layernorm",
    "ln2": "layernorm",
    "post_layernorm": "layernorm",
    "embed_layernorm": "layernorm",
    "pool_layernorm": "layernorm",
    "softmax": "softmax",
    "pool_softmax": "softmax",
    "pixel_shuffle": "pixel_shuffle",
    "token_embed": "residual",
}

#: Kernels that run once per head (their tensors are named by head).
_PER_HEAD = frozenset({"attn_scores", "attn_context", "softmax", "pool_scores", "pool_context",
                       "pool_softmax"})  # fmt: skip

#: GEMMs whose output is an attention operand, stored at the attention precision.
_ATTENTION_OUTPUTS = frozenset(
    {"q_proj", "k_proj", "v_proj", "attn_scores", "pool_q_proj", "pool_k_proj", "pool_v_proj",
     "pool_scores"}
)  # fmt: skip


@dataclass(frozen=True)
class Tensor:
    """One tensor of the schedule: shape (elements), stored precision, kind (``input``,
    ``weight``, ``param`` or ``act``) and scale name (``-`` for floats)."""

    rows: int
    cols: int
    prec: str
    kind: str
    scale: str

    @property
    def elems(self) -> int:
        return self.rows * self.cols


def _wider(a: str, b: str) -> str:
    return min(a, b, key=PRECISIONS.index)


def _align(n: int) -> int:
    return -(-n // ALIGN_ELEMS) * ALIGN_ELEMS


def dims(w: Workload) -> dict[str, int]:
    """Sizes of the encoder from its kernel table (``special``: class and distillation tokens,
    ``tokens_in``: token input)."""
    by = {k.name: k for k in w.kernels}
    s, d = w.tokens, w.hidden
    heads = by["attn_scores"].instances if "attn_scores" in by else 1
    patches = by["patch_embed"].m if "patch_embed" in by else s
    z = {
        "s": s,
        "d": d,
        "h": heads,
        "dh": d // heads,
        "f": by["fc1"].n if "fc1" in by else 0,
        "L": by["q_proj"].count if "q_proj" in by else 0,
        "pk": by["patch_embed"].k if "patch_embed" in by else 0,
        "special": s - patches,
        "tokens_in": int("token_embed" in by),
        "embed_ln": int("embed_layernorm" in by),
        "post_ln": int("post_layernorm" in by),
        "r": 0,
        "out": 0,
        "side": math.isqrt(patches),
        "classes": by["classifier"].n if "classifier" in by else 0,
        "class_heads": by["classifier"].count if "classifier" in by else 0,
        "pool_h": by["pool_scores"].instances if "pool_scores" in by else 0,
        "pool_f": by["pool_fc1"].n if "pool_fc1" in by else 0,
    }
    if "connector" in by:
        z["r"] = math.isqrt(by["connector"].k // d)
        z["out"] = by["connector"].n
    return z


def head_input(z: Mapping[str, int]) -> str:
    """The tensor the head reads: the final LayerNorm's output, else the last layer's."""
    return "post" if z["post_ln"] else f"x{z['L']}"


def tensor_table(
    workload: Workload,
    *,
    act: str,
    att: str,
    cls_prec: Mapping[str, str],
    fused: bool,
) -> dict[str, Tensor]:
    """Every tensor of one image, in declaration order (see the module docs for the names)."""
    z = dims(workload)
    s, d, h, f, L = z["s"], z["d"], z["h"], z["f"], z["L"]
    tensors: dict[str, Tensor] = {}

    def tensor(name: str, rows: int, cols: int, prec: str, kind: str, scale: str | None = None):
        quant = prec in ("INT8", "INT4") and kind != "param"
        tensors.setdefault(name, Tensor(rows, cols, prec, kind, (scale or name) if quant else "-"))

    if z["pk"]:
        tensor("patches", s - z["special"], z["pk"], act, "input")
        tensor("pos", s, d, act, "input")
        if z["special"]:
            tensor("cls", z["special"], d, act, "input", "emb" if z["embed_ln"] else "x0")
        tensor("patch_embed.w", z["pk"], d, cls_prec["embed"], "weight")
        tensor("patch_embed.b", 1, d, "FP32", "param")
    elif z["tokens_in"]:
        tensor("tok", s, d, act, "input")
        tensor("pos", s, d, act, "input")
    if z["embed_ln"]:  # BERT's embedding LayerNorm, CLIP's pre-LayerNorm: emb -> x0
        tensor("emb", s, d, act, "act")
        tensor("emb_ln.g", 1, d, "FP32", "param")
        tensor("emb_ln.bt", 1, d, "FP32", "param")
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
    if z["post_ln"]:
        tensor("post.g", 1, d, "FP32", "param")
        tensor("post.bt", 1, d, "FP32", "param")
        tensor("post", s, d, act, "act")
    emb = cls_prec["embed"]
    if z["r"]:
        r = z["r"]
        side = z["side"]
        tensor("shuf", (side // r) ** 2, d * r * r, act, "act", head_input(z))
        tensor("connector.w", d * r * r, z["out"], emb, "weight")
        tensor("out", (side // r) ** 2, z["out"], act, "act")
    if z["classes"]:
        tensor("classifier.w", d, z["classes"], emb, "weight")
        tensor("classifier.b", 1, z["classes"], "FP32", "param")
        tensor("logits", z["class_heads"], z["classes"], act, "act")
    if z["pool_h"]:
        ph, pf = z["pool_h"], z["pool_f"]
        tensor("pool.probe", 1, d, act, "input")
        for x in ("q", "k", "v", "o"):
            tensor(f"pool.{x}.w", d, d, emb, "weight")
            tensor(f"pool.{x}.b", 1, d, "FP32", "param")
        tensor("pool.ln.g", 1, d, "FP32", "param")
        tensor("pool.ln.bt", 1, d, "FP32", "param")
        tensor("pool.fc1.w", d, pf, emb, "weight")
        tensor("pool.fc1.b", 1, pf, "FP32", "param")
        tensor("pool.fc2.w", pf, d, emb, "weight")
        tensor("pool.fc2.b", 1, d, "FP32", "param")
        tensor("pool.q", 1, d, att, "act")
        tensor("pool.k", s, d, att, "act")
        tensor("pool.v", s, d, att, "act")
        for head in range(ph):
            tensor(f"pool.s{head}", 1, s, att, "act", "pool.s")
            tensor(f"pool.p{head}", 1, s, att, "act", "pool.p")
        tensor("pool.ctx", 1, d, act, "act")
        tensor("pool.o", 1, d, act, "act")
        tensor("pool.ln", 1, d, act, "act")
        tensor("pool.f1", 1, pf, act, "act")
        tensor("pool.out", 1, d, act, "act")
    return tensors


def call_lines(
    schedule: Mapping[str, Any],
    workload: Workload,
    tensors: Mapping[str, Tensor],
    *,
    tile_k: int = 0,
) -> list[tuple[str, dict[str, Any]]]:
    """``(kind, fields)`` of every call line (``gemm``, ``vector``, ``copy``, ``unsupported``)
    of a schedule or of a step skeleton (dse.schedule.step_skeleton: no tiles, no times)."""
    z = dims(workload)
    fused = bool(schedule["fuse_attention"])
    classes = schedule.get("classes", {})
    act = schedule.get("act_precision", "INT8")
    att = str(classes.get("attention", {}).get("precision", act))
    kernels = {k.name: k for k in workload.kernels}
    out: list[tuple[str, dict[str, Any]]] = []

    def scale(name: str) -> str:
        return tensors[name].scale if name in tensors else "-"

    for step in schedule["steps"]:
        k = kernels[step["kernel"]]
        layer = step["layer"] if step["layer"] is not None else -1
        rep = int(step.get("repeat", 0))
        for call in step["calls"]:
            head = call.get("head", -1)
            # a per-head kernel of a one-head model runs without a head index: its tensors are
            # head 0's
            named = max(head, 0) if k.name in _PER_HEAD else head
            base = {
                "k": k.name,
                "step": step["step"],
                "cu": call["cu"],
                "image": call["image"],
                "layer": layer,
                "head": head,
            }
            tail = {"ms": repr(step["ms"])} if "ms" in step else {}
            if k.kind == GEMM:
                ops = _gemm_operands(k.name, layer, named, rep, z, fused, step)
                if ops is None:
                    out.append(("unsupported", base))
                    continue
                lo, hi = call.get("cols", [0, k.n])
                cls = step["class"]
                prec = str(classes.get(cls, {}).get("precision", act))
                pa = att if cls == "attention" else act
                pb = att if cls == "attention" else prec
                pc = att if k.name in _ATTENTION_OUTPUTS else act
                tile = classes.get(cls, {})
                vals = {
                    "M": k.m,
                    "K": k.k,
                    "N": hi - lo,
                    "tm": tile.get("tile_m", 0),
                    "tn": tile.get("tile_n", 0),
                    "tk": tile_k,
                    "pa": pa,
                    "pb": pb,
                    "pc": pc,
                    "mode": _wider(pa, pb),
                    **ops,
                }
                for key in ("ccol", "rcol"):
                    vals[key] = vals.get(key, 0) + lo
                # columns lo.. of B: rows lo.. of a transposed B (K^T: B[k][n] at row n)
                vals["brow" if vals["btrans"] else "bcol"] += lo
                vals["bias0"] = lo
                for op in ("a", "b", "c", "res"):
                    vals["s" + op] = scale(vals[op]) if vals[op] not in ("-", "@chip") else "-"
                if vals["c"] == "@chip":
                    vals["sc"] = f"l{layer}.p"
                if vals["a"] == "@chip":
                    vals["sa"] = f"l{layer}.p"
                if k.name == "patch_embed" and z["special"]:
                    # the class tokens' rows of x0 come from the input `cls`, before the GEMM
                    out.append(
                        ("copy", {**base, "k": "class_token", "a": "cls",
                                  "c": "emb" if z["embed_ln"] else "x0",
                                  "M": z["special"], "N": z["d"], "crow": 0})
                    )  # fmt: skip
                out.append(("gemm", {**base, **vals, **tail}))
            else:
                op = _VECTOR_OPS.get(k.name)
                if op is None:
                    out.append(("unsupported", base))
                    continue
                lo, hi = call.get("rows", [0, k.m])
                if op == "pixel_shuffle":
                    if lo > 0:
                        continue  # one call regroups the whole grid
                    lo, hi = 0, k.m
                vals = _vector_operands(k.name, layer, named, z)
                vals.update(op=op, M=hi - lo, N=k.n, row0=lo, K=z["side"], shuffle=z["r"])
                vals["pa"] = tensors[vals["a"]].prec
                vals["pc"] = tensors[vals["c"]].prec
                vals["sa"], vals["sc"] = scale(vals["a"]), scale(vals["c"])
                if vals["r"] != "-":
                    vals["sr"] = scale(vals["r"])
                vals["eps"] = repr(LAYERNORM_EPS)
                out.append(("vector", {**base, **vals, **tail}))
    return out


#: Operand fields that name a tensor of the activation arena (read or written by a call).
_READS = ("a", "b", "res", "r")


def plan_arenas(
    tensors: Mapping[str, Tensor], lines: Sequence[tuple[str, Mapping[str, Any]]]
) -> tuple[dict[str, int], dict[str, int]]:
    """Element offsets of every tensor in its arena, and each arena's size in elements.

    Arenas: ``weights`` (every weight tensor, in declaration order), ``params`` (float vectors),
    ``acts`` (inputs and activations of one image, by lifetime) and ``ps`` (the partial sums of
    the largest GEMM call, ``M x N``). A tensor of the activation arena lives from the first step
    of image 0 that touches it (the host writes an input just before its first call) to the last
    step that reads it; tensors ordered by birth take the lowest aligned gap that no tensor alive
    at the same time occupies (first fit). Every image uses the same offsets: a compute unit runs
    one image at a time (dse.schedule rounds).
    """
    off: dict[str, int] = {}
    size = {"weights": 0, "params": 0, "acts": 0, "ps": ALIGN_ELEMS}
    for name, t in tensors.items():
        if t.kind in ("weight", "param"):
            arena = "weights" if t.kind == "weight" else "params"
            off[name] = size[arena]
            size[arena] += _align(t.elems)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for kind, f in lines:
        if kind not in ("gemm", "vector", "copy") or int(f["image"]) != 0:
            continue
        step = int(f["step"])
        if kind == "gemm":
            size["ps"] = max(size["ps"], _align(int(f["M"]) * int(f["N"])))
        for op in (*_READS, "c"):
            name = f.get(op, "-")
            if name in ("-", "@chip") or tensors[name].kind in ("weight", "param"):
                continue
            first.setdefault(name, step)
            last[name] = step
    order = {n: i for i, n in enumerate(tensors)}
    live: list[tuple[int, int, int]] = []  # (offset, end, last step) of placed tensors
    for name in sorted(first, key=lambda n: (first[n], order[n])):
        start = first[name]
        live = [x for x in live if x[2] >= start]  # tensors read at or after this step stay
        need = _align(tensors[name].elems)
        pos = 0
        for o, e, _ in sorted(live):
            if o - pos >= need:
                break
            pos = max(pos, e)
        off[name] = pos
        live.append((pos, pos + need, last[name]))
        size["acts"] = max(size["acts"], pos + need)
    for name in tensors:  # declared but never touched (not on this schedule)
        off.setdefault(name, 0)
    size["acts"] = max(size["acts"], ALIGN_ELEMS)
    return off, size


def schedule_text(
    schedule: Mapping[str, Any], workload: Workload, params: Mapping[str, Any]
) -> str:
    """The text of ``schedule.txt`` for a schedule dict of :func:`dse.schedule.build_schedule`."""
    z = dims(workload)
    act = str(schedule["act_precision"])
    att = str(schedule["classes"].get("attention", {}).get("precision", act))
    cls_prec = {c: str(v["precision"]) for c, v in schedule["classes"].items()}
    fused = bool(schedule["fuse_attention"])
    tensors = tensor_table(workload, act=act, att=att, cls_prec=cls_prec, fused=fused)
    lines = call_lines(schedule, workload, tensors, tile_k=int(params["tile_k"]))
    off, size = plan_arenas(tensors, lines)
    text = [
        f"# {FORMAT}",
        f"design {schedule['design_id']}",
        f"model tokens={z['s']} hidden={z['d']} heads={z['h']} mlp={z['f']} layers={z['L']} "
        f"patch_k={z['pk']} special={z['special']} shuffle={z['r']} out={z['out']} "
        f"side={z['side']} eps={LAYERNORM_EPS!r} fuse_attention={int(fused)} "
        f"compute_units={schedule['compute_units']} cameras={schedule['cameras']}",
        "arena " + _kv({k + "_elems": v for k, v in size.items()}),
    ]
    for ch in schedule.get("channels", []):  # the memory channel of every port of every CU
        text.append(
            f"cu index={ch['cu']} "
            + " ".join(f"{s}={','.join(map(str, ch[s]))}" for s in ("weights", "inputs", "outputs"))
        )
    for name, t in tensors.items():
        text.append(
            f"tensor name={name} rows={t.rows} cols={t.cols} prec={t.prec} kind={t.kind} "
            f"scale={t.scale} off={off[name]}"
        )
    text += [f"{kind} {_kv(f)}" for kind, f in lines]
    return "\n".join(text) + "\n"


def _kv(vals: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in vals.items())


def _gemm_operands(
    name: str,
    layer: int,
    head: int,
    rep: int,
    z: Mapping[str, int],
    fused: bool,
    step: Mapping[str, Any],
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
        "arow": 0,
        "brow": 0,
        "crow": 0,
        "rrow": 0,
    }
    if name == "patch_embed":
        return {
            **none,
            "a": "patches",
            "b": "patch_embed.w",
            "c": "emb" if z["embed_ln"] else "x0",
            "lda": z["pk"],
            "ldb": d,
            "ldc": d,
            "bias": "patch_embed.b" if "patch_bias" in epi else "-",
            "res": "pos" if "position_add" in epi else "-",
            "ldr": d,
            "crow": z["special"],  # the patches' rows follow the class tokens
            "rrow": z["special"],
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
    if name == "classifier" and z["classes"]:
        return {  # classifier `rep` on class token `rep` (DeiT: class, then distillation)
            **none,
            "a": head_input(z),
            "b": "classifier.w",
            "c": "logits",
            "lda": d,
            "ldb": z["classes"],
            "ldc": z["classes"],
            "arow": rep,
            "crow": rep,
            "bias": "classifier.b" if "classifier_bias" in epi else "-",
        }
    if name.startswith("pool_") and z["pool_h"]:
        return _pool_operands(name, head, z, epi, none)
    return None


def _pool_operands(
    name: str, head: int, z: Mapping[str, int], epi: set[str], none: Mapping[str, Any]
) -> dict[str, Any] | None:
    """SigLIP's attention-pooling head: the probe attends over every token of the head input."""
    s, d, pf = z["s"], z["d"], z["pool_f"]
    pdh = d // z["pool_h"]
    x = head_input(z)
    proj = {"pool_q_proj": ("pool.probe", "q"), "pool_k_proj": (x, "k"), "pool_v_proj": (x, "v")}
    if name in proj:
        a, m = proj[name]
        return {
            **none, "a": a, "b": f"pool.{m}.w", "c": f"pool.{m}", "lda": d, "ldb": d, "ldc": d,
            "bias": f"pool.{m}.b" if f"pool_{m}_bias" in epi else "-",
        }  # fmt: skip
    if name == "pool_scores":
        return {
            **none, "a": "pool.q", "b": "pool.k", "c": f"pool.s{head}", "lda": d, "ldb": d,
            "ldc": s, "acol": head * pdh, "bcol": head * pdh, "bsrc": "inputs", "btrans": 1,
            "alpha": repr(float(1.0 / math.sqrt(pdh))),
        }  # fmt: skip
    if name == "pool_context":
        return {
            **none, "a": f"pool.p{head}", "b": "pool.v", "c": "pool.ctx", "lda": s, "ldb": d,
            "ldc": d, "bcol": head * pdh, "ccol": head * pdh, "bsrc": "inputs",
        }  # fmt: skip
    if name == "pool_out_proj":
        return {
            **none, "a": "pool.ctx", "b": "pool.o.w", "c": "pool.o", "lda": d, "ldb": d, "ldc": d,
            "bias": "pool.o.b" if "pool_out_bias" in epi else "-",
        }  # fmt: skip
    if name == "pool_fc1":
        return {
            **none, "a": "pool.ln", "b": "pool.fc1.w", "c": "pool.f1", "lda": d, "ldb": pf,
            "ldc": pf, "bias": "pool.fc1.b" if "pool_fc1_bias" in epi else "-",
            "gelu": int("pool_gelu" in epi),
        }  # fmt: skip
    if name == "pool_fc2":
        return {
            **none, "a": "pool.f1", "b": "pool.fc2.w", "c": "pool.out", "lda": pf, "ldb": d,
            "ldc": d, "bias": "pool.fc2.b" if "pool_fc2_bias" in epi else "-",
            "res": "pool.o" if "pool_residual" in epi else "-", "ldr": d,
        }  # fmt: skip
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
        "pixel_shuffle": (head_input(z), "shuf", None, d),
        "embed_layernorm": ("emb", "x0", "emb_ln", d),
        "token_embed": ("tok", "emb" if z["embed_ln"] else "x0", None, d),
        "pool_softmax": (f"pool.s{head}", f"pool.p{head}", None, s),
        "pool_layernorm": ("pool.o", "pool.ln", "pool.ln", d),
    }
    a, c, ln, ld = table[name]
    shuf_ld = d * z["r"] ** 2 if name == "pixel_shuffle" else ld
    res = name == "token_embed"  # the position (and token-type) rows added to the tokens
    return {
        "a": a,
        "c": c,
        "r": "pos" if res else "-",
        "ldr": d if res else 0,
        "sr": "-",
        "gamma": ln + ".g" if ln else "-",
        "beta": ln + ".bt" if ln else "-",
        "lda": ld,
        "ldc": shuf_ld,
    }
