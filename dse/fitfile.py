"""Write fitted constants into a platform file's text, keeping its layout and other comments.

A platform file is YAML with one figure per line and its source in the line's comment
(``lut_per_bank: 24   # assumption: ...``). :func:`apply_fit` replaces the value and the comment
of each fitted key (a dotted path such as ``precisions.INT8.lut_per_mac`` or
``timing.knee.lut``) with the fitted value and ``fit: <dataset>, ...``, and writes the held-out
intervals as an ``uncertainty:`` section (replacing an old one). The text stays valid for the
platform schema; nothing is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Keys written as whole numbers: integers in the platform schema, and ``logic.lut_per_bank``,
#: which multiplies dse/hardware.py's float32 bank tables (a fraction there rounds differently
#: with the batch's size, so a design's LUTs would depend on what it is evaluated with).
INTEGER_KEYS = ("logic.pipeline_fill_cycles", "logic.lutram_max_depth", "logic.fadd_stages",
                "logic.lut_per_bank")

#: Column where comments start (as the shipped files align them).
COMMENT_COLUMN = 49

_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_]+):(?P<rest>.*)$")
_INLINE = re.compile(r"^\s*\{(?P<body>[^}]*)\}\s*(?P<comment>#.*)?$")


def _format(key: str, value: float) -> str:
    if key in INTEGER_KEYS:
        return str(int(round(value)))
    if value == 0:
        return "0.0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _line(indent: str, key: str, value: str, comment: str) -> str:
    head = f"{indent}{key}: {value}"
    return head.ljust(COMMENT_COLUMN - 1) + " # " + comment if comment else head


def apply_fit(
    text: str,
    constants: Mapping[str, float],
    comments: Mapping[str, str],
    uncertainty: Mapping[str, tuple[float, float]] | None = None,
    uncertainty_comment: str = "",
) -> str:
    """The platform text with ``constants`` replaced (each line's comment becomes
    ``comments[key]``) and an ``uncertainty:`` section of ``quantity: {lo, hi}`` lines.

    Keys written as one inline mapping (``knee: {lut: 0.4, ...}``) are not expected: the shipped
    files give one key per line. A key that is not in the text is skipped.
    """
    lines = text.splitlines()
    stack: list[tuple[int, str]] = []
    out: list[str] = []
    skip_indent: int | None = None
    for raw in lines:
        m = _LINE.match(raw)
        if skip_indent is not None:  # inside an old uncertainty section: drop it
            if raw.strip() == "" or (m and len(m["indent"]) > skip_indent) or (
                not m and raw.startswith(" ")
            ):
                continue
            skip_indent = None
        if not m or raw.lstrip().startswith("#") or raw.lstrip().startswith("-"):
            out.append(raw)
            continue
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [m["key"]])
        if indent == 0 and m["key"] == "uncertainty" and uncertainty is not None:
            skip_indent = 0
            continue
        rest = m["rest"]
        value_part = rest.split("#", 1)[0].strip()
        if value_part == "":
            stack.append((indent, m["key"]))
            out.append(raw)
            continue
        if path in constants:
            out.append(_line(m["indent"], m["key"], _format(path, constants[path]),
                             comments.get(path, "")))
        else:
            out.append(raw)
    while out and out[-1].strip() == "":
        out.pop()
    if uncertainty:
        out.append("")
        out.append(
            _line("", "uncertainty", "", uncertainty_comment).replace(": ", ":", 1)
            if uncertainty_comment
            else "uncertainty:"
        )
        for q, (lo, hi) in uncertainty.items():
            out.append(f"  {q}: {{lo: {lo:.3f}, hi: {hi:.3f}}}")
    return "\n".join(out) + "\n"
