"""Plane geometry for the analytics, as pure functions on numpy arrays of points.

Points are ``(N, 2)`` float arrays in pixels of the analysed frame; nothing here keeps state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

Point = tuple[float, float]


def bottom_centre(xyxy: np.ndarray) -> np.ndarray:
    """Where an object touches the ground: the middle of its box's bottom edge, ``(N, 2)``."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.empty((len(xyxy), 2))
    out[:, 0] = (xyxy[:, 0] + xyxy[:, 2]) * 0.5
    out[:, 1] = xyxy[:, 3]
    return out


def signed_distance(points: np.ndarray, a: Point, b: Point) -> np.ndarray:
    """Distance of each point from the infinite line a->b, positive on the left of a->b
    (image coordinates: y grows downwards, so "left" is the side a counter-clockwise turn reaches)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length = float(np.hypot(dx, dy))
    if length == 0.0:
        raise ValueError("a line needs two distinct points")
    return (dx * (points[:, 1] - ay) - dy * (points[:, 0] - ax)) / length


def projection_t(points: np.ndarray, a: Point, b: Point) -> np.ndarray:
    """Where each point's foot falls along the segment a->b: 0 at a, 1 at b."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    dx, dy = b[0] - a[0], b[1] - a[1]
    return ((points[:, 0] - a[0]) * dx + (points[:, 1] - a[1]) * dy) / (dx * dx + dy * dy)


def segment_share_in_boxes(xyxy: np.ndarray, a: Point, b: Point) -> np.ndarray:
    """Per box (rows of xyxy), the share of the segment a->b that lies inside it, 0 to 1: the
    segment clipped to the box (Liang-Barsky), as parameters along it."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    start = np.zeros(len(boxes))
    end = np.ones(len(boxes))
    for axis in (0, 1):
        origin, step = a[axis], b[axis] - a[axis]
        low, high = boxes[:, axis], boxes[:, axis + 2]
        if step == 0.0:  # the segment runs square to this axis: wholly inside its band or wholly out
            end = np.where((origin >= low) & (origin <= high), end, 0.0)
            continue
        enter, leave = (low - origin) / step, (high - origin) / step
        start = np.maximum(start, np.minimum(enter, leave))
        end = np.minimum(end, np.maximum(enter, leave))
    return np.maximum(end - start, 0.0)


def side_of_arrow(a: Point, b: Point, arrow: tuple[Point, Point]) -> int:
    """Which side of the line a->b the arrow points to: +1 (positive signed distance) or -1."""
    (x1, y1), (x2, y2) = arrow
    dx, dy = b[0] - a[0], b[1] - a[1]
    cross = dx * (y2 - y1) - dy * (x2 - x1)
    if cross == 0:
        raise ValueError("the direction arrow runs along the line; it must point across it")
    return 1 if cross > 0 else -1


# The way traffic moves through the picture, read from the counting lines drawn across it.
Travel = Literal["updown", "leftright"]
_LEVEL_SLOPE = 0.18  # within 10 degrees of level


def travel_across(lines: Sequence[tuple[Point, Point]]) -> Travel | None:
    """How the traffic that counting ``lines`` count moves through the picture: up and down it
    when every line lies within 10 degrees of level, across it when every line stands nearer
    upright than level; None otherwise (a road seen diagonally, or lines of both kinds)."""
    if not lines:
        return None
    if all(abs(b[1] - a[1]) > abs(b[0] - a[0]) for a, b in lines):
        return "leftright"
    if all(abs(b[1] - a[1]) <= _LEVEL_SLOPE * abs(b[0] - a[0]) for a, b in lines):
        return "updown"
    return None


def across_traffic(lines: Sequence[tuple[Point, Point]], ground: GroundPlane | None) -> tuple[float, float] | None:
    """The direction across the traffic in the picture where counting ``lines`` see a calibrated
    road diagonally (``travel_across`` is None): square to the road's own direction in the
    picture (the road's, on the ground square to the lines, seen at each line's middle), a unit
    vector pointing right; None where the traffic moves up and down or across the picture, or
    there are no lines or no calibration."""
    if not lines or ground is None or travel_across(lines) is not None:
        return None
    total = np.zeros(2)
    for a, b in lines:
        ends = ground.to_ground(np.array([a, b], np.float64))
        middle = ends.mean(axis=0)
        seen = ground.to_image(np.array([middle, middle + _square_to(ends[1] - ends[0])]))  # a metre along the road
        normal = _square_to(seen[1] - seen[0])
        total += normal if normal[0] >= 0 else -normal
    norm = float(np.hypot(*total))
    return (float(total[0] / norm), float(total[1] / norm)) if norm > 0 else None


def _square_to(vector: np.ndarray) -> np.ndarray:
    """The unit vector a quarter turn from ``vector``."""
    return np.array([-vector[1], vector[0]]) / max(float(np.hypot(*vector)), 1e-9)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Boolean mask of the points inside a simple polygon (even-odd rule; a point exactly on an
    edge may fall either way, which a jittering anchor makes irrelevant)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x, y = points[:, 0:1], points[:, 1:2]
    x1, y1 = poly[:, 0], poly[:, 1]
    nxt = np.arange(1, len(poly) + 1)  # each vertex's next, the last's the first (np.r_[1:n, 0] without its machinery)
    nxt[-1] = 0
    x2, y2 = x1[nxt], y1[nxt]
    straddles = (y1 > y) != (y2 > y)
    dy = np.where(y2 == y1, 1.0, y2 - y1)
    x_at_y = x1 + (y - y1) * (x2 - x1) / dy
    return (straddles & (x < x_at_y)).sum(axis=1) % 2 == 1


def polygon_area(polygon: np.ndarray) -> float:
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of two sets of xyxy boxes, ``(len(a), len(b))``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.maximum(ix2 - ix1, 0) * np.maximum(iy2 - iy1, 0)  # np.clip(..., 0, None) is this, after two Python calls
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass(frozen=True)
class GroundPlane:
    """A homography from image pixels to ground metres, from 4 (or more) point pairs."""

    matrix: np.ndarray  # 3x3, image -> ground

    @classmethod
    def from_points(cls, image_points: np.ndarray, ground_points: np.ndarray) -> GroundPlane:
        src = np.asarray(image_points, dtype=np.float64).reshape(-1, 2)
        dst = np.asarray(ground_points, dtype=np.float64).reshape(-1, 2)
        if len(src) != len(dst) or len(src) < 4:
            raise ValueError("calibration needs the same number (4 or more) of image and ground points")
        matrix, _ = cv2.findHomography(src, dst, 0)
        if matrix is None or not np.isfinite(matrix).all() or abs(np.linalg.det(matrix)) < 1e-12:
            raise ValueError("calibration points are degenerate (three of them on one line?)")
        return cls(matrix=matrix)

    def to_ground(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
        if not len(pts):
            return np.zeros((0, 2))
        # One OpenCV call: a third of the time of numpy's matrix product on a frame's few points.
        return cv2.perspectiveTransform(pts, self.matrix).reshape(-1, 2)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Ground points (metres) to image pixels."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
        if not len(pts):
            return np.zeros((0, 2))
        return cv2.perspectiveTransform(pts, np.linalg.inv(self.matrix)).reshape(-1, 2)

    def pixels_per_metre(self, points: np.ndarray) -> np.ndarray:
        """Image pixels per metre of ground around each image point: the square root of the pixels
        a square metre there covers, whatever the way it is foreshortened."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        corners = np.concatenate([pts, pts + (1.0, 0.0), pts + (0.0, 1.0)])
        ground = self.to_ground(corners).reshape(3, -1, 2)
        across, up = ground[1] - ground[0], ground[2] - ground[0]
        m2_per_px = np.abs(across[:, 0] * up[:, 1] - across[:, 1] * up[:, 0])
        return 1.0 / np.sqrt(np.maximum(m2_per_px, 1e-12))

    def scaled(self, factor: float) -> GroundPlane:
        """The same plane for an image resized by ``factor`` (pixels multiplied by it)."""
        return GroundPlane(matrix=self.matrix @ np.diag([1.0 / factor, 1.0 / factor, 1.0]))
