"""Short human labels for designs: what a design is, not its hash (``INT8 3×32·4·32 @250``).

A label names the precisions as the kernels use them (canonical form, dse.canonical), the compute
units and PE array, and the clock:

- ``INT8 3×32·4·32 @250``: INT8 weights and activations everywhere; 3 CUs of pe_m·pe_n·pe_k =
  32·4·32 MACs per cycle; 250 MHz;
- ``W BF16 A INT8 …``: weights and activations differ (weights first);
- ``INT8 (mlp INT4, attn BF16) …``: classes that run at another precision than the one in front
  (attention against the activations, the other classes against the weights).

Two designs with the same label may still differ in tiles, channels or buffers; the label is for
reading plots and tables, ``design_id`` stays the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dse.canonical import canonical
from dse.params import CLASS_PRECISIONS, KERNEL_CLASSES, PRECISIONS

#: Short class names used in labels.
CLASS_SHORT = {"embed": "embed", "proj": "proj", "attention": "attn", "mlp": "mlp"}


def _code(values: tuple[str, ...], value: Any, name: str) -> int:
    text = str(value)
    if text not in values:
        raise ValueError(f"{name}: {text!r} is not one of {', '.join(values)}")
    return values.index(text)


def precision_label(row: Mapping[str, Any]) -> str:
    """The precision part of a label (``INT8``, ``W BF16 A INT8``, ``INT8 (mlp INT4)``)."""
    batch = {
        "weight_precision": np.array([_code(PRECISIONS, row["weight_precision"], "weight")]),
        "act_precision": np.array([_code(PRECISIONS, row["act_precision"], "act")]),
    }
    for c in KERNEL_CLASSES:
        batch[f"prec_{c}"] = np.array(
            [_code(CLASS_PRECISIONS, row.get(f"prec_{c}", "same"), f"prec_{c}")]
        )
    canon = canonical(batch)
    w = PRECISIONS[int(canon["weight_precision"][0])]
    a = PRECISIONS[int(canon["act_precision"][0])]
    text = w if w == a else f"W {w} A {a}"
    extra = [
        f"{CLASS_SHORT[c]} {CLASS_PRECISIONS[int(canon[f'prec_{c}'][0])]}"
        for c in KERNEL_CLASSES
        if int(canon[f"prec_{c}"][0]) != 0
    ]
    return f"{text} ({', '.join(extra)})" if extra else text


def design_label(row: Mapping[str, Any]) -> str:
    """``<precisions> <CUs>×<pe_m>·<pe_n>·<pe_k> @<clock MHz>``, e.g. ``INT8 3×32·4·32 @250``.

    Args:
        row: one design's parameters (a result row as a dict or a pandas Series; categoricals as
            strings, as Parquet stores them).
    """
    pe = "·".join(str(int(row[f"pe_{d}"])) for d in "mnk")
    return f"{precision_label(row)} {int(row['compute_units'])}×{pe} @{int(row['clock_mhz'])}"


def design_labels(frame: Any) -> list[str]:
    """:func:`design_label` of every row of a DataFrame (for the handful of rows a table or a
    plot annotates)."""
    return [design_label(r) for r in frame.to_dict("records")]


__all__ = ["CLASS_SHORT", "design_label", "design_labels", "precision_label"]
