"""A numpy reference of what an exported design computes: one SigLIP encoder layer and the
SmolVLM connector (``dse csim`` compares the C simulation with it).

The layer is the pre-LN SigLIP layer of the smolVLA vision tower (facts.md §6)::

    h = x + out_proj(attention(LN1(x)))          attention: per head softmax(Q K^T / sqrt(dh)) V
    y = h + fc2(gelu_tanh(fc1(LN2(h))))

and the head after the last layer is the post-LayerNorm, the pixel shuffle (space to depth with
the model's ``scale_factor``) and the connector's linear projection.

Every matrix product goes through a :class:`Numerics`: :class:`Float64` computes the exact real
result; :class:`Quantised` applies the precision of each kernel class at the points where the
exported kernels quantise (operands rounded to BF16 or quantised to INT8/INT4 with a symmetric
per-tensor scale, products accumulated in float32 or int32, activations stored at the design's
activation precision between kernels).

Weights are given ``[in, out]`` (``y = x @ w + b``), as the GEMM kernel reads them (B = K x N).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

#: LayerNorm epsilon of SigLIP / the smolVLA vision tower (facts.md §6).
LN_EPS = 1e-6

#: sqrt(2 / pi), the constant of the tanh form of GELU (gelu_pytorch_tanh).
GELU_C = math.sqrt(2.0 / math.pi)

#: Largest magnitude of a symmetric signed integer code per precision (INT8: [-127, 127]).
INT_MAX = {"INT8": 127, "INT4": 7}


# ---- element-wise pieces ------------------------------------------------------------------------


def layernorm(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = LN_EPS
) -> np.ndarray:
    """LayerNorm over the last axis (biased variance, as torch.nn.LayerNorm)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (``gelu_pytorch_tanh``): 0.5 x (1 + tanh(c (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + 0.044715 * x**3)))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (the row maximum subtracted first)."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def pixel_shuffle(x: np.ndarray, scale: int) -> np.ndarray:
    """SmolVLM's pixel shuffle: tokens ``[s, d]`` on a square ``side x side`` patch grid (row
    major) -> ``[s / scale^2, d scale^2]``. Output token ``(I, J)`` of the ``side/scale`` grid
    holds input tokens ``(I scale + a, J scale + b)`` for ``a, b < scale``, channel block
    ``a scale + b`` (row offset outer, column offset inner)."""
    s, d = x.shape
    side = math.isqrt(s)
    if side * side != s or side % scale:
        raise ValueError(f"{s} tokens do not form a square grid divisible by {scale}")
    big = side // scale
    return x.reshape(big, scale, big, scale, d).transpose(0, 2, 1, 3, 4).reshape(big * big, -1)


# ---- number formats -----------------------------------------------------------------------------


def bf16(x: np.ndarray) -> np.ndarray:
    """Round to bfloat16 (nearest, ties to even) and return float32 values (NaN stays NaN)."""
    f = np.ascontiguousarray(x, dtype=np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    out = (rounded & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(f), f, out)


def int_scale(x: np.ndarray, precision: str) -> float:
    """Symmetric per-tensor scale: max |x| maps to the largest code (1.0 for an all-zero x)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return peak / INT_MAX[precision] if peak > 0 else 1.0


def quantise(x: np.ndarray, precision: str, scale: float) -> np.ndarray:
    """Integer codes of ``x / scale`` rounded to nearest (ties to even), clipped to the
    symmetric range; int32 array."""
    q = np.rint(np.asarray(x, dtype=np.float64) / scale)
    top = INT_MAX[precision]
    return np.clip(q, -top, top).astype(np.int32)


def int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact int64 product of integer matrices (through float64 when the sums stay below 2^53,
    which BLAS computes exactly; integer matmul otherwise)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    bound = float(np.abs(a).max(initial=0)) * float(np.abs(b).max(initial=0)) * a.shape[-1]
    if bound < 2.0**53:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


# ---- numerics of a matrix product ---------------------------------------------------------------


class Numerics:
    """How a design computes: matrix products per kernel class and activation storage."""

    def gemm(self, a: np.ndarray, b: np.ndarray, cls: str) -> np.ndarray:
        """``a @ b`` for a GEMM of kernel class ``cls`` (dse.params.KERNEL_CLASSES)."""
        raise NotImplementedError

    def store(self, x: np.ndarray) -> np.ndarray:
        """An activation as stored between kernels."""
        raise NotImplementedError


class Float64(Numerics):
    """Exact real arithmetic (float64): the model as trained, without any rounding."""

    def gemm(self, a, b, cls):
        return np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)

    def store(self, x):
        return np.asarray(x, dtype=np.float64)


@dataclass(frozen=True)
class Quantised(Numerics):
    """A design's precisions: ``classes`` maps a kernel class to its precision (FP32, BF16, INT8,
    INT4) for both operands, ``act`` is the activation precision between kernels.

    - FP32: float32 operands, float32 accumulation (float64 here: the order of a float32 sum is
      the kernel's, so float rounding is within the stated tolerance, not bit-exact);
    - BF16: operands rounded to bfloat16, products accumulated in float32;
    - INT8 / INT4: each operand quantised with its own symmetric per-tensor scale, products
      accumulated exactly (int32), the result rescaled by the two scales.

    Activations between kernels are float32, or rounded to bfloat16 when ``act`` is BF16; integer
    activation precisions quantise at the next GEMM's input (the vector unit works in float).
    """

    classes: Mapping[str, str]
    act: str

    def gemm(self, a, b, cls):
        prec = self.classes[cls]
        if prec in INT_MAX:
            sa, sb = int_scale(a, prec), int_scale(b, prec)
            acc = int_matmul(quantise(a, prec, sa), quantise(b, prec, sb))
            return (acc.astype(np.float64) * (sa * sb)).astype(np.float32)
        if prec == "BF16":
            a, b = bf16(a), bf16(b)
        return (np.asarray(a, np.float64) @ np.asarray(b, np.float64)).astype(np.float32)

    def store(self, x):
        x = np.asarray(x, dtype=np.float32)
        return bf16(x) if self.act == "BF16" else x


# ---- weights ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerWeights:
    """The parameters of one encoder layer (matrices ``[in, out]``)."""

    ln1_g: np.ndarray
    ln1_b: np.ndarray
    wq: np.ndarray
    bq: np.ndarray
    wk: np.ndarray
    bk: np.ndarray
    wv: np.ndarray
    bv: np.ndarray
    wo: np.ndarray
    bo: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray


@dataclass(frozen=True)
class ConnectorWeights:
    """The post-LayerNorm and the connector projection ``[d scale^2, out]`` (bias optional)."""

    ln_g: np.ndarray
    ln_b: np.ndarray
    w: np.ndarray
    b: np.ndarray | None


def random_layer(rng: np.random.Generator, hidden: int, mlp: int) -> LayerWeights:
    """Weights of the size a trained layer has (std 1/sqrt(fan in), as the usual initialisers),
    LayerNorm gains near 1 and small biases, float32."""

    def mat(i, o):
        return (rng.standard_normal((i, o)) / math.sqrt(i)).astype(np.float32)

    def vec(n, centre=0.0, spread=0.02):
        return (centre + spread * rng.standard_normal(n)).astype(np.float32)

    return LayerWeights(
        ln1_g=vec(hidden, 1.0, 0.1), ln1_b=vec(hidden),
        wq=mat(hidden, hidden), bq=vec(hidden),
        wk=mat(hidden, hidden), bk=vec(hidden),
        wv=mat(hidden, hidden), bv=vec(hidden),
        wo=mat(hidden, hidden), bo=vec(hidden),
        ln2_g=vec(hidden, 1.0, 0.1), ln2_b=vec(hidden),
        w1=mat(hidden, mlp), b1=vec(mlp),
        w2=mat(mlp, hidden), b2=vec(hidden),
    )  # fmt: skip


def random_connector(
    rng: np.random.Generator, hidden: int, scale: int, out: int, *, bias: bool
) -> ConnectorWeights:
    """Post-LayerNorm and projection weights for :func:`connector`, float32."""
    k = hidden * scale * scale
    return ConnectorWeights(
        ln_g=(1.0 + 0.1 * rng.standard_normal(hidden)).astype(np.float32),
        ln_b=(0.02 * rng.standard_normal(hidden)).astype(np.float32),
        w=(rng.standard_normal((k, out)) / math.sqrt(k)).astype(np.float32),
        b=(0.02 * rng.standard_normal(out)).astype(np.float32) if bias else None,
    )


# ---- the layer and the connector ----------------------------------------------------------------


def encoder_layer(
    x: np.ndarray,
    w: LayerWeights,
    heads: int,
    num: Numerics | None = None,
    *,
    trace: Callable[[str, np.ndarray], None] | None = None,
) -> np.ndarray:
    """One pre-LN SigLIP encoder layer on tokens ``x [s, d]``.

    Args:
        x: input tokens.
        w: the layer's weights.
        heads: attention heads (``d % heads == 0``).
        num: numerics of the design (default: :class:`Float64`).
        trace: called with (name, tensor) for every intermediate, in order (for debugging a
            mismatch against the C simulation).
    """
    num = num or Float64()
    note = trace or (lambda name, t: None)
    s, d = x.shape
    dh = d // heads
    x = num.store(x)
    h1 = num.store(layernorm(x, w.ln1_g, w.ln1_b))
    note("ln1", h1)
    q = num.store(num.gemm(h1, w.wq, "proj") + w.bq)
    k = num.store(num.gemm(h1, w.wk, "proj") + w.bk)
    v = num.store(num.gemm(h1, w.wv, "proj") + w.bv)
    note("q", q), note("k", k), note("v", v)
    ctx = np.empty((s, d), dtype=np.float64)
    for i in range(heads):
        cols = slice(i * dh, (i + 1) * dh)
        scores = num.gemm(q[:, cols], k[:, cols].T, "attention") / math.sqrt(dh)
        p = num.store(softmax(np.asarray(scores, dtype=np.float64)))
        ctx[:, cols] = num.gemm(p, v[:, cols], "attention")
    ctx = num.store(ctx)
    note("context", ctx)
    h = num.store(x + (num.gemm(ctx, w.wo, "proj") + w.bo))
    note("residual1", h)
    h2 = num.store(layernorm(h, w.ln2_g, w.ln2_b))
    note("ln2", h2)
    f = num.store(gelu_tanh(num.gemm(h2, w.w1, "mlp") + w.b1))
    note("gelu", f)
    y = num.store(h + (num.gemm(f, w.w2, "mlp") + w.b2))
    note("residual2", y)
    return y


def connector(
    x: np.ndarray,
    w: ConnectorWeights,
    scale: int,
    num: Numerics | None = None,
    *,
    trace: Callable[[str, np.ndarray], None] | None = None,
) -> np.ndarray:
    """The head after the last layer: post-LayerNorm, pixel shuffle, projection (class
    ``embed``) on tokens ``x [s, d]`` of a square patch grid -> ``[s / scale^2, out]``."""
    num = num or Float64()
    note = trace or (lambda name, t: None)
    h = num.store(layernorm(num.store(x), w.ln_g, w.ln_b))
    note("post_layernorm", h)
    p = pixel_shuffle(h, scale)
    note("pixel_shuffle", p)
    y = num.gemm(p, w.w, "embed")
    if w.b is not None:
        y = y + w.b
    y = num.store(y)
    note("connector", y)
    return y
