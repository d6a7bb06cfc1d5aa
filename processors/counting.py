"""The counting processor's faust layer: batches of raw records in, closed windows out.

The exactness logic is in ``processors.windowing``; this module only moves bytes: decode with
the contract's msgspec codec, feed each partition's ``PartitionWindows``, publish what closed,
checkpoint (horizon first, then the offset faust commits). Malformed records go to the
dead-letter topic with the reason, and count as consumed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Sequence

from ingest.contract import ContractError, decode, encode, partition_key
from processors.horizon import HorizonStore
from processors.settings import ProcessorSettings
from processors.windowing import Admission, PartitionWindows

log = logging.getLogger(__name__)

HOLDER = "counting"


@dataclass
class _Partition:
    generation: int
    windows: PartitionWindows
    last_checkpoint: float = 0.0
    reported_late: int = 0
    reported_before_horizon: int = 0


class WindowCounter:
    """Owns the open windows of the partitions this worker holds, for one consumer generation."""

    def __init__(self, *, app: Any, settings: ProcessorSettings, horizons: HorizonStore) -> None:
        self._app = app
        self._settings = settings
        self._horizons = horizons
        self._partitions: dict[Any, _Partition] = {}
        self.windows_emitted = 0
        self.dead_lettered = 0

    async def process(self, events: Sequence[Any]) -> None:
        app = self._app
        generation = app.consumer_generation_id
        touched: dict[Any, _Partition] = {}
        pending: list[Any] = []
        for event in events:
            message = event.message
            if message.generation_id != generation:
                continue  # fetched before a rebalance; the new owner re-reads it from the commit
            tp = message.tp
            part = touched.get(tp)
            if part is None:
                part = self._partitions.get(tp)
                if part is None or part.generation != generation:
                    part = await self._resume(tp, generation)
                touched[tp] = part
            try:
                decoded: object = decode(message.value)
            except ContractError as exc:
                pending.append(await self._dead_letter(message, exc.reason))
                decoded = None
            part.windows.add(message.offset, decoded)
        for tp, part in touched.items():
            for window in part.windows.close_due():
                pending.append(
                    await app.producer.send(
                        self._settings.bus.topics.counts, partition_key(window), encode(window), None, None, None
                    )
                )
                self.windows_emitted += 1
        if pending:
            await asyncio.gather(*pending)
        now = time.monotonic()
        for tp, part in touched.items():
            self._report_dropped(tp, part)
            due = now - part.last_checkpoint >= self._settings.checkpoint_interval_s
            if not due and not pending:
                continue
            # Horizon before offset: a crash in between replays a little more, never less.
            await self._horizons.put(tp.topic, tp.partition, part.windows.stream_time)
            if app.consumer_generation_id != part.generation:
                self._partitions.pop(tp, None)
                continue
            offset = part.windows.commit_offset()
            if offset is not None:
                app.consumer.set_commit_point(tp, HOLDER, offset)
            part.last_checkpoint = now

    async def _resume(self, tp: Any, generation: int) -> _Partition:
        horizon = await self._horizons.get(tp.topic, tp.partition)
        log.info("counting %s[%d]: resuming with horizon %s", tp.topic, tp.partition, horizon)
        part = _Partition(generation=generation, windows=PartitionWindows(self._settings.window, horizon=horizon))
        self._partitions[tp] = part
        return part

    async def _dead_letter(self, message: Any, reason: str) -> Any:
        self.dead_lettered += 1
        log.warning("dead-lettering %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason)
        headers = [("reason", reason.encode()), ("source", f"{message.topic}[{message.partition}]@{message.offset}".encode())]
        return await self._app.producer.send(
            self._settings.bus.topics.dead_letter, message.key, message.value, None, None, headers
        )

    def _report_dropped(self, tp: Any, part: _Partition) -> None:
        windows = part.windows
        if windows.late > part.reported_late:
            log.warning(
                "%s[%d]: %d event(s) arrived after their window closed (grace %.0f s) and were not counted; %d so far",
                tp.topic, tp.partition, windows.late - part.reported_late, self._settings.window.grace_s, windows.late,
            )
            part.reported_late = windows.late
        if windows.before_horizon > part.reported_before_horizon:
            log.info(
                "%s[%d]: skipped %d replayed event(s) of windows emitted before this worker took over",
                tp.topic, tp.partition, windows.before_horizon - part.reported_before_horizon,
            )
            part.reported_before_horizon = windows.before_horizon

    def stats(self) -> dict[str, int]:
        return {
            "windows_emitted": self.windows_emitted,
            "dead_lettered": self.dead_lettered,
            "late": sum(p.windows.late for p in self._partitions.values()),
            "open_windows": sum(p.windows.open_windows for p in self._partitions.values()),
        }


__all__ = ["WindowCounter", "Admission"]
