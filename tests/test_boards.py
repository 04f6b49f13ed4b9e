"""Every shipped board (x every listed model): evaluates, sweeps a small grid, exports; DDR boards
export DDR[n]; channel sharing counts the ports a design instantiates; every violation is listed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from dse.allocation import channel_allocation
from dse.cli import main
from dse.config import load_config
from dse.export import export_design, render_kernel
from dse.model import Model
from dse.results import results_frame
from dse.roofline import platform_peaks
from dse.space import design_batch
from dse.store import read_table
from tests.conftest import BASE_DESIGN, ROOT

BOARDS = sorted((ROOT / "configs" / "platforms").glob("*.yaml"))
#: Models of the matrix: every shipped model file (YAML or Hugging Face config.json) on every board.
MODELS = sorted(
    p for ext in ("yaml", "json") for p in (ROOT / "configs" / "models").glob(f"*.{ext}")
)
#: The default run's model, for the single-model checks.
DEFAULT_MODEL = ROOT / "configs" / "models" / "smolvla_vision.yaml"

#: A small grid every board can hold: 1-2 CUs, one channel per stream, shared or not.
GRID = {
    "weight_precision": ["INT8"],
    "act_precision": ["INT8"],
    "pe_m": [8, 16],
    "pe_n": [8],
    "pe_k": [16],
    "tile_m": [64],
    "tile_n": [128],
    "tile_k": [256],
    "dataflow": ["mnk"],
    "pc_weights": [1],
    "pc_inputs": [1],
    "pc_outputs": [1],
    "share_weights": [False, True],
    "share_streams": [False, True],
    "compute_units": [1, 2],
    "double_pump": [False],  # only false: no documented HLS route (facts.md §9)
    "buffer_storage": ["bram"],
    "double_buffer": [True],
    "fuse_attention": [False],
    "vector_lanes": [16, 32],
}


def _config(tmp_path: Path, board: Path, model: Path) -> Path:
    raw = {
        "platform": str(board),
        "model": str(model),
        "objectives": [
            {"name": "latency_ms", "direction": "min"},
            {"name": "utilization", "direction": "min"},
        ],
        "sweep": {"shards": 1, "space": GRID},
        "select": {"latency_budget_ms": 1000.0, "named": []},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _model(board: Path, model: Path, tmp_path: Path):
    cfg = load_config(_config(tmp_path, board, model))
    return cfg, Model(cfg.platform, cfg.workload)


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
@pytest.mark.parametrize("board", BOARDS, ids=lambda p: p.stem)
def test_board_sweeps_and_exports(tmp_path, board, model):
    cfg_path = _config(tmp_path, board, model)
    out = tmp_path / "sweep.parquet"
    assert main(["sweep", "--config", str(cfg_path), "--shard", "0/1", "--out", str(out)]) == 0
    df = read_table(out)
    assert len(df) == 2**5  # the grid: 2 pe_m x 2 share_weights x 2 share_streams x 2 CUs x 2 lanes
    assert np.isfinite(df["latency_ms"]).all() and (df["latency_ms"] > 0).all()
    # the smallest design (1 CU, 1 channel per stream, 8x8x16 PEs) fits every shipped board:
    # at most 3 channels and 3 ports, and 1,024 MACs on a few hundred DSPs of one SLR
    small = df[(df["compute_units"] == 1) & (df["pe_m"] == 8)]
    if model.stem == "siglip_so400m_patch14_384" and board.stem in ("u280", "u50"):
        # except where one copy of the weights does not fit a channel: SigLIP so400m has
        # 27 x (4 x 1152^2 + 2 x 1152 x 4304) + 588 x 1152 + the pooling head's
        # 4 x 1152^2 + 2 x 1152 x 4304 = 426,972,672 weights, one byte each at INT8 = 407.2 MiB,
        # and beside them on the first weight channel 27 x (9 x 1152 + 4304) + 1152 + 2 x 1152
        # + 7 x 1152 + 4304 = 411,968 float32 biases and LayerNorm vectors (1.6 MiB; each starts
        # 64-element aligned: + 28 x 48 floats): 408.8 MiB against 256 MiB per HBM
        # pseudo-channel (8 GB / 32) on these boards
        # (a channel that also carries the CU's activations, share_streams alone, holds more)
        assert not df["feasible"].any()
        mib = small["violation"].str.extract(r"^hbm MiB per channel (\d+) > 256 available$")[0]
        alone = small["share_streams"] & ~small["share_weights"]
        assert (mib[~alone].astype(int) == 409).all() and (mib[alone].astype(int) > 409).all()
        return
    assert small["feasible"].all(), small["violations"].tolist()
    # the binding violation comes first in the list, and the list is empty exactly when feasible
    first = df["violations"].str.split(";").str[0]
    assert (first == df["violation"]).all()
    assert ((df["violations"] == "") == df["feasible"]).all()
    # the best feasible design exports with the board's memory in link.cfg
    best = df[df["feasible"]].sort_values("latency_ms").iloc[0].to_dict()
    files = export_design(best, load_config(cfg_path).platform_raw, tmp_path / "hls")
    link = next(f for f in files if f.name == "link.cfg").read_text()
    tag = load_config(cfg_path).platform.memory.tag
    other = {"HBM": "DDR", "DDR": "HBM"}[tag]
    assert f":{tag}[" in link and f"{other}[" not in link


@pytest.mark.parametrize("board", BOARDS, ids=lambda p: p.stem)
def test_every_board_shows_the_peaks_its_designs_can_reach(board, tmp_path):
    cfg, _ = _model(board, DEFAULT_MODEL, tmp_path)
    p = cfg.platform
    peaks = platform_peaks(p)
    dsp = float(p.device[1])
    # INT8: DSPs x 2 MACs (WP486) x 2 ops x 0.3 GHz
    assert peaks["INT8"] == pytest.approx(dsp * 2 * 2 * 0.3e9)
    # no double-pumped ceiling: the kernel has one clock domain (dse.hardware), so no design
    # the tool explores or exports reaches one
    assert set(peaks) >= {"FP32", "BF16", "INT8", "INT4", "INT4xINT8"}
    assert not any("pumped" in name for name in peaks)
    pumped = platform_peaks(p, pumped=True)  # the device's ceiling with vendor RTL (PG367)
    assert pumped["INT8 double-pumped"] == pytest.approx(2 * peaks["INT8"])  # 600 <= 775 MHz
    assert set(pumped) == set(peaks) | {f"{q} double-pumped" for q in peaks}


def test_u280_double_pumped_int8_peak_is_21_66_tops(cfg):
    # facts.md §3: 9,024 DSP x 2 MAC x 2 op x 0.3 GHz = 10.83 TOPS; DSPs at 2 x 300 MHz -> 21.66
    assert platform_peaks(cfg.platform, pumped=True)["INT8 double-pumped"] == pytest.approx(
        21.6576e12
    )


def test_ddr_board_places_each_cu_on_its_local_bank(tmp_path):
    # U250 (configs/platforms/u250.yaml): cu_slr_order [0, 2, 3, 1], DDR[n] in SLR n (UG1120).
    # Four CUs whose streams share one bank each take the bank of their own SLR.
    board = ROOT / "configs" / "platforms" / "u250.yaml"
    cfg, model = _model(board, DEFAULT_MODEL, tmp_path)
    mem = cfg.platform.memory
    design = {
        **BASE_DESIGN,
        "pc_weights": 1,
        "pc_inputs": 1,
        "pc_outputs": 1,
        "compute_units": 4,
        "share_streams": True,
        "design_id": "ddr4",
    }
    units = channel_allocation(
        design,
        pseudo_channels=mem.channels,
        channel_slrs=mem.channel_slrs,
        cu_slr_order=cfg.platform.cu_slr_order,
        tag=mem.tag,
    )
    assert [u["weights"] for u in units] == [[0], [2], [3], [1]]
    assert all(u["weights"] == u["inputs"] == u["outputs"] for u in units)
    files = export_design(design, cfg.platform_raw, tmp_path / "hls")
    link = next(f for f in files if f.name == "link.cfg").read_text()
    assert "sp=dse_gemm_2.w0:DDR[2]" in link and "sp=dse_gemm_2.c0:DDR[2]" in link
    assert "HBM[" not in link
    # the model agrees: 4 banks, 4 ports (one shared m_axi bundle per CU), no channel violation;
    # without sharing the same design needs 12 banks and 12 ports on a board with 4 banks
    for share, channels in ((True, 4), (False, 12)):
        res = model.evaluate(design_batch([{**design, "share_streams": share}]))
        text = results_frame(model, design_batch([{**design, "share_streams": share}]), res, ["d"])[
            "violations"
        ].iloc[0]
        assert ("ddr channels" in text) == (channels > 4), text
        if channels > 4:
            assert f"ddr channels {channels} > 4 available" in text


def test_tataa_layout_fits_the_u280_ports(cfg, model):
    # TATAA (TRETS'25, public host code: NUM_CU 15, HBM_CH_NUM 2): 15 CUs on 2 PCs each, 30 of
    # the 32 PCs and 30 ports. With share_streams, 2 channels per stream per CU and all streams
    # sharing them give 15 x 2 = 30 channels and 30 ports; without sharing 15 x 6 = 90 of each.
    base = {
        **BASE_DESIGN,
        "pc_weights": 2,
        "pc_inputs": 2,
        "pc_outputs": 2,
        "compute_units": 15,
        "pe_m": 4,
        "pe_n": 16,
        "pe_k": 4,
        "tile_m": 64,
        "tile_n": 64,
        "tile_k": 64,
    }
    rows = [{**base, "share_streams": True}, {**base, "share_streams": False}]
    batch = design_batch(rows)
    res = model.evaluate(batch)
    df = results_frame(model, batch, res, ["tataa", "unshared"])
    shared, unshared = df["violations"].tolist()
    assert "hbm channels" not in shared and "hbm AXI ports" not in shared
    assert "hbm channels 90 > 32 available" in unshared
    assert "hbm AXI ports 90 > 32 available" in unshared
    # fewer ports, fewer m_axi adapters and FIFOs: 4 ports less per CU x 15 CUs x (8,880 LUT
    # per adapter, u280.yaml logic.lut_per_axi_port, fitted, + a 512-bit depth-2 FIFO in SRLs,
    # 512 LUT, dse/hardware.py) = 563,520 LUT
    assert df["lut"].iloc[1] - df["lut"].iloc[0] == pytest.approx(4 * 15 * (8880 + 512), abs=1)
    # the kernel instantiates 2 m_axi bundles, each carrying a weight, input and output argument
    kernel = render_kernel(
        {
            **base,
            "share_streams": True,
            "share_weights": False,
            "dataflow": "mnk",
            "design_id": "t",
            "buffer_storage": "bram",
        }
    )
    bundles = {
        line.split("bundle=")[1].split()[0] for line in kernel.splitlines() if "mode=m_axi" in line
    }
    assert bundles == {"gmem_s0", "gmem_s1"}


def test_shared_streams_take_turns_on_their_channels(cfg, model):
    # Equal channel counts (2/2/2): sharing gives each stream the same 2 channels, but the
    # streams then add up instead of overlapping, so a design never gets faster by sharing.
    rows = [
        {
            **BASE_DESIGN,
            "pc_weights": 2,
            "pc_inputs": 2,
            "pc_outputs": 2,
            "share_streams": s,
            "double_buffer": db,
            "pe_m": pm,
        }
        for s in (False, True)
        for db in (False, True)
        for pm in (8, 32)
    ]
    res = model.evaluate(design_batch(rows))
    lat = res.columns["latency_ms"].reshape(2, -1)
    assert (lat[1] >= lat[0] * (1 - 1e-6)).all()
    assert (lat[1] > lat[0]).any()


def test_every_violation_is_listed_binding_first(cfg, model):
    # clock 600 MHz > 500 (UG1393), 12 CUs x (4+2+1) = 84 PCs > 32 and 84 ports > 32, and the
    # big PE arrays over the DSPs of their SLRs
    d = {**BASE_DESIGN, "clock_mhz": 600, "compute_units": 12, "pe_m": 32, "pe_n": 32}
    batch = design_batch([d])
    df = results_frame(model, batch, model.evaluate(batch), ["many"])
    parts = df["violations"].iloc[0].split(";")
    assert parts[0] == df["violation"].iloc[0] == "clock_mhz 600 > 500 available"
    assert parts[1:3] == [
        "hbm channels 84 > 32 available",
        "hbm AXI ports 84 > 32 available",
    ]
    assert any(p.startswith("dsp SLR") for p in parts[3:]), parts
    assert not df["feasible"].iloc[0]


def test_violations_survive_chunked_evaluation(cfg, monkeypatch):
    # the model evaluates in chunks; every chunk's violations must line up with its rows
    import dse.model as m

    monkeypatch.setattr(m, "CHUNK", 2)
    model = m.Model(cfg.platform, cfg.workload)
    # BASE_DESIGN at 235 MHz: it closes 239.7 (below), not its own 250
    ok = {**BASE_DESIGN, "clock_mhz": 235}
    rows = [
        ok,
        {**BASE_DESIGN, "clock_mhz": 600},
        ok,
        {**BASE_DESIGN, "compute_units": 12},
    ]
    batch = design_batch(rows)
    df = results_frame(model, batch, model.evaluate(batch), list("abcd"))
    assert df["violations"].iloc[0] == "" and df["violations"].iloc[2] == ""
    # 600 MHz is also over what BASE_DESIGN closes (dse.timing with u280.yaml's fitted clock:
    # LUTs at 85.18% of SLR0 with the shell, (266,901.2 + 107,629) / 439,680 -> 345 - (0.85182
    # - 0.22) / 0.78 x 130 = 239.7 MHz; the LUT count by hand in
    # test_timing.test_clock_per_design_is_the_highest_step_under_fmax)
    assert df["violations"].iloc[1] == (
        "clock_mhz 600 > 500 available;clock_mhz for timing closure 600 > 239 available"
    )
    assert "hbm channels 84 > 32 available" in df["violations"].iloc[3]


def test_pareto_counts_binding_limits_and_summary_names_them(tmp_path, cfg, model):
    # three designs: feasible, clock over (binding: clock_mhz), 12 CUs x 7 PCs (binding: hbm
    # channels; ports and DSPs broken too, listed in `violations` only)
    from dse.commands.pareto import binding_violations
    from dse.commands.summary import violations_lines
    from dse.store import write_table

    # BASE_DESIGN at 235 MHz: it closes 239.7 (test_timing), not its own 250
    rows = [{**BASE_DESIGN, "clock_mhz": 235}, {**BASE_DESIGN, "clock_mhz": 600},
            {**BASE_DESIGN, "compute_units": 12}]
    batch = design_batch(rows)
    df = results_frame(model, batch, model.evaluate(batch), ["a", "b", "c"])
    write_table(df, tmp_path / "r.parquet")
    counts = binding_violations([str(tmp_path / "r.parquet")])
    assert counts == {"clock_mhz": 1, "hbm channels": 1}
    (line,) = violations_lines(counts)
    assert "clock_mhz 1; hbm channels 1" in line and "binding" in line
    assert violations_lines({}) == []
    # most frequent first, whatever order the metadata (JSON, sorted keys) gives
    (line,) = violations_lines({"a": 1, "b": 5})
    assert line.endswith("b 5; a 1")
