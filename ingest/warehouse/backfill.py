"""Synthetic history for scale tests, written through the sink's write path (``EventWriter``).

What is written: a ``CameraInfo`` per camera (so the registry has names and positions, as agents
would send), ``CountWindow`` events per line x direction x class, and a ``TrackIncident`` where the
model blocks a lane.

Why windows and not one ``LineCrossing`` per object: a busy street counts ~25k objects a day, so a
year of 100 cameras is ~0.9 billion crossings (~150 GB with indexes), hours of COPY on two cores.
Windows hold the same volumes and speed statistics the rollups and reports use. 15-minute windows
(the default) are the unit traffic counts are published in and keep the 15-minute report grain:
a year of 100 cameras is ~30M rows. Hourly windows (``window_s=3600``) are 4x fewer (~8M rows for
that year) and roll up to the same hourly and daily numbers; the benchmark uses them, because the
upserting write path for windows manages only ~10-40k rows/s on two shared cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from ingest import contract as c
from ingest.db import DatabaseError, DbSettings, connect
from ingest.warehouse import synthetic
from ingest.writer import EventWriter


@dataclass(frozen=True, kw_only=True)
class BackfillPlan:
    cameras: int
    days: int
    end: date = field(default_factory=lambda: datetime.now(UTC).date())  # exclusive
    seed: int = 7
    timezone: str = "Asia/Ho_Chi_Minh"
    window_s: int = synthetic.WINDOW_S  # 900; 3600 writes hourly windows, 4x fewer rows

    def __post_init__(self) -> None:
        if self.cameras < 1 or self.days < 1:
            raise ValueError(f"a backfill needs at least one camera and one day (got {self.cameras} cameras, {self.days} days)")
        if self.window_s not in (900, 1800, 3600):
            raise ValueError(f"window of {self.window_s} s: choose 900, 1800 or 3600 (15-minute grain reports need 900)")


@dataclass(frozen=True)
class BackfillResult:
    cameras: int
    days: int
    rows: int  # rows that reached their tables
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def camera_infos(plan: BackfillPlan) -> list[c.CameraInfo]:
    now = datetime.now(UTC)
    return [
        c.CameraInfo(
            camera_id=p.camera_id, ts=now, name=p.name, kind="traffic", lat=p.lat, lon=p.lon,
            lines=(c.LineInfo(line_id=p.line_id, points=((80.0, 400.0), (880.0, 400.0)),
                              name_in="vào trung tâm / inbound", name_out="ra ngoại ô / outbound"),),
        )
        for p in synthetic.camera_profiles(plan.cameras, seed=plan.seed)
    ]


def day_events(day: synthetic.DayOfTraffic, line_id: str, window_s: int = synthetic.WINDOW_S) -> list[c.Event]:
    """A camera-day as contract events: one CountWindow per non-empty slot x direction x class."""
    events: list[c.Event] = []
    slots, dirs, classes = np.nonzero(day.counts)
    counts, means, p85s = day.counts[slots, dirs, classes], day.speed_mean[slots, dirs, classes], day.speed_p85[slots, dirs, classes]
    # Ids derived from the natural key: re-running a backfill rewrites the same windows.
    for slot, d, k, n, mean, p85 in zip(slots.tolist(), dirs.tolist(), classes.tolist(), counts.tolist(), means.tolist(), p85s.tolist(), strict=True):
        start = day.slot_starts[slot]
        events.append(c.CountWindow(
            event_id=f"bf:{day.camera_id}:{int(start.timestamp())}:{d}{k}", camera_id=day.camera_id, ts=start,
            line_id=line_id, direction=synthetic.DIRECTIONS[d], cls=synthetic.CLASSES[k],  # type: ignore[arg-type]
            window_s=window_s, count=n, speed_mean_kmh=mean, speed_p85_kmh=p85,
        ))
    for incident in day.incidents:
        events.append(c.TrackIncident(
            event_id=f"bf:{incident.camera_id}:{int(incident.start.timestamp())}:incident",
            camera_id=incident.camera_id, ts=incident.start, frame_no=0, kind="stopped", track_id=0,
            cls=incident.cls, line_id=line_id, duration_s=incident.duration_s,  # type: ignore[arg-type]
        ))
    return events


def plan_events(plan: BackfillPlan, *, worker: int = 0, workers: int = 1) -> Iterator[list[c.Event]]:
    """The plan as batches of events, one local day of every camera per batch, oldest day first;
    ``worker`` of ``workers`` takes every workers-th camera."""
    tz = ZoneInfo(plan.timezone)
    profiles = synthetic.camera_profiles(plan.cameras, seed=plan.seed)[worker::workers]
    for day in synthetic.days_back(plan.days, end=plan.end):
        batch: list[c.Event] = []
        for profile in profiles:
            simulated = synthetic.coarsen(synthetic.simulate_day(profile, day, tz=tz, seed=plan.seed), plan.window_s)
            batch.extend(day_events(simulated, profile.line_id, plan.window_s))
        yield batch


def backfill(
    settings: DbSettings, plan: BackfillPlan, *, workers: int = 1, progress: Callable[[int, int], None] | None = None
) -> BackfillResult:
    """Write the plan's events, one transaction per day and worker (a failure loses at most the
    days being written, and re-running rewrites the same rows). ``workers`` connections split the
    cameras: the database server does most of the work, so threads suffice (psycopg waits for the
    server without the GIL) and a second connection puts a second core to work.
    ``progress(days_done, rows)`` after each day of the first worker."""
    started = time.perf_counter()
    rows = _write_cameras(settings, plan)
    if workers <= 1:
        rows += _write_share(settings, plan, 0, 1, progress)
    else:
        with ThreadPoolExecutor(workers - 1, thread_name_prefix="backfill") as pool:
            shares = [pool.submit(_write_share, settings, plan, k, workers, None) for k in range(1, workers)]
            rows += _write_share(settings, plan, 0, workers, progress)
            rows += sum(share.result() for share in shares)
    return BackfillResult(plan.cameras, plan.days, rows, time.perf_counter() - started)


def _write_cameras(settings: DbSettings, plan: BackfillPlan) -> int:
    try:
        with connect(settings) as conn, conn.transaction():
            return EventWriter(conn).write(camera_infos(plan))
    except psycopg.Error as exc:
        raise DatabaseError(f"backfill failed writing the camera registry: {exc}") from exc


def _write_share(
    settings: DbSettings, plan: BackfillPlan, worker: int, workers: int, progress: Callable[[int, int], None] | None
) -> int:
    rows = 0
    try:
        with connect(settings) as conn:
            writer = EventWriter(conn)
            for done, batch in enumerate(plan_events(plan, worker=worker, workers=workers), start=1):
                with conn.transaction():
                    rows += writer.write(batch)
                if progress:
                    progress(done, rows)
    except psycopg.Error as exc:
        raise DatabaseError(f"backfill failed: {exc}") from exc
    return rows
