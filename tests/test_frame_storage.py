"""Frame events as stored: a sample of the stream (every change of tracks, else one a second) in
compact arrays, and rows of the JSON layout carried forward by the migration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest import contract as c
from ingest.db import DbSettings, available_migrations, connect, migrate
from ingest.framesample import FrameSampler
from ingest.writer import EventWriter

T0 = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)


def _frame(at_s: float, tracks: tuple[int, ...], camera: str = "cam-a") -> c.FrameEvent:
    objects = tuple(c.TrackedObject(track_id=t, cls="car", confidence=0.8, bbox=(1.0, 2.0, 30.0, 40.0)) for t in tracks)
    return c.FrameEvent(camera_id=camera, ts=T0 + timedelta(seconds=at_s), frame_no=int(at_s * 8), width=960, height=540,
                        objects=objects)


# (frames as (seconds, track ids), interval, which are kept)
SAMPLES = [
    # the same tracks for 2.5 s at 8 frames a second: the first, then one a second
    ([(i / 8, (1, 2)) for i in range(21)], 1.0, [0, 8, 16]),
    # a track appears at 0.25 s and ends at 0.5 s: both changes kept, then the first frame of the next second
    ([(0, (1,)), (0.125, (1,)), (0.25, (1, 2)), (0.375, (1, 2)), (0.5, (1,)), (1.375, (1,)), (1.5, (1,))], 1.0, [0, 2, 4, 5]),
    # frames off the second: the first of each whole second, not one a second after the last kept
    ([(0.7 + i / 8, (1,)) for i in range(20)], 1.0, [0, 3, 11, 19]),
    # a two-second sample: the first frame of each even second
    ([(i / 2, ()) for i in range(10)], 2.0, [0, 4, 8]),
    # an empty view stays empty: one a second
    ([(i / 4, ()) for i in range(9)], 1.0, [0, 4, 8]),
    # 0 keeps every frame
    ([(0, (1,)), (0.125, (1,)), (0.25, (1,))], 0.0, [0, 1, 2]),
    # the clock goes backwards (agent restarted): kept
    ([(5, (1,)), (5.125, (1,)), (1, (1,))], 1.0, [0, 2]),
]


@pytest.mark.parametrize(("frames", "every_s", "kept"), SAMPLES)
def test_frame_sample_keeps_changes_and_one_a_second(frames, every_s, kept):
    sampler = FrameSampler(every_s)
    events = [_frame(at, tracks) for at, tracks in frames]
    assert [i for i, e in enumerate(events) if sampler.keep(e)] == kept


def test_frame_sample_twice_is_the_sample_once():
    """Agent and sink may both sample at the same interval: the second sampler keeps everything the first sent."""
    import random

    rng = random.Random(7)
    tracks: set[int] = set()
    frames = []
    for i in range(2000):
        if rng.random() < 0.05:
            tracks.add(i)
        if tracks and rng.random() < 0.05:
            tracks.discard(min(tracks))
        frames.append(_frame(i / 8.3, tuple(sorted(tracks))))
    first = FrameSampler(1.0)
    sent = [f for f in frames if first.keep(f)]
    second = FrameSampler(1.0)
    assert len(sent) < len(frames) / 2 and all(second.keep(f) for f in sent)


def test_sample_keeps_every_change_of_objects_in_view():
    """The whole-view occupancy processors compute from frames: the same step function from the sample."""
    frames = [_frame(i / 8, tuple(range(i // 7 % 4))) for i in range(400)]
    sampler = FrameSampler(1.0)
    kept = [f for f in frames if sampler.keep(f)]

    def steps(fs):
        out, last = [], None
        for f in fs:
            if len(f.objects) != last:
                out.append((f.ts, len(f.objects)))
                last = len(f.objects)
        return out

    assert steps(kept) == steps(frames)


def test_stored_frame_round_trips_its_objects(db):
    objects = (
        c.TrackedObject(track_id=7, cls="person", confidence=0.61, bbox=(10.4, 20.6, 30.0, 90.0)),
        c.TrackedObject(track_id=9, cls="bus_truck", confidence=0.97, bbox=(300.0, 200.0, 700.0, 530.0), speed_kmh=41.5),
    )
    frame = c.FrameEvent(camera_id="cam-a", ts=T0, frame_no=3, width=960, height=540, objects=objects)
    empty = c.FrameEvent(camera_id="cam-a", ts=T0 + timedelta(seconds=1), frame_no=11, width=960, height=540)
    with connect(db) as conn:
        writer = EventWriter(conn)
        for _ in range(2):  # a replay is a no-op
            with conn.transaction():
                writer.write([frame, empty])
        rows = conn.execute(
            "SELECT frame_no, object_count, track_ids, ARRAY(SELECT k.cls FROM unnest(classes) WITH ORDINALITY AS u(code, i) "
            "JOIN object_classes AS k USING (code) ORDER BY i), boxes, confidences, speeds_kmh FROM frame_events ORDER BY ts"
        ).fetchall()
    assert rows == [
        (3, 2, [7, 9], ["person", "bus_truck"], [10, 21, 30, 90, 300, 200, 700, 530], [0.61, 0.97], [None, 41.5]),
        (11, 0, [], [], [], [], []),
    ]


def test_json_frames_migrate_forward_to_arrays(stack):
    """A database with frames in the JSON layout: after migrating, the same frames in arrays."""
    admin = DbSettings(dsn=stack.dsn)
    name = f"ioc_test_{uuid.uuid4().hex[:10]}"
    with connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    settings = admin.for_database(name)
    try:
        with psycopg.connect(settings.conninfo, autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                         "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            for migration in available_migrations():
                if migration.version >= 45:
                    break
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                                 (migration.version, migration.name, migration.checksum))
            conn.execute(
                "INSERT INTO frame_events (ts, camera_id, event_id, frame_no, width, height, object_count, objects) VALUES "
                "(%s, 'cam-old', 'e1', 5, 1280, 720, 2, %s::jsonb), (%s, 'cam-old', 'e2', 6, 1280, 720, 0, '[]')",
                (T0, '[{"track_id": 4, "cls": "motorbike", "confidence": 0.8, "bbox": [1.2, 2.5, 30.0, 40.7], "speed_kmh": 22.0},'
                     ' {"track_id": 5, "cls": "car", "confidence": 0.9, "bbox": [100.0, 50.0, 200.0, 150.0], "speed_kmh": null}]',
                 T0 + timedelta(seconds=1)),
            )
        applied = migrate(settings)
        assert 45 in {m.version for m in applied}
        with connect(settings) as conn:
            rows = conn.execute("SELECT event_id, object_count, track_ids, classes, boxes, confidences, speeds_kmh "
                                "FROM frame_events ORDER BY ts").fetchall()
            hypertable = conn.execute("SELECT count(*) FROM timescaledb_information.hypertables "
                                      "WHERE hypertable_name = 'frame_events'").fetchone()[0]
        assert rows == [
            ("e1", 2, [4, 5], [2, 3], [1, 2, 30, 41, 100, 50, 200, 150], [0.8, 0.9], [22.0, None]),
            ("e2", 0, [], [], [], [], []),
        ]
        assert hypertable == 1
    finally:
        with connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_frame_compression_is_a_no_op_with_a_notice_on_the_apache_build(db):
    """The official image's compression of frames (0046) changes nothing on the Apache build, says
    why, and runs again safely. Its licensed branch needs the official image, not this machine."""
    from pathlib import Path

    from ingest.migrations import __file__ as migrations_init

    sql = (Path(migrations_init).parent / "0046_timescale_production_frames.sql").read_text()
    notices: list[str] = []
    with connect(db, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        for _ in range(2):
            conn.execute(sql)
        compressed = conn.execute("SELECT compression_enabled FROM timescaledb_information.hypertables "
                                  "WHERE hypertable_name = 'frame_events'").fetchone()[0]
    assert compressed is False
    assert len(notices) == 2 and all("frame_events stays uncompressed" in n for n in notices)
