"""Figures: each writes a real image atomically, big clouds stay small, labels stay legible."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from dse import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PEAKS = {"FP32": 5.41e12, "BF16": 9.3e12, "INT8": 18.6e12, "INT4": 37.2e12}  # seed, ops/s
BW = 300e9  # seed's realistic HBM bandwidth, bytes/s


def png_size(path: Path) -> tuple[int, int]:
    """Width and height in pixels from the PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


def assert_png(path: Path, *, min_bytes: int = 10_000, max_bytes: int = 2_000_000) -> None:
    assert path.is_file()
    size = path.stat().st_size
    assert min_bytes < size < max_bytes, f"{path.name}: {size} bytes"
    width, height = png_size(path)
    assert 600 < width < 4000 and 300 < height < 3000, (width, height)  # ~150 dpi figures


def only_files(folder: Path, *names: str) -> None:
    """Nothing but the expected outputs: no temporary file is left behind."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


def gemm_oi(m: int, k: int, n: int, bytes_per_element: float = 1.0) -> float:
    """The seed's operational intensity: 2MKN / ((MK + KN + MN) * bytes)."""
    return 2 * m * k * n / ((m * k + k * n + m * n) * bytes_per_element)


@pytest.fixture
def kernels() -> pd.DataFrame:
    """SigLIP-like kernels at INT8: several share an OI (Q/K/V/out; the two LayerNorms)."""
    rows = {
        "patch_embed": gemm_oi(1024, 768, 768),
        "attn_q": gemm_oi(1024, 768, 768),
        "attn_k": gemm_oi(1024, 768, 768),
        "attn_v": gemm_oi(1024, 768, 768),
        "attn_out": gemm_oi(1024, 768, 768),
        "mlp_fc1": gemm_oi(1024, 768, 3072),
        "mlp_fc2": gemm_oi(1024, 3072, 768),
        "attn_scores": gemm_oi(1024, 64, 1024),
        "attn_context": gemm_oi(1024, 1024, 64),
        "connector": gemm_oi(64, 12288, 960),
        "layernorm1": 1.25,
        "layernorm2": 1.25,
        "softmax": 2.5,
        "gelu": 4.0,
        "residual_add": 0.33,
        "pixel_shuffle": 0.0625,
    }
    frame = pd.DataFrame({"kernel": list(rows), "oi": list(rows.values())})
    frame["attainable_ops"] = np.minimum(PEAKS["INT8"], BW * frame["oi"])
    return frame


def synthetic_cloud(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    precision = rng.choice(["INT4", "BF16", "FP32", "INT8"], n)  # plain strings, shuffled
    latency = np.exp(rng.normal(1.0, 1.2, n))
    utilization = np.clip(0.8 / latency**0.4 * rng.uniform(0.3, 1.0, n), 0.01, 1.0)
    return pd.DataFrame(
        {"latency_ms": latency, "utilization": utilization, "weight_precision": precision}
    )


def front_of(cloud: pd.DataFrame) -> pd.DataFrame:
    ordered = cloud.sort_values(["latency_ms", "utilization"])
    best_so_far = ordered["utilization"].cummin().shift(fill_value=np.inf)
    front = ordered[ordered["utilization"] < best_so_far]
    return front.assign(design_id=[f"d{i:07d}" for i in front.index])


def selected_of(front: pd.DataFrame) -> pd.DataFrame:
    picks = front.iloc[[0, len(front) // 2, len(front) // 2, -1]]
    return picks.assign(selection=["fastest", "knee", "under 50% budget", "smallest"])


def label_boxes(fig: Figure) -> list:
    """(text, extent of its background box) of every text in the first axes; leader lines are
    not part of the extent, so only the labels themselves are compared."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for t in fig.axes[0].texts:
        patch = t.get_bbox_patch()
        box = patch.get_window_extent(renderer) if patch else Text.get_window_extent(t, renderer)
        out.append((t.get_text(), box))
    return out


# ------------------------------------------------------------------------------------ roofline


def test_roofline_writes_png(tmp_path: Path, kernels: pd.DataFrame) -> None:
    out = plots.plot_roofline(
        kernels, PEAKS, BW, tmp_path / "roofline.png", title="Roofline", precision="INT8"
    )
    assert out == tmp_path / "roofline.png"
    assert_png(out)
    only_files(tmp_path, "roofline.png")


def test_roofline_labels_every_kernel_without_overlap(kernels: pd.DataFrame) -> None:
    fig = plots.roofline.figure(kernels, PEAKS, BW, title="Roofline", precision="INT8")
    fig.canvas.draw()
    boxes = label_boxes(fig)
    text = " ".join(t for t, _ in boxes).replace("\n", " ")
    for name in kernels["kernel"]:
        assert name in text
    # Kernels at the same point share one label: 16 kernels, 9 distinct points (Q/K/V/out and
    # patch_embed; fc1 and fc2; scores and context are transposes of each other; LayerNorms),
    # plus the wall's GB/s written on its line.
    assert len(boxes) == 9 + 1
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"labels {a!r} and {b!r} overlap"
    axes_box = fig.axes[0].get_window_extent(fig.canvas.get_renderer())
    for name, box in boxes:
        assert axes_box.contains(box.x0, box.y0) and axes_box.contains(box.x1, box.y1), name


def test_roofline_crowded_labels_do_not_overlap() -> None:
    # 13 distinct compute-bound kernels within one decade of OI: the hard case.
    oi = np.array([100, 110, 120, 150, 180, 200, 256, 300, 384, 400, 512, 600, 768], float)
    frame = pd.DataFrame({"kernel": [f"kernel_{i:02d}" for i in range(len(oi))], "oi": oi})
    frame["attainable_ops"] = np.minimum(PEAKS["INT4"], BW * oi)
    fig = plots.roofline.figure(frame, PEAKS, BW, title="crowded", precision="INT4")
    fig.canvas.draw()
    boxes = label_boxes(fig)
    assert len(boxes) == len(oi) + 1  # and the wall's GB/s on its line
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"labels {a!r} and {b!r} overlap"


def test_roofline_legend_names_precisions_and_designs(
    tmp_path: Path, kernels: pd.DataFrame
) -> None:
    points = pd.DataFrame(
        {
            "label": ["mlp_fc1", "connector", "mlp_fc1", "custom_op"],
            "oi": [300.0, 40.0, 200.0, 3.0],
            "achieved_ops": [12e12, 3e12, 7e12, 0.5e12],
            "design_id": ["d1", "d1", "d2", "d2"],
        }
    )
    fig = plots.roofline.figure(
        kernels, PEAKS, BW, title="Roofline", precision="INT8", points=points
    )
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    for precision in PEAKS:
        assert any(t.startswith(f"{precision} ceiling") for t in legend)
    assert any("memory wall" in t for t in legend)
    assert any("d1" in t for t in legend) and any("d2" in t for t in legend)
    # A point that names no kernel gets its own label.
    assert any(t.get_text() == "custom_op" for t in fig.axes[0].texts)
    out = plots.plot_roofline(
        kernels, PEAKS, BW, tmp_path / "r.png", title="R", precision="INT8", points=points
    )
    assert_png(out)


def test_roofline_wall_is_marked_achievable_beside_the_theoretical_peak(cfg) -> None:
    # U280 HBM (configs/platforms/u280.yaml): 32 PCs x 14.375 GB/s = 460 GB/s data-sheet peak;
    # the wall kernels can reach: 32 AXI ports (PG276; a published design uses 30) x 13.1 GB/s
    # measured per PC at 4 KB bursts with 289 ns / 16 outstanding read latency
    # = 32 x 4096 / (4096 / 13.1 + 18.06) = 396 GB/s.
    from dse.commands.plot import memory_walls
    from dse.roofline import platform_bandwidth

    bw = platform_bandwidth(cfg.platform)
    assert bw / 1e9 == pytest.approx(32 * 4096 / (4096 / 13.1 + 289 / 16), rel=1e-6)
    walls = memory_walls(cfg.platform)
    assert walls["theoretical_bytes_per_s"] == pytest.approx(460e9)
    kern = pd.DataFrame({"kernel": ["fc1"], "oi": [500.0], "attainable_ops": [10.8e12]})
    fig = plots.roofline.figure(kern, PEAKS, bw, title="R", precision="INT8", **walls)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("achievable" in t and "396 GB/s" in t for t in legend), legend
    assert any("theoretical" in t and "460 GB/s" in t for t in legend), legend
    # and on the lines themselves, not only in the legend
    on_lines = [t.get_text() for t in ax.texts]
    assert "396 GB/s achievable" in on_lines and "460 GB/s theoretical" in on_lines


def test_roofline_axes_are_log_with_units(kernels: pd.DataFrame) -> None:
    ax = plots.roofline.figure(kernels, PEAKS, BW, title="R", precision="INT8").axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "ops/byte" in ax.get_xlabel()
    assert "TOPS" in ax.get_ylabel()


def test_roofline_says_which_kernels_it_cannot_place(kernels: pd.DataFrame) -> None:
    # Pixel shuffle moves data but does no arithmetic: 0 ops/byte has no place on log axes.
    extra = pd.DataFrame({"kernel": ["pixel_shuffle_copy"], "oi": [0.0], "attainable_ops": [0.0]})
    frame = pd.concat([kernels, extra], ignore_index=True)
    fig = plots.roofline.figure(frame, PEAKS, BW, title="R", precision="INT8")
    notes = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("not shown")]
    assert len(notes) == 1 and "pixel_shuffle_copy" in notes[0]


def test_missing_column_names_it(tmp_path: Path, kernels: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="attainable_ops"):
        plots.plot_roofline(
            kernels.drop(columns="attainable_ops"),
            PEAKS,
            BW,
            tmp_path / "r.png",
            title="R",
            precision="INT8",
        )
    only_files(tmp_path)


# -------------------------------------------------------------------------------------- pareto


def test_pareto_writes_png(tmp_path: Path) -> None:
    cloud = synthetic_cloud(5_000)
    front = front_of(cloud)
    out = plots.plot_pareto(cloud, front, selected_of(front), tmp_path / "pareto.png")
    assert_png(out)
    only_files(tmp_path, "pareto.png")


def test_pareto_large_cloud_is_rasterised(tmp_path: Path) -> None:
    # 300,000 designs: drawn as vector markers this would be tens of MB of SVG; rasterised
    # (or binned) both files stay well under 2 MB.
    cloud = synthetic_cloud(300_000)
    front = front_of(cloud)
    selected = selected_of(front)
    png = plots.plot_pareto(cloud, front, selected, tmp_path / "pareto.png")
    svg = plots.plot_pareto(cloud, front, selected, tmp_path / "pareto.svg")
    assert_png(png, max_bytes=2_000_000)
    assert svg.read_bytes().lstrip().startswith(b"<?xml")
    assert svg.stat().st_size < 2_000_000
    only_files(tmp_path, "pareto.png", "pareto.svg")


@pytest.mark.parametrize(
    ("hue_order", "expected"),
    [
        (("FP32", "BF16", "INT8", "INT4"), ["FP32", "BF16", "INT8", "INT4"]),
        (("INT4", "INT8", "BF16", "FP32"), ["INT4", "INT8", "BF16", "FP32"]),
        (("INT8", "FP32"), ["INT8", "FP32", "BF16", "INT4"]),  # unlisted levels follow, sorted
    ],
)
def test_pareto_legend_follows_hue_order(hue_order: tuple[str, ...], expected: list[str]) -> None:
    cloud = synthetic_cloud(2_000)  # hue column holds plain strings in shuffled order
    front = front_of(cloud)
    fig = plots.pareto.figure(
        cloud,
        front,
        selected_of(front),
        x="latency_ms",
        y="utilization",
        hue="weight_precision",
        hue_order=hue_order,
        title=None,
    )
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert [t.split(":")[0] for t in texts[: len(expected)]] == expected
    assert any("Pareto front" in t for t in texts)


def test_pareto_annotates_selected_designs_and_labels_axes() -> None:
    cloud = synthetic_cloud(3_000)
    front = front_of(cloud)
    selected = selected_of(front)
    fig = plots.pareto.figure(
        cloud,
        front,
        selected,
        x="latency_ms",
        y="utilization",
        hue="weight_precision",
        hue_order=("FP32", "BF16", "INT8", "INT4"),
        title=None,
    )
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    knee_id = selected["design_id"].iloc[1]
    # The knee was also chosen as "under 50% budget": one label names both reasons.
    assert any("knee, under 50% budget" in t and knee_id in t for t in texts)
    assert any("fastest" in t for t in texts) and any("smallest" in t for t in texts)
    assert ax.get_xlabel() == "latency per policy call (ms)"
    assert ax.get_ylabel().startswith("utilization: fullest SLR")
    assert ax.get_xscale() == "log"  # the synthetic latencies span several decades


def test_pareto_budget_line_quality_tier_and_design_labels() -> None:
    """The budget is a dashed vertical line at its latency; front designs outside the quality
    tier are hollow, the others filled; the tier's reach is shaded; a selected design is called
    by what it is (dse.labels), its id below; a note says why front designs sit in the cloud."""
    cloud = synthetic_cloud(3_000)
    front = front_of(cloud)
    rng = np.random.default_rng(2)
    front = front.assign(quality_loss=rng.choice([0.001, 0.05], len(front)))
    selected = selected_of(front).assign(
        weight_precision="INT8", act_precision="INT8", compute_units=3, pe_m=32, pe_n=4,
        pe_k=32, clock_mhz=250,
    )
    fig = plots.pareto.figure(
        cloud, front, selected, x="latency_ms", y="utilization", hue="weight_precision",
        hue_order=("FP32", "BF16", "INT8", "INT4"), title=None, front_line=False,
        budget_ms=5.0, quality_max=0.001,
    )
    ax = fig.axes[0]
    budget = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [5.0, 5.0]]
    assert budget and budget[0].get_linestyle() == "--"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    n_out = int((front["quality_loss"] > 0.001).sum())
    assert f"Pareto front, outside the tier: {n_out:,}" in legend
    assert any(t.startswith("Pareto front, in the quality tier") for t in legend)
    assert any(t.startswith("latency budget: 5 ms") for t in legend)
    hollow = [c for c in ax.collections
              if len(c.get_offsets()) == n_out and len(c.get_facecolors()) == 0]
    assert hollow, "front designs outside the tier are drawn hollow"
    assert ax.collections and any(
        type(c).__name__ == "FillBetweenPolyCollection" or "Poly" in type(c).__name__
        for c in ax.collections
    )
    texts = [t.get_text() for t in ax.texts]
    assert any("INT8 3×32·4·32 @250" in t and selected["design_id"].iloc[0] in t for t in texts)
    assert any("inside the cloud" in t for t in texts)


def test_pareto_subsample_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots.pareto, "MAX_CLOUD_POINTS_PER_HUE", 500)
    cloud = synthetic_cloud(20_000)
    front = front_of(cloud)
    a = plots.plot_pareto(cloud, front, selected_of(front), tmp_path / "a.png")
    b = plots.plot_pareto(cloud, front, selected_of(front), tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()


# ------------------------------------------------------------------------------- the others


def test_breakdown_writes_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    names = {
        "patch_embed": "embed",
        "attn_qkv": "proj",
        "attn_scores": "attention",
        "softmax": "vector",
        "attn_out": "proj",
        "mlp_fc1": "mlp",
        "mlp_fc2": "mlp",
        "layernorm": "vector",
        "connector": "connector",
    }
    bounds = ["compute", "weights", "inputs", "vector", "outputs"]
    scale = {"d7": 1.0, "d12": 10.0, "d3": 100.0}  # a fast design next to a 100x slower one
    rows = [
        (design, name, cls, float(rng.uniform(0.1, 3.0)) * scale[design], bounds[i % 5])
        for design in scale
        for i, (name, cls) in enumerate(names.items())
    ]
    frame = pd.DataFrame(rows, columns=["design_id", "kernel", "kernel_class", "time_ms", "bound"])
    fig = plots.breakdown.figure(frame, title=None)
    kernel_axes, bound_axes = fig.axes[0::2], fig.axes[1::2]
    assert [[t.get_text() for t in ax.get_yticklabels()] for ax in kernel_axes] == [
        ["d7"], ["d12"], ["d3"]
    ]
    # each design on its own time axis: the fastest bar fills its panel like the slowest
    totals = frame.groupby("design_id", sort=False)["time_ms"].sum()
    for ax, design in zip(kernel_axes, scale, strict=True):
        assert ax.get_xlim()[1] == pytest.approx(totals[design] * 1.13)
    # the legend groups kernels under their class
    legend = [t.get_text() for t in fig.legends[0].get_texts() if t.get_text()]
    assert legend[:2] == ["patch embedding", "patch_embed"]
    assert set(names) <= set(legend)
    assert all(any(t.get_text().endswith("-bound") for t in ax.texts) for ax in bound_axes)
    # rows called by what the designs are when labels are given (dse.commands.plot passes
    # "<why>: <label>" over the id)
    label = "knee: INT8 3×32·4·32 @250\nd12"
    fig = plots.breakdown.figure(frame, title=None, labels={"d12": label})
    assert [t.get_text() for t in fig.axes[2].get_yticklabels()] == [
        "knee: INT8 3×32·4·32 @250\nd12"
    ]
    out = plots.plot_breakdown(frame, tmp_path / "breakdown.png")
    assert_png(out)
    only_files(tmp_path, "breakdown.png")


def test_breakdown_colours_one_hue_per_kernel_class() -> None:
    import colorsys

    import matplotlib as mpl

    classes = {"q": "proj", "k": "proj", "v": "proj", "fc1": "mlp", "fc2": "mlp", "ln": "vector"}
    colors = plots.breakdown.kernel_colors(classes)

    def hue(c: str) -> float:
        return colorsys.rgb_to_hls(*mpl.colors.to_rgb(c))[0]

    # shades of one hue inside a class, all distinct; different hues across classes
    assert hue(colors["q"]) == pytest.approx(hue(colors["v"]), abs=0.01)
    assert len({colors[k] for k in ("q", "k", "v")}) == 3
    assert abs(hue(colors["q"]) - hue(colors["fc1"])) > 0.1
    assert abs(hue(colors["fc1"]) - hue(colors["ln"])) > 0.1


def test_resources_writes_png(tmp_path: Path) -> None:
    available = {"lut": 439_000, "dsp": 2_880, "bram18": 1_344, "uram": 320}
    rows = [
        (design, f"SLR{s}", res, avail * frac, avail)
        for design, frac in (("d7", 0.55), ("d12", 1.08))
        for s in range(3)
        for res, avail in available.items()
    ]
    frame = pd.DataFrame(rows, columns=["design_id", "slr", "resource", "used", "available"])
    fig = plots.resources.figure(frame, title=None)
    assert [ax.get_title() for ax in fig.axes] == ["LUT", "DSP", "BRAM18", "URAM"]
    for ax in fig.axes:  # the 100% line in every panel
        assert any(list(line.get_ydata()) == [1.0, 1.0] for line in ax.get_lines())
    out = plots.plot_resources(frame, tmp_path / "resources.png")
    assert_png(out)
    only_files(tmp_path, "resources.png")


def test_hbm_writes_png_and_marks_shared_channels(tmp_path: Path) -> None:
    allocation = {
        "d7": [
            {"weights": [0, 1, 2, 3], "inputs": [4, 5], "outputs": [6, 7]},
            {"weights": [16, 17, 18, 19], "inputs": [20, 21], "outputs": [22, 23]},
        ],
        "d12": [  # weights shared by all CUs (lateral access)
            {"weights": [0, 1, 2, 3], "inputs": [4], "outputs": [5]},
            {"weights": [0, 1, 2, 3], "inputs": [6], "outputs": [7]},
            {"weights": [0, 1, 2, 3], "inputs": [8], "outputs": [9]},
        ],
    }
    fig = plots.hbm.figure(allocation, pseudo_channels=32, title=None)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"HBM[{i}]" for i in range(32)]
    assert sum(1 for p in ax.patches if p.get_hatch()) == 4  # d12's four shared PCs
    assert sum(1 for t in ax.texts if t.get_text() == "0–2") == 4
    out = plots.plot_hbm(allocation, tmp_path / "hbm.png")
    assert_png(out)
    only_files(tmp_path, "hbm.png")


def test_hbm_rejects_a_channel_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"HBM\[32\]"):
        plots.plot_hbm(
            {"d1": [{"weights": [32], "inputs": [0], "outputs": [1]}]}, tmp_path / "hbm.png"
        )
    only_files(tmp_path)


def test_convergence_writes_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = []
    for sampler, scale in (("tpe", 200.0), ("random", 3000.0)):
        for seed in range(3):
            # Seeds report at different evaluation counts: curves are aligned step-wise.
            evals = np.unique(np.round(np.logspace(1, 4, 25) * rng.uniform(0.9, 1.1)))
            hv = np.maximum.accumulate(1 - 0.5 * np.exp(-evals / scale))
            rows += [(sampler, e, h, seed) for e, h in zip(evals, hv, strict=True)]
    curves = pd.DataFrame(rows, columns=["sampler", "evaluations", "hv_ratio", "seed"])
    fig = plots.convergence.figure(curves, title=None)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert any(list(line.get_ydata()) == [0.99, 0.99] for line in ax.get_lines())
    labels = [t.get_text() for t in ax.texts]
    assert any(t.startswith("tpe") and "99% at" in t for t in labels)
    assert any(t.startswith("random") for t in labels)
    out = plots.plot_convergence(curves, tmp_path / "convergence.png")
    assert_png(out)
    only_files(tmp_path, "convergence.png")


def test_convergence_without_seed_column(tmp_path: Path) -> None:
    curves = pd.DataFrame(
        {
            "sampler": ["tpe"] * 4,
            "evaluations": [10, 100, 1000, 5000],
            "hv_ratio": [0.5, 0.9, 0.995, 1.0],
        }
    )
    assert_png(plots.plot_convergence(curves, tmp_path / "c.png"))


def test_failed_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernels: pd.DataFrame
) -> None:
    def broken_savefig(self: Figure, fname: str, **kwargs: object) -> None:
        Path(fname).write_bytes(b"half a PNG")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plots.plot_roofline(kernels, PEAKS, BW, tmp_path / "r.png", title="R", precision="INT8")
    only_files(tmp_path)


def test_breakdown_classes_name_the_head() -> None:
    """A ViT classifier is its head, not SmolVLM's connector; SigLIP's pooling head likewise."""
    from dse.config import load_model
    from dse.plots.breakdown import kernel_classes
    from dse.workload import Workload

    models = Path(__file__).resolve().parents[1] / "configs" / "models"
    vit = kernel_classes(Workload.from_mapping(load_model(models / "vit_b16.json")))
    assert vit["classifier"] == "classifier" and vit["classifier_bias"] == "vector"
    assert "connector" not in vit.values()
    smol = kernel_classes(Workload.from_mapping(load_model(models / "smolvla_vision.yaml")))
    assert smol["connector"] == smol["pixel_shuffle"] == "connector"
    siglip = kernel_classes(
        Workload.from_mapping(load_model(models / "siglip_base_patch16_512.yaml"))
    )
    assert siglip["pool_fc1"] == siglip["pool_scores"] == "pooling"
    assert siglip["fc1"] == "mlp"


def test_convergence_panels_share_one_x_label() -> None:
    """benchmarks/search_quality.py draws two panels (linear and log objectives); their long x
    labels used to run into each other: one label under both now, and no two texts overlap."""
    rows = []
    for method, scale in (("nsgaii", 800.0), ("random", 3000.0)):
        for seed in range(3):
            for e in (1000, 2500, 5000, 12000):
                h = 1 - 0.3 * np.exp(-e / scale) * (1 + 0.05 * seed)
                rows.append((method, seed, e, h, h - 0.01))
    curves = pd.DataFrame(
        rows, columns=["method", "seed", "evaluations", "hv_ratio", "hv_ratio_log"]
    )
    xlabel = "model evaluations after the grid (warm start, trials, refinement)"
    fig = plots.convergence.figure(
        curves, title="t", panels=(("hv_ratio", "linear"), ("hv_ratio_log", "log")),
        sampler="method", xlabel=xlabel, target=0.99,
    )
    axes = fig.axes
    assert len(axes) == 2 and [ax.get_xlabel() for ax in axes] == ["", ""]
    assert fig._supxlabel is not None and fig._supxlabel.get_text() == xlabel
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for ax in axes for t in ax.get_xticklabels()
             if t.get_text()] + [fig._supxlabel.get_window_extent(r)]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)
