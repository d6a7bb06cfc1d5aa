"""Frame events per second through the processors, with exact output, on this machine.

Measured the same way for every contender: the same frame events (~330 bytes, 200 cameras,
4 partitions) on the local broker, in a namespace of the bench's own; the rate is events handled
divided by the time from the first record handled to the end of the last batch (group joins
and process start-up excluded). Contenders:

* stock faust: a per-event agent on faust's own consumer, decoding with msgspec into the same
  plain-memory windows (the best case of stock faust; a faust Record + windowed Table is slower);
* ours, 1 and 2 workers: ``ioc processors run`` (FastDrainConsumer, ``noack_take`` batches,
  msgspec, ``PartitionWindows``, checkpoints), and its windows are checked against the ground
  truth computed from the produced events;
* plain aiokafka: a bare ``getmany`` loop into the same windows, the ceiling.

Run: ``python -m bench.bench_processors`` (about 2 minutes).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FRAMES = 200_000
NAIVE_FRAMES = 30_000
TARGET = 20_000


def _progress(log: str) -> dict[str, float] | None:
    lines = re.findall(r"counting progress: events=(\d+) first_at=(\S+) last_at=(\S+)", log)
    if not lines:
        return None
    events, first, last = lines[-1]
    if first == "None" or last == "None":
        return {"events": 0}
    return {"events": int(events), "first_at": float(first), "last_at": float(last)}


def _wait_for_events(workers, total: int, timeout_s: float) -> list[dict[str, float]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = [_progress(w.log()) or {"events": 0} for w in workers]
        if sum(s["events"] for s in stats) >= total:
            return stats
        if any(w.process.poll() is not None for w in workers):
            raise RuntimeError("a worker exited early:\n" + "\n".join(w.log()[-3000:] for w in workers))
        time.sleep(0.5)
    raise RuntimeError(f"workers handled {sum(s['events'] for s in stats)} of {total} events in {timeout_s:.0f} s")


def _rate(stats: list[dict[str, float]]) -> float:
    active = [s for s in stats if s.get("first_at")]
    span = max(s["last_at"] for s in active) - min(s["first_at"] for s in active)
    return sum(s["events"] for s in active) / span


def _run_ours(bus, workers: int, total: int, tmp: Path) -> float:
    from processors.harness import start_worker

    app_id = f"{bus.namespace}-ours{workers}"
    procs = [start_worker(bus, log_path=tmp / f"ours{workers}-{i}.log", state_dir=tmp / "state", timeout_s=170,
                          extra_args=["--app-id", app_id, "--log-level", "INFO"]) for i in range(workers)]
    try:
        stats = _wait_for_events(procs, total, timeout_s=120)
    finally:
        for proc in procs:
            proc.stop()
    return _rate(stats)


async def _plain_aiokafka(bus, total: int) -> float:
    from aiokafka import AIOKafkaConsumer

    from ingest.contract import ContractError, decode
    from processors.windowing import PartitionWindows, WindowSpec

    consumer = AIOKafkaConsumer(bus.topics.frames, bootstrap_servers=bus.bootstrap, group_id=f"{bus.namespace}-plain",
                                enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=6000,
                                heartbeat_interval_ms=1000, max_partition_fetch_bytes=8 * 1024 * 1024,
                                fetch_max_bytes=32 * 1024 * 1024)
    await consumer.start()
    windows: dict[int, PartitionWindows] = {}
    seen, first = 0, None
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if first is None and batches:
                first = time.time()
            for tp, records in batches.items():
                part = windows.setdefault(tp.partition, PartitionWindows(WindowSpec()))
                for record in records:
                    try:
                        part.add(record.offset, decode(record.value))
                    except ContractError:
                        part.add(record.offset, None)
                part.close_due()
                seen += len(records)
        return seen / (time.time() - first)
    finally:
        await consumer.stop()


def _naive_worker(namespace: str, bootstrap: str, limit: int) -> None:
    """Stock faust: its own consumer, one event at a time (run in a subprocess)."""
    import logging

    import faust

    from ingest.bus import BusSettings
    from ingest.contract import ContractError, decode
    from processors.windowing import PartitionWindows, WindowSpec

    bus = BusSettings(bootstrap=bootstrap, namespace=namespace)
    app = faust.App(f"{namespace}-naive", broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                    broker_session_timeout=6, broker_heartbeat_interval=1, topic_disable_leader=True,
                    topic_allow_declare=False, consumer_auto_offset_reset="earliest", autodiscover=False,
                    datadir=tempfile.mkdtemp(prefix="ioc-bench-naive-"))  # not faust's default, the working directory
    log = logging.getLogger("naive")
    topic = app.topic(bus.topics.frames, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    windows: dict[int, PartitionWindows] = {}
    stats = {"events": 0, "first_at": None, "last_at": None}

    @app.agent(topic)
    async def naive(stream):
        async for event in stream.events():
            if stats["first_at"] is None:
                stats["first_at"] = time.time()
            message = event.message
            part = windows.setdefault(message.partition, PartitionWindows(WindowSpec()))
            try:
                part.add(message.offset, decode(message.value))
            except ContractError:
                part.add(message.offset, None)
            part.close_due()
            stats["events"] += 1
            stats["last_at"] = time.time()
            if stats["events"] % 1000 == 0 or stats["events"] >= limit:
                log.warning("counting progress: events=%d first_at=%s last_at=%s", stats["events"], stats["first_at"], stats["last_at"])

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def _run_naive(bus, limit: int, tmp: Path) -> float:
    from processors.harness import PROJECT_ROOT, WorkerProcess

    log_path = tmp / "naive.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bench.bench_processors", "--naive", bus.namespace, bus.bootstrap, str(limit)],
                                   stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    worker = WorkerProcess(process=process, log_path=log_path)
    try:
        stats = _wait_for_events([worker], limit, timeout_s=90)
    finally:
        worker.stop()
    return _rate(stats)


def main() -> None:
    from bench.common import figure, fresh_bus, local_stack
    from ingest.contract import OccupancyWindow
    from processors.harness import produce_bulk, read_events
    from processors.windowing import FRAME_ZONE
    from processors.workload import as_facts, closing_events, compare, ground_truth, make_frames, window_key

    with fresh_bus(local_stack()) as bus:
        workload = make_frames(frames=FRAMES)
        closing = [e for e in closing_events(workload) if type(e).__name__ == "FrameEvent"]
        started = time.monotonic()
        produced = produce_bulk(bus, workload.events + closing)
        print(f"# produced {len(produced)} frame events (uncompressed) in {time.monotonic() - started:.1f} s "
              f"(namespace {bus.namespace})")
        total = len(produced)
        truth, _ = ground_truth(produced, before=closing[0].ts.replace(second=0, microsecond=0))

        with tempfile.TemporaryDirectory(prefix="bench-processors-") as tmp_dir:
            tmp = Path(tmp_dir)
            naive = _run_naive(bus, NAIVE_FRAMES, tmp)
            figure("processors_stock_faust_per_event_agent", naive, "events/s", "none: baseline")
            one = _run_ours(bus, 1, total, tmp)
            figure("processors_frames_1_worker", one, "events/s", f">= {TARGET} on 2 cores")
            two = _run_ours(bus, 2, total, tmp)
            figure("processors_frames_2_workers", two, "events/s", f">= {TARGET} on 2 cores")
            plain = asyncio.run(_plain_aiokafka(bus, total))
            figure("processors_plain_aiokafka_ceiling", plain, "events/s", "none: ceiling, 1 process")

        def complete(events):
            keys = {window_key(e) for e in events if isinstance(e, OccupancyWindow) and e.zone_id == FRAME_ZONE}
            return set(truth) <= keys

        emitted: dict[tuple, dict] = {}
        mismatched = 0
        for window in read_events(bus, bus.topics.counts, until=complete, timeout_s=30):
            key, facts = window_key(window), as_facts(window)
            if emitted.setdefault(key, facts) != facts:
                mismatched += 1
        problems = compare(truth, emitted) + [f"{mismatched} window(s) emitted with different numbers"] * bool(mismatched)
        print(f"# {len(truth)} windows checked against the ground truth computed from the produced frames")
        for line in problems[:5]:
            print(f"#   {line}")
        figure("processors_windows_not_exact", len(problems), "windows", "0")
        figure("processors_speedup_over_stock_faust", two / naive, "x", "none")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--naive":
        _naive_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
