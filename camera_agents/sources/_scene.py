"""The machinery shared by the synthetic scenes: a ground-plane camera, object shapes, the
renderer that turns simulated object poses into noisy frames, and the ground truth computed from
the same geometry that is drawn.

Objects live on a ground plane in metres (X to the right, Z away from the camera). A homography
maps the ground to the image. A point ``h`` metres above the ground is drawn where the ground is
``TILT * h`` metres further away, which is how a pole-mounted camera looking down the road sees
height: tall things stretch up the image, away from their footprint. The bottom-centre of an
object's drawn silhouette is therefore its nearest ground point, the anchor a counter uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

TILT = 0.6
SUN = (0.55, -0.12)  # ground offset (dX, dZ) of the shadow of a point 1 m up: sun from the upper left
SHADOW_FACTOR = 0.58  # a cast shadow keeps this fraction of the light (MOG2's default shadow band is 0.5..1)
MARGIN = 2  # canvas margin in pixels, room for the camera shake
_SUBPIXEL_BITS = 3
_SUBPIXEL = float(1 << _SUBPIXEL_BITS)

BGR = tuple[int, int, int]


# --------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Part:
    indices: np.ndarray  # into the shape's points
    colour: BGR


@dataclass(frozen=True)
class Shape:
    """An object's look: points in its own frame (x right, y forward, h up, metres) and the parts
    drawn over its silhouette. The silhouette, the convex hull of all points, is drawn first in
    ``body``; every other part lies inside it, so the silhouette's box is the object's box."""

    points: np.ndarray  # (K, 3) float64
    body: BGR
    parts: tuple[Part, ...]
    casts_shadow: bool = True
    front: tuple[int, ...] = ()  # indices of head-lamp points (lit at dusk and at night)
    rear: tuple[int, ...] = ()  # indices of tail-lamp points


class ShapeBuilder:
    def __init__(self) -> None:
        self._points: list[tuple[float, float, float]] = []
        self._parts: list[Part] = []

    def rect(self, x0: float, x1: float, y0: float, y1: float, h: float) -> list[int]:
        start = len(self._points)
        self._points += [(x0, y0, h), (x1, y0, h), (x1, y1, h), (x0, y1, h)]
        return list(range(start, start + 4))

    def part(self, indices: list[int], colour: BGR) -> None:
        self._parts.append(Part(np.asarray(indices, dtype=np.int64), colour))

    def prism(self, x0: float, x1: float, y0: float, y1: float, h0: float, h1: float, colour: BGR) -> None:
        self.part(self.rect(x0, x1, y0, y1, h0) + self.rect(x0, x1, y0, y1, h1), colour)

    def build(self, body: BGR, *, casts_shadow: bool = True) -> Shape:
        return Shape(np.asarray(self._points, dtype=np.float64), body, tuple(self._parts), casts_shadow)


def shade(colour: BGR, factor: float) -> BGR:
    return tuple(int(min(255, max(0, round(c * factor)))) for c in colour)  # type: ignore[return-value]


def car_shape(rng: np.random.Generator, body: BGR) -> tuple[Shape, float, float, float]:
    w, l = rng.uniform(1.7, 1.85), rng.uniform(4.1, 4.7)
    b = ShapeBuilder()
    b.rect(-w / 2, w / 2, -l / 2, l / 2, 0.0)
    b.rect(-w / 2, w / 2, -l / 2, l / 2, 0.85)
    glass = (58, 52, 48)
    hood = b.rect(-w * 0.42, w * 0.42, l * 0.22, l * 0.24, 0.95)
    roof = b.rect(-w * 0.4, w * 0.4, -l * 0.28, l * 0.1, 1.45)
    trunk = b.rect(-w * 0.42, w * 0.42, -l * 0.42, -l * 0.4, 0.95)
    b.part([hood[0], hood[1], roof[2], roof[3]], glass)  # windscreen
    b.part([trunk[0], trunk[1], roof[1], roof[0]], glass)  # rear window
    b.part(roof, shade(body, 1.12))
    return b.build(body), w, l, 1.45


def bus_truck_shape(rng: np.random.Generator, body: BGR) -> tuple[Shape, float, float, float]:
    b = ShapeBuilder()
    if rng.random() < 0.5:  # bus: one long box, windscreen at the front, light roof
        w, l, h = rng.uniform(2.4, 2.55), rng.uniform(9.0, 11.5), 3.0
        b.rect(-w / 2, w / 2, -l / 2, l / 2, 0.0)
        b.rect(-w / 2, w / 2, -l / 2, l / 2, h)
        b.part(b.rect(-w * 0.46, w * 0.46, l / 2 - 0.05, l / 2, 1.1) + b.rect(-w * 0.46, w * 0.46, l / 2 - 0.05, l / 2, 2.6), (60, 55, 50))
        b.part(b.rect(-w * 0.45, w * 0.45, -l * 0.45, l * 0.45, h), shade(body, 1.15))
        b.part(b.rect(-w * 0.25, w * 0.25, -l * 0.1, l * 0.1, h + 0.25), (170, 170, 165))  # air conditioner
    else:  # truck: cab and a taller cargo box
        w, l, h = rng.uniform(2.2, 2.5), rng.uniform(6.5, 8.5), 3.2
        cab = 2.0
        b.rect(-w / 2, w / 2, -l / 2, l / 2, 0.0)
        b.part(b.rect(-w / 2, w / 2, l / 2 - cab, l / 2, 0.0) + b.rect(-w / 2, w / 2, l / 2 - cab, l / 2, 2.5), body)
        box_colour: BGR = tuple(int(c) for c in rng.integers(60, 220, size=3))  # type: ignore[assignment]
        b.prism(-w / 2, w / 2, -l / 2, l / 2 - cab - 0.2, 0.0, h, box_colour)
        b.part(b.rect(-w * 0.47, w * 0.47, -l / 2, l / 2 - cab - 0.2, h), shade(box_colour, 1.15))
        b.part(b.rect(-w * 0.44, w * 0.44, l / 2 - 0.05, l / 2, 1.2) + b.rect(-w * 0.44, w * 0.44, l / 2 - 0.05, l / 2, 2.2), (60, 55, 50))
    return b.build(body), w, l, h


def rider_shape(rng: np.random.Generator, machine: BGR, *, bicycle: bool) -> tuple[Shape, float, float, float]:
    """A motorbike (or a bicycle) with its rider, sometimes a passenger, seen from above and behind."""
    w, l = (0.5, 1.7) if bicycle else (rng.uniform(0.65, 0.78), rng.uniform(1.8, 2.0))
    b = ShapeBuilder()
    b.rect(-w / 2, w / 2, -l / 2, l / 2, 0.0)
    b.rect(-w * 0.4, w * 0.4, -l / 2, l / 2, 0.8)
    riders = [0.05] if bicycle or rng.random() < 0.55 else [0.2, -0.35]
    for y in riders:
        shirt: BGR = tuple(int(c) for c in rng.integers(30, 240, size=3))  # type: ignore[assignment]
        b.prism(-0.22, 0.22, y - 0.18, y + 0.18, 0.8, 1.35, shirt)
        helmet: BGR = tuple(int(c) for c in rng.choice(np.array([[20, 20, 20], [230, 230, 230], [40, 40, 200], [200, 120, 30], [40, 180, 230]])))  # type: ignore[assignment]
        b.prism(-0.14, 0.14, y - 0.12, y + 0.16, 1.4, 1.68, helmet)
    return b.build(machine), w, l, 1.68


def vehicle(
    rng: np.random.Generator, cls: str, *, car_palette: Callable[[], Sequence[BGR]], rider_machine: Callable[[], BGR],
    speeds: Mapping[str, tuple[float, float]], rider_drift: tuple[float, float],
) -> tuple[Shape, float, float, float, float, float]:  # fmt: skip
    """A vehicle of the Vietnamese mix (``cls``: motorbike, car, bus_truck or bicycle): its shape,
    width, length and height (m), speed (m/s, from ``speeds`` by class) and lateral drift (a
    motorbike's from ``rider_drift``). A scene varies the colours of its cars and motorbikes:
    ``car_palette`` and ``rider_machine`` choose them, drawing from ``rng`` where they need to."""
    if cls == "car":
        palette = car_palette()
        shape, w, length, h = car_shape(rng, tuple(int(c) for c in palette[rng.integers(len(palette))]))  # type: ignore[arg-type]
        return shape, w, length, h, rng.uniform(*speeds[cls]), 0.0
    if cls == "bus_truck":
        colour = tuple(int(c) for c in rng.integers(40, 230, size=3))
        shape, w, length, h = bus_truck_shape(rng, colour)  # type: ignore[arg-type]
        return shape, w, length, h, rng.uniform(*speeds[cls]), 0.0
    if cls == "bicycle":
        shape, w, length, h = rider_shape(rng, (40, 40, 45), bicycle=True)
        return shape, w, length, h, rng.uniform(*speeds[cls]), 0.1
    shape, w, length, h = rider_shape(rng, rider_machine(), bicycle=False)
    return shape, w, length, h, rng.uniform(*speeds["motorbike"]), rng.uniform(*rider_drift)


def person_shape(rng: np.random.Generator) -> tuple[Shape, float, float, float]:
    trousers: BGR = tuple(int(c) for c in rng.integers(20, 140, size=3))  # type: ignore[assignment]
    shirt: BGR = tuple(int(c) for c in rng.integers(30, 250, size=3))  # type: ignore[assignment]
    height = rng.uniform(1.55, 1.82)
    b = ShapeBuilder()
    b.rect(-0.2, 0.2, -0.13, 0.13, 0.0)
    b.prism(-0.23, 0.23, -0.13, 0.13, height * 0.5, height * 0.82, shirt)
    b.prism(-0.1, 0.1, -0.1, 0.1, height * 0.87, height, (30, 35, 45))
    return b.build(trousers), 0.46, 0.3, height


# --------------------------------------------------------------------------- simulated tracks


@dataclass
class Track:
    """One object's life: its pose (X, Z, yaw; yaw 0 heads away from the camera) in each frame
    from ``first_frame`` on, and its ground speed in m/s."""

    object_id: int
    cls: str
    shape: Shape
    first_frame: int
    pose: np.ndarray  # (n, 3)
    speed: np.ndarray  # (n,)

    @property
    def end_frame(self) -> int:
        return self.first_frame + len(self.pose)


@dataclass
class TrackRecorder:
    """Collects poses frame by frame while a scene simulates, then freezes them into Tracks."""

    object_id: int
    cls: str
    shape: Shape
    first_frame: int
    poses: list[tuple[float, float, float]] = field(default_factory=list)
    speeds: list[float] = field(default_factory=list)

    def record(self, x: float, z: float, yaw: float, speed: float) -> None:
        self.poses.append((x, z, yaw))
        self.speeds.append(speed)

    def freeze(self) -> Track:
        return Track(self.object_id, self.cls, self.shape, self.first_frame, np.asarray(self.poses, dtype=np.float64), np.asarray(self.speeds, dtype=np.float64))


# --------------------------------------------------------------------------- camera geometry


class GroundCamera:
    """Ground plane (metres) to image (pixels), with the tilt trick for heights."""

    def __init__(self, ground_quad: np.ndarray, image_quad: np.ndarray) -> None:
        self.homography = cv2.getPerspectiveTransform(np.float32(ground_quad), np.float32(image_quad)).astype(np.float64)

    def project(self, xz: np.ndarray) -> np.ndarray:
        """(N, 2) ground points to (N, 2) image points."""
        ones = np.ones((len(xz), 1))
        p = np.hstack([xz, ones]) @ self.homography.T
        return p[:, :2] / p[:, 2:3]

    def place(self, points: np.ndarray, x: np.ndarray, z: np.ndarray, yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image points and shadow points of shape points (..., 3) at poses; all arguments
        broadcast together (one track over its frames, or many objects in one frame)."""
        lx, ly, h = points[..., 0], points[..., 1], points[..., 2]
        c, s = np.cos(yaw), np.sin(yaw)
        wx = x + lx * c + ly * s
        wz = z - lx * s + ly * c
        wx, wz, h = np.broadcast_arrays(wx, wz, h)
        shape = wx.shape
        image = self.project(np.stack([wx.ravel(), (wz + TILT * h).ravel()], axis=1)).reshape(*shape, 2)
        shadow = self.project(np.stack([(wx + SUN[0] * h).ravel(), (wz + SUN[1] * h).ravel()], axis=1)).reshape(*shape, 2)
        return image, shadow


def rotate_about(points: np.ndarray, centre: tuple[float, float], degrees: float) -> np.ndarray:
    """A small camera roll: real poles are never perfectly level."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    p = np.asarray(points, dtype=np.float64) - centre
    return np.stack([p[:, 0] * c - p[:, 1] * s, p[:, 0] * s + p[:, 1] * c], axis=1) + centre


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Weather:
    """Slow global changes: a lighting drift and one cloud shadow crossing the scene."""

    gain_base: float
    gain_amplitude: float
    gain_period_frames: float
    cloud_start: int  # frame the cloud's leading edge enters
    cloud_frames: int  # frames it takes to cross the whole frame
    cloud_factor: float  # light kept under the cloud
    cloud_vertical: float  # fraction of the frame height the cloud's path is offset by

    def gain(self, index: int) -> float:
        return self.gain_base + self.gain_amplitude * math.sin(2 * math.pi * index / self.gain_period_frames)


class Renderer:
    """Draws frames fast: a precomputed background, shadows copied from a precomputed dark copy
    of it, shapes as filled polygons, then lighting, the cloud, the shake and sensor noise."""

    NOISE_SIGMA = 3.2
    NOISE_POOL_ROWS = 97

    def __init__(self, *, width: int, height: int, camera: GroundCamera, background: np.ndarray, weather: Weather, seed: int) -> None:
        self.width, self.height = width, height
        self.camera = camera
        self.weather = weather
        self.background = background  # (height + 2*MARGIN, width + 2*MARGIN, 3)
        self.dark = cv2.convertScaleAbs(background, alpha=SHADOW_FACTOR)
        rng = np.random.default_rng(seed ^ 0x5EED)
        noise = rng.normal(0.0, self.NOISE_SIGMA, size=(height + self.NOISE_POOL_ROWS, width, 3))
        self._noise_up = np.clip(noise, 0, 255).astype(np.uint8)
        self._noise_down = np.clip(-noise, 0, 255).astype(np.uint8)
        self._cloud = _cloud_mask(rng, width, height, weather.cloud_factor)
        self._shadow_mask = np.zeros(background.shape[:2], dtype=np.uint8)

    def shake(self, index: int, seed: int) -> tuple[int, int]:
        """A one-pixel shake: the pole sways now and then, for a few frames at a time."""
        phase = (index // 3) * 2654435761 + seed * 40503
        h = (phase ^ (phase >> 13)) & 0xFFFF
        if h % 5 != 0:
            return 0, 0
        return (int(h >> 4) % 3) - 1, (int(h >> 8) % 3) - 1

    def render(self, index: int, placed: list[tuple[Shape, np.ndarray, np.ndarray | None]], shake: tuple[int, int]) -> np.ndarray:
        """``placed``: (shape, image points, shadow points or None) in nominal image pixels, far to near."""
        canvas = self.background.copy()
        offset = np.array([MARGIN, MARGIN], dtype=np.float64)
        shadows = [np.round((shadow + offset) * _SUBPIXEL).astype(np.int32) for shape, _, shadow in placed if shadow is not None and shape.casts_shadow]
        if shadows:
            # One mask for all cast shadows: overlapping shadows are no darker than one.
            self._shadow_mask.fill(0)
            for fixed in shadows:
                cv2.fillConvexPoly(self._shadow_mask, cv2.convexHull(fixed), 255, cv2.LINE_8, _SUBPIXEL_BITS)
            cv2.copyTo(self.dark, self._shadow_mask, canvas)
        for shape, points, _ in placed:
            fixed = np.round((points + offset) * _SUBPIXEL).astype(np.int32)
            cv2.fillConvexPoly(canvas, cv2.convexHull(fixed), shape.body, cv2.LINE_8, _SUBPIXEL_BITS)
            for part in shape.parts:
                corners = fixed[part.indices]
                # A planar quad stays a convex quad in view, its corners in order; others need a hull.
                cv2.fillConvexPoly(canvas, corners if len(corners) == 4 else cv2.convexHull(corners), part.colour, cv2.LINE_8, _SUBPIXEL_BITS)
        dx, dy = shake
        view = canvas[MARGIN + dy : MARGIN + dy + self.height, MARGIN + dx : MARGIN + dx + self.width]
        frame = cv2.convertScaleAbs(view, alpha=self.weather.gain(index))
        self._shade_cloud(frame, index)
        row = (index * 37) % self.NOISE_POOL_ROWS
        cv2.add(frame, self._noise_up[row : row + self.height], dst=frame)
        row = (index * 53 + 11) % self.NOISE_POOL_ROWS
        cv2.subtract(frame, self._noise_down[row : row + self.height], dst=frame)
        return frame

    def _shade_cloud(self, frame: np.ndarray, index: int) -> None:
        w = self.weather
        progress = (index - w.cloud_start) / w.cloud_frames
        if not 0.0 <= progress <= 1.0:
            return
        ch, cw = self._cloud.shape[:2]
        # The cloud drifts from beyond the right edge to beyond the left edge.
        left = int(round(self.width - progress * (self.width + cw)))
        top = int(round(w.cloud_vertical * self.height - ch / 2))
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + cw, self.width), min(top + ch, self.height)
        if x1 <= x0 or y1 <= y0:
            return
        roi = frame[y0:y1, x0:x1]
        roi[:] = cv2.multiply(roi, self._cloud[y0 - top : y1 - top, x0 - left : x1 - left], scale=1 / 255.0)


def _cloud_mask(rng: np.random.Generator, width: int, height: int, factor: float) -> np.ndarray:
    """A soft, lumpy cloud shadow: a light multiplier (255 = full light) about 60% of the frame wide."""
    cw, ch = int(width * 0.9), int(height * 1.0)
    small = np.zeros((max(ch // 8, 4), max(cw // 8, 4)), dtype=np.float32)
    cy, cx = small.shape[0] / 2, small.shape[1] / 2
    for _ in range(9):
        ex, ey = cx + rng.normal(0, small.shape[1] / 9), cy + rng.normal(0, small.shape[0] / 9)
        ax, ay = rng.uniform(0.12, 0.22) * small.shape[1], rng.uniform(0.12, 0.22) * small.shape[0]
        cv2.ellipse(small, (int(ex), int(ey)), (max(int(ax), 1), max(int(ay), 1)), float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=max(small.shape[1] / 25, 1.0))
    big = cv2.resize(small, (cw, ch), interpolation=cv2.INTER_LINEAR)
    # Taper to nothing at the patch's border, so the cloud has no straight edge.
    big *= np.sqrt(np.outer(np.sin(np.linspace(0, np.pi, ch)), np.sin(np.linspace(0, np.pi, cw)))).astype(np.float32)
    gain = 255.0 * (1.0 - (1.0 - factor) * np.clip(big, 0.0, 1.0))
    return np.repeat(np.round(gain).astype(np.uint8)[:, :, None], 3, axis=2)


def textured(rng: np.random.Generator, shape: tuple[int, int], base: BGR, blotch: float, grain: float) -> np.ndarray:
    """A surface with low-frequency blotches and fine grain, like asphalt or paving."""
    h, w = shape
    low = cv2.resize(rng.normal(0, 1, size=(max(h // 24, 2), max(w // 24, 2))).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 1, size=(h, w)).astype(np.float32)
    fine = cv2.GaussianBlur(fine, (0, 0), 0.7)
    img = np.empty((h, w, 3), dtype=np.float32)
    for ch in range(3):
        img[:, :, ch] = base[ch] + blotch * low + grain * fine
    return np.clip(img, 0, 255).astype(np.uint8)


def fill_ground_polygon(image: np.ndarray, camera: GroundCamera, polygon: list[tuple[float, float]], colour: BGR, *, samples: int = 12) -> None:
    """Paint a ground polygon (metres); edges are subdivided so long ones stay straight in view."""
    pts = []
    closed = polygon + polygon[:1]
    for (x0, z0), (x1, z1) in zip(closed, closed[1:]):
        for t in np.linspace(0, 1, samples, endpoint=False):
            pts.append((x0 + (x1 - x0) * t, z0 + (z1 - z0) * t))
    img = camera.project(np.asarray(pts)) + MARGIN
    cv2.fillPoly(image, [np.round(img * _SUBPIXEL).astype(np.int32)], colour, cv2.LINE_AA, _SUBPIXEL_BITS)


def blend_ground_polygon(image: np.ndarray, camera: GroundCamera, polygon: list[tuple[float, float]], factor: float) -> None:
    """Darken (factor < 1) or lighten a ground polygon, keeping the texture underneath."""
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    fill_ground_polygon(mask, camera, polygon, (255, 255, 255))  # type: ignore[arg-type]
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return
    pad = 6  # room for the soft edge
    x0, y0, x1, y1 = max(x - pad, 0), max(y - pad, 0), min(x + w + pad, image.shape[1]), min(y + h + pad, image.shape[0])
    soft = cv2.GaussianBlur(mask[y0:y1, x0:x1], (0, 0), 1.5).astype(np.float32)[:, :, None] / 255.0
    roi = image[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1 - soft + soft * factor), 0, 255).astype(np.uint8)
