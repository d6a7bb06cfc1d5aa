"""Where an agent's events go: Kafka (with an on-disk spool for outages) or a JSON-lines file.

``KafkaSink`` sends in small batches (key = camera_id, acks=all, compressed, via ``ingest.bus``).
When the broker cannot be reached, events are appended to a ``DiskSpool`` instead; once anything
is spooled, newer events queue behind it, and the spool is replayed in order when the broker is
back, so a camera's events reach Kafka complete and in order. Delivery is at least once (an event
whose acknowledgement was lost may be sent again); every event carries its ``event_id`` so the
database writer drops repeats. The spool is bounded: when full, new events are refused with a loud
error (counted in ``stats``). Events the broker rejects for good (too large) go to
``rejected.jsonl`` in the spool folder with the reason: nothing disappears silently.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ingest.bus import BusError, BusSettings, make_producer
from ingest.contract import ContractError, Event, decode, encode, partition_key
from ingest.errors import InvalidInput

log = logging.getLogger(__name__)


class Sink(Protocol):
    def send(self, event: Event) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class PublishError(InvalidInput):
    """A sink that cannot be opened or written (file not writable, spool folder in use)."""


# --- simple sinks -----------------------------------------------------------------------------


class JsonlSink:
    """One contract-encoded event per line. Many cameras can share one file, in one process or in
    several (``append``: added to the file, not started afresh): each line is one write to a file
    opened for appending, which the system never interleaves with another's."""

    def __init__(self, path: str | Path, *, append: bool = False) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | (0 if append else os.O_TRUNC), 0o644)
        except OSError as exc:
            raise PublishError(f"cannot write events to {self.path}: {exc.strerror or exc}") from None
        self._lock = threading.Lock()

    def send(self, event: Event) -> None:
        line = encode(event) + b"\n"
        with self._lock:
            if self._fd is None:
                raise PublishError(f"events file {self.path} is closed")
            try:
                written = os.write(self._fd, line)
                while written < len(line):  # only a full disk or a signal cuts a write short
                    written += os.write(self._fd, line[written:])
            except OSError as exc:
                raise PublishError(f"cannot write events to {self.path}: {exc.strerror or exc}") from None

    def flush(self) -> None:
        pass  # every line is written as it is sent

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class MemorySink:
    """Keeps events in a list: for tests, benchmarks and offline evaluation."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def send(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


# --- the spool --------------------------------------------------------------------------------


class DiskSpool:
    """An append-only, size-bounded queue of encoded events in segment files, with a cursor.

    ``segment-<n>.jsonl`` files hold the records in order; ``cursor`` holds the segment and byte
    offset of the first record not yet delivered, rewritten atomically after each delivered batch.
    A lock file keeps two agents from sharing one spool.
    """

    def __init__(self, directory: str | Path, *, max_bytes: int = 512 * 1024**2, segment_bytes: int = 8 * 1024**2) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_file = (self.directory / "lock").open("w")
        except OSError as exc:
            raise PublishError(f"cannot use spool folder {self.directory}: {exc}") from None
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise PublishError(f"spool folder {self.directory} is in use by another agent; give each agent its own") from None
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self.dropped = 0
        self._last_full_warning = float("-inf")
        self._cursor_segment, self._cursor_offset = self._read_cursor()
        self._bytes = sum(p.stat().st_size for p in self._segments())

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob("segment-*.jsonl"))

    @staticmethod
    def _number(path: Path) -> int:
        return int(path.stem.split("-", 1)[1])

    def _read_cursor(self) -> tuple[int, int]:
        try:
            segment, offset = (self.directory / "cursor").read_text().split()
            return int(segment), int(offset)
        except (OSError, ValueError):
            return 0, 0

    def _write_cursor(self) -> None:
        tmp = self.directory / "cursor.tmp"
        tmp.write_text(f"{self._cursor_segment} {self._cursor_offset}\n")
        os.replace(tmp, self.directory / "cursor")

    @property
    def empty(self) -> bool:
        return self.pending_bytes == 0

    @property
    def room(self) -> int:
        """Bytes it takes before it refuses events."""
        return max(0, self._max_bytes - self._bytes)

    @property
    def pending_bytes(self) -> int:
        return max(0, self._bytes - self._cursor_offset_bytes())

    def _cursor_offset_bytes(self) -> int:
        segments = self._segments()
        return self._cursor_offset if segments and self._number(segments[0]) == self._cursor_segment else 0

    def append(self, records: list[bytes]) -> int:
        """Appends records (no newlines inside); returns how many were refused because it is full."""
        refused = 0
        segments = self._segments()
        path = segments[-1] if segments else None
        if path is None or path.stat().st_size >= self._segment_bytes:
            number = self._number(path) + 1 if path else max(1, self._cursor_segment)
            path = self.directory / f"segment-{number:012d}.jsonl"
        with path.open("ab") as out:
            for record in records:
                size = len(record) + 1
                if self._bytes + size > self._max_bytes:
                    refused += 1
                    continue
                out.write(record + b"\n")
                self._bytes += size
            out.flush()
            os.fsync(out.fileno())
        if refused:
            self.dropped += refused
            now = time.monotonic()
            if now - self._last_full_warning > 10:
                self._last_full_warning = now
                log.error(
                    "SPOOL FULL: %s holds %d bytes (limit %d); %d events refused so far. The broker has been "
                    "unreachable too long: fix the connection or raise the spool limit.",
                    self.directory, self._bytes, self._max_bytes, self.dropped,
                )  # fmt: skip
        return refused

    def read(self, max_records: int) -> tuple[list[bytes], tuple[int, int]]:
        """The oldest undelivered records and the position after them (pass to ``commit``)."""
        for path in self._segments():
            number = self._number(path)
            offset = self._cursor_offset if number == self._cursor_segment else 0
            if number < self._cursor_segment:
                continue
            records: list[bytes] = []
            with path.open("rb") as src:
                src.seek(offset)
                for line in src:
                    if not line.endswith(b"\n"):
                        break  # a torn last write (crash mid-append): never deliver half a record
                    records.append(line[:-1])
                    offset += len(line)
                    if len(records) >= max_records:
                        break
            if records:
                return records, (number, offset)
        return [], (self._cursor_segment, self._cursor_offset)

    def commit(self, position: tuple[int, int]) -> None:
        """Marks everything before ``position`` delivered and deletes finished segments."""
        segment, offset = position
        self._cursor_segment, self._cursor_offset = segment, offset
        for path in self._segments():
            number, size = self._number(path), path.stat().st_size
            if number < segment or (number == segment and offset >= size):
                self._bytes -= size
                path.unlink()
                if number == segment:
                    self._cursor_segment, self._cursor_offset = segment + 1, 0
        self._write_cursor()

    def close(self) -> None:
        self._lock_file.close()


def adopt_spool(orphan: Path, into: Path, *, max_bytes: int) -> int:
    """Move the events still waiting in ``orphan``, a spool no agent sends from any more (an agent
    since run with fewer worker processes), to the end of the spool at ``into``; returns how many
    moved. ``orphan`` is removed once empty. What ``into`` has no room for stays in ``orphan``,
    with an error saying so. Copied before they are taken out: a crash between the two sends them
    twice, which the database writer drops by their ids, but never loses them."""
    source = DiskSpool(orphan, max_bytes=max_bytes)
    target = DiskSpool(into, max_bytes=max_bytes)
    moved = 0
    try:
        while True:
            records, position = source.read(1000)
            if not records:
                break
            if sum(len(r) + 1 for r in records) > target.room:
                log.error("spool %s has no room for the %d bytes of events left in %s; they stay there: "
                          "raise the spool limit, or run with as many workers as before", into, source.pending_bytes, orphan)
                break
            target.append(records)
            source.commit(position)
            moved += len(records)
        emptied = source.empty
    finally:
        source.close()
        target.close()
    if emptied:  # its lock and cursor are all that is left
        for path in orphan.iterdir():
            path.unlink()
        orphan.rmdir()
    return moved


# --- Kafka ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class KafkaSinkSettings:
    bus: BusSettings
    spool_dir: Path
    spool_max_bytes: int = 512 * 1024**2
    batch_size: int = 500
    linger_s: float = 0.25
    send_timeout_s: float = 10.0
    retry_min_s: float = 1.0
    retry_max_s: float = 30.0
    producer_overrides: dict[str, object] = field(default_factory=dict)


@dataclass
class SinkStats:
    sent: int = 0
    spooled: int = 0
    replayed: int = 0
    refused: int = 0
    rejected: int = 0


class KafkaSink:
    """Publishes contract events to Kafka; spools to disk while the broker is unreachable.

    ``send`` only queues: a publisher thread batches, delivers, spools and reconnects, so a broker
    outage (connection attempts take seconds) never stalls a camera's analysis. Thread-safe: the
    cameras of one agent share one sink.
    """

    def __init__(self, settings: KafkaSinkSettings, *, max_queued: int = 100_000) -> None:
        self.settings = settings
        self.stats = SinkStats()
        self._spool = DiskSpool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
        self._producer = None
        self._retry_at = 0.0
        self._retry_delay = settings.retry_min_s
        self._connect()  # before the thread: what an earlier run spooled goes first
        self._drain()
        self._queue: list[bytes] = []
        self._max_queued = max_queued
        self._enqueued = self._handled = 0
        self._flush_wanted = self._forced_passes = 0
        self._stopping = False
        self._cond = threading.Condition()
        self._worker = threading.Thread(target=self._run, name="kafka-publisher", daemon=True)
        self._worker.start()

    @property
    def spool_pending_bytes(self) -> int:
        return self._spool.pending_bytes

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def send(self, event: Event) -> None:
        record = encode(event)
        with self._cond:
            while len(self._queue) >= self._max_queued and self._worker.is_alive():
                self._cond.wait(0.5)  # back-pressure only if the publisher is stuck on a full disk
            self._queue.append(record)
            self._enqueued += 1
            if len(self._queue) >= self.settings.batch_size:
                self._cond.notify_all()

    def flush(self) -> None:
        """Returns once every event sent so far is delivered or spooled (reconnecting if needed)."""
        with self._cond:
            target, passes = self._enqueued, self._forced_passes
            self._flush_wanted += 1
            self._cond.notify_all()
            while (self._handled < target or self._forced_passes <= passes) and self._worker.is_alive():
                self._cond.wait(0.5)
            self._flush_wanted -= 1

    def close(self) -> None:
        self.flush()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._worker.join()
        if self._producer is not None:
            self._producer.close(timeout=self.settings.send_timeout_s)
            self._producer = None
        self._spool.close()
        if not self._spool.empty:
            log.warning("%d bytes of events stay spooled in %s; they are sent when an agent starts with this spool",
                        self._spool.pending_bytes, self._spool.directory)  # fmt: skip

    # --- the publisher thread ---

    def _run(self) -> None:
        while True:
            with self._cond:
                deadline = time.monotonic() + self.settings.linger_s
                while len(self._queue) < self.settings.batch_size and not self._stopping and not self._flush_wanted:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                records, self._queue = self._queue, []
                forced, target, stopping = self._flush_wanted > 0, self._enqueued, self._stopping
                self._cond.notify_all()  # senders waiting on a full queue
            try:
                self._flush_records(records, force_retry=forced)
            except Exception:  # never lose the thread: what could not be sent is kept on disk
                log.exception("publisher failed; spooling %d events", len(records))
                self._to_spool(records)
            with self._cond:
                self._handled = target
                if forced:
                    self._forced_passes += 1
                self._cond.notify_all()
                if stopping and not self._queue:
                    return

    def _flush_records(self, records: list[bytes], *, force_retry: bool = False) -> None:
        if self._producer is None and (force_retry or time.monotonic() >= self._retry_at):
            self._connect()
        if self._producer is not None and not self._spool.empty:
            self._drain()
        if not records:
            return
        if self._producer is None or not self._spool.empty:
            self._to_spool(records)
            return
        delivered, failed = self._deliver(records)
        self.stats.sent += delivered
        if failed:
            self._to_spool(failed)

    def _to_spool(self, records: list[bytes]) -> None:
        refused = self._spool.append(records)
        self.stats.spooled += len(records) - refused
        self.stats.refused += refused

    def _connect(self) -> None:
        overrides = dict(
            bootstrap_timeout_ms=3000, max_block_ms=3000, request_timeout_ms=5000, delivery_timeout_ms=8000,
            max_in_flight_requests_per_connection=1,  # keeps order when a batch is retried
        )  # fmt: skip
        overrides.update(self.settings.producer_overrides)
        try:
            self._producer = make_producer(self.settings.bus, **overrides)
        except BusError as exc:
            self._backoff(f"broker unreachable, events go to the spool in {self._spool.directory}: {exc}")
            return
        except Exception as exc:  # kafka-python raises KafkaTimeoutError outside BusError's net at bootstrap
            self._backoff(f"broker unreachable, events go to the spool in {self._spool.directory}: {exc}")
            return
        self._retry_delay = self.settings.retry_min_s

    def _backoff(self, why: str) -> None:
        log.warning("%s; retrying in %.0f s", why, self._retry_delay)
        self._producer = None
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, self.settings.retry_max_s)

    def _deliver(self, records: list[bytes]) -> tuple[int, list[bytes]]:
        """Sends records, waits for acks; returns (delivered, records to retry later, in order)."""
        from kafka.errors import KafkaError

        assert self._producer is not None
        futures = []
        unsent: list[bytes] = []
        failure = ""
        for index, record in enumerate(records):
            try:
                event = decode(record)
            except ContractError as exc:  # a record no consumer could read: set aside, never retried
                self._reject(record, f"not a valid event: {exc.reason}")
                continue
            try:
                futures.append((record, self._producer.send(self.settings.bus.topics.for_event(event), key=partition_key(event), value=record)))
            except Exception as exc:  # noqa: BLE001 - kafka-python also fails outside KafkaError while a broker restarts
                # (a topic whose metadata is momentarily gone makes it index None): transient, like a KafkaError
                if isinstance(exc, KafkaError) and _is_permanent(exc):
                    self._reject(record, f"{type(exc).__name__}: {exc}")  # e.g. too large: retrying cannot help
                    continue
                # What was handed over before the failure is still awaited below, so it is not sent twice.
                unsent, failure = records[index:], f"send failed: {type(exc).__name__}: {exc}"
                break
        try:
            self._producer.flush(timeout=self.settings.send_timeout_s)
        except KafkaError:
            pass  # each future below says what happened
        delivered = 0
        retry: list[bytes] = []
        for record, future in futures:
            if future.succeeded():
                delivered += 1
                continue
            exc = future.exception if future.is_done else None
            if exc is not None and _is_permanent(exc):
                self._reject(record, f"{type(exc).__name__}: {exc}")
                continue
            retry.append(record)
        if retry and not failure:
            failure = f"{len(retry)} events not acknowledged"
        retry.extend(unsent)
        if failure:
            self._close_producer(failure)
        return delivered, retry

    def _drain(self) -> None:
        """Replays the spool in order while the broker takes it."""
        while self._producer is not None and not self._spool.empty:
            records, position = self._spool.read(self.settings.batch_size)
            if not records:
                break
            delivered, retry = self._deliver(records)
            if retry:
                break  # the spool keeps the whole batch; what was delivered may be sent again (at least once)
            self._spool.commit(position)
            self.stats.replayed += delivered
            log.info("replayed %d spooled events (%d bytes still spooled)", delivered, self._spool.pending_bytes)

    def _close_producer(self, why: str) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception:  # closing a producer whose broker is gone may raise; it is being dropped anyway
                pass
        self._backoff(f"Kafka at {self.settings.bus.bootstrap} failed ({why}); spooling")

    def _reject(self, record: bytes, reason: str) -> None:
        self.stats.rejected += 1
        log.error("the broker rejected an event for good (%s); kept in %s/rejected.jsonl", reason, self._spool.directory)
        with (self._spool.directory / "rejected.jsonl").open("ab") as out:
            out.write(b'{"reason": ' + _json_string(reason) + b', "event": ' + record + b"}\n")


def _json_string(text: str) -> bytes:
    import msgspec

    return msgspec.json.encode(text)


def _is_permanent(exc: BaseException) -> bool:
    """Whether sending this record again can never succeed (it is too large or corrupt). Anything
    else, including errors kafka-python calls non-retriable but that come from a broker that
    restarted (a lost producer id: "Unexpected error in InitProducerIdResponse"), is retried from
    the spool with a new producer: a restart must not set a camera's events aside."""
    import kafka.errors

    kinds = tuple(getattr(kafka.errors, name) for name in (
        "MessageSizeTooLargeError", "RecordListTooLargeError", "CorruptRecordError", "InvalidRecordError")
        if hasattr(kafka.errors, name))
    return isinstance(exc, kinds)
