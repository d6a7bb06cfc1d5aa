"""Rollups against the real TimescaleDB: equal to a direct aggregate of the raw windows after late,
replayed, duplicate and deleted data; idempotent; correct with a writer still in flight."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest import contract as c
from ingest.db import DbSettings, connect
from ingest.warehouse.clustering import cluster_closed_chunks
from ingest.warehouse.retention import apply_retention
from ingest.warehouse.rollups import RollupMode, contiguous_runs, refresh_rollups
from ingest.writer import EventWriter

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
TZ = "Asia/Ho_Chi_Minh"


def _window(camera: str, ts: datetime, *, count: int, direction: str = "in", cls: str = "motorbike",
            mean: float | None = 30.0, p85: float | None = 38.0) -> c.CountWindow:
    return c.CountWindow(camera_id=camera, ts=ts, line_id="L1", direction=direction, cls=cls,  # type: ignore[arg-type]
                         count=count, speed_mean_kmh=mean, speed_p85_kmh=p85)


def _write(settings: DbSettings, events: list[c.Event]) -> None:
    with connect(settings) as conn, conn.transaction():
        EventWriter(conn).write(events)


def _random_windows(rng: random.Random, n: int, *, hours: int) -> list[c.CountWindow]:
    out = []
    for _ in range(n):
        ts = T0 + timedelta(minutes=rng.randrange(hours * 60))
        mean = round(rng.uniform(10, 50), 1)
        out.append(_window(rng.choice(["cam-a", "cam-b"]), ts, count=rng.randint(0, 40),
                           direction=rng.choice(["in", "out"]), cls=rng.choice(["motorbike", "car"]),
                           mean=mean if rng.random() > 0.1 else None, p85=round(mean + rng.uniform(0, 12), 1)))
    return out


def _rollup(conn: psycopg.Connection, table: str) -> dict[tuple, tuple]:
    rows = conn.execute(
        f"SELECT camera_id, bucket, line_id, direction, cls, volume, speed_n, speed_sum, speed_sq_sum FROM {table}"
    ).fetchall()
    return {row[:5]: row[5:] for row in rows}


def _direct(conn: psycopg.Connection, bucket_sql: str) -> dict[tuple, tuple]:
    """The aggregate computed straight from the raw windows, the way a planner would check it."""
    rows = conn.execute(
        f"""SELECT camera_id, {bucket_sql} AS b, line_id, direction, cls, sum(count)::bigint,
                   coalesce(sum(count) FILTER (WHERE speed_mean_kmh IS NOT NULL), 0)::bigint,
                   coalesce(sum(count * speed_mean_kmh::float8), 0),
                   coalesce(sum(count * (speed_mean_kmh::float8 ^ 2
                       + ((coalesce(speed_p85_kmh, speed_mean_kmh) - speed_mean_kmh)::float8 / 1.0364) ^ 2)), 0)
            FROM count_windows GROUP BY 1, 2, 3, 4, 5"""
    ).fetchall()
    return {row[:5]: row[5:] for row in rows}


def _assert_same(actual: dict[tuple, tuple], expected: dict[tuple, tuple]) -> None:
    assert actual.keys() == expected.keys()
    for key, (volume, n, s, s2) in expected.items():
        got = actual[key]
        assert got[0] == volume and got[1] == n, key
        assert math.isclose(got[2], s, rel_tol=1e-9, abs_tol=1e-6), key
        assert math.isclose(got[3], s2, rel_tol=1e-9, abs_tol=1e-6), key


def _assert_rollups_match_raw(settings: DbSettings) -> None:
    with connect(settings) as conn:
        _assert_same(_rollup(conn, "traffic_hourly"), _direct(conn, "time_bucket('1 hour', ts)"))
        _assert_same(_rollup(conn, "traffic_daily"), _direct(conn, f"time_bucket('1 day', ts, '{TZ}')"))


def test_rollups_equal_raw_aggregate_after_late_replayed_duplicate_and_deleted_windows(db: DbSettings) -> None:
    rng = random.Random(4)
    first = _random_windows(rng, 400, hours=60)
    _write(db, first)
    result = refresh_rollups(db)
    assert result.mode is RollupMode.OWN
    assert result.hours > 0 and result.days > 0
    _assert_rollups_match_raw(db)

    late = _random_windows(rng, 60, hours=60)  # new windows in hours already rolled up
    replayed = [  # same natural key, corrected count and speeds: must overwrite, never add
        _window(w.camera_id, w.ts, count=w.count + 7, direction=w.direction, cls=w.cls, mean=22.0, p85=29.0)
        for w in first[:50]
    ]
    duplicates = first[100:150]  # the very same events again
    _write(db, late)
    _write(db, replayed)
    _write(db, duplicates)
    with connect(db) as conn, conn.transaction():  # an operator deletes a bad camera-hour
        conn.execute("DELETE FROM count_windows WHERE camera_id = 'cam-b' AND ts >= %s AND ts < %s",
                     (T0 + timedelta(hours=5), T0 + timedelta(hours=6)))

    touched = {(w.camera_id, w.ts.replace(minute=0)) for w in late + replayed + duplicates} | {
        ("cam-b", T0 + timedelta(hours=5))
    }
    second = refresh_rollups(db)
    assert second.hours == len(touched), "recomputes exactly the camera-hours written since the last refresh"
    _assert_rollups_match_raw(db)
    with connect(db) as conn:
        hour = conn.execute("SELECT count(*) FROM traffic_hourly WHERE camera_id = 'cam-b' AND bucket = %s",
                            (T0 + timedelta(hours=5),)).fetchone()[0]
    assert hour == 0, "a camera-hour whose windows were all deleted leaves the rollup"

    # The final volume is the sum of the last value written per natural key: check it independently.
    latest: dict[tuple, int] = {}
    for w in first + late + replayed + duplicates:
        if w.camera_id == "cam-b" and T0 + timedelta(hours=5) <= w.ts < T0 + timedelta(hours=6):
            continue
        latest[(w.camera_id, w.line_id, w.direction, w.cls, w.window_s, w.ts)] = w.count
    with connect(db) as conn:
        assert conn.execute("SELECT sum(volume) FROM traffic_daily").fetchone()[0] == sum(latest.values())


def test_refresh_twice_changes_nothing(db: DbSettings) -> None:
    _write(db, _random_windows(random.Random(9), 100, hours=30))
    refresh_rollups(db)
    with connect(db) as conn:
        before = _rollup(conn, "traffic_hourly"), _rollup(conn, "traffic_daily")
    again = refresh_rollups(db)
    full = refresh_rollups(db, full=True)
    assert (again.hours, again.days) == (0, 0)
    assert full.hours > 0
    with connect(db) as conn:
        assert (_rollup(conn, "traffic_hourly"), _rollup(conn, "traffic_daily")) == before


def test_a_writer_still_in_flight_during_a_refresh_is_not_lost(db: DbSettings) -> None:
    hour = T0 + timedelta(hours=8)
    _write(db, [_window("cam-a", hour, count=10)])  # leaves a committed mark for this hour
    with connect(db) as writer_conn:
        writer = EventWriter(writer_conn)
        writer.write([_window("cam-a", hour + timedelta(minutes=1), count=5)])  # uncommitted
        refresh_rollups(db)  # takes the committed mark, cannot see the uncommitted window
        with connect(db) as conn:
            assert conn.execute("SELECT sum(volume) FROM traffic_hourly").fetchone()[0] == 10
        writer_conn.commit()
    refresh_rollups(db)
    with connect(db) as conn:
        assert conn.execute("SELECT sum(volume) FROM traffic_hourly").fetchone()[0] == 15
    _assert_rollups_match_raw(db)


def test_speeds_roll_up_from_moments(db: DbSettings) -> None:
    # Two windows with the same speed distribution: the hour has that distribution's mean and p85.
    _write(db, [_window("cam-a", T0, count=10, mean=30.0, p85=40.0),
                _window("cam-a", T0 + timedelta(minutes=1), count=30, mean=30.0, p85=40.0),
                _window("cam-a", T0 + timedelta(minutes=2), count=5, mean=None, p85=None)])
    refresh_rollups(db)
    with connect(db) as conn:
        volume, n, s, s2 = conn.execute("SELECT volume, speed_n, speed_sum, speed_sq_sum FROM traffic_hourly").fetchone()
    assert (volume, n) == (45, 40)
    mean = s / n
    p85 = mean + 1.0364 * math.sqrt(s2 / n - mean * mean)
    assert math.isclose(mean, 30.0) and math.isclose(p85, 40.0, rel_tol=1e-6)


def test_late_window_older_than_raw_retention_keeps_the_rollup(db: DbSettings) -> None:
    old = T0
    _write(db, [_window("cam-a", old, count=100), _window("cam-a", old + timedelta(days=30), count=1)])
    refresh_rollups(db)
    now = old + timedelta(days=20)
    dropped = apply_retention(db, {"count_windows": timedelta(days=10)}, now=now)
    assert sum(len(d.chunks) for d in dropped) == 1
    _write(db, [_window("cam-a", old + timedelta(minutes=5), count=3)])  # arrives after its raw chunk was dropped
    result = refresh_rollups(db)
    assert result.skipped_stale == 1
    with connect(db) as conn:
        assert conn.execute("SELECT volume FROM traffic_hourly WHERE bucket = %s", (old,)).fetchone()[0] == 100


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ([], []),
        ([0, 1, 2], [(0, 2)]),
        ([0, 1, 5, 6, 9], [(0, 1), (5, 6), (9, 9)]),
        (list(range(0, 20)), [(0, 6), (7, 13), (14, 19)]),
    ],
)
def test_contiguous_runs(offsets: list[int], expected: list[tuple[int, int]]) -> None:
    points = [T0 + timedelta(hours=k) for k in offsets]
    runs = contiguous_runs(points, step=timedelta(hours=1), max_span=timedelta(hours=7))
    assert runs == [(T0 + timedelta(hours=a), T0 + timedelta(hours=b)) for a, b in expected]


def test_closed_rollup_chunks_are_clustered_once_and_keep_their_rows(db: DbSettings) -> None:
    _write(db, _random_windows(random.Random(12), 300, hours=24 * 70))  # spans three 30-day hourly chunks
    refresh_rollups(db)
    with connect(db) as conn:
        before = _rollup(conn, "traffic_hourly"), _rollup(conn, "traffic_daily")
        ends = sorted(row[0] for row in conn.execute(
            "SELECT range_end FROM timescaledb_information.chunks WHERE hypertable_name = 'traffic_hourly'"))
    now = ends[-1] - timedelta(days=1)  # every hourly chunk but the last has closed
    clustered = cluster_closed_chunks(db, now=now)
    assert len(clustered) == len(ends) - 1
    assert cluster_closed_chunks(db, now=now) == [], "a chunk is clustered once"
    with connect(db) as conn:
        assert (_rollup(conn, "traffic_hourly"), _rollup(conn, "traffic_daily")) == before
        # rows of one camera now lie together: the first clustered chunk is in (camera, bucket) order
        chunk = clustered[0]
        rows = conn.execute(f"SELECT camera_id, bucket FROM {chunk} ORDER BY ctid").fetchall()
    assert rows == sorted(rows)
