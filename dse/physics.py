"""Cross-checks of input facts against physics, which a schema's ranges cannot express: the
width each precision's name fixes, the MACs one DSP48E2 can hold, quality penalties that grow
as precision shrinks, and a timing model whose base clock the kernel clock cap would clip.

Each check raises a one-line :class:`UserError` naming the file, the key, the value and why it
is impossible. Nothing is clamped in silence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dse.errors import UserError

#: Bits per element that each precision's name fixes (IEEE 754 binary32; bfloat16; 8- and
#: 4-bit integers).
BITS = {"FP32": 32, "BF16": 16, "INT8": 8, "INT4": 4}

#: Significand bits a multiplier sees per precision: FP32 24 (23 stored + the hidden bit),
#: BF16 8 (7 + 1), integers their width.
SIGNIFICAND_BITS = {"FP32": 24, "BF16": 8, "INT8": 8, "INT4": 4}

#: DSP48E2 multiplier: 27 x 18 bits, a 45-bit product (doc UG579, "DSP48E2 slice"). Every
#: platform dse ships is UltraScale+ (DSP48E2).
DSP_A_BITS, DSP_B_BITS = 27, 18
DSP_PRODUCT_BITS = DSP_A_BITS + DSP_B_BITS

#: Precisions from the most to the least precise (a quality penalty may not fall along it).
ORDER = ("FP32", "BF16", "INT8", "INT4")


def max_macs_per_dsp(weight: str, act: str) -> float:
    """The most MACs per cycle one DSP48E2 can hold for a weight x activation pair.

    Packed products of ``w`` x ``a`` significand bits must sit side by side in the 45-bit
    product: at most floor(45 / (w + a)) of them (INT8 x INT8: 2, as AMD's WP486 packs; INT4:
    5). A product wider than the multiplier takes several DSPs: ceil(w / 27) x ceil(a / 18),
    the better orientation (FP32: 24 x 24 needs 2, so at most 0.5 MACs per DSP).
    """
    w, a = SIGNIFICAND_BITS[weight], SIGNIFICAND_BITS[act]
    if max(w, a) <= DSP_A_BITS and min(w, a) <= DSP_B_BITS:
        return float(max(1, DSP_PRODUCT_BITS // (w + a)))
    dsps = min(
        math.ceil(w / DSP_A_BITS) * math.ceil(a / DSP_B_BITS),
        math.ceil(a / DSP_A_BITS) * math.ceil(w / DSP_B_BITS),
    )
    return 1.0 / dsps


def check_platform(raw: Mapping[str, Any], *, file: str) -> None:
    """Precision widths, MACs per DSP and the timing model's base clock of a schema-valid
    platform mapping.

    Raises:
        UserError: naming the platform file, the key, the value and the physical bound.
    """
    precs = raw["precisions"]
    for name, entry in precs.items():
        if name not in BITS:
            continue  # the schema names the precisions
        if entry["bits"] != BITS[name]:
            raise UserError(
                f"{name} has {BITS[name]} bits per element by definition",
                file=file,
                key=f"precisions.{name}.bits",
                value=entry["bits"],
                allowed=str(BITS[name]),
            )
        bound = max_macs_per_dsp(name, name)
        if entry["macs_per_dsp"] > bound:
            raise UserError(
                f"more {name} MACs than one DSP48E2 holds (27 x 18-bit multiplier: "
                f"{SIGNIFICAND_BITS[name]}-bit significands)",
                file=file,
                key=f"precisions.{name}.macs_per_dsp",
                value=entry["macs_per_dsp"],
                allowed=f"at most {bound:g}",
            )
    for pair, macs in (raw.get("mixed_mac") or {}).items():
        weight, act = pair.split("x")
        bound = max_macs_per_dsp(weight, act)
        if macs > bound:
            raise UserError(
                f"more {pair} MACs than one DSP48E2 holds (27 x 18-bit multiplier)",
                file=file,
                key=f"mixed_mac.{pair}",
                value=macs,
                allowed=f"at most {bound:g}",
            )
    base, cap = raw["timing"]["base_mhz"], raw["clock"]["max_kernel_mhz"]
    if base > cap:
        raise UserError(
            "the timing model's base clock is above the kernel clock cap (it would be clipped "
            "to the cap in silence)",
            file=file,
            key="timing.base_mhz",
            value=base,
            allowed=f"at most clock.max_kernel_mhz ({cap:g})",
        )


def check_quality(model: Mapping[str, Any], *, file: str) -> None:
    """Quality penalties of a model (defaults filled in) that never fall as precision shrinks
    (FP32 <= BF16 <= INT8 <= INT4: fewer significand bits, more quantisation noise).

    Raises:
        UserError: naming the key whose penalty is below a more precise format's.
    """
    pen = (model.get("quality") or {}).get("penalty") or {}
    for finer, coarser in zip(ORDER, ORDER[1:], strict=False):
        if finer in pen and coarser in pen and pen[coarser] < pen[finer]:
            raise UserError(
                f"{coarser} quantises more coarsely than {finer}, so its penalty cannot be "
                "lower",
                file=file,
                key=f"quality.penalty.{coarser}",
                value=pen[coarser],
                allowed=f">= quality.penalty.{finer} ({pen[finer]:g})",
            )


__all__ = ["BITS", "check_platform", "check_quality", "max_macs_per_dsp"]
