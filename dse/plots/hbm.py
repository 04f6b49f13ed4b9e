"""HBM: which pseudo-channel carries which stream of which compute unit."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from dse.plots.common import STREAM_COLORS, is_light, new_figure, save

_SHARED_WEIGHTS_COLOR = "#56B4E9"

_UNUSED_COLOR = "#EEEEEE"

_STREAMS = ("weights", "inputs", "outputs")


def plot_hbm(
    allocation: Mapping[Any, Sequence[Mapping[str, Sequence[int]]]],
    out: str | os.PathLike[str],
    *,
    pseudo_channels: int = 32,
    title: str | None = None,
) -> Path:
    """HBM pseudo-channel map: one row per design, one column per PC, coloured by stream.

    Args:
        allocation: per design id, one dict per compute unit (CU, numbered from 0 in list order)
            mapping ``weights`` / ``inputs`` / ``outputs`` to the PC indices it uses. A PC in the
            ``weights`` of several CUs is drawn as shared; a PC carrying several streams is split.
        out: image path (format from the suffix, PNG by default).
        pseudo_channels: number of PCs (columns), ``HBM[0]`` .. ``HBM[pseudo_channels-1]``.
        title: figure title.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: a PC index outside ``0 .. pseudo_channels-1`` or an unknown stream name.
    """
    fig = figure(allocation, pseudo_channels=pseudo_channels, title=title)
    return save(fig, out)


def figure(
    allocation: Mapping[Any, Sequence[Mapping[str, Sequence[int]]]],
    *,
    pseudo_channels: int,
    title: str | None,
) -> Figure:
    if pseudo_channels < 1:
        raise ValueError(f"pseudo_channels must be >= 1, got {pseudo_channels!r}")
    designs = [str(d) for d in allocation]
    n_rows = max(len(designs), 1)
    fig = new_figure(max(13.0, 0.36 * pseudo_channels + 2.5), 1.9 + 0.55 * n_rows)
    ax = fig.add_subplot()
    any_shared = any_mixed = False

    for row, (design, cus) in enumerate(allocation.items()):
        cells: dict[int, dict[str, list[int]]] = {}
        for cu, streams in enumerate(cus):
            for stream, pcs in streams.items():
                if stream not in _STREAMS:
                    raise ValueError(
                        f"design {design}, CU {cu}: unknown stream {stream!r}; "
                        f"allowed: {', '.join(_STREAMS)}"
                    )
                for pc in pcs:
                    if not 0 <= int(pc) < pseudo_channels:
                        raise ValueError(
                            f"design {design}, CU {cu}, {stream}: HBM[{pc}] outside "
                            f"HBM[0]..HBM[{pseudo_channels - 1}]"
                        )
                    cells.setdefault(int(pc), {}).setdefault(stream, []).append(cu)
        yb = row + 0.08
        for pc in range(pseudo_channels):
            streams = cells.get(pc, {})
            if not streams:
                ax.add_patch(Rectangle((pc + 0.04, yb), 0.92, 0.84, color=_UNUSED_COLOR, lw=0))
                continue
            present = [s for s in _STREAMS if s in streams]
            any_mixed |= len(present) > 1
            part = 0.92 / len(present)
            for i, s in enumerate(present):
                cus_here = sorted(set(streams[s]))
                shared = s == "weights" and len(cus_here) > 1
                any_shared |= shared
                face = _SHARED_WEIGHTS_COLOR if shared else STREAM_COLORS[s]
                x0 = pc + 0.04 + i * part
                ax.add_patch(
                    Rectangle(
                        (x0, yb),
                        part,
                        0.84,
                        facecolor=face,
                        edgecolor=STREAM_COLORS["weights"] if shared else "none",
                        hatch="////" if shared else None,
                        lw=0.8 if shared else 0,
                    )
                )
                text = _cu_list(cus_here)
                ax.text(
                    x0 + part / 2,
                    row + 0.5,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7 if len(text) <= 3 and len(present) == 1 else 6,
                    color="black" if is_light(face) else "white",
                    bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.8)
                    if shared
                    else None,
                )
        used = len(cells)
        ax.text(
            pseudo_channels + 0.2,
            row + 0.5,
            f"{len(cus)} CU{'s' * (len(cus) != 1)}\n{used}/{pseudo_channels} PCs used",
            va="center",
            ha="left",
            fontsize=8,
        )

    if pseudo_channels % 2 == 0 and pseudo_channels >= 4:
        half = pseudo_channels // 2
        ax.axvline(half, color="black", lw=1.2)
        ax.text(half / 2, -0.05, "HBM stack 0", ha="center", va="bottom", fontsize=8)
        ax.text(half * 1.5, -0.05, "HBM stack 1", ha="center", va="bottom", fontsize=8)
    ax.set_xlim(0, pseudo_channels)
    ax.set_ylim(n_rows, -0.45)
    ax.set_xticks(
        np.arange(pseudo_channels) + 0.5,
        [f"HBM[{i}]" for i in range(pseudo_channels)],
        rotation=90,
        fontsize=7,
    )
    ax.set_yticks(np.arange(len(designs)) + 0.5, designs)
    ax.set_xlabel("HBM pseudo-channel (cell text: compute unit numbers using it)")
    ax.set_ylabel("design")
    ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)

    handles = [Patch(color=STREAM_COLORS[s], label=f"{s} (one CU)") for s in _STREAMS]
    handles[0].set_label("weights (one CU)")
    handles[1].set_label("input activations")
    handles[2].set_label("outputs")
    if any_shared:
        handles.append(
            Patch(
                facecolor=_SHARED_WEIGHTS_COLOR,
                edgecolor=STREAM_COLORS["weights"],
                hatch="////",
                label="weights shared by several CUs",
            )
        )
    if any_mixed:
        handles.append(
            Patch(facecolor="white", edgecolor="0.5", label="split cell: several streams on one PC")
        )
    handles.append(Patch(color=_UNUSED_COLOR, label="unused"))
    fig.legend(
        handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False
    )
    fig.suptitle(
        title or "HBM pseudo-channel allocation per design (colour: stream; text: CU)", fontsize=12
    )
    return fig


def _cu_list(cus: Sequence[int]) -> str:
    """Compact CU numbers: ``3``, ``0,2``, ``0–7``."""
    if len(cus) == 1:
        return str(cus[0])
    if list(cus) == list(range(cus[0], cus[-1] + 1)) and len(cus) > 2:
        return f"{cus[0]}–{cus[-1]}"
    return ",".join(map(str, cus)) if len(cus) <= 3 else f"{len(cus)} CUs"
