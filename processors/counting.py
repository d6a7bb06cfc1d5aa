"""The counting processor's faust layer: batches of raw records in, closed windows out.

Records arrive in bulk from ``FastDrainConsumer`` (one call per fetched batch), not through a
faust stream: that is what lifts a worker from ~4,000 to tens of thousands of events/s.

The exactness logic is in ``processors.windowing``; this module only moves bytes: decode with
the contract's msgspec codec, feed each partition's ``PartitionWindows``, publish what closed,
checkpoint (the horizon to the state dir first, then the offset faust commits; the module
docstring of ``processors.windowing`` says why in that order). Malformed records go to the
dead-letter topic with the reason, and count as consumed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.contract import ContractError, decode, encode, partition_key
from processors.horizon import HorizonStore
from processors.settings import ProcessorSettings
from processors.windowing import PartitionWindows

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
        self.events_in = 0
        #: wall-clock time of the first record handled and of the end of the last batch
        self.first_at: float | None = None
        self.last_at: float | None = None

    async def process(self, batches: dict[Any, list[Any]], generation: int) -> None:
        """Handle fetched records (aiokafka records or faust messages: ``.offset``, ``.key``,
        ``.value``), grouped by partition, fetched in consumer ``generation``."""
        if self.first_at is None:
            self.first_at = time.time()
        for records in batches.values():
            self.events_in += len(records)
        await self._process(batches, generation)
        self.last_at = time.time()

    async def _process(self, batches: dict[Any, list[Any]], generation: int) -> None:
        app = self._app
        if generation != app.consumer_generation_id:
            return  # fetched before a rebalance; the owner re-reads it from the commit
        pending: list[Any] = []
        touched: dict[Any, _Partition] = {}
        for tp, records in batches.items():
            part = self._partitions.get(tp)
            if part is None or part.generation != generation:
                part = await self._resume(tp, generation)
            touched[tp] = part
            add = part.windows.add
            # An event from far ahead would move its camera's clock (and maybe the partition's)
            # past every window still to come: refused, like the sink refuses it.
            latest = datetime.now(UTC) + timedelta(seconds=self._settings.max_future_s)
            for record in records:
                try:
                    decoded: object = decode(record.value)
                except ContractError as exc:
                    pending.append(await self._dead_letter(tp, record, exc.reason))
                    decoded = None
                else:
                    if decoded.ts > latest:  # type: ignore[attr-defined]
                        pending.append(await self._dead_letter(tp, record, _ahead(decoded, latest, self._settings.max_future_s)))
                        decoded = None
                add(record.offset, decoded)
        pending += await self._close_due(generation, touched)
        if pending:
            await asyncio.gather(*pending)
        await self._checkpoint(touched)

    async def _close_due(self, generation: int, touched: dict[Any, _Partition]) -> list[Any]:
        """Publish every window due in a partition of this generation (adding the partitions
        that closed any to ``touched``); returns the sends to wait for."""
        app = self._app
        pending: list[Any] = []
        # Every partition held, not only those read now: a quiet camera's windows close when its
        # other streams move on, which may come in a batch without its own partition.
        bound = self._camera_bound
        for tp, part in list(self._partitions.items()):
            if part.generation != generation:
                continue
            closed = part.windows.close_due(bound)
            if closed:
                touched[tp] = part
            for window in closed:
                pending.append(
                    await app.producer.send(
                        self._settings.bus.topics.counts, partition_key(window), encode(window), None, None, None
                    )
                )
                self.windows_emitted += 1
        return pending

    async def _checkpoint(self, touched: dict[Any, _Partition]) -> None:
        """Store the horizon, then set the commit point, of each partition whose last checkpoint
        is ``checkpoint_interval_s`` old. Not after every batch that published windows: at city
        load that is nearly every batch, and each checkpoint is an fsync that holds the next fetch
        back. A crash replays at most the interval more; the windows it re-publishes carry the
        same numbers."""
        app = self._app
        now = time.monotonic()
        checkpoints = []
        for tp, part in touched.items():
            self._report_dropped(tp, part)
            if now - part.last_checkpoint >= self._settings.checkpoint_interval_s:
                checkpoints.append((tp, part, part.windows.horizon()))
        # Horizon before offset: a crash in between replays a little more, never less. The
        # partitions' files are independent: stored together, not one fsync after another
        # (which held the next fetch back by tens of milliseconds a partition).
        await asyncio.gather(*(self._horizons.put(tp.topic, tp.partition, horizon) for tp, _, horizon in checkpoints))
        for tp, part, _ in checkpoints:
            if app.consumer_generation_id != part.generation:
                self._partitions.pop(tp, None)
                continue
            offset = part.windows.commit_offset()
            if offset is not None:
                app.consumer.set_commit_point(tp, HOLDER, offset)
            part.last_checkpoint = now

    def _camera_bound(self, camera: str) -> float:
        """The latest event time of ``camera`` read from any partition this worker holds: its
        agent had sent everything before it on every topic (see ``processors.windowing``)."""
        latest = -math.inf
        for part in self._partitions.values():
            ts = part.windows.camera_clock(camera)
            if ts > latest:
                latest = ts
        return latest

    def forget(self, tps: Any) -> None:
        """Drop the open windows of revoked partitions: their next owner rebuilds them by replay
        (publishing them now would overwrite windows with partial counts)."""
        for tp in tps:
            self._partitions.pop(tp, None)

    async def _resume(self, tp: Any, generation: int) -> _Partition:
        horizon = await self._horizons.get(tp.topic, tp.partition)
        if horizon is None:
            log.info("counting %s[%d]: resuming with horizon None", tp.topic, tp.partition)
        else:
            log.info("counting %s[%d]: resuming with horizon %.3f (%d camera clock(s))", tp.topic, tp.partition,
                     horizon.stream_time, len(horizon.cameras))
        part = _Partition(generation=generation, windows=PartitionWindows(self._settings.window, horizon=horizon))
        self._partitions[tp] = part
        return part

    async def _dead_letter(self, tp: Any, record: Any, reason: str) -> Any:
        self.dead_lettered += 1
        source = f"{tp.topic}[{tp.partition}]@{record.offset}"
        log.warning("dead-lettering %s: %s", source, reason)
        headers = [("reason", reason.encode()), ("source", source.encode())]
        return await self._app.producer.send(
            self._settings.bus.topics.dead_letter, record.key, record.value, None, None, headers
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

    def stats(self) -> dict[str, int | float | None]:
        return {
            "events": self.events_in,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "windows_emitted": self.windows_emitted,
            "dead_lettered": self.dead_lettered,
            "late": sum(p.windows.late for p in self._partitions.values()),
            "open_windows": sum(p.windows.open_windows for p in self._partitions.values()),
        }



def _ahead(event: Any, latest: datetime, max_future_s: float) -> str:
    ahead = (event.ts - latest).total_seconds() + max_future_s
    return (f"event time {event.ts.isoformat()} is {ahead:.0f} s ahead of the worker's clock "
            f"(limit {max_future_s:.0f} s): the camera's clock is wrong")
