"""The agent: reads each camera's source, runs its pipeline, watches its health, publishes events.

``run_camera`` drives one camera until its file ends, a bound (``max_frames`` / ``timeout_s``) is
reached or ``stop`` is set. ``run_cameras`` runs many cameras in one process, a thread each (the
OpenCV work releases the GIL); a camera that fails is reported (a ``source_lost`` health event and
a log line) and, for live sources, retried with backoff, while the others carry on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from camera_agents.config import CameraConfig, ConfigError, verify_inside_frame
from camera_agents.metrics import AgentMetrics
from camera_agents.publish import Sink
from ingest.config_files import ConfigIssue
from ingest.contract import CameraHealth, Event, LineCrossing

if TYPE_CHECKING:
    from camera_agents.health import RememberedView
    from camera_agents.pipeline import CameraPipeline

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int | None], None]  # camera_id, frames done, frames expected


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    realtime: bool = False
    max_frames: int | None = None  # per camera
    timeout_s: float | None = None  # wall clock, for the whole run
    start_time: datetime | None = None
    retry_min_s: float = 2.0
    retry_max_s: float = 60.0
    #: evidence snapshots (blurred JPEGs) of incidents, crowds and health conditions
    evidence: bool = True
    #: where each camera's view is kept between runs (None: learnt afresh every run)
    views_dir: Path | None = None


@dataclass
class CameraResult:
    camera_id: str
    frames: int = 0
    events: int = 0
    crossings: int = 0
    error: str | None = None
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # "line/direction" -> crossings

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def tally(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, LineCrossing):
                self.crossings += 1
                key = f"{event.line_id}/{event.direction}"
                self.counts[key] = self.counts.get(key, 0) + 1
        self.events += len(events)


def _check_inside_frame(config: CameraConfig, width: int, height: int) -> None:
    problems = verify_inside_frame(config, width, height)
    if problems:
        raise ConfigError([ConfigIssue(config.camera_id, None, ".".join(map(str, loc)), msg) for loc, msg in problems])


def _bound_reached(settings: RunSettings, result: CameraResult, deadline: float | None) -> bool:
    if settings.max_frames is not None and result.frames >= settings.max_frames:
        return True
    return deadline is not None and time.monotonic() >= deadline


def run_camera(
    config: CameraConfig,
    sink: Sink,
    settings: RunSettings = RunSettings(),
    *,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    deadline: float | None = None,
    metrics: AgentMetrics | None = None,
) -> CameraResult:
    """Runs one camera to the end of its source (or a bound). Raises on a broken source or config."""
    from camera_agents.evidence import EvidenceRecorder, EvidenceWorker
    from camera_agents.health import HealthMonitor
    from camera_agents.pipeline import CameraPipeline, camera_info
    from camera_agents.sources import Frame, SourceOutage, open_source
    from camera_agents.view_memory import ViewKeeper

    stop = stop or threading.Event()
    if deadline is None and settings.timeout_s is not None:
        deadline = time.monotonic() + settings.timeout_s
    result = CameraResult(config.camera_id)
    started = time.monotonic()
    # Announce the camera before touching its source: a stream that never connects must still
    # leave a camera the processors know, so its silence becomes an offline alert.
    sink.send(camera_info(config, settings.start_time or datetime.now(UTC)))
    source = open_source(config.source, realtime=settings.realtime, start_time=settings.start_time)
    evidence = None
    try:
        info = source.info
        pipeline = CameraPipeline(config, width=info.width, height=info.height, fps=info.fps)
        source.want_pictures(pipeline.wants_picture)
        config = pipeline.config  # in the source's pixels
        _check_inside_frame(config, info.width, info.height)
        view = ViewKeeper(settings.views_dir, config)
        kept = view.load()
        health = HealthMonitor(config.camera_id, expected_fps=info.fps, remembered=kept)
        _start_from_kept_road(pipeline, kept)
        if settings.evidence:
            evidence = EvidenceWorker(EvidenceRecorder(config), sink.send)
        meter = metrics.camera(config.camera_id) if metrics is not None else None
        expected = settings.max_frames or getattr(source, "frame_count", None)
        next_index = 0
        while not stop.is_set() and not _bound_reached(settings, result, deadline):
            item = source.read(picture=pipeline.wants_picture(next_index))
            if item is None:
                break
            events: list[Event] = health.observe(item)
            image = None
            if isinstance(item, Frame):
                next_index = item.index + 1
                image = item.image
                events.extend(pipeline.process(item.index, item.ts, item.image))
                result.frames += 1
                if meter is not None:
                    meter.frame()
                if progress is not None and result.frames % 25 == 0:
                    progress(config.camera_id, result.frames, expected)
            elif isinstance(item, SourceOutage):
                stop.wait(0.2)  # the source reconnects in the background; do not spin
            if evidence is not None and events:
                evidence.submit(events, image, pipeline.last_tracks)
            for event in events:
                sink.send(event)
                if meter is not None:
                    meter.event(type(event).__name__)
            result.tally(events)
            view.tick(health, pipeline.learnt_road)
        if progress is not None:
            progress(config.camera_id, result.frames, expected)
        view.keep(health, pipeline.learnt_road)
    finally:
        source.close()
        if evidence is not None:
            evidence.close()
        sink.flush()
        if metrics is not None:
            metrics.camera(config.camera_id).stopped()
        result.seconds = time.monotonic() - started
    return result


def _start_from_kept_road(pipeline: CameraPipeline, kept: RememberedView | None) -> None:
    """The pipeline started from the road the camera's last run learnt, if it kept one."""
    if kept is not None and kept.road is not None:
        pipeline.start_from(kept.road, kept.seen_at)


def run_cameras(
    configs: list[CameraConfig],
    sink: Sink,
    settings: RunSettings = RunSettings(),
    *,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    metrics: AgentMetrics | None = None,
) -> dict[str, CameraResult]:
    """Runs every camera in its own thread until all end (or the bounds); one failure stays local."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + settings.timeout_s if settings.timeout_s is not None else None
    results: dict[str, CameraResult] = {}

    def supervise(config: CameraConfig) -> None:
        delay = settings.retry_min_s
        frames_left = settings.max_frames
        total = CameraResult(config.camera_id)
        while not stop.is_set():
            bounded = replace(settings, max_frames=frames_left)
            try:
                result = run_camera(config, sink, bounded, stop=stop, progress=progress, deadline=deadline, metrics=metrics)
            except Exception as exc:  # a camera's failure must not reach the other cameras
                total.error = f"{type(exc).__name__}: {exc}"
                log.error("camera %s failed: %s", config.camera_id, total.error)
                _report_failure(sink, config.camera_id, total.error)
                if not _is_live(config.source) or isinstance(exc, ConfigError):
                    break  # a file or a bad config will fail the same way again
                if stop.wait(delay) or (deadline is not None and time.monotonic() >= deadline):
                    break
                delay = min(delay * 2, settings.retry_max_s)
                continue
            _merge(total, result)
            total.error = None
            live_again = _is_live(config.source) and not stop.is_set() and (deadline is None or time.monotonic() < deadline)
            if frames_left is not None:
                frames_left -= result.frames
                live_again = live_again and frames_left > 0
            if not live_again:
                break
            delay = settings.retry_min_s
        results[config.camera_id] = total

    threads = [threading.Thread(target=supervise, args=(c,), name=f"camera-{c.camera_id}", daemon=True) for c in configs]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    sink.flush()
    return results


def _merge(total: CameraResult, part: CameraResult) -> None:
    total.frames += part.frames
    total.events += part.events
    total.crossings += part.crossings
    total.seconds += part.seconds
    for key, n in part.counts.items():
        total.counts[key] = total.counts.get(key, 0) + n


def _is_live(source: str) -> bool:
    spec = source.strip().lower()
    return spec.startswith(("rtsp://", "rtsps://", "http://", "https://", "device:")) or spec.isdigit()


def _report_failure(sink: Sink, camera_id: str, detail: str) -> None:
    try:
        sink.send(
            CameraHealth(camera_id=camera_id, ts=datetime.now(UTC), condition="source_lost", state="raised", detail=detail[:500])
        )
    except Exception as exc:  # the sink itself failing is logged; the camera's failure is already logged
        log.error("could not publish the failure of camera %s: %s", camera_id, exc)
