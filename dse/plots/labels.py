"""Label placement in display space: labels that avoid each other, lines and markers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def spread_positions(
    y: np.ndarray, gap: float, *, lo: float = -np.inf, hi: float = np.inf
) -> np.ndarray:
    """Move positions ``y`` as little as possible (least squares) so neighbours are ``gap`` apart
    and all stay within ``lo .. hi`` (when they fit)."""
    order = np.argsort(y, kind="stable")
    want = np.asarray(y, float)[order]
    ranks = np.arange(want.size)
    # The k-th from the top can sit no higher than hi - k*gap (the k-th from the bottom likewise),
    # which keeps every cluster of the least-squares solution inside the bounds.
    want = np.maximum(np.minimum(want, hi - ranks[::-1] * gap), lo + ranks * gap)
    clusters: list[list[float]] = []  # [first index, count, sum of wanted positions]
    for i, v in enumerate(want):
        clusters.append([i, 1, v])
        while len(clusters) > 1:
            a, b = clusters[-2], clusters[-1]
            a_top = a[2] / a[1] + (a[1] - 1) * gap / 2
            b_bottom = b[2] / b[1] - (b[1] - 1) * gap / 2
            if b_bottom - a_top >= gap:
                break
            clusters[-2:] = [[a[0], a[1] + b[1], a[2] + b[2]]]
    placed = np.empty_like(want)
    for first, count, total in clusters:
        first, count = int(first), int(count)
        centre = total / count
        placed[first : first + count] = centre + (np.arange(count) - (count - 1) / 2) * gap
    out = np.empty_like(placed)
    out[order] = placed
    return out


#: Where a leader line meets its label, as a fraction of the label box, by text alignment.
_RELPOS = {"left": 0.0, "center": 0.5, "right": 1.0, "bottom": 0.0, "top": 1.0}


class LabelPlacer:
    """Greedy label placement in display space.

    Each label takes the cheapest candidate position, trying the nearest first and stopping at the
    first that conflicts with nothing. A candidate conflicts when it leaves the axes, overlaps an
    earlier label (or the legend, or an existing text), covers an obstacle point (markers, sampled
    lines), or when its leader line crosses an earlier label or leader or passes by another
    marker. Labels away from their anchor, or next to another marker, get a leader line (drawn
    from the marker towards the label's centre, as :meth:`~matplotlib.axes.Axes.annotate` does).
    """

    _RADII_PX = (9, 18, 28, 40, 52, 64, 76, 90, 105, 120, 136, 152, 170, 190, 212, 236, 262)
    _LEADER_MIN_PX = 14

    def __init__(
        self,
        ax: Any,
        *,
        lines: Iterable[np.ndarray] = (),
        markers: np.ndarray | None = None,
        marker_radius_px: float = 7.0,
        avoid_legend: bool = False,
    ):
        """Prepare to label ``ax``.

        Args:
            ax: the axes, its layout final (see :func:`freeze_layout`).
            lines: polylines in data coordinates (N x 2 vertices) labels must not cover.
            markers: marker centres in data coordinates; labels keep ``marker_radius_px`` away.
            marker_radius_px: half a marker's size in display pixels.
            avoid_legend: keep labels off the axes' legend.
        """
        self.ax = ax
        self.fig = ax.figure
        self.renderer = self.fig.canvas.get_renderer()
        box = ax.get_window_extent(self.renderer)
        self.limits = (box.x0 + 3, box.y0 + 3, box.x1 - 3, box.y1 - 3)
        self.line_pts = _densify([ax.transData.transform(_finite(v)) for v in lines], step=3.0)
        m = _finite(markers if markers is not None else np.empty((0, 2)))
        self.markers = ax.transData.transform(m) if len(m) else np.empty((0, 2))
        self.marker_radius = marker_radius_px
        self.boxes: list[tuple[float, float, float, float]] = []
        self.leaders: list[tuple[float, float, float, float]] = []
        legend = ax.get_legend()
        if avoid_legend and legend is not None:
            lb = legend.get_window_extent(self.renderer)
            self.boxes.append((lb.x0, lb.y0, lb.x1, lb.y1))
        for text in ax.texts:
            tb = text.get_window_extent(self.renderer)
            self.boxes.append((tb.x0, tb.y0, tb.x1, tb.y1))

    def place(self, x: float, y: float, text: str, *, angles: Sequence[float], **text_kw: Any):
        """Annotate data point (``x``, ``y``) with ``text``; ``angles`` (degrees, 0 = right,
        90 = up) in order of preference."""
        probe = self.fig.text(0, 0, text, **text_kw)
        ext = probe.get_window_extent(self.renderer)
        probe.remove()
        w, h = ext.width + 6, ext.height + 4  # room for the background box
        ax0, ay0 = (float(v) for v in self.ax.transData.transform((x, y)))
        crowded = False
        if len(self.markers):
            dist = np.hypot(*(self.markers - (ax0, ay0)).T)
            crowded = bool(np.any((dist > 0.5) & (dist < 30)))
        best, best_cost = None, np.inf
        # Next to another marker a label keeps its distance so the leader line shows.
        radii = [r for r in self._RADII_PX if not crowded or r >= 28]
        for r in radii:
            for ang in angles:
                dx, dy = r * np.cos(np.radians(ang)), r * np.sin(np.radians(ang))
                va = "bottom" if dy > 0.3 * r else "top" if dy < -0.3 * r else "center"
                if abs(dx) > 0.3 * r:
                    has = ("left",) if dx > 0 else ("right",)
                else:  # straight up or down: the text may also start or end at the anchor
                    has = ("left", "right", "center")
                for ha in has:
                    x0 = ax0 + dx - {"left": 4, "right": w - 4, "center": w / 2}[ha]
                    y0 = ay0 + dy - {"bottom": 0, "top": h, "center": h / 2}[va]
                    box = (x0, y0, x0 + w, y0 + h)
                    leader = r > self._LEADER_MIN_PX or crowded
                    # The leader ends at the box's anchor-side point (annotate's relpos).
                    rx, ry = _RELPOS[ha], _RELPOS[va]
                    seg = (ax0, ay0, x0 + rx * w, y0 + ry * h) if leader else None
                    cost = self._cost(box, seg, (ax0, ay0))
                    if cost < best_cost:
                        best, best_cost = (dx, dy, ha, va, box, seg), cost
                    if cost == 0:
                        break
                if best_cost == 0:
                    break
            if best_cost == 0:
                break
        assert best is not None
        dx, dy, ha, va, box, seg = best
        self.boxes.append(box)
        if seg is not None:
            self.leaders.append(seg)
        shift = {"left": -4, "right": 4, "center": 0}[ha]
        scale = 72 / self.fig.dpi  # display pixels -> points (offsets scale with the dpi)
        return self.ax.annotate(
            text,
            xy=(x, y),
            xytext=((dx + shift) * scale, dy * scale),
            textcoords="offset points",
            ha=ha,
            va=va,
            zorder=8,
            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),
            arrowprops=dict(
                arrowstyle="-",
                color="0.35",
                lw=0.7,
                shrinkA=0,
                shrinkB=4,
                relpos=(_RELPOS[ha], _RELPOS[va]),
            )
            if seg is not None
            else None,
            **text_kw,
        )

    def _cost(
        self,
        box: tuple[float, float, float, float],
        seg: tuple[float, float, float, float] | None,
        anchor: tuple[float, float],
    ) -> float:
        x0, y0, x1, y1 = box
        lx0, ly0, lx1, ly1 = self.limits
        cost = 0.0
        if x0 < lx0 or y0 < ly0 or x1 > lx1 or y1 > ly1:
            cost += 1000.0
        padded = (x0 - 2, y0 - 2, x1 + 2, y1 + 2)
        for other in self.boxes:
            if _boxes_overlap(padded, other):
                cost += 100.0
        for other in self.leaders:
            if _segment_hits_box(other, padded):
                cost += 40.0
        cost += _count_inside(self.line_pts, padded)
        r = self.marker_radius
        cost += 50.0 * _count_inside(self.markers, (x0 - r, y0 - r, x1 + r, y1 + r))
        if seg is not None:
            for other in self.boxes:
                if _segment_hits_box(seg, other):
                    cost += 40.0
            for other in self.leaders:
                if _segments_cross(seg, other):
                    cost += 40.0
            if len(self.markers):
                near = _point_segment_distance(self.markers, seg)
                far_from_own = np.hypot(*(self.markers - anchor).T) > 0.5
                cost += 20.0 * float(np.sum((near < self.marker_radius) & far_from_own))
        return cost


def _finite(points: Any) -> np.ndarray:
    pts = np.asarray(points, float).reshape(-1, 2)
    return pts[np.all(np.isfinite(pts), axis=1)]


def _densify(polylines: Sequence[np.ndarray], *, step: float) -> np.ndarray:
    """Points every ``step`` display pixels along each polyline (vertices included)."""
    out = [np.empty((0, 2))]
    for line in polylines:
        if len(line) == 1:
            out.append(line)
        for a, b in zip(line[:-1], line[1:], strict=True):
            n = max(int(np.hypot(*(b - a)) / step), 1)
            t = np.linspace(0.0, 1.0, n + 1)[:, None]
            out.append(a + t * (b - a))
    return np.concatenate(out)


def _count_inside(points: np.ndarray, box: tuple[float, ...]) -> float:
    """How many of the points (N x 2) lie strictly inside the box (x0, y0, x1, y1)."""
    x, y = points[:, 0], points[:, 1]
    return float(np.sum((x > box[0]) & (x < box[2]) & (y > box[1]) & (y < box[3])))


def _boxes_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]


def _segment_hits_box(seg: tuple[float, ...], box: tuple[float, ...]) -> bool:
    """Whether the segment passes through the box (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = (float(v) for v in seg)
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0 - box[0]), (dx, box[2] - x0), (-dy, y0 - box[1]), (dy, box[3] - y0)):
        if p == 0.0:
            if q < 0.0:
                return False
            continue
        r = q / p
        if p < 0.0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 > t1:
            return False
    return True


def _segments_cross(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    def orient(px: float, py: float, qx: float, qy: float, rx: float, ry: float) -> float:
        return (qx - px) * (ry - py) - (qy - py) * (rx - px)

    d1 = orient(b[0], b[1], b[2], b[3], a[0], a[1])
    d2 = orient(b[0], b[1], b[2], b[3], a[2], a[3])
    d3 = orient(a[0], a[1], a[2], a[3], b[0], b[1])
    d4 = orient(a[0], a[1], a[2], a[3], b[2], b[3])
    return d1 * d2 < 0 and d3 * d4 < 0


def _point_segment_distance(points: np.ndarray, seg: tuple[float, ...]) -> np.ndarray:
    p0 = np.array(seg[:2])
    d = np.array(seg[2:]) - p0
    length2 = float(d @ d) or 1.0
    t = np.clip(((points - p0) @ d) / length2, 0.0, 1.0)
    return np.hypot(*(points - (p0 + t[:, None] * d)).T)
