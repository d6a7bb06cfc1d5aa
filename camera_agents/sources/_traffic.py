"""The synthetic traffic scene: a Vũng Tàu-like avenue seen from a pole, four lanes, two each way.

Mostly motorbikes that drift across their carriageway, then cars (a quarter of them painted close
to the asphalt's grey), buses and trucks, a few bicycles and pedestrians on the sidewalks. The
southbound approach has a traffic light: on red, vehicles stop a little before the counting line
and go on at green. Vehicles follow a safe-distance rule and only change their lateral position
into free space, so objects never overlap on the ground, and the gap between two objects that
line up along the road is large enough that the taller one never hides the other in view.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from camera_agents.sources._scene import (
    MARGIN,
    TILT,
    GroundCamera,
    Renderer,
    Shape,
    Track,
    TrackRecorder,
    Weather,
    blend_ground_polygon,
    fill_ground_polygon,
    person_shape,
    rotate_about,
    textured,
    vehicle,
)

REF_W, REF_H = 960.0, 540.0
ROAD = 7.0  # half width of the carriageways, metres
SIDEWALK = 10.5
STOP_LINE_Z = 14.0  # the counting line on the approach with the traffic light
EDGE_LINE_Z = 4.0  # a second counting line close to the frame's bottom edge
LAT_MARGIN = 0.55  # least sideways clearance between two objects beside each other, metres
BASE_GAP = 0.9  # least bumper-to-bumper gap besides what the taller object's height needs
BRAKE = 4.0  # m/s², what followers count on to stop
ACCEL = 2.2
GREEN_S, RED_S = 9.0, 5.5

CAR_COLOURS = [(235, 235, 232), (190, 192, 196), (30, 32, 36), (40, 40, 170), (150, 90, 30), (170, 200, 215), (60, 110, 60)]
# Paints within a few levels of the asphalt: the hard case for a background model.
ASPHALT_LIKE = [(84, 86, 90), (96, 96, 100), (78, 82, 88), (104, 102, 100)]
# Speeds of the avenue's vehicles, m/s, by class.
_AVENUE_SPEEDS = {"car": (9.0, 13.0), "bus_truck": (7.5, 10.5), "bicycle": (3.5, 4.8), "motorbike": (7.0, 11.0)}
ASPHALT = (92, 93, 96)


@dataclass
class Group:
    """Objects sharing a way: a carriageway or one walking direction of a sidewalk."""

    way: int  # +1 drives away from the camera (northbound), -1 towards it (southbound)
    x_lo: float
    x_hi: float
    has_light: bool = False


@dataclass
class Mover:
    rec: TrackRecorder
    group: Group
    x: float
    c: float  # progress of the centre along the way, metres (way * Z)
    v: float
    v_want: float
    length: float
    width: float
    height: float
    drift: float  # how much it wanders sideways, m/s
    vx: float = 0.0
    vx_target: float = 0.0
    next_drift_change: int = 0
    stop_at: float | None = None  # progress of the front where it will wait at red
    stop_margin: float = 1.5

    @property
    def front(self) -> float:
        return self.c + self.length / 2

    @property
    def rear(self) -> float:
        return self.c - self.length / 2

    @property
    def z(self) -> float:
        return self.group.way * self.c


def required_gap(a: Mover, b: Mover) -> float:
    return BASE_GAP + TILT * (a.height if a.height > b.height else b.height)


def build_camera(width: int, height: int, roll_degrees: float) -> GroundCamera:
    sx, sy = width / REF_W, height / REF_H
    ground = np.array([[-ROAD, 0.0], [ROAD, 0.0], [ROAD, 70.0], [-ROAD, 70.0]])
    image = np.array([[150.0, 560.0], [810.0, 560.0], [560.0, 30.0], [400.0, 30.0]])
    image = rotate_about(image, (480.0, 270.0), roll_degrees) * [sx, sy]
    return GroundCamera(ground, image)


class TrafficScene:
    kind = "traffic"

    def __init__(self, *, seed: int, n_frames: int, fps: float, width: int, height: int) -> None:
        rng = np.random.default_rng(seed)
        self.width, self.height, self.fps, self.n_frames = width, height, fps, n_frames
        self.camera = build_camera(width, height, roll_degrees=float(rng.uniform(-2.5, 2.5)))
        self._z_top = self._far_z_leaving_frame()
        self.tracks = self._simulate(rng)
        weather = Weather(
            gain_base=float(rng.uniform(0.95, 1.02)),
            gain_amplitude=float(rng.uniform(0.05, 0.09)),
            gain_period_frames=float(rng.uniform(1.5, 2.5)) * n_frames,
            cloud_start=int(rng.uniform(0.15, 0.5) * n_frames),
            cloud_frames=int(fps * rng.uniform(6.0, 9.0)),
            cloud_factor=float(rng.uniform(0.62, 0.75)),
            cloud_vertical=float(rng.uniform(0.3, 0.7)),
        )
        self.renderer = Renderer(width=width, height=height, camera=self.camera, background=self._background(rng), weather=weather, seed=seed)

    # ----------------------------------------------------------------- configuration

    def lines(self) -> list[dict]:
        def across(z: float, x0: float, x1: float, line_id: str, names: dict[str, str]) -> dict:
            a, b = self.camera.project(np.array([[x0, z], [x1, z]]))
            arrow = self.camera.project(np.array([[(x0 + x1) / 2, z + 2.0], [(x0 + x1) / 2, z - 2.0]]))
            return {
                "id": line_id,
                "points": [_pt(a), _pt(b)],
                # Towards the camera (southbound, into the centre) is `in`.
                "in_direction": [_pt(arrow[0]), _pt(arrow[1])],
                "names": names,
            }

        return [
            across(STOP_LINE_Z, -ROAD, ROAD, "stop_line", {"in": "vào trung tâm", "out": "ra Bãi Sau", "in_en": "to the city centre", "out_en": "to Back Beach"}),
            across(EDGE_LINE_Z, -ROAD, ROAD, "near_edge", {"in": "vào trung tâm", "out": "ra Bãi Sau", "in_en": "to the city centre", "out_en": "to Back Beach"}),
        ]

    def zones(self) -> list[dict]:
        # The queue at the light: a vehicle waiting here much longer than a red phase has stopped.
        ground = [(-ROAD, STOP_LINE_Z + 0.3), (0.0, STOP_LINE_Z + 0.3), (0.0, STOP_LINE_Z + 18.0), (-ROAD, STOP_LINE_Z + 18.0)]
        poly = self.camera.project(np.array(ground))
        return [{"id": "southbound_queue", "polygon": [_pt(p) for p in poly], "max_occupancy": 14, "dwell_seconds": 30.0}]

    def calibration(self) -> dict:
        ground = [(-3.5, 6.0), (3.5, 6.0), (3.5, 30.0), (-3.5, 30.0)]
        image = self.camera.project(np.array(ground))
        return {"image_points": [_pt(p) for p in image], "ground_points": [[x, z] for x, z in ground]}

    def describe(self) -> dict:
        return {
            "name": "Ngã tư Lê Hồng Phong – Nguyễn Văn Trỗi (mô phỏng)",
            "kind": "traffic",
            "district": "Vũng Tàu",
            "location": {"lat": 10.3471, "lon": 107.0846},
            "detector": {"type": "motion"},
        }

    # ----------------------------------------------------------------- simulation

    def _far_z_leaving_frame(self) -> float:
        # The Z beyond which the road is above the frame's top edge (or tiny, near the horizon).
        for z in np.arange(40.0, 200.0, 1.0):
            if self.camera.project(np.array([[0.0, z]]))[0, 1] < -4:
                return float(z)
        return 200.0

    def _simulate(self, rng: np.random.Generator) -> list[Track]:
        dt = 1.0 / self.fps
        southbound = Group(-1, -ROAD, 0.0, has_light=True)
        northbound = Group(+1, 0.0, ROAD)
        walks = [Group(+1, 8.45, 9.6), Group(-1, 7.6, 8.35), Group(+1, -9.6, -8.45), Group(-1, -8.35, -7.6)]
        groups = [southbound, northbound, *walks]
        rates = {id(southbound): rng.uniform(1.15, 1.45), id(northbound): rng.uniform(0.95, 1.25)}
        for g in walks:
            rates[id(g)] = rng.uniform(0.04, 0.1)
        next_spawn = {id(g): rng.exponential(1.0 / rates[id(g)]) for g in groups}
        light_offset = rng.uniform(0, GREEN_S + RED_S)
        movers: dict[int, list[Mover]] = {id(g): [] for g in groups}
        finished: list[Track] = []
        pending: dict[int, Mover | None] = {id(g): None for g in groups}
        next_id = 1
        for frame in range(self.n_frames):
            t = frame * dt
            red = ((t + light_offset) % (GREEN_S + RED_S)) >= GREEN_S
            for g in groups:
                key = id(g)
                if pending[key] is None and t >= next_spawn[key]:
                    pending[key] = self._new_mover(rng, g, next_id, frame)
                    next_id += 1
                    next_spawn[key] = t + rng.exponential(1.0 / rates[key])
                candidate = pending[key]
                if candidate is not None and self._place(candidate, movers[key], rng):
                    candidate.rec.first_frame = frame
                    movers[key].append(candidate)
                    pending[key] = None
                # Traffic stops at a red light before the counting line (its southbound progress).
                advance(movers[key], g, beside=_side_by_side, gap=required_gap, red=red, stop_progress=-STOP_LINE_Z, frame=frame, dt=dt, fps=self.fps, rng=rng)
                alive = []
                for m in movers[key]:
                    if self._gone(m):
                        if m.rec.poses:
                            finished.append(m.rec.freeze())
                    else:
                        alive.append(m)
                movers[key] = alive
        for g in groups:
            finished.extend(m.rec.freeze() for m in movers[id(g)] if m.rec.poses)
        return sorted(finished, key=lambda tr: tr.object_id)

    def _new_mover(self, rng: np.random.Generator, g: Group, object_id: int, frame: int) -> Mover:
        walking = g.x_hi - g.x_lo < 2.0
        if walking:
            cls = "person"
            shape, w, l, h = person_shape(rng)
            v, drift, x = rng.uniform(1.1, 1.6), 0.05, rng.uniform(g.x_lo + 0.3, g.x_hi - 0.3)
        else:
            cls = str(rng.choice(["motorbike", "car", "bus_truck", "bicycle"], p=[0.68, 0.19, 0.07, 0.06]))
            # A quarter of the cars and three motorbikes in ten the asphalt's grey.
            shape, w, l, h, v, drift = vehicle(
                rng, cls, car_palette=lambda: ASPHALT_LIKE if rng.random() < 0.25 else CAR_COLOURS,
                rider_machine=lambda: ASPHALT_LIKE[rng.integers(len(ASPHALT_LIKE))] if rng.random() < 0.3 else tuple(int(c) for c in rng.integers(20, 200, size=3)),
                speeds=_AVENUE_SPEEDS, rider_drift=(0.25, 0.75),
            )  # fmt: skip
            x = self._lateral_spot(rng, g, cls, w)
        rec = TrackRecorder(object_id, cls, shape, frame)
        c = self._spawn_progress(rng, g, l, h, walking)
        return Mover(rec, g, x, c, v, v, l, w, h, drift, stop_margin=float(rng.uniform(0.9, 2.6)))

    def _lateral_spot(self, rng: np.random.Generator, g: Group, cls: str, width: float) -> float:
        lo, hi = g.x_lo + width / 2 + 0.25, g.x_hi - width / 2 - 0.25
        outer = g.x_lo if g.way < 0 else g.x_hi  # the kerb side of this carriageway
        inward = 1.0 if g.way < 0 else -1.0
        lane_centres = [outer + inward * 1.75, outer + inward * 5.25]
        if cls in ("car", "bus_truck"):
            weights = [0.7, 0.3] if cls == "bus_truck" else [0.45, 0.55]
            centre = lane_centres[int(rng.choice(2, p=weights))]
            return float(np.clip(centre + rng.normal(0, 0.2), lo, hi))
        if cls == "bicycle":
            return float(np.clip(outer + (0.8 if g.way < 0 else -0.8), lo, hi))
        return float(rng.uniform(lo, hi))

    def _spawn_progress(self, rng: np.random.Generator, g: Group, length: float, height: float, walking: bool) -> float:
        if walking:  # pedestrians step out of the shops onto the sidewalk
            return g.way * float(rng.uniform(3.0, 35.0))
        if g.way < 0:  # enters at the top: the whole object beyond the frame's top edge
            return -(self._z_top + length / 2 + 1.0)
        return -2.0 - length / 2 - TILT * height  # enters at the bottom, fully below the frame

    def _gone(self, m: Mover) -> bool:
        if m.group.way < 0:
            return m.z + m.length / 2 + TILT * m.height < -4.0
        return m.rear > self._z_top + 2.0

    def _place(self, m: Mover, others: list[Mover], rng: np.random.Generator) -> bool:
        """Enter the scene where nothing is in the way; motorbikes try a few lateral spots."""
        tries = 4 if m.rec.cls == "motorbike" else 1
        for _ in range(tries):
            if all(not _side_by_side(m, o, m.x) or abs(m.c - o.c) >= (m.length + o.length) / 2 + required_gap(m, o) + 4.0 for o in others):
                behind = [o for o in others if o.c > m.c and _side_by_side(m, o, m.x)]
                if behind:
                    m.v = min(m.v, min(o.v for o in behind))
                return True
            if m.rec.cls == "motorbike":
                m.x = self._lateral_spot(rng, m.group, "motorbike", m.width)
        return False

    # ----------------------------------------------------------------- background

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        h, w = self.height + 2 * MARGIN, self.width + 2 * MARGIN
        cam = self.camera
        img = textured(rng, (h, w), (118, 128, 132), 10.0, 5.0)  # paving and buildings' base
        # Shop fronts along both sides, beyond the sidewalks.
        for side in (-1, 1):
            z = -5.0
            while z < self._z_top + 40:
                depth = rng.uniform(4.0, 9.0)
                colour = tuple(int(c) for c in rng.integers(60, 220, size=3))
                x0, x1 = side * SIDEWALK, side * (SIDEWALK + 6.0)
                fill_ground_polygon(img, cam, [(x0, z), (x1, z), (x1, z + depth), (x0, z + depth)], colour)  # type: ignore[arg-type]
                z += depth + rng.uniform(0.2, 0.8)
        for side in (-1, 1):  # sidewalks with tiles
            fill_ground_polygon(img, cam, [(side * ROAD, -10), (side * SIDEWALK, -10), (side * SIDEWALK, 400), (side * ROAD, 400)], (150, 160, 168))
        road = textured(rng, (h, w), ASPHALT, 7.0, 4.5)
        mask = np.zeros((h, w), dtype=np.uint8)
        fill_ground_polygon(mask, cam, [(-ROAD, -10), (ROAD, -10), (ROAD, 400), (-ROAD, 400)], (255, 255, 255))  # type: ignore[arg-type]
        np.copyto(img, road, where=mask[:, :, None] > 127)
        sidewalk_tiles = np.zeros((h, w), dtype=np.uint8)
        for z in np.arange(-10, 200, 1.2):
            for side in (-1, 1):
                fill_ground_polygon(sidewalk_tiles, cam, [(side * ROAD, z), (side * SIDEWALK, z), (side * SIDEWALK, z + 0.05), (side * ROAD, z + 0.05)], (255, 255, 255), samples=2)  # type: ignore[arg-type]
        img[sidewalk_tiles > 0] = (img[sidewalk_tiles > 0] * 0.85).astype(np.uint8)
        for side in (-1, 1):  # kerbs
            fill_ground_polygon(img, cam, [(side * ROAD, -10), (side * (ROAD + 0.2), -10), (side * (ROAD + 0.2), 400), (side * ROAD, 400)], (190, 195, 198))
        # Asphalt repairs: darker patches, static, that the background model must learn.
        for _ in range(6):
            x, z = rng.uniform(-ROAD + 1, ROAD - 2), rng.uniform(0, 45)
            blend_ground_polygon(img, cam, [(x, z), (x + rng.uniform(0.8, 2.5), z), (x + rng.uniform(0.8, 2.5), z + rng.uniform(1, 4)), (x, z + rng.uniform(1, 4))], 0.82)
        white, yellow = (215, 220, 222), (40, 175, 210)
        for x in (-0.22, 0.1):  # double yellow centre line
            fill_ground_polygon(img, cam, [(x, -10), (x + 0.12, -10), (x + 0.12, 400), (x, 400)], yellow)
        for x in (-ROAD + 0.3, ROAD - 0.45):  # edge lines
            fill_ground_polygon(img, cam, [(x, -10), (x + 0.15, -10), (x + 0.15, 400), (x, 400)], white)
        for x in (-3.5, 3.5):  # dashed lane lines
            for z in np.arange(-10, 200, 9.0):
                fill_ground_polygon(img, cam, [(x - 0.07, z), (x + 0.07, z), (x + 0.07, z + 3.0), (x - 0.07, z + 3.0)], white, samples=3)
        # The stop bar just before the counting line, and a zebra crossing after it.
        fill_ground_polygon(img, cam, [(-ROAD, STOP_LINE_Z + 0.5), (0, STOP_LINE_Z + 0.5), (0, STOP_LINE_Z + 0.9), (-ROAD, STOP_LINE_Z + 0.9)], white)
        for x in np.arange(-ROAD + 0.3, ROAD - 0.3, 1.0):
            fill_ground_polygon(img, cam, [(x, STOP_LINE_Z - 4.6), (x + 0.5, STOP_LINE_Z - 4.6), (x + 0.5, STOP_LINE_Z - 1.4), (x, STOP_LINE_Z - 1.4)], (200, 205, 208), samples=3)
        # Static shade of roadside trees: a moving object passing it changes brightness.
        for _ in range(7):
            side = rng.choice([-1, 1])
            x, z = side * rng.uniform(ROAD - 1.5, SIDEWALK), rng.uniform(0, 40)
            pts = [(x + 1.6 * math.cos(a), z + 1.4 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 14, endpoint=False)]
            blend_ground_polygon(img, cam, pts, 0.62)
        img = cv2.GaussianBlur(img, (3, 3), 0.6)  # lens softness
        return img


def follow(movers: list[Mover], *, beside: Callable[[Mover, Mover, float], bool], gap: Callable[[Mover, Mover], float],
           stop_at_light: bool, red: bool, stop_progress: float, dt: float) -> None:
    """Move every mover one step along its road, leaders first (``movers`` sorted by progress,
    furthest first): each keeps a braking distance behind the nearest one ahead ``beside`` it and,
    at a red light, stops ``stop_margin`` before ``stop_progress`` if it still can. Shared by every
    synthetic traffic camera."""
    for i, m in enumerate(movers):
        room = math.inf
        leader_v = math.inf
        for o in movers[:i]:
            if beside(m, o, m.x):
                space = o.rear - m.front - gap(m, o)
                if space < room:
                    room, leader_v = space, o.v
        if stop_at_light:
            if not red:
                m.stop_at = None
            elif m.stop_at is None:
                target = stop_progress - m.stop_margin
                if m.front <= target and target - m.front >= m.v * m.v / (2 * 3.0):
                    m.stop_at = target
            if m.stop_at is not None:
                room = min(room, m.stop_at - m.front)
        room = max(room, 0.0)
        v = min(m.v_want, m.v + ACCEL * dt, math.sqrt(2 * BRAKE * room) + (0 if leader_v == math.inf else 0.5 * leader_v), room / dt)
        m.v = max(v, 0.0)
        m.c += m.v * dt


def advance(movers: list[Mover], g: Group, *, beside: Callable[[Mover, Mover, float], bool], gap: Callable[[Mover, Mover], float],
            red: bool, stop_progress: float, frame: int, dt: float, fps: float, rng: np.random.Generator) -> None:
    """One step of a group's movers: along the road (``follow``), then sideways (``drift``), each
    step recorded with the heading it makes. Shared by every synthetic traffic camera."""
    # Leaders first, so each follower sees where the one ahead has already moved to.
    movers.sort(key=lambda m: -m.c)
    follow(movers, beside=beside, gap=gap, stop_at_light=g.has_light, red=red, stop_progress=stop_progress, dt=dt)
    for m in movers:
        drift(m, movers, beside=beside, gap=gap, frame=frame, dt=dt, fps=fps, rng=rng)
        yaw = 0.0 if g.way > 0 else math.pi
        if m.v > 0.5:
            yaw += g.way * math.atan2(m.vx, m.v)
        m.rec.record(m.x, m.z, yaw, m.v)


def drift(m: Mover, movers: list[Mover], *, beside: Callable[[Mover, Mover, float], bool], gap: Callable[[Mover, Mover], float],
          frame: int, dt: float, fps: float, rng: np.random.Generator) -> None:
    """A weaving mover (``m.drift``: its top speed sideways) picks a new sideways speed every 1-3 s
    and moves across its side of the road, slower as it slows down (nobody swerves while waiting
    at the light); it turns back at its side's edge, and rather than close on a mover level with it."""
    if m.drift <= 0:
        return
    if frame >= m.next_drift_change:
        m.vx_target = 0.0 if rng.random() < 0.35 else float(rng.uniform(-m.drift, m.drift))
        m.next_drift_change = frame + int(fps * rng.uniform(1.0, 3.0))
    m.vx += min(max(m.vx_target - m.vx, -0.8 * dt), 0.8 * dt)
    new_x = m.x + m.vx * dt * min(1.0, m.v / 3.0)
    lo, hi = m.group.x_lo + m.width / 2 + 0.2, m.group.x_hi - m.width / 2 - 0.2
    if not lo <= new_x <= hi:
        m.vx, m.vx_target = 0.0, -m.vx_target
        return
    for o in movers:
        if o is m or abs(m.c - o.c) >= (m.length + o.length) / 2 + gap(m, o):
            continue  # not level with each other: no conflict sideways
        closer = not beside(m, o, m.x) or abs(new_x - o.x) < abs(m.x - o.x)
        if beside(m, o, new_x) and closer:
            m.vx, m.vx_target = 0.0, -m.vx_target
            return
    m.x = new_x


def _side_by_side(a: Mover, b: Mover, ax: float) -> bool:
    return abs(ax - b.x) < (a.width + b.width) / 2 + LAT_MARGIN


def _pt(p: np.ndarray) -> list[float]:
    return [round(float(p[0]), 1), round(float(p[1]), 1)]


__all__ = ["TrafficScene", "Track", "Shape"]
