"""Where a camera detects nothing: the installer's masks.

Beside a road there is motion that is not traffic and that the background never learns: an
advertising screen, trees and flags in the wind, water, a clock the camera burns into its picture.
An installer draws a polygon over it (``masks:`` in the camera's file, in the picture's pixels).
Inside a mask the motion detector ignores what moves, so it neither becomes an object nor joins
a passing vehicle's blob, and the light there is not measured. For every detector, an object whose
anchor (the middle of its box's bottom edge, where it stands) lies in a mask is dropped, as
Frigate's object masks do. A mask is drawn only over what never carries traffic: a vehicle passing
in front of a masked screen loses the part of it that the mask covers.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from camera_agents.detections import Detections
from camera_agents.geometry import bottom_centre, points_in_polygon


class Masks:
    """A camera's masks; polygons of (x, y) corners in pixels of the picture analysed."""

    def __init__(self, polygons: Sequence[Sequence[tuple[float, float]]] = ()) -> None:
        self._polygons = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons]

    def covers(self, points: np.ndarray) -> np.ndarray:
        """Per point (``(N, 2)``), whether it lies in a mask."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        inside = np.zeros(len(points), bool)
        for polygon in self._polygons:
            inside |= points_in_polygon(points, polygon)
        return inside

    def without_masked(self, detections: Detections) -> Detections:
        """``detections`` less those whose anchor stands in a mask."""
        if not self._polygons or not len(detections):
            return detections
        masked = self.covers(bottom_centre(detections.xyxy))
        return detections[~masked] if masked.any() else detections

    def raster(self, size: tuple[int, int], factor: float) -> np.ndarray | None:
        """255 where a mask lies and 0 elsewhere, on a picture of ``size`` (width, height) that is
        ``factor`` times the picture's; None without masks."""
        if not self._polygons:
            return None
        out = np.zeros((size[1], size[0]), np.uint8)
        cv2.fillPoly(out, [np.round(p * factor).astype(np.int32) for p in self._polygons], 255)
        return out
