"""The sink on the real broker and the real TimescaleDB."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import msgspec

from deploy.local.stack import StackSettings, postgres_down, postgres_up, stack_down
from ingest import contract as c
from ingest.bus import make_async_consumer
from ingest.db import DbSettings, connect, migrate
from ingest.sink import Sink, SinkSettings, dead_letter_headers
from ingest.writer import TABLES
from tests.busutil import produce_events, produce_raw, read_topic
from tests.factories import BASE_TIME, events_of_every_type

N = 30


def _table_counts(db) -> dict[str, int]:
    with connect(db) as conn:
        return {
            spec.table: conn.execute(f"SELECT count(*) FROM {spec.table}").fetchone()[0]
            for specs in TABLES.values()
            for spec in specs
        }


def _sink(bus, db, **overrides) -> Sink:
    return Sink(SinkSettings(bus=bus, db=db, group_id=f"sink-{bus.namespace}", **{"metrics_port": 0, **overrides}))


def test_n_events_of_each_type_become_n_rows_and_a_replay_adds_none(bus, db):
    events = [e for batch in events_of_every_type(N).values() for e in batch]
    produce_events(bus, events)
    stats = _sink(bus, db).run(count=len(events), timeout=60)
    assert stats.consumed == len(events) and stats.dead_lettered == 0
    assert set(_table_counts(db).values()) == {N}

    produce_events(bus, events)  # the same events again, as after an upstream retry
    stats = _sink(bus, db).run(count=len(events), timeout=60)
    assert stats.consumed == len(events) and stats.dead_lettered == 0
    assert set(_table_counts(db).values()) == {N}  # windows and registry rows were overwritten, not added


def test_bad_records_are_dead_lettered_with_reasons_and_good_ones_land(bus, db):
    good = events_of_every_type(10)[c.LineCrossing]
    wrong_version = msgspec.json.encode({**msgspec.to_builtins(good[0]), "v": 2, "event_id": "wrong-version"})
    oversized = b'{"type":"crossing","pad":"' + b"x" * (c.MAX_EVENT_BYTES + 10) + b'"}'
    naive_time = c.encode(good[1]).replace(b'Z"', b'"')
    bad = [b"{not json", wrong_version, oversized, b'{"type":"crossing","v":1}', naive_time]
    interleaved = []
    for i, event in enumerate(good):
        interleaved.append(c.encode(event))
        if i < len(bad):
            interleaved.append(bad[i])
    produce_raw(bus, bus.topics.crossings, interleaved)

    stats = _sink(bus, db).run(count=len(interleaved), timeout=60)
    assert stats.dead_lettered == len(bad)
    assert _table_counts(db)["crossings"] == len(good)  # every valid event around the bad ones landed
    dead = read_topic(bus, bus.topics.dead_letter, expect=len(bad))
    assert len(dead) == len(bad)
    reasons = [dead_letter_headers(r.headers)["ioc-error"] for r in dead]
    assert any(r.startswith("not JSON") for r in reasons)
    assert any("unsupported schema version 2" in r for r in reasons)
    assert any("larger than the limit" in r for r in reasons)
    assert any("missing required field" in r for r in reasons)
    assert any("time zone" in r for r in reasons)
    for record in dead:
        headers = dead_letter_headers(record.headers)
        assert headers["ioc-source-topic"] == bus.topics.crossings
        assert int(headers["ioc-source-offset"]) >= 0
    assert {r.value for r in dead} == set(bad)  # the original bytes are kept for replay


def test_a_row_the_database_rejects_is_dead_lettered_alone(bus, db):
    crossings = events_of_every_type(20)[c.LineCrossing]
    poison = msgspec.structs.replace(crossings[7], line_id="nul\x00byte")  # text cannot hold NUL
    produce_events(bus, crossings[:7] + [poison] + crossings[8:])
    stats = _sink(bus, db).run(count=20, timeout=60)
    assert stats.dead_lettered == 1 and stats.written == 19
    dead = read_topic(bus, bus.topics.dead_letter, expect=1)
    assert "database rejected the row" in dead_letter_headers(dead[0].headers)["ioc-error"]


def test_a_group_restarted_after_a_consumer_closed_mid_join_still_consumes(bus, db):
    group = f"sink-{bus.namespace}"

    async def join_and_leave_early() -> None:
        stray = make_async_consumer(bus, group_id=group)
        await stray.start()
        stray.subscribe(list(bus.topics.event_topics()))
        await asyncio.sleep(0.3)  # the join has started...
        await stray.stop()  # ...and it leaves before the first assignment, which wedges the group on Tansu

    asyncio.run(join_and_leave_early())
    events = events_of_every_type(5)[c.Heartbeat]
    produce_events(bus, events)
    stats = _sink(bus, db).run(count=5, timeout=90)
    assert stats.consumed == 5
    assert _table_counts(db)["heartbeats"] == 5


def test_a_second_sink_joining_mid_stream_takes_partitions_without_losing_or_rereading_events(bus, db):
    # Small batches, events arriving for several seconds: the second sink's join revokes partitions
    # from the first while it has batches in flight.
    chunks = [[c.LineCrossing(camera_id=f"cam-{k % 12:02d}", ts=BASE_TIME + timedelta(seconds=chunk * 500 + k), frame_no=k,
                              line_id="stop-line", direction="in", cls="car", track_id=chunk * 500 + k, speed_kmh=40.0)
               for k in range(500)] for chunk in range(24)]
    first, second = _sink(bus, db, max_batch=400), _sink(bus, db, max_batch=400)
    runners = [threading.Thread(target=sink.run, kwargs={"idle_timeout": 8, "timeout": 120}) for sink in (first, second)]
    runners[0].start()
    for number, chunk in enumerate(chunks):
        produce_events(bus, chunk)
        if number == 4:
            runners[1].start()  # joins while the first sink is busy
        time.sleep(0.4)
    for runner in runners:
        runner.join()
    assert first.stats.batches > 0 and second.stats.batches > 0, "both members wrote batches"
    with connect(db) as conn:
        stored, distinct = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM crossings").fetchone()
    assert stored == distinct == 24 * 500
    assert first.stats.dead_lettered == second.stats.dead_lettered == 0
    # Every offset was committed after its rows: a member joining the group now finds nothing left to read.
    assert _sink(bus, db).run(idle_timeout=4, timeout=60).consumed == 0


def test_metrics_endpoint_exposes_the_counters(bus, db):
    produce_events(bus, events_of_every_type(4)[c.Heartbeat])
    sink = _sink(bus, db, metrics_port=19464)
    done = threading.Event()
    scraped: list[str] = []

    def scrape_when_done() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not done.is_set():
            if sink.stats.consumed >= 4:
                scraped.append(urllib.request.urlopen("http://127.0.0.1:19464/metrics", timeout=5).read().decode())
                sink.stop()
                return
            time.sleep(0.1)

    scraper = threading.Thread(target=scrape_when_done)
    scraper.start()
    sink.run(timeout=60)
    done.set()
    scraper.join()
    assert scraped, "the sink never consumed its 4 records"
    text = scraped[0]
    assert f'ioc_sink_consumed_total{{topic="{bus.topics.health}"}} 4.0' in text
    assert "ioc_sink_written_rows_total 4.0" in text
    assert "ioc_sink_lag" in text


def test_database_stopped_mid_stream_and_started_again_loses_and_duplicates_nothing(bus, tmp_path_factory):
    # A PostgreSQL of this test's own, so stopping it does not disturb anyone else.
    state = Path(tempfile.mkdtemp(prefix="ioc-sink-outage-"))
    state.chmod(0o755)  # the postgres OS user must reach its data directory
    pg = StackSettings(state_dir=state, broker_port=_free_port(), pg_port=_free_port())
    try:
        db = DbSettings(dsn=postgres_up(pg), connect_timeout_s=1.0)
        migrate(db)
        crossings = events_of_every_type(400)[c.LineCrossing]
        sink = _sink(bus, db, retry_initial_s=0.2, retry_max_s=1.0, max_batch=50)
        runner = threading.Thread(target=sink.run, kwargs={"count": 400, "timeout": 120})
        runner.start()
        produce_events(bus, crossings[:200])
        _wait_for(lambda: sink.stats.consumed >= 200, "the first half to be written")

        postgres_down(pg)
        produce_events(bus, crossings[200:])
        _wait_for(lambda: sink.stats.db_retries >= 2, "the sink to notice the outage and retry")
        assert sink.stats.consumed < 400  # nothing was committed past the outage
        postgres_up(pg)

        runner.join(timeout=120)
        assert not runner.is_alive()
        with connect(db) as conn:
            rows, distinct = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM crossings").fetchone()
        assert rows == distinct == 400
        assert sink.stats.dead_lettered == 0
    finally:
        stack_down(pg)
        shutil.rmtree(state, ignore_errors=True)


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_missing_table_stops_the_sink_with_a_clear_message_instead_of_dead_lettering(bus, stack):
    import psycopg
    import pytest

    from ingest.db import DatabaseError

    name = f"ioc_unmigrated_{bus.namespace}"
    with psycopg.connect(stack.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        produce_events(bus, events_of_every_type(3)[c.LineCrossing])
        unmigrated = DbSettings(dsn=psycopg.conninfo.make_conninfo(stack.dsn, dbname=name))
        sink = _sink(bus, unmigrated)
        with pytest.raises(DatabaseError, match="ioc db migrate"):
            sink.run(count=3, timeout=60)
        assert sink.stats.dead_lettered == 0 and sink.stats.db_retries == 0
    finally:
        with psycopg.connect(stack.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
