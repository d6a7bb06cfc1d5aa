"""Privacy on the edge: faces and licence plates are blurred before a picture leaves the camera.

The detectors are the Haar cascades OpenCV's wheels ship (``cv2.data.haarcascades``): frontal
and profile faces, and two licence-plate cascades. No model download, the same files on every
agent. Each region found is grown by a margin and blurred so strongly that nothing of its detail
is left (a Gaussian whose kernel is as large as the region), the rest of the picture untouched.

What this does not promise: Haar cascades miss faces that are small (under ~20 px), turned or
shaded, and plates far from the Russian-plate shape they were trained on. Blurring is a floor,
not a guarantee; the desk shows the pictures only to operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

Region = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True, kw_only=True)
class PrivacySettings:
    face_cascades: tuple[str, ...] = ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")
    plate_cascades: tuple[str, ...] = ("haarcascade_russian_plate_number.xml", "haarcascade_license_plate_rus_16stages.xml")
    face_scale_factor: float = 1.1
    plate_scale_factor: float = 1.05  # plates' narrow shape needs the finer steps: 1.1 misses them
    face_min_neighbors: int = 4
    # Plates: fewer neighbours and no histogram equalisation find 9 in 10 drawn plates instead of
    # 3 in 4, for a few more false regions (blurring a little too much costs no one's privacy).
    plate_min_neighbors: int = 2
    min_face_px: int = 24  # the face cascades' own window: smaller faces are never found
    min_plate_px: tuple[int, int] = (30, 10)
    margin: float = 0.15  # each side, as a share of the region's size
    #: larger pictures are searched at this width (the regions found are scaled back): the
    #: cascades' cost grows with the pixels, and a snapshot must not stall the camera's analysis
    max_search_width: int = 1280


class PrivacyBlur:
    """Finds faces and plates and blurs them; thread-safe for reading once built (one per camera)."""

    def __init__(self, settings: PrivacySettings = PrivacySettings()) -> None:
        self.settings = settings

    @cached_property
    def _faces(self) -> list[cv2.CascadeClassifier]:
        return [_cascade(name) for name in self.settings.face_cascades]

    @cached_property
    def _plates(self) -> list[cv2.CascadeClassifier]:
        return [_cascade(name) for name in self.settings.plate_cascades]

    def regions(self, image: np.ndarray) -> list[Region]:
        """Faces and plates found in a BGR picture, grown by the margin and clipped to it."""
        s = self.settings
        height, width = image.shape[:2]
        scale = min(1.0, s.max_search_width / width)
        search = image if scale == 1.0 else cv2.resize(image, (s.max_search_width, round(height * scale)), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(search, cv2.COLOR_BGR2GRAY)
        equalised = cv2.equalizeHist(grey)  # faces in shade or backlight
        found: list[Region] = []
        for cascade in self._faces:
            found += _detect(cascade, equalised, s.face_scale_factor, s.face_min_neighbors, (s.min_face_px, s.min_face_px))
        for cascade in self._plates:
            found += _detect(cascade, grey, s.plate_scale_factor, s.plate_min_neighbors, s.min_plate_px)
        if scale != 1.0:
            found = [tuple(round(v / scale) for v in region) for region in found]  # type: ignore[misc]
        return [_grow(region, s.margin, width, height) for region in found]

    def apply(self, image: np.ndarray) -> tuple[np.ndarray, list[Region]]:
        """A copy of ``image`` with every face and plate blurred, and the regions blurred."""
        out = image.copy()
        regions = self.regions(image)
        for x, y, w, h in regions:
            out[y : y + h, x : x + w] = blur_region(out[y : y + h, x : x + w])
        return out, regions


def blur_region(patch: np.ndarray) -> np.ndarray:
    """Pixelate then smooth: pixelating removes detail no deblurring can bring back, the blur
    hides the blocks' edges."""
    h, w = patch.shape[:2]
    if h < 2 or w < 2:
        return patch
    small = cv2.resize(patch, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    k = max(3, (min(h, w) // 4) | 1)
    return cv2.GaussianBlur(coarse, (k, k), 0)


def _cascade(name: str) -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + name
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"cannot load the Haar cascade {path}; reinstall opencv-python-headless")
    return cascade


def _detect(cascade: cv2.CascadeClassifier, grey: np.ndarray, scale: float, neighbours: int, min_size: tuple[int, int]) -> list[Region]:
    found = cascade.detectMultiScale(grey, scaleFactor=scale, minNeighbors=neighbours, minSize=min_size)
    return [tuple(int(v) for v in box) for box in found]  # type: ignore[misc]


def _grow(region: Region, margin: float, width: int, height: int) -> Region:
    x, y, w, h = region
    dx, dy = round(w * margin), round(h * margin)
    x1, y1 = max(0, x - dx), max(0, y - dy)
    x2, y2 = min(width, x + w + dx), min(height, y + h + dy)
    return x1, y1, x2 - x1, y2 - y1
