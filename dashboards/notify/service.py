"""The notifier service: reads the alerts topic, sends each route its notifications, once.

What is a notification: an alert episode's opening (``open``), an open alert whose severity rose
above what the route was last told (``escalated``), and its end (``resolved``, only to routes
that were told about it). Periodic ``update`` steps of an open alert are not notifications: one
jam is one message, not one a minute.

Once, across restarts: each notification has a key (alert, transition, event time) and a row in
``notifications_sent`` (``dashboards.notify.ledger``) claimed before it is sent. Offsets are committed
after the batch's rows are final, so a restart re-reads at most one batch, and the ledger skips
what it sent. Event time, not event id, is in the key: processors that restart and re-emit an
alert step emit it with the same event time.

Delivery: each attempt that fails with a retriable error is retried with exponential backoff
and full jitter (``attempts``, ``backoff_initial_s``, ``backoff_max_s``); a notification that
still fails is marked 'failed', logged as an error, and the service goes on (one dead receiver
must not hold back the others). Routes may be limited to districts: the camera's district is
read from the registry (``cameras.district``; absent column or camera: unknown district, which a
district-scoped route does not carry).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from dashboards.notify import ledger
from dashboards.notify.channels import DeliveryFailed, Message, deliver_email, deliver_telegram, deliver_webhook
from dashboards.notify.config import SEVERITY_ORDER, RoutesConfig
from ingest import alert_text
from ingest.bus import BusSettings, join_group_async, make_async_consumer
from ingest.contract import Alert, ContractError, decode
from ingest.db import DatabaseError, DatabaseUnavailable, DbSettings, connect
from ingest.errors import ServiceUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class NotifierSettings:
    bus: BusSettings
    db: DbSettings
    routes: RoutesConfig
    group_id: str = ""
    attempts: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    #: the alert desk's address, for a link in each message (None: no link)
    desk_url: str | None = None
    camera_refresh_s: float = 60.0
    #: alert steps older than this (event time) are not notified: a first start on a topic with
    #: months of history, or a return after a long outage, must not page anyone about the past
    max_age: timedelta = timedelta(minutes=15)
    keep_ledger: timedelta = timedelta(days=90)

    def __post_init__(self) -> None:
        if not self.group_id:
            object.__setattr__(self, "group_id", f"{self.bus.namespace}-notifier")
        if self.attempts < 1:
            raise ValueError("NotifierSettings.attempts must be at least 1")


@dataclass
class NotifierStats:
    alerts: int = 0
    sent: int = 0
    failed: int = 0
    duplicates: int = 0
    stale: int = 0
    retries: int = 0
    by_route: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CameraEntry:
    name: str | None = None
    district: str | None = None
    lines: tuple = ()


def transition_of(alert: Alert, told_severity: str | None) -> str | None:
    """What this alert step means to a route that was last told ``told_severity`` (None: nothing)."""
    if alert.state == "open":
        return "open"
    if alert.state == "resolved":
        return "resolved" if told_severity is not None else None
    if told_severity is None or SEVERITY_ORDER.get(alert.severity, 0) > SEVERITY_ORDER.get(told_severity, 0):
        return "escalated"
    return None


def notification_key(alert: Alert, transition: str) -> str:
    return f"{alert.alert_id}/{transition}/{alert.severity}/{alert.ts.isoformat()}"


def render(alert: Alert, transition: str, camera: CameraEntry, languages: tuple[str, ...], *,
           delivery_id: str, desk_url: str | None) -> Message:
    """The message in each of the route's languages, one after the other."""
    titles, rules, blocks = {}, {}, []
    subject = ""
    for lang in languages:
        subj, body = alert_text.alert_summary(
            rule=alert.rule, severity=alert.severity, state=alert.state, details=alert.details, lang=lang,
            camera_name=camera.name, camera_id=alert.camera_id, fallback_title=alert.title, lines=camera.lines)
        if transition == "escalated":
            subj = ("[NÂNG MỨC] " if lang == "vi" else "[ESCALATED] ") + subj
        subject = subject or subj
        titles[lang] = alert_text.alert_title(alert.rule, alert.details, lang, fallback=alert.title, lines=camera.lines)
        rules[lang] = alert_text.rule_name(alert.rule, lang)
        blocks.append(f"{subj}\n{body}")
    link = f"{desk_url.rstrip('/')}/alerts/{alert.alert_id}" if desk_url else None
    text = "\n\n".join(blocks) + (f"\n\n{link}" if link else "")
    payload: dict[str, Any] = {
        "delivery_id": delivery_id, "transition": transition, "alert_id": alert.alert_id,
        "camera_id": alert.camera_id, "camera_name": camera.name, "district": camera.district,
        "rule": alert.rule, "rule_name": rules, "severity": alert.severity, "state": alert.state,
        "title": titles, "opened_at": alert.opened_at.isoformat(), "ts": alert.ts.isoformat(),
        "details": dict(alert.details), "url": link,
    }
    return Message(delivery_id=delivery_id, subject=subject, text=text, payload=payload)


class CameraDirectory:
    """Camera names, lines and districts from the registry, refreshed now and then."""

    def __init__(self, refresh_s: float) -> None:
        self._refresh_s = refresh_s
        self._cameras: dict[str, CameraEntry] = {}
        self._loaded_at = -float("inf")

    def get(self, conn: psycopg.Connection, camera_id: str) -> CameraEntry:
        stale = time.monotonic() - self._loaded_at > self._refresh_s
        if stale or (camera_id not in self._cameras and time.monotonic() - self._loaded_at > 1.0):
            self._load(conn)
        return self._cameras.get(camera_id, CameraEntry())

    def _load(self, conn: psycopg.Connection) -> None:
        has_district = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'cameras' AND column_name = 'district'").fetchone() is not None
        district = "district" if has_district else "NULL::text"
        rows = conn.execute(f"SELECT camera_id, name, lines, {district} FROM cameras").fetchall()
        conn.commit()
        self._cameras = {cid: CameraEntry(name, dist, tuple(lines or ())) for cid, name, lines, dist in rows}
        self._loaded_at = time.monotonic()


class Notifier:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.stats = NotifierStats()
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._cameras = CameraDirectory(settings.camera_refresh_s)
        self._random = random.Random()

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, count: int | None = None, timeout: float | None = None, idle_timeout: float | None = None) -> NotifierStats:
        """Until ``count`` alert events are handled, ``timeout`` s pass, ``idle_timeout`` s pass
        without one, or ``stop()``."""
        import httpx

        self._stop.clear()
        with httpx.Client(follow_redirects=False) as client:
            self._client = client
            asyncio.run(self._run(count=count, timeout=timeout, idle_timeout=idle_timeout))
        return self.stats

    async def _run(self, *, count: int | None, timeout: float | None, idle_timeout: float | None) -> None:
        from aiokafka.errors import KafkaError
        from aiokafka.structs import OffsetAndMetadata, TopicPartition

        bus = self.settings.bus
        try:
            pruned = ledger.prune(self._connection(), self.settings.keep_ledger)
            if pruned:
                log.info("forgot %d notifications older than %s", pruned, self.settings.keep_ledger)
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:  # the alerts wait for it below
            log.warning("database unavailable at start (%s); old notifications are forgotten next time", exc)
            self._conn = None
        except psycopg.errors.UndefinedTable as exc:
            raise DatabaseError(f"{str(exc).splitlines()[0]}; run `ioc db migrate`") from exc
        consumer = await join_group_async(bus, lambda: make_async_consumer(bus, group_id=self.settings.group_id),
                                          group_id=self.settings.group_id, topics=[bus.topics.alerts])
        started = last_record = time.monotonic()
        handled = 0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if (timeout is not None and now - started >= timeout) or (
                        idle_timeout is not None and now - last_record >= idle_timeout) or (
                        count is not None and handled >= count):
                    break
                try:
                    polled = await consumer.getmany(timeout_ms=300, max_records=200)
                except KafkaError as exc:
                    raise ServiceUnavailable(f"polling {bus.bootstrap} failed: {exc}") from exc
                offsets = {}
                for tp, records in polled.items():
                    for record in records:
                        await self._handle(record)
                        handled += 1
                    offsets[TopicPartition(tp.topic, tp.partition)] = OffsetAndMetadata(records[-1].offset + 1, "")
                if offsets:
                    last_record = time.monotonic()
                    await consumer.commit(offsets)
        finally:
            await consumer.stop()
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            log.info("notifier: alerts=%d sent=%d failed=%d duplicates=%d retries=%d", self.stats.alerts,
                     self.stats.sent, self.stats.failed, self.stats.duplicates, self.stats.retries)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.settings.db)
        return self._conn

    async def _handle(self, record: Any) -> None:
        try:
            alert = decode(record.value or b"")
        except ContractError as exc:  # the sink dead-letters it; here it is only not a notification
            log.warning("skipping %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc.reason)
            return
        if not isinstance(alert, Alert):
            return
        self.stats.alerts += 1
        age = datetime.now(UTC) - alert.ts
        if age > self.settings.max_age:
            self.stats.stale += 1
            log.info("not notifying %s %s: %s old (max %s)", alert.state, alert.alert_id, age, self.settings.max_age)
            return
        delay = self.settings.backoff_initial_s
        while True:  # the database down: hold this alert (offsets stay uncommitted) and retry
            try:
                await self._notify(alert)
                return
            except psycopg.errors.UndefinedTable as exc:  # a deployment fault, not a passing outage
                raise DatabaseError(f"{str(exc).splitlines()[0]}; run `ioc db migrate`") from exc
            except (psycopg.OperationalError, psycopg.InterfaceError, DatabaseUnavailable) as exc:
                if self._stop.is_set():
                    raise ServiceUnavailable(f"stopped while the database was unavailable: {exc}") from exc
                log.warning("database unavailable (%s); retrying in %.1f s", str(exc).strip().splitlines()[0], delay)
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.backoff_max_s)

    async def _notify(self, alert: Alert) -> None:
        conn = self._connection()
        camera = self._cameras.get(conn, alert.camera_id)
        for route in self.settings.routes.routes:
            transition = transition_of(alert, ledger.last_severity(conn, route.name, alert.alert_id))
            conn.commit()
            if transition is None or not route.carries(rule=alert.rule, severity=alert.severity,
                                                       district=camera.district, transition=transition):
                continue
            key = notification_key(alert, transition)
            claim = ledger.Claim(route=route.name, key=key, alert_id=alert.alert_id, camera_id=alert.camera_id,
                                 rule=alert.rule, transition=transition, severity=alert.severity, channel=route.channel)
            if not ledger.claim(conn, claim):
                self.stats.duplicates += 1
                continue
            delivery_id = f"{route.name}:{key}"
            message = render(alert, transition, camera, route.languages, delivery_id=delivery_id,
                             desk_url=self.settings.desk_url)
            attempts, error = await self._deliver(route, message)
            ledger.finish(conn, claim, sent=error is None, attempts=attempts, error=error)
            if error is None:
                self.stats.sent += 1
                self.stats.by_route[route.name] = self.stats.by_route.get(route.name, 0) + 1
                log.info("notified %s of %s %s (%s) after %d attempt(s)", route.name, transition, alert.alert_id,
                         alert.rule, attempts)
            else:
                self.stats.failed += 1
                log.error("could not notify %s of %s %s after %d attempt(s): %s", route.name, transition,
                          alert.alert_id, attempts, error)

    async def _deliver(self, route: Any, message: Message) -> tuple[int, str | None]:
        """(attempts made, None or the last error)."""
        s = self.settings
        for attempt in range(1, s.attempts + 1):
            try:
                await asyncio.to_thread(self._send_once, route, message)
                return attempt, None
            except DeliveryFailed as exc:
                if not exc.retriable or attempt == s.attempts or self._stop.is_set():
                    return attempt, exc.reason
                # Full jitter: receivers that failed together are not hit again together.
                pause = self._random.uniform(0, min(s.backoff_max_s, s.backoff_initial_s * 2 ** (attempt - 1)))
                self.stats.retries += 1
                log.warning("%s: attempt %d failed (%s); retrying in %.2f s", route.name, attempt, exc.reason, pause)
                await asyncio.sleep(pause)
        return s.attempts, "no attempt made"

    def _send_once(self, route: Any, message: Message) -> None:
        if route.channel == "webhook":
            deliver_webhook(route, message, self._client)
        elif route.channel == "telegram":
            deliver_telegram(route, message, self._client)
        else:
            deliver_email(route, message)
