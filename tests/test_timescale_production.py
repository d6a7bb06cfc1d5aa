"""The production-only migration (continuous aggregates for speeds, compression policies) on the
local Apache build: it must change nothing, say why, and be safe to run again. The queries of its
continuous aggregates run here as plain SQL; creating them, their policies and compression need
the official image and are not exercised here."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from ingest.db import DbSettings, connect
from ingest.migrations import __file__ as migrations_init

MIGRATION = Path(migrations_init).parent / "0036_timescale_production.sql"


def test_on_the_apache_build_it_is_a_no_op_with_a_notice(db: DbSettings) -> None:
    notices: list[str] = []
    with connect(db, autocommit=True) as conn:
        assert conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()[0] == "apache"
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        for _ in range(2):  # applied once by the fixture's migrate, run twice more: nothing changes
            conn.execute(MIGRATION.read_text())
        compressed = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE compression_enabled"
        ).fetchall()
        caggs = conn.execute("SELECT view_name FROM timescaledb_information.continuous_aggregates").fetchall()
        jobs = conn.execute("SELECT count(*) FROM timescaledb_information.jobs WHERE proc_name IN ('policy_compression', 'policy_refresh_continuous_aggregate')").fetchone()[0]
        kinds = dict(conn.execute(
            "SELECT relname, relkind FROM pg_class WHERE relname IN ('speed_hourly', 'speed_daily') AND relnamespace = 'public'::regnamespace"
        ).fetchall())
    assert compressed == [] and caggs == [] and jobs == 0
    assert kinds == {"speed_hourly": "r", "speed_daily": "r"}  # ioc's own tables, refreshed by `ioc db maintain`
    assert len(notices) == 2 and all("timescaledb.license is apache, not timescale" in n for n in notices)


def test_it_is_applied_after_the_speed_histograms(db: DbSettings) -> None:
    with connect(db) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert 35 in versions and 36 in versions and versions.index(36) == versions.index(35) + 1


def _aggregate_queries() -> dict[str, str]:
    """The SELECT of each continuous aggregate the migration defines, by view name."""
    import re

    found = re.findall(r"CREATE MATERIALIZED VIEW (\w+) WITH \([^)]*\) AS\s+(.*?)\s+WITH NO DATA", MIGRATION.read_text(), flags=re.S)
    return dict(found)


def test_its_continuous_aggregates_compute_what_the_own_refresh_computes(db: DbSettings) -> None:
    """The aggregates' queries, run as plain SQL here, against the histograms ioc's own refresh built
    from the same crossings: the licence changes who refreshes, not the numbers."""
    from datetime import datetime, timedelta

    from ingest import contract as c
    from ingest.warehouse.rollups import refresh_rollups
    from ingest.writer import EventWriter

    start = datetime(2026, 10, 4, 15, 0, tzinfo=UTC)  # spans a local midnight
    crossings = [c.LineCrossing(camera_id=f"cam-{i % 3}", ts=start + timedelta(minutes=7 * i), frame_no=i, line_id="L1",
                                direction="in" if i % 2 else "out", cls="car" if i % 5 else "motorbike", track_id=i,
                                speed_kmh=None if i % 11 == 0 else float((i * 37) % 130))
                 for i in range(600)]
    with connect(db) as conn, conn.transaction():
        EventWriter(conn).write(crossings)
    refresh_rollups(db)
    queries = _aggregate_queries()
    assert set(queries) == {"speed_hourly", "speed_daily"}
    with connect(db) as conn:
        for view in ("speed_hourly", "speed_daily"):
            key = "bucket, camera_id, line_id, direction, cls"
            built = conn.execute(f"SELECT {key}, speed_hist FROM {view} ORDER BY {key}").fetchall()
            defined = conn.execute(f"SELECT * FROM ({queries[view]}) q ORDER BY {key}").fetchall()
            assert len(built) > 20 and defined == built, view
