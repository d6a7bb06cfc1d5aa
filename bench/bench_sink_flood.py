"""The sink's pace on good records with 1 % malformed ones among them, next to the same good
records alone: does a flood of bad records (huge, wrong schema version, timed far in the future or
past, unknown cameras) slow the good 99 % down?

Target: good events/s with the flood >= 0.8 x without it (one sink worker, the registry check on).
The dead-letter path costs a produce to the dead-letter topic and a log line per bad record.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from bench.common import figure, fresh_bus, local_stack, scratch_database
from ingest import contract as c
from ingest.db import connect
from ingest.flood import flood, good_events
from ingest.sink import Sink, SinkSettings
from ingest.writer import EventWriter

GOOD = 60_000
CAMERAS = [f"cam-{i:03d}" for i in range(60)]


def _send(bus, records) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bus.bootstrap, acks="all", linger_ms=50, batch_size=512 * 1024,
                             max_request_size=4 * 1024 * 1024)
    for record in records:
        producer.send(record.topic, key=record.key, value=record.value)
    producer.flush(timeout=120)
    producer.close()


def _run(stack, good, now, *, share: float, label: str) -> tuple[float, float, int]:
    """Good events/s (wall clock, first fetch to last commit), CPU seconds of the sink, dead-lettered."""
    with fresh_bus(stack) as bus:
        records = flood(good, topics=bus.topics, now=now, share=share)
        _send(bus, records)
        with scratch_database(stack) as db:
            with connect(db) as conn:
                EventWriter(conn).write([c.CameraInfo(camera_id=cam, ts=now, name=cam, kind="traffic", origin="registry")
                                         for cam in CAMERAS])
                conn.commit()
            settings = SinkSettings(bus=bus, db=db, group_id=f"bench-{label}-{bus.namespace}", metrics_port=0,
                                    registered_cameras_only=True)
            cpu = time.process_time()
            stats = Sink(settings).run(count=len(records), timeout=600)
            cpu = time.process_time() - cpu
            with connect(db) as conn:
                stored = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                             for t in ("crossings", "zone_occupancy", "frame_events"))
        assert stored == GOOD, f"{label}: {stored} of {GOOD} good events stored"
        return GOOD / stats.busy_s, cpu, stats.dead_lettered


def main() -> None:
    import logging

    logging.getLogger("ingest.sink").setLevel(logging.ERROR)  # one warning per dead-lettered record otherwise
    stack = local_stack()
    now = datetime.now(UTC)
    good = good_events(cameras=CAMERAS, n=GOOD, now=now)
    clean_rate, clean_cpu, _ = _run(stack, good, now, share=0.0, label="clean")
    flood_rate, flood_cpu, dead = _run(stack, good, now, share=0.01, label="flood")
    print(f"load: {os.getloadavg()[0]:.1f} (1-minute load average, 2 cores shared with other work)")
    figure("sink_flood.good_events_per_s_clean", clean_rate, "events/s")
    figure("sink_flood.good_events_per_s_with_1pct_malformed", flood_rate, "events/s")
    figure("sink_flood.dead_lettered", dead, "records")
    figure("sink_flood.cpu_s_clean", clean_cpu, "s")
    figure("sink_flood.cpu_s_with_1pct_malformed", flood_cpu, "s")
    figure("sink_flood.rate_ratio_flood_to_clean", flood_rate / clean_rate, "x", ">= 0.80")
    figure("sink_flood.cpu_ratio_clean_to_flood", clean_cpu / flood_cpu, "x", ">= 0.80")


if __name__ == "__main__":
    main()
