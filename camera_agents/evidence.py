"""Evidence snapshots: one blurred, annotated JPEG when the agent's own analytics see trouble.

``EvidenceRecorder`` watches the events a camera's pipeline and health monitor produce, and for
the moments an operator will want to *see* it returns a ``Snapshot`` event of the current frame:

- a ``TrackIncident`` (loitering, stopped, wrong way): once per track and kind, the track's box drawn;
- a ``ZoneOccupancy`` over the zone's ``max_occupancy``: once each time the zone goes over, the
  zone and the boxes of the tracks standing in it drawn;
- a ``CameraHealth`` raised (frozen, black, blurred, lost, moved): the last picture the camera gave.

The processors decide which of these become alerts; the snapshot names the event it shows
(``trigger_event_id``) and the alert carries the same id (``evidence_id``), see
``dashboards/evidence.py``. Faces and plates are blurred before anything is drawn or encoded
(``camera_agents.privacy``), and the JPEG is made to fit ``MAX_SNAPSHOT_JPEG_BYTES`` by lowering
its quality, then its size. At most ``max_per_minute`` snapshots per camera, so a busy scene
cannot flood the uplink.

Deciding is cheap and happens on the camera's thread (``plan``: which events, a copy of the
frame); blurring and encoding cost a few hundred milliseconds of CPU and happen on an
``EvidenceWorker`` thread (``render``), so the camera's analysis never waits for a picture.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from camera_agents.config import CameraConfig
from camera_agents.detections import Detections
from camera_agents.privacy import PrivacyBlur
from ingest.contract import MAX_SNAPSHOT_JPEG_BYTES, CameraHealth, Event, Snapshot, TrackIncident, ZoneOccupancy

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]

_SUBJECT = (0, 0, 255)  # red: the object the alert is about
_OTHER = (0, 200, 255)  # amber: the others in the zone
_ZONE = (255, 160, 0)


@dataclass(frozen=True, kw_only=True)
class EvidenceSettings:
    max_bytes: int = MAX_SNAPSHOT_JPEG_BYTES
    qualities: tuple[int, ...] = (85, 75, 65, 55, 45, 35)
    shrink: float = 0.75  # when even the lowest quality is too big, scale by this and retry
    max_per_minute: int = 12


class EncodeError(RuntimeError):
    """A picture that cannot be made to fit the size limit."""


def encode_within(image: np.ndarray, max_bytes: int, qualities: tuple[int, ...] = EvidenceSettings.qualities,
                  shrink: float = EvidenceSettings.shrink) -> tuple[bytes, float]:
    """JPEG of ``image`` of at most ``max_bytes``: the best quality that fits, else smaller.
    Returns the bytes and the scale applied (1.0 = full size)."""
    scale = 1.0
    picture = image
    while min(picture.shape[:2]) >= 16:
        for quality in qualities:
            ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
            if ok and len(data) <= max_bytes:
                return data.tobytes(), scale
        scale *= shrink
        height, width = image.shape[:2]
        picture = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    raise EncodeError(f"a {image.shape[1]}x{image.shape[0]} picture does not fit in {max_bytes} bytes")


@dataclass(frozen=True)
class SnapshotJob:
    """A picture to make: the event it shows, and the frame (a copy) with what to draw on it."""

    event: Event
    kind: str
    subject: str
    image: np.ndarray
    boxes: tuple[Box, ...]
    polygons: tuple


class EvidenceRecorder:
    """One camera's evidence: feed it each step's events, picture and tracks; it returns snapshots."""

    def __init__(self, config: CameraConfig, settings: EvidenceSettings = EvidenceSettings(),
                 privacy: PrivacyBlur | None = None) -> None:
        self.config = config
        self.settings = settings
        self.privacy = privacy or PrivacyBlur()
        self._zones = {zone.id: zone for zone in config.zones}
        self._pictured_tracks: set[tuple[str, int]] = set()
        self._zones_over: set[str] = set()
        self._last_image: np.ndarray | None = None
        self._sent_at: deque[float] = deque()  # event times (s) of the last minute's snapshots
        self.skipped = 0  # over the rate limit

    def observe(self, events: list[Event], image: np.ndarray | None, tracks: Detections) -> list[Snapshot]:
        """The snapshots these events call for, made now (``plan`` then ``render``)."""
        return [self.render(job) for job in self.plan(events, image, tracks)]

    def plan(self, events: list[Event], image: np.ndarray | None, tracks: Detections) -> list[SnapshotJob]:
        """Which of these events get a picture; cheap (the frame is copied once if any do)."""
        if image is not None:
            self._last_image = image
        out: list[SnapshotJob] = []
        for event in events:
            job = None
            if isinstance(event, TrackIncident):
                job = self._incident(event, image, tracks)
            elif isinstance(event, ZoneOccupancy):
                job = self._crowd(event, image, tracks)
            elif isinstance(event, CameraHealth) and event.state == "raised":
                job = self._take(event, "health", f"health:{event.condition}", self._last_image, [], [])
            if job is not None:
                out.append(job)
        return out

    def _incident(self, event: TrackIncident, image: np.ndarray | None, tracks: Detections) -> SnapshotJob | None:
        key = (event.kind, event.track_id)
        if key in self._pictured_tracks or image is None:
            return None
        self._pictured_tracks.add(key)
        if len(self._pictured_tracks) > 10_000:  # a long-running camera: forget the oldest tracks' marks
            self._pictured_tracks = set(sorted(self._pictured_tracks, key=lambda k: k[1])[-5_000:])
        boxes = [tuple(map(float, box)) for box, tid in _tracked(tracks) if tid == event.track_id]
        return self._take(event, "incident", f"track:{event.track_id}", image, boxes, [])

    def _crowd(self, event: ZoneOccupancy, image: np.ndarray | None, tracks: Detections) -> SnapshotJob | None:
        zone = self._zones.get(event.zone_id)
        if zone is None or not zone.max_occupancy:
            return None
        if event.count <= zone.max_occupancy:
            self._zones_over.discard(event.zone_id)
            return None
        if event.zone_id in self._zones_over or image is None:
            return None
        self._zones_over.add(event.zone_id)
        polygon = np.asarray(zone.polygon, np.float32)
        inside = [tuple(map(float, box)) for box, _ in _tracked(tracks)
                  if cv2.pointPolygonTest(polygon, ((box[0] + box[2]) / 2, float(box[3])), False) >= 0]
        return self._take(event, "crowd", f"zone:{event.zone_id}", image, inside, [zone.polygon])

    def _take(self, event: Event, kind: str, subject: str, image: np.ndarray | None, boxes: list[Box],
              polygons: list) -> SnapshotJob | None:
        if image is None:
            return None  # a camera that never gave a picture has nothing to show
        now = event.ts.timestamp()
        while self._sent_at and now - self._sent_at[0] >= 60:
            self._sent_at.popleft()
        if len(self._sent_at) >= self.settings.max_per_minute:
            self.skipped += 1
            return None
        self._sent_at.append(now)
        # A copy: the source may reuse its frame buffer while the picture is being made.
        return SnapshotJob(event, kind, subject, image.copy(), tuple(boxes), tuple(polygons))

    def render(self, job: SnapshotJob) -> Snapshot:
        """Blur, draw, encode: the expensive part, safe on another thread."""
        event, kind, subject, image, boxes, polygons = job.event, job.kind, job.subject, job.image, job.boxes, job.polygons
        picture, regions = self.privacy.apply(image)
        for polygon in polygons:
            cv2.polylines(picture, [np.round(np.asarray(polygon)).astype(np.int32)], True, _ZONE, 2, cv2.LINE_AA)
        colour = _SUBJECT if kind == "incident" else _OTHER
        for x1, y1, x2, y2 in boxes:
            cv2.rectangle(picture, (round(x1), round(y1)), (round(x2), round(y2)), colour, 2)
        jpeg, scale = encode_within(picture, self.settings.max_bytes, self.settings.qualities, self.settings.shrink)
        height, width = image.shape[:2]
        return Snapshot(
            camera_id=event.camera_id, ts=event.ts, kind=kind,  # type: ignore[arg-type]
            trigger_event_id=event.event_id, subject=subject,
            width=max(1, round(width * scale)), height=max(1, round(height * scale)), jpeg=jpeg,
            boxes=tuple(tuple(round(v * scale, 1) for v in box) for box in boxes),  # type: ignore[misc]
            blurred=len(regions),
        )


def _tracked(tracks: Detections) -> list[tuple[np.ndarray, int]]:
    if tracks.tracker_id is None:
        return []
    return list(zip(tracks.xyxy, tracks.tracker_id.tolist()))


class EvidenceWorker:
    """Makes the snapshots a camera's recorder plans on a thread of its own, and sends them.

    ``submit`` (camera thread) plans and queues; the worker renders and calls ``send``. A full
    queue (the CPU cannot keep up) drops the picture with a log line rather than stall the
    camera. ``close`` makes what is queued and stops.
    """

    def __init__(self, recorder: EvidenceRecorder, send: Callable[[Event], None], *, max_queued: int = 8) -> None:
        self.recorder = recorder
        self._send = send
        self._queue: queue.Queue[SnapshotJob | None] = queue.Queue(maxsize=max_queued)
        self.sent = self.dropped = self.failed = 0
        self._thread = threading.Thread(target=self._run, name=f"evidence-{recorder.config.camera_id}", daemon=True)
        self._thread.start()

    def submit(self, events: list[Event], image: np.ndarray | None, tracks: Detections) -> None:
        for job in self.recorder.plan(events, image, tracks):
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                self.dropped += 1
                log.warning("camera %s: evidence snapshot of %s dropped, %d still being made",
                            self.recorder.config.camera_id, job.subject, self._queue.qsize())

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._send(self.recorder.render(job))
                self.sent += 1
            except Exception as exc:  # one picture that cannot be made must not end the others
                self.failed += 1
                log.error("camera %s: evidence snapshot of %s failed: %s", self.recorder.config.camera_id, job.subject, exc)
