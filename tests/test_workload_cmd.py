"""``dse workload``: work and parameter counts against published figures.

Parameter counts are the exact ``sum(p.numel() for p in model.parameters())`` of the reference
implementations (timm ``vit_base_patch16_224`` 86,567,656; ``deit_small_patch16_224``
22,050,664; ``deit_tiny_patch16_224`` 5,717,416, as listed by ``timm`` model cards: 86.6 M,
22.1 M, 5.7 M), and OpenCLIP ``docs/model_profile.csv`` for the ViT-B-32 image tower (87.85 M,
visual projection included). GMACs: ViT-B/16 and DeiT-B 17.6 (DeiT paper, Table 1), DeiT-S 4.6.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dse.cli import main

MODELS = Path(__file__).resolve().parents[1] / "configs" / "models"


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["workload", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("model", "params", "gmac", "gmac_tol"),
    [
        ("vit_b16.json", 86_567_656, 17.6, 0.05),
        ("deit_s.json", 22_050_664, 4.6, 0.05),
        ("deit_t.yaml", 5_717_416, 1.26, 0.01),
        ("clip_vit_b32.json", 87.85e6, 4.41, 0.01),
    ],
)
def test_published_counts(
    capsys: pytest.CaptureFixture[str], model: str, params: float, gmac: float, gmac_tol: float
) -> None:
    out = run_json(capsys, "--model", str(MODELS / model))
    total = out["parameters"]["total"]
    if isinstance(params, int):
        assert total == params
    else:  # published to 4 significant digits
        assert total == pytest.approx(params, rel=1e-3)
    assert out["gmac_per_image"] == pytest.approx(gmac, abs=gmac_tol)
    assert out["tokens"] == (50 if "b32" in model else 197)


def test_vit_b16_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    """ViT-B/16 at 224: 196 patches + class token = 197 tokens; per layer 4 d^2 s + 2 s^2 d +
    2 s d f MACs (d 768, f 3072, s 197), 12 layers, plus the patch embedding (196 x 768 x 768)
    and the classifier (768 x 1000)."""
    s, d, f = 197, 768, 3072
    layer = 4 * s * d * d + 2 * s * s * d + 2 * s * d * f
    macs = 12 * layer + 196 * 768 * 768 + 768 * 1000
    out = run_json(capsys, "--model", str(MODELS / "vit_b16.json"))
    assert out["gmac_per_image"] * 1e9 == pytest.approx(macs, rel=1e-12)
    assert out["gemm_gflop_per_image"] == pytest.approx(2 * out["gmac_per_image"])
    assert out["gflop_per_image"] > out["gemm_gflop_per_image"]  # plus the vector unit's work
    # the classifier is its own head class, not "connector"
    kernels = {k["kernel"]: k for k in out["kernels"]}
    assert kernels["classifier"]["class"] == "classifier"
    assert sum(k["gmac_per_image"] for k in out["kernels"]) == pytest.approx(
        out["gmac_per_image"]
    )


def test_cameras_scale_per_call(capsys: pytest.CaptureFixture[str]) -> None:
    """smolVLA: 107.66 GMAC per 512 px image (configs/models/README.md), 3 cameras per call."""
    out = run_json(capsys, "--model", str(MODELS / "smolvla_vision.yaml"), "--cameras", "3")
    assert out["gmac_per_image"] == pytest.approx(107.66, abs=0.01)
    assert out["gmac_per_call"] == pytest.approx(3 * out["gmac_per_image"])
    assert out["tokens"] == 1024
    kernels = {k["kernel"]: k for k in out["kernels"]}
    assert kernels["connector"]["class"] == "connector"


def test_markdown_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workload", "--model", str(MODELS / "deit_s.json")]) == 0
    text = capsys.readouterr().out
    assert "22.05 M" in text and "4.599 GMAC" in text and "| fc1 |" in text
    assert main(["workload", "--model", str(MODELS / "deit_s.json"), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("kernel,kind,class,")
    assert any(line.startswith("attn_scores,gemm,attention,") for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "no/such/model.yaml"], "no/such/model.yaml"),
        (["--model", str(MODELS / "vit_b16.json"), "--cameras", "0"], "--cameras"),
    ],
)
def test_bad_input_is_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["workload", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
