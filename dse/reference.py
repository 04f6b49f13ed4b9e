"""A numpy reference of what an exported design computes: one SigLIP encoder layer and the
SmolVLM connector (``dse csim`` compares the C simulation with it).

The layer is the pre-LN SigLIP layer of the smolVLA vision tower (facts.md §6)::

    h = x + out_proj(attention(LN1(x)))          attention: per head softmax(Q K^T / sqrt(dh)) V
    y = h + fc2(gelu_tanh(fc1(LN2(h))))

and the head after the last layer is the post-LayerNorm, the pixel shuffle (space to depth with
the model's ``scale_factor``) and the connector's linear projection.

:func:`encoder_layer` and :func:`connector` compute the exact real result (float64).
:class:`Emulation` computes what the exported kernels compute (the C-sim interface of issue 11):
every tensor stored at its precision (INT8/INT4 codes with a static per-tensor scale, BF16,
FP32), GEMMs accumulating the stored values exactly (int32) or in float32 in ascending k, the
epilogue and the vector unit in float32, operation by operation.

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
    """Symmetric per-tensor scale as float32: max |x| maps to the largest code (1.0 for an
    all-zero x)."""
    peak = float(np.max(np.abs(x))) if np.size(x) else 0.0
    return float(np.float32(peak / INT_MAX[precision])) if peak > 0 else 1.0


def quantise(x: np.ndarray, precision: str, scale: float) -> np.ndarray:
    """Integer codes of ``x`` (C-sim interface 4.1): one float32 division by the scale, rounded
    to nearest (ties to even), clipped to the symmetric range; int8 array."""
    q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(scale))
    top = INT_MAX[precision]
    return np.clip(q, -top, top).astype(np.int8)


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


# ---- what the exported kernels compute (C-sim interface v1, sections 2-4) ----------------------


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> the bfloat16 bit pattern (uint16), rounded to nearest even (interface 4.4)."""
    return (bf16(x).view(np.uint32) >> 16).astype(np.uint16)


def encode(y: np.ndarray, precision: str, scale: float) -> np.ndarray:
    """A float32 tensor as stored at ``precision``: int8 codes (INT8, INT4), uint16 bfloat16
    bits (BF16) or float32 (FP32)."""
    if precision in INT_MAX:
        return quantise(y, precision, scale)
    if precision == "BF16":
        return bf16_bits(y)
    return np.asarray(y, dtype=np.float32)


def decode(raw: np.ndarray, precision: str, scale: float) -> np.ndarray:
    """A stored tensor as float32 values: codes times the scale (one float32 multiply), bfloat16
    widened exactly, float32 as is."""
    if precision in INT_MAX:
        return raw.astype(np.float32) * np.float32(scale)
    if precision == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return np.asarray(raw, dtype=np.float32)


def operand(raw: np.ndarray, precision: str) -> np.ndarray:
    """What the PE array multiplies: the codes of an integer tensor (int64 here), the float32
    value of a BF16 or FP32 one."""
    if precision in INT_MAX:
        return raw.astype(np.int64)
    return decode(raw, precision, 1.0)


def float32_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` accumulated in float32 in ascending k, each product rounded then added (the
    kernel's order, built without fused multiply-add): bit-exact for the same operands."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    for k in range(a.shape[1]):
        acc = acc + a[:, k : k + 1] * b[k : k + 1, :]
    return acc


@dataclass(frozen=True)
class Order:
    """How the exported kernels order their float32 sums (docs/kernel.md), so that the
    emulation adds in the same order and a float design is checked bit for bit.

    Attributes:
        tile_k: the engine's tile depth: the PE loop's k runs one tile at a time.
        pe_k: products per PE step, summed as a balanced tree (:func:`tree32`).
        acc_slots: interleaved partial sums of a PE output (slot = step % acc_slots), summed
            as a tree when the tile's k run ends; the next tile starts from that total.
        lanes: vector-unit lanes (a row sum keeps one partial sum per lane and slot).
        vector_slots: partial sums per lane (the float add's stages).
    """

    tile_k: int
    pe_k: int
    acc_slots: int
    lanes: int
    vector_slots: int


def tree32(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis as the kernel's tree_sum<N>: the first N/2 elements' tree plus
    the other N - N/2 elements' tree, float32."""
    n = x.shape[-1]
    if n == 1:
        return x[..., 0]
    return tree32(x[..., : n // 2]) + tree32(x[..., n // 2 :])


def kernel_matmul32(a: np.ndarray, b: np.ndarray, order: Order) -> np.ndarray:
    """``a @ b`` in float32 exactly as the kernel's PE loop adds (kernel.cpp compute/pe_step):
    per k tile of ``tile_k``, PE steps of ``pe_k`` products (zero-padded to whole steps) reduced
    by a tree, added into slot ``step % acc_slots`` of the output's partial sums (slot 0 starts
    from the previous tile's total), the slots summed by a tree at the tile's end."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    m, k = a.shape
    n = b.shape[1]
    pk, slots = order.pe_k, order.acc_slots
    total = np.zeros((m, n), dtype=np.float32)
    for k0 in range(0, k, order.tile_k):
        kv = min(order.tile_k, k - k0)
        steps = -(-kv // pk)
        part = np.zeros((slots, m, n), dtype=np.float32)
        part[0] = total
        for ks in range(steps):
            lo, hi = k0 + ks * pk, min(k0 + (ks + 1) * pk, k0 + kv)
            prod = np.zeros((m, n, pk), dtype=np.float32)
            prod[:, :, : hi - lo] = a[:, None, lo:hi] * b[lo:hi, :].T[None, :, :]
            part[ks % slots] = part[ks % slots] + tree32(prod)
        total = tree32(np.moveaxis(part, 0, -1))
    return total


def lane_sum32(x: np.ndarray, lanes: int, slots: int) -> np.ndarray:
    """Row sums as the vector unit adds (vector.cpp row_sum): lane l, step s adds element
    s x lanes + l into partial sum [s % slots][l]; then a tree over the slots of each lane and
    a tree over the lanes (float32; shape [..., 1])."""
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[-1]
    steps = -(-n // lanes)
    padded = np.zeros((*x.shape[:-1], steps * lanes), dtype=np.float32)
    padded[..., :n] = x
    grid = padded.reshape(*x.shape[:-1], steps, lanes)
    part = np.zeros((*x.shape[:-1], slots, lanes), dtype=np.float32)
    for st in range(steps):
        part[..., st % slots, :] = part[..., st % slots, :] + grid[..., st, :]
    per_lane = tree32(np.swapaxes(part, -1, -2))  # [..., lanes]
    return tree32(per_lane)[..., None]


def _libm(name: str):
    """A float32 function of the C library the kernels link (expf, tanhf), for the emulation
    to round exactly as the C simulation does (numpy's float32 exp and tanh may differ from
    the C library's by an ulp, which can flip a bf16 or INT8 rounding downstream)."""
    import ctypes
    import ctypes.util

    lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    fn = getattr(lib, name)
    fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
    return np.frompyfunc(fn, 1, 1)


_EXPF = None
_TANHF = None


def expf(x: np.ndarray) -> np.ndarray:
    """The C library's expf, element by element (float32)."""
    global _EXPF
    if _EXPF is None:
        _EXPF = _libm("expf")
    x = np.asarray(x, dtype=np.float32)
    return _EXPF(x).astype(np.float32).reshape(x.shape)


def tanhf(x: np.ndarray) -> np.ndarray:
    """The C library's tanhf, element by element (float32)."""
    global _TANHF
    if _TANHF is None:
        _TANHF = _libm("tanhf")
    x = np.asarray(x, dtype=np.float32)
    return _TANHF(x).astype(np.float32).reshape(x.shape)


def _sum32(x: np.ndarray) -> np.ndarray:
    """Row sums in float32, ascending column order (a running sum, not numpy's pairwise sum)."""
    return np.cumsum(x, axis=-1, dtype=np.float32)[..., -1:]


def layernorm32(x, gamma, beta, eps=LN_EPS, *, order: Order | None = None):
    """The vector unit's LayerNorm (interface 4.5), float32 operation by operation; its row
    sums in the vector unit's lane order (``order``), else ascending."""
    x = np.asarray(x, dtype=np.float32)
    n = np.float32(x.shape[-1])
    total = _sum32 if order is None else (lambda v: lane_sum32(v, order.lanes, order.vector_slots))
    mean = total(x) / n
    var = total((x - mean) * (x - mean)) / n
    inv = np.float32(1) / np.sqrt(var + np.float32(eps))
    return (x - mean) * inv * np.asarray(gamma, np.float32) + np.asarray(beta, np.float32)


def softmax32(x, *, order: Order | None = None):
    """Softmax (interface 4.5), float32, with the C library's expf; the sum in the vector
    lanes' order (``order``: the vector unit's and the fused epilogue's), else ascending."""
    x = np.asarray(x, dtype=np.float32)
    e = expf(x - x.max(axis=-1, keepdims=True))
    if order is None:
        return e / _sum32(e)
    return e / lane_sum32(e, order.lanes, order.vector_slots)


def gelu32(x):
    """GELU (tanh form, interface 4.5), float32 in the C expression's order, with the C
    library's tanhf."""
    x = np.asarray(x, dtype=np.float32)
    f = np.float32
    inner = f(0.7978845608) * (x + f(0.044715) * x * x * x)
    return f(0.5) * x * (f(1) + tanhf(inner))


@dataclass(frozen=True)
class Sizes:
    """The sizes one run of the layers and the connector uses."""

    tokens: int
    hidden: int
    heads: int
    mlp: int
    layers: int
    patch_k: int
    scale: int  # pixel-shuffle scale factor; 0: no connector
    out: int  # connector output features
    final_layernorm: bool = True
    special: int = 0  # class and distillation tokens, the first rows of x0
    token_input: bool = False  # tokens come in: x0 = tok + pos (then LayerNorm), no patches
    embed_layernorm: bool = False  # a LayerNorm on the embeddings (BERT; CLIP's pre-LayerNorm)
    classes: int = 0  # classifier head: classes (0: none)
    class_heads: int = 0  # classifiers, one per class token (row t of the head input)
    pool_heads: int = 0  # attention-pooling head: its heads (0: none)
    pool_mlp: int = 0  # attention-pooling head: its MLP width

    @property
    def head_input(self) -> str:
        """The tensor a head reads: the final LayerNorm's output, else the last layer's."""
        return "post" if self.final_layernorm else f"x{self.layers}"

    @property
    def patches(self) -> int:
        return self.tokens - self.special

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


#: Scale name of the per-head tensors (one scale for all heads of a layer): l0.s3 -> l0.s.
def scale_name(tensor: str) -> str:
    head, _, tail = tensor.rpartition(".")
    if head and tail[:1] in "sp" and tail[1:].isdigit():
        return f"{head}.{tail[0]}"
    return tensor


class Emulation:
    """The exported kernels' arithmetic on named tensors (interface sections 2 and 4).

    Args:
        sizes: the run's sizes.
        precision: precision of every stored tensor (:func:`tensor_precisions`).
        scales: static scale of every INT8/INT4 tensor (by :func:`scale_name`).
        integer_engine: both engine operand types are integers (int32 accumulation); otherwise
            float32 accumulation of the stored values.
        fuse_attention: the score GEMM's epilogue computes the softmax (no stored scores).

    :meth:`stages` lists the computation as stages that read their inputs through a getter, so
    the same code runs free (each stage reads the previous stage's result) or on the C
    simulation's own stored tensors (each stage checked on its own).
    """

    def __init__(self, sizes, precision, scales, *, integer_engine, fuse_attention, order=None):
        self.sizes = sizes
        self.precision = dict(precision)
        self.scales = dict(scales)
        self.integer_engine = integer_engine
        self.fuse = fuse_attention
        self.order = order  # the kernels' summation order (Order); None: ascending sums

    def scale(self, name: str) -> float:
        return float(self.scales.get(scale_name(name), 1.0))

    def store(self, name: str, y: np.ndarray) -> np.ndarray:
        return encode(y, self.precision[name], self.scale(name))

    def value(self, name: str, raw: np.ndarray) -> np.ndarray:
        return decode(raw, self.precision[name], self.scale(name))

    def gemm(self, a_name, a, b_name, b, *, alpha=1.0, bias=None, gelu=False, res=None):
        """The GEMM and its epilogue (interface 4.2, 4.3) up to the float32 result ``y``.

        ``a``, ``b``: stored operands (already sliced / transposed); ``res``: (name, stored)."""
        pa, pb = self.precision[a_name], self.precision[b_name]
        if self.integer_engine:
            acc = int_matmul(operand(a, pa), operand(b, pb)).astype(np.float32)
        else:
            x, y = operand(a, pa), operand(b, pb)
            acc = float32_matmul(x, y) if self.order is None else kernel_matmul32(x, y, self.order)
        f = np.float32
        deq = f(f(self.scale(a_name)) * f(self.scale(b_name))) * f(alpha)
        y = acc * deq
        if bias is not None:
            y = y + np.asarray(bias, np.float32)
        if gelu:
            y = gelu32(y)
        if res is not None:
            y = y + self.value(*res)
        return y

    def stages(self) -> list[tuple[tuple[str, ...], Callable[[Callable[[str], np.ndarray]], dict]]]:
        """``(outputs, run)`` per stage in execution order; ``run(get)`` returns the stored
        outputs, reading tensors (stored form) with ``get(name)``."""
        z = self.sizes
        dh = z.head_dim
        out: list = []

        def add(names, fn):
            out.append((tuple(names), fn))

        emb = "emb" if z.embed_layernorm else "x0"

        def patch(get):
            y = self.gemm(
                "patches", get("patches"), "patch_embed.w", get("patch_embed.w"),
                bias=get("patch_embed.b"), res=("pos", get("pos")[z.special :]),
            )  # fmt: skip
            x0 = self.store(emb, y)
            if z.special:  # the class tokens' rows, stored as the embeddings' (input `cls`)
                x0 = np.concatenate([get("cls"), x0])
            return {emb: x0}

        def tokens(get):  # the vector unit's residual add: float32 sum of the stored inputs
            y = self.value("tok", get("tok")) + self.value("pos", get("pos"))
            return {emb: self.store(emb, y)}

        def embed_ln(get):
            y = layernorm32(
                self.value("emb", get("emb")), get("emb_ln.g"), get("emb_ln.bt"), order=self.order
            )
            return {"x0": self.store("x0", y)}

        add([emb], tokens if z.token_input else patch)
        if z.embed_layernorm:  # BERT's embedding LayerNorm, CLIP's pre-LayerNorm
            add(["x0"], embed_ln)
        for L in range(z.layers):
            p = f"l{L}"
            x = f"x{L}"

            def ln1(get, p=p, x=x):
                y = layernorm32(
                    self.value(x, get(x)), get(f"{p}.ln1.g"), get(f"{p}.ln1.bt"), order=self.order
                )
                return {f"{p}.ln1": self.store(f"{p}.ln1", y)}

            def qkv(get, p=p):
                res = {}
                for m in "qkv":
                    y = self.gemm(
                        f"{p}.ln1", get(f"{p}.ln1"), f"{p}.{m}.w", get(f"{p}.{m}.w"),
                        bias=get(f"{p}.{m}.b"),
                    )  # fmt: skip
                    res[f"{p}.{m}"] = self.store(f"{p}.{m}", y)
                return res

            add([f"{p}.ln1"], ln1)
            add([f"{p}.q", f"{p}.k", f"{p}.v"], qkv)
            def scores(get, p=p, h=0):
                cols = slice(h * dh, (h + 1) * dh)
                return self.gemm(
                    f"{p}.q", get(f"{p}.q")[:, cols], f"{p}.k", get(f"{p}.k")[:, cols].T,
                    alpha=np.float32(1.0 / math.sqrt(dh)),
                )  # fmt: skip

            def context(get, p=p, probs=None):
                """The heads' P . V side by side; ``probs(h)``: head h's stored P."""
                probs = probs or (lambda h: get(f"{p}.p{h}"))
                y = np.concatenate(
                    [
                        self.gemm(
                            f"{p}.p{h}", probs(h),
                            f"{p}.v", get(f"{p}.v")[:, h * dh : (h + 1) * dh],
                        )  # fmt: skip
                        for h in range(z.heads)
                    ],
                    axis=1,
                )
                return {f"{p}.ctx": self.store(f"{p}.ctx", y)}

            if self.fuse:  # P never leaves the chip: one stage from Q, K, V to the context

                def fused(get, p=p):
                    stored = {
                        h: self.store(f"{p}.p{h}", softmax32(scores(get, p, h), order=self.order))
                        for h in range(z.heads)
                    }
                    return context(get, p, stored.__getitem__)

                add([f"{p}.ctx"], fused)
            else:
                for h in range(z.heads):

                    def score(get, p=p, h=h):
                        return {f"{p}.s{h}": self.store(f"{p}.s{h}", scores(get, p, h))}

                    def soft(get, p=p, h=h):
                        y = softmax32(self.value(f"{p}.s{h}", get(f"{p}.s{h}")), order=self.order)
                        return {f"{p}.p{h}": self.store(f"{p}.p{h}", y)}

                    add([f"{p}.s{h}"], score)
                    add([f"{p}.p{h}"], soft)
                add([f"{p}.ctx"], context)

            def attn_out(get, p=p, x=x):
                y = self.gemm(
                    f"{p}.ctx", get(f"{p}.ctx"), f"{p}.o.w", get(f"{p}.o.w"),
                    bias=get(f"{p}.o.b"), res=(x, get(x)),
                )  # fmt: skip
                return {f"{p}.h": self.store(f"{p}.h", y)}

            def ln2(get, p=p):
                y = layernorm32(
                    self.value(f"{p}.h", get(f"{p}.h")), get(f"{p}.ln2.g"), get(f"{p}.ln2.bt"),
                    order=self.order,
                )
                return {f"{p}.ln2": self.store(f"{p}.ln2", y)}

            def fc1(get, p=p):
                y = self.gemm(
                    f"{p}.ln2", get(f"{p}.ln2"), f"{p}.fc1.w", get(f"{p}.fc1.w"),
                    bias=get(f"{p}.fc1.b"), gelu=True,
                )  # fmt: skip
                return {f"{p}.f1": self.store(f"{p}.f1", y)}

            def fc2(get, p=p, L=L):
                y = self.gemm(
                    f"{p}.f1", get(f"{p}.f1"), f"{p}.fc2.w", get(f"{p}.fc2.w"),
                    bias=get(f"{p}.fc2.b"), res=(f"{p}.h", get(f"{p}.h")),
                )  # fmt: skip
                return {f"x{L + 1}": self.store(f"x{L + 1}", y)}

            add([f"{p}.h"], attn_out)
            add([f"{p}.ln2"], ln2)
            add([f"{p}.f1"], fc1)
            add([f"x{L + 1}"], fc2)
        last = f"x{z.layers}"
        src = "post" if z.final_layernorm else last

        def post(get):
            y = layernorm32(
                self.value(last, get(last)), get("post.g"), get("post.bt"), order=self.order
            )
            return {"post": self.store("post", y)}

        if z.final_layernorm:
            add(["post"], post)
        if z.scale:

            def shuffle(get):
                return {"shuf": pixel_shuffle(get(src), z.scale)}

            def project(get):
                y = self.gemm("shuf", get("shuf"), "connector.w", get("connector.w"))
                return {"out": self.store("out", y)}

            add(["shuf"], shuffle)
            add(["out"], project)
        if z.classes:

            def classify(get):
                x = get(z.head_input)
                y = np.concatenate([
                    self.gemm(z.head_input, x[t : t + 1], "classifier.w", get("classifier.w"),
                              bias=get("classifier.b"))
                    for t in range(z.class_heads)
                ])  # fmt: skip
                return {"logits": self.store("logits", y)}

            add(["logits"], classify)
        if z.pool_heads:
            self._pool_stages(add)
        return out

    def _pool_stages(self, add) -> None:
        """SigLIP's attention-pooling head: the probe attends over the head input, then
        LayerNorm, MLP (GELU) and the residual of the attention output."""
        z = self.sizes
        x = z.head_input
        pdh = z.hidden // z.pool_heads

        def proj(get):
            out = {}
            for m, a in (("q", "pool.probe"), ("k", x), ("v", x)):
                y = self.gemm(a, get(a), f"pool.{m}.w", get(f"pool.{m}.w"),
                              bias=get(f"pool.{m}.b"))  # fmt: skip
                out[f"pool.{m}"] = self.store(f"pool.{m}", y)
            return out

        add(["pool.q", "pool.k", "pool.v"], proj)
        for h in range(z.pool_heads):
            cols = slice(h * pdh, (h + 1) * pdh)

            def score(get, h=h, cols=cols):
                y = self.gemm("pool.q", get("pool.q")[:, cols], "pool.k", get("pool.k")[:, cols].T,
                              alpha=np.float32(1.0 / math.sqrt(pdh)))  # fmt: skip
                return {f"pool.s{h}": self.store(f"pool.s{h}", y)}

            def soft(get, h=h):
                y = softmax32(self.value(f"pool.s{h}", get(f"pool.s{h}")), order=self.order)
                return {f"pool.p{h}": self.store(f"pool.p{h}", y)}

            add([f"pool.s{h}"], score)
            add([f"pool.p{h}"], soft)

        def rest(get):
            ctx = np.concatenate([
                self.gemm(f"pool.p{h}", get(f"pool.p{h}"), "pool.v",
                          get("pool.v")[:, h * pdh : (h + 1) * pdh])
                for h in range(z.pool_heads)
            ], axis=1)  # fmt: skip
            return {"pool.ctx": self.store("pool.ctx", ctx)}

        def out_proj(get):
            y = self.gemm("pool.ctx", get("pool.ctx"), "pool.o.w", get("pool.o.w"),
                          bias=get("pool.o.b"))  # fmt: skip
            return {"pool.o": self.store("pool.o", y)}

        def ln(get):
            y = layernorm32(self.value("pool.o", get("pool.o")), get("pool.ln.g"),
                            get("pool.ln.bt"), order=self.order)  # fmt: skip
            return {"pool.ln": self.store("pool.ln", y)}

        def fc1(get):
            y = self.gemm("pool.ln", get("pool.ln"), "pool.fc1.w", get("pool.fc1.w"),
                          bias=get("pool.fc1.b"), gelu=True)  # fmt: skip
            return {"pool.f1": self.store("pool.f1", y)}

        def fc2(get):
            y = self.gemm("pool.f1", get("pool.f1"), "pool.fc2.w", get("pool.fc2.w"),
                          bias=get("pool.fc2.b"), res=("pool.o", get("pool.o")))  # fmt: skip
            return {"pool.out": self.store("pool.out", y)}

        add(["pool.ctx"], rest)
        add(["pool.o"], out_proj)
        add(["pool.ln"], ln)
        add(["pool.f1"], fc1)
        add(["pool.out"], fc2)

    def run(self, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every stage in order from the stored inputs and weights ``tensors``; returns them
        with every stored activation added."""
        have = dict(tensors)
        for _, fn in self.stages():
            have.update(fn(have.__getitem__))
        return have


def tensor_precisions(
    sizes: Sizes, classes: Mapping[str, str], act: str
) -> dict[str, str]:
    """Precision of every stored tensor (interface section 3): a GEMM's weights at its class
    precision, Q/K/V, scores and probabilities at the attention class precision, every other
    activation at ``act``; biases and LayerNorm vectors FP32."""
    if sizes.token_input:
        prec = {"tok": act, "pos": act, "x0": act}
    else:
        prec = {"patches": act, "pos": act, "x0": act, "patch_embed.w": classes["embed"]}
        prec["patch_embed.b"] = "FP32"
    if sizes.embed_layernorm:
        prec.update({"emb": act, "emb_ln.g": "FP32", "emb_ln.bt": "FP32"})
    if sizes.special:
        prec["cls"] = act
    for L in range(sizes.layers):
        p = f"l{L}"
        for m, cls in (("q", "proj"), ("k", "proj"), ("v", "proj"), ("o", "proj")):
            prec[f"{p}.{m}.w"], prec[f"{p}.{m}.b"] = classes[cls], "FP32"
        for m in ("fc1", "fc2"):
            prec[f"{p}.{m}.w"], prec[f"{p}.{m}.b"] = classes["mlp"], "FP32"
        for v in ("ln1.g", "ln1.bt", "ln2.g", "ln2.bt"):
            prec[f"{p}.{v}"] = "FP32"
        for m in "qkv":
            prec[f"{p}.{m}"] = classes["attention"]
        for h in range(sizes.heads):
            prec[f"{p}.s{h}"] = prec[f"{p}.p{h}"] = classes["attention"]
        for a in ("ln1", "ctx", "h", "ln2", "f1"):
            prec[f"{p}.{a}"] = act
        prec[f"x{L + 1}"] = act
    if sizes.final_layernorm:
        prec.update({"post.g": "FP32", "post.bt": "FP32", "post": act})
    if sizes.scale:
        prec.update({"connector.w": classes["embed"], "shuf": act, "out": act})
    if sizes.classes:
        prec.update({"classifier.w": classes["embed"], "classifier.b": "FP32", "logits": act})
    if sizes.pool_heads:
        att = classes["attention"]
        prec["pool.probe"] = act
        for m in ("q", "k", "v", "o", "fc1", "fc2"):
            prec[f"pool.{m}.w"], prec[f"pool.{m}.b"] = classes["embed"], "FP32"
        prec.update({"pool.ln.g": "FP32", "pool.ln.bt": "FP32"})
        prec.update({"pool.q": att, "pool.k": att, "pool.v": att})
        for h in range(sizes.pool_heads):
            prec[f"pool.s{h}"] = prec[f"pool.p{h}"] = att
        prec.update(dict.fromkeys(("pool.ctx", "pool.o", "pool.ln", "pool.f1", "pool.out"), act))
    return prec


def exact_run(t: Mapping[str, np.ndarray], sizes: Sizes, *, fuse_attention: bool) -> dict:
    """The float64 reference on float inputs and weights named as the interface names them:
    every activation of :meth:`Emulation.stages` computed exactly (no rounding, no
    quantisation; with fused attention no scores are stored, as in the kernels)."""

    def g(name):
        return np.asarray(t[name], dtype=np.float64)

    z = sizes
    dh = z.head_dim
    if z.token_input:
        out = {"x0": g("tok") + g("pos")}
    else:
        x0 = g("patches") @ g("patch_embed.w") + g("patch_embed.b") + g("pos")[z.special :]
        out = {"x0": np.concatenate([g("cls"), x0]) if z.special else x0}
    if z.embed_layernorm:
        out["emb"] = out["x0"]
        out["x0"] = layernorm(out["emb"], g("emb_ln.g"), g("emb_ln.bt"))
    for L in range(z.layers):
        p, x = f"l{L}", out[f"x{L}"]
        ln1 = layernorm(x, g(f"{p}.ln1.g"), g(f"{p}.ln1.bt"))
        out[f"{p}.ln1"] = ln1
        for m in "qkv":
            out[f"{p}.{m}"] = ln1 @ g(f"{p}.{m}.w") + g(f"{p}.{m}.b")
        ctx = []
        for h in range(z.heads):
            cols = slice(h * dh, (h + 1) * dh)
            s = out[f"{p}.q"][:, cols] @ out[f"{p}.k"][:, cols].T / math.sqrt(dh)
            if not fuse_attention:
                out[f"{p}.s{h}"] = s
            out[f"{p}.p{h}"] = softmax(s)
            ctx.append(out[f"{p}.p{h}"] @ out[f"{p}.v"][:, cols])
        out[f"{p}.ctx"] = np.concatenate(ctx, axis=1)
        out[f"{p}.h"] = x + out[f"{p}.ctx"] @ g(f"{p}.o.w") + g(f"{p}.o.b")
        out[f"{p}.ln2"] = layernorm(out[f"{p}.h"], g(f"{p}.ln2.g"), g(f"{p}.ln2.bt"))
        out[f"{p}.f1"] = gelu_tanh(out[f"{p}.ln2"] @ g(f"{p}.fc1.w") + g(f"{p}.fc1.b"))
        out[f"x{L + 1}"] = out[f"{p}.h"] + out[f"{p}.f1"] @ g(f"{p}.fc2.w") + g(f"{p}.fc2.b")
    last = out[f"x{z.layers}"]
    if z.final_layernorm:
        last = out["post"] = layernorm(last, g("post.g"), g("post.bt"))
    head = out[z.head_input]
    if z.classes:
        out["logits"] = head[: z.class_heads] @ g("classifier.w") + g("classifier.b")
    if z.pool_heads:
        pdh = z.hidden // z.pool_heads
        q = g("pool.probe") @ g("pool.q.w") + g("pool.q.b")
        k = head @ g("pool.k.w") + g("pool.k.b")
        v = head @ g("pool.v.w") + g("pool.v.b")
        out.update({"pool.q": q, "pool.k": k, "pool.v": v})
        ctx = []
        for h in range(z.pool_heads):
            cols = slice(h * pdh, (h + 1) * pdh)
            out[f"pool.s{h}"] = q[:, cols] @ k[:, cols].T / math.sqrt(pdh)
            out[f"pool.p{h}"] = softmax(out[f"pool.s{h}"])
            ctx.append(out[f"pool.p{h}"] @ v[:, cols])
        out["pool.ctx"] = np.concatenate(ctx, axis=1)
        out["pool.o"] = out["pool.ctx"] @ g("pool.o.w") + g("pool.o.b")
        out["pool.ln"] = layernorm(out["pool.o"], g("pool.ln.g"), g("pool.ln.bt"))
        out["pool.f1"] = gelu_tanh(out["pool.ln"] @ g("pool.fc1.w") + g("pool.fc1.b"))
        out["pool.out"] = out["pool.o"] + out["pool.f1"] @ g("pool.fc2.w") + g("pool.fc2.b")
    if z.scale:
        out["shuf"] = pixel_shuffle(last, z.scale)
        out["out"] = out["shuf"] @ g("connector.w")
    return out


def calibrate(
    floats: Mapping[str, np.ndarray], precision: Mapping[str, str]
) -> dict[str, float]:
    """Static per-tensor scales (max |x| / Q of the float run, float32) of every INT8/INT4
    tensor in ``floats``; per-head tensors share one scale per layer (``l0.s``, ``l0.p``), the
    shuffled connector input has the scale of what it shuffles."""
    peaks: dict[str, tuple[float, str]] = {}
    for name, x in floats.items():
        prec = precision.get(name)
        if prec not in INT_MAX:
            continue
        key = scale_name(name)
        peak = float(np.max(np.abs(x))) if np.size(x) else 0.0
        peaks[key] = (max(peak, peaks.get(key, (0.0, prec))[0]), prec)
    scales = {
        k: float(np.float32(peak / INT_MAX[prec])) if peak > 0 else 1.0
        for k, (peak, prec) in peaks.items()
    }
    if "shuf" in scales:
        scales["shuf"] = scales["post"] if "post" in scales else scales["shuf"]
    first = "emb" if "emb" in scales else "x0"  # the class tokens are stored as its rows
    if "cls" in scales and first in scales:
        scales["cls"] = scales[first]
    return scales
