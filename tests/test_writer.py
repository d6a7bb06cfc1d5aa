"""The write path against the real TimescaleDB: rows per type, idempotent replays, upserts."""

from __future__ import annotations

import msgspec

from ingest import contract as c
from ingest.db import connect
from ingest.writer import TABLES, EventWriter
from tests.factories import events_of_every_type


def _count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_every_event_type_lands_once_even_when_replayed(db):
    events = events_of_every_type(25)
    with connect(db) as conn:
        writer = EventWriter(conn)
        for _ in range(2):  # the second pass is a replay of the same events
            with conn.transaction():
                writer.write([e for batch in events.values() for e in batch])
        for event_type, specs in TABLES.items():
            for spec in specs:
                assert _count(conn, spec.table) == 25, (event_type.__name__, spec.table)


def test_replay_mixed_with_new_events_keeps_the_new_ones(db):
    crossings = events_of_every_type(40)[c.LineCrossing]
    with connect(db) as conn:
        writer = EventWriter(conn)
        with conn.transaction():
            assert writer.write(crossings[:30]) == 30
        with conn.transaction():  # 20 replayed + 10 new: the direct COPY fails, staging takes over
            assert writer.write(crossings[10:]) == 10
        assert _count(conn, "crossings") == 40


def test_a_window_emitted_twice_overwrites(db):
    window = events_of_every_type(1)[c.CountWindow][0]
    corrected = msgspec.structs.replace(window, count=window.count + 5, event_id=c.new_event_id())
    with connect(db) as conn:
        writer = EventWriter(conn)
        with conn.transaction():
            writer.write([window])
        with conn.transaction():
            writer.write([corrected, corrected])  # a duplicate in one batch must not break the upsert
        rows = conn.execute("SELECT count FROM count_windows").fetchall()
        assert rows == [(window.count + 5,)]


def test_alert_current_state_keeps_the_newest_step(db):
    opened = events_of_every_type(1)[c.Alert][0]
    resolved = msgspec.structs.replace(opened, state="resolved", ts=opened.ts.replace(minute=opened.ts.minute + 5), event_id=c.new_event_id())
    with connect(db) as conn:
        writer = EventWriter(conn)
        with conn.transaction():
            writer.write([resolved])
        with conn.transaction():
            writer.write([opened])  # arrives late: must not reopen the alert
        assert conn.execute("SELECT state FROM alerts").fetchall() == [("resolved",)]
        assert _count(conn, "alert_events") == 2


def test_frame_objects_are_stored_as_parallel_arrays(db):
    frame = events_of_every_type(1)[c.FrameEvent][0]
    with connect(db) as conn:
        with conn.transaction():
            EventWriter(conn).write([frame])
        row = conn.execute(
            "SELECT object_count, track_ids, k.cls, boxes, confidences, speeds_kmh FROM frame_events "
            "JOIN object_classes AS k ON k.code = classes[1]"
        ).fetchone()
    assert row == (1, [0], "motorbike", [10, 20, 40, 60], [0.9], [31.5])


def test_rows_commit_with_the_callers_transaction_and_not_before(db):
    events = [e for batch in events_of_every_type(3).values() for e in batch]
    with connect(db) as conn:
        EventWriter(conn).write(events)  # no transaction block: the implicit transaction holds them
        conn.rollback()
        assert all(_count(conn, spec.table) == 0 for specs in TABLES.values() for spec in specs)
