"""The synthetic crowd scene: pedestrians crossing a paved plaza in front of a building, seen by a
security camera with a watched zone by the entrance.

Most people walk through from one edge to another. A few loiter: they walk into the zone and
wander there for longer than its ``dwell_seconds``. Once per clip a small group gathers in the
zone, so its occupancy goes above ``max_occupancy`` for a while (18 s; in the ``waiting`` variant,
``synthetic:crowd?variant=waiting``, two and a half minutes: a crowd waiting at an entrance). People
keep a little personal space on the ground, but in view they may partly hide each other, as people do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from camera_agents.sources._scene import (
    MARGIN,
    GroundCamera,
    Renderer,
    Track,
    TrackRecorder,
    Weather,
    blend_ground_polygon,
    fill_ground_polygon,
    person_shape,
    rotate_about,
    textured,
)

REF_W, REF_H = 960.0, 540.0
ZONE = [(0.8, 5.0), (4.4, 5.0), (4.4, 8.3), (0.8, 8.3)]  # ground metres: the entrance area
ZONE_CENTRE = (2.6, 6.65)
GATE_Z = 2.8
PERSONAL_SPACE = 0.8


@dataclass
class Walker:
    rec: TrackRecorder
    x: float
    z: float
    speed: float
    plan: list[tuple[float, float, int]]  # waypoints (x, z) and frames to linger there
    linger_left: int = -1
    linger_until: int | None = None  # a frame to linger until, instead of a number of frames
    wander: tuple[float, float] | None = None
    yaw: float = 0.0


def build_camera(width: int, height: int, roll_degrees: float) -> GroundCamera:
    sx, sy = width / REF_W, height / REF_H
    ground = np.array([[-6.0, 0.0], [6.0, 0.0], [6.0, 14.0], [-6.0, 14.0]])
    image = np.array([[40.0, 575.0], [920.0, 575.0], [745.0, 45.0], [215.0, 45.0]])
    image = rotate_about(image, (480.0, 270.0), roll_degrees) * [sx, sy]
    return GroundCamera(ground, image)


# variant -> how long the gathering group stands in the zone, in seconds.
CROWD_VARIANTS: dict[str, float] = {"waiting": 150.0}
GATHERING_S = 18.0


class CrowdScene:
    kind = "crowd"

    def __init__(self, *, seed: int, n_frames: int, fps: float, width: int, height: int, variant: str | None = None) -> None:
        rng = np.random.default_rng(seed + 7_000_003)
        self._gathering_s = CROWD_VARIANTS[variant] if variant else GATHERING_S
        self.width, self.height, self.fps, self.n_frames = width, height, fps, n_frames
        self.camera = build_camera(width, height, roll_degrees=float(rng.uniform(-2.0, 2.0)))
        self._inverse = np.linalg.inv(self.camera.homography)
        self.tracks = self._simulate(rng)
        weather = Weather(
            gain_base=float(rng.uniform(0.95, 1.02)),
            gain_amplitude=float(rng.uniform(0.03, 0.06)),
            gain_period_frames=float(rng.uniform(1.5, 2.5)) * n_frames,
            cloud_start=int(rng.uniform(0.2, 0.6) * n_frames),
            cloud_frames=int(fps * rng.uniform(8.0, 11.0)),
            cloud_factor=float(rng.uniform(0.68, 0.8)),
            cloud_vertical=float(rng.uniform(0.3, 0.7)),
        )
        self.renderer = Renderer(width=width, height=height, camera=self.camera, background=self._background(rng), weather=weather, seed=seed)

    # ----------------------------------------------------------------- configuration

    def lines(self) -> list[dict]:
        a, b = self.camera.project(np.array([[-4.5, GATE_Z], [4.5, GATE_Z]]))
        tail, head = self.camera.project(np.array([[0.0, GATE_Z + 0.8], [0.0, GATE_Z - 0.8]]))
        return [{"id": "gate", "points": [_pt(a), _pt(b)], "in_direction": [_pt(tail), _pt(head)], "names": {"in": "ra cổng", "out": "vào quảng trường"}}]

    def zones(self) -> list[dict]:
        poly = self.camera.project(np.array(ZONE))
        return [{"id": "entrance", "polygon": [_pt(p) for p in poly], "max_occupancy": 4, "dwell_seconds": 10.0}]

    def calibration(self) -> dict:
        ground = [(-3.0, 1.5), (3.0, 1.5), (3.0, 11.0), (-3.0, 11.0)]
        return {"image_points": [_pt(p) for p in self.camera.project(np.array(ground))], "ground_points": [[x, z] for x, z in ground]}

    def describe(self) -> dict:
        return {
            "name": "Quảng trường Tượng đài Liệt sĩ, Vũng Tàu (mô phỏng)",
            "kind": "security",
            "district": "Vũng Tàu",
            "location": {"lat": 10.3466, "lon": 107.0738},
            # The motion detector: HOG looks for people 128 px tall or more, and the plaza's
            # walkers are 40-60 px. At full scale it found nobody in the entrance zone on seeds
            # 1-6 (occupancy there off by 3.2-4.9 people a frame, never crowded) and took 56 s of
            # a core for 30 s of the scene; the motion detector 0.2-0.8 people (groups counted by
            # their blobs' area on the calibrated ground) and 1 s.
            "detector": {"type": "motion"},
        }

    # ----------------------------------------------------------------- simulation

    def _ground_at(self, x: float, y: float) -> tuple[float, float]:
        p = self._inverse @ np.array([x, y, 1.0])
        return float(p[0] / p[2]), float(p[1] / p[2])

    def _edge_point(self, rng: np.random.Generator) -> tuple[float, float]:
        """A ground point just outside the view, where people come from and go to."""
        side = rng.choice(["left", "right", "bottom", "top"], p=[0.2, 0.2, 0.3, 0.3])
        if side == "bottom":
            return float(rng.uniform(-4.5, 4.5)), -2.2
        if side == "top":
            return float(rng.uniform(-4, 4)), 16.5
        z = float(rng.uniform(0.5, 12.0))
        y = float(self.camera.project(np.array([[0.0, z]]))[0, 1])
        x_edge, _ = self._ground_at(-30.0 if side == "left" else self.width + 30.0, y)
        return x_edge, z

    def _simulate(self, rng: np.random.Generator) -> list[Track]:
        dt = 1.0 / self.fps
        seconds = self.n_frames / self.fps
        # Who arrives when: passers-by, loiterers, and one gathering group.
        arrivals: list[tuple[float, str]] = []
        t = float(rng.exponential(1.2))
        while t < seconds:
            arrivals.append((t, "pass"))
            t += float(rng.exponential(1.6))
        for _ in range(max(1, int(seconds / 12))):
            arrivals.append((float(rng.uniform(0, max(seconds - 14.0, 1.0))), "loiter"))
        gather_at = float(rng.uniform(0.2, 0.5) * seconds)
        for k in range(5):
            arrivals.append((gather_at + k * 0.7, f"gather:{k}"))
        arrivals.sort()
        walkers: list[Walker] = []
        done: list[Track] = []
        next_id = 1
        queue = list(arrivals)
        for frame in range(self.n_frames):
            now = frame * dt
            while queue and queue[0][0] <= now:
                walker = self._new_walker(rng, queue[0][1], next_id, frame, gather_at)
                if not all(math.hypot(walker.x - o.x, walker.z - o.z) > 2 * PERSONAL_SPACE for o in walkers):
                    break  # someone stands where they would appear: they come a frame later
                queue.pop(0)
                walkers.append(walker)
                next_id += 1
            for w in walkers:
                self._step(w, walkers, dt, rng)
            still = []
            for w in walkers:
                if not w.plan and w.linger_left < 0:
                    if w.rec.poses:
                        done.append(w.rec.freeze())
                else:
                    still.append(w)
            walkers = still
        done.extend(w.rec.freeze() for w in walkers if w.rec.poses)
        return sorted(done, key=lambda tr: tr.object_id)

    def _new_walker(self, rng: np.random.Generator, role: str, object_id: int, frame: int, gather_at: float) -> Walker:
        shape, *_ = person_shape(rng)
        start, end = self._edge_point(rng), self._edge_point(rng)
        while math.hypot(start[0] - end[0], start[1] - end[1]) < 7:
            end = self._edge_point(rng)
        plan: list[tuple[float, float, int]] = []
        if role == "loiter":
            spot = (ZONE_CENTRE[0] + float(rng.uniform(-0.9, 0.9)), ZONE_CENTRE[1] + float(rng.uniform(-0.9, 0.9)))
            plan.append((*spot, int(self.fps * rng.uniform(14.0, 22.0))))
        linger_until = None
        if role.startswith("gather:"):
            # The group stands in a ring, each at its own place, until one common moment.
            angle = 2 * math.pi * int(role.split(":")[1]) / 5 + float(rng.uniform(-0.2, 0.2))
            spot = (ZONE_CENTRE[0] + 1.0 * math.cos(angle), ZONE_CENTRE[1] + 1.0 * math.sin(angle))
            plan.append((*spot, 1))
            linger_until = int((gather_at + self._gathering_s) * self.fps)
        plan.append((*end, 0))
        rec = TrackRecorder(object_id, "person", shape, frame)
        return Walker(rec, start[0], start[1], float(rng.uniform(1.0, 1.5)), plan, linger_until=linger_until)

    def _step(self, w: Walker, walkers: list[Walker], dt: float, rng: np.random.Generator) -> None:
        x0, z0 = w.x, w.z
        self._advance(w, walkers, dt, rng)
        moved = math.hypot(w.x - x0, w.z - z0)
        if moved > 0.002:
            w.yaw = math.atan2(w.x - x0, w.z - z0)
        w.rec.record(w.x, w.z, w.yaw, moved / dt)

    def _advance(self, w: Walker, walkers: list[Walker], dt: float, rng: np.random.Generator) -> None:
        if w.linger_left > 0:
            w.linger_left -= 1
            # Wander slowly around the spot, pausing now and then.
            if w.wander is None or rng.random() < 0.02:
                a = float(rng.uniform(0, 2 * math.pi))
                w.wander = (math.cos(a) * 0.35, math.sin(a) * 0.35) if rng.random() < 0.6 else (0.0, 0.0)
            vx, vz = w.wander
            spot_x, spot_z = w.plan[0][0], w.plan[0][1]
            if math.hypot(w.x + vx * dt - spot_x, w.z + vz * dt - spot_z) > 0.7:
                w.wander = (-vx, -vz)
                vx, vz = w.wander
            self._try_move(w, walkers, vx * dt, vz * dt)
            if w.linger_left == 0:
                w.plan.pop(0)
                w.linger_left = -1
            return
        tx, tz, linger = w.plan[0]
        dx, dz = tx - w.x, tz - w.z
        dist = math.hypot(dx, dz)
        step = w.speed * dt
        if dist <= step:
            self._try_move(w, walkers, dx, dz)
            if linger > 0:
                w.linger_left = linger
                if w.linger_until is not None:
                    w.linger_left = max(w.linger_until - (w.rec.first_frame + len(w.rec.poses)), int(3 * self.fps))
            else:
                w.plan.pop(0)
            return
        ux, uz = dx / dist * step, dz / dist * step
        if not self._try_move(w, walkers, ux, uz):
            # Blocked: a side step, as people do; else wait.
            side = 1 if rng.random() < 0.5 else -1
            self._try_move(w, walkers, -uz * side, ux * side)

    def _try_move(self, w: Walker, walkers: list[Walker], dx: float, dz: float) -> bool:
        """Move unless it brings this walker closer to someone already within personal space."""
        nx, nz = w.x + dx, w.z + dz
        for o in walkers:
            if o is not w:
                new_d = math.hypot(nx - o.x, nz - o.z)
                if new_d < PERSONAL_SPACE and new_d < math.hypot(w.x - o.x, w.z - o.z):
                    return False
        w.x, w.z = nx, nz
        return True

    # ----------------------------------------------------------------- background

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        h, w = self.height + 2 * MARGIN, self.width + 2 * MARGIN
        cam = self.camera
        img = textured(rng, (h, w), (150, 160, 172), 9.0, 5.0)
        grid = np.zeros((h, w), dtype=np.uint8)
        for z in np.arange(-4, 40, 1.5):
            fill_ground_polygon(grid, cam, [(-40, z), (40, z), (40, z + 0.06), (-40, z + 0.06)], (255, 255, 255), samples=2)  # type: ignore[arg-type]
        for x in np.arange(-40, 40, 1.5):
            fill_ground_polygon(grid, cam, [(x, -4), (x + 0.06, -4), (x + 0.06, 40), (x, 40)], (255, 255, 255), samples=2)  # type: ignore[arg-type]
        img[grid > 0] = (img[grid > 0] * 0.8).astype(np.uint8)
        # A darker granite band around the entrance, a fountain, planters and the building.
        fill_ground_polygon(img, cam, [(0.3, 4.5), (4.9, 4.5), (4.9, 8.8), (0.3, 8.8)], (120, 124, 130))
        blend_ground_polygon(img, cam, ZONE, 1.08)
        fountain = [(-3.0 + 1.4 * math.cos(a), 7.5 + 1.4 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 32, endpoint=False)]
        fill_ground_polygon(img, cam, fountain, (175, 178, 180))
        water = [(-3.0 + 1.1 * math.cos(a), 7.5 + 1.1 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 32, endpoint=False)]
        fill_ground_polygon(img, cam, water, (140, 110, 70))
        for x, z in ((-5.0, 2.5), (5.2, 2.0), (-5.2, 11.0)):
            fill_ground_polygon(img, cam, [(x - 0.8, z - 0.8), (x + 0.8, z - 0.8), (x + 0.8, z + 0.8), (x - 0.8, z + 0.8)], (40, 110, 60))
        fill_ground_polygon(img, cam, [(-60, 13.5), (60, 13.5), (60, 300.0), (-60, 300.0)], (190, 200, 215))
        for x in np.arange(-20, 20, 2.0):
            fill_ground_polygon(img, cam, [(x, 14.0), (x + 0.9, 14.0), (x + 0.9, 16.5), (x, 16.5)], (110, 90, 80))
        for _ in range(6):  # static shade of trees
            x, z = rng.uniform(-6, 6), rng.uniform(0, 12)
            pts = [(x + 1.0 * math.cos(a), z + 0.9 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 14, endpoint=False)]
            blend_ground_polygon(img, cam, pts, 0.65)
        return cv2.GaussianBlur(img, (3, 3), 0.6)


def _pt(p: np.ndarray) -> list[float]:
    return [round(float(p[0]), 1), round(float(p[1]), 1)]
