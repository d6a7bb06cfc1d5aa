"""Database access for every stage: settings, connections and versioned migrations.

Migrations are the files ``ingest/migrations/NNNN_name.sql``, applied in order, each once, in its
own transaction, and recorded in ``schema_migrations``. An advisory lock keeps two migrators from
racing. psycopg errors are translated into ``DatabaseError`` where they enter.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

import psycopg

from ingest.errors import IocError, ServiceUnavailable
from ingest.settings import DbSettings

__all__ = ["DatabaseError", "DatabaseUnavailable", "DbSettings", "connect", "migrate", "temporary_database"]

MIGRATIONS_PACKAGE = "ingest.migrations"
_MIGRATION_LOCK = 0x10C0_0001  # advisory lock key, any constant unique to ioc


class DatabaseError(IocError):
    """The database could not be reached or refused a statement; the message says which."""


class DatabaseUnavailable(DatabaseError, ServiceUnavailable):
    """The database could not be reached: worth retrying, unlike a refused statement."""


def connect(settings: DbSettings, *, autocommit: bool = False) -> psycopg.Connection:
    try:
        return psycopg.connect(settings.conninfo, autocommit=autocommit, connect_timeout=settings.connect_timeout_s)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to the database {settings.shown}: {exc}".strip()) from exc


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def migrate(settings: DbSettings) -> list[Migration]:
    """Apply pending migrations; returns those applied now. A changed, already-applied file is an error."""
    applied_now = []
    with connect(settings, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {v: c for v, c in conn.execute("SELECT version, checksum FROM schema_migrations")}
            for migration in available_migrations():
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise DatabaseError(
                            f"migration {migration.version:04d}_{migration.name}.sql changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql)
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (migration.version, migration.name, migration.checksum),
                        )
                except psycopg.Error as exc:
                    raise DatabaseError(f"migration {migration.version:04d}_{migration.name}.sql failed: {exc}") from exc
                applied_now.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied_now


@contextlib.contextmanager
def temporary_database(admin: DbSettings, *, prefix: str = "ioc_tmp") -> Iterator[DbSettings]:
    """A new, migrated database on ``admin``'s server, dropped on exit (tests, benchmarks)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    settings = admin.for_database(name)
    try:
        migrate(settings)
        yield settings
    finally:
        with connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
