"""The production-only migration (continuous aggregates for speeds, compression policies) on the
local Apache build: it must change nothing, say why, and be safe to run again. The Timescale-licence
branch itself needs the official image and is not exercised here."""

from __future__ import annotations

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
