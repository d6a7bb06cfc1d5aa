"""The wall's read-only role: roles belong to the whole PostgreSQL cluster, and every database of
it (tests make many, concurrently) runs the migration that creates it."""

from __future__ import annotations

import concurrent.futures
import contextlib

import psycopg
import pytest

from ingest.db import DbSettings, temporary_database


def test_databases_migrated_at_once_all_get_the_reader(stack):
    # Four databases migrating concurrently: the role exists already (or is being created by a
    # sibling); each migration must still succeed and grant in its own database.
    with contextlib.ExitStack() as opened:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(opened.enter_context, temporary_database(DbSettings(dsn=stack.dsn), prefix="ioc_test"))
                       for _ in range(4)]
            databases = [f.result() for f in futures]
        for db in databases:
            with psycopg.connect(psycopg.conninfo.make_conninfo(db.conninfo, user="ioc_grafana")) as conn:
                assert conn.execute("SELECT count(*) FROM cameras").fetchone() == (0,)
                # the speed histograms the Planning dashboard's V50 / V85 read
                assert conn.execute("SELECT (SELECT count(*) FROM speed_hourly) + (SELECT count(*) FROM speed_daily)").fetchone() == (0,)
                assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)


@pytest.mark.parametrize("table", ["warehouse_config", "warehouse_dirty", "schema_migrations", "frame_events"])
def test_reader_sees_only_what_the_panels_read(db, table):
    with psycopg.connect(psycopg.conninfo.make_conninfo(db.conninfo, user="ioc_grafana")) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1")


def test_reader_password_is_set_from_the_environment(db):
    from typer.testing import CliRunner

    from dashboards.grafana.cli import app
    from ingest.errors import InvalidInput

    runner = CliRunner()
    missing = runner.invoke(app, ["reader-password", "--dsn", db.conninfo], env={"IOC_GRAFANA_DB_PASSWORD": ""})
    assert missing.exit_code == InvalidInput.exit_code and "IOC_GRAFANA_DB_PASSWORD" in missing.stderr
    done = runner.invoke(app, ["reader-password", "--dsn", db.conninfo], env={"IOC_GRAFANA_DB_PASSWORD": "wall-reader-pw"})
    assert done.exit_code == 0, done.output
    with psycopg.connect(db.conninfo) as conn:
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'ioc_grafana'").fetchone()[0]
    assert stored and stored.startswith(("SCRAM-SHA-256$", "md5")) and "wall-reader-pw" not in stored
