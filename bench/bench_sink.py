"""Sink throughput next to a raw binary COPY of the same rows into the same table.

Target: sink rows/s >= 0.7 x raw COPY rows/s. The sink's figure covers everything it
does per record: fetch from the broker, decode and validate, COPY, commit, commit offsets.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from bench.common import figure, fresh_bus, local_stack, scratch_database
from ingest import contract as c
from ingest.bus import make_producer, publish
from ingest.db import connect
from ingest.sink import Sink, SinkSettings, run_workers
from ingest.writer import TABLES, EventWriter

ROWS = 200_000


def _crossings(n: int) -> list[c.LineCrossing]:
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    classes = ("motorbike", "motorbike", "motorbike", "car", "bus_truck")
    return [
        c.LineCrossing(camera_id=f"cam-{i % 200:03d}", ts=start + timedelta(milliseconds=40 * i), frame_no=i,
                       line_id="l1", direction="in" if i % 3 else "out", cls=classes[i % 5], track_id=i, speed_kmh=30.0 + i % 25)
        for i in range(n)
    ]


def _raw_copy_rate(db, events) -> float:
    spec = TABLES[c.LineCrossing][0]
    rows = [spec.row(e) for e in events]
    with connect(db) as conn:
        writer = EventWriter(conn)
        started = time.perf_counter()
        with conn.transaction():
            writer._copy(spec, spec.table, rows)  # the bare COPY, no conflict handling
        return len(rows) / (time.perf_counter() - started)


def main() -> None:
    stack = local_stack()
    events = _crossings(ROWS)
    with scratch_database(stack) as raw_db:
        raw = _raw_copy_rate(raw_db, events)
    bus = fresh_bus(stack)
    producer = make_producer(bus)
    for event in events:
        publish(producer, bus, event)
    producer.flush()
    producer.close()
    figure("sink.raw_binary_copy", raw, "rows/s")
    for workers in (1, 2):
        with scratch_database(stack) as db:
            settings = SinkSettings(bus=bus, db=db, group_id=f"bench-{workers}-{bus.namespace}", metrics_port=0)
            if workers == 1:
                results = [Sink(settings).run(count=ROWS, timeout=600)]
            else:
                # Idle timeout: each worker stops a few seconds after its partitions run dry.
                results = run_workers(settings, workers=workers, timeout=600, idle_timeout=5)
            with connect(db) as conn:
                stored = conn.execute("SELECT count(*) FROM crossings").fetchone()[0]
        assert stored == ROWS, f"{workers} sink worker(s) stored {stored} of {ROWS} rows"
        # From the first record fetched by any worker to the last batch committed by any worker.
        span = max(r.last_commit_at for r in results if r.last_commit_at) - min(r.first_record_at for r in results if r.first_record_at)
        rate = ROWS / span
        figure(f"sink.throughput_{workers}_worker", rate, "rows/s")
        figure(f"sink.ratio_to_raw_copy_{workers}_worker", rate / raw, "x", ">= 0.70")


if __name__ == "__main__":
    main()
