"""``dse workload``: a model's kernels, work per image and per policy call, parameters and tokens.

Reads any model file ``dse`` accepts (a YAML model or a Hugging Face ``config.json``) through the
same loader a run uses, so the figures are those the model costs.

Counts:

- GMAC: multiply-accumulates of the GEMM kernels (what timm and fvcore call "GMACs" or, loosely,
  "GFLOPs"); GFLOP: 2 per MAC plus the vector unit's operations (LayerNorm, softmax, GELU, bias,
  residual; ``vector_ops`` of the model file);
- parameters: the weights a checkpoint stores for what is modelled: every static-weight GEMM
  (K x N per execution per image, so per layer), the biases of the GEMMs (one per output column),
  LayerNorm scale and shift, the position embedding (one row per token), the class and
  distillation tokens and the pooling head's probe. A token-input model's word-embedding table
  is not modelled (its vocabulary is not part of the work), so it is not counted.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import Any

import pandas as pd

from dse.errors import UserError

HELP = "print a model's kernels, GMAC/GFLOP per image and per call, parameters and tokens"

#: Vector kernels holding LayerNorm parameters (scale and shift per column).
_LAYERNORMS = ("ln1", "ln2", "embed_layernorm", "post_layernorm", "pool_layernorm")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model file: YAML or Hugging Face config.json")
    p.add_argument(
        "--cameras",
        type=int,
        default=1,
        help="images per policy call (default 1; smolVLA's run config uses 3)",
    )
    p.add_argument(
        "--format",
        choices=("md", "csv", "json"),
        default="md",
        help="md: summary and kernel table (default); csv: the kernel table; json: everything",
    )


def parameters(workload: Any, raw: dict[str, Any]) -> dict[str, int]:
    """Parameter counts by kind (module docstring) and their ``total``."""
    weights = biases = norms = 0
    for k in workload.kernels:
        if k.kind == "gemm" and k.weight_operand:
            weights += k.k * k.n * k.count
        elif k.kind == "vector" and k.name.endswith("_bias"):
            biases += k.n * k.count
        elif k.kind == "vector" and k.name in _LAYERNORMS:
            norms += 2 * k.n * k.count
    embeddings = 0
    if raw.get("input", "image") == "image":
        patches = next((k.m for k in workload.kernels if k.name == "patch_embed"), 0)
        embeddings += (workload.tokens - patches) * workload.hidden  # class / distillation tokens
        if raw.get("position_embedding"):
            embeddings += workload.tokens * workload.hidden
    elif raw.get("position_embedding"):
        embeddings += workload.tokens * workload.hidden
    if any(k.name == "pool_q_proj" for k in workload.kernels):
        embeddings += workload.hidden  # the pooling head's probe query
    counts = {
        "weights": weights,
        "biases": biases,
        "layernorm": norms,
        "embeddings": embeddings,
    }
    counts["total"] = sum(counts.values())
    return counts


def kernel_table(workload: Any) -> pd.DataFrame:
    """One row per kernel: shape, executions, class and work per image and per call."""
    from dse.plots.breakdown import kernel_classes

    t = workload.table()
    classes = kernel_classes(workload)
    out = pd.DataFrame(
        {
            "kernel": t["name"],
            "kind": t["kind"],
            "class": t["name"].map(classes),
            "group": t["group"],
            "m": t["m"],
            "k": t["k"],
            "n": t["n"],
            "count": t["count"],
            "weights": t["weight_operand"] & (t["kind"] == "gemm"),
            "epilogue_of": t["epilogue_of"].fillna(""),
            "gmac_per_image": t["macs_per_image"] / 1e9,
            "vector_gop_per_image": t["vector_ops_per_image"] / 1e9,
            "gmac_per_call": t["macs_per_call"] / 1e9,
            "vector_gop_per_call": t["vector_ops_per_call"] / 1e9,
        }
    )
    total = out["gmac_per_image"].sum()
    out["mac_share"] = out["gmac_per_image"] / total if total else 0.0
    return out


def summary(workload: Any, raw: dict[str, Any], model_file: str) -> dict[str, Any]:
    """Totals of a workload (JSON-ready)."""
    macs = workload.macs_per_image
    vec = sum(k.vector_ops for k in workload.kernels)
    cams = workload.cameras
    return {
        "model": workload.name,
        "file": model_file,
        "input": raw.get("input", "image"),
        "image_size": raw.get("image_size"),
        "patch_size": raw.get("patch_size"),
        "tokens": workload.tokens,
        "hidden": workload.hidden,
        "layers": raw.get("layers"),
        "heads": raw.get("heads"),
        "mlp": raw.get("mlp"),
        "cameras": cams,
        "gmac_per_image": macs / 1e9,
        "gflop_per_image": (2 * macs + vec) / 1e9,
        "gemm_gflop_per_image": 2 * macs / 1e9,
        "vector_gop_per_image": vec / 1e9,
        "gmac_per_call": macs * cams / 1e9,
        "gflop_per_call": (2 * macs + vec) * cams / 1e9,
        "parameters": parameters(workload, raw),
    }


def markdown(s: dict[str, Any], table: pd.DataFrame) -> str:
    p = s["parameters"]
    shape = (
        f"{s['image_size']} px images, {s['patch_size']} px patches, "
        if s["input"] == "image"
        else "token input, "
    )
    lines = [
        f"# {s['model']} ({s['file']})",
        "",
        f"- shape: {shape}{s['tokens']:,} tokens, hidden {s['hidden']}, {s['layers']} layers, "
        f"{s['heads']} heads, MLP {s['mlp']}",
        f"- per image: {s['gmac_per_image']:.4g} GMAC; {s['gflop_per_image']:.4g} GFLOP "
        f"({s['gemm_gflop_per_image']:.4g} in GEMMs at 2 per MAC, "
        f"{s['vector_gop_per_image']:.3g} GOP on the vector unit)",
        f"- per policy call ({s['cameras']} image{'s' * (s['cameras'] != 1)}): "
        f"{s['gmac_per_call']:.4g} GMAC; {s['gflop_per_call']:.4g} GFLOP",
        f"- parameters: {p['total'] / 1e6:.2f} M ({p['weights'] / 1e6:.2f} M GEMM weights, "
        f"{p['biases'] / 1e3:.1f} k biases, {p['layernorm'] / 1e3:.1f} k LayerNorm, "
        f"{p['embeddings'] / 1e3:.1f} k position / class-token / probe embeddings)",
        "",
        "| kernel | kind | class | M | K | N | per image | GMAC/image | share | vector GOP/image "
        "| fused into |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in table.to_dict("records"):
        lines.append(
            f"| {r['kernel']} | {r['kind']}{' (weights)' if r['weights'] else ''} | "
            f"{r['class']} | {r['m']} | {r['k'] or ''} | {r['n']} | {r['count']}× | "
            f"{r['gmac_per_image']:.4g} | {r['mac_share']:.1%} | {r['vector_gop_per_image']:.3g} "
            f"| {r['epilogue_of']} |"
        )
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from dse.config import load_model
    from dse.workload import Workload

    if args.cameras < 1:
        raise UserError(
            "must be positive", key="--cameras", value=args.cameras, allowed="an integer >= 1"
        )
    raw = load_model(args.model, cameras=args.cameras)
    workload = Workload.from_mapping(raw)
    table = kernel_table(workload)
    s = summary(workload, raw, str(args.model))
    if args.format == "csv":
        buf = io.StringIO()
        table.to_csv(buf, index=False)
        sys.stdout.write(buf.getvalue())
    elif args.format == "json":
        json.dump({**s, "kernels": table.to_dict("records")}, sys.stdout, indent=2, default=str)
        print()
    else:
        sys.stdout.write(markdown(s, table))
    return 0
