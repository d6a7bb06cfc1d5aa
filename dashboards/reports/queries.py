"""The planners' questions as SQL over the rollups (``traffic_hourly``, ``traffic_daily``).

Sources by grain: 15 minutes reads the raw count windows (kept ~13 months), hours the hourly
rollup, days / weeks / months the daily rollup (kept for years).

Speeds: the mean comes from the rollups' moments (n, sum, sum of squares; migration 0010) and is
exact. V50 and V85 are measured: at 15 minutes, exact percentiles of the raw crossings' speeds; at
other grains, read from the merged speed histograms (``speed_hourly`` / ``speed_daily``, migration
0035), within one 2 km/h bin. Where no crossing speeds exist (history older than the crossings'
retention, synthetic backfills) they fall back to the normal model of the moments (p50 = mean,
p85 = mean + 1.0364 sd), and the ``speed_basis`` column says which one a row carries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg import sql

from dashboards.reports.request import Grain, Period, ReportError, VolumeQuery
from dashboards.reports.table import Column, Table
from ingest.warehouse import speeds

Z85 = 1.0364
MEASURED = "measured"  # speed_basis: percentiles of the vehicles' own speeds
MODEL = "model"  # speed_basis: mean and normal model of the moments (no crossing speeds kept)
_DIMENSION_COLUMNS = {"camera": "camera_id", "line": "line_id", "direction": "direction", "cls": "cls"}


@dataclass(frozen=True)
class Camera:
    camera_id: str
    name: str
    lat: float | None
    lon: float | None


def warehouse_timezone(conn: psycopg.Connection) -> str:
    """The time zone of the daily rollups; also readies the session for reports: JIT compiling
    costs ~100 ms per query here and saves nothing on queries this size."""
    conn.execute("SET jit = off")
    return conn.execute("SELECT timezone FROM warehouse_config").fetchone()[0]


def known_cameras(conn: psycopg.Connection) -> list[Camera]:
    """The registry, plus cameras that only appear in the rollups (history of a removed camera)."""
    rows = conn.execute(
        """SELECT camera_id, name, lat, lon FROM cameras
           UNION ALL
           SELECT d.camera_id, d.camera_id, NULL, NULL
           FROM (SELECT DISTINCT camera_id FROM traffic_daily) d
           WHERE NOT EXISTS (SELECT 1 FROM cameras c WHERE c.camera_id = d.camera_id)
           ORDER BY 1"""
    ).fetchall()
    return [Camera(*row) for row in rows]


def check_cameras(conn: psycopg.Connection, cameras: tuple[str, ...]) -> None:
    """Unknown camera ids are an error that lists the known ones."""
    if not cameras:
        return
    found = {
        row[0]
        for row in conn.execute(
            """SELECT camera_id FROM cameras WHERE camera_id = ANY(%(ids)s)
               UNION SELECT camera_id FROM unnest(%(ids)s::text[]) AS u(camera_id)
               WHERE EXISTS (SELECT 1 FROM traffic_daily d WHERE d.camera_id = u.camera_id)""",
            {"ids": list(cameras)},
        )
    }
    missing = [camera for camera in cameras if camera not in found]
    if missing:
        known = [camera.camera_id for camera in known_cameras(conn)]
        shown = ", ".join(known[:40]) + (f" ... ({len(known)} in all)" if len(known) > 40 else "")
        raise ReportError(
            f"unknown camera{'s' if len(missing) > 1 else ''} {', '.join(missing)}; known cameras: {shown or 'none yet'}"
        )


def _speed(n: Any, total: Any, squares: Any) -> tuple[float | None, float | None, float | None]:
    """(mean, p50, p85) from moments under the normal model, rounded to 0.1 km/h; None without speeds."""
    if not n:
        return None, None, None
    n, total, squares = float(n), float(total), float(squares)
    mean = total / n
    sd = math.sqrt(max(squares / n - mean * mean, 0.0))
    return round(mean, 1), round(mean, 1), round(mean + Z85 * sd, 1)


def _speed_groups(grain: Grain, tz: str, dims: list[sql.Composable], where: sql.Composable) -> sql.Composable:
    """SELECT period_start, *dims, then the measured speeds of each group: at 15 minutes the exact
    p50 and p85 of the raw crossings; otherwise the merged histogram (as text) and NULL."""
    dim_list = sql.SQL("").join(sql.SQL(", ") + d for d in dims)
    group = sql.SQL(", ").join([sql.SQL("period_start"), *dims])
    if grain is Grain.QUARTER:
        return sql.SQL(
            """SELECT time_bucket('15 minutes', ts) AS period_start{dims},
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY speed_kmh) AS speed_a,
                      percentile_cont(0.85) WITHIN GROUP (ORDER BY speed_kmh) AS speed_b
               FROM crossings WHERE {where} AND speed_kmh IS NOT NULL GROUP BY {group}"""
        ).format(dims=dim_list, where=where, group=group)
    relation = sql.SQL("speed_hourly" if grain is Grain.HOUR else "speed_daily")
    if grain in (Grain.HOUR, Grain.DAY):
        bucket: sql.Composable = sql.SQL("bucket")
    else:
        step = sql.Literal("1 week" if grain is Grain.WEEK else "1 month")
        bucket = sql.SQL("time_bucket({}::interval, bucket, {})").format(step, sql.Literal(tz))
    return sql.SQL(
        """SELECT {bucket} AS period_start{dims}, sum(speed_hist)::text AS speed_a, NULL::float8 AS speed_b
           FROM {relation} WHERE {where} GROUP BY {group}"""
    ).format(bucket=bucket, dims=dim_list, relation=relation, where=where, group=group)


def _rounded(values: np.ndarray) -> list[float | None]:
    """km/h to 0.1, NaN (no speeds) as None."""
    return [None if v != v else v for v in np.round(values, 1).tolist()]


def _source(grain: Grain, tz: str) -> tuple[sql.Composable, sql.Composable, sql.Composable]:
    """(relation, time column, bucket expression) for a grain."""
    zone = sql.Literal(tz)
    if grain is Grain.QUARTER:
        return (sql.SQL("count_window_moments"), sql.Identifier("ts"),
                sql.SQL("time_bucket('15 minutes', ts)"))
    if grain is Grain.HOUR:
        return sql.SQL("traffic_hourly"), sql.Identifier("bucket"), sql.SQL("bucket")
    if grain is Grain.DAY:
        return sql.SQL("traffic_daily"), sql.Identifier("bucket"), sql.SQL("bucket")
    step = sql.Literal("1 week" if grain is Grain.WEEK else "1 month")
    return sql.SQL("traffic_daily"), sql.Identifier("bucket"), sql.SQL("time_bucket({}::interval, bucket, {})").format(step, zone)


def _filters(time_column: sql.Composable, cameras: tuple[str, ...], extra: str = "") -> sql.Composable:
    parts = [sql.SQL("{} >= %(start)s AND {} < %(end)s").format(time_column, time_column)]
    if cameras:
        parts.append(sql.SQL("camera_id = ANY(%(cameras)s)"))
    if extra:
        parts.append(sql.SQL(extra))
    return sql.SQL(" AND ").join(parts)


def volume(conn: psycopg.Connection, query: VolumeQuery, *, tz: str) -> Table:
    """Volumes and speeds per period bucket, broken down by ``query.by``."""
    relation, time_column, bucket = _source(query.grain, tz)
    dims = [sql.Identifier(_DIMENSION_COLUMNS[d]) for d in query.by]
    extra = "900 %% window_s = 0" if query.grain is Grain.QUARTER else ""
    group = sql.SQL(", ").join([sql.SQL("period_start"), *dims])
    speed_time = sql.Identifier("ts" if query.grain is Grain.QUARTER else "bucket")
    # Speeds from the moments in SQL: a year of hours is ~9k rows, and Python arithmetic per row
    # was a third of the report's time. Measured speeds are joined to their group in SQL too, and
    # read from the histograms column-wise (numpy), not row by row.
    statement = sql.SQL(
        """WITH g AS (SELECT {bucket} AS period_start{dims}, sum(volume)::bigint AS volume,
                             nullif(sum(speed_n), 0)::float8 AS n, sum(speed_sq_sum) AS squares,
                             sum(speed_sum) / nullif(sum(speed_n), 0) AS mean
                      FROM {relation} WHERE {where} GROUP BY {group}),
                s AS ({speeds})
           SELECT period_start{dims}, volume, round(mean::numeric, 1)::float8,
                  round((mean + {z85} * sqrt(greatest(squares / n - mean * mean, 0)))::numeric, 1)::float8,
                  speed_a, speed_b
           FROM g LEFT JOIN s USING ({group})
           ORDER BY {group}"""
    ).format(
        z85=sql.Literal(Z85),
        bucket=bucket,
        dims=sql.SQL("").join(sql.SQL(", ") + d for d in dims),
        relation=relation,
        where=_filters(time_column, query.cameras, extra),
        group=group,
        speeds=_speed_groups(query.grain, tz, dims, _filters(speed_time, query.cameras)),
    )
    zone = ZoneInfo(tz)
    params = {"start": query.period.start, "end": query.period.end, "cameras": list(query.cameras)}
    result = conn.execute(statement, params).fetchall()
    if query.grain is Grain.QUARTER:
        p50s = _rounded(np.array([r[-2] for r in result], dtype=float))
        p85s = _rounded(np.array([r[-1] for r in result], dtype=float))
    else:
        counts = speeds.unpack([r[-2] for r in result])
        p50s, p85s = _rounded(speeds.percentiles(counts, 0.5)), _rounded(speeds.percentiles(counts, 0.85))
    rows = []
    for (start, *rest), p50, p85 in zip(result, p50s, p85s, strict=True):
        *keys, total, mean, model_p85, _, _ = rest
        if p50 is not None:
            rows.append((start.astimezone(zone), *keys, total, mean, p50, p85, MEASURED))
        else:
            rows.append((start.astimezone(zone), *keys, total, mean, mean, model_p85, MODEL if mean is not None else None))
    columns = (
        Column("period_start", "timestamp"),
        *(Column(_DIMENSION_COLUMNS[d], "text") for d in query.by),
        Column("volume", "int"),
        Column("speed_mean_kmh", "float"),
        Column("speed_p50_kmh", "float"),
        Column("speed_p85_kmh", "float"),
        Column("speed_basis", "text"),
    )
    meta = {"report": "volume", "period": query.period.label, "start": query.period.start.isoformat(),
            "end": query.period.end.isoformat(), "grain": query.grain.value, "timezone": tz,
            "cameras": list(query.cameras) or "all", "by": list(query.by)}
    return Table("volume", columns, rows, meta)


def summary(conn: psycopg.Connection, period: Period, cameras: tuple[str, ...], *, tz: str) -> Table:
    """Per camera: volume, average daily traffic (over days with data), peak hour of the average
    day and its share, weekday and weekend averages, speed percentiles, and the previous period."""
    params = {"start": period.start, "end": period.end, "cameras": list(cameras), "tz": tz}
    where = _filters(sql.Identifier("bucket"), cameras)
    daily = {
        camera: (int(total), int(days), int(weekday), int(weekday_days), int(weekend), int(weekend_days), n, s, s2)
        for camera, total, days, weekday, weekday_days, weekend, weekend_days, n, s, s2 in conn.execute(
            sql.SQL(
                """SELECT camera_id, sum(volume), count(DISTINCT bucket),
                          coalesce(sum(volume) FILTER (WHERE NOT weekend), 0), count(DISTINCT bucket) FILTER (WHERE NOT weekend),
                          coalesce(sum(volume) FILTER (WHERE weekend), 0), count(DISTINCT bucket) FILTER (WHERE weekend),
                          sum(speed_n), sum(speed_sum), sum(speed_sq_sum)
                   FROM (SELECT *, extract(isodow FROM bucket AT TIME ZONE %(tz)s) >= 6 AS weekend FROM traffic_daily
                         WHERE {where}) d
                   GROUP BY camera_id"""
            ).format(where=where),
            params,
        )
    }
    peaks: dict[str, tuple[int, float]] = {}
    profile: dict[str, dict[int, int]] = {}
    for camera, hour, total in conn.execute(
        sql.SQL(
            """SELECT camera_id, extract(hour FROM bucket AT TIME ZONE %(tz)s)::int, sum(volume)
               FROM traffic_hourly WHERE {where} GROUP BY 1, 2"""
        ).format(where=where),
        params,
    ):
        profile.setdefault(camera, {})[hour] = int(total)
    for camera, hours in profile.items():
        peak = max(hours, key=lambda h: (hours[h], -h))
        day_total = sum(hours.values())
        peaks[camera] = (peak, round(hours[peak] / day_total, 4) if day_total else 0.0)

    previous = period.previous()
    before = {
        camera: (int(total), int(days))
        for camera, total, days in conn.execute(
            sql.SQL("SELECT camera_id, sum(volume), count(DISTINCT bucket) FROM traffic_daily WHERE {where} GROUP BY 1").format(
                where=where
            ),
            {**params, "start": previous.start, "end": previous.end},
        )
    }
    hist_rows = conn.execute(
        sql.SQL("SELECT camera_id, sum(speed_hist)::text FROM speed_daily WHERE {where} GROUP BY 1").format(where=where),
        params,
    ).fetchall()
    counts = speeds.unpack([row[1] for row in hist_rows])
    measured = {
        row[0]: (p50, p85)
        for row, p50, p85 in zip(hist_rows, _rounded(speeds.percentiles(counts, 0.5)), _rounded(speeds.percentiles(counts, 0.85)), strict=True)
        if p50 is not None
    }
    names = {camera.camera_id: camera.name for camera in known_cameras(conn)}
    rows = []
    for camera in sorted(daily):
        total, days, weekday, weekday_days, weekend, weekend_days, n, s, s2 = daily[camera]
        if camera in measured:
            (p50, p85), basis = measured[camera], MEASURED
        else:
            (_, p50, p85), basis = _speed(n, s, s2), MODEL if n else None
        adt = round(total / days, 1) if days else None
        weekday_adt = round(weekday / weekday_days, 1) if weekday_days else None
        weekend_adt = round(weekend / weekend_days, 1) if weekend_days else None
        prev_total, prev_days = before.get(camera, (None, 0))
        prev_adt = round(prev_total / prev_days, 1) if prev_days else None
        change = round(100 * (adt - prev_adt) / prev_adt, 1) if adt is not None and prev_adt else None
        peak_hour, peak_share = peaks.get(camera, (None, None))
        rows.append((
            camera, names.get(camera, camera), days, total, adt, peak_hour, peak_share, weekday_adt, weekend_adt,
            round(weekend_adt / weekday_adt, 3) if weekend_adt is not None and weekday_adt else None,
            p50, p85, basis, prev_total, prev_adt, change,
        ))
    columns = (
        Column("camera_id", "text"), Column("name", "text"), Column("days", "int"), Column("volume", "int"),
        Column("adt", "float"), Column("peak_hour", "int"), Column("peak_hour_share", "float"),
        Column("weekday_adt", "float"), Column("weekend_adt", "float"), Column("weekend_weekday_ratio", "float"),
        Column("speed_p50_kmh", "float"), Column("speed_p85_kmh", "float"), Column("speed_basis", "text"),
        Column("previous_volume", "int"), Column("previous_adt", "float"), Column("adt_change_pct", "float"),
    )
    meta = {"report": "summary", "period": period.label, "start": period.start.isoformat(), "end": period.end.isoformat(),
            "previous_period": previous.label, "previous_start": previous.start.isoformat(),
            "previous_end": previous.end.isoformat(), "timezone": tz, "cameras": list(cameras) or "all"}
    return Table("summary", columns, rows, meta)


@dataclass(frozen=True)
class Profiles:
    """Average volume per hour of the day (weekdays, weekends), per weekday x hour (Monday first),
    and per day, over the selected cameras."""

    weekday_hours: list[float]
    weekend_hours: list[float]
    weekday_by_hour: list[list[float]]  # 7 x 24
    daily: list[tuple[date, int]]


def profiles(conn: psycopg.Connection, period: Period, cameras: tuple[str, ...], *, tz: str) -> Profiles:
    params = {"start": period.start, "end": period.end, "cameras": list(cameras), "tz": tz}
    where = _filters(sql.Identifier("bucket"), cameras)
    sums = [[0.0] * 24 for _ in range(7)]
    for dow, hour, total in conn.execute(
        sql.SQL(
            """SELECT extract(isodow FROM bucket AT TIME ZONE %(tz)s)::int, extract(hour FROM bucket AT TIME ZONE %(tz)s)::int,
                      sum(volume) FROM traffic_hourly WHERE {where} GROUP BY 1, 2"""
        ).format(where=where),
        params,
    ):
        sums[dow - 1][hour] = float(total)
    daily = [
        ((day.astimezone(ZoneInfo(tz))).date(), int(total))
        for day, total in conn.execute(
            sql.SQL("SELECT bucket, sum(volume) FROM traffic_daily WHERE {where} GROUP BY 1 ORDER BY 1").format(where=where),
            params,
        )
    ]
    days_per_dow = [0] * 7
    for day, _ in daily:
        days_per_dow[day.weekday()] += 1
    matrix = [[s / days_per_dow[d] if days_per_dow[d] else 0.0 for s in sums[d]] for d in range(7)]

    def average(dows: range) -> list[float]:
        days = sum(days_per_dow[d] for d in dows)
        return [sum(sums[d][h] for d in dows) / days if days else 0.0 for h in range(24)]

    return Profiles(average(range(5)), average(range(5, 7)), matrix, daily)


def profile_tables(data: Profiles, meta: dict[str, Any]) -> list[Table]:
    """The profiles as report sections: average hour of the day (weekday / weekend), the weekday x
    hour matrix (Monday first, one column per hour), and the daily totals."""
    hourly = Table("hourly_profile", (Column("hour", "int"), Column("weekday_avg", "float"), Column("weekend_avg", "float")),
                   [(h, round(data.weekday_hours[h], 1), round(data.weekend_hours[h], 1)) for h in range(24)], meta)
    matrix = Table("weekday_hour", (Column("weekday", "int"), *(Column(f"h{h:02d}", "float") for h in range(24))),
                   [(d + 1, *(round(v, 1) for v in row)) for d, row in enumerate(data.weekday_by_hour)], meta)
    daily = Table("daily", (Column("date", "date"), Column("volume", "int")), list(data.daily), meta)
    return [hourly, matrix, daily]


def ensure_rows(table: Table, period: Period, cameras: tuple[str, ...], grain: Grain | None = None) -> Table:
    """An empty result is an error that says what was asked, so a typo'd period is not a blank file."""
    if table.rows:
        return table
    raise no_traffic(period, cameras, grain)


def no_traffic(period: Period, cameras: tuple[str, ...], grain: Grain | None = None) -> ReportError:
    what = f"cameras {', '.join(cameras)}" if cameras else "any camera"
    hint = " (15-minute volumes come from raw windows, kept about 13 months)" if grain is Grain.QUARTER else ""
    return ReportError(
        f"no traffic recorded for {what} in {period.label} [{period.start:%Y-%m-%d %H:%M} .. {period.end:%Y-%m-%d %H:%M}){hint}"
    )
