"""A Hugging Face ``config.json`` -> the project model mapping (workflow/schemas/model.schema.yaml).

Read as plain JSON: no hub access and no ``transformers`` import. A key the file leaves out takes
the default of the transformers configuration class named below (its ``__init__`` default), as
``from_pretrained`` would. Keys read:

- encoder (``vision_config`` of ``siglip``, ``smolvlm``, ``idefics3``; the top level of ``vit``,
  ``deit``, ``siglip_vision_model``, ``smolvlm_vision``, ``idefics3_vision``): ``hidden_size``,
  ``num_hidden_layers``, ``num_attention_heads``, ``intermediate_size``, ``image_size``,
  ``patch_size``, ``num_channels``, ``qkv_bias`` (ViT/DeiT only; SigLIP's projections always
  have a bias), ``hidden_act`` (the vector unit's operations per MLP activation element);
- head: ``architectures[0]`` (ViT/DeiT: ``*ForImageClassification`` adds the classifier on the
  class token, ``DeiTForImageClassificationWithTeacher`` both of DeiT's classifiers, ``*Model`` or
  none: no head), ``num_labels`` or the length of ``id2label``; ``vision_use_head`` (SigLIP's
  attention-pooling head); ``scale_factor`` and ``text_config.hidden_size`` (SmolVLM's pixel-shuffle
  connector).

- ``clip`` (``vision_config``, and the top-level ``projection_dim`` of ``CLIPModel``'s
  ``visual_projection``) and ``clip_vision_model`` (top level; ``CLIPVisionModelWithProjection``
  adds the projection, of its own ``projection_dim``): a class token, a LayerNorm on the
  embeddings (``pre_layrnorm``), and the projection, a bias-free GEMM on the class token,
  mapped as a one-token classifier of ``projection_dim`` outputs. CLIP's ``post_layernorm``
  normalises the class token only and is not counted (one token's LayerNorm);
- ``dinov2`` (top level; ``Dinov2Model`` only): a class token, MLP width ``hidden_size *
  mlp_ratio``, ``qkv_bias``; each residual add carries a layer-scale multiply (``layerscale``),
  counted as 2 vector operations per element. ``use_swiglu_ffn`` (ViT-g) and the classifier
  head (class token and mean of the patches) are refused;
- ``siglip2`` (``vision_config``) and ``siglip2_vision_model`` (NaFlex): ``num_patches`` patches
  of ``patch_size`` pixels (the most a resized image may have; a Linear patch embedding, the
  same MACs as SigLIP's Conv2d), modelled as a square grid of ``sqrt(num_patches)`` patches a
  side, so ``num_patches`` must be a square; the attention-pooling head as SigLIP's. The bilinear
  resize of the position embeddings is not counted.
- ``bert``: token input at ``max_position_embeddings`` tokens, ``type_vocab_size`` (a token-type
  embedding when > 0), ``position_embedding_type`` (absolute only); the encoder only.

Everything else (dropout, ``layer_norm_eps``, initialisers, token ids, ...) does not change the
work and is ignored. Not modelled: ``ViTModel``'s optional pooler (a hidden x hidden GEMM on one
token); write a YAML model for that or for other model types.
"""

from __future__ import annotations

import math
from typing import Any

from dse.errors import UserError

#: The base-size transformer every transformers vision/text config below defaults to (ViT-B,
#: BERT-base): each default table is this plus its own keys.
_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12)
#: ViTConfig / DeiTConfig defaults (transformers configuration_vit.py, configuration_deit.py).
_VIT = dict(
    _BASE,
    intermediate_size=3072,
    image_size=224,
    patch_size=16,
    num_channels=3,
    qkv_bias=True,
    hidden_act="gelu",
)
#: SiglipVisionConfig defaults (transformers configuration_siglip.py).
_SIGLIP = dict(
    _BASE,
    intermediate_size=3072,
    image_size=224,
    patch_size=16,
    num_channels=3,
    hidden_act="gelu_pytorch_tanh",
)
#: SmolVLMVisionConfig / Idefics3VisionConfig defaults (configuration_smolvlm.py,
#: configuration_idefics3.py).
_SMOLVLM = dict(_SIGLIP, hidden_size=1152, num_attention_heads=16, patch_size=32)
#: SmolVLMConfig / Idefics3Config: scale_factor=2; text_config defaults to LlamaConfig
#: (hidden_size=4096).
_SMOLVLM_SCALE, _LLAMA_HIDDEN = 2, 4096
#: CLIPVisionConfig defaults (transformers configuration_clip.py); CLIPConfig.projection_dim 512.
_CLIP = dict(
    _BASE,
    intermediate_size=3072,
    image_size=224,
    patch_size=32,
    num_channels=3,
    hidden_act="quick_gelu",
)
_CLIP_PROJECTION = 512
#: Dinov2Config defaults (transformers configuration_dinov2.py): the MLP is hidden * mlp_ratio.
_DINOV2 = dict(
    _BASE,
    mlp_ratio=4,
    image_size=224,
    patch_size=16,
    num_channels=3,
    qkv_bias=True,
    hidden_act="gelu",
)
#: Siglip2VisionConfig defaults (transformers configuration_siglip2.py): no image_size; NaFlex
#: resizes an image to at most num_patches patches.
_SIGLIP2 = dict(
    _BASE,
    intermediate_size=3072,
    num_patches=256,
    patch_size=16,
    num_channels=3,
    hidden_act="gelu_pytorch_tanh",
)
#: Vector operations per element of a residual add with DINOv2's layer scale (x + gamma * y).
_LAYERSCALE_RESIDUAL_OPS = 2
#: BertConfig defaults (transformers configuration_bert.py).
_BERT = dict(
    _BASE,
    intermediate_size=3072,
    hidden_act="gelu",
    max_position_embeddings=512,
    type_vocab_size=2,
    position_embedding_type="absolute",
)
#: PretrainedConfig: without id2label or num_labels a config has 2 labels.
_DEFAULT_LABELS = 2

#: Vector-unit operations per element of the MLP activation, counted like the YAML models'
#: ``vector_ops.gelu`` (a transcendental counts 1):
#: tanh form 0.5x(1+tanh(0.79788(x+0.044715x^3))): 3 mul for the cube term, 1 add, 1 mul, tanh,
#: 1 add, 1 mul = 8; erf form 0.5x(1+erf(x/sqrt 2)): 1 mul, erf, 1 add, 1 mul, 1 mul = 5;
#: quick_gelu x*sigmoid(1.702x): 1 mul, sigmoid, 1 mul = 3; relu: 1 compare.
ACTIVATION_OPS = {
    "gelu_pytorch_tanh": 8,
    "gelu_new": 8,
    "gelu_fast": 8,
    "gelu": 5,
    "quick_gelu": 3,
    "relu": 1,
}

_MODEL_TYPES = (
    "vit",
    "deit",
    "siglip",
    "siglip_vision_model",
    "smolvlm",
    "smolvlm_vision",
    "idefics3",
    "idefics3_vision",
    "clip",
    "clip_vision_model",
    "dinov2",
    "siglip2",
    "siglip2_vision_model",
    "bert",
)

#: Defaults of each vision model type's encoder configuration.
_DEFAULTS = {
    "vit": _VIT,
    "deit": _VIT,
    "siglip": _SIGLIP,
    "siglip_vision_model": _SIGLIP,
    "smolvlm": _SMOLVLM,
    "smolvlm_vision": _SMOLVLM,
    "idefics3": _SMOLVLM,
    "idefics3_vision": _SMOLVLM,
    "clip": _CLIP,
    "clip_vision_model": _CLIP,
    "dinov2": _DINOV2,
    "siglip2": _SIGLIP2,
    "siglip2_vision_model": _SIGLIP2,
}

#: Model types whose encoder sits under ``vision_config`` (the others: at the top level).
_NESTED = ("siglip", "smolvlm", "idefics3", "clip", "siglip2")


def is_hf_config(data: dict[str, Any]) -> bool:
    """A Hugging Face config (not a project YAML model): it has HF's own keys."""
    return any(k in data for k in ("model_type", "architectures", "vision_config", "hidden_size"))


def to_model(
    data: dict[str, Any], *, name: str, file: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Map a Hugging Face config onto the project's model keys.

    Args:
        data: the parsed config.json.
        name: the model name (the file's stem).
        file: the file, for messages.

    Returns:
        The model mapping (validate it against the model schema) and, for messages, the config.json
        key each model key came from.

    Raises:
        UserError: an unsupported model type or architecture, or a key of the wrong kind.
    """
    mtype = data.get("model_type")
    if not isinstance(mtype, str) or mtype not in _MODEL_TYPES:
        raise UserError(
            "not a model type dse maps",
            file=file,
            key="model_type",
            value=mtype,
            allowed=", ".join(_MODEL_TYPES) + " (or write a YAML model, configs/models/README.md)",
        )
    if mtype == "bert":
        return _bert(data, name=name, file=file)
    arch = _architecture(data, file)
    if mtype in _NESTED:
        enc = _section(data, "vision_config", file)  # absent: the class defaults
        prefix = "vision_config."
    else:
        enc, prefix = data, ""
    get = {k: enc.get(k, v) for k, v in _DEFAULTS[mtype].items()}
    keys = {
        "hidden": "hidden_size",
        "heads": "num_attention_heads",
        "mlp": "intermediate_size",
        "layers": "num_hidden_layers",
        "image_size": "image_size",
        "patch_size": "patch_size",
        "channels": "num_channels",
        "qkv_bias": "qkv_bias",
    }
    keys = {k: prefix + v for k, v in keys.items()}
    if mtype == "dinov2":
        get["intermediate_size"] = _dinov2_mlp(enc, get, file)
        keys["mlp"] = "mlp_ratio"
    if mtype.startswith("siglip2"):
        get["image_size"] = get["patch_size"] * _square_side(
            get["num_patches"], prefix + "num_patches", file
        )
        keys["image_size"] = prefix + "num_patches"
    act = _activation(get["hidden_act"], prefix + "hidden_act", file)
    model: dict[str, Any] = {
        "name": name,
        "image_size": get["image_size"],
        "patch_size": get["patch_size"],
        # the patch embedding is a Conv2d with stride = patch and no padding: pixels past the
        # last whole patch are dropped (SigLIP-so400m-patch14-384: 27 x 14 = 378 of 384)
        "crop_remainder": True,
        "channels": get["num_channels"],
        "hidden": get["hidden_size"],
        "heads": get["num_attention_heads"],
        "mlp": get["intermediate_size"],
        "layers": get["num_hidden_layers"],
        "qkv_bias": get.get("qkv_bias", True),  # SigLIP/SmolVLM: q, k, v always have a bias
        "position_embedding": True,  # learned, added after the patch embedding
        "final_layernorm": True,  # ViT `layernorm`, SigLIP/SmolVLM `post_layernorm`
        "vector_ops": {"gelu": act},
    }
    if mtype not in ("vit", "deit") and "ForImageClassification" in arch:
        raise UserError(
            "head of this architecture not modelled",
            file=file,
            key="architectures[0]",
            value=arch,
            allowed=f"a {mtype} *Model (its own head) or a YAML model with the classifier",
        )
    if mtype.startswith("clip"):
        model["class_token"] = True
        model["embedding_layernorm"] = True  # CLIPVisionTransformer.pre_layrnorm
        model["final_layernorm"] = False  # post_layernorm: the class token only, not counted
        if mtype == "clip" or arch.endswith("WithProjection"):
            proj = (data if mtype == "clip" else enc).get("projection_dim", _CLIP_PROJECTION)
            model["classifier"] = {"classes": proj, "bias": False, "tokens": 1}
            keys["classifier.classes"] = "projection_dim"
    elif mtype == "dinov2":
        model["class_token"] = True
        if enc.get("use_swiglu_ffn", False) is not False:
            raise UserError(
                "SwiGLU MLP not modelled",
                file=file,
                key="use_swiglu_ffn",
                value=enc.get("use_swiglu_ffn"),
                allowed="false (the plain GELU MLP; ViT-g's SwiGLU needs a YAML model)",
            )
        if arch and arch != "Dinov2Model":
            raise UserError(
                "head of this architecture not modelled",
                file=file,
                key="architectures[0]",
                value=arch,
                allowed="Dinov2Model (the backbone)",
            )
        model["vector_ops"]["residual"] = _LAYERSCALE_RESIDUAL_OPS
    elif mtype in ("vit", "deit"):
        model["class_token"] = True
        model["distillation_token"] = mtype == "deit"  # DeiTEmbeddings always add it
        if arch.endswith("ForImageClassification") or arch.endswith("WithTeacher"):
            model["classifier"] = {
                "classes": _labels(data, file),
                "tokens": 2 if arch.endswith("WithTeacher") else 1,
            }
            keys["classifier.classes"] = "num_labels" if "num_labels" in data else "id2label"
    elif mtype.startswith("siglip"):
        use_head = enc.get("vision_use_head", True)  # SiglipVisionTransformer: head unless False
        if not isinstance(use_head, bool):
            raise UserError(
                "wrong type",
                file=file,
                key=prefix + "vision_use_head",
                value=use_head,
                allowed="true or false",
            )
        if use_head:
            model["pooling"] = {}
    elif mtype in ("smolvlm", "idefics3"):
        text = _section(data, "text_config", file)
        model["connector"] = {
            "scale_factor": data.get("scale_factor", _SMOLVLM_SCALE),
            "out_features": text.get("hidden_size", _LLAMA_HIDDEN),
            "bias": False,  # SmolVLMSimpleMLP: Linear(..., bias=False)
        }
        keys["connector.scale_factor"] = "scale_factor"
        keys["connector.out_features"] = "text_config.hidden_size"
    return model, keys


def _bert(data: dict[str, Any], *, name: str, file: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A BERT encoder (token input) at its longest sequence, ``max_position_embeddings``; only
    the encoder: ``BertModel``'s pooler and the task heads are not modelled."""
    archs = data.get("architectures") or []
    arch = archs[0] if isinstance(archs, list) and archs else ""
    if arch and arch != "BertModel":
        raise UserError(
            "head of this architecture not modelled",
            file=file,
            key="architectures[0]",
            value=arch,
            allowed="BertModel (the encoder; its pooler is not counted)",
        )
    get = {k: data.get(k, v) for k, v in _BERT.items()}
    if get["position_embedding_type"] != "absolute":
        raise UserError(
            "position embedding not modelled",
            file=file,
            key="position_embedding_type",
            value=get["position_embedding_type"],
            allowed="absolute",
        )
    act = _activation(get["hidden_act"], "hidden_act", file)
    vocab = get["type_vocab_size"]
    if not isinstance(vocab, int) or isinstance(vocab, bool) or vocab < 0:
        raise UserError(
            "not a count of token types",
            file=file,
            key="type_vocab_size",
            value=vocab,
            allowed="an integer >= 0 (0: no token-type embedding; BERT: 2)",
        )
    model = {
        "name": name,
        "input": "tokens",
        "sequence_length": get["max_position_embeddings"],
        "hidden": get["hidden_size"],
        "heads": get["num_attention_heads"],
        "mlp": get["intermediate_size"],
        "layers": get["num_hidden_layers"],
        "qkv_bias": True,  # modeling_bert.py: nn.Linear with bias
        "position_embedding": True,
        "token_type_embedding": bool(get["type_vocab_size"]),
        "embedding_layernorm": True,  # BertEmbeddings.LayerNorm
        "final_layernorm": False,  # post-LN: the LayerNorms sit inside the layers
        "vector_ops": {"gelu": act},
    }
    keys = {
        "sequence_length": "max_position_embeddings",
        "hidden": "hidden_size",
        "heads": "num_attention_heads",
        "mlp": "intermediate_size",
        "layers": "num_hidden_layers",
    }
    return model, keys


def _dinov2_mlp(enc: dict[str, Any], get: dict[str, Any], file: str) -> Any:
    """DINOv2's MLP width: ``int(hidden_size * mlp_ratio)`` (Dinov2MLP)."""
    ratio, hidden = get["mlp_ratio"], get["hidden_size"]
    ok = isinstance(ratio, (int, float)) and not isinstance(ratio, bool) and ratio > 0
    if not ok:
        raise UserError("wrong type", file=file, key="mlp_ratio", value=ratio,
                        allowed="a positive number (MLP width / hidden_size)")
    if not isinstance(hidden, int) or isinstance(hidden, bool):
        return hidden  # the schema reports a bad hidden_size
    return int(hidden * ratio)


def _square_side(num_patches: Any, key: str, file: str) -> int:
    """The side of a square grid of ``num_patches`` patches."""
    if isinstance(num_patches, int) and not isinstance(num_patches, bool) and num_patches > 0:
        side = math.isqrt(num_patches)
        if side * side == num_patches:
            return side
    raise UserError(
        "not a square number of patches",
        file=file,
        key=key,
        value=num_patches,
        allowed="a square (256 = 16 x 16, 576, 729, 1024, ...), modelled as a square grid",
    )


def _activation(act: Any, key: str, file: str) -> int:
    if not isinstance(act, str) or act not in ACTIVATION_OPS:  # a list is not hashable
        raise UserError(
            "activation not modelled",
            file=file,
            key=key,
            value=act,
            allowed=", ".join(ACTIVATION_OPS),
        )
    return ACTIVATION_OPS[act]


def _architecture(data: dict[str, Any], file: str) -> str:
    archs = data.get("architectures") or []
    if not isinstance(archs, list) or not all(isinstance(a, str) for a in archs):
        raise UserError(
            "wrong type",
            file=file,
            key="architectures",
            value=archs,
            allowed="a list of class names",
        )
    arch = archs[0] if archs else ""
    known = (
        "Model",
        "ModelWithProjection",
        "ForImageClassification",
        "ForImageClassificationWithTeacher",
        "ForConditionalGeneration",
    )
    if arch and not arch.endswith(known):
        raise UserError(
            "head of this architecture not modelled",
            file=file,
            key="architectures[0]",
            value=arch,
            allowed="*Model (no head), *ForImageClassification, "
            "DeiTForImageClassificationWithTeacher, *ForConditionalGeneration (SmolVLM), "
            "CLIPVisionModelWithProjection",
        )
    return arch


def _section(data: dict[str, Any], key: str, file: str) -> dict:
    """A sub-config; absent or null: {} (transformers builds it from the class defaults)."""
    sec = data.get(key)
    if sec is None:
        return {}
    if not isinstance(sec, dict):
        raise UserError(
            "wrong type",
            file=file,
            key=key,
            value=type(sec).__name__,
            allowed="a JSON object with the encoder's keys (hidden_size, ...)",
        )
    return sec


def _labels(data: dict[str, Any], file: str) -> Any:
    if "num_labels" in data:
        return data["num_labels"]
    labels = data.get("id2label")
    if labels is None:
        return _DEFAULT_LABELS
    if not isinstance(labels, dict):
        raise UserError(
            "wrong type",
            file=file,
            key="id2label",
            value=type(labels).__name__,
            allowed="a JSON object of class index to label",
        )
    return len(labels)


def translate(exc: UserError, keys: dict[str, str]) -> UserError:
    """The same error with each model key replaced by the config.json key it came from."""
    if not exc.key:
        return exc
    new = "/".join(keys.get(p, p) for p in exc.key.split("/"))
    out = UserError(str(exc).replace(f"key '{exc.key}'", f"key '{new}'", 1))
    out.file, out.key, out.value, out.allowed = exc.file, new, exc.value, exc.allowed
    return out
