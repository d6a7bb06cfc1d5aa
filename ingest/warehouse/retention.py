"""Retention: drop whole chunks older than each table's retention (``drop_chunks``).

Dropping chunks is cheap (a table drop, no row deletes, no vacuum) and fires no row trigger, so
dropping raw windows leaves the rollups built from them alone. When raw windows (or crossings) are
dropped, the horizon below which raw data is no longer complete is recorded in ``warehouse_config``:
the rollup refresh then never recomputes an hour from partial raw data, the rollup stays as built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from ingest.db import DatabaseError, DbSettings, connect

# Raw tables the rollups are computed from, and the warehouse_config column that records from where
# on they are complete: count windows feed the traffic rollups, crossings the speed histograms.
_HORIZONS = {"count_windows": "raw_horizon", "crossings": "speed_horizon"}


@dataclass(frozen=True)
class Dropped:
    table: str
    older_than: datetime
    chunks: tuple[str, ...]


def apply_retention(
    settings: DbSettings, retention: Mapping[str, timedelta | None], *, now: datetime | None = None
) -> list[Dropped]:
    """Drop, per table, the chunks whose whole time range is older than ``now - retention``.
    Tables with retention None, and tables this database does not have, are left alone."""
    now = now or datetime.now(UTC)
    dropped: list[Dropped] = []
    try:
        with connect(settings, autocommit=True) as conn:
            hypertables = _hypertables(conn)
            for table, keep in retention.items():
                if keep is None or table not in hypertables:
                    continue
                cutoff = now - keep
                with conn.transaction():
                    complete_from = _end_of_chunks_before(conn, table, cutoff)
                    names = [row[0] for row in conn.execute("SELECT drop_chunks(%s, older_than => %s)", (table, cutoff))]
                    if table in _HORIZONS and names:
                        conn.execute(
                            sql.SQL("UPDATE warehouse_config SET {0} = greatest({0}, %s)").format(
                                sql.Identifier(_HORIZONS[table])),
                            (complete_from,),
                        )
                dropped.append(Dropped(table, cutoff, tuple(names)))
    except psycopg.Error as exc:
        raise DatabaseError(f"retention failed: {exc}") from exc
    return dropped


def _hypertables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables "
        "UNION SELECT view_name FROM timescaledb_information.continuous_aggregates"
    )
    return {row[0] for row in rows}


def _end_of_chunks_before(conn: psycopg.Connection, table: str, cutoff: datetime) -> datetime | None:
    """The end of the newest chunk drop_chunks will take: raw data is complete from there on."""
    return conn.execute(
        "SELECT max(range_end) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = %s AND range_end <= %s",
        (table, cutoff),
    ).fetchone()[0]
