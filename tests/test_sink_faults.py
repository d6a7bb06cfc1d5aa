"""The sink under faults, at a realistic rate (thousands of events, several cameras, all types):
a flood of malformed records, the sink killed mid-stream, the database stopped and started."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer

from deploy.local.stack import StackSettings, postgres_down, postgres_up, stack_down
from ingest import contract as c
from ingest.db import DbSettings, connect, migrate
from ingest.flood import FAULTS, flood, good_events
from ingest.settings import SinkSettings
from ingest.sink import Sink, dead_letter_headers
from ingest.writer import EventWriter
from tests.busutil import read_topic

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parent.parent
CAMERAS = [f"cam-{i:03d}" for i in range(24)]


def _send(bus, records) -> None:
    producer = KafkaProducer(bootstrap_servers=bus.bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024,
                             max_request_size=4 * 1024 * 1024)
    try:
        for record in records:
            producer.send(record.topic, key=record.key, value=record.value)
        producer.flush(timeout=60)
    finally:
        producer.close()


def _register(db: DbSettings, cameras: list[str], now: datetime) -> None:
    with connect(db) as conn:
        EventWriter(conn).write([c.CameraInfo(camera_id=cam, ts=now, name=cam, kind="traffic", origin="registry")
                                 for cam in cameras])
        conn.commit()


def _stored(db: DbSettings) -> dict[str, tuple[int, int]]:
    """Rows and distinct event ids per raw table."""
    with connect(db) as conn:
        return {table: conn.execute(f"SELECT count(*), count(DISTINCT event_id) FROM {table}").fetchone()
                for table in ("crossings", "zone_occupancy", "frame_events")}


def _expected(events) -> dict[str, tuple[int, int]]:
    per_type = Counter(type(e) for e in events)
    return {table: (per_type[kind], per_type[kind])
            for table, kind in (("crossings", c.LineCrossing), ("zone_occupancy", c.ZoneOccupancy), ("frame_events", c.FrameEvent))}


def test_a_one_percent_flood_of_malformed_records_is_dead_lettered_with_reasons_and_the_rest_lands(bus, db):
    now = datetime.now(UTC)
    _register(db, CAMERAS, now)
    good = good_events(cameras=CAMERAS, n=20_000, now=now)
    records = flood(good, topics=bus.topics, now=now, share=0.01)
    bad = [r for r in records if r.fault]
    _send(bus, records)

    sink = Sink(SinkSettings(bus=bus, db=db, group_id=f"sink-{bus.namespace}", metrics_port=0, registered_cameras_only=True))
    stats = sink.run(count=len(records), timeout=150)

    # Every good event is stored once; every bad record is dead-lettered, nothing else is.
    assert stats.consumed == len(records) and stats.dead_lettered == len(bad)
    assert _stored(db) == _expected(good)
    dead = read_topic(bus, bus.topics.dead_letter, expect=len(bad), timeout=60)
    assert len(dead) == len(bad)
    by_fault = Counter(r.fault for r in bad)
    # Each fault is present (about 1 in 20 bad records is a megabyte-sized one) ...
    assert set(by_fault) == set(FAULTS) and by_fault["huge"] >= 10 and min(by_fault.values()) >= 10
    # ... and each dead-lettered record says which it is, with its bytes kept for a replay.
    reasons = Counter()
    for record in dead:
        reason = dead_letter_headers(record.headers)["ioc-error"]
        (fault,) = [f for f, fragment in FAULTS.items() if fragment in reason]
        reasons[fault] += 1
    assert reasons == by_fault
    assert Counter(r.value for r in dead) == Counter(r.value for r in bad)
    # The good records flow on at the sink's pace: measured loosely here, the figure is in
    # `python -m bench sink_flood`.
    assert len(good) / stats.busy_s > 1000, f"{len(good) / stats.busy_s:.0f} good events/s"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_sink(bus, db: DbSettings, log: Path) -> subprocess.Popen:
    """`ioc ingest run` in its own process, as an operator runs it."""
    argv = [sys.executable, "-c", "from ioc.cli import main; main()", "ingest", "run", "--bootstrap", bus.bootstrap,
            "--namespace", bus.namespace, "--dsn", db.conninfo, "--group", f"sink-{bus.namespace}",
            "--metrics-port", "0", "--timeout", "200"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "IOC_SINK_RETRY_MAX_S": "1", "IOC_SINK_MAX_BATCH": "2000"}
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def _wait_for(condition, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _rows(db: DbSettings) -> int:
    try:
        return sum(n for n, _ in _stored(db).values())
    except Exception:  # the database is down at times in this test
        return -1


def _send_at_rate(bus, records, *, per_s: int = 4000) -> threading.Thread:
    """The cameras' pace: slices of records every half second, in a thread of their own."""
    def run() -> None:
        step = per_s // 2
        for i in range(0, len(records), step):
            _send(bus, records[i:i + step])
            time.sleep(0.5)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _log_says(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


def test_sink_killed_mid_stream_and_database_restarted_store_every_event_exactly_once(bus, tmp_path):
    # A PostgreSQL of this test's own, so stopping it disturbs no one else.
    state = Path(tempfile.mkdtemp(prefix="ioc-sink-faults-"))
    state.chmod(0o755)  # the postgres OS user must reach its data directory
    pg = StackSettings(state_dir=state, broker_port=_free_port(), pg_port=_free_port())
    sinks: list[subprocess.Popen] = []
    log = tmp_path / "sink.log"
    try:
        db = DbSettings(dsn=postgres_up(pg), connect_timeout_s=1.0)
        migrate(db)
        now = datetime.now(UTC)
        events = good_events(cameras=CAMERAS, n=24_000, now=now, seed=5)
        records = flood(events, topics=bus.topics, now=now, share=0.0)
        first, second, third = records[:12_000], records[12_000:18_000], records[18_000:]
        # 1. SIGKILL the sink while the cameras send (about 4,000 events/s): no goodbye, a batch
        #    in flight, offsets not committed.
        sinks.append(_start_sink(bus, db, log))
        _wait_for(lambda: _log_says(log, "Joined group"), "the sink to join its group")
        sending = _send_at_rate(bus, first, per_s=2000)
        _wait_for(lambda: _rows(db) >= 3000, "the sink to write the first events")
        sinks[-1].send_signal(signal.SIGKILL)
        sinks[-1].wait(timeout=10)
        killed_at = _rows(db)
        assert killed_at < len(first)  # killed mid-stream, with records still to write
        sinks.append(_start_sink(bus, db, log))
        sending.join(timeout=60)
        _wait_for(lambda: _rows(db) >= len(first), "the restarted sink to catch up")
        # 2. Stop the database while the stream goes on; the sink holds its batch and retries.
        postgres_down(pg)
        sending = _send_at_rate(bus, second)
        _wait_for(lambda: _log_says(log, "database unavailable"), "the sink to meet the outage")
        sending.join(timeout=60)
        postgres_up(pg)
        _send_at_rate(bus, third).join(timeout=60)
        _wait_for(lambda: _rows(db) >= len(events), "every event", timeout=120)
        time.sleep(2)  # anything beyond would be a duplicate: give it the time to show
        assert _stored(db) == _expected(events)
    finally:
        for process in sinks:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        stack_down(pg)
        shutil.rmtree(state, ignore_errors=True)
