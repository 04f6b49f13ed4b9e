"""Models: every shipped model loads (YAML or Hugging Face config.json), its MAC total matches a
published or hand-counted figure, heads and class tokens are counted right, sizes that do not
divide are one-line errors, and each model evaluates and sweeps on the default board."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dse.cli import main
from dse.config import load_config, load_model
from dse.errors import UserError
from dse.workload import GEMM, Workload
from tests.conftest import BASE_DESIGN, ROOT

MODELS_DIR = ROOT / "configs" / "models"
#: Every shipped model (parametrise over this for a models x boards matrix).
MODELS = sorted([*MODELS_DIR.glob("*.yaml"), *MODELS_DIR.glob("*.json")])
U280 = ROOT / "configs" / "platforms" / "u280.yaml"


def workload(path: Path | str, **kw) -> Workload:
    return Workload.from_mapping(load_model(path, **kw))


def test_models_are_shipped():
    names = {p.name for p in MODELS}
    assert {
        "smolvla_vision.yaml",
        "smolvlm2_500m_video.json",
        "deit_t.yaml",
        "deit_s.json",
        "deit_b.yaml",
        "vit_b16.json",
        "siglip_base_patch16_512.yaml",
        "siglip_so400m_patch14_384.json",
        "bert_base_512.yaml",
        "bert_base_uncased.json",
    } <= names
    assert sum(p.suffix == ".json" for p in MODELS) >= 2


def _layer_macs(s: int, d: int, f: int) -> int:
    """MACs of one encoder layer by hand: q, k, v, out projections 4 s d^2; scores and context
    2 s^2 d (over all heads); MLP 2 s d f."""
    return 4 * s * d * d + 2 * s * s * d + 2 * s * d * f


# (file, expected MACs per image, relative tolerance, source)
PUBLISHED = [
    # DeiT paper (Touvron et al. 2021) Table 1 gives 1.3 G ("FLOPs" that are MACs), rounded to
    # 0.1 G; the OpenMMLab model zoo (mmpretrain configs/deit/README.md) gives 1.26 G.
    ("deit_t.yaml", 1.26e9, 0.01),
    # DeiT paper Table 1: DeiT-S 4.6 G
    ("deit_s.json", 4.6e9, 0.01),
    # DeiT paper Table 1: DeiT-B 17.6 G
    ("deit_b.yaml", 17.6e9, 0.01),
    # ViT-B/16 at 224: 17.6 G (the DeiT paper's ViT-B row; the same architecture as DeiT-B)
    ("vit_b16.json", 17.6e9, 0.01),
    # timm results/benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv, column infer_gmacs (MACs,
    # every op of the image tower): vit_base_patch32_clip_224 4.41 G (OpenCLIP
    # docs/model_profile.csv: ViT-B-32 image_gflops 8.82 = 2 x 4.41 G MACs)
    ("clip_vit_b32.json", 4.41e9, 0.002),
    # timm (same file): vit_base_patch14_dinov2 at 518 px, 151.71 G
    ("dinov2_base.json", 151.71e9, 0.002),
    # timm (same file): vit_base_patch16_siglip_256 (256 patches of 16, MAP head) 23.44 G;
    # OpenCLIP model_profile.csv ViT-B-16-SigLIP-256: image_gflops 46.82 = 2 x 23.41 G
    ("siglip2_base_patch16_naflex.json", 23.44e9, 0.002),
]


# Other sizes of the new model types, as Hugging Face configs, against the same timm table
# (infer_gmacs): CLIP ViT-B/16 17.58 G, CLIP ViT-L/14 81.08 G, DINOv2 ViT-S/14 and ViT-L/14 at
# 518 px 46.76 G and 507.15 G.
HF_PUBLISHED = [
    ({"model_type": "clip_vision_model", "architectures": ["CLIPVisionModelWithProjection"],
      "patch_size": 16}, 17.58e9),
    ({"model_type": "clip", "projection_dim": 768,
      "vision_config": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                        "intermediate_size": 4096, "patch_size": 14}}, 81.08e9),
    ({"model_type": "dinov2", "hidden_size": 384, "num_attention_heads": 6, "image_size": 518,
      "patch_size": 14}, 46.76e9),
    ({"model_type": "dinov2", "hidden_size": 1024, "num_attention_heads": 16,
      "num_hidden_layers": 24, "image_size": 518, "patch_size": 14}, 507.15e9),
]


@pytest.mark.parametrize(("cfg", "macs"), HF_PUBLISHED, ids=["clip-b16", "clip-l14", "dinov2-s",
                                                             "dinov2-l"])
def test_hf_macs_match_timm(tmp_path, cfg, macs):
    p = tmp_path / "m.json"
    p.write_text(json.dumps(cfg))
    assert workload(p).macs_per_image == pytest.approx(macs, rel=0.002)


def test_clip_dinov2_siglip2_by_hand():
    # CLIP B/32: 49 patches + class token = 50 tokens; patch embedding 49 x 3072 x 768; the
    # visual projection 1 x 768 x 512 on the class token
    w = workload(MODELS_DIR / "clip_vit_b32.json")
    assert w.tokens == 50
    assert w.macs_per_image == 12 * _layer_macs(50, 768, 3072) + 49 * 3072 * 768 + 768 * 512
    # DINOv2-B at 518: 37 x 37 patches + class token; MLP 768 x 4 = 3072; no head
    w = workload(MODELS_DIR / "dinov2_base.json")
    assert w.tokens == 37 * 37 + 1
    assert w.macs_per_image == 12 * _layer_macs(1370, 768, 3072) + 1369 * 588 * 768
    # SigLIP2 NaFlex: 256 patches as a 16 x 16 grid (image 256 px at patch 16)
    assert workload(MODELS_DIR / "siglip2_base_patch16_naflex.json").tokens == 256


@pytest.mark.parametrize(("name", "macs", "rel"), PUBLISHED)
def test_macs_match_published_figures(name, macs, rel):
    assert workload(MODELS_DIR / name).macs_per_image == pytest.approx(macs, rel=rel)


def test_macs_by_hand():
    # ViT/DeiT: patch embedding over 196 patches (K = 3 x 16 x 16 = 768), 12 layers on 197 tokens,
    # the classifier on the class token (1 x d x 1000)
    for name, d in (("deit_t.yaml", 192), ("deit_s.json", 384), ("deit_b.yaml", 768)):
        want = 196 * 768 * d + 12 * _layer_macs(197, d, 4 * d) + d * 1000
        assert workload(MODELS_DIR / name).macs_per_image == want
    # BERT-base at 512 tokens: no patch embedding, no head, 12 layers (about 48.3 GMAC)
    bert = workload(MODELS_DIR / "bert_base_512.yaml")
    assert bert.macs_per_image == 12 * _layer_macs(512, 768, 3072) == 48_318_382_080
    # SigLIP-so400m-patch14-384 from its shapes: 27 x 27 = 729 patches (384 = 27 x 14 + 6: the
    # stride-14 Conv2d drops 6 pixels), K = 3 x 14 x 14 = 588, d = 1152, MLP 4304, 27 layers, and
    # the attention-pooling head: probe q (1 x d x d), k and v over 729 tokens (2 x 729 d^2),
    # scores and context on one query (2 x 729 x d), out projection (d^2), MLP (2 d f)
    s, d, f = 729, 1152, 4304
    head = d * d + 2 * s * d * d + 2 * s * d + d * d + 2 * d * f
    so400m = workload(MODELS_DIR / "siglip_so400m_patch14_384.json")
    assert so400m.tokens == 729
    assert so400m.macs_per_image == s * 588 * d + 27 * _layer_macs(s, d, f) + head
    # smolVLA (unchanged): 107.66 GMAC per image (issue 9, an independent count)
    assert workload(MODELS_DIR / "smolvla_vision.yaml").macs_per_image == 107_659_395_072


def test_class_token_is_a_token_not_a_patch():
    w = workload(MODELS_DIR / "deit_s.json")
    k = {x.name: x for x in w.kernels}
    assert w.tokens == 197  # 14 x 14 patches + the class token
    assert k["patch_embed"].m == 196  # the Conv2d sees patches only
    assert k["patch_bias"].m == 196
    assert k["q_proj"].m == k["fc1"].m == k["attn_scores"].n == 197
    assert k["position_add"].m == 197  # the position embedding covers the class token
    assert (k["classifier"].m, k["classifier"].k, k["classifier"].n) == (1, 384, 1000)
    assert "pixel_shuffle" not in k and "connector" not in k


def test_deit_distilled_has_two_tokens_and_two_classifiers(tmp_path):
    # DeiTForImageClassificationWithTeacher: class + distillation tokens (198), one classifier each
    cfg = {
        "model_type": "deit",
        "architectures": ["DeiTForImageClassificationWithTeacher"],
        "hidden_size": 384,
        "num_attention_heads": 6,
        "intermediate_size": 1536,
        "num_labels": 1000,
    }
    p = tmp_path / "deit_s_distilled.json"
    p.write_text(json.dumps(cfg))
    w = workload(p)
    k = {x.name: x for x in w.kernels}
    assert w.tokens == 198 and k["patch_embed"].m == 196
    assert k["classifier"].count == 2
    # the distilled model's extra work over DeiT-S: one more token in 12 layers, one classifier
    plain = workload(MODELS_DIR / "deit_s.json").macs_per_image
    extra = 12 * (_layer_macs(198, 384, 1536) - _layer_macs(197, 384, 1536)) + 384 * 1000
    assert w.macs_per_image == plain + extra


def test_heads_none_classifier_pooling_connector():
    smolvla = {k.name for k in workload(MODELS_DIR / "smolvla_vision.yaml").kernels}
    assert {"pixel_shuffle", "connector"} <= smolvla
    bert = workload(MODELS_DIR / "bert_base_512.yaml")
    assert [k.name for k in bert.kernels if k.group == "head"] == []  # no head
    assert bert.kernels[0].name == "token_embed" and bert.gemms[0].name == "q_proj"
    pool = workload(MODELS_DIR / "siglip_base_patch16_512.yaml")
    head = {k.name: k for k in pool.kernels if k.group == "head"}
    assert head["pool_k_proj"].m == 1024 and head["pool_q_proj"].m == 1
    assert head["pool_scores"].count == 12 and not head["pool_scores"].weight_operand
    # classes: head weight GEMMs are embed-like head work, the probe's products attention
    assert {head[n].cls for n in ("pool_q_proj", "pool_k_proj", "pool_fc1", "pool_fc2")} == {
        "embed"
    }
    assert head["pool_scores"].cls == head["pool_context"].cls == "attention"
    assert not any(k.attention for k in head.values())  # not fused with the layers' attention


def test_hf_config_and_yaml_twin_give_the_same_kernel_table():
    # smolVLA: the YAML model and SmolVLM2-500M-Video-Instruct's config.json (vision tower +
    # connector); ViT-B/16 and DeiT-B share one architecture
    for yaml_name, json_name in (
        ("smolvla_vision.yaml", "smolvlm2_500m_video.json"),
        ("deit_b.yaml", "vit_b16.json"),
        ("bert_base_512.yaml", "bert_base_uncased.json"),
    ):
        a = workload(MODELS_DIR / yaml_name, cameras=3).table()
        b = workload(MODELS_DIR / json_name, cameras=3).table()
        pd.testing.assert_frame_equal(a, b)


def test_smolvla_kernel_table_unchanged(cfg):
    # the default run's kernel table, as before models came from HF configs and cameras moved
    w = cfg.workload
    assert w.cameras == 3 and w.tokens == 1024
    conn = next(k for k in w.kernels if k.name == "connector")
    assert (conn.m, conn.k, conn.n) == (64, 12288, 960)
    assert len(w.kernels) == 26 and w.kernels[0].name == "patch_embed"


def test_cameras_is_a_setting_of_the_run(tmp_path):
    text = (ROOT / "configs" / "config.yaml").read_text()
    text = text.replace("platform: platforms/", f"platform: {ROOT}/configs/platforms/")
    text = text.replace("model: models/smolvla_vision.yaml", f"model: {MODELS_DIR}/deit_s.json")
    p = tmp_path / "config.yaml"
    p.write_text(text.replace("cameras: 3", "cameras: 2"))
    assert load_config(p).workload.cameras == 2
    p.write_text("\n".join(x for x in text.splitlines() if not x.startswith("cameras:")))
    assert load_config(p).workload.cameras == 1  # default: one image per call
    # a model file that still names cameras: a clear error
    old = yaml.safe_load((MODELS_DIR / "smolvla_vision.yaml").read_text())
    m = tmp_path / "old.yaml"
    m.write_text(yaml.safe_dump({**old, "cameras": 3}))
    with pytest.raises(UserError, match=r"key 'cameras'.*setting of the run.*top level"):
        load_model(m)


def _yaml_model(tmp_path, **changes):
    raw = yaml.safe_load((MODELS_DIR / "smolvla_vision.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    p = tmp_path / "model.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def _assert_one_line_error(p, expect):
    """Loading model file ``p`` fails with a one-line error naming the file and every part."""
    with pytest.raises(UserError) as err:
        load_model(p)
    text = str(err.value)
    assert "\n" not in text and str(p) in text
    for part in expect:
        assert part in text, text


@pytest.mark.parametrize(
    ("changes", "expect"),
    [
        # heads must divide hidden: 384 / 5 is not a head size
        ({"hidden": 384, "heads": 5}, ["key 'heads'", "got 5", "divisor of hidden (384)"]),
        # patch must divide image: 230 / 16 = 14.4
        ({"image_size": 230}, ["key 'patch_size'", "got 16", "divisor of image_size (230)"]),
        # the pixel shuffle must divide the grid side: 14 x 14 patches, scale 4
        (
            {"image_size": 224, "connector": {"scale_factor": 4, "out_features": 960}},
            ["key 'connector.scale_factor'", "got 4", "patch grid side", "= 14"],
        ),
        # a class token does not fit the pixel shuffle
        ({"class_token": True}, ["key 'class_token'", "pixel shuffle"]),
        # two heads at once
        ({"classifier": {"classes": 10}}, ["key 'connector/classifier'", "at most one"]),
        # a classifier without a class token
        (
            {"connector": None, "classifier": {"classes": 10}},
            ["key 'class_token'", "class token"],
        ),
        # the pooling head's heads must divide hidden too
        (
            {"connector": None, "pooling": {"heads": 5}},
            ["key 'pooling.heads'", "got 5", "divisor of hidden (768)"],
        ),
        # keys of the other input form
        ({"token_type_embedding": True}, ["key 'token_type_embedding'", "input: tokens"]),
        ({"distillation_token": True}, ["key 'distillation_token'", "class_token: true"]),
        # image keys missing
        ({"patch_size": None}, ["key 'patch_size'", "missing key"]),
        # token input with image keys
        ({"input": "tokens", "sequence_length": 8}, ["key 'image_size'", "input: tokens"]),
    ],
)
def test_model_errors_are_one_line(tmp_path, changes, expect):
    _assert_one_line_error(_yaml_model(tmp_path, **changes), expect)


def test_crop_remainder_is_explicit(tmp_path):
    # 384 / 14: an error in a YAML model unless the model says its patch Conv2d drops the rest
    p = _yaml_model(tmp_path, image_size=384, patch_size=14, connector=None)
    with pytest.raises(UserError, match="crop_remainder"):
        load_model(p)
    p = _yaml_model(tmp_path, image_size=384, patch_size=14, connector=None, crop_remainder=True)
    assert workload(p).tokens == 27 * 27


@pytest.mark.parametrize(
    ("cfg", "expect"),
    [
        # heads must divide hidden, named by the config.json key
        (
            {"model_type": "vit", "num_attention_heads": 5},
            ["key 'num_attention_heads'", "got 5", "divisor of hidden (768)"],
        ),
        (
            {"model_type": "siglip", "vision_config": {"hidden_size": 0}},
            ["key 'vision_config.hidden_size'", "out of range"],
        ),
        (
            {"model_type": "smolvlm", "scale_factor": 5, "vision_config": {"image_size": 512}},
            ["key 'scale_factor'", "got 5", "= 16"],
        ),
        ({"model_type": "llama"}, ["key 'model_type'", "not a model type", "vit, deit"]),
        (
            {"model_type": "vit", "architectures": ["ViTForMaskedImageModeling"]},
            ["key 'architectures[0]'", "not modelled"],
        ),
        ({"model_type": "vit", "hidden_act": "swish"}, ["key 'hidden_act'", "gelu"]),
        (
            {"model_type": "siglip", "architectures": ["SiglipForImageClassification"]},
            ["key 'architectures[0]'", "not modelled"],
        ),
        (
            {"model_type": "bert", "architectures": ["BertForMaskedLM"]},
            ["key 'architectures[0]'", "BertModel"],
        ),
        (
            {"model_type": "bert", "max_position_embeddings": 0},
            ["key 'max_position_embeddings'", "out of range"],
        ),
        ({"model_type": "dinov2", "use_swiglu_ffn": True}, ["key 'use_swiglu_ffn'", "SwiGLU"]),
        (
            {"model_type": "dinov2", "architectures": ["Dinov2ForImageClassification"]},
            ["key 'architectures[0]'", "not modelled"],
        ),
        ({"model_type": "dinov2", "mlp_ratio": "4"}, ["key 'mlp_ratio'", "positive number"]),
        (
            {"model_type": "siglip2", "vision_config": {"num_patches": 200}},
            ["key 'vision_config.num_patches'", "got 200", "square"],
        ),
        (
            {"model_type": "clip", "architectures": ["CLIPForImageClassification"]},
            ["key 'architectures[0]'", "not modelled"],
        ),
    ],
)
def test_hf_config_errors_name_the_json_key(tmp_path, cfg, expect):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg))
    _assert_one_line_error(p, expect)


def test_hf_defaults_are_the_transformers_defaults(tmp_path):
    # an empty ViTConfig is ViT-B/16 at 224 without a head (ViTConfig() defaults)
    p = tmp_path / "vit.json"
    p.write_text(json.dumps({"model_type": "vit"}))
    m = load_model(p)
    assert (m["hidden"], m["heads"], m["mlp"], m["layers"]) == (768, 12, 3072, 12)
    assert (m["image_size"], m["patch_size"], m["channels"], m["class_token"]) == (224, 16, 3, True)
    assert "classifier" not in m and m["vector_ops"]["gelu"] == 5  # hidden_act "gelu" (erf)
    # SigLIP vision: patch 16, tanh GELU, the pooling head unless vision_use_head is false
    p.write_text(json.dumps({"model_type": "siglip_vision_model", "vision_use_head": False}))
    m = load_model(p)
    assert m["patch_size"] == 16 and m["vector_ops"]["gelu"] == 8 and "pooling" not in m
    # SmolVLM: hidden 1152, patch 32, scale 2, Llama text width 4096 (at the default 224 px the
    # 7 x 7 grid does not split by 2, an error in transformers' pixel shuffle too)
    p.write_text(json.dumps({"model_type": "smolvlm", "vision_config": {"image_size": 512}}))
    m = load_model(p)
    assert (m["hidden"], m["patch_size"]) == (1152, 32)
    assert m["connector"] == {"scale_factor": 2, "out_features": 4096, "bias": False}


def test_hf_defaults_of_clip_dinov2_siglip2(tmp_path):
    p = tmp_path / "m.json"
    # CLIPVisionConfig(): B/32 at 224, quick_gelu (3 ops), class token, pre-LayerNorm; a
    # CLIPVisionModel has no projection, a CLIPModel the top-level projection_dim (512)
    p.write_text(json.dumps({"model_type": "clip_vision_model"}))
    m = load_model(p)
    assert (m["patch_size"], m["image_size"], m["vector_ops"]["gelu"]) == (32, 224, 3)
    assert m["class_token"] and m["embedding_layernorm"] and "classifier" not in m
    p.write_text(json.dumps({"model_type": "clip"}))
    assert load_model(p)["classifier"] == {"classes": 512, "bias": False, "tokens": 1}
    # Dinov2Config(): 224 px, patch 16, MLP 4 x 768, layer scale on each residual (2 ops)
    p.write_text(json.dumps({"model_type": "dinov2"}))
    m = load_model(p)
    assert (m["image_size"], m["patch_size"], m["mlp"]) == (224, 16, 3072)
    assert m["vector_ops"]["residual"] == 2 and m["class_token"]
    # Siglip2VisionConfig(): 256 patches of 16 -> a 256 px square, the pooling head
    p.write_text(json.dumps({"model_type": "siglip2_vision_model"}))
    m = load_model(p)
    assert (m["image_size"], m["patch_size"]) == (256, 16) and "pooling" in m


def test_malformed_json_is_one_line(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{"model_type": "vit",')
    with pytest.raises(UserError, match=r"malformed JSON at line 1"):
        load_model(p)


def _run_config(tmp_path, model: Path) -> Path:
    """The tiny test grid (tests/data/tiny_config.yaml) on the default U280 with ``model``."""
    raw = yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text())
    raw.update(platform=str(U280), model=str(model), cameras=1)
    raw["sweep"]["shards"] = 1
    # 32 vector lanes, not the tiny grid's 64: at 64 lanes (3,162 fitted LUTs each), 6 m_axi
    # ports and the kernel's row stages an 8 x 8 x 16 CU takes 288,265 of SLR0's 288,083 LUTs
    # (MODEL_VERSION 2.3.0), and the test wants a grid with feasible designs
    raw["sweep"]["space"].update(
        weight_precision=["INT8"], dataflow=["mnk"], compute_units=[1, 2], pc_weights=[4],
        vector_lanes=[32],
    )
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


@pytest.mark.parametrize("model", MODELS, ids=[p.name for p in MODELS])
def test_every_model_evaluates_and_sweeps(tmp_path, capsys, model):
    cfg = _run_config(tmp_path, model)
    assert main(["evaluate", "--config", str(cfg), "--design", json.dumps(BASE_DESIGN)]) == 0
    res = json.loads(capsys.readouterr().out)
    w = load_config(cfg).workload
    assert res["latency_ms"] > 0
    assert len(res["kernels"]) == len(w.kernels)
    # achieved TOPS x latency = the model's GEMM ops (2 per MAC) per call
    ops = res["achieved_tops"] * 1e12 * res["latency_ms"] / 1e3
    assert ops == pytest.approx(2 * w.macs_per_image * w.cameras, rel=1e-6)
    out = tmp_path / "shard-0.parquet"
    assert main(["sweep", "--config", str(cfg), "--shard", "0/1", "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert len(df) == 2 * 2 * 2 * 2 * 2 * 2  # pe_m, pe_n, tile_m, share, CUs, fuse
    assert (df["latency_ms"] > 0).all()
    if model.stem == "siglip_so400m_patch14_384":
        # one copy of its INT8 weights is 409 MiB, more than a U280 pseudo-channel's 256 MiB
        # (tests/test_boards.py works the figure out): no design fits
        assert df["violation"].str.startswith("hbm MiB per channel").all()
    else:
        assert df["feasible"].any()


def test_gemm_classes_stay_known():
    # every GEMM of every model has a kernel class the model and the mapper know
    from dse.params import KERNEL_CLASSES

    for p in MODELS:
        assert {k.cls for k in workload(p).kernels if k.kind == GEMM} <= set(KERNEL_CLASSES)
