"""The sink: contract events from the bus into TimescaleDB, exactly once in effect.

Order of a batch: decode -> write rows in one database transaction -> send the undecodable records
to the dead-letter topic (and wait for the broker) -> commit the Kafka offsets. Offsets are never
committed before the rows they cover are durable, and rows are idempotent (ingest/writer.py), so a
crash anywhere replays without duplicating. Batches are pipelined: one database thread writes
batch k (COPY waits on the server, without the GIL) with batch k+1 queued behind it, while the
event loop fetches and decodes batch k+2; offsets are committed batch after batch, in order,
each once its rows are committed. When the database is down the batch is held and retried with
backoff while the consumer stays in its group with its partitions paused; nothing is skipped.

Per-record policy: a record that is not a valid event, an event the sink refuses (its time far
in the future or past, its camera unknown: ingest/screening.py), or one whose row the database
rejects (bad value, constraint), is dead-lettered with the reason in its headers, and the sink
goes on. A
missing table or a wrong schema stops the sink with a clear error instead: that is not one bad
record but a deployment fault, and dead-lettering every record would hide it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from ingest import contract
from ingest.bus import BusError, ensure_topics, join_group_async, make_async_consumer
from ingest.db import DatabaseError, DatabaseUnavailable, connect
from ingest.framesample import FrameSampler
from ingest.metrics import SinkMetrics, serve_metrics
from ingest.screening import Screen
from ingest.settings import SinkSettings
from ingest.writer import EventWriter

log = logging.getLogger(__name__)

# Errors that condemn one record's row, not the batch or the deployment.
_ROW_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)
_TRANSIENT_DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, DatabaseUnavailable)
# Batches handed to the database thread and not yet committed: one being written and one queued
# behind it, so the thread goes from one COPY to the next without waiting for the event loop.
_BATCHES_IN_FLIGHT = 2


@dataclass
class SinkStats:
    consumed: int = 0
    written: int = 0
    dead_lettered: int = 0
    frames_not_stored: int = 0  # frame events left out by the frame sample (committed, not written)
    batches: int = 0
    db_retries: int = 0
    first_record_at: float | None = None  # wall clock (time.time) of the first record fetched
    last_commit_at: float | None = None  # wall clock of the last batch committed

    @property
    def busy_s(self) -> float:
        """Seconds spent consuming: the group join before the first record is left out."""
        if self.first_record_at is None or self.last_commit_at is None:
            return 0.0
        return self.last_commit_at - self.first_record_at


@dataclass(frozen=True)
class _Rejected:
    record: object
    reason: str


@dataclass(frozen=True)
class _Batch:
    records: list
    last_offsets: dict[TopicPartition, int]  # the last record's offset of each partition in the batch
    events: list[tuple[object, contract.Event]]
    rejected: list[_Rejected]


class Sink:
    """One sink consumer. Several in the same group share the partitions."""

    def __init__(self, settings: SinkSettings, *, metrics: SinkMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or SinkMetrics()
        self.stats = SinkStats()
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._writer: EventWriter | None = None
        self._in_flight: deque[asyncio.Task] = deque()  # oldest first; each commits after the one before
        self._db_thread: ThreadPoolExecutor | None = None  # the one thread that uses the connection
        #: the registry's camera ids (with registered_cameras_only), and when they were read
        self._known_cameras: set[str] | None = None
        self._registry_read_at = -float("inf")
        self._frames = FrameSampler(settings.frame_every_s)

    def stop(self) -> None:
        """Ask a running ``run`` to finish its batches and return (safe from any thread)."""
        self._stop.set()

    def run(self, *, count: int | None = None, timeout: float | None = None, idle_timeout: float | None = None) -> SinkStats:
        """Consume until ``count`` records are handled in this run, ``timeout`` seconds pass,
        ``idle_timeout`` seconds pass without a record, or ``stop()``. Returns the counters."""
        self._stop.clear()
        with _collecting_per_batch():
            asyncio.run(self._run(count=count, timeout=timeout, idle_timeout=idle_timeout))
        return self.stats

    async def _run(self, *, count: int | None, timeout: float | None, idle_timeout: float | None) -> None:
        bus = self.settings.bus
        await asyncio.to_thread(ensure_topics, bus)
        consumer = None
        # Served before the producer is made: a port another program holds ends the run with nothing to close.
        server = serve_metrics(self.metrics.registry, self.settings.metrics_host, self.settings.metrics_port) if self.settings.metrics_port else None
        producer = AIOKafkaProducer(bootstrap_servers=bus.bootstrap, client_id=bus.client_id, acks="all")
        started = last_record = last_log = time.monotonic()
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ioc-sink-db")
        loop = asyncio.get_running_loop()
        try:
            await producer.start()
        except KafkaError as exc:
            if server is not None:
                server.shutdown()
            raise BusError(f"cannot reach the Kafka broker at {bus.bootstrap}: {exc}") from exc
        try:
            consumer = await join_group_async(
                bus, lambda: make_async_consumer(bus, group_id=self.settings.group_id),
                group_id=self.settings.group_id, topics=bus.topics.event_topics(), listener=_FinishBeforeRevoke(self),
            )
            if self.settings.registered_cameras_only:
                # Reads the registry, waiting for the database if need be.
                await loop.run_in_executor(self._db_thread, self._write, [])
            handed = 0
            while not self._stop.is_set():
                now = time.monotonic()
                if (timeout is not None and now - started >= timeout) or (
                    idle_timeout is not None and now - last_record >= idle_timeout) or (
                    count is not None and handed >= count):
                    break
                records, last_offsets = await self._poll(consumer)
                if records:
                    if self.stats.first_record_at is None:
                        self.stats.first_record_at = time.time()
                    last_record = time.monotonic()
                    handed += len(records)
                    batch = self._decode(records, last_offsets)
                    await self._wait_in_flight(consumer, keep=_BATCHES_IN_FLIGHT - 1)
                    # The rows go to the database thread now, not when the event loop next turns:
                    # a poll served from records already fetched returns without yielding, and the
                    # write would otherwise wait for the next batch's decode to end.
                    writing = loop.run_in_executor(self._db_thread, self._write, batch.events)
                    previous = self._in_flight[-1] if self._in_flight else None
                    self._in_flight.append(asyncio.create_task(self._finish(consumer, producer, batch, writing, previous)))
                if time.monotonic() - last_log >= self.settings.log_every_s:
                    self._log_progress()
                    last_log = time.monotonic()
            await self._wait_in_flight(consumer, keep=0)
        finally:
            for task in self._in_flight:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: the first failure is already on its way up
                else:
                    task.cancel()
            self._in_flight.clear()
            # A write held by a database outage gives up; a COPY under way ends before the
            # connection closes, so that no two threads ever use it at once.
            self._stop.set()
            self._db_thread.shutdown(wait=True, cancel_futures=True)
            self._log_progress()
            if consumer is not None:
                await consumer.stop()
            await producer.stop()
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if server is not None:
                server.shutdown()

    async def _poll(self, consumer) -> tuple[list, dict[TopicPartition, int]]:
        try:
            polled = await consumer.getmany(timeout_ms=self.settings.poll_timeout_ms, max_records=self._batch_limit())
        except KafkaError as exc:
            raise BusError(f"polling {self.settings.bus.bootstrap} failed: {exc}") from exc
        # Per partition, not per record: a batch holds up to max_batch records and a few partitions.
        records: list = []
        last_offsets: dict[TopicPartition, int] = {}
        for tp, part in polled.items():
            if not part:
                continue
            records.extend(part)
            last_offsets[tp] = part[-1].offset
            self.metrics.consumed.labels(tp.topic).inc(len(part))
            high = consumer.highwater(tp)
            if high is not None:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - part[-1].offset - 1))
        return records, last_offsets

    def _batch_limit(self) -> int:
        """Records to take in the next batch: a full batch while the database thread has work, an
        eighth of one when it is idle (at the start, after a lull), so that it starts writing
        after a short decode instead of waiting for a whole batch's."""
        busy = any(not task.done() for task in self._in_flight)  # a finished batch stays listed until the next
        return self.settings.max_batch if busy else max(1, self.settings.max_batch // 8)

    def _decode(self, records: list, last_offsets: dict[TopicPartition, int]) -> _Batch:
        decoded: list[tuple[object, contract.Event]] = []
        rejected: list[_Rejected] = []
        for record in records:
            if record.value is None:
                rejected.append(_Rejected(record, "empty message (no value)"))
                continue
            try:
                decoded.append((record, contract.decode(record.value)))
            except contract.ContractError as exc:
                rejected.append(_Rejected(record, exc.reason))
        screen = self._screen()
        screen.register(event for _, event in decoded)
        self._known_cameras = screen.known_cameras
        events: list[tuple[object, contract.Event]] = []
        for record, event in decoded:
            reason = screen.reason(event)
            if reason is not None:  # refused: dead-lettered with its reason
                rejected.append(_Rejected(record, reason))
            elif type(event) is contract.FrameEvent and not self._frames.keep(event):
                self.stats.frames_not_stored += 1  # on the bus at full rate; stored as a sample
            else:
                events.append((record, event))
        return _Batch(records, last_offsets, events, rejected)

    def _screen(self) -> Screen:
        settings = self.settings
        return Screen(now=datetime.now(UTC), max_past=timedelta(seconds=settings.max_past_s),
                      max_future=timedelta(seconds=settings.max_future_s), known_cameras=self._known_cameras)

    def _read_registry(self) -> None:
        """Re-read the registry's camera ids when due (blocking: runs in the database thread)."""
        settings = self.settings
        if not settings.registered_cameras_only or time.monotonic() - self._registry_read_at < settings.registry_refresh_s:
            return
        conn = self._connection()
        known = {camera for (camera,) in conn.execute("SELECT camera_id FROM cameras")}
        conn.rollback()
        # Cameras registered by camera_info events of batches not written yet stay known.
        self._known_cameras = known | (self._known_cameras or set())
        self._registry_read_at = time.monotonic()

    async def _wait_in_flight(self, consumer, *, keep: int) -> None:
        """Wait until at most ``keep`` batches are in flight; meanwhile keep fetching nothing, so
        that a long database outage does not look like a dead consumer to the group."""
        paused = False
        try:
            while len(self._in_flight) > keep:
                task = self._in_flight[0]
                while not task.done():
                    done, _ = await asyncio.wait({task}, timeout=1.0)
                    if not done and not paused:
                        consumer.pause(*consumer.assignment())
                        paused = True
                    if not done:
                        await consumer.getmany(timeout_ms=100)
                self._in_flight.popleft()
                task.result()  # a fatal error of the batch surfaces here
        finally:
            if paused:
                consumer.resume(*consumer.assignment())

    async def _finish(self, consumer, producer, batch: _Batch, writing: asyncio.Future,
                      previous: asyncio.Task | None) -> None:
        started = time.monotonic()
        written, refused = await writing
        if previous is not None:
            await previous  # offsets move forward only: the batch before commits its offsets first
        rejected = batch.rejected + refused
        await self._dead_letter(producer, rejected)
        await self._commit(consumer, batch.last_offsets)
        self.stats.consumed += len(batch.records)
        self.stats.written += written
        self.stats.dead_lettered += len(rejected)
        self.stats.batches += 1
        self.stats.last_commit_at = time.time()
        self.metrics.written.inc(written)
        self.metrics.batch_seconds.observe(time.monotonic() - started)

    # -- database (runs in a worker thread) ------------------------------------------------

    def _write(self, pairs: list[tuple[object, contract.Event]]) -> tuple[int, list[_Rejected]]:
        """Write all rows, retrying while the database is unavailable; returns (rows, refused)."""
        if not pairs and not self.settings.registered_cameras_only:
            return 0, []
        delay = self.settings.retry_initial_s
        while True:
            try:
                self._read_registry()
                result = self._write_isolating_bad_rows(pairs) if pairs else (0, [])
                self.metrics.db_up.set(1)
                return result
            except _TRANSIENT_DB_ERRORS as exc:
                self._drop_connection()
                self.metrics.db_up.set(0)
                self.metrics.db_retries.inc()
                self.stats.db_retries += 1
                if self._stop.wait(0):
                    raise DatabaseError(f"stopped while the database was unavailable: {_first_line(exc)}") from exc
                log.warning("database unavailable (%s); holding %d events, retrying in %.1f s", _first_line(exc), len(pairs), delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.settings.retry_max_s)

    def _write_isolating_bad_rows(self, pairs: list[tuple[object, contract.Event]]) -> tuple[int, list[_Rejected]]:
        conn = self._connection()
        try:
            with conn.transaction():
                return self._writer.write([event for _, event in pairs]), []
        except psycopg.errors.UndefinedTable as exc:
            raise DatabaseError(f"{_first_line(exc)}; run `ioc db migrate` against {self.settings.db.shown}") from exc
        except _ROW_ERRORS as exc:
            if len(pairs) == 1:
                return 0, [_Rejected(pairs[0][0], f"database rejected the row: {_first_line(exc)}")]
        # Halve until the offending rows are alone; the good halves commit on their own.
        middle = len(pairs) // 2
        written_a, bad_a = self._write_isolating_bad_rows(pairs[:middle])
        written_b, bad_b = self._write_isolating_bad_rows(pairs[middle:])
        return written_a + written_b, bad_a + bad_b

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.settings.db)
            self._writer = EventWriter(self._conn)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    # -- bus ------------------------------------------------------------------------------

    async def _dead_letter(self, producer, rejected: list[_Rejected]) -> None:
        if not rejected:
            return
        topic = self.settings.bus.topics.dead_letter
        futures = []
        for item in rejected:
            record = item.record
            log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, item.reason)
            headers = [
                ("ioc-error", item.reason.encode()),
                ("ioc-stage", b"sink"),
                ("ioc-source-topic", record.topic.encode()),
                ("ioc-source-partition", str(record.partition).encode()),
                ("ioc-source-offset", str(record.offset).encode()),
            ]
            futures.append(await producer.send(topic, key=record.key, value=record.value or b"", headers=headers))
            self.metrics.dead_lettered.labels(record.topic).inc()
        try:
            await asyncio.gather(*futures)
        except KafkaError as exc:
            # Not committing: the batch is read again and re-written (idempotent) after a restart.
            raise BusError(f"could not write to the dead-letter topic {topic}: {exc}") from exc

    async def _commit(self, consumer, last_offsets: dict[TopicPartition, int]) -> None:
        offsets = {tp: OffsetAndMetadata(offset + 1, "") for tp, offset in last_offsets.items()}
        try:
            await consumer.commit(offsets)
        except CommitFailedError as exc:
            # The partitions moved to another member during the batch; it re-reads from the last
            # commit and the idempotent writer makes that harmless.
            log.warning("offset commit failed after a rebalance (rows are safe, will be re-read): %s", exc)
        except KafkaError as exc:
            raise BusError(f"committing offsets on {self.settings.bus.bootstrap} failed: {exc}") from exc

    def _log_progress(self) -> None:
        s = self.stats
        log.info("sink: consumed=%d written=%d dead_lettered=%d batches=%d db_retries=%d",
                 s.consumed, s.written, s.dead_lettered, s.batches, s.db_retries)


class _FinishBeforeRevoke(ConsumerRebalanceListener):
    """Let the batch in flight commit before its partitions go to another member."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    async def on_partitions_revoked(self, revoked) -> None:
        in_flight = self._sink._in_flight
        if in_flight and not in_flight[-1].done():  # the newest commits after all the others
            await asyncio.wait({in_flight[-1]}, timeout=30)

    async def on_partitions_assigned(self, assigned) -> None:
        pass


def run_workers(
    settings: SinkSettings, *, workers: int, count: int | None = None, timeout: float | None = None,
    idle_timeout: float | None = None,
) -> list[SinkStats]:
    """Run ``workers`` sinks in processes of their own, one consumer group sharing the partitions.

    One sink process is bound by Python on one core (fetch, decode and row building); the
    database takes COPY from several connections at once, so processes scale the sink.
    ``count`` is per worker. Worker i serves /metrics on ``metrics_port + i``: each keeps its own
    registry, Prometheus scrapes them all and sums (no shared multiprocess state to clean up).
    """
    import functools

    from ingest.workers import run_workers as run_in_processes
    from ingest.workers import worker_port

    # Worker i serves /metrics on PORT+i: each keeps its own counters, and Prometheus sums them.
    per_worker = [settings.model_copy(update={"metrics_port": worker_port(settings.metrics_port, i)})
                  for i in range(workers)]
    return run_in_processes(functools.partial(_run_one, count=count, timeout=timeout, idle_timeout=idle_timeout),
                            per_worker)


def _run_one(settings: SinkSettings, *, count: int | None, timeout: float | None, idle_timeout: float | None) -> SinkStats:
    import signal

    sink = Sink(settings)
    signal.signal(signal.SIGTERM, lambda *_: sink.stop())
    signal.signal(signal.SIGINT, lambda *_: sink.stop())
    return sink.run(count=count, timeout=timeout, idle_timeout=idle_timeout)


@contextlib.contextmanager
def _collecting_per_batch():
    """Run the cyclic garbage collector about once a batch instead of every 700 new objects.

    A batch is tens of thousands of records, events and rows, none of them in a reference cycle,
    alive for the few hundred milliseconds it takes to write them. At the interpreter's default
    thresholds the collector walks them again and again and promotes them to the oldest
    generation, whose full collections then walk everything: half of the sink's CPU a row went
    there (10.8 -> 5 us). Reference counting still frees every batch the moment it is written;
    only cyclic garbage (rare here) waits longer. The process's thresholds are restored on return."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def dead_letter_headers(headers) -> dict[str, str]:
    """Headers of a dead-lettered record as a dict (for tools and tests)."""
    return {key: value.decode() for key, value in headers or []}
