"""The alerting processor's faust layer: camera events in, Alert events out.

One ``AlertEngine`` per input partition number (all input topics are keyed by camera with the
same partition count, and faust assigns a partition number of every topic of an agent to the
same worker), so a camera's state moves with its partition.

Persistence: each engine is snapshotted to ``<state_dir>/<app id>/alerts-p<N>.json``, written
atomically (temp file, fsync, rename) every few seconds and when its partitions are revoked,
together with the input offsets it covers. Only then are those offsets committed. A worker that
gets the partition (after a restart, or another worker sharing the state dir) loads the snapshot
and skips what it covers, so baselines, open alerts and silences are neither lost nor applied
twice. A file, not a compacted topic: Tansu has no compaction and wrong end offsets, so reading
a state topic back would be the very changelog recovery that fails on it. Workers on several
hosts need the state dir on a shared volume.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.contract import ContractError, decode, encode, partition_key
from processors.baseline import read_snapshot, write_atomically
from processors.config import load_rules
from processors.rules import AlertEngine
from processors.settings import ProcessorSettings

log = logging.getLogger(__name__)

HOLDER = "alerting"


@dataclass
class _Held:
    generation: int
    engine: AlertEngine
    #: topic -> next offset the engine state reflects (saved in the snapshot)
    covered: dict[str, int] = field(default_factory=dict)
    #: topic -> next offset processed since
    position: dict[str, int] = field(default_factory=dict)


class AlertRouter:
    def __init__(self, *, app: Any, settings: ProcessorSettings) -> None:
        self._app = app
        self._settings = settings
        self._rules = load_rules(settings.rules_path)
        self._held: dict[int, _Held] = {}
        self._dir = Path(settings.state_dir) / settings.app_id
        self.alerts_sent = 0

    def _path(self, partition: int) -> Path:
        return self._dir / f"alerts-p{partition}.json"

    def _engine(self, partition: int, generation: int) -> _Held:
        held = self._held.get(partition)
        if held is not None and held.generation == generation:
            return held
        engine = AlertEngine(self._rules, window_s=self._settings.window.window_s, grace_s=self._settings.window.grace_s)
        held = _Held(generation=generation, engine=engine)
        data = read_snapshot(self._path(partition))
        if data is not None:
            engine.restore(data["engine"], now=time.time())
            held.covered = {t: int(o) for t, o in data.get("offsets", {}).items()}
            held.position = dict(held.covered)
            log.info("alerts p%d: restored %d baseline slot(s), %d alert group(s) from %s", partition,
                     len(engine.baseline), len(engine.book.episodes), self._path(partition))
        self._held[partition] = held
        return held

    async def process(self, events: Any) -> None:
        generation = self._app.consumer_generation_id
        now = time.time()
        alerts = []
        read: list[tuple[_Held, str, int]] = []
        batch_next: dict[tuple[int, str], int] = {}
        for event in events:
            message = event.message
            if message.generation_id != generation:
                continue
            held = self._engine(message.partition, generation)
            lane = (message.partition, message.topic)
            if message.offset < batch_next.get(lane, held.position.get(message.topic, 0)):
                continue  # reflected in the restored snapshot, or delivered twice
            batch_next[lane] = message.offset + 1
            read.append((held, message.topic, message.offset + 1))
            try:
                decoded = decode(message.value)
            except ContractError as exc:
                await self._dead_letter(message, exc.reason)
                continue
            alerts.extend(held.engine.on_event(decoded, now=now))
        await self.publish(alerts)
        # Only now may a snapshot claim these offsets: their alerts are on the bus.
        for held, topic, next_offset in read:
            held.position[topic] = next_offset

    async def tick(self) -> None:
        now = time.time()
        alerts = []
        for held in list(self._held.values()):
            alerts.extend(held.engine.on_tick(now))
        await self.publish(alerts)

    async def publish(self, alerts: list) -> None:
        if not alerts:
            return
        producer = self._app.producer
        futures = [await producer.send(self._settings.bus.topics.alerts, partition_key(a), encode(a), None, None, None)
                   for a in alerts]
        for future in futures:
            await future
        self.alerts_sent += len(alerts)
        for alert in alerts:
            log.info("alert %s %s %s [%s]: %s", alert.state, alert.group_key, alert.alert_id, alert.severity, alert.title)

    def snapshot(self, partitions: set[int] | None = None) -> None:
        """Persist engines, then let their covered offsets be committed."""
        generation = self._app.consumer_generation_id
        for partition, held in list(self._held.items()):
            if partitions is not None and partition not in partitions:
                continue
            covered = dict(held.position)
            write_atomically(self._path(partition), {"engine": held.engine.to_data(), "offsets": covered})
            held.covered = covered
            if held.generation == generation:
                for topic, offset in covered.items():
                    self._app.consumer.set_commit_point(_tp(topic, partition), HOLDER, offset)

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._held.pop(partition, None)

    async def _dead_letter(self, message: Any, reason: str) -> None:
        log.warning("dead-lettering %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason)
        headers = [("reason", reason.encode()), ("source", f"{message.topic}[{message.partition}]@{message.offset}".encode())]
        await self._app.producer.send_and_wait(self._settings.bus.topics.dead_letter, message.key, message.value, None, None, headers)


def _tp(topic: str, partition: int) -> Any:
    from faust.types import TP

    return TP(topic, partition)


def wire_alerting(app: Any, settings: ProcessorSettings) -> AlertRouter:
    topics = settings.bus.topics
    router = AlertRouter(app=app, settings=settings)
    app.router = router
    names = (topics.zones, topics.incidents, topics.health, topics.counts, topics.alert_actions)
    app.hold(HOLDER, names)
    inputs = app.topic(*names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw", acks=False)

    @app.agent(inputs, name="alerting")
    async def alerting(stream: Any) -> None:
        async for events in stream.noack_take(1000, within=0.2):
            await router.process(events)

    # camera_offline is the one rule on processing time: a silent camera has no event time.
    @app.timer(interval=settings.offline_check_interval_s)
    async def offline_check() -> None:
        await router.tick()

    @app.timer(interval=settings.snapshot_interval_s)
    async def snapshot() -> None:
        router.snapshot()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        mine = {tp.partition for tp in revoked if tp.topic in names}
        router.snapshot(mine)
        router.forget(mine)

    return router
