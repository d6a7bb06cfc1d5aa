"""Actions on their way to the bus. Each AlertAction is first written to ``desk_outbox`` in the
transaction that records its audit row, then published; one the broker did not take (down,
unreachable) stays pending with its error, is shown as not delivered, and is retried until it is.
Publishing twice is harmless: the event keeps its id, and every consumer is idempotent by it."""

from __future__ import annotations

import asyncio
import logging
import threading

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from ingest.bus import BusError, BusSettings, make_producer
from ingest.contract import AlertAction, encode

log = logging.getLogger(__name__)


class Publisher:
    """One kafka-python producer, used from worker threads, rebuilt after a failure."""

    def __init__(self, bus: BusSettings, *, timeout_s: float) -> None:
        self._bus = bus
        self._timeout_ms = int(timeout_s * 1000)
        self._producer = None
        self._lock = threading.Lock()

    def send(self, key: bytes, value: bytes) -> None:
        """Send and wait for the broker's acknowledgement, or raise BusError saying why."""
        from kafka.errors import KafkaError

        with self._lock:
            try:
                if self._producer is None:
                    self._producer = make_producer(
                        self._bus, linger_ms=0, max_block_ms=self._timeout_ms, request_timeout_ms=self._timeout_ms,
                        bootstrap_timeout_ms=self._timeout_ms, retries=2)
                self._producer.send(self._bus.topics.alert_actions, key=key, value=value).get(timeout=self._timeout_ms / 1000)
            except (KafkaError, BusError) as exc:
                self._drop()
                raise BusError(f"the broker at {self._bus.bootstrap} did not take the action: {exc}") from exc

    def _drop(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception:  # noqa: BLE001, S110 - closing a broken producer may fail in many ways; it is gone either way
                pass
            self._producer = None

    def close(self) -> None:
        with self._lock:
            self._drop()


async def enqueue(conn: AsyncConnection, action: AlertAction) -> None:
    """Add the action to the outbox inside the caller's transaction."""
    await conn.execute(
        "INSERT INTO desk_outbox (event_id, alert_id, camera_id, action, actor, payload) VALUES (%s, %s, %s, %s, %s, %s)",
        (action.event_id, action.alert_id, action.camera_id, action.action, action.actor, encode(action)))


class Outbox:
    def __init__(self, pool: AsyncConnectionPool, publisher: Publisher, *, retry_s: float) -> None:
        self._pool = pool
        self._publisher = publisher
        self._retry_s = retry_s

    async def deliver(self, event_ids: list[str]) -> dict[str, str | None]:
        """Publish these pending actions in order; returns each one's error (None: delivered).
        After the first failure the rest wait for the next retry: the broker is down for them too."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT event_id, camera_id, payload FROM desk_outbox WHERE event_id = ANY(%s) AND status = 'pending' "
                "ORDER BY created_at", (event_ids,))
            rows = await cur.fetchall()
        results: dict[str, str | None] = {event_id: None for event_id in event_ids}
        failure: str | None = None
        for event_id, camera_id, payload in rows:
            if failure is None:
                try:
                    await asyncio.to_thread(self._publisher.send, camera_id.encode(), bytes(payload))
                except BusError as exc:
                    failure = str(exc)
            results[event_id] = failure
            async with self._pool.connection() as conn:
                if failure is None:
                    await conn.execute("UPDATE desk_outbox SET status = 'sent', sent_at = now(), attempts = attempts + 1, "
                                       "last_error = NULL WHERE event_id = %s AND status = 'pending'", (event_id,))
                else:
                    await conn.execute("UPDATE desk_outbox SET attempts = attempts + 1, last_error = %s WHERE event_id = %s",
                                       (failure, event_id))
        return results

    async def pending(self, limit: int = 200) -> list[str]:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT event_id FROM desk_outbox WHERE status = 'pending' ORDER BY created_at LIMIT %s",
                                     (limit,))
            return [row[0] for row in await cur.fetchall()]

    async def prune(self, keep_days: int = 30) -> None:
        """Delivered actions live on in the audit trail and alert_actions; the outbox forgets them."""
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM desk_outbox WHERE status = 'sent' AND sent_at < now() - make_interval(days => %s)",
                               (keep_days,))

    async def retry_forever(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self._retry_s)
            rounds += 1
            try:
                if rounds % 1000 == 1:
                    await self.prune()
                waiting = await self.pending()
                if waiting:
                    results = await self.deliver(waiting)
                    sent = sum(1 for error in results.values() if error is None)
                    log.info("outbox: %d of %d waiting action(s) delivered", sent, len(waiting))
            except Exception as exc:  # noqa: BLE001 - the retry loop must outlive a database outage
                log.warning("outbox retry failed: %s", exc)


