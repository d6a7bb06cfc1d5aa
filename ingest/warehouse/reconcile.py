"""Closed windows reconciled against the raw rows they are computed from.

A count window is the processors' summary of its crossings, an occupancy window that of its zone
samples. Both raw tables are written by the sink on their own, so a window can be lost while its
events are safe: the processors stopped with the minute still open and the broker that held that
minute's events restarted empty (the local Tansu broker keeps topics in memory), a count topic
cut short, a window dead-lettered. Counts and rollups would then under-count that minute forever.

``reconcile_windows`` finds every closed window that is missing, or whose count (peak, for
occupancy) differs from its stored events, and rebuilds it with ``ingest.windowstats``: the same
functions the processors use, so the rebuilt window carries the numbers the processors would
have emitted. The rebuilt windows go through the sink's idempotent writer (``EventWriter``); its
triggers mark the camera-hours, and ``ioc db maintain`` refreshes the rollups right after.

What counts as closed and checkable:

* a window ``[start, start + window)`` is closed once ``start + window + after_s`` is in the past
  (``after_s``: the processors' grace plus idle time; a window later than that is still open in a
  running processor, whose own emission will then carry the same numbers);
* it is only rebuilt while its raw rows are all still there: after the raw table's retention
  start (and, for crossings, after the horizon retention recorded), and after the window table's
  own retention start (a rebuilt window there would be dropped again).

Two deliberate differences from the stream: a crossing that arrived after its window closed
(late beyond grace, logged by the processors and not counted) is counted by a rebuild, since it
is in the table and it happened; and a window whose raw rows are all gone but which still exists
is left as it is (nothing to rebuild it from). Whole-view occupancy (zone ``_frame``, from frame
events) is not reconciled: frame events are stored sampled, not as the processors saw them.

Speeds are stored as ``real``. The agents send them rounded to 0.1 km/h (at most 7 significant
digits), so the shortest text of the stored ``real`` is the decimal the agent sent, and the
rebuild reads them as text to start from the same double the processors had.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from ingest import contract as c
from ingest.db import DatabaseError, DbSettings, connect
from ingest.windowstats import occupancy_stats, speed_stats
from ingest.writer import EventWriter

log = logging.getLogger(__name__)

_RECONCILE_LOCK = 0x10C0_0040  # advisory lock: one reconciler at a time per database
_FRAME_ZONE = "_frame"  # whole-view occupancy, from frame events (see the module docstring)


@dataclass(frozen=True)
class Reconciled:
    """What one run checked and rebuilt."""

    checked_from: datetime | None  # None: nothing was old enough and within retention
    checked_until: datetime | None
    count_windows: int  # rebuilt count windows
    occupancy_windows: int  # rebuilt occupancy windows

    @property
    def repaired(self) -> int:
        return self.count_windows + self.occupancy_windows


def _epoch(dt: datetime) -> float:
    return dt.timestamp()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def check_range(
    conn: psycopg.Connection, *, window_s: int, after_s: float, overlap: timedelta,
    retention: Mapping[str, timedelta | None], now: datetime, full: bool,
) -> tuple[datetime, datetime] | None:
    """The whole windows ``[from, until)`` this run checks, or None when there are none."""
    until = math.floor((_epoch(now) - after_s) / window_s) * window_s
    floors: list[float] = []
    for table in ("crossings", "zone_occupancy", "count_windows", "occupancy_windows"):
        keep = retention.get(table)
        if keep is not None:
            floors.append(_epoch(now - keep))
    speed_horizon, reconciled_until = conn.execute(
        "SELECT speed_horizon, reconciled_until FROM warehouse_config").fetchone()
    if speed_horizon is not None:
        floors.append(_epoch(speed_horizon))
    if not full and reconciled_until is not None:
        floors.append(_epoch(reconciled_until - overlap))
    if floors:
        start = math.ceil(max(floors) / window_s) * window_s
    else:  # everything kept forever and never checked: from the oldest raw row
        oldest = conn.execute(
            "SELECT least((SELECT min(ts) FROM crossings), (SELECT min(ts) FROM zone_occupancy))").fetchone()[0]
        if oldest is None:
            return None
        start = math.floor(_epoch(oldest) / window_s) * window_s
    if start >= until:
        return None
    return _utc(start), _utc(until)


# Materialized, so the mismatches (usually none) are found before any raw row is fetched for them,
# and every join is on equal keys, window start included (hash joins: linear in the rows checked).
_MISMATCHED_COUNTS = """
WITH raw AS MATERIALIZED (
    SELECT camera_id, line_id, direction, cls,
           to_timestamp((floor(extract(epoch FROM ts) / %(w)s) * %(w)s)::float8) AS start_ts, count(*) AS n
    FROM crossings WHERE ts >= %(from)s AND ts < %(until)s
    GROUP BY 1, 2, 3, 4, 5
), wrong AS MATERIALIZED (
    SELECT raw.* FROM raw
    LEFT JOIN count_windows w
      ON w.camera_id = raw.camera_id AND w.line_id = raw.line_id AND w.direction = raw.direction
     AND w.cls = raw.cls AND w.window_s = %(w)s AND w.ts = raw.start_ts
     AND w.ts >= %(from)s AND w.ts < %(until)s
    WHERE w.count IS DISTINCT FROM raw.n
), rows AS (
    SELECT camera_id, line_id, direction, cls, speed_kmh,
           to_timestamp((floor(extract(epoch FROM ts) / %(w)s) * %(w)s)::float8) AS start_ts
    FROM crossings WHERE ts >= %(from)s AND ts < %(until)s
      AND camera_id IN (SELECT camera_id FROM wrong)
)
SELECT wrong.camera_id, wrong.line_id, wrong.direction, wrong.cls, extract(epoch FROM wrong.start_ts)::float8,
       array_agg(x.speed_kmh::text) FILTER (WHERE x.speed_kmh IS NOT NULL), count(*)
FROM wrong JOIN rows x
  ON x.camera_id = wrong.camera_id AND x.line_id = wrong.line_id AND x.direction = wrong.direction
 AND x.cls = wrong.cls AND x.start_ts = wrong.start_ts
GROUP BY 1, 2, 3, 4, 5
"""

_MISMATCHED_OCCUPANCY = """
WITH raw AS MATERIALIZED (
    SELECT camera_id, zone_id, to_timestamp((floor(extract(epoch FROM ts) / %(w)s) * %(w)s)::float8) AS start_ts,
           max(count) AS peak
    FROM zone_occupancy WHERE ts >= %(from)s AND ts < %(until)s AND zone_id <> %(frame)s
    GROUP BY 1, 2, 3
), wrong AS MATERIALIZED (
    SELECT raw.* FROM raw
    LEFT JOIN occupancy_windows o
      ON o.camera_id = raw.camera_id AND o.zone_id = raw.zone_id AND o.window_s = %(w)s
     AND o.ts = raw.start_ts AND o.ts >= %(from)s AND o.ts < %(until)s
    WHERE o.peak IS DISTINCT FROM raw.peak
), rows AS (
    SELECT camera_id, zone_id, ts, count,
           to_timestamp((floor(extract(epoch FROM ts) / %(w)s) * %(w)s)::float8) AS start_ts
    FROM zone_occupancy WHERE ts >= %(from)s AND ts < %(until)s AND zone_id <> %(frame)s
      AND camera_id IN (SELECT camera_id FROM wrong)
)
SELECT wrong.camera_id, wrong.zone_id, extract(epoch FROM wrong.start_ts)::float8, array_agg(z.ts), array_agg(z.count)
FROM wrong JOIN rows z
  ON z.camera_id = wrong.camera_id AND z.zone_id = wrong.zone_id AND z.start_ts = wrong.start_ts
GROUP BY 1, 2, 3
"""


def rebuild_count_window(camera_id: str, line_id: str, direction: str, cls: str, start: float, window_s: int,
                         count: int, speeds: list[float]) -> c.CountWindow:
    """The count window the processors emit for these crossings (their count and measured speeds)."""
    mean, p85 = speed_stats(speeds)
    return c.CountWindow(camera_id=camera_id, ts=_utc(start), line_id=line_id, direction=direction,  # type: ignore[arg-type]
                         cls=cls, window_s=window_s, count=count,  # type: ignore[arg-type]
                         speed_mean_kmh=mean, speed_p85_kmh=p85)


def rebuild_occupancy_window(camera_id: str, zone_id: str, start: float, window_s: int,
                             samples: list[tuple[float, int]]) -> c.OccupancyWindow:
    """The occupancy window the processors emit for these zone samples."""
    peak, mean = occupancy_stats(samples, start + window_s)
    return c.OccupancyWindow(camera_id=camera_id, ts=_utc(start), zone_id=zone_id, window_s=window_s,
                             peak=peak, mean=mean)


def mismatched_windows(conn: psycopg.Connection, *, start: datetime, until: datetime,
                       window_s: int) -> tuple[list[c.CountWindow], list[c.OccupancyWindow]]:
    """The windows in ``[start, until)`` that are missing or disagree with their raw rows, rebuilt."""
    params = {"w": window_s, "from": start, "until": until, "frame": _FRAME_ZONE}
    counts = [
        rebuild_count_window(camera, line, direction, cls, start_s, window_s, n, [float(s) for s in speeds or ()])
        for camera, line, direction, cls, start_s, speeds, n in conn.execute(_MISMATCHED_COUNTS, params)
    ]
    occupancy = [
        rebuild_occupancy_window(camera, zone, start_s, window_s, [(ts.timestamp(), n) for ts, n in zip(times, values)])
        for camera, zone, start_s, times, values in conn.execute(_MISMATCHED_OCCUPANCY, params)
    ]
    return counts, occupancy


def reconcile_windows(
    settings: DbSettings, *, window_s: int, after_s: float, overlap: timedelta,
    retention: Mapping[str, timedelta | None], full: bool = False, now: datetime | None = None,
) -> Reconciled:
    """Rebuild every closed window that is missing or whose count differs from its raw rows, from
    where the last run stopped (less ``overlap``, for rows that arrived late) or, with ``full``,
    from the start of the raw retention; then remember how far it checked."""
    now = now or datetime.now(UTC)
    try:
        with connect(settings) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_RECONCILE_LOCK,))
            # The planner underestimates the mismatches and would merge-join raw rows per camera and
            # line, filtering on the window start: quadratic in the windows of a camera's line.
            conn.execute("SET LOCAL enable_mergejoin = off")
            span = check_range(conn, window_s=window_s, after_s=after_s, overlap=overlap, retention=retention,
                               now=now, full=full)
            if span is None:
                conn.commit()
                return Reconciled(None, None, 0, 0)
            start, until = span
            counts, occupancy = mismatched_windows(conn, start=start, until=until, window_s=window_s)
            EventWriter(conn).write([*counts, *occupancy])
            # greatest() skips a NULL: the first run sets it
            conn.execute("UPDATE warehouse_config SET reconciled_until = greatest(reconciled_until, %s)", (until,))
            conn.commit()
    except psycopg.Error as exc:
        raise DatabaseError(f"reconciling the windows with their crossings and zone samples failed: {exc}") from exc
    if counts or occupancy:
        log.warning("rebuilt %d count and %d occupancy windows between %s and %s that were missing or disagreed "
                    "with their stored crossings and zone samples", len(counts), len(occupancy), start, until)
    return Reconciled(start, until, len(counts), len(occupancy))
