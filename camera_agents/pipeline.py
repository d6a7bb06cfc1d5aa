"""One camera's analysis: frames in, contract events out.

``CameraPipeline`` wires detector -> tracker -> analytics and turns their results into contract
events. It does no I/O: the runner (``camera_agents.agent``) reads the source and sends the
events, so the whole chain can be driven frame by frame in tests.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from camera_agents.analytics import (
    CountingLine,
    Crossing,
    DwellMonitor,
    LineCounter,
    SpeedEstimator,
    StoppedMonitor,
    ZoneCounter,
)
from camera_agents.config import CameraConfig, camera_info
from camera_agents.detection import Detector, make_detector
from camera_agents.detections import Detections
from camera_agents.geometry import GroundPlane, travel_across
from camera_agents.tracking import Tracker
from ingest.contract import (
    OBJECT_CLASSES,
    Event,
    FrameEvent,
    LineCrossing,
    TrackedObject,
    TrackIncident,
    ZoneOccupancy,
)
from ingest.framesample import FrameSampler


class CameraPipeline:
    """Detect, track and count on one camera's frames; ``process`` returns the events to publish."""

    def __init__(
        self, config: CameraConfig, *, width: int, height: int, fps: float, detector: Detector | None = None
    ) -> None:
        config = config.for_picture(width, height)  # lines drawn on the main stream, pictures from a substream
        self.config = config
        self.width, self.height = width, height
        analytics = config.analytics
        self.stride = analytics.stride_at(fps)  # read-only: every stride-th frame is analysed
        ground = None
        if config.calibration is not None:
            ground = GroundPlane.from_points(config.calibration.image_points, config.calibration.ground_points)
        travel = travel_across([line.points for line in config.lines])
        self.detector = detector or make_detector(config.detector, kind=config.kind, ground=ground, travel=travel)
        analysed_fps = max(fps, 1.0) / self.stride
        self.tracker = Tracker(
            min_hits=config.confirmation_hits(),
            max_lost=max(1, math.ceil(config.tracking.max_lost_s * analysed_fps)),
            min_iou=config.tracking.min_iou,
            max_distance=config.tracking.max_distance,
        )
        forget_s = config.tracking.max_lost_s + 2.0
        self.lines = [
            LineCounter(
                CountingLine.from_points(line.id, line.points, line.in_direction, allowed_direction=line.allowed_direction),
                hysteresis_px=analytics.hysteresis_at(width),
                frame_size=(width, height),
                forget_after_s=forget_s,
            )
            for line in config.lines
        ]
        self.zones = [ZoneCounter(zone.id, zone.polygon) for zone in config.zones]
        self.dwell = {
            zone.id: DwellMonitor(counter, dwell_s=zone.dwell_seconds)
            for zone, counter in zip(config.zones, self.zones)
            if zone.dwell_seconds is not None
        }
        self.stopped = (
            StoppedMonitor(stopped_s=analytics.stopped_seconds, max_px=analytics.stopped_px_at(width), forget_after_s=forget_s)
            if config.kind == "traffic"
            else None
        )
        self.speed = SpeedEstimator(ground, forget_after_s=forget_s) if ground is not None else None
        self._start: datetime | None = None
        self._occupancy_sent: dict[str, tuple[int, float]] = {}
        self._frames_sent = FrameSampler(config.analytics.frame_every_s)
        self._info_sent_at = -math.inf
        self.last_tracks: Detections = Detections.empty()

    def wants_picture(self, frame_no: int) -> bool:
        """Whether ``process`` will look at this frame's pixels (only every stride-th frame)."""
        return frame_no % self.stride == 0

    def process(self, frame_no: int, ts: datetime, image: np.ndarray | None) -> list[Event]:
        if self._start is None:
            self._start = ts
        now = (ts - self._start).total_seconds()
        events: list[Event] = []
        cam = self.config.camera_id
        if now - self._info_sent_at >= self.config.analytics.camera_info_every_s:
            self._info_sent_at = now
            events.append(camera_info(self.config, ts))
        if not self.wants_picture(frame_no):
            return events  # a frame the stride skips: no detector looks at it
        detections = self.detector.detect(image)
        tracks = self.tracker.update(detections)
        self.last_tracks = tracks
        speeds = self.speed.trigger(tracks, now=now, frame_size=(self.width, self.height)) if self.speed is not None else np.full(len(tracks), np.nan)
        speed_of = dict(zip(tracks.tracker_id.tolist(), speeds.tolist()))  # type: ignore[union-attr]
        for counter in self.lines:
            for crossing in counter.trigger(tracks, frame_no=frame_no, now=now):
                events.extend(self._crossing_events(crossing, speed_of.get(crossing.track_id)))
        for zone in self.zones:
            inside = zone.trigger(tracks)
            events.extend(self._occupancy_event(zone, frame_no, ts, now))
            monitor = self.dwell.get(zone.zone_id)
            if monitor is not None:
                kind = "loitering" if self.config.kind == "security" else "stopped"
                for dwell in monitor.trigger(tracks, inside, frame_no=frame_no, now=now):
                    events.append(
                        TrackIncident(
                            camera_id=cam, ts=ts, frame_no=frame_no, kind=kind, track_id=dwell.track_id,
                            cls=OBJECT_CLASSES[dwell.class_id], zone_id=zone.zone_id, duration_s=round(dwell.duration_s, 2),
                        )  # fmt: skip
                    )
        if self.stopped is not None:
            for still in self.stopped.trigger(tracks, frame_no=frame_no, now=now):
                events.append(
                    TrackIncident(
                        camera_id=cam, ts=ts, frame_no=frame_no, kind="stopped", track_id=still.track_id,
                        cls=OBJECT_CLASSES[still.class_id], duration_s=round(still.duration_s, 2),
                    )  # fmt: skip
                )
        if self.config.analytics.frame_events:
            confirmed = tracks.data.get("confirmed", np.ones(len(tracks), bool))
            if self._frames_sent.keeps(cam, ts, tracks.tracker_id[confirmed].tolist()):  # type: ignore[index]
                events.append(self._frame_event(tracks, confirmed, speeds, frame_no, ts))
        return events

    def _at(self, now: float) -> datetime:
        assert self._start is not None
        return self._start + timedelta(seconds=now)

    def _crossing_events(self, crossing: Crossing, speed: float | None) -> list[Event]:
        ts = self._at(crossing.now)
        speed_kmh = None if speed is None or math.isnan(speed) else round(speed, 1)
        events: list[Event] = [
            LineCrossing(
                camera_id=self.config.camera_id, ts=ts, frame_no=crossing.frame_no, line_id=crossing.line_id,
                direction=crossing.direction, cls=crossing.cls, track_id=crossing.track_id, speed_kmh=speed_kmh,
                wrong_way=crossing.wrong_way,
            )  # fmt: skip
        ]
        if crossing.wrong_way:
            events.append(
                TrackIncident(
                    camera_id=self.config.camera_id, ts=ts, frame_no=crossing.frame_no, kind="wrong_way",
                    track_id=crossing.track_id, cls=crossing.cls, line_id=crossing.line_id,
                )  # fmt: skip
            )
        return events

    def _occupancy_event(self, zone: ZoneCounter, frame_no: int, ts: datetime, now: float) -> list[Event]:
        count = zone.count
        last = self._occupancy_sent.get(zone.zone_id)
        if last is not None and last[0] == count and now - last[1] < self.config.analytics.occupancy_every_s:
            return []
        self._occupancy_sent[zone.zone_id] = (count, now)
        return [
            ZoneOccupancy(
                camera_id=self.config.camera_id, ts=ts, frame_no=frame_no, zone_id=zone.zone_id, count=count,
                by_class=dict(zone.by_class),
            )  # fmt: skip
        ]

    def _frame_event(self, tracks: Detections, confirmed: np.ndarray, speeds: np.ndarray, frame_no: int, ts: datetime) -> FrameEvent:
        # Plain Python values (tolist) once per frame: the same numbers as numpy scalars one by one, for less.
        ids, classes = tracks.tracker_id.tolist(), tracks.class_id.tolist()  # type: ignore[union-attr]
        confidences, boxes, speed_list = tracks.confidence.tolist(), tracks.xyxy.tolist(), speeds.tolist()
        objects = tuple(
            TrackedObject(
                track_id=ids[i],
                cls=OBJECT_CLASSES[classes[i]],
                confidence=round(confidences[i], 3),
                bbox=tuple(round(v, 1) for v in boxes[i]),  # type: ignore[arg-type]
                speed_kmh=None if math.isnan(speed_list[i]) else round(speed_list[i], 1),
            )
            for i in np.flatnonzero(confirmed).tolist()
        )
        return FrameEvent(
            camera_id=self.config.camera_id, ts=ts, frame_no=frame_no, width=self.width, height=self.height, objects=objects
        )
