"""The sink: contract events from the bus into TimescaleDB, exactly once in effect.

Order of a batch: decode -> write rows in one database transaction -> send the undecodable records
to the dead-letter topic (and wait for the broker) -> commit the Kafka offsets. Offsets are never
committed before the rows they cover are durable, and rows are idempotent (ingest/writer.py), so a
crash anywhere replays without duplicating. When the database is down the batch is held and
retried with backoff while the consumer stays in its group; nothing is skipped.

Per-record policy: a record that is not a valid event, or whose row the database rejects (bad
value, constraint), is dead-lettered with the reason in its headers, and the sink goes on. A
missing table or a wrong schema stops the sink with a clear error instead: that is not one bad
record but a deployment fault, and dead-lettering every record would hide it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import psycopg
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from ingest import contract
from ingest.bus import BusError, BusSettings, ensure_topics, join_group, make_consumer, make_producer
from ingest.db import DatabaseError, DbSettings, connect
from ingest.metrics import SinkMetrics
from ingest.writer import EventWriter

log = logging.getLogger(__name__)

# Errors that condemn one record's row, not the batch or the deployment.
_ROW_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


@dataclass(frozen=True, kw_only=True)
class SinkSettings:
    bus: BusSettings
    db: DbSettings
    group_id: str = "ioc-sink"
    max_batch: int = 5000
    poll_timeout_ms: int = 500
    retry_initial_s: float = 0.5
    retry_max_s: float = 10.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # 0: no /metrics endpoint
    log_every_s: float = 10.0


@dataclass
class SinkStats:
    consumed: int = 0
    written: int = 0
    dead_lettered: int = 0
    batches: int = 0
    db_retries: int = 0


@dataclass(frozen=True)
class _Rejected:
    record: object
    reason: str


class Sink:
    """One sink consumer. Several in the same group share the partitions."""

    def __init__(self, settings: SinkSettings, *, metrics: SinkMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or SinkMetrics()
        self.stats = SinkStats()
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._writer: EventWriter | None = None

    def stop(self) -> None:
        """Ask a running ``run`` to finish its batch and return (safe from a signal handler)."""
        self._stop.set()

    def run(self, *, count: int | None = None, timeout: float | None = None, idle_timeout: float | None = None) -> SinkStats:
        """Consume until ``count`` records are handled, ``timeout`` seconds pass, ``idle_timeout``
        seconds pass without a record, or ``stop()``. Returns the counters of this run."""
        bus = self.settings.bus
        ensure_topics(bus)
        consumer = make_consumer(bus, group_id=self.settings.group_id, max_poll_records=self.settings.max_batch)
        producer = make_producer(bus, linger_ms=0)
        server = self.metrics.serve(self.settings.metrics_host, self.settings.metrics_port) if self.settings.metrics_port else None
        started = last_record = last_log = time.monotonic()
        try:
            join_group(bus, consumer, group_id=self.settings.group_id, topics=bus.topics.event_topics())
            while not self._stop.is_set():
                now = time.monotonic()
                if timeout is not None and now - started >= timeout:
                    break
                if idle_timeout is not None and now - last_record >= idle_timeout:
                    break
                if count is not None and self.stats.consumed >= count:
                    break
                batch = self._poll(consumer)
                if batch:
                    last_record = time.monotonic()
                    self._handle(consumer, producer, batch)
                if time.monotonic() - last_log >= self.settings.log_every_s:
                    self._log_progress()
                    last_log = time.monotonic()
        finally:
            self._log_progress()
            consumer.close()
            producer.close()
            if self._conn is not None:
                self._conn.close()
            if server is not None:
                server.shutdown()
        return self.stats

    def _poll(self, consumer) -> list:
        try:
            polled = consumer.poll(timeout_ms=self.settings.poll_timeout_ms, max_records=self.settings.max_batch)
        except KafkaError as exc:
            raise BusError(f"polling {self.settings.bus.bootstrap} failed: {exc}") from exc
        records = [record for part in polled.values() for record in part]
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is not None:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - consumer.position(tp)))
        return records

    def _handle(self, consumer, producer, records: list) -> None:
        started = time.monotonic()
        decoded: list[tuple[object, contract.Event]] = []
        rejected: list[_Rejected] = []
        for record in records:
            self.metrics.consumed.labels(record.topic).inc()
            if record.value is None:
                rejected.append(_Rejected(record, "empty message (no value)"))
                continue
            try:
                decoded.append((record, contract.decode(record.value)))
            except contract.ContractError as exc:
                rejected.append(_Rejected(record, exc.reason))
        written, refused = self._write(consumer, decoded)
        rejected.extend(refused)
        self._dead_letter(producer, rejected)
        self._commit(consumer, records)
        self.stats.consumed += len(records)
        self.stats.written += written
        self.stats.dead_lettered += len(rejected)
        self.stats.batches += 1
        self.metrics.written.inc(written)
        self.metrics.batch_seconds.observe(time.monotonic() - started)

    # -- database -------------------------------------------------------------------------

    def _write(self, consumer, pairs: list[tuple[object, contract.Event]]) -> tuple[int, list[_Rejected]]:
        """Write all rows, retrying while the database is unavailable; returns (rows, refused)."""
        if not pairs:
            return 0, []
        delay = self.settings.retry_initial_s
        while True:
            try:
                result = self._write_isolating_bad_rows(pairs)
                self.metrics.db_up.set(1)
                return result
            except (psycopg.OperationalError, psycopg.InterfaceError, DatabaseError) as exc:
                self._drop_connection()
                self.metrics.db_up.set(0)
                self.metrics.db_retries.inc()
                self.stats.db_retries += 1
                log.warning("database unavailable (%s); holding %d events, retrying in %.1f s", _first_line(exc), len(pairs), delay)
                self._wait_keeping_group(consumer, delay)
                delay = min(delay * 2, self.settings.retry_max_s)
                if self._stop.is_set():
                    raise DatabaseError(f"stopped while the database was unavailable: {_first_line(exc)}") from exc

    def _write_isolating_bad_rows(self, pairs: list[tuple[object, contract.Event]]) -> tuple[int, list[_Rejected]]:
        conn = self._connection()
        try:
            with conn.transaction():
                return self._writer.write(event for _, event in pairs), []
        except _ROW_ERRORS as exc:
            if len(pairs) == 1:
                return 0, [_Rejected(pairs[0][0], f"database rejected the row: {_first_line(exc)}")]
        except psycopg.errors.UndefinedTable as exc:
            raise DatabaseError(f"{_first_line(exc)}; run `ioc db migrate` against {self.settings.db.dsn}") from exc
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

    def _wait_keeping_group(self, consumer, seconds: float) -> None:
        """Sleep without leaving the consumer group: paused partitions, polls that fetch nothing."""
        partitions = consumer.assignment()
        consumer.pause(*partitions)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                consumer.poll(timeout_ms=int(min(0.5, max(0.0, deadline - time.monotonic())) * 1000))
        finally:
            consumer.resume(*[tp for tp in partitions if tp in consumer.assignment()])

    # -- bus ------------------------------------------------------------------------------

    def _dead_letter(self, producer, rejected: list[_Rejected]) -> None:
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
            futures.append(producer.send(topic, key=record.key, value=record.value or b"", headers=headers))
            self.metrics.dead_lettered.labels(record.topic).inc()
        try:
            for future in futures:
                future.get(timeout=30)
        except KafkaError as exc:
            # Not committing: the batch is read again and re-written (idempotent) after a restart.
            raise BusError(f"could not write to the dead-letter topic {topic}: {exc}") from exc

    def _commit(self, consumer, records: list) -> None:
        last: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            last[tp] = max(last.get(tp, -1), record.offset)
        offsets = {tp: OffsetAndMetadata(offset + 1, "", -1) for tp, offset in last.items()}
        try:
            consumer.commit(offsets)
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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def dead_letter_reasons(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    """Headers of a dead-lettered record as a dict (for tools and tests)."""
    return {key: value.decode() for key, value in headers or []}


__all__ = ["Sink", "SinkSettings", "SinkStats", "dead_letter_reasons"]
