"""The numpy reference of a SigLIP layer and the connector (dse.reference), checked against an
independent float64 computation written differently and against hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dse import reference as ref


def _independent_layer(x, w, heads):
    """The same layer written another way: all heads at once with einsum, variance with np.var,
    softmax without the max shift, GELU through the identity 0.5 (1 + tanh z) = sigmoid(2 z)."""
    s, d = x.shape
    dh = d // heads

    def ln(t, g, b):
        return (t - t.mean(-1, keepdims=True)) / np.sqrt(t.var(-1, keepdims=True) + 1e-6) * g + b

    t = ln(x, w.ln1_g, w.ln1_b)
    q = np.einsum("sd,de->se", t, w.wq) + w.bq
    k = np.einsum("sd,de->se", t, w.wk) + w.bk
    v = np.einsum("sd,de->se", t, w.wv) + w.bv
    qh, kh, vh = (m.reshape(s, heads, dh) for m in (q, k, v))
    e = np.exp(np.einsum("qhd,khd->hqk", qh, kh) * dh**-0.5)
    p = e / e.sum(-1, keepdims=True)
    ctx = np.einsum("hqk,khd->qhd", p, vh).reshape(s, d)
    h = x + np.einsum("sd,de->se", ctx, w.wo) + w.bo
    u = np.einsum("sd,df->sf", ln(h, w.ln2_g, w.ln2_b), w.w1) + w.b1
    z = math.sqrt(2 / math.pi) * (u + 0.044715 * u**3)
    g = u / (1 + np.exp(-2 * z))
    return h + np.einsum("sf,fd->sd", g, w.w2) + w.b2


def _weights64(w):
    return type(w)(**{k: np.asarray(v, np.float64) for k, v in w.__dict__.items()})


def test_layer_matches_an_independent_float64_computation():
    rng = np.random.default_rng(1)
    w = _weights64(ref.random_layer(rng, 64, 256))
    x = rng.standard_normal((49, 64))
    got = ref.encoder_layer(x, w, heads=4)
    want = _independent_layer(x, w, heads=4)
    # both are float64 evaluations of the same formula: they differ by rounding only (~1e-15)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_attention_with_zero_queries_averages_the_values():
    # Hand value: with W_q = 0 and b_q = 0 every score is 0, softmax is uniform (1/s), so each
    # head's context is the mean of its V rows, the same for every token.
    rng = np.random.default_rng(2)
    w = _weights64(ref.random_layer(rng, 8, 16))
    w = type(w)(**{**w.__dict__, "wq": np.zeros((8, 8)), "bq": np.zeros(8)})
    x = rng.standard_normal((2, 8))  # two tokens
    traced = {}
    ref.encoder_layer(x, w, heads=2, trace=lambda name, t: traced.setdefault(name, t))
    v = traced["v"]
    np.testing.assert_allclose(traced["context"], np.tile(v.mean(0), (2, 1)), atol=1e-15)


def test_layernorm_and_gelu_hand_values():
    # LN of [1, 3]: mean 2, variance 1 -> [-1, 1] / sqrt(1 + 1e-6)
    got = ref.layernorm(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2))
    np.testing.assert_allclose(got, [[-1 / math.sqrt(1 + 1e-6), 1 / math.sqrt(1 + 1e-6)]])
    # GELU(0) = 0; GELU(1) = 0.5 (1 + tanh(0.79788456 * 1.044715)) = 0.841192 (tanh form)
    np.testing.assert_allclose(ref.gelu_tanh(np.array([0.0, 1.0])), [0.0, 0.8411920], atol=1e-6)


def _torch_style_shuffle(x, r):
    """SmolVLM's pixel_shuffle as its sequence of views and permutes (batch of one)."""
    s, e = x.shape
    side = int(s**0.5)
    t = x.reshape(side, side, e)
    t = t.reshape(side, side // r, e * r)
    t = t.transpose(1, 0, 2)
    t = t.reshape(side // r, side // r, e * r * r)
    t = t.transpose(1, 0, 2)
    return t.reshape(s // (r * r), e * r * r)


def test_pixel_shuffle_hand_values_and_view_sequence():
    # 4 x 4 grid of one-channel tokens numbered row-major, scale 2: output token (0, 0) holds
    # tokens (0,0), (0,1), (1,0), (1,1) = 0, 1, 4, 5; token (0, 1) holds 2, 3, 6, 7.
    x = np.arange(16.0).reshape(16, 1)
    got = ref.pixel_shuffle(x, 2)
    assert got.tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    y = np.random.default_rng(3).standard_normal((64, 5))
    np.testing.assert_array_equal(ref.pixel_shuffle(y, 4), _torch_style_shuffle(y, 4))
    np.testing.assert_array_equal(ref.pixel_shuffle(y, 2), _torch_style_shuffle(y, 2))


def test_connector_is_layernorm_shuffle_projection():
    rng = np.random.default_rng(4)
    cw = ref.random_connector(rng, 6, 2, 5, bias=True)
    x = rng.standard_normal((16, 6))
    h = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-6)
    h = h * cw.ln_g + cw.ln_b
    want = _torch_style_shuffle(h, 2) @ cw.w.astype(np.float64) + cw.b
    np.testing.assert_allclose(ref.connector(x, cw, 2), want, atol=1e-12)


def test_bf16_rounds_to_nearest_even():
    # bf16 keeps 7 fraction bits: the spacing at 1 is 2^-7. 1 + 2^-8 is a tie -> 1 (even);
    # 1 + 3 * 2^-8 is a tie between 1 + 2^-7 (odd) and 1 + 2^-6 (even) -> 1 + 2^-6;
    # 1 + 2^-8 + 2^-20 is above the tie -> 1 + 2^-7.
    x = np.array([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, -2.0], dtype=np.float32)
    assert ref.bf16(x).tolist() == [1.0, 1 + 2**-6, 1 + 2**-7, -2.0]
    assert np.isnan(ref.bf16(np.array([np.nan], np.float32))[0])


def test_symmetric_integer_quantisation():
    # INT8: max |x| = 1 -> scale 1/127; 0.5 / (1/127) = 63.5 rounds to the even code 64
    x = np.array([-1.0, 0.5, 1.0, 0.0])
    scale = ref.int_scale(x, "INT8")
    assert scale == pytest.approx(1 / 127)
    assert ref.quantise(x, "INT8", scale).tolist() == [-127, 64, 127, 0]
    # INT4: codes in [-7, 7]; max 1.75 -> scale 0.25 (exact in float32), 0.625 / 0.25 = 2.5 -> 2
    y = np.array([-1.75, 0.625, 1.75, 0.0])
    assert ref.int_scale(y, "INT4") == 0.25
    assert ref.quantise(y, "INT4", 0.25).tolist() == [-7, 2, 7, 0]
    # a product whose sum exceeds 2^53 is still exact (integer path)
    a = np.full((1, 4), 2**26, dtype=np.int64)
    assert ref.int_matmul(a, a.T)[0, 0] == 4 * 2**52


def test_float32_matmul_adds_in_ascending_k():
    # 1e8 + 1 rounds back to 1e8 in float32 (spacing 8 there), then - 1e8 gives 0; the exact
    # sum is 1. The kernel adds in ascending k, and so must the emulation.
    a = np.array([[1e8, 1.0, -1e8]], dtype=np.float32)
    b = np.ones((3, 1), dtype=np.float32)
    assert ref.float32_matmul(a, b)[0, 0] == 0.0
    assert ref.float32_matmul(a[:, ::-1].copy(), b)[0, 0] == 0.0  # -1e8 + 1 = -1e8 too
    assert ref.float32_matmul(a[:, [0, 2, 1]].copy(), b)[0, 0] == 1.0


def test_interface_quantisation_and_bf16_bits():
    # interface 4.1: q = clip(rint(float32(y) / float32(s)), -Q, Q), int8
    q = ref.quantise(np.array([0.5, -300.0, 1.5]), "INT8", 1.0)
    assert q.dtype == np.int8 and q.tolist() == [0, -127, 2]  # ties to even, clipped
    assert ref.bf16_bits(np.array([1.0, -2.0], np.float32)).tolist() == [0x3F80, 0xC000]
    raw = ref.encode(np.array([0.3, -0.7], np.float32), "BF16", 1.0)
    assert ref.decode(raw, "BF16", 1.0).tolist() == ref.bf16(np.array([0.3, -0.7])).tolist()
    assert ref.scale_name("l0.s11") == "l0.s" and ref.scale_name("l0.p0") == "l0.p"
    assert ref.scale_name("l0.q") == "l0.q" and ref.scale_name("shuf") == "shuf"


def _emulate(prec, act, integer, fuse=False, seed=6):
    from dse.csim import make_floats

    z = ref.Sizes(tokens=64, hidden=64, heads=2, mlp=256, layers=1, patch_k=48, scale=4, out=40)
    floats = make_floats(z, seed)
    classes = {c: prec for c in ("embed", "proj", "attention", "mlp")}
    precision = ref.tensor_precisions(z, classes, act)
    exact = ref.exact_run(floats, z, fuse_attention=fuse)
    scales = ref.calibrate({**floats, **exact}, precision)
    stored = {
        k: ref.encode(v, precision[k], scales.get(ref.scale_name(k), 1.0))
        for k, v in floats.items()
    }
    emu = ref.Emulation(z, precision, scales, integer_engine=integer, fuse_attention=fuse)
    return emu, emu.run(stored), exact


@pytest.mark.parametrize(
    "prec, act, integer, fuse, rtol",
    [
        # FP32 everywhere: float32 instead of float64 arithmetic, ~1e-7 relative (measured 1e-7)
        ("FP32", "FP32", False, False, 1e-6),
        # BF16: a bf16 step is 2^-8..2^-7 of a value, errors average over the sums
        ("BF16", "BF16", False, True, 2e-2),
        # INT8 with static scales: a step of max/127 per tensor (measured ~1e-2)
        ("INT8", "INT8", True, False, 4e-2),
        ("INT8", "INT8", True, True, 4e-2),
    ],
)
def test_emulation_stays_near_the_float64_reference(prec, act, integer, fuse, rtol):
    emu, free, exact = _emulate(prec, act, integer, fuse)
    for name in ("x1", "out"):
        got = emu.value(name, free[name]).astype(np.float64)
        rms = np.sqrt(np.mean((got - exact[name]) ** 2) / np.mean(exact[name] ** 2))
        assert rms < rtol, (name, rms)
    assert ("l0.s0" in free) != fuse  # fused attention stores no scores


def test_int4_is_coarser_than_int8():
    # the same layer at INT4 (codes in [-7, 7]) is much further from float64 than at INT8
    errs = {}
    for prec in ("INT8", "INT4"):
        emu, free, exact = _emulate(prec, prec, True)
        got = emu.value("out", free["out"]).astype(np.float64)
        errs[prec] = np.sqrt(np.mean((got - exact["out"]) ** 2) / np.mean(exact["out"] ** 2))
    assert errs["INT4"] > 4 * errs["INT8"]
