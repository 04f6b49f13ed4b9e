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

    @property
    def macs(self) -> int:
        """MACs per image (GEMM only)."""
        return self.m * self.k * self.n * self.count if self.kind == GEMM else 0

    @property
    def vector_ops(self) -> float:
        """Vector-unit operations per image."""
        return self.m * self.n * self.count * self.ops_per_element if self.kind == VECTOR else 0.0


def check_model(raw: dict[str, Any], *, file: str = "model") -> None:
    """Checks across fields of a schema-valid model mapping (each field's range is in
    workflow/schemas/model.schema.yaml): the patch grid, the heads and the pixel shuffle fit.

    Raises:
        UserError: naming the file, the key, the value and what is allowed.
    """
    image, patch = raw["image_size"], raw["patch_size"]
    if patch > image:
        raise UserError(
            "patch larger than the image",
            file=file,
            key="patch_size",
            value=patch,
            allowed=f"1..image_size ({image})",
        )
    if raw["hidden"] % raw["heads"]:
        raise UserError(
            "hidden size does not split into the heads",
            file=file,
            key="heads",
            value=raw["heads"],
            allowed=f"a divisor of hidden ({raw['hidden']})",
        )
    side, scale = image // patch, raw["connector"]["scale_factor"]
    if side % scale:
        raise UserError(
            "pixel shuffle does not tile the patch grid",
            file=file,
            key="connector.scale_factor",
            value=scale,
            allowed=f"a divisor of the patch grid side image_size // patch_size = {side}",
        )
    macs = Workload.from_mapping(raw).macs_per_image * raw["cameras"]
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
        """Build the SigLIP/ViT kernel table from a validated model mapping."""
        side = raw["image_size"] // raw["patch_size"]
        s = side * side + (1 if raw["class_token"] else 0)  # tokens
        d, h, f, layers = raw["hidden"], raw["heads"], raw["mlp"], raw["layers"]
        dh = d // h
        ops = raw["vector_ops"]
        patch_k = raw["channels"] * raw["patch_size"] ** 2
        scale = raw["connector"]["scale_factor"]
        conn_m, conn_k = (side // scale) ** 2, d * scale * scale
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
                ops_per_element=float(ops[op]),
                read_elems=rw[0] * e,
                write_elems=rw[1] * e,
                epilogue_of=epi,
                attention=attention,
                group=group,
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

        k: list[Kernel] = [
            Kernel("patch_embed", GEMM, s, patch_k, d, 1, group="stem", cls="embed"),
            vec("patch_bias", s, d, 1, "bias", epi="patch_embed", group="stem"),
        ]
        if raw["position_embedding"]:
            k.append(vec("position_add", s, d, 1, "position", epi="patch_embed", group="stem"))
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
        k += [
            vec("pixel_shuffle", s, d, 1, "pixel_shuffle", group="head"),
            Kernel(
                "connector",
                GEMM,
                conn_m,
                conn_k,
                raw["connector"]["out_features"],
                1,
                group="head",
                cls="embed",
            ),
        ]
        if raw["connector"]["bias"]:
            k.append(
                vec(
                    "connector_bias",
                    conn_m,
                    raw["connector"]["out_features"],
                    1,
                    "bias",
                    epi="connector",
                    group="head",
                )
            )
        q = raw.get("quality", {})
        return cls(
            name=raw["name"],
            kernels=tuple(k),
            cameras=raw["cameras"],
            tokens=s,
            hidden=d,
            quality_penalty=dict(q.get("penalty", {})),
            quality_sensitivity=dict(q.get("sensitivity", {})),
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
