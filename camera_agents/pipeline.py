"""One camera's analysis: frames in, contract events out.

``CameraPipeline`` wires detector -> tracker -> analytics and turns their results into contract
events. It does no I/O: the runner (``camera_agents.agent``) reads the source and sends the
events, so the whole chain can be driven frame by frame in tests.

The frame rate a source reports is where the analysis starts; the rate its frames really come at,
measured from their capture times, is what it follows. A live stream may send another rate than it
reports (a camera set to save bandwidth, one that halves its rate in the dark for longer exposures,
one that reports none and is taken as 25), and the frames analysed a second decide whether a
motorbike stays one track from one analysis to the next.
"""

from __future__ import annotations

import logging
import math
from collections import deque
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
from camera_agents.config import CameraConfig, camera_info, seen_width
from camera_agents.detection import Detector, make_detector
from camera_agents.detections import Detections
from camera_agents.geometry import across_traffic
from camera_agents.masks import Masks
from camera_agents.motion import MotionDetector
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

log = logging.getLogger(__name__)

# A measured rate this far from the one followed is followed instead (a 25 fps camera losing a frame
# now and then is still a 25 fps camera).
RATE_TOLERANCE = 0.15
# A restarted agent starts from the road its last run learnt if it saw it this recently: in ten
# minutes the sun moves 2.5 degrees, and the static shadows of trees and buildings with it.
KEPT_ROAD_MAX_AGE_S = 600.0


class SentRate:
    """The rate frames come at, from their capture times (seconds) over the last ``window_s``.

    A stream's first ``settle_s``, and the first after an outage (no frame for ``gap_s``: the source
    reports one after a second), deliver in a burst what the camera sent while the connection was
    probed (a 10 fps stream delivered 37 frames in its first second from GStreamer's RTSP server):
    they are left out. A camera sending under a frame a second is never measured. Frames the agent
    was too slow for are not seen; that is right for the analysis, whose rate is of the frames it
    gets (a frame it skips costs it nothing on a live stream, whose reader decoded it already)."""

    def __init__(self, *, window_s: float = 10.0, min_span_s: float = 3.0, settle_s: float = 1.5, gap_s: float = 1.2) -> None:
        self._window_s, self._min_span_s, self._settle_s, self._gap_s = window_s, min_span_s, settle_s, gap_s
        self._times: deque[float] = deque()
        self._settled_at: float | None = None  # when frames start to count, after a start or an outage

    def observe(self, t: float) -> float | None:
        """Frames a second up to ``t``, once frames over ``min_span_s`` are measured; else None."""
        times = self._times
        if self._settled_at is None or (times and not 0.0 <= t - times[-1] <= self._gap_s):
            times.clear()
            self._settled_at = t + self._settle_s
        if t < self._settled_at:
            return None
        times.append(t)
        while t - times[0] > self._window_s:
            times.popleft()
        span = t - times[0]
        return (len(times) - 1) / span if span >= self._min_span_s else None


class CameraPipeline:
    """Detect, track and count on one camera's frames; ``process`` returns the events to publish."""

    def __init__(
        self, config: CameraConfig, *, width: int, height: int, fps: float, detector: Detector | None = None
    ) -> None:
        config = config.for_picture(width, height)  # lines drawn on the main stream, pictures from a substream
        self.config = config
        self.width, self.height = width, height
        analytics = config.analytics
        self.fps = fps  # read-only: the rate followed, as reported until it is measured
        self.stride = analytics.stride_at(fps)  # read-only: every stride-th frame is analysed
        ground = config.ground_plane()
        px_per_m = None  # how large vehicles look at the counting lines, when calibrated
        if ground is not None and config.lines:
            px_per_m = float(ground.pixels_per_metre([np.mean(line.points, axis=0) for line in config.lines]).min())
        seen = seen_width(width, px_per_m)  # the settings in pixels are those of a picture this wide
        travel = config.travel()
        self.masks = Masks([mask.polygon for mask in config.masks])
        self.detector = detector or make_detector(
            config.detector, kind=config.kind, ground=ground, travel=travel, seen_width=seen, masks=self.masks,
            across=across_traffic([line.points for line in config.lines], ground),
        )
        self.tracker = Tracker(
            min_hits=config.confirmation_hits(),
            max_lost=self._max_lost(),
            min_iou=config.tracking.min_iou,
            max_distance=config.tracking.max_distance,
            # Vehicles are named by their length, which a box the picture's edge cuts does not show.
            frame_size=(width, height) if config.kind == "traffic" else None,
        )
        forget_s = config.tracking.max_lost_s + 2.0
        self.lines = [
            LineCounter(
                CountingLine.from_points(line.id, line.points, line.in_direction, allowed_direction=line.allowed_direction),
                hysteresis_px=analytics.hysteresis_at(seen),
                frame_size=(width, height),
                forget_after_s=forget_s,
            )
            for line in config.lines
        ]
        self.zones = [ZoneCounter(zone.id, zone.polygon) for zone in config.zones]
        self.dwell = {
            zone.id: DwellMonitor(counter, dwell_s=zone.dwell_seconds, forget_after_s=forget_s, must_arrive=config.kind == "traffic")
            for zone, counter in zip(config.zones, self.zones)
            if zone.dwell_seconds is not None
        }
        self.stopped = (
            StoppedMonitor(stopped_s=analytics.stopped_seconds, max_px=analytics.stopped_px_at(seen), forget_after_s=forget_s)
            if config.kind == "traffic"
            else None
        )
        self.speed = SpeedEstimator(ground, forget_after_s=forget_s) if ground is not None else None
        self._start: datetime | None = None
        self._occupancy_sent: dict[str, tuple[int, float]] = {}
        self._frames_sent = FrameSampler(config.analytics.frame_every_s)
        self._info_sent_at = -math.inf
        self.last_tracks: Detections = Detections.empty()
        self._sent_rate = SentRate()
        self._kept_road: tuple[np.ndarray, datetime] | None = None

    def _max_lost(self) -> int:
        """Analysed frames in ``tracking.max_lost_s``."""
        return max(1, math.ceil(self.config.tracking.max_lost_s * max(self.fps, 1.0) / self.stride))

    def _follow_rate(self, now: float) -> None:
        """The rate the frames come at, followed from the next frame on when it is not the one followed."""
        sent = self._sent_rate.observe(now)
        if sent is None or abs(sent - self.fps) <= RATE_TOLERANCE * self.fps:
            return
        stride = self.config.analytics.stride_at(sent)
        log.warning(
            "camera %s sends %.1f frames a second, not %.1f: every %d frame(s) analysed from now on",
            self.config.camera_id, sent, self.fps, stride,
        )  # fmt: skip
        self.fps, self.stride = sent, stride
        self.tracker.max_lost = self._max_lost()

    def learnt_road(self) -> np.ndarray | None:
        """The road the motion detector has learnt, for the agent's next run; None while it is
        learnt, or with another detector."""
        return self.detector.learnt_road() if isinstance(self.detector, MotionDetector) else None

    def start_from(self, road: np.ndarray, seen_at: datetime) -> None:
        """Start from the road an earlier run learnt (``learnt_road``), its last picture seen at
        ``seen_at``: used if this run's first frame comes at most ``KEPT_ROAD_MAX_AGE_S`` later."""
        self._kept_road = (road, seen_at)

    def wants_picture(self, frame_no: int) -> bool:
        """Whether ``process`` will look at this frame's pixels (only every stride-th frame)."""
        return frame_no % self.stride == 0

    def process(self, frame_no: int, ts: datetime, image: np.ndarray | None) -> list[Event]:
        if self._start is None:
            self._start = ts
            if self._kept_road is not None and isinstance(self.detector, MotionDetector):
                road, seen_at = self._kept_road
                away = (ts - seen_at).total_seconds()
                if 0 <= away <= KEPT_ROAD_MAX_AGE_S:
                    self.detector.start_from(road)
                    log.info("camera %s starts from the road its last run learnt, %.0f s before", self.config.camera_id, away)
            self._kept_road = None
        now = (ts - self._start).total_seconds()
        events: list[Event] = []
        cam = self.config.camera_id
        if now - self._info_sent_at >= self.config.analytics.camera_info_every_s:
            self._info_sent_at = now
            events.append(camera_info(self.config, ts))
        analyse = self.wants_picture(frame_no)
        self._follow_rate(now)  # from the next frame on: this one's picture was read, or not, for the stride before
        if not analyse:
            return events  # a frame the stride skips: no detector looks at it
        detections = self.masks.without_masked(self.detector.detect(image))
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
