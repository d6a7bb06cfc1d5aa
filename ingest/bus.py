"""Kafka plumbing shared by every stage: settings, topic creation, producers and consumers.

Only plain Kafka protocol is used, so the same code runs on Apache Kafka and on the local
Tansu broker. Tansu quirks it respects: group joins take half the session timeout (so the
session timeout is short), its end offsets are wrong (nothing here reads them), and a consumer
closed before its first assignment wedges the group id (``join_group_async`` deletes and retries).
Kafka errors are translated into ``BusError`` where they enter.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ingest.contract import Event, encode, partition_key
from ingest.errors import ServiceUnavailable
from ingest.settings import BusSettings

__all__ = ["BusError", "BusSettings", "ensure_topics", "make_producer", "publish"]

log = logging.getLogger(__name__)


class BusError(ServiceUnavailable):
    """The broker could not be reached or refused a request; the message says which and where."""


def ensure_topics(settings: BusSettings, names: Iterable[str] | None = None) -> None:
    """Create the contract's topics (or ``names``) if missing; existing topics are left alone."""
    wanted = list(names) if names is not None else [*settings.topics.event_topics(), settings.topics.dead_letter]
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id=f"{settings.client_id}-admin")
    except KafkaError as exc:
        raise BusError(f"cannot reach the Kafka broker at {settings.bootstrap}: {exc}") from exc
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            try:
                admin.create_topics(
                    [NewTopic(name, num_partitions=settings.partitions, replication_factor=1) for name in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another process created it between our list and create
    except KafkaError as exc:
        raise BusError(f"cannot create topics {wanted} on {settings.bootstrap}: {exc}") from exc
    finally:
        admin.close()


def delete_group(settings: BusSettings, group_id: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id=f"{settings.client_id}-admin")
    try:
        admin.delete_groups([group_id])
    except KafkaError as exc:
        log.warning("could not delete consumer group %s: %s", group_id, exc)
    finally:
        admin.close()


def delete_namespace(settings: BusSettings) -> list[str]:
    """Delete every topic of ``settings.namespace`` (tests, trials); returns the names deleted.

    Topics of a retired namespace only cost the broker: Tansu, in memory, answers metadata requests
    more slowly with every topic it holds."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id=f"{settings.client_id}-admin")
    try:
        mine = [name for name in admin.list_topics() if name.startswith(f"{settings.namespace}.")]
        if mine:
            admin.delete_topics(mine)
        return mine
    except KafkaError as exc:
        raise BusError(f"cannot delete the topics of namespace {settings.namespace} on {settings.bootstrap}: {exc}") from exc
    finally:
        admin.close()


def make_producer(settings: BusSettings, **overrides: object) -> KafkaProducer:
    """A producer that waits for every replica (acks=all) and compresses batches with lz4,
    which costs a fraction of gzip's CPU on both ends (agents compress, the sink decompresses)."""
    config: dict[str, object] = dict(
        bootstrap_servers=settings.bootstrap,
        client_id=settings.client_id,
        acks="all",
        compression_type="lz4",
        linger_ms=20,
        batch_size=256 * 1024,
        max_request_size=2 * 1024 * 1024,
        retries=5,
    )
    config.update(overrides)
    try:
        return KafkaProducer(**config)
    except KafkaError as exc:
        raise BusError(f"cannot reach the Kafka broker at {settings.bootstrap}: {exc}") from exc


def publish(producer: KafkaProducer, settings: BusSettings, event: Event):
    """Send one contract event to its topic, keyed by camera. Returns the send future."""
    return producer.send(settings.topics.for_event(event), key=partition_key(event), value=encode(event))


def _consumer_policy(settings: BusSettings, group_id: str | None) -> dict[str, object]:
    """Settings every consumer shares, whichever client library it uses.

    Offsets are committed by hand, after the work they cover. Never 'latest': Tansu's end
    offsets are wrong, so a new group must start from the beginning.
    """
    return dict(
        bootstrap_servers=settings.bootstrap,
        client_id=settings.client_id,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        fetch_max_bytes=32 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        # Tansu holds a fetch for this long even after records arrive (Kafka returns at once), so
        # the client default of 500 ms was added to every event's way to TimescaleDB.
        fetch_max_wait_ms=100,
    )


def make_consumer(settings: BusSettings, *, group_id: str | None, **overrides: object) -> KafkaConsumer:
    """A kafka-python consumer (for tools and tests; hot paths use ``make_async_consumer``)."""
    config = _consumer_policy(settings, group_id) | {"max_poll_records": 5000} | overrides
    try:
        return KafkaConsumer(**config)
    except KafkaError as exc:
        raise BusError(f"cannot reach the Kafka broker at {settings.bootstrap}: {exc}") from exc


def make_async_consumer(settings: BusSettings, *, group_id: str, **overrides: object):
    """An aiokafka consumer with the same policy as ``make_consumer``.

    aiokafka parses record batches in C: about 200,000 records/s here against about 20,000 for
    kafka-python, which decodes each record in Python. Hot consumers (sink, processors) use it.
    """
    from aiokafka import AIOKafkaConsumer

    config = _consumer_policy(settings, group_id) | overrides
    return AIOKafkaConsumer(**config)


async def join_group_async(
    settings: BusSettings, new_consumer: Callable[[], object], *, group_id: str, topics: Iterable[str],
    listener=None, timeout_s: float | None = None,
):
    """Make a consumer, start it, subscribe, wait for the first assignment, and return it.

    If the join does not complete in time, the group id is taken for wedged (Tansu keeps a group
    stuck after a member left before its first assignment): that consumer is stopped, the group
    deleted, and a new consumer joins once more. A healthy join takes about half a session
    timeout on Tansu and less on Kafka, so two session timeouts tell a wedged group from a slow one."""
    import asyncio

    from aiokafka.errors import KafkaError as AioKafkaError

    topics = list(topics)
    timeout_s = timeout_s if timeout_s is not None else 2 * settings.session_timeout_ms / 1000
    for attempt in (1, 2):
        consumer = new_consumer()
        try:
            await consumer.start()
        except AioKafkaError as exc:
            with contextlib.suppress(Exception):  # its client half made: closed, not left to the collector
                await consumer.stop()
            raise BusError(f"cannot reach the Kafka broker at {settings.bootstrap}: {exc}") from exc
        consumer.subscribe(topics, listener=listener) if listener else consumer.subscribe(topics)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if consumer.assignment():
                return consumer
            await asyncio.sleep(0.05)
        await consumer.stop()
        if attempt == 1:
            log.warning("group %s did not join within %.0f s; deleting the wedged group and retrying", group_id, timeout_s)
            await asyncio.to_thread(delete_group, settings, group_id)
    raise BusError(f"consumer group {group_id} could not join on {settings.bootstrap} within {2 * timeout_s:.0f} s")
