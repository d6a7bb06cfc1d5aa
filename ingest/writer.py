"""Events to rows: the one write path into TimescaleDB, used by the sink and by backfill.

Each event type maps to one table (``TABLES``). Rows go in with binary COPY. Facts (crossings,
frames, health...) are immutable: a replayed event is a no-op. Windows, the camera registry and
an alert's current state are keyed by their natural key and overwrite.

Why COPY straight into the table first: a replay or a rewritten window is rare, and staging every
batch through a temporary table roughly halves throughput. So every batch is copied directly
inside a savepoint; only when that hits a unique violation is it staged and merged, with
``ON CONFLICT DO NOTHING`` for facts and ``DO UPDATE`` for keyed rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import msgspec
import psycopg
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

from ingest import contract as c

_to_json = msgspec.json.Encoder().encode


class _PreEncodedJsonb(Dumper):
    """Binary jsonb from bytes msgspec already encoded: skips json.dumps on the hot path."""

    format = Format.BINARY
    oid = 3802  # jsonb

    def dump(self, obj: bytes) -> bytes:
        return b"\x01" + obj  # jsonb binary format: version byte, then the JSON text


@dataclass(frozen=True)
class TableSpec:
    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    row: Callable[[c.Event], tuple]
    # Natural key to upsert on; None means an immutable fact keyed by (event_id, ts).
    upsert_key: tuple[str, ...] | None = None
    # With an upsert key: overwrite only when the incoming row is at least as new by this column.
    newer_by: str | None = None


#: A class's code in frame_events.classes (the object_classes table of migration 0045 names them).
CLASS_CODES: dict[str, int] = {cls: code for code, cls in enumerate(c.OBJECT_CLASSES)}


def _frame(e: c.FrameEvent) -> tuple:
    # Objects as parallel arrays (see migration 0045): boxes flattened, 4 whole pixels per object.
    objects = e.objects
    boxes: list[int] = []
    for o in objects:
        x1, y1, x2, y2 = o.bbox
        boxes += (round(x1), round(y1), round(x2), round(y2))
    return (e.ts, e.frame_no, e.camera_id, e.event_id, e.width, e.height, len(objects),
            [o.track_id for o in objects], [CLASS_CODES[o.cls] for o in objects], boxes,
            [o.confidence for o in objects], [o.speed_kmh for o in objects])


def _crossing(e: c.LineCrossing) -> tuple:
    return (e.ts, e.camera_id, e.event_id, e.frame_no, e.line_id, e.direction, e.cls, e.track_id, e.speed_kmh, e.wrong_way)


def _zone(e: c.ZoneOccupancy) -> tuple:
    return (e.ts, e.camera_id, e.event_id, e.frame_no, e.zone_id, e.count, _to_json(e.by_class))


def _incident(e: c.TrackIncident) -> tuple:
    return (e.ts, e.camera_id, e.event_id, e.frame_no, e.kind, e.track_id, e.cls, e.zone_id, e.line_id, e.duration_s)


def _health(e: c.CameraHealth) -> tuple:
    return (e.ts, e.camera_id, e.event_id, e.condition, e.state, e.detail)


def _heartbeat(e: c.Heartbeat) -> tuple:
    return (e.ts, e.camera_id, e.event_id, e.fps, e.frames, e.uptime_s)


def _camera(e: c.CameraInfo) -> tuple:
    return (e.camera_id, e.name, e.kind, e.lat, e.lon, _to_json(e.lines), _to_json(e.zones), e.ts, e.district)


def _count_window(e: c.CountWindow) -> tuple:
    return (e.ts, e.camera_id, e.line_id, e.direction, e.cls, e.window_s, e.count, e.speed_mean_kmh, e.speed_p85_kmh, e.event_id)


def _occupancy_window(e: c.OccupancyWindow) -> tuple:
    return (e.ts, e.camera_id, e.zone_id, e.window_s, e.peak, e.mean, e.event_id)


def _handling(e: c.Alert) -> tuple:
    return (e.acknowledged_by, e.acknowledged_at, e.resolved_by, e.resolution, e.escalated_at)


def _alert_event(e: c.Alert) -> tuple:
    return (e.ts, e.camera_id, e.event_id, e.alert_id, e.group_key, e.rule, e.severity, e.state, e.opened_at, e.title,
            _to_json(e.details), *_handling(e))


def _alert_current(e: c.Alert) -> tuple:
    return (e.alert_id, e.camera_id, e.group_key, e.rule, e.severity, e.state, e.opened_at, e.ts, e.title,
            _to_json(e.details), *_handling(e))


def _alert_action(e: c.AlertAction) -> tuple:
    return (e.ts, e.camera_id, e.event_id, e.alert_id, e.action, e.actor, e.note, e.rule, e.silence_until, e.resolution)


def _snapshot(e: c.Snapshot) -> tuple:
    return (e.ts, e.camera_id, e.event_id, e.trigger_event_id, e.kind, e.subject, e.width, e.height, e.jpeg,
            _to_json(e.boxes), e.blurred)


_T, _TXT, _INT, _BIG, _REAL, _DBL, _BOOL, _JSON, _BYTES, _SMALL = (
    "timestamptz", "text", "int4", "int8", "float4", "float8", "bool", "jsonb", "bytea", "int2",
)

# What operators did with an alert, as each Alert step carries it (see contract.Alert).
_HANDLING = ("acknowledged_by", "acknowledged_at", "resolved_by", "resolution", "escalated_at")
_HANDLING_TYPES = (_TXT, _T, _TXT, _TXT, _T)

# One event type can feed several tables (an alert step goes to the history and to the current state).
TABLES: dict[type[c.Event], tuple[TableSpec, ...]] = {
    c.FrameEvent: (TableSpec("frame_events",
        ("ts", "frame_no", "camera_id", "event_id", "width", "height", "object_count",
         "track_ids", "classes", "boxes", "confidences", "speeds_kmh"),
        (_T, _BIG, _TXT, _TXT, _SMALL, _SMALL, _SMALL, "int4[]", "int2[]", "int2[]", "float4[]", "float4[]"), _frame),),
    c.LineCrossing: (TableSpec("crossings",
        ("ts", "camera_id", "event_id", "frame_no", "line_id", "direction", "cls", "track_id", "speed_kmh", "wrong_way"),
        (_T, _TXT, _TXT, _BIG, _TXT, _TXT, _TXT, _BIG, _REAL, _BOOL), _crossing),),
    c.ZoneOccupancy: (TableSpec("zone_occupancy",
        ("ts", "camera_id", "event_id", "frame_no", "zone_id", "count", "by_class"),
        (_T, _TXT, _TXT, _BIG, _TXT, _INT, _JSON), _zone),),
    c.TrackIncident: (TableSpec("incidents",
        ("ts", "camera_id", "event_id", "frame_no", "kind", "track_id", "cls", "zone_id", "line_id", "duration_s"),
        (_T, _TXT, _TXT, _BIG, _TXT, _BIG, _TXT, _TXT, _TXT, _REAL), _incident),),
    c.CameraHealth: (TableSpec("camera_health",
        ("ts", "camera_id", "event_id", "condition", "state", "detail"),
        (_T, _TXT, _TXT, _TXT, _TXT, _TXT), _health),),
    c.Heartbeat: (TableSpec("heartbeats",
        ("ts", "camera_id", "event_id", "fps", "frames", "uptime_s"),
        (_T, _TXT, _TXT, _REAL, _BIG, _DBL), _heartbeat),),
    c.CameraInfo: (TableSpec("cameras",
        ("camera_id", "name", "kind", "lat", "lon", "lines", "zones", "updated_at", "district"),
        (_TXT, _TXT, _TXT, _DBL, _DBL, _JSON, _JSON, _T, _TXT), _camera,
        upsert_key=("camera_id",), newer_by="updated_at"),),
    c.CountWindow: (TableSpec("count_windows",
        ("ts", "camera_id", "line_id", "direction", "cls", "window_s", "count", "speed_mean_kmh", "speed_p85_kmh", "event_id"),
        (_T, _TXT, _TXT, _TXT, _TXT, _INT, _INT, _REAL, _REAL, _TXT), _count_window,
        upsert_key=("camera_id", "line_id", "direction", "cls", "window_s", "ts")),),
    c.OccupancyWindow: (TableSpec("occupancy_windows",
        ("ts", "camera_id", "zone_id", "window_s", "peak", "mean", "event_id"),
        (_T, _TXT, _TXT, _INT, _INT, _REAL, _TXT), _occupancy_window,
        upsert_key=("camera_id", "zone_id", "window_s", "ts")),),
    c.Alert: (
        TableSpec("alert_events",
            ("ts", "camera_id", "event_id", "alert_id", "group_key", "rule", "severity", "state", "opened_at", "title", "details",
             *_HANDLING),
            (_T, _TXT, _TXT, _TXT, _TXT, _TXT, _TXT, _TXT, _T, _TXT, _JSON, *_HANDLING_TYPES), _alert_event),
        TableSpec("alerts",
            ("alert_id", "camera_id", "group_key", "rule", "severity", "state", "opened_at", "updated_at", "title", "details",
             *_HANDLING),
            (_TXT, _TXT, _TXT, _TXT, _TXT, _TXT, _T, _T, _TXT, _JSON, *_HANDLING_TYPES), _alert_current,
            upsert_key=("alert_id",), newer_by="updated_at"),
    ),
    c.AlertAction: (TableSpec("alert_actions",
        ("ts", "camera_id", "event_id", "alert_id", "action", "actor", "note", "rule", "silence_until", "resolution"),
        (_T, _TXT, _TXT, _TXT, _TXT, _TXT, _TXT, _TXT, _T, _TXT), _alert_action),),
    c.Snapshot: (TableSpec("snapshots",
        ("ts", "camera_id", "event_id", "trigger_event_id", "kind", "subject", "width", "height", "jpeg", "boxes", "blurred"),
        (_T, _TXT, _TXT, _TXT, _TXT, _TXT, _INT, _INT, _BYTES, _JSON, _INT), _snapshot),),
}
assert set(TABLES) == set(c.EVENT_TYPES), "every contract event needs a table"


class EventWriter:
    """Writes contract events inside the caller's transaction; the caller commits."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        conn.adapters.register_dumper(None, _PreEncodedJsonb)

    def write(self, events: Iterable[c.Event]) -> int:
        """Write ``events``; returns the rows that reached their tables (replays not counted)."""
        by_type: dict[type[c.Event], list[c.Event]] = defaultdict(list)
        for event in events:
            by_type[type(event)].append(event)
        written = 0
        for event_type, batch in by_type.items():
            for spec in TABLES[event_type]:
                row = spec.row
                written += self._write_table(spec, [row(event) for event in batch])
        return written

    def _write_table(self, spec: TableSpec, rows: list[tuple]) -> int:
        if spec.upsert_key is not None:
            rows = _last_per_key(spec, rows)  # one statement may not update a row twice
        # An explicit savepoint, not conn.transaction(): on an idle connection that would open and
        # commit a transaction of its own, and the rows must commit with the caller's transaction.
        self._conn.execute("SAVEPOINT ioc_direct_copy")
        try:
            self._copy(spec, spec.table, rows)
        except psycopg.errors.UniqueViolation:
            self._conn.execute("ROLLBACK TO SAVEPOINT ioc_direct_copy")  # a replay undoes only this COPY
        else:
            self._conn.execute("RELEASE SAVEPOINT ioc_direct_copy")
            return len(rows)
        staging = self._stage(spec)
        self._copy(spec, staging, rows)
        inserted = self._conn.execute(_merge_statement(spec, staging)).rowcount
        self._conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(staging)))
        return inserted

    def _copy(self, spec: TableSpec, table: str, rows: Sequence[tuple]) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        )
        with self._conn.cursor().copy(statement) as copy:
            copy.set_types(spec.types)
            for row in rows:
                copy.write_row(row)

    def _stage(self, spec: TableSpec) -> str:
        # Not cached: a rolled-back transaction takes a temp table created in it along.
        staging = f"stage_{spec.table}"
        self._conn.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)").format(
                sql.Identifier(staging), sql.Identifier(spec.table)
            )
        )
        return staging


def _last_per_key(spec: TableSpec, rows: list[tuple]) -> list[tuple]:
    positions = [spec.columns.index(column) for column in spec.upsert_key or ()]
    latest: dict[tuple, tuple] = {}
    for row in rows:
        latest[tuple(row[i] for i in positions)] = row
    return list(latest.values())


def _merge_statement(spec: TableSpec, staging: str) -> sql.Composed:
    columns = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
    insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ").format(
        sql.Identifier(spec.table), columns, columns, sql.Identifier(staging)
    )
    if spec.upsert_key is None:
        return insert + sql.SQL("ON CONFLICT DO NOTHING")
    updated = [column for column in spec.columns if column not in spec.upsert_key]
    assignments = [sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(col), sql.Identifier(col)) for col in updated]
    if spec.newer_by is None:  # window tables: record when a window was last rewritten
        assignments.append(sql.SQL("updated_at = now()"))
    statement = insert + sql.SQL("ON CONFLICT ({}) DO UPDATE SET {}").format(
        sql.SQL(", ").join(map(sql.Identifier, spec.upsert_key)), sql.SQL(", ").join(assignments)
    )
    if spec.newer_by:
        statement += sql.SQL(" WHERE {}.{} <= EXCLUDED.{}").format(
            sql.Identifier(spec.table), sql.Identifier(spec.newer_by), sql.Identifier(spec.newer_by)
        )
    return statement
