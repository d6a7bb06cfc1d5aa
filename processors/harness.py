"""Drive the processors from outside, as an operator or a test would: produce events, run
workers as separate processes, read what they published. Used by the tests and the benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kafka import TopicPartition

from ingest.bus import BusSettings, make_consumer, make_producer, publish
from ingest.contract import Event, decode

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def produce(bus: BusSettings, events: Iterable[Event]) -> list[tuple[int, Event]]:
    """Publish events in order; returns (partition, event) as the broker placed them."""
    producer = make_producer(bus, linger_ms=5)
    try:
        sent = [(publish(producer, bus, event), event) for event in events]
        producer.flush()
        return [(future.get(timeout=30).partition, event) for future, event in sent]
    finally:
        producer.close()


def produce_bulk(bus: BusSettings, events: list[Event], *, compression: str | None = None) -> list[tuple[int, Event]]:
    """``produce`` for large volumes (aiokafka, big batches); uncompressed unless asked."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    from ingest.contract import encode, partition_key

    async def send_all() -> list[tuple[int, Event]]:
        producer = AIOKafkaProducer(bootstrap_servers=bus.bootstrap, acks="all", linger_ms=50,
                                    max_batch_size=1024 * 1024, compression_type=compression)
        await producer.start()
        try:
            topics = bus.topics
            futures = [await producer.send(topics.for_event(e), key=partition_key(e), value=encode(e)) for e in events]
            metadata = await asyncio.gather(*futures)
            return [(m.partition, e) for m, e in zip(metadata, events)]
        finally:
            await producer.stop()

    return asyncio.run(send_all())


def read_events(bus: BusSettings, topic: str, *, until: Callable[[list], bool], timeout_s: float = 60.0,
                idle_s: float | None = None, raw: bool = False) -> list:
    """Every event on ``topic`` from the beginning, polling until ``until(events)`` holds, the
    topic has been idle for ``idle_s``, or ``timeout_s`` passes (then returns what it has).
    ``raw``: the records themselves, undecoded (for the dead-letter topic)."""
    consumer = make_consumer(bus, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in range(bus.partitions)]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        events: list = []
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=300)
            for records in batch.values():
                events.extend(records if raw else (decode(r.value) for r in records))
                last_new = time.monotonic()
            if until(events):
                break
            if idle_s is not None and events and time.monotonic() - last_new > idle_s:
                break
        return events
    finally:
        consumer.close()


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit, no snapshot."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_worker(bus: BusSettings, *, log_path: Path, state_dir: Path, timeout_s: float = 120.0,
                 rules: Path | None = None, extra_env: dict[str, str] | None = None,
                 extra_args: Iterable[str] = ()) -> WorkerProcess:
    """``python -m processors run`` for this bus, in its own process."""
    argv = [sys.executable, "-m", "processors", "run", "--bootstrap", bus.bootstrap, "--namespace", bus.namespace,
            "--state-dir", str(state_dir), "--timeout", str(timeout_s), *extra_args]
    if rules is not None:
        argv += ["--rules", str(rules)]
    env = {**os.environ, **(extra_env or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    log = open(log_path, "wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env)
    log.close()
    return WorkerProcess(process=process, log_path=log_path)
