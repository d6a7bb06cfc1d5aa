"""A look at what flows on the bus: topics, consumer groups with their lag, and decoded events.

For operators, where an external Kafka tool cannot talk to the broker (kcat from Debian 12 cannot
speak to the local Tansu broker). Only plain Kafka protocol is used. Tansu reports wrong end
offsets, so lag figures are marked as the broker's, and ``tail`` never starts from the end: it
reads from the beginning and stops when nothing new arrives (or follows).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest import contract
from ingest.bus import BusError, make_consumer
from ingest.errors import InvalidInput
from ingest.settings import BusSettings

# An operator at a terminal wants an answer in seconds, not the client's default half minute.
BOOTSTRAP_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class GroupLag:
    group: str
    committed: int
    lag: int | None  # None where the broker reports no end offset


@dataclass(frozen=True)
class TopicView:
    name: str
    partitions: int
    end_offsets: int | None
    groups: tuple[GroupLag, ...] = ()


@dataclass(frozen=True)
class TailedRecord:
    topic: str
    partition: int
    offset: int
    key: str
    event: contract.AnyEvent | None
    error: str | None = None  # why the record is not a valid event (dead letters: their reason)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def camera_id(self) -> str:
        return self.event.camera_id if self.event is not None else self.key


def resolve_topic(settings: BusSettings, name: str) -> str:
    """A full topic name from a full name or a stem (``crossings``, ``dead-letter``)."""
    topics = settings.topics
    known = [*topics.event_topics(), topics.dead_letter]
    if name in known:
        return name
    by_stem = {full.split(".")[-2]: full for full in known}
    if name.replace("_", "-") in by_stem:
        return by_stem[name.replace("_", "-")]
    raise InvalidInput(f"unknown topic {name!r}: use one of {', '.join(sorted(by_stem))} (or the full names)")


def describe(settings: BusSettings) -> list[TopicView]:
    """Every contract topic with partitions, end offsets and each consumer group's lag."""
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.errors import KafkaError

    names = [*settings.topics.event_topics(), settings.topics.dead_letter]
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id=f"{settings.client_id}-bus-view",
                                 bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    except KafkaError as exc:
        raise BusError(f"cannot reach the Kafka broker at {settings.bootstrap}: {exc}") from exc
    consumer = make_consumer(settings, group_id=None, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    try:
        existing = set(admin.list_topics())
        ends: dict[TopicPartition, int] = {}
        partitions: dict[str, list[TopicPartition]] = {}
        for name in names:
            if name in existing:
                partitions[name] = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
                ends.update(consumer.end_offsets(partitions[name]))
        committed: dict[str, dict[TopicPartition, int]] = {}
        for entry in admin.list_groups():
            group = entry["group_id"] if isinstance(entry, dict) else entry[0]
            offsets = admin.list_group_offsets({group: None}).get(group, {})
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    except KafkaError as exc:
        raise BusError(f"cannot read topics and groups from {settings.bootstrap}: {exc}") from exc
    finally:
        consumer.close()
        admin.close()
    return [_view(name, partitions.get(name), ends, committed) for name in names]


def _view(name: str, parts, ends, committed) -> TopicView:
    if parts is None:
        return TopicView(name=name, partitions=0, end_offsets=None)
    end_total = sum(ends[tp] for tp in parts) if all(tp in ends for tp in parts) else None
    groups = []
    for group, offsets in sorted(committed.items()):
        mine = {tp: off for tp, off in offsets.items() if tp.topic == name}
        if mine:
            lag = None if end_total is None else sum(max(0, ends[tp] - mine.get(tp, 0)) for tp in parts)
            groups.append(GroupLag(group=group, committed=sum(mine.values()), lag=lag))
    return TopicView(name=name, partitions=len(parts), end_offsets=end_total, groups=tuple(groups))


def tail(settings: BusSettings, topic: str, *, camera: str | None = None, follow: bool = False,
         count: int | None = None, idle_s: float = 1.5, timeout: float | None = None) -> Iterator[TailedRecord]:
    """Records of ``topic`` from the beginning, decoded; stops when none arrives for ``idle_s``
    (unless ``follow``), after ``count`` shown records, or after ``timeout`` seconds."""
    from kafka import TopicPartition
    from kafka.errors import KafkaError

    consumer = make_consumer(settings, group_id=None, consumer_timeout_ms=200, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    shown = 0
    started = last_seen = time.monotonic()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not parts:
            raise BusError(f"topic {topic} does not exist on {settings.bootstrap}")
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while True:
            batch = consumer.poll(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    last_seen = time.monotonic()
                    item = decode_record(record)
                    if camera is not None and item.camera_id != camera:
                        continue
                    yield item
                    shown += 1
                    if count is not None and shown >= count:
                        return
            now = time.monotonic()
            if timeout is not None and now - started >= timeout:
                return
            if not follow and not batch and now - last_seen >= idle_s:
                return
    except KafkaError as exc:
        raise BusError(f"reading {topic} from {settings.bootstrap} failed: {exc}") from exc
    finally:
        consumer.close()


def decode_record(record) -> TailedRecord:
    """A Kafka record as an event, or with the reason it is not one (a dead letter's own reason)."""
    headers = {key: value.decode(errors="replace") for key, value in record.headers or []}
    key = (record.key or b"").decode(errors="replace")
    try:
        event = contract.decode(record.value or b"")
        error = None
    except contract.ContractError as exc:
        event, error = None, exc.reason
    if "ioc-error" in headers:
        error = headers["ioc-error"]
    return TailedRecord(topic=record.topic, partition=record.partition, offset=record.offset, key=key,
                        event=event, error=error, headers=headers)


def summary(item: TailedRecord) -> str:
    """One line that says what the event is, for the table view."""
    event = item.event
    if event is None:
        return f"invalid: {item.error}"
    skip = {"v", "event_id", "camera_id", "ts", "objects", "jpeg", "boxes"}
    fields = [f"{name}={getattr(event, name)}" for name in event.__struct_fields__ if name not in skip]
    if isinstance(event, contract.FrameEvent):
        fields.append(f"objects={len(event.objects)}")
    if isinstance(event, contract.Snapshot):  # a picture is no text for a terminal: its size only
        fields.append(f"jpeg={len(event.jpeg)} bytes")
    return f"{contract.type_tag(type(event))} " + " ".join(fields)


def event_time(item: TailedRecord) -> datetime | None:
    return item.event.ts.astimezone(UTC) if item.event is not None else None
