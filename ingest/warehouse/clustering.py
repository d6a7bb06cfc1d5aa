"""Rewrite closed rollup chunks in (camera_id, bucket) order, so per-camera reports read few pages.

Own-mode rollups only (continuous aggregates are TimescaleDB's to lay out). ``CLUSTER`` holds an
exclusive lock on the one chunk it rewrites, for seconds; reports touching that month wait that long.
Done once per chunk, after its time range has ended (see migration 0012).
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg import sql

from ingest.db import DatabaseError, DbSettings, connect
from ingest.warehouse.rollups import RollupMode, rollup_mode

ROLLUPS = ("traffic_hourly", "traffic_daily", "speed_hourly", "speed_daily")


def cluster_closed_chunks(settings: DbSettings, *, now: datetime | None = None) -> list[str]:
    """Cluster every rollup chunk whose range ended before ``now`` and that is not clustered yet;
    returns the chunks rewritten."""
    now = now or datetime.now(UTC)
    done: list[str] = []
    try:
        with connect(settings, autocommit=True) as conn:
            if rollup_mode(conn) is RollupMode.CONTINUOUS:
                return done
            pending = conn.execute(
                """SELECT c.chunk_schema, c.chunk_name, ic.relname, format('%%I.%%I', c.chunk_schema, c.chunk_name)
                   FROM timescaledb_information.chunks c
                   JOIN pg_index i ON i.indrelid = format('%%I.%%I', c.chunk_schema, c.chunk_name)::regclass AND i.indisprimary
                   JOIN pg_class ic ON ic.oid = i.indexrelid
                   WHERE c.hypertable_name = ANY(%s) AND c.range_end <= %s
                     AND format('%%I.%%I', c.chunk_schema, c.chunk_name) NOT IN (SELECT chunk FROM warehouse_clustered)
                   ORDER BY c.range_start""",
                (list(ROLLUPS), now),
            ).fetchall()
            for schema, name, index, qualified in pending:
                with conn.transaction():
                    conn.execute(sql.SQL("CLUSTER {} USING {}").format(sql.Identifier(schema, name), sql.Identifier(index)))
                    conn.execute("INSERT INTO warehouse_clustered (chunk) VALUES (%s)", (qualified,))
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, name)))
                done.append(qualified)
    except psycopg.Error as exc:
        raise DatabaseError(f"clustering rollup chunks failed: {exc}") from exc
    return done
