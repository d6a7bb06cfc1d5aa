"""Sink throughput next to a raw binary COPY of the same rows into the same table.

Target: sink rows/s >= 0.7 x raw COPY rows/s. The sink's figure covers everything it
does per record: fetch from the broker, decode and validate, COPY, commit, commit offsets.

Wall-clock rates swing with whatever else the machine runs (on this virtual machine the bare COPY
alone swung from 73,000 to 130,000 rows/s between runs), so one worker is measured in
``PAIRS`` pairs, each a bare COPY immediately followed by the sink reading the same records
again, and the ratio is given per pair: the median, and the worst pair. The same work is also
given in CPU time: microseconds per row of the client process (the sink, or the bare COPY) and of
the database backends serving it (read from /proc, the database being on this machine).
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

from bench.common import figure, fresh_bus, local_stack, scratch_database
from ingest import contract as c
from ingest.bus import make_producer, publish
from ingest.db import connect
from ingest.sink import Sink, SinkSettings, run_workers
from ingest.writer import TABLES, EventWriter

ROWS = 200_000
PAIRS = 3


def _crossings(n: int) -> list[c.LineCrossing]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    classes = ("motorbike", "motorbike", "motorbike", "car", "bus_truck")
    return [
        c.LineCrossing(camera_id=f"cam-{i % 200:03d}", ts=start + timedelta(milliseconds=40 * i), frame_no=i,
                       line_id="l1", direction="in" if i % 3 else "out", cls=classes[i % 5], track_id=i, speed_kmh=30.0 + i % 25)
        for i in range(n)
    ]


class _BackendCpu(threading.Thread):
    """Samples the CPU of every other backend connected to ``db`` until stopped (a backend's
    figures vanish with its connection, so the last sample of each is kept)."""

    def __init__(self, db) -> None:
        super().__init__(daemon=True)
        self.db, self.seen, self.stop = db, {}, threading.Event()

    def run(self) -> None:
        with connect(self.db, autocommit=True) as conn:
            while not self.stop.wait(0.2):
                for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                           "AND pid <> pg_backend_pid()").fetchall():
                    try:
                        self.seen[pid] = _proc_cpu_s(pid)
                    except OSError:
                        pass

    def total(self) -> float:
        self.stop.set()
        self.join()
        return sum(self.seen.values())


def _rows(events: list[c.LineCrossing]) -> list[tuple]:
    spec = TABLES[c.LineCrossing][0]
    return [spec.row(e) for e in events]


def _raw_copy_rate(db, rows: list[tuple]) -> tuple[float, float, float]:
    """(rows/s, client CPU us/row, backend CPU us/row) of a bare binary COPY of the rows."""
    spec = TABLES[c.LineCrossing][0]
    with connect(db) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        backend_before = _proc_cpu_s(pid)
        writer = EventWriter(conn)
        started, cpu = time.perf_counter(), time.process_time()
        with conn.transaction():
            writer._copy(spec, spec.table, rows)  # the bare COPY, no conflict handling
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        backend = _proc_cpu_s(pid) - backend_before
    return len(rows) / wall, cpu / len(rows) * 1e6, backend / len(rows) * 1e6


def _load_average() -> float:
    """Runnable processes, averaged over the last minute: how far the wall-clock figures can be trusted."""
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sink_once(stack, bus, group: str, *, workers: int) -> tuple[float, float, float]:
    """(rows/s, sink CPU us/row, backend CPU us/row) of ``workers`` sinks storing every record once,
    as a new consumer group, into a scratch database. CPU figures are measured for one worker only."""
    with scratch_database(stack) as db:
        settings = SinkSettings(bus=bus, db=db, group_id=group, metrics_port=0)
        cpu_us = backend_us = float("nan")
        if workers == 1:
            backends = _BackendCpu(db)
            backends.start()
            cpu = time.process_time()
            results = [Sink(settings).run(count=ROWS, timeout=600)]
            cpu_us = (time.process_time() - cpu) / ROWS * 1e6
            backend_us = backends.total() / ROWS * 1e6
        else:
            # Idle timeout: each worker stops a few seconds after its partitions run dry.
            results = run_workers(settings, workers=workers, timeout=600, idle_timeout=5)
        with connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM crossings").fetchone()[0]
    assert stored == ROWS, f"{workers} sink worker(s) stored {stored} of {ROWS} rows"
    # From the first record fetched by any worker to the last batch committed by any worker.
    span = max(r.last_commit_at for r in results if r.last_commit_at) - min(r.first_record_at for r in results if r.first_record_at)
    return ROWS / span, cpu_us, backend_us


def main() -> None:
    stack = local_stack()
    events = _crossings(ROWS)
    with fresh_bus(stack) as bus:
        producer = make_producer(bus)
        for event in events:
            publish(producer, bus, event)
        producer.flush()
        producer.close()
        # The sink runs in this process: it must not carry 200,000 events a sink process never
        # holds (every collection of the garbage collector would walk them, on the sink's clock).
        # The bare COPYs need only the rows, kept out of the collector's sight.
        rows = _rows(events)
        del events
        gc.collect()
        gc.freeze()
        figure("sink.machine_load_average_1min", _load_average(), "runnable")
        pairs = []
        for pair in range(PAIRS):
            with scratch_database(stack) as raw_db:
                raw, raw_client_us, raw_backend_us = _raw_copy_rate(raw_db, rows)
            rate, cpu_us, backend_us = _sink_once(stack, bus, f"bench-1-{pair}-{bus.namespace}", workers=1)
            pairs.append((rate / raw, raw, rate))
            figure(f"sink.pair_{pair + 1}.raw_binary_copy", raw, "rows/s")
            figure(f"sink.pair_{pair + 1}.throughput_1_worker", rate, "rows/s")
            figure(f"sink.pair_{pair + 1}.ratio_to_raw_copy_1_worker", rate / raw, "x")
            figure(f"sink.pair_{pair + 1}.raw_binary_copy_client_cpu", raw_client_us, "us/row")
            figure(f"sink.pair_{pair + 1}.raw_binary_copy_backend_cpu", raw_backend_us, "us/row")
            figure(f"sink.pair_{pair + 1}.cpu_1_worker", cpu_us, "us/row")
            figure(f"sink.pair_{pair + 1}.backend_cpu_1_worker", backend_us, "us/row")
        ratios = sorted(ratio for ratio, _, _ in pairs)
        figure("sink.throughput_1_worker", statistics.median(rate for _, _, rate in pairs), "rows/s")
        figure("sink.ratio_to_raw_copy_1_worker", statistics.median(ratios), "x", ">= 0.70")
        figure("sink.ratio_to_raw_copy_1_worker_worst_pair", ratios[0], "x", ">= 0.70")
        figure("sink.machine_load_average_1min_after_1_worker", _load_average(), "runnable")
        rate, _, _ = _sink_once(stack, bus, f"bench-2-{bus.namespace}", workers=2)
        raw_median = statistics.median(raw for _, raw, _ in pairs)
        figure("sink.throughput_2_worker", rate, "rows/s")
        figure("sink.ratio_to_raw_copy_2_worker", rate / raw_median, "x", ">= 0.70")
        figure("sink.machine_load_average_1min_after_2_worker", _load_average(), "runnable")


if __name__ == "__main__":
    main()
