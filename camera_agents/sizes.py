"""What a moving object is, by its size: its length on the ground on a calibrated camera, and the
distances on the ground the motion detector's cuts and joins weigh. Without a calibration, a
rider's width learnt at each row (``camera_agents.scales.RiderScale``) reads sizes in metres;
before it is learnt, an object's area in pixels² names it."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from camera_agents.config import SizeClasses
from camera_agents.detections import CLASS_ID
from camera_agents.geometry import GroundPlane
from camera_agents.scales import RiderScale


class GroundScale(Protocol):
    """Sizes in metres of boxes in the frame's pixels: a calibration's, or a learnt one's."""

    def across_m(self, xyxy: np.ndarray) -> np.ndarray: ...

    def along_m(self, xyxy: np.ndarray) -> np.ndarray: ...

    def footprint_m2(self, xyxy: np.ndarray) -> np.ndarray: ...


class SizeClassifier:
    """Names a blob by its size: calibrated, by its length on the ground along the traffic; else
    by its width at the scale a rider's width learnt at its row gives (``riders``, once learnt),
    or by its area in px²."""

    def __init__(self, classes: SizeClasses, *, kind: str, ground: GroundPlane | None, crosswise: bool = False, riders: RiderScale | None = None) -> None:
        self._classes = classes
        self._riders = riders
        self._crosswise = crosswise  # traffic across the picture: across it is up the picture
        self._kind = kind
        self._ground = ground

    def classify(self, xyxy: np.ndarray) -> np.ndarray:
        c = self._classes
        width = xyxy[:, 2] - xyxy[:, 0]
        height = xyxy[:, 3] - xyxy[:, 1]
        aspect = height / np.maximum(width, 1.0)
        if self._kind == "security":
            person = aspect >= c.person_min_aspect
            return np.where(person, CLASS_ID["person"], CLASS_ID["unknown"]).astype(np.int16)
        if self._ground is not None:
            long_m = self.along_m(xyxy)
            small, medium = long_m <= c.motorbike_max_long_m, long_m <= c.car_max_long_m
        elif self._riders is not None and self._riders.learned:
            wide_m = self._riders.across_m(xyxy)
            small, medium = wide_m <= c.motorbike_max_wide_m, wide_m <= c.car_max_wide_m
        else:
            area = width * height
            small, medium = area <= c.motorbike_max_px, area <= c.car_max_px
        return np.where(small, CLASS_ID["motorbike"], np.where(medium, CLASS_ID["car"], CLASS_ID["bus_truck"])).astype(np.int16)

    @property
    def crosswise(self) -> bool:
        """Traffic moves across the picture: across it is up the picture, along it across."""
        return self._crosswise

    @property
    def calibrated(self) -> bool:
        return self._ground is not None

    def ground_width_m(self, xyxy: np.ndarray) -> np.ndarray:
        """How wide on the ground each box's bottom edge is, in metres."""
        return self._apart_m(xyxy[:, 0], xyxy[:, 3], xyxy[:, 2], xyxy[:, 3])

    def ground_depth_m(self, xyxy: np.ndarray) -> np.ndarray:
        """How far on the ground each box reaches up the picture, at its middle column, in metres
        (an object's height seen from a low pole adds to it)."""
        middle = (xyxy[:, 0] + xyxy[:, 2]) / 2
        return self._apart_m(middle, xyxy[:, 3], middle, xyxy[:, 1])

    def across_m(self, xyxy: np.ndarray) -> np.ndarray:
        """How wide on the ground each box is across the traffic, in metres."""
        return self.ground_depth_m(xyxy) if self._crosswise else self.ground_width_m(xyxy)

    def along_m(self, xyxy: np.ndarray) -> np.ndarray:
        """How long on the ground each box is along the traffic, in metres."""
        return self.ground_width_m(xyxy) if self._crosswise else self.ground_depth_m(xyxy)

    def ground_distance_m(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """How far apart on the ground the image points ``a`` and ``b`` (rows of x, y) are, in metres."""
        return self._apart_m(a[:, 0], a[:, 1], b[:, 0], b[:, 1])

    def footprint_m2(self, xyxy: np.ndarray) -> np.ndarray:
        # Width on the ground from the bottom edge; length from the local metres-per-pixel of
        # that edge applied to the box height (a flat-ground approximation, good enough for 3 classes).
        width_m = self.ground_width_m(xyxy)
        metres_per_px = width_m / np.maximum(xyxy[:, 2] - xyxy[:, 0], 1.0)
        length_m = (xyxy[:, 3] - xyxy[:, 1]) * metres_per_px
        return width_m * length_m

    def _apart_m(self, x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> np.ndarray:
        """How far apart on the ground image points (x1, y1) and (x2, y2) are, row by row, in
        metres. Both ends go to the ground in one projection: a frame's few boxes cost numpy's
        overhead per call, not arithmetic."""
        ground = self._ground
        assert ground is not None
        n = len(x1)
        points = np.empty((2 * n, 2))
        points[:n, 0], points[:n, 1], points[n:, 0], points[n:, 1] = x1, y1, x2, y2
        on_ground = ground.to_ground(points)
        return np.hypot(*(on_ground[n:] - on_ground[:n]).T)
