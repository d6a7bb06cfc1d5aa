"""Synthetic scenes with exact ground truth: ``synthetic:traffic?seed=3`` and ``synthetic:crowd?seed=3``.

A scene is simulated once on a ground plane (deterministic per seed and options), then frames are
rendered on demand. The ground truth is computed from the very geometry that is drawn: an
object's box is the bounding box of its drawn silhouette (after the camera shake), its anchor the
box's bottom-centre, and a crossing is the first frame in which that anchor has passed from one
side of a counting line's segment to the other (each object counts at most once per line, as the
agent's counter does). ``direction`` is ``in`` when the anchor's motion across the line agrees
with the line's ``in_direction`` arrow. Boxes are in pixel coordinates with pixel centres on
integers; OpenCV fills polygon edges inclusively, so a drawn silhouette may reach up to a pixel
beyond its truth box. Occupancy counts the anchors inside a zone's polygon each frame; a loiterer
is an unbroken stay of at least the zone's ``dwell_seconds``.

Options (query string): ``seed`` (0), ``frames`` (750), ``fps`` (25), ``width`` (960),
``height`` (540), ``start`` (an ISO timestamp; default: the wall clock at opening) and, for
traffic, ``variant``: one of a family of cameras (``synthetic:traffic?variant=night-wet&seed=31``;
the names are in ``camera_agents.sources._variants.VARIANTS``), each with its own geometry,
traffic, light and camera faults. Without it, the original avenue scene.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode

import numpy as np

from camera_agents.geometry import points_in_polygon
from camera_agents.sources import Frame, SourceError, SourceInfo
from camera_agents.sources._scene import Renderer, Track

SCENES = ("traffic", "crowd")
_DEFAULTS = {"seed": 0, "frames": 750, "fps": 25.0, "width": 960, "height": 540}
# Half an hour at 25 fps: a scene is simulated whole up front, and its truth kept (~100 MB then).
MAX_FRAMES = 45_000


@dataclass(frozen=True)
class SceneSpec:
    scene: Literal["traffic", "crowd"]
    seed: int = 0
    frames: int = 750
    fps: float = 25.0
    width: int = 960
    height: int = 540
    start: datetime | None = None
    variant: str | None = None

    @classmethod
    def parse(cls, spec: str) -> SceneSpec:
        body = spec.removeprefix("synthetic:")
        scene, _, query = body.partition("?")
        if scene not in SCENES:
            raise SourceError(f"source {spec!r}: unknown synthetic scene {scene!r}; choose one of {', '.join(SCENES)}")
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False))
        unknown = sorted(set(options) - set(_DEFAULTS) - {"start", "variant"})
        if unknown:
            raise SourceError(f"source {spec!r}: unknown option(s) {', '.join(unknown)}; known: seed, frames, fps, width, height, start, variant")
        values: dict[str, object] = {}
        try:
            for key in ("seed", "frames", "width", "height"):
                if key in options:
                    values[key] = int(options[key])
            if "fps" in options:
                values["fps"] = float(options["fps"])
            if "start" in options:
                start = datetime.fromisoformat(options["start"].replace("Z", "+00:00"))
                values["start"] = start if start.tzinfo else start.replace(tzinfo=UTC)
        except ValueError as exc:
            raise SourceError(f"source {spec!r}: bad option value: {exc}") from None
        if "variant" in options:
            from camera_agents.sources._crowd import CROWD_VARIANTS
            from camera_agents.sources._variants import VARIANTS

            known_variants = VARIANTS if scene == "traffic" else CROWD_VARIANTS
            if options["variant"] not in known_variants:
                raise SourceError(f"source {spec!r}: unknown variant {options['variant']!r}; known: {', '.join(known_variants)}")
            values["variant"] = options["variant"]
        parsed = cls(scene=scene, **values)  # type: ignore[arg-type]
        if not 1 <= parsed.frames <= MAX_FRAMES or not 1.0 <= parsed.fps <= 240.0:
            raise SourceError(f"source {spec!r}: frames must be within 1..{MAX_FRAMES} and fps within 1..240")
        if not (64 <= parsed.width <= 7680 and 64 <= parsed.height <= 4320):
            raise SourceError(f"source {spec!r}: width and height must be within 64x64..7680x4320")
        return parsed

    def canonical(self) -> str:
        """The spec string that reproduces this scene (defaults left out)."""
        options: dict[str, object] = {"variant": self.variant} if self.variant else {}
        options |= {k: getattr(self, k) for k in _DEFAULTS if getattr(self, k) != _DEFAULTS[k] or k == "seed"}
        if self.start is not None:
            options["start"] = self.start.isoformat()
        return f"synthetic:{self.scene}?{urlencode(options)}"


# --------------------------------------------------------------------------- ground truth


@dataclass(frozen=True, slots=True)
class TruthCrossing:
    frame_index: int
    object_id: int
    cls: str
    line_id: str
    direction: Literal["in", "out"]
    speed_kmh: float = 0.0  # ground speed at the crossing


@dataclass(frozen=True, slots=True)
class TruthBox:
    object_id: int
    cls: str
    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 of the visible part


@dataclass(frozen=True, slots=True)
class TruthDwell:
    """An object staying in a zone for at least the zone's ``dwell_seconds`` (a loiterer)."""

    object_id: int
    cls: str
    zone_id: str
    first_frame: int
    last_frame: int
    seconds: float


@dataclass(frozen=True, slots=True)
class TruthStop:
    """An object standing still (under 0.3 m/s) for at least a second."""

    object_id: int
    cls: str
    first_frame: int
    last_frame: int


class TruthBoxes(Sequence[tuple[TruthBox, ...]]):
    """The visible objects' boxes, frame by frame: ``boxes[i]`` is a tuple of TruthBox. Stored as
    arrays (half an hour of traffic is millions of boxes) and built into TruthBox values on access."""

    def __init__(self, n_frames: int, frame: np.ndarray, object_id: np.ndarray, bbox: np.ndarray, classes: dict[int, str]) -> None:
        order = np.lexsort((object_id, frame))
        self._frame = np.asarray(frame, dtype=np.int32)[order]
        self._object = np.asarray(object_id, dtype=np.int32)[order]
        self._bbox = np.round(np.asarray(bbox, dtype=np.float64), 2).astype(np.float32)[order].reshape(-1, 4)
        self._classes = dict(classes)
        self._offsets = np.searchsorted(self._frame, np.arange(n_frames + 1))

    @classmethod
    def empty(cls) -> TruthBoxes:
        return cls(0, np.zeros(0), np.zeros(0), np.zeros((0, 4)), {})

    @classmethod
    def from_rows(cls, rows: list[list], classes: dict) -> TruthBoxes:
        """From the JSON layout: per frame, a list of [object_id, cls, x1, y1, x2, y2]."""
        flat = [(i, int(r[0]), r[2:6]) for i, frame in enumerate(rows) for r in frame]
        names = {int(k): v for k, v in classes.items()} | {int(r[0]): str(r[1]) for frame in rows for r in frame}
        if not flat:
            return cls(len(rows), np.zeros(0), np.zeros(0), np.zeros((0, 4)), names)
        frames, objects, boxes = zip(*flat)
        return cls(len(rows), np.array(frames), np.array(objects), np.array(boxes, dtype=np.float64), names)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} is outside 0..{len(self) - 1}")
        lo, hi = self._offsets[index], self._offsets[index + 1]
        return tuple(
            TruthBox(int(o), self._classes.get(int(o), "unknown"), tuple(round(float(v), 2) for v in box))  # type: ignore[arg-type]
            for o, box in zip(self._object[lo:hi], self._bbox[lo:hi])
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TruthBoxes):
            return NotImplemented
        return (
            len(self) == len(other)
            and np.array_equal(self._frame, other._frame)
            and np.array_equal(self._object, other._object)
            and np.array_equal(self._bbox, other._bbox)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class SceneTruth:
    fps: float
    n_frames: int
    crossings: tuple[TruthCrossing, ...]
    occupancy: dict[str, tuple[int, ...]]  # zone id -> objects whose anchor is inside, per frame
    loiterers: tuple[TruthDwell, ...]
    stops: tuple[TruthStop, ...]
    objects: dict[int, str] = field(default_factory=dict)  # object id -> class, every object that appears
    boxes: TruthBoxes = field(default_factory=lambda: TruthBoxes.empty())  # per frame, the visible objects

    def counts(self) -> dict[tuple[str, str], int]:
        """(line_id, direction) -> number of crossings."""
        out: dict[tuple[str, str], int] = {}
        for c in self.crossings:
            out[(c.line_id, c.direction)] = out.get((c.line_id, c.direction), 0) + 1
        return out

    def counts_by_class(self) -> dict[tuple[str, str, str], int]:
        """(line_id, direction, cls) -> number of crossings."""
        out: dict[tuple[str, str, str], int] = {}
        for c in self.crossings:
            key = (c.line_id, c.direction, c.cls)
            out[key] = out.get(key, 0) + 1
        return out

    def to_json(self, *, with_boxes: bool = False) -> dict:
        data = {
            "fps": self.fps,
            "n_frames": self.n_frames,
            "crossings": [asdict(c) for c in self.crossings],
            "occupancy": {k: list(v) for k, v in self.occupancy.items()},
            "loiterers": [asdict(d) for d in self.loiterers],
            "stops": [asdict(s) for s in self.stops],
            "objects": {str(k): v for k, v in self.objects.items()},
        }
        if with_boxes:
            data["boxes"] = [[[b.object_id, b.cls, *b.bbox] for b in frame] for frame in self.boxes]
        return data

    @classmethod
    def from_json(cls, data: dict) -> SceneTruth:
        boxes = TruthBoxes.from_rows(data["boxes"], data.get("objects", {})) if "boxes" in data else TruthBoxes.empty()
        return cls(
            fps=float(data["fps"]),
            n_frames=int(data["n_frames"]),
            crossings=tuple(TruthCrossing(**c) for c in data["crossings"]),
            occupancy={k: tuple(v) for k, v in data["occupancy"].items()},
            loiterers=tuple(TruthDwell(**d) for d in data["loiterers"]),
            stops=tuple(TruthStop(**s) for s in data["stops"]),
            objects={int(k): v for k, v in data.get("objects", {}).items()},
            boxes=boxes,
        )


# --------------------------------------------------------------------------- the scene


class _Placed:
    """One track's boxes over its life: the full box and its anchor (for crossings and zones)
    and the box as seen, cut by the frame's edges (for the per-frame truth)."""

    __slots__ = ("track", "bbox", "anchor", "visible")

    def __init__(self, track: Track, bbox: np.ndarray, anchor: np.ndarray, visible: np.ndarray) -> None:
        self.track, self.bbox, self.anchor, self.visible = track, bbox, anchor, visible


class SyntheticScene:
    """A simulated scene: its tracks, their image geometry, the ground truth and the frames."""

    def __init__(self, spec: SceneSpec) -> None:
        self.spec = spec
        if spec.scene == "traffic" and spec.variant:
            from camera_agents.sources._family import FamilyScene
            from camera_agents.sources._variants import VARIANTS

            self._scene = FamilyScene(VARIANTS[spec.variant], seed=spec.seed, n_frames=spec.frames, fps=spec.fps, width=spec.width, height=spec.height)
        elif spec.scene == "traffic":
            from camera_agents.sources._traffic import TrafficScene

            self._scene = TrafficScene(seed=spec.seed, n_frames=spec.frames, fps=spec.fps, width=spec.width, height=spec.height)
        else:
            from camera_agents.sources._crowd import CrowdScene

            self._scene = CrowdScene(
                seed=spec.seed, n_frames=spec.frames, fps=spec.fps, width=spec.width, height=spec.height, variant=spec.variant
            )
        self.renderer: Renderer = self._scene.renderer
        self._shakes = [self.renderer.shake(i, spec.seed) for i in range(spec.frames)]
        self._placed = [self._place(track) for track in self._scene.tracks]
        alive: list[list[int]] = [[] for _ in range(spec.frames)]
        for number, placed in enumerate(self._placed):
            for frame in range(placed.track.first_frame, placed.track.end_frame):
                alive[frame].append(number)
        self._alive = [np.asarray(numbers, dtype=np.int32) for numbers in alive]
        self.truth = self._truth()
        for placed in self._placed:  # only the truth needed them; long scenes are big
            placed.bbox = placed.visible = None

    def _place(self, track: Track) -> _Placed:
        pose = track.pose
        image, _ = self.renderer.camera.place(track.shape.points[None], pose[:, 0:1], pose[:, 1:2], pose[:, 2:3])
        n = len(pose)
        shake = np.asarray(self._shakes[track.first_frame : track.first_frame + n], dtype=np.float64).reshape(n, 1, 2)
        image = image - shake  # what the camera sees moves opposite to the camera's own shake
        lo, hi = image.min(axis=1), image.max(axis=1)
        bbox = np.concatenate([lo, hi], axis=1)
        anchor = np.stack([(lo[:, 0] + hi[:, 0]) / 2, hi[:, 1]], axis=1)
        w, h = self.spec.width, self.spec.height
        visible = bbox.copy()
        visible[:, [0, 2]] = np.clip(visible[:, [0, 2]], 0, w)
        visible[:, [1, 3]] = np.clip(visible[:, [1, 3]], 0, h)
        # Half out of view, the visible box is the box of the silhouette cut by the frame.
        for local in np.flatnonzero((visible != bbox).any(axis=1)):
            visible[local] = _visible_box(image[local], w, h)
        return _Placed(track, bbox, anchor, visible)

    # ----------------------------------------------------------------- truth

    def camera_config(self) -> dict:
        base = self._scene.describe()
        config = {
            "camera_id": f"synthetic-{self.spec.scene}-{self.spec.variant + '-' if self.spec.variant else ''}{self.spec.seed}",
            "name": base["name"],
            "kind": base["kind"],
            **({"district": base["district"]} if "district" in base else {}),
            "location": base["location"],
            "source": self.spec.canonical(),
            "resolution": {"width": self.spec.width, "height": self.spec.height},
            "detector": base["detector"],
            "lines": self._scene.lines(),
            "zones": self._scene.zones(),
            "calibration": self._scene.calibration(),
        }
        return config

    def _truth(self) -> SceneTruth:
        fps, n_frames = self.spec.fps, self.spec.frames
        crossings: list[TruthCrossing] = []
        for line in self._scene.lines():
            a, b = np.asarray(line["points"], dtype=np.float64)
            tail, head = np.asarray(line["in_direction"], dtype=np.float64)
            arrow_sign = np.sign(_side(a, b, head[None])[0] - _side(a, b, tail[None])[0])
            for placed in self._placed:
                hit = _first_crossing(a, b, placed.anchor)
                if hit is None:
                    continue
                local, motion_sign = hit
                track = placed.track
                crossings.append(
                    TruthCrossing(
                        frame_index=track.first_frame + local,
                        object_id=track.object_id,
                        cls=track.cls,
                        line_id=line["id"],
                        direction="in" if motion_sign == arrow_sign else "out",
                        speed_kmh=round(float(track.speed[local]) * 3.6, 2),
                    )
                )
        crossings.sort(key=lambda c: (c.frame_index, c.line_id, c.object_id))
        occupancy: dict[str, tuple[int, ...]] = {}
        loiterers: list[TruthDwell] = []
        for zone in self._scene.zones():
            polygon = np.asarray(zone["polygon"], dtype=np.float64)
            counts = np.zeros(n_frames, dtype=np.int64)
            for placed in self._placed:
                inside = points_in_polygon(placed.anchor, polygon)
                first = placed.track.first_frame
                counts[first : first + len(inside)] += inside
                dwell = zone.get("dwell_seconds")
                if dwell:
                    for start, stop in _runs(inside):
                        if (stop - start) / fps >= dwell:
                            loiterers.append(TruthDwell(placed.track.object_id, placed.track.cls, zone["id"], first + start, first + stop - 1, round((stop - start) / fps, 2)))
            occupancy[zone["id"]] = tuple(int(c) for c in counts)
        stops: list[TruthStop] = []
        for placed in self._placed:
            still = placed.track.speed < 0.3
            for start, stop in _runs(still):
                if (stop - start) / fps >= 1.0:
                    first = placed.track.first_frame
                    stops.append(TruthStop(placed.track.object_id, placed.track.cls, first + start, first + stop - 1))
        frames, objects, boxes = [], [], []
        names: dict[int, str] = {}
        for placed in self._placed:
            v = placed.visible
            shown = np.flatnonzero((v[:, 2] - v[:, 0] >= 1) & (v[:, 3] - v[:, 1] >= 1))
            if len(shown):
                frames.append(placed.track.first_frame + shown)
                objects.append(np.full(len(shown), placed.track.object_id))
                boxes.append(v[shown])
                names[placed.track.object_id] = placed.track.cls
        if not frames:
            frames, objects, boxes = [np.zeros(0)], [np.zeros(0)], [np.zeros((0, 4))]
        truth_boxes = TruthBoxes(n_frames, np.concatenate(frames), np.concatenate(objects), np.concatenate(boxes), names)
        return SceneTruth(
            fps=fps,
            n_frames=n_frames,
            crossings=tuple(crossings),
            occupancy=occupancy,
            loiterers=tuple(sorted(loiterers, key=lambda d: (d.first_frame, d.object_id))),
            stops=tuple(sorted(stops, key=lambda s: (s.first_frame, s.object_id))),
            objects=names,
            boxes=truth_boxes,
        )

    # ----------------------------------------------------------------- frames

    def render(self, index: int, *, only: set[int] | None = None, shadows: bool = True) -> np.ndarray:
        """Frame ``index``; ``only`` draws just those objects, ``shadows=False`` leaves out their
        cast shadows (light, cloud, shake and noise stay: the same frame with less in it)."""
        tracks = [self._placed[number].track for number in self._alive[index]]
        if only is not None:
            tracks = [track for track in tracks if track.object_id in only]
        if not tracks:
            return self.renderer.render(index, [], self._shakes[index])
        poses = np.array([track.pose[index - track.first_frame] for track in tracks])
        far_to_near = np.argsort(-poses[:, 1], kind="stable")  # near objects are drawn last
        tracks, poses = [tracks[i] for i in far_to_near], poses[far_to_near]
        shapes = [track.shape for track in tracks]
        counts = [len(shape.points) for shape in shapes]
        repeated = np.repeat(poses, counts, axis=0)
        image, shadow = self.renderer.camera.place(np.concatenate([shape.points for shape in shapes]), repeated[:, 0], repeated[:, 1], repeated[:, 2])
        bounds = np.cumsum([0, *counts])
        placed = [
            (shape, image[a:b], shadow[a:b] if shadows else None) for shape, a, b in zip(shapes, bounds[:-1], bounds[1:])
        ]
        return self.renderer.render(index, placed, self._shakes[index])


def _side(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    d = b - a
    return d[0] * (p[:, 1] - a[1]) - d[1] * (p[:, 0] - a[0])


def _first_crossing(a: np.ndarray, b: np.ndarray, anchors: np.ndarray) -> tuple[int, int] | None:
    """The first frame (index into ``anchors``) whose step from the previous anchor crosses the
    segment a-b, and the sign of that motion relative to the line's left-hand normal."""
    if len(anchors) < 2:
        return None
    side = _side(a, b, anchors)
    positive = side > 0
    changes = np.flatnonzero(positive[1:] != positive[:-1])
    d = b - a
    for i in changes:
        p, q = anchors[i], anchors[i + 1]
        sp, sq = side[i], side[i + 1]
        u = sp / (sp - sq) if sp != sq else 0.0
        r = p + u * (q - p)
        t = float(np.dot(r - a, d) / np.dot(d, d))
        if 0.0 <= t <= 1.0:
            return int(i + 1), (1 if sq > sp else -1)
    return None


def _visible_box(points: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    hull = cv2.convexHull(points.astype(np.float32))
    frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    area, cut = cv2.intersectConvexConvex(hull, frame)
    if area <= 0 or cut is None:
        return np.zeros(4)
    cut = cut.reshape(-1, 2)
    return np.concatenate([cut.min(axis=0), cut.max(axis=0)])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


# --------------------------------------------------------------------------- the source


class SyntheticSource:
    """A FrameSource over a synthetic scene, with ``truth`` and ``camera_config()`` for checking."""

    def __init__(self, spec: SceneSpec, *, realtime: bool = False, start_time: datetime | None = None) -> None:
        self.spec = spec
        self.scene = SyntheticScene(spec)
        self.truth = self.scene.truth
        self.info = SourceInfo(fps=spec.fps, width=spec.width, height=spec.height, live=False)
        self.frame_count = spec.frames
        self.start_time = (start_time or spec.start or datetime.now(UTC)).astimezone(UTC)
        self._realtime = realtime
        self._next = 0
        self._t0: float | None = None

    def camera_config(self) -> dict:
        return self.scene.camera_config()

    def want_pictures(self, of: Callable[[int], bool]) -> None:
        """Nothing to do: ``read(picture=False)`` skips the rendering itself."""

    def read(self, *, picture: bool = True) -> Frame | None:
        index = self._next
        if index >= self.spec.frames:
            return None
        if self._realtime:
            if self._t0 is None:
                self._t0 = time.monotonic()
            delay = self._t0 + index / self.spec.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self._next += 1
        image = self.scene.render(index) if picture else None
        return Frame(index=index, ts=self.start_time + timedelta(seconds=index / self.spec.fps), image=image)

    def close(self) -> None:
        self._next = self.spec.frames


def open_synthetic(spec: str, *, realtime: bool = False, start_time: datetime | None = None) -> SyntheticSource:
    return SyntheticSource(SceneSpec.parse(spec), realtime=realtime, start_time=start_time)


def write_video(spec: str, path: str | Path, codec: str = "mp4v") -> SceneTruth:
    """Render a synthetic scene into a video file, with its truth as JSON next to it
    (``<path>.truth.json``, boxes included) and its camera config (``<path>.camera.json``,
    whose ``source`` is the video file). Returns the truth."""
    import cv2

    path = Path(path)
    source = open_synthetic(spec)
    info = source.info
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), info.fps, (info.width, info.height))
    if not writer.isOpened():
        raise SourceError(f"cannot write video {path} with codec {codec!r}")
    try:
        while (frame := source.read()) is not None:
            writer.write(frame.image)
    finally:
        writer.release()
    truth_path = Path(f"{path}.truth.json")
    truth_path.write_text(json.dumps(source.truth.to_json(with_boxes=True)))
    config = source.camera_config()
    config["source"] = str(path)
    Path(f"{path}.camera.json").write_text(json.dumps(config, ensure_ascii=False, indent=2))
    return source.truth


def load_truth(video_path: str | Path) -> SceneTruth:
    """The truth written by ``write_video`` next to a video."""
    return SceneTruth.from_json(json.loads(Path(f"{video_path}.truth.json").read_text()))


__all__ = [
    "SceneSpec",
    "SceneTruth",
    "SyntheticScene",
    "SyntheticSource",
    "TruthBox",
    "TruthCrossing",
    "TruthDwell",
    "TruthStop",
    "load_truth",
    "open_synthetic",
    "write_video",
]
