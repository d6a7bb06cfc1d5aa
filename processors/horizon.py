"""Where each input partition's horizon (stream time at its last checkpoint) is kept.

Kafka offset-commit metadata would be the natural place, but Tansu drops it. So the horizon is
committed as the *offset* of a companion consumer group (``<app id>.horizon``) on the same
partition, in microseconds since the epoch. It lives on the broker, so whichever worker gets the
partition next reads it, and it is written before the matching offset of the real group (see
``processors.windowing`` for why that order is safe).
"""

from __future__ import annotations

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

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, group_id=self._group_id, enable_auto_commit=False
        )
        try:
            await self._consumer.start()
        except KafkaError as exc:
            raise BusError(f"cannot reach the Kafka broker at {self._bootstrap}: {exc}") from exc

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    def _tp(self, topic: str, partition: int) -> TopicPartition:
        assert self._consumer is not None, "HorizonStore.start() first"
        tp = TopicPartition(topic, partition)
        if tp not in self._assigned:
            self._assigned.add(tp)
            self._consumer.assign(sorted(self._assigned))
        return tp

    async def get(self, topic: str, partition: int) -> float | None:
        tp = self._tp(topic, partition)
        try:
            micros = await self._consumer.committed(tp)  # type: ignore[union-attr]
        except KafkaError as exc:
            raise BusError(f"cannot read the horizon of {topic}[{partition}] ({self._group_id}): {exc}") from exc
        return None if micros is None or micros < 0 else micros / 1e6

    async def put(self, topic: str, partition: int, horizon: float) -> None:
        if not math.isfinite(horizon):
            return
        tp = self._tp(topic, partition)
        try:
            await self._consumer.commit({tp: round(horizon * 1e6)})  # type: ignore[union-attr]
        except KafkaError as exc:
            raise BusError(f"cannot store the horizon of {topic}[{partition}] ({self._group_id}): {exc}") from exc
