"""Windows lost with a broker restart are found and rebuilt by `ioc db maintain`.

The sequence a new user runs into with the local stack: agents, processors and the sink run on a
namespace; they stop with a minute still open in the processors; the local Tansu broker (memory
storage) restarts, and the open minute's events go with it. Every crossing of that minute is in
TimescaleDB, but its windows were never written, and nothing that runs afterwards writes them:
the processors start again on an empty broker. Here on a broker of the test's own (free port), the
real processors in their own process, the real sink, the shared TimescaleDB.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from deploy.local.stack import broker_down, broker_up
from ingest.bus import BusSettings, ensure_topics
from ingest.contract import LineCrossing
from ingest.db import DbSettings, connect
from ingest.settings import SinkSettings
from ingest.sink import Sink
from ingest.warehouse.cli import app as db_app
from ingest.warehouse.maintenance import maintain
from ingest.warehouse.reconcile import rebuild_count_window, rebuild_occupancy_window
from ingest.warehouse.settings import WarehouseSettings
from ingest.writer import EventWriter
from processors.harness import produce, start_worker
from processors.workload import closing_events, ground_truth, make_workload

pytestmark = pytest.mark.timeout(240)




class _RunningSink:
    def __init__(self, bus: BusSettings, db: DbSettings) -> None:
        self.sink = Sink(SinkSettings(bus=bus, db=db, group_id=f"sink-{bus.namespace}", metrics_port=0))
        self.thread = threading.Thread(target=self.sink.run, kwargs={"timeout": 200}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.sink.stop()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()


def _rows(db: DbSettings, query: str, *params) -> list[tuple]:
    with connect(db) as conn:
        return conn.execute(query, params).fetchall()


def _wait_for(condition, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _stored_windows(db: DbSettings) -> dict[tuple, dict]:
    counts = {("count", cam, line, direction, cls, ts): {"count": n, "speed_mean_kmh": mean, "speed_p85_kmh": p85}
              for cam, line, direction, cls, ts, n, mean, p85 in _rows(
                  db, "SELECT camera_id, line_id, direction, cls, ts, count, speed_mean_kmh, speed_p85_kmh FROM count_windows")}
    zones = {("zone", cam, zone, ts): {"peak": peak, "mean": mean}
             for cam, zone, ts, peak, mean in _rows(
                 db, "SELECT camera_id, zone_id, ts, peak, mean FROM occupancy_windows WHERE zone_id <> '_frame'")}
    return {**counts, **zones}


def _closing(workload):
    """Events that close every window of ``workload`` in the processors, a minute ago: too recent
    for maintenance to call their own windows closed."""
    return closing_events(workload, after=datetime.now(UTC) - timedelta(minutes=1) - workload.end)


def _real(values: list) -> list:
    """The bits a ``real`` column keeps of each value (psycopg reads a real back as its shortest decimal)."""
    return [None if v is None else np.float32(v).tobytes() for v in values]


def _as_stored(facts: dict) -> dict:
    """Numbers as a ``real`` column holds them."""
    return {k: None if v is None else (v if k in ("count", "peak") else float(np.float32(v))) for k, v in facts.items()}


def test_windows_of_the_minute_open_when_the_broker_restarted_are_rebuilt_by_maintenance(own_broker, db, tmp_path):
    # Recent history (40 minutes ago): closed for maintenance, well inside every retention.
    start = (datetime.now(UTC) - timedelta(minutes=40)).replace(second=0, microsecond=0)
    first = make_workload(cameras=6, minutes=4, crossings_per_s=20, late_within_grace=30, late_beyond_grace=0,
                          seed=41, start=start)
    # The stream stops at 3:30: minutes 0-2 are closed, minute 3 is open in the processors.
    stop_at = start + timedelta(minutes=3, seconds=30)
    session_one = [e for e in first.events if e.ts < stop_at]
    open_minute = start + timedelta(minutes=3)
    bus = BusSettings(bootstrap=own_broker.bootstrap, namespace=f"t{uuid.uuid4().hex[:10]}")
    ensure_topics(bus)
    state_dir = tmp_path / "processors"

    # 1. The stages run, the agents' events flow, the closed minutes' windows are written.
    worker = start_worker(bus, log_path=tmp_path / "first.log", state_dir=state_dir)
    sink = _RunningSink(bus, db)
    produced = produce(bus, session_one)
    truth_closed, _ = ground_truth(produced, before=open_minute)
    raw_sent = len(session_one)
    _wait_for(lambda: _rows(db, "SELECT (SELECT count(*) FROM crossings) + (SELECT count(*) FROM zone_occupancy)")[0][0]
              == raw_sent, "every crossing and zone sample in TimescaleDB")
    _wait_for(lambda: set(truth_closed) <= set(_stored_windows(db)), "the closed minutes' windows")
    # 2. Everything stops, minute 3 still open; 3. the broker restarts, empty.
    worker.stop()
    sink.stop()
    broker_down(own_broker)
    broker_up(own_broker)
    ensure_topics(bus)
    # 4. The stages start again and the cameras go on (from minute 6 on).
    later = make_workload(cameras=6, minutes=2, crossings_per_s=20, late_within_grace=0, late_beyond_grace=0,
                          seed=42, start=start + timedelta(minutes=6))
    worker = start_worker(bus, log_path=tmp_path / "second.log", state_dir=state_dir)
    sink = _RunningSink(bus, db)
    try:
        produced_later = produce(bus, later.events + _closing(later))
        truth_later, _ = ground_truth(produced_later, before=later.end)
        _wait_for(lambda: set(truth_later) <= set(_stored_windows(db)), "the later minutes' windows")
    finally:
        worker.stop()
        sink.stop()

    # Every crossing of the open minute is stored, and not one of its windows.
    truth_all, late = ground_truth(produced, before=stop_at)
    lost = {key: facts for key, facts in truth_all.items() if key[-1] == open_minute}
    assert late == 0 and len([k for k in lost if k[0] == "count"]) >= 40 and len([k for k in lost if k[0] == "zone"]) == 6
    (in_open_minute,) = _rows(db, "SELECT count(*) FROM crossings WHERE ts >= %s AND ts < %s",
                              open_minute, open_minute + timedelta(minutes=1))[0]
    assert in_open_minute == sum(f["count"] for k, f in lost.items() if k[0] == "count") > 500
    assert not set(lost) & set(_stored_windows(db))

    # `ioc db maintain` finds them, says how many it rebuilt, and the rollups count the minute.
    lost_counts = sum(1 for k in lost if k[0] == "count")
    result = CliRunner().invoke(db_app, ["maintain", "--dsn", db.conninfo])
    assert result.exit_code == 0, result.output
    assert f"repaired {len(lost)} windows ({lost_counts} count, {len(lost) - lost_counts} occupancy)" in result.output
    stored = _stored_windows(db)
    expected = {key: _as_stored(facts) for key, facts in {**truth_all, **truth_later}.items()}
    for key, facts in expected.items():
        got = stored[key]
        assert got.keys() == facts.keys() and all(
            got[f] == facts[f] if f in ("count", "peak") or facts[f] is None else got[f] == pytest.approx(facts[f], rel=1e-6)
            for f in facts), (key, got, facts)
    assert set(stored) == set(expected) | {k for k in stored if k[2] == "close"}
    (volume,) = _rows(db, "SELECT sum(volume) FROM traffic_hourly")[0]
    (crossings,) = _rows(db, "SELECT count(*) FROM crossings WHERE line_id <> 'close'")[0]
    assert volume == crossings
    # Nothing left to repair: a second run rebuilds nothing, and says so in its return value.
    assert maintain(db, WarehouseSettings(), full=True).windows_repaired == 0


def test_a_rebuilt_window_carries_exactly_the_numbers_the_processors_emitted(db, bus, tmp_path):
    """Every window the processors wrote, recomputed from its stored rows by the rebuild, is equal
    to the stored one bit for bit (count, mean and p85 of the speeds, peak and mean occupancy)."""
    start = (datetime.now(UTC) - timedelta(minutes=30)).replace(second=0, microsecond=0)
    workload = make_workload(cameras=6, minutes=3, crossings_per_s=20, late_within_grace=20, late_beyond_grace=0,
                             seed=43, start=start)
    worker = start_worker(bus, log_path=tmp_path / "worker.log", state_dir=tmp_path / "state")
    sink = _RunningSink(bus, db)
    try:
        produced = produce(bus, workload.events + _closing(workload))
        truth, _ = ground_truth(produced, before=workload.end)
        _wait_for(lambda: set(truth) <= set(_stored_windows(db)), "the windows")
    finally:
        worker.stop()
        sink.stop()
    with connect(db) as conn:
        windows = conn.execute(
            "SELECT camera_id, line_id, direction, cls, ts, window_s, count, speed_mean_kmh, speed_p85_kmh FROM count_windows "
            "WHERE ts < %s", (workload.end,)).fetchall()
        zones = conn.execute("SELECT camera_id, zone_id, ts, window_s, peak, mean FROM occupancy_windows "
                             "WHERE ts < %s AND zone_id <> '_frame'", (workload.end,)).fetchall()
        assert len(windows) == sum(1 for k in truth if k[0] == "count") > 100
        for cam, line, direction, cls, ts, window_s, count, mean, p85 in windows:
            speeds = [float(s) for (s,) in conn.execute(
                "SELECT speed_kmh::text FROM crossings WHERE camera_id = %s AND line_id = %s AND direction = %s AND cls = %s "
                "AND ts >= %s AND ts < %s AND speed_kmh IS NOT NULL", (cam, line, direction, cls, ts, ts + timedelta(seconds=window_s)))]
            rebuilt = rebuild_count_window(cam, line, direction, cls, ts.timestamp(), window_s, count, speeds)
            assert _real([rebuilt.speed_mean_kmh, rebuilt.speed_p85_kmh]) == _real([mean, p85]), (cam, line, direction, cls, ts)
        assert len(zones) == sum(1 for k in truth if k[0] == "zone") > 10
        for cam, zone, ts, window_s, peak, mean in zones:
            samples = [(t.timestamp(), n) for t, n in conn.execute(
                "SELECT ts, count FROM zone_occupancy WHERE camera_id = %s AND zone_id = %s AND ts >= %s AND ts < %s",
                (cam, zone, ts, ts + timedelta(seconds=window_s)))]
            rebuilt = rebuild_occupancy_window(cam, zone, ts.timestamp(), window_s, samples)
            assert (rebuilt.peak, _real([rebuilt.mean])) == (peak, _real([mean])), (cam, zone, ts)
    # And so maintenance finds nothing to repair in what the processors wrote.
    assert maintain(db, WarehouseSettings(), full=True).windows_repaired == 0


@pytest.mark.parametrize("age, rebuilt", [
    (timedelta(minutes=20), True),  # closed long ago: rebuilt
    (timedelta(minutes=5), False),  # ends 4 min ago: may still be open in a processor (grace + idle = 5 min 10 s)
    (timedelta(minutes=7), True),  # just past window + grace + idle
    (timedelta(days=89), True),  # within every raw retention (zone samples: 90 days)
    (timedelta(days=120), False),  # zone samples of that day may already be gone: left as it is
])
def test_maintenance_rebuilds_only_windows_surely_closed_and_within_raw_retention(db, age, rebuilt):
    minute = (datetime.now(UTC) - age).replace(second=0, microsecond=0)
    crossings = [LineCrossing(camera_id="cam-1", ts=minute + timedelta(seconds=i), frame_no=i, line_id="l", direction="in",
                              cls="car", track_id=i, speed_kmh=20.0 + i) for i in range(40)]
    with connect(db) as conn:
        EventWriter(conn).write(crossings)
        conn.commit()
    repaired = maintain(db, WarehouseSettings()).windows_repaired
    rows = _rows(db, "SELECT count, speed_mean_kmh, speed_p85_kmh FROM count_windows")
    assert (repaired, rows) == ((1, [(40, 39.5, 53.15)]) if rebuilt else (0, []))
