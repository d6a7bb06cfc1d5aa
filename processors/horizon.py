"""Where each input partition's horizon (stream time at its last checkpoint) is kept.

Kafka offset-commit metadata would be the natural place, but Tansu drops it. So the horizon is
committed as the *offset* of a companion consumer group (``<app id>.horizon``) on the same
partition, in microseconds since the epoch. It lives on the broker, so whichever worker gets the
partition next reads it, and it is written before the matching offset of the real group (see
``processors.windowing`` for why that order is safe).
"""

from __future__ import annotations

import asyncio
import math

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from ingest.bus import BusError


class HorizonStore:
    def __init__(self, *, bootstrap: str, group_id: str) -> None:
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._consumer: AIOKafkaConsumer | None = None
        self._assigned: set[TopicPartition] = set()
        self._lock: asyncio.Lock | None = None

    async def _client(self) -> AIOKafkaConsumer:
        # Started on first use, in the worker's own event loop.
        if self._consumer is not None:
            return self._consumer
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._consumer is None:
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap, group_id=self._group_id, enable_auto_commit=False
                )
                try:
                    await consumer.start()
                except KafkaError as exc:
                    await consumer.stop()
                    raise BusError(f"cannot reach the Kafka broker at {self._bootstrap}: {exc}") from exc
                self._consumer = consumer
        return self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def _tp(self, topic: str, partition: int) -> tuple[AIOKafkaConsumer, TopicPartition]:
        consumer = await self._client()
        tp = TopicPartition(topic, partition)
        if tp not in self._assigned:
            self._assigned.add(tp)
            consumer.assign(sorted(self._assigned))
        return consumer, tp

    async def get(self, topic: str, partition: int) -> float | None:
        consumer, tp = await self._tp(topic, partition)
        try:
            micros = await consumer.committed(tp)
        except KafkaError as exc:
            raise BusError(f"cannot read the horizon of {topic}[{partition}] ({self._group_id}): {exc}") from exc
        return None if micros is None or micros < 0 else micros / 1e6

    async def put(self, topic: str, partition: int, horizon: float) -> None:
        if not math.isfinite(horizon):
            return
        consumer, tp = await self._tp(topic, partition)
        try:
            await consumer.commit({tp: round(horizon * 1e6)})
        except KafkaError as exc:
            raise BusError(f"cannot store the horizon of {topic}[{partition}] ({self._group_id}): {exc}") from exc
