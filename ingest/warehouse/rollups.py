"""Hourly and daily traffic rollups (``traffic_hourly``, ``traffic_daily``), kept current.

Two modes, chosen by migration 0010 from ``SHOW timescaledb.license``:

* ``continuous``: the licence is ``timescale``; the rollups are continuous aggregates and a
  refresh is ``refresh_continuous_aggregate`` (TimescaleDB tracks what late rows invalidated).
* ``own``: the Apache build (Debian's); the rollups are plain hypertables refreshed here. A trigger
  on ``count_windows`` logs the camera-hours each write touched (see the migration for why that log
  is correct under concurrent writers); a refresh takes the marks it can see, recomputes exactly
  those hours from the raw windows (delete + insert, so running it twice changes nothing), then
  the local days containing them from the hours.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import psycopg

from ingest.db import DatabaseError, DbSettings, connect

_REFRESH_LOCK = 0x10C0_0010  # advisory lock: one refresher at a time per database
# Recompute contiguous runs of touched hours as time ranges, so every statement is bounded to a few
# chunks (a late window from last March scans last March's hour, not the year in between).
_MAX_RUN = timedelta(days=7)


class RollupMode(str, Enum):
    OWN = "own"
    CONTINUOUS = "continuous"


@dataclass(frozen=True)
class RefreshResult:
    mode: RollupMode
    hours: int  # camera-hours recomputed (own mode)
    days: int  # camera-days recomputed (own mode)
    skipped_stale: int  # camera-hours older than the raw horizon, left as they were
    seconds: float


def timescale_license(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()[0] or "unknown"


def rollup_mode(conn: psycopg.Connection) -> RollupMode:
    found = conn.execute(
        "SELECT count(*) FROM timescaledb_information.continuous_aggregates WHERE view_name = 'traffic_hourly'"
    ).fetchone()[0]
    return RollupMode.CONTINUOUS if found else RollupMode.OWN


def refresh_rollups(settings: DbSettings, *, full: bool = False) -> RefreshResult:
    """Bring the rollups up to date with every committed raw window; ``full`` recomputes all hours
    that still have raw data (after a time-zone change, say). Safe to run concurrently with writers
    and with another refresh (they queue on a lock)."""
    started = time.perf_counter()
    try:
        with connect(settings, autocommit=True) as conn:
            mode = rollup_mode(conn)
            if mode is RollupMode.CONTINUOUS:
                # Never refresh below the raw horizon: where retention dropped the raw windows, a
                # refresh would replace the rollup with the nothing that is left.
                horizon = conn.execute("SELECT raw_horizon FROM warehouse_config").fetchone()[0]
                for view in ("traffic_hourly", "traffic_daily"):  # hourly first: daily is built on it
                    conn.execute("CALL refresh_continuous_aggregate(%s, %s::timestamptz, NULL)", (view, horizon))
                return RefreshResult(mode, 0, 0, 0, time.perf_counter() - started)
            conn.execute("SELECT pg_advisory_lock(%s)", (_REFRESH_LOCK,))
            try:
                with conn.transaction():
                    hours, days, stale = _refresh_own(conn, full=full)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_REFRESH_LOCK,))
    except psycopg.Error as exc:
        raise DatabaseError(f"rollup refresh failed: {exc}") from exc
    return RefreshResult(mode, hours, days, stale, time.perf_counter() - started)


def _refresh_own(conn: psycopg.Connection, *, full: bool) -> tuple[int, int, int]:
    # Freshly written chunks have no statistics, so the planner guesses a handful of rows and sorts
    # every raw row by five keys to group them; hashing the groups (and sorting only the result)
    # is twice as fast at every size seen here.
    conn.execute("SET LOCAL enable_sort = off")
    # That penalty makes every plan look huge, and JIT would then spend over a second compiling
    # each statement of a refresh that runs in milliseconds.
    conn.execute("SET LOCAL jit = off")
    conn.execute("SET LOCAL work_mem = '128MB'")
    if full:
        conn.execute(
            "INSERT INTO warehouse_dirty (camera_id, hour) "
            "SELECT DISTINCT camera_id, time_bucket('1 hour', ts) FROM count_windows"
        )
    conn.execute("CREATE TEMP TABLE touched_hours (camera_id text, hour timestamptz) ON COMMIT DROP")
    # Only marks committed before this statement are taken; later ones wait for the next refresh.
    conn.execute(
        "WITH taken AS (DELETE FROM warehouse_dirty RETURNING camera_id, hour) "
        "INSERT INTO touched_hours SELECT DISTINCT camera_id, hour FROM taken"
    )
    tz, horizon = conn.execute("SELECT timezone, raw_horizon FROM warehouse_config").fetchone()
    stale = 0
    if horizon is not None:
        stale = conn.execute("DELETE FROM touched_hours WHERE hour < %s", (horizon,)).rowcount
    conn.execute("ANALYZE touched_hours")

    hours = [row[0] for row in conn.execute("SELECT DISTINCT hour FROM touched_hours ORDER BY 1")]
    for first, last in contiguous_runs(hours, step=timedelta(hours=1), max_span=_MAX_RUN):
        bounds = {"lo": first, "hi": last + timedelta(hours=1)}
        conn.execute(
            """DELETE FROM traffic_hourly r USING touched_hours t
               WHERE r.camera_id = t.camera_id AND r.bucket = t.hour
                 AND r.bucket >= %(lo)s AND r.bucket < %(hi)s AND t.hour >= %(lo)s AND t.hour < %(hi)s""",
            bounds,
        )
        conn.execute(
            """WITH fresh AS MATERIALIZED (
                   SELECT t.hour, m.camera_id, m.line_id, m.direction, m.cls,
                          sum(m.volume), sum(m.speed_n), sum(m.speed_sum), sum(m.speed_sq_sum)
                   FROM count_window_moments m
                   JOIN touched_hours t ON t.camera_id = m.camera_id AND t.hour = time_bucket('1 hour', m.ts)
                   WHERE m.ts >= %(lo)s AND m.ts < %(hi)s AND t.hour >= %(lo)s AND t.hour < %(hi)s
                   GROUP BY 1, 2, 3, 4, 5)
               -- one camera's rows side by side: per-camera reports read fewer pages
               INSERT INTO traffic_hourly SELECT * FROM fresh ORDER BY camera_id, hour""",
            bounds,
        )

    conn.execute(
        "CREATE TEMP TABLE touched_days ON COMMIT DROP AS "
        "SELECT DISTINCT camera_id, time_bucket('1 day', hour, %s) AS day FROM touched_hours",
        (tz,),
    )
    conn.execute("ANALYZE touched_days")
    days = [row[0] for row in conn.execute("SELECT DISTINCT day FROM touched_days ORDER BY 1")]
    # Local days are 23-25 hours long where clocks change: 26 hours covers the last one.
    for first, last in contiguous_runs(days, step=timedelta(hours=25), max_span=timedelta(days=62)):
        bounds = {"lo": first, "hi": last + timedelta(hours=26), "tz": tz}
        conn.execute(
            """DELETE FROM traffic_daily r USING touched_days t
               WHERE r.camera_id = t.camera_id AND r.bucket = t.day
                 AND r.bucket >= %(lo)s AND r.bucket < %(hi)s AND t.day >= %(lo)s AND t.day < %(hi)s""",
            bounds,
        )
        conn.execute(
            """WITH fresh AS MATERIALIZED (
                   SELECT t.day, h.camera_id, h.line_id, h.direction, h.cls,
                          sum(h.volume), sum(h.speed_n), sum(h.speed_sum), sum(h.speed_sq_sum)
                   FROM traffic_hourly h
                   JOIN touched_days t ON t.camera_id = h.camera_id AND t.day = time_bucket('1 day', h.bucket, %(tz)s)
                   WHERE h.bucket >= %(lo)s AND h.bucket < %(hi)s AND t.day >= %(lo)s AND t.day < %(hi)s
                   GROUP BY 1, 2, 3, 4, 5)
               INSERT INTO traffic_daily SELECT * FROM fresh ORDER BY camera_id, day""",
            bounds,
        )
    n_hours = conn.execute("SELECT count(*) FROM touched_hours").fetchone()[0]
    n_days = conn.execute("SELECT count(*) FROM touched_days").fetchone()[0]
    return n_hours, n_days, stale


def contiguous_runs(points: Sequence[datetime], *, step: timedelta, max_span: timedelta) -> list[tuple[datetime, datetime]]:
    """Sorted points grouped into (first, last) runs: a gap wider than ``step`` or a run longer
    than ``max_span`` starts a new run."""
    runs: list[tuple[datetime, datetime]] = []
    for point in points:
        if runs and point - runs[-1][1] <= step and point - runs[-1][0] < max_span:
            runs[-1] = (runs[-1][0], point)
        else:
            runs.append((point, point))
    return runs


def pending_marks(conn: psycopg.Connection) -> int:
    """Camera-hours waiting for a refresh (own mode); 0 in continuous mode."""
    if rollup_mode(conn) is RollupMode.CONTINUOUS:
        return 0
    return conn.execute("SELECT count(*) FROM (SELECT DISTINCT camera_id, hour FROM warehouse_dirty) d").fetchone()[0]

