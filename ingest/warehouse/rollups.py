"""Hourly and daily rollups, kept current: traffic (``traffic_hourly``, ``traffic_daily``: volumes
and speed moments, from the count windows) and speed histograms (``speed_hourly``,
``speed_daily``, from the crossings; see migration 0035).

Two modes, chosen by migrations 0010 and 0036 from ``SHOW timescaledb.license``:

* ``continuous``: the licence is ``timescale``; the rollups are continuous aggregates and a
  refresh is ``refresh_continuous_aggregate`` (TimescaleDB tracks what late rows invalidated).
* ``own``: the Apache build (Debian's); the rollups are plain hypertables refreshed here. Triggers
  on ``count_windows`` and ``crossings`` log the camera-hours each write touched (see migration
  0010 for why that log is correct under concurrent writers); a refresh takes the marks it can
  see, recomputes exactly those hours from the raw rows (delete + insert, so running it twice
  changes nothing), then the local days containing them from the hours.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import psycopg
from psycopg import sql

from ingest.db import DatabaseError, DbSettings, connect

_REFRESH_LOCK = 0x10C0_0010  # advisory lock: one refresher at a time per database
# Recompute contiguous runs of touched hours as time ranges, so every statement is bounded to a few
# chunks (a late window from last March scans last March's hour, not the year in between).
_MAX_RUN = timedelta(days=7)


class RollupMode(StrEnum):
    OWN = "own"
    CONTINUOUS = "continuous"


@dataclass(frozen=True)
class RefreshResult:
    mode: RollupMode  # of the traffic rollups
    hours: int  # camera-hours of traffic recomputed (own mode)
    days: int  # camera-days of traffic recomputed (own mode)
    skipped_stale: int  # camera-hours older than the raw horizon, left as they were
    seconds: float
    speed_hours: int = 0  # camera-hours of speed histograms recomputed (own mode)
    speed_days: int = 0


def timescale_license(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()[0] or "unknown"


def _is_continuous(conn: psycopg.Connection, view: str) -> bool:
    return bool(conn.execute(
        "SELECT count(*) FROM timescaledb_information.continuous_aggregates WHERE view_name = %s", (view,)
    ).fetchone()[0])


def rollup_mode(conn: psycopg.Connection) -> RollupMode:
    return RollupMode.CONTINUOUS if _is_continuous(conn, "traffic_hourly") else RollupMode.OWN


def refresh_rollups(settings: DbSettings, *, full: bool = False) -> RefreshResult:
    """Bring the rollups (traffic, then speed histograms) up to date with every committed raw row;
    ``full`` recomputes all hours that still have raw data (after a time-zone change, say). Safe to
    run concurrently with writers and with another refresh (they queue on a lock)."""
    started = time.perf_counter()
    counts: dict[str, tuple[int, int, int]] = {}
    try:
        with connect(settings, autocommit=True) as conn:
            mode = rollup_mode(conn)
            conn.execute("SELECT pg_advisory_lock(%s)", (_REFRESH_LOCK,))
            try:
                for rollup in (TRAFFIC, SPEEDS):
                    if _is_continuous(conn, rollup.hourly):
                        _refresh_continuous(conn, rollup)
                        counts[rollup.hourly] = (0, 0, 0)
                        continue
                    with conn.transaction():
                        counts[rollup.hourly] = _refresh_own(conn, rollup, full=full)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_REFRESH_LOCK,))
    except psycopg.Error as exc:
        raise DatabaseError(f"rollup refresh failed: {exc}") from exc
    hours, days, stale = counts[TRAFFIC.hourly]
    speed_hours, speed_days, _ = counts[SPEEDS.hourly]
    return RefreshResult(mode, hours, days, stale, time.perf_counter() - started, speed_hours, speed_days)


def _refresh_continuous(conn: psycopg.Connection, rollup: _Rollup) -> None:
    # Never refresh below the raw horizon: where retention dropped the raw rows, a refresh would
    # replace the rollup with the nothing that is left.
    horizon = conn.execute(sql.SQL("SELECT {} FROM warehouse_config").format(sql.Identifier(rollup.horizon))).fetchone()[0]
    for view in (rollup.hourly, rollup.daily):  # hourly first: daily is built on it
        conn.execute("CALL refresh_continuous_aggregate(%s, %s::timestamptz, NULL)", (view, horizon))


@dataclass(frozen=True)
class _Rollup:
    """One hourly + daily rollup pair: where its marks and raw horizon live and, for ioc's own
    refresh, how an hour's rows are computed from the raw data (``%(lo)s``/``%(hi)s`` bound the raw
    scan, ``touched_hours t`` lists the camera-hours to recompute)."""

    hourly: str
    daily: str
    dirty: str  # the mark log its triggers append to
    horizon: str  # warehouse_config column: raw data is complete from there on
    all_hours: str  # every camera-hour that has raw data (for a full refresh)
    hour_rows: str  # SELECT hour, camera_id, line_id, direction, cls, values...
    day_values: str  # aggregates over the hourly rows ``h``, in the daily table's column order


TRAFFIC = _Rollup(
    hourly="traffic_hourly",
    daily="traffic_daily",
    dirty="warehouse_dirty",
    horizon="raw_horizon",
    all_hours="SELECT DISTINCT camera_id, time_bucket('1 hour', ts) FROM count_windows",
    hour_rows="""SELECT t.hour, m.camera_id, m.line_id, m.direction, m.cls,
                        sum(m.volume), sum(m.speed_n), sum(m.speed_sum), sum(m.speed_sq_sum)
                 FROM count_window_moments m
                 JOIN touched_hours t ON t.camera_id = m.camera_id AND t.hour = time_bucket('1 hour', m.ts)
                 WHERE m.ts >= %(lo)s AND m.ts < %(hi)s AND t.hour >= %(lo)s AND t.hour < %(hi)s
                 GROUP BY 1, 2, 3, 4, 5""",
    day_values="sum(h.volume), sum(h.speed_n), sum(h.speed_sum), sum(h.speed_sq_sum)",
)

# Speed histograms from the crossings, the one place speeds are exact (see migration 0035). Counted
# per bin first, so the packed histogram is built once per bin rather than once per vehicle.
SPEEDS = _Rollup(
    hourly="speed_hourly",
    daily="speed_daily",
    dirty="speed_dirty",
    horizon="speed_horizon",
    all_hours="SELECT DISTINCT camera_id, time_bucket('1 hour', ts) FROM crossings WHERE speed_kmh IS NOT NULL",
    hour_rows="""SELECT hour, camera_id, line_id, direction, cls, sum(speed_hist_unit(bin, n))
                 FROM (SELECT t.hour, x.camera_id, x.line_id, x.direction, x.cls, speed_bin(x.speed_kmh) AS bin,
                              count(*) AS n
                       FROM crossings x
                       JOIN touched_hours t ON t.camera_id = x.camera_id AND t.hour = time_bucket('1 hour', x.ts)
                       WHERE x.speed_kmh IS NOT NULL AND x.ts >= %(lo)s AND x.ts < %(hi)s
                         AND t.hour >= %(lo)s AND t.hour < %(hi)s
                       GROUP BY 1, 2, 3, 4, 5, 6) per_bin
                 GROUP BY 1, 2, 3, 4, 5""",
    day_values="sum(h.speed_hist)",
)


def _refresh_own(conn: psycopg.Connection, rollup: _Rollup, *, full: bool) -> tuple[int, int, int]:
    # Freshly written chunks have no statistics, so the planner guesses a handful of rows and sorts
    # every raw row by five keys to group them; hashing the groups (and sorting only the result)
    # is twice as fast at every size seen here.
    conn.execute("SET LOCAL enable_sort = off")
    # That penalty makes every plan look huge, and JIT would then spend over a second compiling
    # each statement of a refresh that runs in milliseconds.
    conn.execute("SET LOCAL jit = off")
    conn.execute("SET LOCAL work_mem = '128MB'")
    names = {"hourly": sql.Identifier(rollup.hourly), "daily": sql.Identifier(rollup.daily),
             "dirty": sql.Identifier(rollup.dirty), "horizon": sql.Identifier(rollup.horizon)}
    if full:
        conn.execute(sql.SQL("INSERT INTO {dirty} (camera_id, hour) ").format(**names) + sql.SQL(rollup.all_hours))
    conn.execute("CREATE TEMP TABLE touched_hours (camera_id text, hour timestamptz) ON COMMIT DROP")
    # Only marks committed before this statement are taken; later ones wait for the next refresh.
    conn.execute(
        sql.SQL(
            "WITH taken AS (DELETE FROM {dirty} RETURNING camera_id, hour) "
            "INSERT INTO touched_hours SELECT DISTINCT camera_id, hour FROM taken"
        ).format(**names)
    )
    tz, horizon = conn.execute(sql.SQL("SELECT timezone, {horizon} FROM warehouse_config").format(**names)).fetchone()
    stale = 0
    if horizon is not None:
        stale = conn.execute("DELETE FROM touched_hours WHERE hour < %s", (horizon,)).rowcount
    conn.execute("ANALYZE touched_hours")

    hours = [row[0] for row in conn.execute("SELECT DISTINCT hour FROM touched_hours ORDER BY 1")]
    for first, last in contiguous_runs(hours, step=timedelta(hours=1), max_span=_MAX_RUN):
        bounds = {"lo": first, "hi": last + timedelta(hours=1)}
        conn.execute(
            sql.SQL(
                """DELETE FROM {hourly} r USING touched_hours t
                   WHERE r.camera_id = t.camera_id AND r.bucket = t.hour
                     AND r.bucket >= %(lo)s AND r.bucket < %(hi)s AND t.hour >= %(lo)s AND t.hour < %(hi)s"""
            ).format(**names),
            bounds,
        )
        conn.execute(
            sql.SQL(
                """WITH fresh AS MATERIALIZED ({rows})
                   -- one camera's rows side by side: per-camera reports read fewer pages
                   INSERT INTO {hourly} SELECT * FROM fresh ORDER BY camera_id, hour"""
            ).format(rows=sql.SQL(rollup.hour_rows), **names),
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
            sql.SQL(
                """DELETE FROM {daily} r USING touched_days t
                   WHERE r.camera_id = t.camera_id AND r.bucket = t.day
                     AND r.bucket >= %(lo)s AND r.bucket < %(hi)s AND t.day >= %(lo)s AND t.day < %(hi)s"""
            ).format(**names),
            bounds,
        )
        conn.execute(
            sql.SQL(
                """WITH fresh AS MATERIALIZED (
                       SELECT t.day, h.camera_id, h.line_id, h.direction, h.cls, {values}
                       FROM {hourly} h
                       JOIN touched_days t ON t.camera_id = h.camera_id AND t.day = time_bucket('1 day', h.bucket, %(tz)s)
                       WHERE h.bucket >= %(lo)s AND h.bucket < %(hi)s AND t.day >= %(lo)s AND t.day < %(hi)s
                       GROUP BY 1, 2, 3, 4, 5)
                   INSERT INTO {daily} SELECT * FROM fresh ORDER BY camera_id, day"""
            ).format(values=sql.SQL(rollup.day_values), **names),
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
    """Camera-hours waiting for a refresh (own-mode rollups, traffic and speeds); continuous
    aggregates track theirs themselves."""
    pending = 0
    for rollup in (TRAFFIC, SPEEDS):
        if not _is_continuous(conn, rollup.hourly):
            pending += conn.execute(
                sql.SQL("SELECT count(*) FROM (SELECT DISTINCT camera_id, hour FROM {}) d").format(sql.Identifier(rollup.dirty))
            ).fetchone()[0]
    return pending

