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
        self.dead_lettered = 0

    def _path(self, partition: int) -> Path:
        return self._dir / f"alerts-p{partition}.json"

    def _engine(self, partition: int, generation: int) -> _Held:
        held = self._held.get(partition)
        if held is not None and held.generation == generation:
            return held
        engine = AlertEngine(self._rules, window_s=self._settings.window.window_s, grace_s=self._settings.window.grace_s)
        held = _Held(generation=generation, engine=engine)
        path = self._path(partition)
        try:
            data = read_snapshot(path)
            if data is not None:
                engine.restore(data["engine"], now=time.time())
                held.covered = {t: int(o) for t, o in data.get("offsets", {}).items()}
                held.position = dict(held.covered)
                log.info("alerts p%d: restored %d baseline slot(s), %d alert group(s) from %s", partition,
                         len(engine.baseline), len(engine.book.episodes), path)
        except (ValueError, KeyError, TypeError) as exc:
            # Not a crash loop over one bad file: keep it for inspection and start this
            # partition's state afresh (baselines are relearned), loudly.
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            path.rename(aside)
            log.error("alerts p%d: cannot use snapshot %s (%s); moved it to %s and starting fresh",
                      partition, path, exc, aside)
            engine = AlertEngine(self._rules, window_s=self._settings.window.window_s, grace_s=self._settings.window.grace_s)
            held = _Held(generation=generation, engine=engine)
        self._held[partition] = held
        return held

    async def process(self, batches: dict[Any, list[Any]], generation: int) -> None:
        """Handle records (faust messages or aiokafka records) grouped by partition."""
        if generation != self._app.consumer_generation_id:
            return
        now = time.time()
        alerts = []
        read: list[tuple[_Held, str, int]] = []
        for tp, records in batches.items():
            held = self._engine(tp.partition, generation)
            floor = held.position.get(tp.topic, 0)
            for record in records:
                if record.offset < floor:
                    continue  # reflected in the restored snapshot, or delivered twice
                floor = record.offset + 1
                try:
                    decoded = decode(record.value)
                except ContractError as exc:
                    await self._dead_letter(tp, record, exc.reason)
                    continue
                alerts.extend(held.engine.on_event(decoded, now=now))
            read.append((held, tp.topic, floor))
        await self.publish(alerts)
        # Only now may a snapshot claim these offsets: their alerts are on the bus.
        for held, topic, next_offset in read:
            held.position[topic] = max(next_offset, held.position.get(topic, 0))

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

    async def _dead_letter(self, tp: Any, record: Any, reason: str) -> None:
        source = f"{tp.topic}[{tp.partition}]@{record.offset}"
        log.warning("dead-lettering %s: %s", source, reason)
        self.dead_lettered += 1
        headers = [("reason", reason.encode()), ("source", source.encode())]
        await self._app.producer.send_and_wait(self._settings.bus.topics.dead_letter, record.key, record.value, None, None, headers)


def _tp(topic: str, partition: int) -> Any:
    from faust.types import TP

    return TP(topic, partition)


def wire_alerting(app: Any, settings: ProcessorSettings) -> AlertRouter:
    """The alerting agent on the low-volume topics; zone samples reach the router in bulk with
    the counting records (see ``processors.app``)."""
    topics = settings.bus.topics
    router = AlertRouter(app=app, settings=settings)
    app.hold(HOLDER, alert_inputs(topics))
    inputs = app.topic(topics.incidents, topics.health, topics.counts, topics.alert_actions,
                       key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw", acks=False)

    @app.agent(inputs, name="alerting")
    async def alerting(stream: Any) -> None:
        async for events in stream.noack_take(1000, within=0.2):
            generation = app.consumer_generation_id
            by_partition: dict[Any, list[Any]] = {}
            for event in events:
                if event.message.generation_id == generation:
                    by_partition.setdefault(event.message.tp, []).append(event.message)
            await router.process(by_partition, generation)

    # camera_offline is the one rule on processing time: a silent camera has no event time.
    @app.timer(interval=settings.offline_check_interval_s)
    async def offline_check() -> None:
        await router.tick()

    @app.timer(interval=settings.snapshot_interval_s)
    async def snapshot() -> None:
        router.snapshot()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        mine = {tp.partition for tp in revoked if tp.topic in alert_inputs(topics)}
        router.snapshot(mine)
        router.forget(mine)

    return router


def alert_inputs(topics: Any) -> tuple[str, ...]:
    return (topics.zones, topics.incidents, topics.health, topics.counts, topics.alert_actions)
