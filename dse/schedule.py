"""A design -> ``schedule.json``: every kernel call of one policy call, in execution order.

The schedule is generated from the same kernel table (:attr:`dse.workload.Workload.kernels`) and
the same mapping the model costed (the row's ``tile_{m,n}_div_<class>`` and ``prec_<class>``), so
the host program that runs it runs the machine the model priced. It follows the model's sharing of
the cameras among compute units (``Model._count``, ``_Batch.g``, ``_Batch.rounds``):

- the images of one call go out in ``rounds`` sequential rounds of ``min(CUs, cameras)`` images;
- each image of a round runs on ``g = max(floor(CUs / cameras), 1)`` CUs: per-head kernels give
  each of them every ``g``-th head, other GEMMs split the output columns and stand-alone vector
  kernels split the rows;
- every CU runs the same kernel sequence, so the CUs advance in lockstep: one *step* is one kernel
  issued to the CUs of a round at once (its ``calls``: which CU works on which image, head, rows or
  columns), and it takes the model's time of one execution of that kernel on one CU.

The steps' ``ms`` therefore add up to the model's latency per call (time per image on one CU x
rounds). Epilogues (bias, GELU, residual, position add; softmax when attention is fused) are not
steps: they ride on their GEMM (``fused``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dse.model import Model
from dse.results import batch_from_frame
from dse.workload import GEMM, Kernel, Workload

#: Format tag written into every schedule (bump when a field changes meaning).
FORMAT = "dse-schedule/1"


def build_schedule(
    params: Mapping[str, Any],
    model: Model,
    channels: Sequence[Mapping[str, Sequence[int]]],
    *,
    classes: Mapping[str, tuple[int, int, str]],
) -> dict[str, Any]:
    """The schedule of one design as a JSON-ready dict.

    Args:
        params: the checked design parameters (dse.export.design_params: category strings).
        model: the run's model *without* a mapper (``Config.model(mapper=False)``), so that the
            row's runtime tiles are the ones costed.
        channels: dse.allocation.channel_allocation of the design (one dict per CU).
        classes: per kernel class ``(tile_m, tile_n, precision)`` at runtime
            (dse.export.engine_precisions).
    """
    w = model.workload
    batch = batch_from_frame(pd.DataFrame([dict(params)]))
    res = model.evaluate(batch, detail=True)
    kernel_ms = res.kernel_ms[0]
    cu, cams = int(params["compute_units"]), int(w.cameras)
    fuse = bool(params["fuse_attention"])
    plan = _plan(w, cu, fuse)
    g, rounds = plan["g"], plan["rounds"]
    idx = {k.name: i for i, k in enumerate(w.kernels)}
    # the time of one execution on one CU: the model's per-image time / its executions per image
    call_ms = {
        k.name: float(kernel_ms[idx[k.name]]) / _executions(k, g) for k in plan["runs"]
    }
    steps: list[dict[str, Any]] = []
    for r, k, layer, rep, calls in plan["steps"]:
        steps.append(
            _step(k, len(steps), r, layer, rep, calls, call_ms[k.name], params, classes,
                  channels, plan["epilogues"], fuse, plan["score"], g)
        )
    total = math.fsum(s["ms"] for s in steps)
    return {
        "format": FORMAT,
        "design_id": str(params["design_id"]),
        "workload": w.name,
        "cameras": cams,
        "compute_units": cu,
        "cus_per_image": g,
        "rounds": rounds,
        "fuse_attention": fuse,
        "double_buffer": bool(params["double_buffer"]),
        "vector_lanes": int(params["vector_lanes"]),
        "classes": {
            c: {"tile_m": tm, "tile_n": tn, "tile_k": int(params["tile_k"]), "precision": prec}
            for c, (tm, tn, prec) in classes.items()
        },
        "act_precision": params["act_precision"],
        "channels": [
            {"cu": i, **{s: list(v) for s, v in a.items()}} for i, a in enumerate(channels)
        ],
        "latency_ms": total,
        "model_latency_ms": float(res.columns["latency_ms"][0]),
        "steps": steps,
    }


def _plan(w: Workload, cu: int, fuse: bool) -> dict[str, Any]:
    """The step structure of a policy call: CUs per image, rounds, the kernels that run as steps
    (epilogues ride on their GEMM), and per step ``(round, kernel, layer, repeat, calls)``."""
    cams = int(w.cameras)
    g = max(cu // cams, 1)  # CUs per image (the model's _Batch.g)
    per_round = min(cu, cams)  # images side by side
    rounds = math.ceil(cams / per_round)
    epilogues: dict[str, list[str]] = {}
    for k in w.kernels:
        if k.epilogue_of:
            epilogues.setdefault(k.epilogue_of, []).append(k.name)
    score = next((k.name for k in w.kernels if k.attention and k.kind == GEMM), None)
    softmax = [k.name for k in w.kernels if k.attention and k.kind != GEMM]
    if fuse and score:
        epilogues.setdefault(score, []).extend(softmax)
    skip = {k.name for k in w.kernels if k.epilogue_of} | (set(softmax) if fuse else set())
    runs = [k for k in w.kernels if k.name not in skip]
    steps = []
    for r in range(rounds):
        images = range(r * per_round, min((r + 1) * per_round, cams))
        for k, layer, rep, hstep in _kernel_order(runs, g):
            calls = []
            for img in images:
                for p in range(g):
                    c = _call(k, img, (img % per_round) * g + p, p, g, hstep)
                    if c is not None:
                        calls.append(c)
            if calls:
                steps.append((r, k, layer, rep, calls))
    return {"g": g, "rounds": rounds, "epilogues": epilogues, "score": score, "runs": runs,
            "steps": steps}  # fmt: skip


def step_skeleton(w: Workload, *, compute_units: int, fuse_attention: bool) -> dict[str, Any]:
    """The steps of :func:`build_schedule` without the model's times, tiles and precisions:
    what a tensor's lifetime depends on (kernel, layer, repeat, calls, fused epilogues). The
    model sizes the activation arena from it (dse.capacity) without evaluating a design."""
    plan = _plan(w, int(compute_units), bool(fuse_attention))
    steps = []
    for i, (r, k, layer, rep, calls) in enumerate(plan["steps"]):
        s: dict[str, Any] = {"step": i, "round": r, "kernel": k.name, "kind": k.kind,
                             "layer": layer, "calls": calls}  # fmt: skip
        if rep:
            s["repeat"] = rep
        if k.kind == GEMM:
            s["class"] = k.cls
            s["fused"] = plan["epilogues"].get(k.name, [])
        steps.append(s)
    return {"fuse_attention": bool(fuse_attention), "compute_units": int(compute_units),
            "cameras": int(w.cameras), "steps": steps}  # fmt: skip


def schedule_json(schedule: Mapping[str, Any]) -> str:
    """The schedule as JSON text: header fields indented, one step per line."""
    head = {k: v for k, v in schedule.items() if k != "steps"}
    text = json.dumps(head, indent=2)
    lines = ",\n".join("    " + json.dumps(s, separators=(", ", ": ")) for s in schedule["steps"])
    return text[:-2] + ',\n  "steps": [\n' + lines + "\n  ]\n}\n"


def _executions(k: Kernel, g: int) -> int:
    """Sequential executions of a kernel per image on one CU (the model's ``_count``)."""
    if k.instances > 1:
        return (k.count // k.instances) * math.ceil(k.instances / g)
    return k.count


def _kernel_order(runs: list[Kernel], g: int) -> list[tuple[Kernel, int | None, int, int | None]]:
    """(kernel, layer, repeat, head step) in execution order for one image: stem kernels, then
    layer by layer the layer kernels in table order (consecutive per-head kernels head by head:
    scores, softmax, context of head 0, then head 1, ...), then the head; a kernel that runs
    several times outside the layers (e.g. one classifier per class token) repeats in place."""
    out: list[tuple[Kernel, int | None, int, int | None]] = []

    def blocks(kernels: list[Kernel]) -> list[list[Kernel]]:
        """Consecutive kernels grouped: runs of per-head kernels together, others alone."""
        bl: list[list[Kernel]] = []
        for k in kernels:
            if k.instances > 1 and bl and bl[-1][0].instances == k.instances:
                bl[-1].append(k)
            else:
                bl.append([k])
        return bl

    def emit(block: list[Kernel], layer: int | None, rep: int) -> None:
        if block[0].instances > 1:
            for h in range(math.ceil(block[0].instances / g)):
                out.extend((k, layer, rep, h) for k in block)
        else:
            out.extend((k, layer, rep, None) for k in block)

    layer_k = [k for k in runs if k.group == "layer"]
    layers = {k.count // k.instances for k in layer_k}
    if len(layers) > 1:
        raise ValueError(f"layer kernels disagree on the layer count: {sorted(layers)}")
    n_layers = layers.pop() if layers else 0
    for grp in ("stem", "layer", "head"):
        ks = [k for k in runs if k.group == grp]
        if grp == "layer":
            for layer in range(n_layers):
                for bl in blocks(ks):
                    emit(bl, layer, 0)
            continue
        for bl in blocks(ks):
            for rep in range(bl[0].count // bl[0].instances):
                emit(bl, None, rep)
    return out


def _call(k: Kernel, image: int, cu: int, part: int, g: int, hstep: int | None):
    """What CU ``cu`` (the ``part``-th of the ``g`` CUs of ``image``) does in one step, or None
    when it has no head left in this step."""
    call: dict[str, Any] = {"cu": cu, "image": image}
    if hstep is not None:
        head = hstep * g + part
        if head >= k.instances:
            return None
        call["head"] = head
    elif g > 1:  # columns (GEMM) or rows (vector) split over the image's CUs
        size = k.n if k.kind == GEMM else k.m
        share = math.ceil(size / g)
        lo, hi = min(part * share, size), min((part + 1) * share, size)
        if lo >= hi:
            return None
        call["cols" if k.kind == GEMM else "rows"] = [lo, hi]
    return call


def _step(k, i, r, layer, rep, calls, ms, params, classes, channels, epilogues, fuse, score, g):
    """One step of the schedule (see the module docstring)."""
    act = params["act_precision"]
    s: dict[str, Any] = {
        "step": i,
        "round": r,
        "kernel": k.name,
        "kind": k.kind,
        "group": k.group,
        "layer": layer,
    }
    if rep:
        s["repeat"] = rep
    split = k.instances == 1 and g > 1
    if k.kind == GEMM:
        tm, tn, prec = classes[k.cls]
        n = math.ceil(k.n / g) if split else k.n
        s["class"] = k.cls
        s["shape"] = {"m": k.m, "k": k.k, "n": n}
        s["tile"] = {"m": min(tm, k.m), "n": min(tn, n), "k": min(int(params["tile_k"]), k.k)}
        attn = k.cls == "attention"
        s["precision"] = {"a": prec if attn else act, "b": prec, "c": prec if attn else act}
        # where each operand streams: A (and an activation B) on the inputs' channels, a weight
        # B on the weights' channels, C on the outputs'; fused attention keeps the scores on chip
        s["streams"] = {
            "a": "inputs",
            "b": "weights" if k.weight_operand else "inputs",
            "c": "outputs",
        }
        if k.attention and fuse:
            if k.name == score:
                s["streams"]["c"] = "on_chip"
            else:
                s["streams"]["a"] = "on_chip"
        s["fused"] = epilogues.get(k.name, [])
    else:
        rows = math.ceil(k.m / g) if split else k.m
        s["shape"] = {"m": rows, "n": k.n}
        s["precision"] = {"a": act, "c": act}
        s["lanes"] = int(params["vector_lanes"])
        s["streams"] = {"a": "inputs", "c": "outputs"}
    for c in calls:
        c["channels"] = {
            op: ([] if src == "on_chip" else list(channels[c["cu"]][src]))
            for op, src in s["streams"].items()
        }
    s["calls"] = calls
    s["ms"] = ms
    return s


def latency_of(schedule: Mapping[str, Any]) -> float:
    """The summed model time of the schedule's steps (ms)."""
    return math.fsum(float(s["ms"]) for s in schedule["steps"])


def call_counts(schedule: Mapping[str, Any]) -> dict[str, int]:
    """Kernel calls per kernel name (over every CU and image of the policy call)."""
    names = [s["kernel"] for s in schedule["steps"] for _ in s["calls"]]
    u, n = np.unique(np.asarray(names, dtype=str), return_counts=True) if names else ([], [])
    return {str(a): int(b) for a, b in zip(u, n, strict=True)}
