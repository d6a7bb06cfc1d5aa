"""A family of traffic cameras: one road, seen from many poles, in many lights.

``FamilyScene`` builds the camera a ``Variant`` describes (top-down or oblique, the road running
up-down, left-right or diagonally through the picture, 2-6 lanes, one- or two-way, a scale change
of 1x to 6x between the near and the far edge), simulates its traffic on the ground plane (the
Vietnamese mix, platoons at a light, riders abreast, followers close enough to hide each other)
and hands ``FamilyRenderer`` the light (static shadows, clouds, the sun going behind clouds, dusk,
night with headlights, wet-road reflections and street lights, rain) and the camera's faults
(shake, vibration, slow drift, a cheap auto-exposure, low-bitrate compression).

The road is laid out in ground metres as in the default scene (X across, Z along the road), and
the camera is a rotation of the ground into the camera's own frame (u across the view, w away
from the pole) followed by a perspective map of the view's trapezoid onto the frame. The ground
truth comes from ``SyntheticScene``, from the same geometry that is drawn.
"""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from camera_agents.sources._scene import (
    GroundCamera,
    Renderer,
    Shape,
    Track,
    TrackRecorder,
    Weather,
    textured,
    vehicle,
)
from camera_agents.sources._traffic import ASPHALT, ASPHALT_LIKE, CAR_COLOURS, Group, Mover, _pt, advance
from camera_agents.sources._variants import Variant

LANE = 3.5
SIDEWALK = 3.5
BASE_GAP = 0.9
BRAKE, ACCEL = 4.0, 2.2
GREEN_S = 9.0
MARGIN = 8  # canvas margin in pixels: room for shake and drift
DARK_VEHICLES = [(28, 30, 34), (40, 38, 36), (22, 24, 26)]
# Speeds of the family's vehicles, m/s, by class.
_FAMILY_SPEEDS = {"car": (8.5, 12.5), "bus_truck": (7.0, 10.0), "bicycle": (3.5, 4.8), "motorbike": (7.0, 10.5)}


# --------------------------------------------------------------------------- the camera


class FamilyCamera(GroundCamera):
    """Ground (X across the road, Z along it) to camera frame (u, w) by a rotation and a shift,
    then the view's trapezoid (near half-width ``half_near``, far ``half_near * ratio``, depth
    ``depth``) onto the frame. Heights lift a point ``lift`` metres away from the pole per metre."""

    def __init__(self, *, width: int, height: int, angle: float, origin: tuple[float, float], half_near: float,
                 ratio: float, depth: float, lift: float, sun: tuple[float, float]) -> None:  # fmt: skip
        quad = np.float32([[-half_near, 0], [half_near, 0], [half_near * ratio, depth], [-half_near * ratio, depth]])
        frame = np.float32([[0, height], [width, height], [width, 0], [0, 0]])
        self.view = cv2.getPerspectiveTransform(quad, frame).astype(np.float64)
        c, s = math.cos(angle), math.sin(angle)
        self.rotation = np.array([[c, s, origin[0]], [-s, c, origin[1]], [0.0, 0.0, 1.0]])
        self.homography = self.view @ self.rotation
        # The pole stands where the view's width would shrink to nothing; nothing behind it is drawn.
        self.w_min = -depth / max(ratio - 1.0, 1e-6) * 0.6 if ratio > 1.0 else -1e9
        self.lift = (-s * lift, c * lift)  # away from the pole, in ground X, Z
        self.sun = sun

    def to_view(self, xz: np.ndarray) -> np.ndarray:
        ones = np.ones((len(xz), 1))
        return (np.hstack([xz, ones]) @ self.rotation.T)[:, :2]

    def view_to_image(self, uw: np.ndarray) -> np.ndarray:
        ones = np.ones((len(uw), 1))
        p = np.hstack([uw, ones]) @ self.view.T
        return p[:, :2] / p[:, 2:3]

    def place(self, points: np.ndarray, x: np.ndarray, z: np.ndarray, yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lx, ly, h = points[..., 0], points[..., 1], points[..., 2]
        c, s = np.cos(yaw), np.sin(yaw)
        wx = x + lx * c + ly * s
        wz = z - lx * s + ly * c
        wx, wz, h = np.broadcast_arrays(wx, wz, h)
        shape = wx.shape
        image = self._safe(np.stack([(wx + self.lift[0] * h).ravel(), (wz + self.lift[1] * h).ravel()], axis=1)).reshape(*shape, 2)
        shadow = self._safe(np.stack([(wx + self.sun[0] * h).ravel(), (wz + self.sun[1] * h).ravel()], axis=1)).reshape(*shape, 2)
        return image, shadow

    def _safe(self, xz: np.ndarray) -> np.ndarray:
        # A vehicle entering from below the frame may reach back past the pole: squash those points
        # onto a row far below the frame rather than let them wrap round to the top.
        view = self.to_view(xz)
        np.maximum(view[:, 1], self.w_min, out=view[:, 1])
        return self.view_to_image(view)

    def polygon(self, ground: list[tuple[float, float]], *, samples: int = 10) -> np.ndarray | None:
        """A ground polygon in image pixels, edges subdivided and cut where it would pass behind the pole."""
        pts = []
        closed = list(ground) + list(ground[:1])
        for (x0, z0), (x1, z1) in zip(closed, closed[1:]):
            for t in np.linspace(0, 1, samples, endpoint=False):
                pts.append((x0 + (x1 - x0) * t, z0 + (z1 - z0) * t))
        view = clip_half_plane(self.to_view(np.asarray(pts)), np.array([0.0, 1.0]), self.w_min)
        if len(view) < 3:
            return None
        return self.view_to_image(view)


def clip_half_plane(poly: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """The part of a polygon where ``points @ normal >= offset`` (Sutherland-Hodgman, one edge)."""
    out: list[np.ndarray] = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        dp, dq = float(p @ normal) - offset, float(q @ normal) - offset
        if dp >= 0:
            out.append(p)
        if (dp >= 0) != (dq >= 0):
            out.append(p + (q - p) * (dp / (dp - dq)))
    return np.asarray(out).reshape(-1, 2)


def clip_to_frame(poly: np.ndarray, width: int, height: int, inset: float = 2.0) -> np.ndarray:
    for normal, offset in (((1, 0), inset), ((-1, 0), inset - width), ((0, 1), inset), ((0, -1), inset - height)):
        if len(poly) < 2:
            break
        poly = clip_half_plane(poly, np.array(normal, dtype=np.float64), offset)
    return poly


def clip_segment(a: np.ndarray, b: np.ndarray, width: int, height: int, inset: float = 3.0) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of segment a-b inside the frame (Liang-Barsky)."""
    d = b - a
    t0, t1 = 0.0, 1.0
    for p, q in ((-d[0], a[0] - inset), (d[0], width - inset - a[0]), (-d[1], a[1] - inset), (d[1], height - inset - a[1])):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
    if t1 - t0 < 0.05:
        return None
    return a + t0 * d, a + t1 * d


# --------------------------------------------------------------------------- the scene


class FamilyScene:
    kind = "traffic"

    def __init__(self, variant: Variant, *, seed: int, n_frames: int, fps: float, width: int, height: int) -> None:
        self.variant = v = variant
        rng = np.random.default_rng([seed, sum(map(ord, variant.name))])
        self.seed = seed
        self.width, self.height, self.fps, self.n_frames = width, height, fps, n_frames
        self.half = v.lanes * LANE / 2
        self.camera = self._build_camera(rng)
        self._range = self._visible_range()
        self.line_z = self._line_positions()
        self.tracks = self._simulate(rng)
        weather = Weather(
            gain_base=float(rng.uniform(0.96, 1.02)), gain_amplitude=float(rng.uniform(0.02, 0.05)),
            gain_period_frames=float(rng.uniform(1.5, 2.5)) * n_frames, cloud_start=n_frames + 1, cloud_frames=1,
            cloud_factor=0.7, cloud_vertical=0.5,
        )  # fmt: skip
        self.renderer = FamilyRenderer(self, weather=weather, rng=rng)

    # ----------------------------------------------------------------- geometry

    def _build_camera(self, rng: np.random.Generator) -> FamilyCamera:
        v = self.variant
        base = {"updown": 0.0, "leftright": 90.0, "diagonal": 42.0}[v.travel]
        angle = math.radians(base + rng.uniform(-6, 6) + (180.0 if rng.random() < 0.5 else 0.0))
        ratio = max(1.0, v.scale_ratio * float(rng.uniform(0.92, 1.08)))
        lift = v.lift * float(rng.uniform(0.9, 1.1))
        sun_angle = rng.uniform(0, 2 * math.pi)
        sun = (0.55 * math.cos(sun_angle), 0.55 * math.sin(sun_angle))
        ppm = v.near_ppm * float(rng.uniform(0.92, 1.08))
        foreshorten = 1.0 if v.view == "topdown" else float(rng.uniform(0.55, 0.7))
        road_span = 2 * (self.half + SIDEWALK) + 2.0
        for _ in range(30):
            half_near = self.width / 2 / ppm
            depth = self.height * ratio / (ppm * foreshorten)
            if v.travel == "updown":
                origin_view = (float(rng.uniform(-0.08, 0.08)) * half_near, 0.0)
            else:  # the road passes through the middle of the picture
                probe = FamilyCamera(width=self.width, height=self.height, angle=0.0, origin=(0.0, 0.0), half_near=half_near,
                                     ratio=ratio, depth=depth, lift=lift, sun=sun)  # fmt: skip
                inverse = np.linalg.inv(probe.view)
                p = inverse @ np.array([self.width * rng.uniform(0.45, 0.55), self.height * rng.uniform(0.45, 0.58), 1.0])
                origin_view = (float(p[0] / p[2]), float(p[1] / p[2]))
            camera = FamilyCamera(width=self.width, height=self.height, angle=angle, origin=origin_view, half_near=half_near,
                                  ratio=ratio, depth=depth, lift=lift, sun=sun)  # fmt: skip
            # The whole carriageway must fit across the picture where the traffic is counted.
            if self._road_fits(camera, road_span):
                return camera
            ppm *= 0.9
        return camera

    def _road_fits(self, camera: FamilyCamera, span: float) -> bool:
        # Where the road's centre is in the frame's middle third, its edges must be inside the frame.
        zs = np.arange(-200.0, 400.0, 0.5)
        centre = camera.project(np.stack([np.zeros_like(zs), zs], axis=1))
        view_w = camera.to_view(np.stack([np.zeros_like(zs), zs], axis=1))[:, 1]
        middle = (np.abs(centre[:, 0] - self.width / 2) < self.width / 6) & (np.abs(centre[:, 1] - self.height / 2) < self.height / 4) & (view_w > camera.w_min)
        if not middle.any():
            return False
        z = zs[middle][len(zs[middle]) // 2]
        edges = camera.project(np.array([[-self.half - 0.3, z], [self.half + 0.3, z]]))
        return bool(((edges >= 4) & (edges <= [self.width - 4, self.height - 4])).all())

    def _visible_range(self) -> tuple[float, float]:
        zs = np.arange(-300.0, 500.0, 0.25)
        seen = np.zeros(len(zs), bool)
        for x in np.linspace(-self.half, self.half, 5):
            pts = np.stack([np.full_like(zs, x), zs], axis=1)
            img = self.camera.project(pts)
            ok = self.camera.to_view(pts)[:, 1] > self.camera.w_min
            seen |= ok & (img[:, 0] >= 0) & (img[:, 0] < self.width) & (img[:, 1] >= 0) & (img[:, 1] < self.height)
        inside = zs[seen]
        return float(inside.min()), float(inside.max())

    def _line_positions(self) -> tuple[float, float]:
        """Two counting lines, a third and three fifths of the way along the road's picture."""
        lo, hi = self._range
        zs = np.linspace(lo, hi, 800)
        centre = self.camera.project(np.stack([np.zeros_like(zs), zs], axis=1))
        length = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(centre, axis=0).T))])
        # The near end of a perspective view is where a vehicle is big: count there, not at the horizon.
        near_first = self.camera.to_view(np.array([[0.0, lo]]))[0, 1] < self.camera.to_view(np.array([[0.0, hi]]))[0, 1]
        fractions = (0.3, 0.55) if self.variant.scale_ratio > 1.5 else (0.35, 0.65)
        out = []
        for f in fractions:
            target = (f if near_first or self.variant.scale_ratio <= 1.5 else 1 - f) * length[-1]
            out.append(float(zs[int(np.searchsorted(length, target))]))
        return tuple(sorted(out))  # type: ignore[return-value]

    # ----------------------------------------------------------------- configuration

    def _line(self, z: float, line_id: str) -> dict:
        a, b = self.camera.project(np.array([[-self.half, z], [self.half, z]]))
        cut = clip_segment(a, b, self.width, self.height)
        if cut is None:
            raise ValueError(f"line {line_id} falls outside the picture")
        a, b = cut
        mid = self.camera.to_view(np.array([[0.0, z]]))
        arrow = self.camera.project(np.array([[0.0, z + 1.5], [0.0, z - 1.5]]))
        centre = (a + b) / 2
        half = (arrow[1] - arrow[0]) / 2
        half *= min(1.0, 30.0 / max(float(np.hypot(*half)), 1e-6))
        arrow = np.stack([centre - half, centre + half])  # through the line's middle, inside the frame
        del mid
        line = {
            "id": line_id,
            "points": [_pt(a), _pt(b)],
            # Travel towards lower Z (the first carriageway's way) is `in`.
            "in_direction": [_pt(arrow[0]), _pt(arrow[1])],
            "names": {"in": "vào trung tâm", "out": "ra ngoại ô"},
        }
        if self.variant.ways == 1:
            line["allowed_direction"] = "in" if self._one_way < 0 else "out"
        return line

    def lines(self) -> list[dict]:
        return [self._line(self.line_z[0], "line_a"), self._line(self.line_z[1], "line_b")]

    def zones(self) -> list[dict]:
        z0, z1 = self.line_z
        x0 = -self.half if self.variant.ways == 2 else -self.half
        x1 = 0.0 if self.variant.ways == 2 else self.half
        poly = self.camera.project(np.array([(x0, z0), (x1, z0), (x1, z1), (x0, z1)]))
        poly = clip_to_frame(poly, self.width, self.height)
        return [{"id": "between_lines", "polygon": [_pt(p) for p in poly], "max_occupancy": 20, "dwell_seconds": 30.0}]

    def calibration(self) -> dict:
        z0, z1 = self.line_z
        for shrink in (0.6, 0.4, 0.25, 0.12):
            x = self.half * shrink
            ground = [(-x, z0), (x, z0), (x, z1), (-x, z1)]
            image = self.camera.project(np.array(ground))
            if ((image >= 1) & (image <= [self.width - 1, self.height - 1])).all():
                return {"image_points": [_pt(p) for p in image], "ground_points": [[round(a, 3), round(b, 3)] for a, b in ground]}
        raise ValueError("no calibration rectangle fits in the picture")

    def describe(self) -> dict:
        return {
            "name": f"Camera mô phỏng: {self.variant.name}",
            "kind": "traffic",
            "location": {"lat": 10.3471, "lon": 107.0846},
            "detector": {"type": "motion"},
        }

    def road_polygon(self) -> list[list[float]]:
        """Where traffic runs, in frame pixels (the road and a metre beyond its kerbs)."""
        lo, hi = self._range
        poly = self.camera.polygon([(-self.half - 1, lo - 30), (self.half + 1, lo - 30), (self.half + 1, hi + 30), (-self.half - 1, hi + 30)], samples=40)
        poly = clip_to_frame(poly, self.width, self.height, inset=0.0)
        return [_pt(p) for p in poly]

    # ----------------------------------------------------------------- simulation

    def _lift_along(self) -> float:
        """How far up the road a vehicle's height reaches in view, per metre (what hides the one ahead)."""
        return abs(self.camera.lift[1])

    def _gap(self, a: Mover, b: Mover) -> float:
        reach = self._lift_along() * (a.height if a.height > b.height else b.height)
        return BASE_GAP + self.variant.follow_gap * reach

    def _simulate(self, rng: np.random.Generator) -> list[Track]:
        v = self.variant
        dt = 1.0 / self.fps
        if v.ways == 2:
            groups = [Group(-1, -self.half, 0.0, has_light=v.light), Group(+1, 0.0, self.half, has_light=v.light)]
            self._one_way = 0
        else:
            self._one_way = -1 if rng.random() < 0.5 else 1
            groups = [Group(self._one_way, -self.half, self.half, has_light=v.light)]
        lanes_per_group = v.lanes / len(groups)
        rates = {id(g): v.rate * lanes_per_group * float(rng.uniform(0.85, 1.15)) for g in groups}
        next_spawn = {id(g): float(rng.exponential(1.0 / rates[id(g)])) * 0.3 for g in groups}
        light_offset = rng.uniform(0, GREEN_S + v.red_s)
        movers: dict[int, list[Mover]] = {id(g): [] for g in groups}
        pending: dict[int, list[Mover]] = {id(g): [] for g in groups}
        finished: list[Track] = []
        self._next_id = 1
        lo, hi = self._range
        for frame in range(self.n_frames):
            t = frame * dt
            red = v.light and ((t + light_offset) % (GREEN_S + v.red_s)) >= GREEN_S
            for g in groups:
                key = id(g)
                if not pending[key] and t >= next_spawn[key]:
                    pending[key] = self._arrivals(rng, g, frame)
                    next_spawn[key] = t + float(rng.exponential(1.0 / rates[key]))
                if pending[key] and self._fits(pending[key], movers[key]):
                    for m in pending[key]:
                        m.rec.first_frame = frame
                    movers[key].extend(pending[key])
                    pending[key] = []
                stop_progress = g.way * self.line_z[0] if g.way > 0 else -self.line_z[1]
                advance(movers[key], g, beside=self._beside, gap=self._gap, red=red, stop_progress=stop_progress, frame=frame, dt=dt, fps=self.fps, rng=rng)
                alive = []
                for m in movers[key]:
                    gone = (m.rear > hi + 6 + 4 * self.camera_reach()) if g.way > 0 else (-m.rear < lo - 6 - 4 * self.camera_reach())
                    if gone:
                        finished.append(m.rec.freeze())
                    else:
                        alive.append(m)
                movers[key] = alive
        for g in groups:
            finished.extend(m.rec.freeze() for m in movers[id(g)] if m.rec.poses)
        return sorted(finished, key=lambda tr: tr.object_id)

    def camera_reach(self) -> float:
        return math.hypot(*self.camera.lift)

    def _arrivals(self, rng: np.random.Generator, g: Group, frame: int) -> list[Mover]:
        first = self._new_mover(rng, g, frame, None)
        group = [first]
        if first.rec.cls == "motorbike" and rng.random() < self.variant.side_by_side:
            partner = self._new_mover(rng, g, frame, "motorbike")
            side = 1.0 if first.x < (g.x_lo + g.x_hi) / 2 else -1.0
            partner.x = first.x + side * (first.width / 2 + partner.width / 2 + float(rng.uniform(0.25, 0.45)))
            partner.c = first.c + float(rng.uniform(-0.4, 0.4))
            partner.v = partner.v_want = first.v_want
            partner.drift = first.drift = 0.0
            if g.x_lo + partner.width / 2 + 0.2 <= partner.x <= g.x_hi - partner.width / 2 - 0.2:
                group.append(partner)
        return group

    def _new_mover(self, rng: np.random.Generator, g: Group, frame: int, cls: str | None) -> Mover:
        v = self.variant
        rest = 1.0 - v.motorbike_share
        if cls is None:
            cls = str(rng.choice(["motorbike", "car", "bus_truck", "bicycle"], p=[v.motorbike_share, rest * 0.62, rest * 0.2, rest * 0.18]))
        grey = rng.random() < v.grey_share
        grey_palette = DARK_VEHICLES + ASPHALT_LIKE if v.time != "day" or rng.random() < 0.5 else ASPHALT_LIKE
        shape, w, length, h, speed, drift = vehicle(
            rng, cls, car_palette=lambda: grey_palette if grey else CAR_COLOURS,
            rider_machine=lambda: grey_palette[rng.integers(len(grey_palette))] if grey else tuple(int(c) for c in rng.integers(20, 200, size=3)),
            speeds=_FAMILY_SPEEDS, rider_drift=(0.2, 0.6),
        )  # fmt: skip
        shape = with_lamps(shape, cls, w, length)
        rec = TrackRecorder(self._next_id, cls, shape, frame)
        self._next_id += 1
        x = self._lateral_spot(rng, g, cls, w)
        lo, hi = self._range
        margin = 3.0 + length / 2 + self.camera_reach() * h
        c = (lo - margin) if g.way > 0 else -(hi + margin)
        return Mover(rec, g, x, c, speed, speed, length, w, h, drift, stop_margin=float(rng.uniform(0.9, 2.6)))

    def _lateral_spot(self, rng: np.random.Generator, g: Group, cls: str, width: float) -> float:
        lo, hi = g.x_lo + width / 2 + 0.25, g.x_hi - width / 2 - 0.25
        if cls in ("car", "bus_truck"):
            lanes = max(1, round((g.x_hi - g.x_lo) / LANE))
            lane = int(rng.integers(lanes))
            return float(np.clip(g.x_lo + LANE * (lane + 0.5) + rng.normal(0, 0.2), lo, hi))
        if cls == "bicycle":
            kerb = g.x_lo if g.way < 0 else g.x_hi
            return float(np.clip(kerb + (0.8 if g.way < 0 else -0.8), lo, hi))
        return float(rng.uniform(lo, hi))

    def _beside(self, a: Mover, b: Mover, ax: float) -> bool:
        margin = 0.2 if self.variant.side_by_side > 0 else 0.55
        return abs(ax - b.x) < (a.width + b.width) / 2 + margin

    def _fits(self, newcomers: list[Mover], others: list[Mover]) -> bool:
        for m in newcomers:
            for o in others:
                if self._beside(m, o, m.x) and abs(m.c - o.c) < (m.length + o.length) / 2 + self._gap(m, o) + 3.0:
                    return False
        for m in newcomers:
            ahead = [o for o in others if o.c > m.c and self._beside(m, o, m.x)]
            if ahead:
                m.v = min(m.v, min(o.v for o in ahead))
        return True

    # ----------------------------------------------------------------- background

    def background(self, rng: np.random.Generator) -> np.ndarray:
        v = self.variant
        cam = self.camera
        h, w = self.height + 2 * MARGIN, self.width + 2 * MARGIN
        img = textured(rng, (h, w), tuple(int(c) for c in rng.integers(95, 140, size=3)), 10.0, 5.0)  # type: ignore[arg-type]
        lo, hi = self._range[0] - 60, self._range[1] + 60
        R = self.half

        def fill(poly, colour, target=img):
            pts = cam.polygon(poly)
            if pts is not None:
                cv2.fillPoly(target, [np.round((pts + MARGIN) * 8).astype(np.int32)], colour, cv2.LINE_AA, 3)

        for side in (-1, 1):  # shop fronts, then the sidewalks
            z = lo
            while z < hi:
                depth = rng.uniform(4.0, 9.0)
                x0, x1 = side * (R + SIDEWALK), side * (R + SIDEWALK + 8.0)
                fill([(x0, z), (x1, z), (x1, z + depth), (x0, z + depth)], tuple(int(c) for c in rng.integers(60, 220, size=3)))
                z += depth + rng.uniform(0.2, 0.8)
            fill([(side * R, lo), (side * (R + SIDEWALK), lo), (side * (R + SIDEWALK), hi), (side * R, hi)], (150, 160, 168))
        road = textured(rng, (h, w), ASPHALT, 7.0, 4.5)
        mask = np.zeros((h, w), np.uint8)
        fill([(-R, lo), (R, lo), (R, hi), (-R, hi)], 255, mask)
        np.copyto(img, road, where=mask[:, :, None] > 127)
        self._paint_markings(fill)
        shade = np.zeros((h, w), np.uint8)
        for _ in range(v.trees):  # tree crowns' shade, from the kerb into the lanes
            side = rng.choice([-1, 1])
            x = side * rng.uniform(R - 2.5, R + 1.5)
            z = rng.uniform(self._range[0], self._range[1])
            rx, rz = rng.uniform(1.4, 2.6), rng.uniform(1.4, 2.6)
            fill([(x + rx * math.cos(t), z + rz * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 16, endpoint=False)], int(rng.integers(90, 130)), shade)
        if v.building_shadow:
            z0 = rng.uniform(self._range[0], (self._range[0] + self._range[1]) / 2)
            reach = rng.uniform(0.4, 0.8) * 2 * R
            fill([(-R - 4, z0), (-R + reach, z0 + 2), (-R + reach, z0 + 25), (-R - 4, z0 + 25)], 115, shade)
        if shade.any():
            soft = cv2.GaussianBlur(shade, (0, 0), 2.0).astype(np.float32)[:, :, None] / 255.0
            img = np.clip(img * (1.0 - soft), 0, 255).astype(np.uint8)
        return cv2.GaussianBlur(img, (3, 3), 0.6)

    def _paint_markings(self, fill) -> None:
        """Kerbs, edge and lane lines, the double centre line, stop bars and a zebra (no randomness:
        the background's draws stay in the same order)."""
        v, R = self.variant, self.half
        lo, hi = self._range[0] - 60, self._range[1] + 60
        white, yellow = (215, 220, 222), (40, 175, 210)
        for side in (-1, 1):
            fill([(side * R, lo), (side * (R + 0.2), lo), (side * (R + 0.2), hi), (side * R, hi)], (190, 195, 198))  # kerbs
            edge = side * (R - 0.35)
            fill([(edge - 0.07, lo), (edge + 0.07, lo), (edge + 0.07, hi), (edge - 0.07, hi)], white)
        if v.ways == 2:  # a double centre line: the high-contrast marking a shaken camera turns into "objects"
            for x in (-0.2, 0.08):
                fill([(x, lo), (x + 0.12, lo), (x + 0.12, hi), (x, hi)], yellow)
        lane_lines = [-R + LANE * k for k in range(1, v.lanes)]
        for x in lane_lines:
            if v.ways == 2 and abs(x) < 0.5:
                continue
            z = lo
            while z < hi:
                fill([(x - 0.07, z), (x + 0.07, z), (x + 0.07, z + 3.0), (x - 0.07, z + 3.0)], white)
                z += 9.0
        if v.light:  # stop bars just before the first line each way, and a zebra between the lines
            a, b = self.line_z
            if v.ways == 2 or self._one_way < 0:
                fill([(-R, b + 0.5), (0 if v.ways == 2 else R, b + 0.5), (0 if v.ways == 2 else R, b + 0.9), (-R, b + 0.9)], white)
            if v.ways == 2 or self._one_way > 0:
                fill([(0 if v.ways == 2 else -R, a - 0.9), (R, a - 0.9), (R, a - 0.5), (0 if v.ways == 2 else -R, a - 0.5)], white)
            mid = (a + b) / 2
            for x in np.arange(-R + 0.3, R - 0.3, 1.0):
                fill([(x, mid - 1.5), (x + 0.5, mid - 1.5), (x + 0.5, mid + 1.5), (x, mid + 1.5)], (200, 205, 208))


def with_lamps(shape: Shape, cls: str, width: float, length: float) -> Shape:
    """The shape with its head- and tail-lamp points added (on its front and rear faces, so the
    silhouette and its box do not change); the renderer lights them at dusk and at night."""
    if cls in ("motorbike", "bicycle"):
        front = [(0.0, length / 2, 0.75)]
        rear = [(0.0, -length / 2, 0.75)]
    else:
        front = [(-0.35 * width, length / 2, 0.7), (0.35 * width, length / 2, 0.7)]
        rear = [(-0.38 * width, -length / 2, 0.7), (0.38 * width, -length / 2, 0.7)]
    n = len(shape.points)
    points = np.vstack([shape.points, np.asarray(front + rear, dtype=np.float64)])
    return replace(shape, points=points, front=tuple(range(n, n + len(front))), rear=tuple(range(n + len(front), n + len(front) + len(rear))))


# --------------------------------------------------------------------------- rendering


class FamilyRenderer(Renderer):
    """The default renderer's drawing, with the family's light and camera faults on top."""

    def __init__(self, scene: FamilyScene, *, weather: Weather, rng: np.random.Generator) -> None:
        v = scene.variant
        self.variant = v
        self.seed = scene.seed
        self.fps, self.n_frames = scene.fps, scene.n_frames
        self.NOISE_SIGMA = {"day": 3.2, "dusk": 4.5, "night": 5.5}[v.time]
        background = scene.background(rng)
        super().__init__(width=scene.width, height=scene.height, camera=scene.camera, background=background, weather=weather, seed=scene.seed)
        self.margin = MARGIN
        self._clouds = [self._make_cloud(rng, size, seconds) for size, seconds in v.clouds]
        self._light_map = self._lighting(scene, rng) if v.time != "day" else None
        self._gain_step = (int(rng.uniform(0.15, 0.4) * self.n_frames), int(rng.uniform(0.55, 0.8) * self.n_frames), float(rng.uniform(0.55, 0.7)))
        steps = int(self.n_frames / (self.fps * 3.0)) + 2
        self._exposure = (np.cumsum(rng.uniform(2.0, 5.0, steps)) * self.fps, rng.uniform(-0.18, 0.18, steps))
        self._shake_rng = np.random.default_rng([scene.seed, 99])

    # ----------------------------------------------------------------- camera

    def shake(self, index: int, seed: int) -> tuple[int, int]:
        v = self.variant
        drift = (0, 0)
        if v.drift_px:
            progress = index / max(self.n_frames - 1, 1)
            drift = (int(round(v.drift_px * progress)), int(round(-0.6 * v.drift_px * progress)))
        phase = ((index if v.vibration else index // 3) * 2654435761 + seed * 40503 + 7) & 0xFFFFFFFF
        h = (phase ^ (phase >> 13)) * 0x9E3779B1 & 0xFFFFFFFF
        if v.shake_px == 0 or (not v.vibration and (h % 1000) >= v.shake_share * 1000):
            return drift
        a = v.shake_px
        return drift[0] + int((h >> 10) % (2 * a + 1)) - a, drift[1] + int((h >> 20) % (2 * a + 1)) - a

    # ----------------------------------------------------------------- light

    def gain(self, index: int) -> float:
        g = self.weather.gain(index)
        v = self.variant
        if v.gain_step:
            start, end, depth = self._gain_step
            ramp = self.fps * 1.5
            g *= 1.0 - (1.0 - depth) * _smooth((index - start) / ramp) * (1.0 - _smooth((index - end) / ramp))
        if v.auto_exposure:
            times, changes = self._exposure
            k = int(np.searchsorted(times, index))
            if k:
                settle = 1.0 - math.exp(-(index - times[k - 1]) / (0.4 * self.fps))
                previous = changes[k - 2] if k >= 2 else 0.0
                g *= 1.0 + previous + (changes[k - 1] - previous) * settle
        return g

    def _make_cloud(self, rng: np.random.Generator, size: str, seconds: float) -> tuple:
        scale = 0.7 if size == "part" else 2.2
        w, h = int(self.width * scale), int(self.height * scale * (1.0 if size == "part" else 1.2))
        factor = float(rng.uniform(0.38, 0.6))
        small = np.zeros((max(h // 8, 4), max(w // 8, 4)), np.float32)
        cy, cx = small.shape[0] / 2, small.shape[1] / 2
        for _ in range(9):
            ex, ey = cx + rng.normal(0, small.shape[1] / 9), cy + rng.normal(0, small.shape[0] / 9)
            ax, ay = rng.uniform(0.15, 0.3) * small.shape[1], rng.uniform(0.15, 0.3) * small.shape[0]
            cv2.ellipse(small, (int(ex), int(ey)), (max(int(ax), 1), max(int(ay), 1)), float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        if size == "full":
            small[:] = np.maximum(small, 0.0)
            cv2.rectangle(small, (small.shape[1] // 5, small.shape[0] // 5), (small.shape[1] * 4 // 5, small.shape[0] * 4 // 5), 1.0, -1)
        small = cv2.GaussianBlur(small, (0, 0), max(small.shape[1] / 25, 1.0))
        big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        big *= np.sqrt(np.outer(np.sin(np.linspace(0, np.pi, h)), np.sin(np.linspace(0, np.pi, w)))).astype(np.float32) ** 0.5
        mask = np.round(255.0 * (1.0 - (1.0 - factor) * np.clip(big, 0.0, 1.0))).astype(np.uint8)
        angle = rng.uniform(0, 2 * math.pi)
        start = int(rng.uniform(0.1, 0.45) * self.n_frames) if seconds < 20 else int(rng.uniform(0.0, 0.15) * self.n_frames)
        frames = int(seconds * self.fps)
        return np.repeat(mask[:, :, None], 3, axis=2), (math.cos(angle), math.sin(angle)), start, frames, float(rng.uniform(-0.25, 0.25))

    def _shade_clouds(self, frame: np.ndarray, index: int) -> None:
        for mask, (dx, dy), start, frames, offset in self._clouds:
            progress = (index - start) / frames
            if not 0.0 <= progress <= 1.0:
                continue
            ch, cw = mask.shape[:2]
            # From fully beyond one side of the frame to fully beyond the other, along (dx, dy).
            travel = abs(dx) * (self.width + cw) + abs(dy) * (self.height + ch)
            cx = self.width / 2 + dx * travel * (progress - 0.5) - dy * offset * self.width
            cy = self.height / 2 + dy * travel * (progress - 0.5) + dx * offset * self.height
            left, top = int(round(cx - cw / 2)), int(round(cy - ch / 2))
            x0, y0 = max(left, 0), max(top, 0)
            x1, y1 = min(left + cw, self.width), min(top + ch, self.height)
            if x1 <= x0 or y1 <= y0:
                continue
            roi = frame[y0:y1, x0:x1]
            roi[:] = cv2.multiply(roi, mask[y0 - top : y1 - top, x0 - left : x1 - left], scale=1 / 255.0)

    def _lighting(self, scene: FamilyScene, rng: np.random.Generator) -> np.ndarray:
        """What the scene keeps of daylight at dusk or at night, with street lights' pools (static)."""
        v = self.variant
        h, w = self.background.shape[:2]
        base = 0.45 if v.time == "dusk" else 0.2
        light = np.full((h, w), base, np.float32)
        if v.street_lights:
            lo, hi = scene._range
            for z in np.arange(lo + rng.uniform(0, 12), hi, rng.uniform(14, 22)):
                for side in (-1, 1) if v.lanes >= 4 else (rng.choice([-1, 1]),):
                    centre = scene.camera.project(np.array([[side * (scene.half - 1.0), z]]))[0] + self.margin
                    edge = scene.camera.project(np.array([[side * (scene.half - 1.0) + 5.0, z]]))[0] + self.margin
                    radius = max(float(np.hypot(*(edge - centre))), 6.0)
                    if not (-radius < centre[0] < w + radius and -radius < centre[1] < h + radius):
                        continue
                    pool = np.zeros((h, w), np.float32)
                    cv2.circle(pool, (int(centre[0]), int(centre[1])), int(radius), 1.0, -1)
                    light += cv2.GaussianBlur(pool, (0, 0), radius / 2.5) * 0.7
        tint = (1.05, 0.95, 0.85) if v.time == "dusk" else (0.9, 1.0, 1.1)  # BGR: bluish dusk, sodium-orange night
        return np.clip(np.stack([light * t for t in tint], axis=2) * 255, 0, 255).astype(np.uint8)

    def _lamps(self, canvas: np.ndarray, placed: list, offset: np.ndarray) -> None:
        layer = np.zeros_like(canvas)
        wet = self.variant.wet
        night = self.variant.time == "night"
        for shape, points, _ in placed:
            if not shape.front:
                continue
            box = points.max(axis=0) - points.min(axis=0)
            radius = max(1.5, 0.09 * float(min(box)) + 1.0)
            front = points[list(shape.front)] + offset
            rear = points[list(shape.rear)] + offset
            heading = front.mean(axis=0) - rear.mean(axis=0)
            for p in front:
                centre = (int(p[0]), int(p[1]))
                cv2.circle(layer, centre, int(radius * 2.2), (40, 45, 45), -1)
                cv2.circle(layer, centre, int(radius), (200, 225, 230), -1)
                if night:  # the beam lights the road just ahead, joined to the lamp
                    beam = p + heading * 0.3
                    cv2.ellipse(layer, (int(beam[0]), int(beam[1])), (int(radius * 2.5), int(radius * 1.8)), 0, 0, 360, (22, 28, 30), -1)
                if wet:  # the road mirrors each lamp straight down the picture
                    cv2.ellipse(layer, (centre[0], int(p[1] + radius * 4)), (max(int(radius * 0.7), 1), int(radius * 4)), 0, 0, 360, (70, 85, 90), -1)
            for p in rear:
                centre = (int(p[0]), int(p[1]))
                cv2.circle(layer, centre, max(int(radius * 0.7), 1), (20, 20, 170), -1)
                if wet:
                    cv2.ellipse(layer, (centre[0], int(p[1] + radius * 2.5)), (max(int(radius * 0.5), 1), int(radius * 2.5)), 0, 0, 360, (10, 10, 70), -1)
        cv2.add(canvas, layer, dst=canvas)

    def _rain(self, frame: np.ndarray, index: int) -> None:
        rng = np.random.default_rng([self.seed, index, 7])
        n = int(self.variant.rain * 1000 * (self.width * self.height) / (960 * 540))
        layer = np.zeros(frame.shape[:2], np.uint8)
        xs, ys = rng.uniform(0, self.width, n), rng.uniform(0, self.height, n)
        lengths = rng.uniform(8, 22, n)
        lean = 0.25
        for x, y, length, level in zip(xs, ys, lengths, rng.integers(25, 60, n)):
            cv2.line(layer, (int(x), int(y)), (int(x + lean * length), int(y + length)), int(level), 1)
        cv2.add(frame, cv2.merge([layer, layer, layer]), dst=frame)

    # ----------------------------------------------------------------- a frame

    def render(self, index: int, placed: list[tuple[Shape, np.ndarray, np.ndarray | None]], shake: tuple[int, int]) -> np.ndarray:
        v = self.variant
        m = self.margin
        canvas = self.background.copy()
        offset = np.array([m, m], dtype=np.float64)
        sub = 8.0
        if v.time == "day":
            shadows = [np.round((shadow + offset) * sub).astype(np.int32) for shape, _, shadow in placed if shadow is not None and shape.casts_shadow]
            if shadows:
                self._shadow_mask.fill(0)
                for fixed in shadows:
                    cv2.fillConvexPoly(self._shadow_mask, cv2.convexHull(fixed), 255, cv2.LINE_8, 3)
                cv2.copyTo(self.dark, self._shadow_mask, canvas)
        for shape, points, _ in placed:
            fixed = np.round((points + offset) * sub).astype(np.int32)
            cv2.fillConvexPoly(canvas, cv2.convexHull(fixed), shape.body, cv2.LINE_8, 3)
            for part in shape.parts:
                corners = fixed[part.indices]
                cv2.fillConvexPoly(canvas, corners if len(corners) == 4 else cv2.convexHull(corners), part.colour, cv2.LINE_8, 3)
        if self._light_map is not None:
            canvas = cv2.multiply(canvas, self._light_map, scale=1 / 255.0)
            self._lamps(canvas, placed, offset)
        dx, dy = shake
        dx, dy = max(-m, min(m, dx)), max(-m, min(m, dy))
        view = canvas[m + dy : m + dy + self.height, m + dx : m + dx + self.width]
        frame = cv2.convertScaleAbs(view, alpha=self.gain(index))
        self._shade_clouds(frame, index)
        if v.rain:
            self._rain(frame, index)
        row = (index * 37) % self.NOISE_POOL_ROWS
        cv2.add(frame, self._noise_up[row : row + self.height], dst=frame)
        row = (index * 53 + 11) % self.NOISE_POOL_ROWS
        cv2.subtract(frame, self._noise_down[row : row + self.height], dst=frame)
        if v.jpeg_quality:
            ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(v.jpeg_quality)])
            frame = cv2.imdecode(data, cv2.IMREAD_COLOR)
        return frame


def _smooth(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3 - 2 * t)
