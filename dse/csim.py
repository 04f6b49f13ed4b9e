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
4. ``g++ -std=c++17 -O2 -DDSE_CSIM`` of host + kernels into a temporary build folder, then a run;
5. three checks: every integer GEMM call's int32 accumulators equal numpy's product of the
   quantised operands the C simulation dumped (bit-exact); the layer's and the connector's
   outputs are within :func:`output_tolerance` of the numpy reference with the design's
   numerics; every GEMM call's loop-counter cycles are within 5% of the model's compute cycles
   for the same call (:func:`model_gemm_cycles`).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from typing import Any

from dse.errors import UserError

#: Per-call agreement required between the C simulation's cycles and the model's (issue 11).
CYCLE_TOLERANCE = 0.05

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

    A classifier or pooling head is dropped (the C simulation covers the layer; only the
    connector is a head the export's vector unit runs). Patch embedding and position add stay:
    they are the schedule's stem.
    """
    m = {k: v for k, v in raw.items() if k not in ("classifier", "pooling")}
    m["layers"] = 1
    m["cameras"] = 1
    if full_size:
        return m
    d, h = int(raw["hidden"]), int(raw["heads"])
    dh = d // h
    heads = min(h, REDUCED_HEADS)
    hidden = heads * dh
    m.update(heads=heads, hidden=hidden, mlp=_scaled(int(raw["mlp"]), hidden, d))
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
    clock): tiles counted with ceiling padding on every dimension, each costing
    ``(tm / pm)(tn / pn)(tk / pk)`` PE-array steps plus ``fill`` (the platform's
    ``logic.pipeline_fill_cycles``).

    Args:
        shape: ``m``, ``k``, ``n`` of the call.
        tile: the class's runtime tile ``m``, ``n``, ``k`` (not clipped to the shape: a partial
            tile costs a whole one).
        pe: ``pe_m``, ``pe_n``, ``pe_k`` of the design.
        fill: pipeline fill cycles per tile.
    """
    tiles = (
        math.ceil(shape["m"] / tile["m"])
        * math.ceil(shape["n"] / tile["n"])
        * math.ceil(shape["k"] / tile["k"])
    )
    steps = (tile["m"] / pe["pe_m"]) * (tile["n"] / pe["pe_n"]) * (tile["k"] / pe["pe_k"])
    return tiles * (steps + fill)


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
    tile) with the model's compute cycles of that call (:func:`model_gemm_cycles`: the model
    charges every CU of a step the step's shape)."""
    pe = {p: int(design[p]) for p in ("pe_m", "pe_n", "pe_k")}
    rows = []
    for s in schedule["steps"]:
        if s["kind"] != "gemm":
            continue
        c = schedule["classes"][s["class"]]
        tile = {"m": c["tile_m"], "n": c["tile_n"], "k": c["tile_k"]}
        cycles = model_gemm_cycles(s["shape"], tile, pe, fill)
        for call in s["calls"]:
            row = {"step": s["step"], "kernel": s["kernel"], "cu": call["cu"]}
            row.update({k: call[k] for k in ("image", "head", "cols") if k in call})
            row.update(shape=dict(s["shape"]), tile=tile, model_cycles=cycles)
            rows.append(row)
    return rows
