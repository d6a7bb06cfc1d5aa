"""Retention drops exactly the chunks past each table's retention, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest import contract as c
from ingest.db import DbSettings, connect
from ingest.warehouse.retention import apply_retention
from ingest.warehouse.rollups import refresh_rollups
from ingest.warehouse.settings import DEFAULT_RETENTION, SettingsError, WarehouseSettings, parse_retention
from ingest.writer import EventWriter

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def _chunks(conn, table: str) -> dict[str, tuple[datetime, datetime]]:
    rows = conn.execute(
        "SELECT chunk_name, range_start, range_end FROM timescaledb_information.chunks WHERE hypertable_name = %s",
        (table,),
    ).fetchall()
    return {name: (start, end) for name, start, end in rows}


def test_retention_drops_exactly_the_old_chunks(db: DbSettings) -> None:
    events: list[c.Event] = []
    for day in range(0, 40):  # crossings: one chunk a day; windows: one chunk a week
        ts = NOW - timedelta(days=day, hours=3)
        events.append(c.LineCrossing(camera_id="cam", ts=ts, frame_no=day, line_id="L", direction="in", cls="car", track_id=day))
        events.append(c.CountWindow(camera_id="cam", ts=ts.replace(minute=0, second=0, microsecond=0), line_id="L",
                                    direction="in", cls="car", count=1))
        events.append(c.Heartbeat(camera_id="cam", ts=ts, fps=25.0, frames=day, uptime_s=1.0))
    with connect(db) as conn, conn.transaction():
        EventWriter(conn).write(events)
    refresh_rollups(db)

    retention = {"crossings": timedelta(days=10), "count_windows": timedelta(days=20), "heartbeats": None,
                 "not_a_table": timedelta(days=1)}
    with connect(db) as conn:
        before = {table: _chunks(conn, table) for table in ("crossings", "count_windows", "heartbeats", "traffic_hourly")}
        raw_rows_before = conn.execute("SELECT count(*) FROM count_windows").fetchone()[0]
        daily_before = conn.execute("SELECT sum(volume) FROM traffic_daily").fetchone()[0]

    dropped = {d.table: d for d in apply_retention(db, retention, now=NOW)}

    assert set(dropped) == {"crossings", "count_windows"}
    for table, keep in (("crossings", 10), ("count_windows", 20)):
        cutoff = NOW - timedelta(days=keep)
        expected = {name for name, (_, end) in before[table].items() if end <= cutoff}
        assert expected, f"the test data must reach past {table}'s retention"
        assert {name.split(".")[-1] for name in dropped[table].chunks} == expected
        with connect(db) as conn:
            left = _chunks(conn, table)
            assert set(left) == set(before[table]) - expected
            assert all(end > cutoff for _, end in left.values())
            oldest_kept = min(start for start, _ in left.values())
            assert conn.execute(f"SELECT min(ts) >= %s FROM {table}", (oldest_kept,)).fetchone()[0]

    with connect(db) as conn:
        assert _chunks(conn, "heartbeats") == before["heartbeats"], "retention None keeps everything"
        assert _chunks(conn, "traffic_hourly") == before["traffic_hourly"], "a table not named is left alone"
        assert conn.execute("SELECT count(*) FROM count_windows").fetchone()[0] < raw_rows_before
        assert conn.execute("SELECT sum(volume) FROM traffic_daily").fetchone()[0] == daily_before, "rollups outlive raw"
        horizon = conn.execute("SELECT raw_horizon FROM warehouse_config").fetchone()[0]
    assert horizon == max(end for end in (e for _, e in before["count_windows"].values()) if end <= NOW - timedelta(days=20))

    again = apply_retention(db, retention, now=NOW)
    assert all(not d.chunks for d in again), "running it again drops nothing more"


def test_retention_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_RETENTION", "frame_events=3d, crossings=26w,traffic_daily=forever,traffic_hourly=2y")
    settings = WarehouseSettings.load()
    assert settings.retention["frame_events"] == timedelta(days=3)
    assert settings.retention["crossings"] == timedelta(weeks=26)
    assert settings.retention["traffic_hourly"] == timedelta(days=730)
    assert settings.retention["traffic_daily"] is None
    assert settings.retention["heartbeats"] == DEFAULT_RETENTION["heartbeats"]
    with pytest.raises(SettingsError, match="'crossing=3d' must be TABLE=DURATION"):
        parse_retention("crossing=3d")
    with pytest.raises(SettingsError, match="'3 months' is not a duration"):
        parse_retention("crossings=3 months")
    with pytest.raises(SettingsError, match="'0d' is not a duration"):
        parse_retention("crossings=0d")
