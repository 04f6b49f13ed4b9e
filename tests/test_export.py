"""HLS export: the generated C++ computes the right GEMM, the Vitis configs match the allocation."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dse import cli
from dse.allocation import channel_allocation, cu_slrs
from dse.errors import UserError
from dse.export import export_design, port_names
from dse.params import BY_NAME, PARAM_NAMES, UNIFORM_DEFAULTS
from dse.store import write_table

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = yaml.safe_load((ROOT / "configs/platforms/u280.yaml").read_text())
GXX = shutil.which("g++")


def make_design(**changes):
    """The brief's example design: tile 16x8x16, PE 4x2x8, 2 weight / 1 input / 2 output ports."""
    design = {
        "design_id": "d_example",
        "weight_precision": "INT8",
        "act_precision": "INT8",
        "pe_m": 4,
        "pe_n": 2,
        "pe_k": 8,
        "tile_m": 16,
        "tile_n": 8,
        "tile_k": 16,
        "dataflow": "mnk",
        "pc_weights": 2,
        "pc_inputs": 1,
        "pc_outputs": 2,
        "share_weights": False,
        "compute_units": 3,
        "double_pump": False,
        "buffer_storage": "bram",
        "double_buffer": True,
        "fuse_attention": False,
        "vector_lanes": 16,
        "clock_mhz": 300,
        **UNIFORM_DEFAULTS,  # one precision and one runtime tile for every kernel class
        "latency_ms": 12.5,
        "images_per_s": 80.0,
        "utilization": 0.61,
        "dsp": 2048,
        "bram18": 900,
        "uram": 64,
        "lut": 300000,
        "bound": "compute",
        "feasible": True,
    }
    design.update(changes)
    return design


# ---- C simulation against numpy -----------------------------------------------------------------

# Host program: packs A (row m on input port m % PORTS_INPUTS) and B (row k on weight port
# k % PORTS_WEIGHTS); every other element of a port holds junk (3), and output ports start as
# junk (77), so reading or writing the wrong port shows up in the result (row m of C is expected
# on output port dse::out_port(m)). Every arena has 64 spare elements: the kernel reads whole
# 512-bit words.
# It prints the raw accumulators (the C-sim dump) and then what the output ports hold: with
# s_c = 1e7 every integer result quantises to 0; float engines store the result (FP32 as is,
# BF16 rounded).
HOST = r"""
#include "dse_config.h"

#include <iomanip>
#include <iostream>
#include <vector>

using dse::acc_t;
using dse::act_t;
using dse::weight_t;
extern "C" void dse_gemm(DSE_TOP_PARAMS);

int main() {
  using namespace dse;
  int M, K, N;
  std::cout << std::setprecision(17);
  while (std::cin >> M >> K >> N) {
    std::vector<std::vector<act_t>> a(PORTS_INPUTS, std::vector<act_t>(M * K + 64, act_t(3.0f)));
    std::vector<std::vector<weight_t>> w(PORTS_WEIGHTS,
                                         std::vector<weight_t>(K * N + 64, weight_t(3.0f)));
    std::vector<std::vector<act_t>> c(PORTS_OUTPUTS,
                                      std::vector<act_t>(M * N + 64, act_t(77.0f)));
    std::vector<acc_t> acc(M * N), ps(M * N);
    double v;
    for (int m = 0; m < M; ++m)
      for (int k = 0; k < K; ++k) {
        std::cin >> v;
        a[m % PORTS_INPUTS][m * K + k] = static_cast<act_t>(static_cast<float>(v));
      }
    for (int k = 0; k < K; ++k)
      for (int n = 0; n < N; ++n) {
        std::cin >> v;
        w[k % PORTS_WEIGHTS][k * N + n] = static_cast<weight_t>(static_cast<float>(v));
      }
    const float prm[1] = {0.0f};
    const bool fp32 = std::is_same_v<act_t, float>;
    const int mode = std::is_integral_v<acc_t> ? P_INT8 : (fp32 ? P_FP32 : P_BF16);
    csim::dump_acc = acc.data();
    dse_gemm(@ARGS@, prm, ps.data(), OP_GEMM, M, K, N, TILE_M, TILE_N, 0, 0, 0, 0, 0, 0, 0,
             K, N, N, 0, 0, 0, 1.0f, 1.0f, 1.0f, 1e7f, 0.0f, mode, mode, mode);
    for (int i = 0; i < M * N; ++i) std::cout << static_cast<double>(acc[i]) << "\n";
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n)
        std::cout << as_float(c[out_port(m)][m * N + n]) << "\n";
  }
  return 0;
}
"""

# Shapes that do not divide the 16x8x16 tiles (edge tiles in every dimension), one that fits in a
# single partial tile, and one made of whole tiles; run in one process so tile buffers are reused.
SHAPES = [(37, 45, 29), (5, 3, 7), (32, 32, 16)]


def _build(design, tmp_path: Path) -> Path:
    """Export ``design``, compile kernel + vector unit + this test's host with g++ (C-sim)."""
    if GXX is None:
        pytest.skip("g++ is not installed")
    out = tmp_path / "hls"
    export_design(design, PLATFORM, out)
    names = port_names(design)
    ports = [*names["weights"], *names["inputs"], *names["outputs"]]
    # host vectors are w, a, c; the ports take 512-bit words
    args = ", ".join(
        f"reinterpret_cast<{'word_t' if p[0] == 'c' else 'const word_t'}*>({p[0]}[{p[1:]}].data())"
        for p in ports
    )
    (out / "test_host.cpp").write_text(HOST.replace("@ARGS@", args))
    exe = out / "gemm_csim"
    # AddressSanitizer turns any read or write past a port's matrix into a failure.
    compile_csim(out, exe, "-fsanitize=address", "kernel.cpp", "vector.cpp", "test_host.cpp")
    return exe


def hls_include() -> str:
    """Xilinx's HLS type headers (dse.hls_headers: $DSE_HLS_INCLUDE or hls4ml's wheel, fetched
    once into the cache)."""
    from dse.hls_headers import include_dir

    return str(include_dir())


def compile_csim(folder: Path, exe: Path, *args: str) -> None:
    """Build ``exe`` in ``folder`` with g++ against the HLS type headers as a C simulation
    (``-DDSE_CSIM``, warnings are errors; dse.csim.VENDOR_WARNINGS off: loop labels and HLS
    pragmas are for Vitis, and g++ misreads ap_private's copy constructor as uninitialised);
    ``args``: further flags and the sources.

    As dse.csim.build does: the sources compile side by side, each with the precompiled headers
    ``dse_config.h`` opens with (dse.csim.precompile, once per set of flags in this session's
    cache; the same code as without, tests/test_csim.py), then link."""
    from dse.csim import VENDOR_WARNINGS, _opens_with_config, precompile, prelude_includes

    flags = ["-std=c++17", "-O1", "-Wall", "-Werror", *VENDOR_WARNINGS]
    flags += ["-isystem", hls_include(), "-DDSE_CSIM", *(a for a in args if a.startswith("-"))]
    sources = [a for a in args if not a.startswith("-")]
    includes = prelude_includes((folder / "dse_config.h").read_text())
    prelude = precompile(GXX, flags, _pch_cache(), includes) if includes else None
    procs = []
    for src in sources:
        cmd = [GXX, *flags]
        if prelude is not None and _opens_with_config((folder / src).read_text()):
            cmd += ["-include", str(prelude)]
        cmd += ["-c", src, "-o", f"{src}.o"]
        procs.append(subprocess.Popen(cmd, cwd=folder, stderr=subprocess.PIPE, text=True))
    for src, proc in zip(sources, procs, strict=True):
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{src}: {err}"
    objects = [f"{src}.o" for src in sources]
    result = subprocess.run([GXX, *flags, *objects, "-o", str(exe)], cwd=folder,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr


_PCH: list[Path] = []


def _pch_cache() -> Path:
    """A folder for this test session's precompiled headers (removed at exit)."""
    if not _PCH:
        import atexit
        import tempfile

        _PCH.append(Path(tempfile.mkdtemp(prefix="dse-test-pch-")))
        atexit.register(shutil.rmtree, _PCH[0], True)
    return _PCH[0]


def _bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (nearest, ties to even), returned as float32: the reference."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def _operands(precision: str, shape, rng) -> np.ndarray:
    if precision == "INT8":
        return rng.integers(-128, 128, size=shape).astype(np.float64)
    if precision == "INT4":
        return rng.integers(-8, 8, size=shape).astype(np.float64)
    return rng.uniform(-2.0, 2.0, size=shape).astype(np.float32).astype(np.float64)


def _as_stored(precision: str, x: np.ndarray) -> np.ndarray:
    """The value the kernel sees after the host converts x to the element type."""
    if precision == "BF16":
        return _bf16(x.astype(np.float32)).astype(np.float64)
    return x


def _run(exe: Path, design, rng):
    problems, text = [], []
    for m, k, n in SHAPES:
        a = _operands(design["act_precision"], (m, k), rng)
        b = _operands(design["weight_precision"], (k, n), rng)
        problems.append((a, b))
        text.append(f"{m} {k} {n}\n" + " ".join(f"{v:.9g}" for v in [*a.ravel(), *b.ravel()]))
    result = subprocess.run(
        [str(exe)],
        input="\n".join(text) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    values = np.array(result.stdout.split(), dtype=np.float64)
    outputs, start = [], 0
    for m, _, n in SHAPES:
        acc = values[start : start + m * n].reshape(m, n)
        stored = values[start + m * n : start + 2 * m * n].reshape(m, n)
        integer = {design["weight_precision"], design["act_precision"]} <= {"INT8", "INT4"}
        if integer:  # 1e7 quantises every |acc| < 2^31 / ... here < 1e6 to 0: no junk 77 left
            np.testing.assert_array_equal(stored, 0)
        elif design["act_precision"] == "FP32":  # act_t is float: the result as is
            np.testing.assert_array_equal(stored, acc.astype(np.float32))
        else:
            np.testing.assert_array_equal(stored, _bf16(acc.astype(np.float32)))
        outputs.append(acc)
        start += 2 * m * n
    assert start == values.size
    return problems, outputs


CASES = (
    [("INT8", "INT8", df) for df in BY_NAME["dataflow"].choices]
    + [(p, p, df) for p in ("INT4", "FP32", "BF16") for df in ("mnk", "kmn")]
    + [("INT4", "INT8", "nkm"), ("BF16", "FP32", "mkn")]
)


@pytest.mark.parametrize(("weight_precision", "act_precision", "dataflow"), CASES)
def test_kernel_matches_numpy(tmp_path, weight_precision, act_precision, dataflow):
    design = make_design(
        weight_precision=weight_precision, act_precision=act_precision, dataflow=dataflow
    )
    exe = _build(design, tmp_path)
    problems, outputs = _run(exe, design, np.random.default_rng(7))
    integer = {weight_precision, act_precision} <= {"INT8", "INT4"}
    for (a, b), c in zip(problems, outputs, strict=True):
        a_seen = _as_stored(act_precision, a)
        b_seen = _as_stored(weight_precision, b)
        expected = a_seen @ b_seen
        if integer:
            # Integer products accumulate in int32 without overflow (|sum| <= 45*128*128 < 2^31),
            # so the kernel must reproduce numpy's product exactly.
            np.testing.assert_array_equal(c, expected)
        else:
            # Operands are exact (the reference rounds BF16 inputs the same way the kernel does),
            # only the float32 accumulation order differs: each of <= 45 additions rounds by at
            # most 2^-24 relative to the running magnitude, bounded by |A| @ |B|.
            bound = 45 * 2.0**-24 * (np.abs(a_seen) @ np.abs(b_seen)) + 1e-30
            assert np.all(np.abs(c - expected) <= bound)


def test_kernel_with_three_input_and_output_ports(tmp_path):
    # Tile rows 0,1,2 of A and C use ports 0,1,2 and tile row 3 wraps to port 0; a wrong port
    # reads junk 3s or leaves junk 777s, so exact equality with numpy proves the routing.
    design = make_design(pc_weights=1, pc_inputs=3, pc_outputs=3, dataflow="nkm")
    exe = _build(design, tmp_path)
    problems, outputs = _run(exe, design, np.random.default_rng(11))
    for (a, b), c in zip(problems, outputs, strict=True):
        np.testing.assert_array_equal(c, a @ b)


def test_header_compiles_alone_with_uram_and_flags(tmp_path):
    # The header alone compiles against the HLS type headers with every warning an error (its
    # pragmas only appear under __SYNTHESIS__); bf16 converts through its bit pattern.
    if GXX is None:
        pytest.skip("g++ is not installed")
    design = make_design(buffer_storage="uram", weight_precision="BF16", act_precision="INT4")
    export_design(design, PLATFORM, tmp_path)
    (tmp_path / "t.cpp").write_text(
        '#include "dse_config.h"\n'
        'static_assert(dse::URAM_BUFFERS && dse::DOUBLE_BUFFER, "flags");\n'
        'static_assert(dse::TILE_M == 16 && dse::PE_K == 8, "sizes");\n'
        'static_assert(sizeof(dse::word_t) == 64 && dse::epw<dse::bf16_t>() == 32, "words");\n'
        "int main() { return float(dse::weight_t(1.5f)) == 1.5f ? 0 : 1; }\n"
    )
    result = subprocess.run(
        [GXX, "-std=c++17", "-Wall", "-Werror", "-isystem", hls_include(), "t.cpp", "-o", "t"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    # 1.5 is exactly representable in bfloat16, so it survives the round trip unchanged.
    assert subprocess.run([str(tmp_path / "t")]).returncode == 0
    kernel = (tmp_path / "kernel.cpp").read_text()
    # a_buf is PE_M = 4 banks (dim 1) of PE_K-wide words (dim 3 reshaped), (16/4) x (16/8) = 8
    # words deep: LUTRAM whatever buffer_storage says (the description's primitive: yosys maps
    # up to 64 words to LUTRAM, u280.yaml logic.lutram_max_depth); c_buf (4 x 8/2 = 16 deep) too
    assert "#pragma HLS BIND_STORAGE variable=a_buf type=ram_2p impl=lutram" in kernel
    assert "#pragma HLS BIND_STORAGE variable=c_buf type=ram_2p impl=lutram" in kernel
    assert "#pragma HLS ARRAY_PARTITION variable=a_buf type=complete dim=1" in kernel
    assert "#pragma HLS ARRAY_RESHAPE variable=a_buf type=complete dim=3" in kernel
    assert "DOUBLE_PUMP" not in kernel + (tmp_path / "dse_config.h").read_text()


def test_kernel_has_one_m_axi_port_per_pc():
    # pc_weights=2, pc_inputs=1, pc_outputs=2 -> exactly the ports w0, w1, a0, c0, c1.
    from dse.export import design_params, render_kernel

    kernel = render_kernel(design_params(make_design()))
    bundles = re.findall(r"#pragma HLS INTERFACE mode=m_axi port=(\w+) bundle=(\w+)", kernel)
    # every m_axi port carries depth= (co-simulation) and the word ports are 512-bit words
    assert kernel.count("mode=m_axi") == kernel.count(" depth=") - kernel.count("STREAM variable")
    assert "const dse::word_t* w0" in kernel and "dse::word_t* c1" in kernel
    # the float vectors ride on w0's channel and the partial sums on c0's: no extra bundle
    assert bundles == [(p, f"gmem_{p}") for p in ("w0", "w1", "a0", "c0", "c1")] + [
        ("prm", "gmem_w0"),
        ("ps", "gmem_c0"),
    ]
    assert "#pragma HLS INTERFACE mode=s_axilite port=return" in kernel


# ---- link.cfg and the allocation ----------------------------------------------------------------

SP = re.compile(r"^sp=dse_gemm_(\d+)\.([wac])(\d+):HBM\[(\d+)(?::(\d+))?\]$")


def _parse_link(text: str):
    """{cu index: {stream: [pc, ...]}} from the sp lines, plus the nk and slr lines."""
    streams = {"w": "weights", "a": "inputs", "c": "outputs"}
    sps: dict[int, dict[str, list[int]]] = {}
    for line in text.splitlines():
        match = SP.match(line)
        if match:
            cu, stream, port, lo, hi = match.groups()
            assert hi is None or hi == lo  # one PC per port
            pcs = sps.setdefault(int(cu) - 1, {"weights": [], "inputs": [], "outputs": []})
            assert len(pcs[streams[stream]]) == int(port)  # ports listed in order
            pcs[streams[stream]].append(int(lo))
    nk = [line for line in text.splitlines() if line.startswith("nk=")]
    slr = [line for line in text.splitlines() if line.startswith("slr=")]
    return [sps[i] for i in sorted(sps)], nk, slr


LINK_CASES = [
    make_design(),
    make_design(compute_units=1, pc_weights=4, pc_inputs=2, pc_outputs=2),
    make_design(share_weights=True, compute_units=4, pc_weights=4, pc_inputs=3, pc_outputs=4),
    make_design(share_weights=True, compute_units=2, pc_weights=1, pc_inputs=1, pc_outputs=1),
    make_design(compute_units=6, pc_weights=2, pc_inputs=2, pc_outputs=1),  # 30 PCs
]


@pytest.mark.parametrize("design", LINK_CASES)
def test_link_cfg_matches_allocation(tmp_path, design):
    export_design(design, PLATFORM, tmp_path)
    text = (tmp_path / "link.cfg").read_text()
    assert "[connectivity]" in text
    units, nk, slr = _parse_link(text)
    # The sp lines are the allocation, port by port.
    assert units == channel_allocation(design, pseudo_channels=32)
    cus = design["compute_units"]
    assert nk == [f"nk=dse_gemm:{cus}:" + ",".join(f"dse_gemm_{i + 1}" for i in range(cus))]
    assert slr == [
        f"slr=dse_gemm_{i + 1}:SLR{s}" for i, s in enumerate(cu_slrs(cus, PLATFORM["cu_slr_order"]))
    ]
    every = [pc for u in units for s in u.values() for pc in s]
    assert all(0 <= pc <= 31 for pc in every)  # HBM[0:31] on the U280
    if design["share_weights"]:
        # One weight copy in PCs 0..pc_weights-1 read by every CU; nothing else is shared.
        assert all(u["weights"] == list(range(design["pc_weights"])) for u in units)
        private = [pc for u in units for pc in u["inputs"] + u["outputs"]]
        assert len(set(private)) == len(private)
        assert not set(private) & set(range(design["pc_weights"]))
    else:
        assert len(set(every)) == len(every)  # no PC used twice


def test_allocation_golden_values():
    # Hand-computed from the rule: unshared CU i starts at i*(2+1+2)=5i; shared CU i starts at
    # pc_weights + i*(1+2) = 2 + 3i.
    design = make_design()
    assert channel_allocation(design)[1] == {"weights": [5, 6], "inputs": [7], "outputs": [8, 9]}
    shared = channel_allocation(make_design(share_weights=True))
    assert shared[1] == {"weights": [0, 1], "inputs": [5], "outputs": [6, 7]}
    assert shared[2] == {"weights": [0, 1], "inputs": [8], "outputs": [9, 10]}


def test_allocation_refuses_too_many_pcs():
    # 7 CUs x (2+1+2) PCs = 35 > 32 pseudo-channels on the U280.
    with pytest.raises(UserError, match="35 HBM pseudo-channels"):
        channel_allocation(make_design(compute_units=7))
    # Sharing the weights needs 2 + 7*3 = 23 PCs, which fits.
    assert len(channel_allocation(make_design(compute_units=7, share_weights=True))) == 7


def test_cu_slrs_round_robin():
    # CU i goes to slr_order[i % len(slr_order)].
    assert cu_slrs(5) == [0, 1, 2, 0, 1]
    assert cu_slrs(3, (2, 1)) == [2, 1, 2]


def test_hls_config_keys(tmp_path):
    # Key names as in AMD UG1399 "HLS Config File Commands" / UG1702 "HLS General Options".
    export_design(make_design(clock_mhz=250), PLATFORM, tmp_path)
    lines = (tmp_path / "hls_config.cfg").read_text().splitlines()
    assert f"part={PLATFORM['part']}" in lines
    hls = lines[lines.index("[hls]") + 1 :]
    for expected in (
        "flow_target=vitis",
        "syn.file=kernel.cpp",
        "syn.file=vector.cpp",
        "syn.top=dse_gemm",
        "clock=250MHz",
        "package.output.format=xo",
    ):
        assert expected in hls
    assert (tmp_path / "kernel.cpp").exists()


# ---- design.json and bad input ------------------------------------------------------------------


def test_design_json_round_trips_every_parameter(tmp_path):
    # A row as pandas hands it over: numpy scalars, numpy bools, a NaN figure.
    design = make_design(
        pe_m=np.int64(4),
        share_weights=np.bool_(True),
        latency_ms=np.float64(3.25),
        lut=np.nan,
        feasible=np.bool_(False),
    )
    export_design(design, PLATFORM, tmp_path)
    loaded = json.loads((tmp_path / "design.json").read_text())
    assert set(loaded) == set(design)
    for name in PARAM_NAMES:
        assert loaded[name] == design[name]
        assert type(loaded[name]) is {"int": int, "bool": bool, "cat": str}[BY_NAME[name].kind]
    assert loaded["latency_ms"] == 3.25 and loaded["lut"] is None and loaded["feasible"] is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tile_m": 18}, "tile_m must be a multiple of pe_m"),
        ({"dataflow": "mmk"}, "key 'dataflow'"),
        ({"pc_inputs": 0}, "key 'pc_inputs'"),
    ],
)
def test_bad_design_is_a_user_error(tmp_path, changes, message):
    with pytest.raises(UserError, match=message):
        export_design(make_design(**changes), PLATFORM, tmp_path)
    missing = make_design()
    del missing["clock_mhz"]
    with pytest.raises(UserError, match="clock_mhz"):
        export_design(missing, PLATFORM, tmp_path)


# ---- dse export (CLI) ---------------------------------------------------------------------------


@pytest.fixture
def fake_config(monkeypatch):
    """load_config(path) gives the U280 platform dict and the shipped config's model, whatever
    the config file says."""
    import dse.cli
    import dse.config
    from tests.conftest import CONFIG

    dse.cli.build_parser()  # import every command first: none may bind the stand-in for good
    real = dse.config.load_config(CONFIG)

    def load_config(path):
        return types.SimpleNamespace(
            platform_raw=PLATFORM, model=real.model, model_raw=real.model_raw
        )

    monkeypatch.setattr(dse.config, "load_config", load_config)


def test_cli_exports_each_selected_design(tmp_path, fake_config):
    rows = pd.DataFrame(
        [
            make_design(design_id="d1"),
            make_design(design_id="d2", dataflow="kmn"),
            make_design(design_id="d1"),
        ]
    )  # d1 selected twice: exported once
    write_table(rows, tmp_path / "selected.parquet")
    out = tmp_path / "hls"
    code = cli.main(
        [
            "export",
            "--config",
            "c.yaml",
            "--in",
            str(tmp_path / "selected.parquet"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    index = json.loads((out / "index.json").read_text())
    assert [d["design_id"] for d in index["designs"]] == ["d1", "d2"]
    for entry in index["designs"]:
        # every file the export module's docstring lists (the run's model given: all of them)
        names = ("dse_config.h", "kernel.cpp", "vector.cpp", "host.cpp", "hls_config.cfg",
                 "link.cfg", "design.json", "platform.json", "model.json", "schedule.json",
                 "schedule.txt")  # fmt: skip
        assert sorted(entry["files"]) == sorted(f"{entry['path']}/{n}" for n in names)
        for name in names:
            assert (out / entry["path"] / name).is_file()
    loaded = json.loads((out / "d1" / "model.json").read_text())
    assert loaded["name"] == "smolvla_vision" and loaded["hidden"] == 768
    assert json.loads((out / "d2" / "design.json").read_text())["dataflow"] == "kmn"


@pytest.mark.parametrize(
    ("bad", "message"),
    [({"design_id": "../escape"}, "design_id"), ({"compute_units": 7}, "35 HBM pseudo-channels")],
)
def test_cli_bad_row_exits_2_and_writes_nothing(tmp_path, fake_config, capsys, bad, message):
    # The good first row must not be exported either: every row is checked before any write.
    rows = pd.DataFrame([make_design(design_id="ok"), make_design(**{"design_id": "bad", **bad})])
    write_table(rows, tmp_path / "s.parquet")
    out = tmp_path / "hls"
    code = cli.main(
        ["export", "--config", "c.yaml", "--in", str(tmp_path / "s.parquet"), "--out", str(out)]
    )
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "escape").exists()


# ---- the sources against Xilinx's headers, and the structural recount ---------------------------

PRECISIONS4 = ("FP32", "BF16", "INT8", "INT4")
LOOPS = ("mnk", "mkn", "nmk", "nkm", "kmn", "knm")

#: Twenty designs that differ where the generated source differs: all 16 precision pairs, 1-6 CUs,
#: fused attention or not, double buffering on and off, every loop order, shared streams, odd
#: PE factors (an unpaired last DSP column), URAM and BRAM storage, 1-4 ports per stream.
DIVERSE = [
    make_design(
        design_id=f"v{i:02d}",
        weight_precision=PRECISIONS4[i % 4],
        act_precision=PRECISIONS4[(i // 4) % 4],
        dataflow=LOOPS[i % 6],
        compute_units=1 + i % 6,
        fuse_attention=i % 3 == 0,
        double_buffer=i % 4 != 1,
        buffer_storage="uram" if i % 5 == 2 else "bram",
        pe_m=(4, 8, 2, 6)[i % 4],
        pe_n=(2, 3, 4, 8, 5)[i % 5],
        pe_k=(8, 16, 4)[i % 3],
        tile_m=(4, 8, 2, 6)[i % 4] * (1 + i % 3) * 4,
        tile_n=(2, 3, 4, 8, 5)[i % 5] * (2 + i % 2) * 4,
        tile_k=(8, 16, 4)[i % 3] * (1 + i % 4) * 2,
        pc_weights=1 + i % 2 if i % 6 < 4 else 1,  # at most 32 HBM channels in all
        pc_inputs=1 + (i // 2) % 2 if i % 6 < 4 else 1,
        pc_outputs=1 + (i // 3) % 2 if i % 6 < 4 else 1,
        share_weights=i % 7 == 3,
        share_streams=i % 6 == 4,
        vector_lanes=(8, 16, 32)[i % 3],
    )
    for i in range(20)
]


def _export_all(designs, root: Path, cfg) -> list[Path]:
    """Export each design (the shipped config's model sizes the fused-attention and vector
    buffers); their folders."""
    folders = []
    for d in designs:
        export_design(d, PLATFORM, root / d["design_id"], model=cfg.model(mapper=False))
        folders.append(root / d["design_id"])
    return folders


def test_sources_compile_against_the_hls_headers(tmp_path, cfg):
    # kernel.cpp and vector.cpp (with dse_config.h) as Vitis HLS reads them: no -DDSE_CSIM, the
    # vendor's ap_int.h / hls_stream.h from hls4ml's wheel (dse.hls_headers), warnings as errors
    # except those the HLS idioms raise under g++ (dse.csim.VENDOR_WARNINGS). Two at a time.
    if GXX is None:
        pytest.skip("g++ is not installed")
    from dse.csim import VENDOR_WARNINGS, _opens_with_config, precompile, prelude_includes

    folders = _export_all(DIVERSE, tmp_path, cfg)
    flags = ["-std=c++17", "-Wall", "-Werror", *VENDOR_WARNINGS, "-isystem", hls_include()]
    # the HLS type headers' parse, which is most of each check's time, once (dse.csim.precompile)
    includes = {prelude_includes((f / "dse_config.h").read_text()) for f in folders}
    assert len(includes) == 1
    prelude = precompile(GXX, flags, _pch_cache(), includes.pop())
    jobs = [(f, src) for f in folders for src in ("kernel.cpp", "vector.cpp")]
    while jobs:
        batch, jobs = jobs[:2], jobs[2:]
        procs = []
        for f, src in batch:
            cmd = [GXX, *flags, "-fsyntax-only", "-I", str(f), src]
            if prelude is not None and _opens_with_config((f / src).read_text()):
                cmd[1:1] = ["-include", str(prelude)]
            procs.append((f, src, subprocess.Popen(cmd, cwd=f, stderr=subprocess.PIPE, text=True)))
        for f, src, p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, f"{f.name}/{src}: {err[-2000:]}"


#: Arrays with storage pragmas the description has no entry for: none (the row stages, the hold
#: copy, the epilogue rows and p_s are described since MODEL_VERSION 2.3.0).
KNOWN_EXTRA: set[str] = set()


@pytest.mark.parametrize("design", DIVERSE, ids=lambda d: d["design_id"])
def test_recount_of_the_source_equals_the_hardware_description(tmp_path, cfg, design):
    # dse.recount reads the generated C++ (constexpr lines, array declarations and their
    # pragmas, the PE body's loops and multiplies, the m_axi pragmas); dse.hardware describes
    # what the model costs. Every described buffer's element bits, word bits, depth, banks,
    # copies and primitive, the PE array's DSPs and every m_axi bundle with its width must agree.
    from dse.export import check_design, hardware_of
    from dse.recount import compare, recount

    (folder,) = _export_all([design], tmp_path, cfg)
    _, _, ports = check_design(design, PLATFORM)
    hw = hardware_of(design, PLATFORM, ports, cfg.model(mapper=False))
    counted = recount(folder)
    problems = compare(counted, hw)
    # K^T / V of a head: the kernel's banks hold whole PE columns, ceil(tokens / pe_n) x
    # ceil(head_dim / pe_k) words (K^T) or ceil(tokens / pe_k) x ceil(head_dim / pe_n) (V); the
    # description's ceil(tokens x head_dim / (pe_k pe_n)) is that only when the PE factors
    # divide the tokens and the head dimension (a known difference, docs/kernel.md)
    pm, pn, pk = design["pe_m"], design["pe_n"], design["pe_k"]
    s, dh = 1024, 64  # the shipped model: 32 x 32 patches, 768 / 12

    def up(x, p):
        return -(-x // p)

    if design["fuse_attention"] and (s % pn or dh % pk or s % pk or dh % pn):
        kv = [p for p in problems if p.startswith(("k_buf.depth", "v_buf.depth"))]
        problems = [p for p in problems if p not in kv]
        for name in ("k_buf", "v_buf"):
            got = counted["buffers"][name]["depth"]
            assert got == max(up(dh, pk) * up(s, pn), up(s, pk) * up(dh, pn))
    assert problems == []
    assert set(counted["extra_buffers"]) <= KNOWN_EXTRA
    # by hand: integer engines pair two output columns per DSP48E2 (WP486), so
    # pe_m x ceil(pe_n / 2) x pe_k multiplies; float engines one float multiply per MAC
    integer = {design["weight_precision"], design["act_precision"]} <= {"INT8", "INT4"}
    if integer:
        assert counted["pe"]["dsp_multiplies"] == pm * -(-pn // 2) * pk
    else:
        assert counted["pe"]["float_multiplies"] == pm * pn * pk


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        # the PE body stops pairing columns: twice the DSP multiplies of the description
        ("j < PE_N; j += PACK_N)", "j < PE_N; j += 1)", "pe.dsp"),
        # a_buf's banks merged two by two: half the banks, twice the depth
        ("ARRAY_PARTITION variable=a_buf type=complete dim=1",
         "ARRAY_PARTITION variable=a_buf type=cyclic factor=2 dim=1", "a_buf.banks"),
        # c_buf's words no longer reshaped to PE_N accumulators
        ("ARRAY_RESHAPE variable=c_buf type=complete dim=3",
         "ARRAY_RESHAPE variable=c_buf type=cyclic factor=2 dim=3", "c_buf.word_bits"),
        # load_a's row stage twice as long: twice the words per bank
        ("act_t stage[PE_M][TILE_K];", "act_t stage[PE_M][2 * TILE_K];", "a_stage.depth"),
        # the partial sums' FIFO one tile deeper
        ("variable=p_s depth=${p_depth}", "variable=p_s depth=${p_depth}0", "p_s.depth"),
    ],
)  # fmt: skip
def test_recount_catches_a_broken_template(tmp_path, cfg, monkeypatch, old, new, problem):
    import dse.export
    from dse.export import check_design, hardware_of
    from dse.recount import compare, recount

    real = dse.export._template

    def broken(name):
        t = real(name)
        if name == "kernel.cpp.in":
            assert old in t.template
            return type(t)(t.template.replace(old, new))
        return t

    monkeypatch.setattr(dse.export, "_template", broken)
    design = make_design(design_id="broken")  # INT8 x INT8, PE 4 x 2 x 8
    (folder,) = _export_all([design], tmp_path, cfg)
    _, _, ports = check_design(design, PLATFORM)
    hw = hardware_of(design, PLATFORM, ports, cfg.model(mapper=False))
    problems = compare(recount(folder), hw)
    assert any(p.startswith(problem) for p in problems), problems


def test_hls_headers_come_from_the_env_or_the_cache(tmp_path, monkeypatch):
    # $DSE_HLS_INCLUDE wins when it holds ap_int.h; a folder without it is a one-line error;
    # without the variable the cache folder is used once it holds the headers (no download)
    from dse import hls_headers

    (tmp_path / "inc").mkdir()
    monkeypatch.setenv("DSE_HLS_INCLUDE", str(tmp_path / "inc"))
    with pytest.raises(UserError, match="DSE_HLS_INCLUDE.*no ap_int.h"):
        hls_headers.include_dir()
    (tmp_path / "inc" / "ap_int.h").write_text("// stand-in\n")
    assert hls_headers.include_dir() == tmp_path / "inc"
    monkeypatch.delenv("DSE_HLS_INCLUDE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(UserError, match="not cached"):
        hls_headers.include_dir(fetch=False)
    (tmp_path / "cache" / "dse" / "ap_types").mkdir(parents=True)
    (tmp_path / "cache" / "dse" / "ap_types" / "ap_int.h").write_text("// stand-in\n")
    assert hls_headers.include_dir(fetch=False) == tmp_path / "cache" / "dse" / "ap_types"


def test_every_variable_loop_has_a_tripcount(tmp_path, cfg):
    # UG1399: a loop whose trip count is not a compile-time constant needs LOOP_TRIPCOUNT for
    # HLS's latency report. Every `for` of the synthesised code (C-sim-only blocks aside) whose
    # bound is not a constant (an ALL_CAPS name, a number, or an expression of them) carries one
    # in its first lines.
    (folder,) = _export_all([DIVERSE[0]], tmp_path, cfg)
    const = re.compile(r"^[\sA-Z0-9_+\-*/()]+$")
    for name in ("kernel.cpp", "vector.cpp", "dse_config.h"):
        text = re.sub(r"#ifdef DSE_CSIM.*?#endif", "", (folder / name).read_text(), flags=re.S)
        lines = text.splitlines()
        for i, line in enumerate(lines):
            m = re.search(r"for \((?:int|long) \w+ = [^;]+; \w+ (?:<|<=|>=) ([^;]+);", line)
            if not m or const.match(m.group(1)):
                continue
            body = "\n".join(lines[i + 1 : i + 4])
            assert "LOOP_TRIPCOUNT" in body, f"{name}:{i + 1}: {line.strip()}"
