"""What one memory channel holds when the exported host runs a design (MiB), for the model's
capacity check (``Model._feasibility``: ``hbm MiB per channel 412 > 256 available``).

The figures are the exported host's buffers (dse/templates/host.cpp.in, docs/host.md), sized by
the same placement (:func:`dse.hostsched.plan_arenas`) on the design's step structure
(:func:`dse.schedule.step_skeleton`):

- a weight channel holds one copy of every weight at the engine's weight element size, and the
  first weight channel of a CU the float vectors (biases, LayerNorm; float32);
- an activation channel holds one activation arena (inputs and activations of one image, placed
  by lifetime) at the engine's activation element size, and the first output channel of a CU
  the partial sums (the largest GEMM call's ``M x N`` accumulators, 4 bytes);
- a channel that carries all of a CU's streams (``share_streams`` without ``share_weights``)
  holds both.

Stored element sizes are whole bytes (INT4 values take one byte each, as the host files and the
kernel's element type store them). The activation arena depends only on whether attention is
fused and on the CUs per image (which heads and column shares run side by side), so it is
computed once per such pair and model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dse.model import Model

MIB = 2.0**20

#: Bytes of one partial sum (int32 or float32 accumulators).
ACC_BYTES = 4
#: Bytes of one float vector element (biases, LayerNorm gains).
PARAM_BYTES = 4
#: Elements the host pads the weight and activation arenas by: the kernel reads whole 512-bit
#: (64-byte) words, so it may read up to 63 bytes past an arena's last element; 64 elements of
#: at least one byte cover that (docs/kernel.md; host.cpp's ARENA_PAD is this value).
ARENA_PAD_ELEMS = 64
#: Elements the host adds to the float-vector buffer (prm): one, so that it is never empty.
PARAM_PAD_ELEMS = 1


def stored_bytes(prec_bits: np.ndarray) -> np.ndarray:
    """Bytes one stored element takes per precision code: whole bytes, at least one."""
    return np.maximum(np.ceil(np.asarray(prec_bits, dtype=float) / 8), 1.0)


def arena_elems(model: Model, fuse: bool, g: int) -> tuple[int, int, int, int]:
    """(weights, params, activation arena, partial sums) in elements, as the host allocates
    them (padding included), for a design of ``model`` with fused attention or not and ``g``
    CUs per image (cached on the model)."""
    cache = model.__dict__.setdefault("_arena_cache", {})
    key = (bool(fuse), int(g))
    if key not in cache:
        from dse.hostsched import call_lines, plan_arenas, tensor_table
        from dse.params import KERNEL_CLASSES
        from dse.schedule import step_skeleton

        w = model.workload
        sk = step_skeleton(w, compute_units=int(g) * int(w.cameras), fuse_attention=bool(fuse))
        prec = dict.fromkeys(KERNEL_CLASSES, "INT8")  # sizes do not depend on precisions
        tensors = tensor_table(w, act="INT8", att="INT8", cls_prec=prec, fused=bool(fuse))
        _, size = plan_arenas(tensors, call_lines(sk, w, tensors))
        cache[key] = (
            size["weights"] + ARENA_PAD_ELEMS,
            size["params"] + PARAM_PAD_ELEMS,
            size["acts"] + ARENA_PAD_ELEMS,
            max(size["ps"], 1),
        )
    return cache[key]


def channel_mib(
    model: Model,
    *,
    fuse: np.ndarray,
    cus_per_image: np.ndarray,
    weight_code: np.ndarray,
    act_code: np.ndarray,
    share_weights: np.ndarray,
    share_streams: np.ndarray,
) -> np.ndarray:
    """MiB held by the fullest memory channel of each design (arrays, one element per design).

    Args:
        model: the model (its workload and platform precision table).
        fuse: fused attention per design.
        cus_per_image: CUs that share one image (``max(floor(CUs / cameras), 1)``).
        weight_code / act_code: precision codes of the engine's weight and activation types.
        share_weights / share_streams: the channel-sharing flags.
    """
    g = np.asarray(cus_per_image).astype(np.intp)
    f = np.asarray(fuse, dtype=bool)
    n = len(g)
    table = np.zeros((int(g.max(initial=1)) + 1, 2, 4))
    present = np.bincount(g * 2 + f, minlength=table.shape[0] * 2) > 0
    for key in np.flatnonzero(present):
        gi, fi = divmod(int(key), 2)
        table[gi, fi] = arena_elems(model, bool(fi), gi)
    sizes = table[g, f.astype(np.intp)] if n else np.zeros((0, 4))
    nbytes = stored_bytes(model.platform.prec_bits)
    wb, ab = nbytes[np.asarray(weight_code)], nbytes[np.asarray(act_code)]
    weights = sizes[:, 0] * wb + sizes[:, 1] * PARAM_BYTES
    acts = sizes[:, 2] * ab + sizes[:, 3] * ACC_BYTES
    all_shared = np.asarray(share_streams, dtype=bool) & ~np.asarray(share_weights, dtype=bool)
    return np.where(all_shared, weights + acts, np.maximum(weights, acts)) / MIB
