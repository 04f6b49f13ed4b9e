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
    # INT4: codes in [-7, 7]; 0.5 * 7 = 3.5 -> 4 (even)
    assert ref.quantise(x, "INT4", ref.int_scale(x, "INT4")).tolist() == [-7, 4, 7, 0]
    # a product whose sum exceeds 2^53 is still exact (integer path)
    a = np.full((1, 4), 2**26, dtype=np.int64)
    assert ref.int_matmul(a, a.T)[0, 0] == 4 * 2**52


@pytest.mark.parametrize(
    "prec, rtol",
    [
        # FP32 operands: float32 rounding of activations only (~1e-7 relative per value;
        # measured 8e-8)
        ("FP32", 1e-6),
        # BF16: 8-bit significand, relative step 2^-8 = 4e-3 per operand, errors average out
        # over K (measured 2e-3)
        ("BF16", 1e-2),
        # INT8 per-tensor: step max/127 per operand, the step of a heavy-tailed tensor is large
        # against its RMS (measured 1.4e-2)
        ("INT8", 3e-2),
    ],
)
def test_quantised_layer_stays_near_float64(prec, rtol):
    rng = np.random.default_rng(5)
    w = ref.random_layer(rng, 64, 256)
    x = rng.standard_normal((64, 64)).astype(np.float32)
    exact = ref.encoder_layer(x, w, heads=2)
    num = ref.Quantised({c: prec for c in ("proj", "attention", "mlp", "embed")}, act="FP32")
    got = ref.encoder_layer(x, w, heads=2, num=num)
    rms = np.sqrt(np.mean((got - exact) ** 2)) / np.sqrt(np.mean(exact**2))
    assert rms < rtol
    assert got.dtype == np.float32
