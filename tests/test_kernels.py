"""The exported kernels in C simulation: GEMM calls (runtime tiles, ragged edges, precisions,
epilogues, double and single buffering), the vector unit and the loop counters, through the
exported host.cpp built with -DDSE_CSIM, against numpy.

Each build runs one hand-written schedule.txt (the format of dse.hostsched) with many calls, so
one compile serves many checks (compiles are the cost: about 3 s each at -O1)."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dse.export import export_design
from tests.test_export import GXX, PLATFORM, _bf16, compile_csim, make_design

pytestmark = pytest.mark.skipif(GXX is None, reason="g++ is not installed")

FILL = PLATFORM["logic"]["pipeline_fill_cycles"]


def _quant(y, s, q):
    """Section 4.1 of the interface: clamp(rint(y / s)) in float32."""
    return np.clip(np.rint(np.float32(y) / np.float32(s)), -q, q).astype(np.float32)


QMAX = {"INT8": 127, "INT4": 7}


class Case:
    """Tensors, scales and schedule lines of one C-sim run."""

    def __init__(self, rng):
        self.rng = rng
        self.tensors: dict[str, tuple[np.ndarray, str, str]] = {}
        self.scales: dict[str, float] = {}
        self.lines: list[str] = []

    def tensor(self, name, rows, cols, prec, kind, values=None, scale=None):
        if values is None:
            if prec in QMAX:
                q = QMAX[prec]
                values = self.rng.integers(-q, q + 1, size=(rows, cols)).astype(np.float32)
            elif kind == "act":
                values = np.zeros((rows, cols), dtype=np.float32)
            else:
                values = self.rng.uniform(-2, 2, size=(rows, cols)).astype(np.float32)
                if prec == "BF16":
                    values = _bf16(values)
        self.tensors[name] = (np.asarray(values, dtype=np.float32), prec, kind)
        if prec in QMAX and kind != "param":
            self.scales[name] = float(np.float32(scale if scale else self.rng.uniform(0.01, 0.05)))

    def _line(self, kind, ops, kw, **defaults):
        """One schedule line: the call's identity, ``defaults``, ``kw``, then a scale for each
        operand in ``ops`` that has one."""
        base = dict(
            k=f"t{len(self.lines)}",
            step=len(self.lines),
            cu=0,
            image=0,
            layer=-1,
            head=-1,
            **defaults,
            ms=0.0,
        )
        base.update(kw)
        for op, key in ops:
            base.setdefault(key, base[op] if base[op] in self.scales else "-")
        self.lines.append(kind + " " + " ".join(f"{k}={v}" for k, v in base.items()))

    def gemm(self, **kw):
        ops = (("a", "sa"), ("b", "sb"), ("c", "sc"), ("res", "sres"))
        self._line(
            "gemm",
            ops,
            kw,
            bias="-",
            res="-",
            gelu=0,
            softmax=0,
            bsrc="weights",
            btrans=0,
            alpha=1.0,
            acol=0,
            bcol=0,
            ccol=0,
            rcol=0,
            ldr=0,
            bias0=0,
        )

    def vector(self, **kw):
        ops = (("a", "sa"), ("c", "sc"))
        self._line("vector", ops, kw, gamma="-", beta="-", row0=0, K=0, shuffle=0, eps=1e-6)

    def write(self, folder: Path):
        data = folder / "data"
        data.mkdir()
        lines = ["# dse-schedule-txt/1", "design test"]
        for name, (v, prec, kind) in self.tensors.items():
            scale = name if name in self.scales else "-"
            lines.append(
                f"tensor name={name} rows={v.shape[0]} cols={v.shape[1]} prec={prec} "
                f"kind={kind} scale={scale}"
            )
            if kind == "act":
                continue
            if kind == "param" or prec == "FP32":
                v.astype("<f4").tofile(data / f"{name}.bin")
            elif prec == "BF16":
                (v.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tofile(
                    data / f"{name}.bin"
                )
            else:
                v.astype(np.int8).tofile(data / f"{name}.bin")
        (folder / "schedule.txt").write_text("\n".join(lines + self.lines) + "\n")
        (data / "scales.txt").write_text("".join(f"{k} {v:.9g}\n" for k, v in self.scales.items()))

    def read(self, out: Path, name: str) -> np.ndarray:
        v, prec, _ = self.tensors[name]
        path = out / f"{name}.bin"
        if prec == "FP32":
            x = np.fromfile(path, dtype="<f4")
        elif prec == "BF16":
            x = (np.fromfile(path, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            x = np.fromfile(path, dtype=np.int8).astype(np.float32)
        return x.reshape(v.shape)

    def value(self, name):
        """The dequantised float32 value of an input tensor."""
        v, prec, _ = self.tensors[name]
        return v * np.float32(self.scales[name]) if prec in QMAX else v


def run(design, case: Case, tmp_path: Path, *, defines=()):
    folder = tmp_path / "hls"
    export_design(design, PLATFORM, folder)
    exe = folder / "host_csim"
    compile_csim(folder, exe, "-ffp-contract=off", *defines, "host.cpp", "kernel.cpp", "vector.cpp")
    case.write(folder)
    out = folder / "out"
    (out / "dump").mkdir(parents=True)
    result = subprocess.run(
        [str(exe), str(folder / "schedule.txt"), str(folder / "data"), str(out), "--dump"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    counters = [json.loads(x) for x in (out / "counters.jsonl").read_text().splitlines()]
    return out, counters


def _dump(out, i, shape, dtype):
    return np.fromfile(out / "dump" / f"{i}.{shape[0]}.bin", dtype=dtype).reshape(shape[1])


# engine: tiles 16 x 8 x 16, PE 4 x 2 x 8 (make_design); runtime tiles 8 x 4 (smaller, PE
# multiples); shapes ragged in every dimension (37 = 4*8 + 5 rows, 45 = 2*16 + 13, 29 = 7*4 + 1)
M, K, N = 37, 45, 29
TM, TN = 8, 4


def _integer_case(rng):
    c = Case(rng)
    tiles = dict(tm=TM, tn=TN, tk=16)
    for prec in ("INT8", "INT4"):
        c.tensor(f"a{prec}", M, K, prec, "input")
        c.tensor(f"w{prec}", K, N, prec, "weight")
        c.tensor(f"c{prec}", M, N, "INT8", "act")
        c.gemm(M=M, K=K, N=N, **tiles, pa=prec, pb=prec, pc="INT8", mode=prec,
               a=f"a{prec}", b=f"w{prec}", c=f"c{prec}", lda=K, ldb=N, ldc=N)  # fmt: skip
    # epilogue: bias + residual (bit-exact: the same float32 operations as numpy), and GELU
    int8 = dict(M=M, K=K, N=N, **tiles, pa="INT8", pb="INT8", pc="INT8", mode="INT8")
    weights = dict(a="aINT8", b="wINT8", lda=K, ldb=N, ldc=N, bias="bias")
    c.tensor("bias", 1, N, "FP32", "param")
    c.tensor("res", M, N, "INT8", "input")
    c.tensor("y", M, N, "INT8", "act", scale=0.5)
    c.gemm(**int8, **weights, c="y", res="res", ldr=N)
    c.tensor("g", M, N, "INT8", "act", scale=0.02)
    c.gemm(**int8, **weights, c="g", gelu=1)
    # attention-like: B an activation read transposed from the input ports, head columns
    c.tensor("q", M, 16, "INT8", "input")
    c.tensor("k", 23, 16, "INT8", "input")
    c.tensor("s", M, 23, "INT8", "act", scale=0.3)
    c.gemm(**{**int8, "K": 6, "N": 23}, a="q", b="k", c="s", lda=16, ldb=16, ldc=23, acol=5,
           bcol=5, bsrc="inputs", btrans=1, alpha=0.5)  # fmt: skip
    return c


def _check_integer(c: Case, out, counters):
    for i, prec in enumerate(("INT8", "INT4")):
        a, _, _ = c.tensors[f"a{prec}"]
        w, _, _ = c.tensors[f"w{prec}"]
        da = _dump(out, i, ("a", (M, K)), np.int8)
        db = _dump(out, i, ("b", (K, N)), np.int8)
        acc = _dump(out, i, ("acc", (M, N)), "<i4")
        # the kernel multiplied exactly the stored operands, and int32 accumulation is exact
        # (|sum| <= 45 * 127 * 127 < 2^31), so the accumulators equal numpy's integer product
        np.testing.assert_array_equal(da, a)
        np.testing.assert_array_equal(db, w)
        np.testing.assert_array_equal(acc, a.astype(np.int64) @ w.astype(np.int64))
        deq = np.float32(c.scales[f"a{prec}"]) * np.float32(c.scales[f"w{prec}"])
        y = (acc.astype(np.float32) * deq).astype(np.float32)
        np.testing.assert_array_equal(c.read(out, f"c{prec}"), _quant(y, c.scales[f"c{prec}"], 127))
    acc = c.tensors["aINT8"][0].astype(np.int64) @ c.tensors["wINT8"][0].astype(np.int64)
    deq = np.float32(c.scales["aINT8"]) * np.float32(c.scales["wINT8"])
    y = acc.astype(np.float32) * deq + c.tensors["bias"][0]
    y = y + c.tensors["res"][0] * np.float32(c.scales["res"])
    # float32 operations in the same order as the kernel's epilogue: bit-exact
    np.testing.assert_array_equal(c.read(out, "y"), _quant(y, 0.5, 127))
    y = acc.astype(np.float32) * deq + c.tensors["bias"][0]
    x = y.astype(np.float64)
    gel = 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))
    # tanhf vs float64 tanh differ by a few float32 ulp: a value at a rounding boundary may land
    # on the neighbouring integer, so within one quantisation step
    assert np.abs(c.read(out, "g") - _quant(gel, 0.02, 127)).max() <= 1
    q, k = c.tensors["q"][0][:, 5:11], c.tensors["k"][0][:, 5:11]
    acc = _dump(out, 4, ("acc", (M, 23)), "<i4")
    np.testing.assert_array_equal(acc, q.astype(np.int64) @ k.T.astype(np.int64))
    y = acc.astype(np.float32) * (
        np.float32(np.float32(c.scales["q"]) * np.float32(c.scales["k"])) * np.float32(0.5)
    )
    np.testing.assert_array_equal(c.read(out, "s"), _quant(y, 0.3, 127))
    # loop counters: the model's compute cycles (dse/model.py Model._gemm: each tile's PE loop
    # runs its real extent rounded up to the PE factors 4 x 2 x 8, so ceil(M/4) ceil(N/2)
    # ceil(K/8) steps, + pipeline_fill_cycles per tile, tiles = ceil on every dimension):
    # 37 x 29 x 45 on 8 x 4 x 16 tiles -> 5 x 8 x 3 = 120 tiles, 10 x 15 x 6 = 900 steps (a
    # kernel padding every tile to 8 x 4 x 16 ran 120 x 2 x 2 x 2 = 960)
    gemms = [x for x in counters if x["kind"] == "gemm" and x["kernel"][0] == "t"]
    assert len(gemms) == 5
    for x in gemms:
        tiles = math.ceil(x["M"] / TM) * math.ceil(x["N"] / TN) * math.ceil(x["K"] / 16)
        assert x["tiles"] == tiles
        assert x["iterations"] == math.ceil(x["M"] / 4) * math.ceil(x["N"] / 2) * math.ceil(
            x["K"] / 8
        )
        assert x["cycles"] == x["iterations"] + tiles * FILL == x["model_cycles"]
    assert gemms[0]["tiles"] == 120 and gemms[0]["iterations"] == 900


@pytest.fixture(scope="module")
def integer_runs(tmp_path_factory):
    """The same calls on a double-buffered mnk engine and a single-buffered kmn one (partial
    sums spill: k outside iterating m and n loops); each run also holds INT8 vector-unit calls,
    and the kmn engine (built with fuse_attention) a fused attention head."""
    runs = {}
    for name, kw in {
        "double_mnk": dict(double_buffer=True, dataflow="mnk", vector_lanes=8),
        "single_kmn": dict(
            double_buffer=False, dataflow="kmn", pc_inputs=2, vector_lanes=8, fuse_attention=True
        ),
    }.items():
        case = _integer_case(np.random.default_rng(5))
        _vector_calls(case, "INT8")
        if kw.get("fuse_attention"):
            _fused_calls(case)
        # the mnk build holds rows of at most 96 elements: the pixel shuffle's 4 x 24 fits, and
        # the other vector ops' rows (24) may not be charged the shuffle's r^2
        defines = ["-DDSE_VEC_ROW_MAX=96"] if name == "double_mnk" else []
        out, counters = run(make_design(**kw), case, tmp_path_factory.mktemp(name), defines=defines)
        runs[name] = (case, out, counters)
    return runs


@pytest.mark.parametrize("engine", ["double_mnk", "single_kmn"])
def test_integer_gemm_calls_match_numpy(integer_runs, engine):
    _check_integer(*integer_runs[engine])


def test_double_and_single_buffering_agree(integer_runs):
    (c1, o1, k1), (c2, o2, k2) = integer_runs["double_mnk"], integer_runs["single_kmn"]
    for name in ("cINT8", "cINT4", "y", "g", "s"):
        np.testing.assert_array_equal(c1.read(o1, name), c2.read(o2, name))
    # the same cycles per call: buffering changes the overlap, not the compute loop
    common = [x["kernel"] for x in k1]
    assert [x["cycles"] for x in k1] == [x["cycles"] for x in k2 if x["kernel"] in common]


# ---- fused attention: scores, softmax and context of one head with P on chip --------------------

S, DH = 19, 6  # tokens (ragged against the 8-row runtime tile), head dim; head 1 of 2


ALPHA = float(np.float32(1 / math.sqrt(DH)))


def _fused_calls(c: Case):
    """Scores (softmax fused, P on chip) and context of head 1 of a 2-head layer."""
    for name in "qkv":
        c.tensor("f" + name, S, 2 * DH, "INT8", "input", scale=0.05)
    c.scales["l0.p"] = float(np.float32(1 / 127))
    c.tensor("ctx", S, 2 * DH, "INT8", "act", scale=0.01)
    common = dict(tm=TM, tn=TN, tk=16, pa="INT8", pb="INT8", pc="INT8", mode="INT8", layer=0)
    common.update(head=1, bsrc="inputs")
    c.gemm(k="fscores", M=S, K=DH, N=S, a="fq", b="fk", c="@chip", sc="l0.p", lda=2 * DH,
           ldb=2 * DH, ldc=S, acol=DH, bcol=DH, btrans=1, softmax=1, alpha=ALPHA,
           **common)  # fmt: skip
    c.gemm(k="fcontext", M=S, K=S, N=DH, a="@chip", sa="l0.p", b="fv", c="ctx", lda=S,
           ldb=2 * DH, ldc=2 * DH, bcol=DH, ccol=DH, **common)  # fmt: skip


def test_fused_attention_matches_numpy(integer_runs):
    c, out, counters = integer_runs["single_kmn"]
    counters = [x for x in counters if x["kernel"] in ("fscores", "fcontext")]
    alpha = ALPHA
    q, k, v = (c.tensors["f" + x][0][:, DH:] for x in "qkv")
    first = counters[0]["call"]  # dump number of the score call; the context call is next
    acc = _dump(out, first, ("acc", (S, S)), "<i4")
    np.testing.assert_array_equal(acc, q.astype(np.int64) @ k.T.astype(np.int64))
    deq = np.float32(np.float32(0.05) * np.float32(0.05)) * np.float32(alpha)
    y = acc.astype(np.float32) * deq
    e = np.exp(y.astype(np.float64) - y.max(axis=1, keepdims=True))
    p_ref = _quant(e / e.sum(axis=1, keepdims=True), 1 / 127, 127)
    p = _dump(out, first + 1, ("a", (S, S)), np.int8).astype(np.float32)
    # expf vs float64 exp: a probability at a rounding boundary may take the neighbouring code
    assert np.abs(p - p_ref).max() <= 1
    acc2 = _dump(out, first + 1, ("acc", (S, DH)), "<i4")
    np.testing.assert_array_equal(acc2, p.astype(np.int64) @ v.astype(np.int64))
    ctx = c.read(out, "ctx")
    y2 = acc2.astype(np.float32) * (np.float32(1 / 127) * np.float32(0.05))
    np.testing.assert_array_equal(ctx[:, DH:], _quant(y2, 0.01, 127))
    np.testing.assert_array_equal(ctx[:, :DH], 0)  # head 0's columns untouched
    # counters: the score call 3 x 5 x 1 tiles, the context call 3 x 2 x 2, as the model charges;
    # the PE loop runs each tile's extent rounded up to the PE factors 4 x 2 x 8, also in the
    # host's row blocks (8, 8, then 3 rows -> 4): scores 19 x 6 x 19 -> ceil(19/4) ceil(19/2)
    # ceil(6/8) = 5 x 10 x 1 = 50 steps, context 19 x 19 x 6 -> 5 x 3 x 3 = 45
    assert [x["tiles"] for x in counters] == [15, 12]
    assert [x["iterations"] for x in counters] == [50, 45]
    for x in counters:
        assert x["cycles"] == x["model_cycles"] == x["iterations"] + x["tiles"] * FILL


# ---- vector unit ---------------------------------------------------------------------------------

R, W = 16, 24  # rows (a 4 x 4 patch grid for the pixel shuffle), columns


def _vector_calls(c: Case, prec: str):
    """LayerNorm, softmax, GELU, residual add and pixel shuffle of one [16, 24] tensor."""
    c.tensor("x", R, W, prec, "input", scale=0.03)
    c.tensor("r", R, W, prec, "input", scale=0.02)
    c.tensor("gam", 1, W, "FP32", "param")
    c.tensor("bet", 1, W, "FP32", "param")
    for name, scale in (("ln", 0.03), ("sm", 1 / 127), ("ge", 0.02), ("add", 0.04), ("sh", 0)):
        shape = (R // 4, W * 4) if name == "sh" else (R, W)
        c.tensor(name, *shape, prec, "act", scale=scale)
    c.scales["sh"] = c.scales.get("x", 1.0)
    vec = dict(M=R, N=W, pa=prec, pc=prec, a="x", lda=W, ldc=W)
    c.vector(k="vln", op="layernorm", c="ln", gamma="gam", beta="bet", **vec)
    c.vector(k="vsm", op="softmax", c="sm", **{**vec, "shuffle": 3})
    c.vector(k="vge", op="gelu", c="ge", **vec)
    c.lines.append(
        "vector k=vres step=9 cu=0 image=0 layer=-1 head=-1 op=residual "
        + f"M={R} N={W} row0=0 K=0 shuffle=0 pa={prec} pc={prec} a=x c=add r=r lda={W} ldc={W} "
        + f"ldr={W} sr={'r' if prec in QMAX else '-'} "
        + f"gamma=- beta=- eps=1e-06 sa={'x' if prec in QMAX else '-'} "
        + f"sc={'add' if prec in QMAX else '-'} ms=0"
    )
    # grid side 4, scale 2: [16, W] -> [4, 4 W]
    c.vector(k="vsh", op="pixel_shuffle", c="sh", K=4, shuffle=2, sc="sh" if prec in QMAX else "-",
             **{**vec, "ldc": 4 * W})  # fmt: skip


def _vector_reference(c: Case):
    x = c.value("x").astype(np.float64)
    g, bt = c.tensors["gam"][0][0], c.tensors["bet"][0][0]
    mu = x.mean(axis=1, keepdims=True)
    ln = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + 1e-6) * g + bt
    e = np.exp(x - x.max(axis=1, keepdims=True))
    sm = e / e.sum(axis=1, keepdims=True)
    ge = 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))
    add = x + c.value("r")
    # SmolVLM pixel shuffle, the torch view/permute sequence written out in numpy
    r = 2
    grid = c.tensors["x"][0].reshape(4, 4, W)
    sh = grid.reshape(4, 2, W * r).transpose(1, 0, 2).reshape(2, 2, W * r * r)
    sh = sh.transpose(1, 0, 2).reshape(4, W * r * r)
    return {"ln": ln, "sm": sm, "ge": ge, "add": add, "sh": sh}


@pytest.fixture(scope="module")
def fp32_run(tmp_path_factory):
    c = Case(np.random.default_rng(3))
    _vector_calls(c, "FP32")
    design = make_design(weight_precision="FP32", act_precision="FP32", vector_lanes=8)
    return (c, *run(design, c, tmp_path_factory.mktemp("fp32")))


@pytest.mark.parametrize("prec", ["INT8", "FP32"])
def test_vector_unit_matches_numpy(integer_runs, fp32_run, prec):
    c, out, counters = integer_runs["double_mnk"] if prec == "INT8" else fp32_run
    ref = _vector_reference(c)
    # the pixel shuffle is a copy: exact
    np.testing.assert_array_equal(c.read(out, "sh"), ref["sh"])
    for name in ("ln", "sm", "ge", "add"):
        got = c.read(out, name)
        if prec == "INT8":
            # float32 arithmetic vs the float64 reference moves a value at a rounding boundary
            # to the neighbouring code: within one step (and the codes saturate at 127)
            want = _quant(ref[name], c.scales[name], 127)
            assert np.abs(got - want).max() <= 1, name
        else:
            # float32 sums of 24 terms and expf/tanhf/sqrtf: a few float32 ulp of the result's
            # scale; 1e-5 relative to the row's largest magnitude bounds them with a wide margin
            scale = np.abs(ref[name]).max(axis=1, keepdims=True)
            assert np.all(np.abs(got - ref[name]) <= 1e-5 * scale + 1e-30), name
    # lane-loop counters: 24 columns on 8 lanes = 3 steps per pass; LayerNorm 5 passes (load,
    # sum, sum of centred squares, normalise, store) per row, softmax 6 (load, max, exp, sum,
    # divide, store), GELU 3 (load, gelu, store), residual 4 (two loads, add, store), shuffle 3
    # per input row
    steps = {x["kernel"]: x["iterations"] for x in counters}
    assert steps["vln"] == R * 5 * 3
    assert steps["vsm"] == R * 6 * 3
    assert steps["vge"] == R * 3 * 3
    assert steps["vres"] == R * 4 * 3
    assert steps["vsh"] == R * 3
