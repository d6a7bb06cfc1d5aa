"""Synthetic camera traffic with known answers, for the tests and the benchmark.

``make_workload`` builds crossings and zone samples in the order they will be produced, with
late events mixed in; ``ground_truth`` computes the windows a correct processor must emit from
those events and the partition each landed in, with a deliberately plain implementation
(numpy for the percentile) that shares no code with ``processors.windowing``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from ingest.contract import CountWindow, FrameEvent, LineCrossing, OccupancyWindow, TrackedObject, ZoneOccupancy, decode
from processors.windowing import FRAME_ZONE

CLASSES = ("car", "motorbike", "bus_truck", "person")


@dataclass(frozen=True)
class Workload:
    events: list[LineCrossing | ZoneOccupancy | FrameEvent]
    start: datetime
    #: event time after which every camera sends one far-future event, closing all windows
    end: datetime


def make_workload(
    *,
    cameras: int = 20,
    minutes: float = 4.0,
    crossings_per_s: float = 20.0,
    late_within_grace: int = 30,
    late_beyond_grace: int = 10,
    grace_s: float = 10.0,
    zones: bool = True,
    seed: int = 7,
    start: datetime = datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
    camera_prefix: str = "cam",
    clock_skew_s: float = 0.0,
) -> Workload:
    """Crossings (and zone samples) in produce order. ``clock_skew_s``: each camera's clock runs
    behind by a fixed amount drawn from [0, clock_skew_s) (a loaded agent, a wrong clock)."""
    rnd = random.Random(seed)
    cams = [f"{camera_prefix}-{i:04d}" for i in range(cameras)]
    # Drawn from a separate generator so the workloads without skew stay as they were.
    skew_rnd = random.Random(seed + 1)
    skew = {cam: skew_rnd.uniform(0, clock_skew_s) if clock_skew_s else 0.0 for cam in cams}
    total_s = minutes * 60
    n = int(total_s * crossings_per_s)
    events: list[LineCrossing | ZoneOccupancy] = []
    zone_count = {cam: rnd.randrange(0, 8) for cam in cams}
    next_zone_at = {cam: 0.0 for cam in cams}
    late_in = set(rnd.sample(range(n // 10, n), late_within_grace)) if late_within_grace else set()
    late_out = set(rnd.sample(range(n // 2, n), late_beyond_grace)) if late_beyond_grace else set()
    for i in range(n):
        t = i / crossings_per_s
        cam = rnd.choice(cams)
        if i in late_in:
            # Behind the stream by less than the grace period: its window may still be open.
            t = max(0.0, t - rnd.uniform(0.5, grace_s * 0.8))
        elif i in late_out:
            # Far behind: its window closed long ago; must be counted as late, not added.
            t = max(0.0, t - 60 - grace_s - rnd.uniform(30, 60))
        t = max(0.0, t - skew[cam])
        speed = None if rnd.random() < 0.05 else round(rnd.uniform(5, 70), 2)
        events.append(
            LineCrossing(
                camera_id=cam,
                ts=start + timedelta(seconds=t),
                frame_no=i,
                line_id=rnd.choice(("north", "south")),
                direction=rnd.choice(("in", "out")),
                cls=rnd.choice(CLASSES),  # type: ignore[arg-type]
                track_id=i,
                speed_kmh=speed,
            )
        )
        if zones and t >= next_zone_at[cam] and i not in late_in and i not in late_out:
            zone_count[cam] = max(0, zone_count[cam] + rnd.choice((-1, 0, 1, 1)))
            events.append(
                ZoneOccupancy(camera_id=cam, ts=start + timedelta(seconds=t), frame_no=i, zone_id="plaza",
                              count=zone_count[cam])
            )
            next_zone_at[cam] = t + rnd.uniform(1.0, 4.0)
    end = start + timedelta(seconds=total_s)
    return Workload(events=events, start=start, end=end)


def make_frames(
    *, cameras: int = 200, frames: int = 200_000, fps: float = 10.0, seed: int = 5,
    start: datetime = datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
) -> Workload:
    """Frame events from ``cameras`` cameras at ``fps`` each, interleaved in time order, with
    0-3 tracked objects (about 300 bytes each, like the agents' frames)."""
    rnd = random.Random(seed)
    cams = [f"cam-{i:04d}" for i in range(cameras)]
    events: list = []
    for i in range(frames):
        cam_index = i % cameras
        t = (i // cameras) / fps + cam_index * (1.0 / fps / cameras)
        objects = tuple(
            TrackedObject(track_id=rnd.randrange(10_000), cls=rnd.choice(CLASSES), confidence=round(rnd.uniform(0.4, 0.99), 2),
                          bbox=(rnd.uniform(0, 600), rnd.uniform(0, 300), rnd.uniform(600, 1280), rnd.uniform(300, 720)),
                          speed_kmh=round(rnd.uniform(0, 60), 1))
            for _ in range(rnd.choice((0, 1, 1, 2)))
        )
        events.append(FrameEvent(camera_id=cams[cam_index], ts=start + timedelta(seconds=t), frame_no=i // cameras,
                                 width=1280, height=720, objects=objects))
    end = start + timedelta(seconds=(frames // cameras) / fps)
    return Workload(events=events, start=start, end=end)


def closing_events(workload: Workload, *, after: timedelta = timedelta(minutes=10)) -> list[LineCrossing | ZoneOccupancy | FrameEvent]:
    """One far-future crossing and zone sample per camera: they advance the stream time of
    every partition of both topics past all the workload's windows (their own stay open)."""
    ts = workload.end + after
    out: list[LineCrossing | ZoneOccupancy] = []
    for cam in sorted({event.camera_id for event in workload.events}):
        out.append(FrameEvent(camera_id=cam, ts=ts, frame_no=0, width=1, height=1))
        out.append(LineCrossing(camera_id=cam, ts=ts, frame_no=0, line_id="close", direction="in", cls="unknown", track_id=0))
        out.append(ZoneOccupancy(camera_id=cam, ts=ts, frame_no=0, zone_id="close", count=0))
    return out


def window_key(window: CountWindow | OccupancyWindow) -> tuple:
    if isinstance(window, CountWindow):
        return ("count", window.camera_id, window.line_id, window.direction, window.cls, window.ts)
    return ("zone", window.camera_id, window.zone_id, window.ts)


def ground_truth(
    produced: list[tuple[int, LineCrossing | ZoneOccupancy | FrameEvent]], *, window_s: int = 60, grace_s: float = 10.0,
    idle_s: float = 300.0, lone_lead_s: float = 600.0, before: datetime,
) -> tuple[dict[tuple, dict], int]:
    """Windows (by natural key, starting before ``before``) from ``(partition, event)`` pairs in
    produce order, and how many events fall beyond the grace period.

    Stream time is tracked per camera and per partition, each per topic (crossings, zone
    samples and frames travel on different topics). An event is beyond the grace period when
    its window's end + grace is at or below its camera's stream time, or at or below the
    partition's stream time minus ``idle_s``; the partition's stream time follows its second
    latest camera, and its latest only ``lone_lead_s`` behind (written out here the slow way:
    every camera's time, sorted, at every event).
    """
    stream_time: dict[tuple[str, int], float] = defaultdict(lambda: float("-inf"))
    camera_time: dict[tuple[str, str], float] = defaultdict(lambda: float("-inf"))
    lane_cameras: dict[tuple[str, int], set[tuple[str, str]]] = defaultdict(set)
    counts: dict[tuple, list[float | None]] = defaultdict(list)
    samples: dict[tuple, list[tuple[float, int]]] = defaultdict(list)
    late = 0
    for partition, event in produced:
        ts = event.ts.timestamp()
        lane = (type(event).__name__, partition)
        clock = (type(event).__name__, event.camera_id)
        camera_time[clock] = max(camera_time[clock], ts)
        lane_cameras[lane].add(clock)
        latest = sorted((camera_time[c] for c in lane_cameras[lane]), reverse=True) + [float("-inf")]
        stream_time[lane] = max(stream_time[lane], latest[1], latest[0] - lone_lead_s)
        start = (ts // window_s) * window_s
        closes = start + window_s + grace_s
        if closes <= camera_time[clock] or closes <= stream_time[lane] - idle_s:
            late += 1
            continue
        start_dt = datetime.fromtimestamp(start, tz=UTC)
        if isinstance(event, LineCrossing):
            counts[("count", event.camera_id, event.line_id, event.direction, event.cls, start_dt)].append(event.speed_kmh)
        elif isinstance(event, FrameEvent):
            samples[("zone", event.camera_id, FRAME_ZONE, start_dt)].append((ts, len(event.objects)))
        else:
            samples[("zone", event.camera_id, event.zone_id, start_dt)].append((ts, event.count))
    truth: dict[tuple, dict] = {}
    for key, speeds in counts.items():
        if key[-1] >= before:
            continue
        known = [s for s in speeds if s is not None]
        truth[key] = {
            "count": len(speeds),
            "speed_mean_kmh": float(np.mean(known)) if known else None,
            "speed_p85_kmh": float(np.percentile(known, 85)) if known else None,
        }
    for key, zs in samples.items():
        if key[-1] >= before:
            continue
        zs.sort()
        end = key[-1].timestamp() + window_s
        durations = np.diff([t for t, _ in zs] + [end])
        values = np.array([c for _, c in zs], dtype=float)
        span = end - zs[0][0]
        truth[key] = {"peak": int(values.max()), "mean": float((values * durations).sum() / span) if span > 0 else float(values[-1])}
    return truth, late


def as_facts(window: CountWindow | OccupancyWindow) -> dict:
    if isinstance(window, CountWindow):
        return {"count": window.count, "speed_mean_kmh": window.speed_mean_kmh, "speed_p85_kmh": window.speed_p85_kmh}
    return {"peak": window.peak, "mean": window.mean}


def compare(truth: dict[tuple, dict], emitted: dict[tuple, dict], *, tol: float = 1e-6) -> list[str]:
    """Differences between expected and emitted windows, as readable lines (empty = exact)."""
    problems = []
    for key in sorted(set(truth) | set(emitted), key=str):
        want, got = truth.get(key), emitted.get(key)
        if want is None:
            problems.append(f"unexpected window {key}: {got}")
        elif got is None:
            problems.append(f"missing window {key}: {want}")
        else:
            for field, value in want.items():
                other = got[field]
                if value is None or other is None:
                    if value != other:
                        problems.append(f"{key} {field}: want {value}, got {other}")
                elif abs(value - other) > tol * max(1.0, abs(value)):
                    problems.append(f"{key} {field}: want {value}, got {other}")
    return problems


def decode_windows(raw: Iterable[bytes]) -> list[CountWindow | OccupancyWindow]:
    return [w for w in (decode(value) for value in raw) if isinstance(w, (CountWindow, OccupancyWindow))]
