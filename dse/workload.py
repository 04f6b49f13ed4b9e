"""A model config -> the table of kernels of one encoder pass (per image).

GEMM kernels compute C[M x N] = A[M x K] . B[K x N]. Vector kernels are element-wise work on the
vector unit (LayerNorm, softmax, GELU, bias, residual, position add, pixel shuffle). A vector kernel
with ``epilogue_of`` set runs on the output tile of that GEMM as it is produced (no extra HBM
traffic); softmax is such an epilogue only when the design fuses attention.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from dse.errors import UserError

GEMM, VECTOR = "gemm", "vector"


@dataclass(frozen=True)
class Kernel:
    """One kernel of the encoder.

    Attributes:
        name: unique name.
        kind: ``gemm`` or ``vector``.
        m, k, n: GEMM dimensions (vector kernels: m rows x n columns, k = 0).
        count: executions per image (e.g. layers x heads).
        instances: independent executions per sequential step (heads); compute units that share
            one image split these, otherwise they split N.
        weight_operand: B is a static weight (read from the weight stream); otherwise B is an
            activation (read from the input stream).
        ops_per_element: vector-unit operations per element (vector kernels).
        read_elems / write_elems: activation elements read / written per execution when not fused.
        epilogue_of: the GEMM whose output this vector kernel consumes in its epilogue.
        attention: part of the attention block that ``fuse_attention`` keeps on chip.
        group: ``layer`` (repeats per layer), ``stem`` (before the layers) or ``head`` (after).
        op: the vector operation (``vector_ops`` key: layernorm, softmax, gelu, ...), vector
            kernels only.
        cls: GEMM class (dse.params.KERNEL_CLASSES) for per-class precision and tiling.
    """

    name: str
    kind: str
    m: int
    k: int
    n: int
    count: int
    instances: int = 1
    weight_operand: bool = True
    ops_per_element: float = 0.0
    read_elems: int = 0
    write_elems: int = 0
    epilogue_of: str | None = None
    attention: bool = False
    group: str = "layer"
    cls: str = ""
    op: str = ""

    @property
    def macs(self) -> int:
        """MACs per image (GEMM only)."""
        return self.m * self.k * self.n * self.count if self.kind == GEMM else 0

    @property
    def vector_ops(self) -> float:
        """Vector-unit operations per image."""
        return self.m * self.n * self.count * self.ops_per_element if self.kind == VECTOR else 0.0


def check_model(raw: dict[str, Any], *, file: str = "model") -> None:
    """Checks across fields of a schema-valid model mapping with its defaults filled in (each
    field's range is in workflow/schemas/model.schema.yaml): sizes divide (no silent truncation),
    the keys fit the input form, and at most one head is given.

    Raises:
        UserError: naming the file, the key, the value and what is allowed.
    """
    tokens_in = raw["input"] == "tokens"
    if tokens_in:
        for key in ("image_size", "patch_size", "class_token", "distillation_token", "connector"):
            if key in raw and raw[key] not in (False, None):
                raise UserError(
                    "not used with input: tokens (the sequence is given, class tokens included)",
                    file=file,
                    key=key,
                    value=raw[key] if not isinstance(raw[key], dict) else None,
                    allowed="remove it, or set input: image",
                )
    else:
        image, patch = raw["image_size"], raw["patch_size"]
        if patch > image or (image % patch and not raw["crop_remainder"]):
            raise UserError(
                "the patch does not divide the image",
                file=file,
                key="patch_size",
                value=patch,
                allowed=f"a divisor of image_size ({image}), or crop_remainder: true when the "
                "patch embedding drops the remaining pixels",
            )
        if raw["token_type_embedding"]:
            raise UserError(
                "a token-type embedding needs token input",
                file=file,
                key="token_type_embedding",
                value=True,
                allowed="false, or input: tokens",
            )
    if raw["distillation_token"] and not raw["class_token"]:
        raise UserError(
            "DeiT's distillation token comes with a class token",
            file=file,
            key="distillation_token",
            value=True,
            allowed="false, or class_token: true",
        )
    hidden = raw["hidden"]
    if hidden % raw["heads"]:
        raise UserError(
            "hidden size does not split into the heads",
            file=file,
            key="heads",
            value=raw["heads"],
            allowed=f"a divisor of hidden ({hidden})",
        )
    heads = [h for h in ("connector", "classifier", "pooling") if h in raw]
    if len(heads) > 1:
        raise UserError(
            "more than one head",
            file=file,
            key="/".join(heads),
            allowed="at most one of connector, classifier, pooling",
        )
    if "connector" in raw:
        if tokens_in or raw["class_token"]:
            raise UserError(
                "the pixel shuffle regroups the patch grid; a class token does not fit in it",
                file=file,
                key="class_token",
                value=True,
                allowed="false with a connector",
            )
        side, scale = raw["image_size"] // raw["patch_size"], raw["connector"]["scale_factor"]
        if side % scale:
            raise UserError(
                "pixel shuffle does not tile the patch grid",
                file=file,
                key="connector.scale_factor",
                value=scale,
                allowed=f"a divisor of the patch grid side image_size // patch_size = {side}",
            )
    if "classifier" in raw:
        have = 1 if tokens_in else int(raw["class_token"]) + int(raw["distillation_token"])
        want = raw["classifier"]["tokens"]
        if want > have:
            raise UserError(
                "a classifier reads a class token and the model has fewer",
                file=file,
                key="classifier.tokens" if have else "class_token",
                value=want if have else False,
                allowed=f"at most {have} (class_token + distillation_token)"
                if have
                else "true with a classifier (or use pooling:)",
            )
    if "pooling" in raw:
        ph = raw["pooling"].get("heads", raw["heads"])
        if hidden % ph:
            raise UserError(
                "hidden size does not split into the heads of the pooling head",
                file=file,
                key="pooling.heads",
                value=ph,
                allowed=f"a divisor of hidden ({hidden})",
            )
    macs = Workload.from_mapping(raw).macs_per_image * raw.get("cameras", 1)
    if macs > MAX_MACS_PER_CALL:
        raise UserError(
            f"the encoder needs {macs:.3g} MACs per policy call",
            file=file,
            key="image_size/patch_size/hidden/mlp/layers/cameras",
            allowed=f"at most {MAX_MACS_PER_CALL:.0e} MACs (17 minutes per call at 10 TOPS)",
        )


#: Work per policy call beyond any FPGA's reach (smolVLA: 0.32 TMAC per call); the bound also
#: keeps every count of the kernel table well inside int64.
MAX_MACS_PER_CALL = 10**16


@dataclass(frozen=True)
class Workload:
    """The kernels of one encoder pass and the number of images per policy call."""

    name: str
    kernels: tuple[Kernel, ...]
    cameras: int
    tokens: int
    hidden: int
    quality_penalty: dict[str, float] = field(default_factory=dict)
    quality_sensitivity: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> Workload:
        """Build the kernel table from a validated model mapping (missing keys take the schema's
        defaults; ``cameras``, a setting of the run, defaults to 1).

        Stem: the patch embedding (a GEMM over the patches only: a class token is a learned row,
        not a patch) or, for token input, the embedding sums. Layers: pre-LN ViT/SigLIP layers (a
        post-LN layer such as BERT's has the same work). Head, after the last layer:

        - ``connector``: SmolVLM's pixel shuffle and its projection;
        - ``classifier``: a linear classifier on each class token (M = 1);
        - ``pooling``: SigLIP's attention-pooling head (a probe query attends over every token,
          then LayerNorm and an MLP on the one pooled token).

        Kernel classes: every weight GEMM of a head is ``embed`` (head work that, like the patch
        embedding, feeds everything downstream); the pooling head's score and context products
        are ``attention`` (activation x activation) but are not fused by ``fuse_attention``, which
        concerns the layers' attention.
        """
        from dse.config import with_defaults

        raw = with_defaults(raw, "model")
        d, h, f, layers = raw["hidden"], raw["heads"], raw["mlp"], raw["layers"]
        if raw["input"] == "tokens":
            patches, s = 0, raw["sequence_length"]
        else:
            side = raw["image_size"] // raw["patch_size"]
            patches = side * side
            s = patches + int(raw["class_token"]) + int(raw["distillation_token"])  # tokens
        dh = d // h
        ops = raw["vector_ops"]
        L = layers

        def vec(
            name,
            rows,
            cols,
            count,
            op,
            *,
            epi=None,
            group="layer",
            attention=False,
            instances=1,
            rw=(1, 1),
            op_count=1,
        ):
            e = rows * cols
            return Kernel(
                name,
                VECTOR,
                rows,
                0,
                cols,
                count,
                instances=instances,
                ops_per_element=float(ops[op] * op_count),
                read_elems=rw[0] * e,
                write_elems=rw[1] * e,
                epilogue_of=epi,
                attention=attention,
                group=group,
                op=op,
            )

        def attention_gemm(name, kdim, ndim):
            return Kernel(
                name,
                GEMM,
                s,
                kdim,
                ndim,
                L * h,
                instances=h,
                weight_operand=False,
                attention=True,
                cls="attention",
            )

        k: list[Kernel] = []
        if raw["input"] == "tokens":
            # word embedding rows gathered, the position and token-type rows added (BERT)
            tables = int(raw["position_embedding"]) + int(raw["token_type_embedding"])
            k.append(
                vec(
                    "token_embed",
                    s,
                    d,
                    1,
                    "position",
                    group="stem",
                    rw=(1 + tables, 1),
                    op_count=tables,
                )
            )
        else:
            patch_k = raw["channels"] * raw["patch_size"] ** 2
            k += [
                Kernel("patch_embed", GEMM, patches, patch_k, d, 1, group="stem", cls="embed"),
                vec("patch_bias", patches, d, 1, "bias", epi="patch_embed", group="stem"),
            ]
            if raw["position_embedding"]:
                # every token, class tokens included (their rows are learned constants: the
                # epilogue of the patch embedding writes them beside the patches)
                k.append(vec("position_add", s, d, 1, "position", epi="patch_embed", group="stem"))
        if raw["embedding_layernorm"]:
            k.append(vec("embed_layernorm", s, d, 1, "layernorm", group="stem"))
        k += [
            vec("ln1", s, d, L, "layernorm"),
            Kernel("q_proj", GEMM, s, d, d, L, cls="proj"),
            Kernel("k_proj", GEMM, s, d, d, L, cls="proj"),
            Kernel("v_proj", GEMM, s, d, d, L, cls="proj"),
        ]
        if raw["qkv_bias"]:
            k += [vec(f"{x}_bias", s, d, L, "bias", epi=f"{x}_proj") for x in "qkv"]
        k += [
            attention_gemm("attn_scores", dh, s),  # Q . K^T per head
            vec("softmax", s, s, L * h, "softmax", instances=h, attention=True),
            attention_gemm("attn_context", s, dh),  # P . V per head
            Kernel("out_proj", GEMM, s, d, d, L, cls="proj"),
            vec("out_bias", s, d, L, "bias", epi="out_proj"),
            vec("residual1", s, d, L, "residual", epi="out_proj"),
            vec("ln2", s, d, L, "layernorm"),
            Kernel("fc1", GEMM, s, d, f, L, cls="mlp"),
            vec("fc1_bias", s, f, L, "bias", epi="fc1"),
            vec("gelu", s, f, L, "gelu", epi="fc1"),
            Kernel("fc2", GEMM, s, f, d, L, cls="mlp"),
            vec("fc2_bias", s, d, L, "bias", epi="fc2"),
            vec("residual2", s, d, L, "residual", epi="fc2"),
        ]
        if raw["final_layernorm"]:
            k.append(vec("post_layernorm", s, d, 1, "layernorm", group="head"))
        if "connector" in raw:
            k += _connector(raw["connector"], s, d, raw["image_size"] // raw["patch_size"], vec)
        elif "classifier" in raw:
            c = raw["classifier"]
            n = c["classes"]
            # one Linear per class token (DeiT distilled: class and distillation heads)
            k.append(Kernel("classifier", GEMM, 1, d, n, c["tokens"], group="head", cls="embed"))
            if c["bias"]:
                k.append(
                    vec(
                        "classifier_bias", 1, n, c["tokens"], "bias", epi="classifier", group="head"
                    )
                )
        elif "pooling" in raw:
            k += _pooling(raw["pooling"], s, d, h, f, vec)
        return cls(
            name=raw["name"],
            kernels=tuple(k),
            cameras=raw.get("cameras", 1),
            tokens=s,
            hidden=d,
            quality_penalty=dict(raw["quality"]["penalty"]),
            quality_sensitivity=dict(raw["quality"]["sensitivity"]),
        )

    @property
    def gemms(self) -> tuple[Kernel, ...]:
        return tuple(k for k in self.kernels if k.kind == GEMM)

    @property
    def macs_per_image(self) -> int:
        return sum(k.macs for k in self.kernels)

    def uniform_quality_loss(self, precision: str) -> float:
        """The quality proxy of a uniform design (every class, weights and activations at
        ``precision``): sum over classes of MAC share x sensitivity x (2 x penalty). The model
        computes the same figure per design (``Model._quality``)."""
        total = float(sum(k.macs for k in self.gemms)) or 1.0
        pen = 2.0 * self.quality_penalty.get(precision, 0.0)
        return sum(
            k.macs / total * self.quality_sensitivity.get(k.cls, 1.0) * pen for k in self.gemms
        )

    @property
    def ops_per_image(self) -> float:
        """GEMM ops per image (2 per MAC): the figure behind achieved TOPS."""
        return 2.0 * self.macs_per_image

    def table(self) -> pd.DataFrame:
        """The kernel table as a DataFrame, with per-image and per-call work."""
        df = pd.DataFrame([asdict(k) for k in self.kernels])
        df["macs_per_image"] = [k.macs for k in self.kernels]
        df["vector_ops_per_image"] = [k.vector_ops for k in self.kernels]
        df["macs_per_call"] = df["macs_per_image"] * self.cameras
        df["vector_ops_per_call"] = df["vector_ops_per_image"] * self.cameras
        return df


def _connector(c: dict[str, Any], s: int, d: int, side: int, vec) -> list[Kernel]:
    """SmolVLM's connector: pixel shuffle [s, d] -> [s / r^2, d r^2], then Linear -> out."""
    r, out = c["scale_factor"], c["out_features"]
    m, kk = (side // r) ** 2, d * r * r
    k = [
        vec("pixel_shuffle", s, d, 1, "pixel_shuffle", group="head"),
        Kernel("connector", GEMM, m, kk, out, 1, group="head", cls="embed"),
    ]
    if c["bias"]:
        k.append(vec("connector_bias", m, out, 1, "bias", epi="connector", group="head"))
    return k


def _pooling(p: dict[str, Any], s: int, d: int, heads: int, mlp: int, vec) -> list[Kernel]:
    """SigLIP's attention-pooling head (nn.MultiheadAttention with one probe query, then
    LayerNorm, MLP and a residual on the pooled token)."""
    h, f = p.get("heads", heads), p.get("mlp", mlp)
    dh = d // h

    def gemm(name, m, kk, n, *, count=1, instances=1, weights=True, cls="embed"):
        return Kernel(
            name,
            GEMM,
            m,
            kk,
            n,
            count,
            instances=instances,
            weight_operand=weights,
            group="head",
            cls=cls,
        )

    k = [
        gemm("pool_q_proj", 1, d, d),  # probe . Wq
        gemm("pool_k_proj", s, d, d),  # every token . Wk
        gemm("pool_v_proj", s, d, d),
    ]
    if p["bias"]:
        k += [
            vec(f"pool_{x}_bias", m, d, 1, "bias", epi=f"pool_{x}_proj", group="head")
            for x, m in (("q", 1), ("k", s), ("v", s))
        ]
    k += [
        gemm("pool_scores", 1, dh, s, count=h, instances=h, weights=False, cls="attention"),
        vec("pool_softmax", 1, s, h, "softmax", instances=h, group="head"),
        gemm("pool_context", 1, s, dh, count=h, instances=h, weights=False, cls="attention"),
        gemm("pool_out_proj", 1, d, d),
    ]
    if p["bias"]:
        k.append(vec("pool_out_bias", 1, d, 1, "bias", epi="pool_out_proj", group="head"))
    k += [
        vec("pool_layernorm", 1, d, 1, "layernorm", group="head"),
        gemm("pool_fc1", 1, d, f),
        vec("pool_fc1_bias", 1, f, 1, "bias", epi="pool_fc1", group="head"),
        vec("pool_gelu", 1, f, 1, "gelu", epi="pool_fc1", group="head"),
        gemm("pool_fc2", 1, f, d),
        vec("pool_fc2_bias", 1, d, 1, "bias", epi="pool_fc2", group="head"),
        vec("pool_residual", 1, d, 1, "residual", epi="pool_fc2", group="head"),
    ]
    return k
