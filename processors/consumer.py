"""A faust consumer without the per-message task overhead, and with offsets set by the app.

Stock faust delivers every message as ``wait_first(callback(message), suspend_flow.wait())``:
several asyncio tasks per message, which caps a worker at ~4,000 events/s. The race with
``suspend_flow`` exists so a rebalance can interrupt a delivery that blocks. Here a message is
delivered by a direct ``await callback(message)`` only when that call cannot block: the
consumer flow is not suspended, the app's flow control is active and no queue of the partition
is full. In every other case the stock, interruptible path is taken, and once ``suspend_flow``
is set the rest of the fetched batch is not delivered at all (it is fetched again from the
committed offsets after the rebalance), so rebalances still stop deliveries.

Offsets: for topics that app components *hold* (``hold``), the committed offset is not faust's
"highest contiguous acked" offset but the smallest of the points the holders set
(``set_commit_point``): the counting agent's is the first offset an open window still needs, the
alerting agent's the offset its last state snapshot covers. Until every holder of a topic has
set a point for a partition, nothing is committed there. Other topics keep faust's ack commits.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, Optional, Set

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service


class FastDrainConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._points: dict[TP, dict[str, int]] = {}  # partition -> holder -> offset
        self.fast_deliveries = 0
        self.slow_deliveries = 0

    # -- offsets ---------------------------------------------------------------------------

    @property
    def _holders(self) -> dict[str, set[str]]:
        # topic -> holders, declared by the app before it starts (ProcessorsApp.hold)
        return getattr(self.app, "commit_holders", {})

    def set_commit_point(self, tp: TP, holder: str, offset: int) -> None:
        """Everything before ``offset`` in ``tp`` is no longer needed by ``holder``."""
        self._points.setdefault(tp, {})[holder] = offset

    def commit_point(self, tp: TP) -> Optional[int]:
        holders = self._holders.get(tp.topic)
        points = self._points.get(tp)
        if not holders or not points or any(h not in points for h in holders):
            return None
        return min(points[h] for h in holders)

    def _filter_tps_with_pending_acks(self, topics: Optional[Any] = None) -> Iterator[TP]:
        pending = set(super()._filter_tps_with_pending_acks(topics))
        for tp in list(self._points):
            if topics is None or tp in topics or tp.topic in topics:
                pending.add(tp)
        return iter(pending)

    def _new_offset(self, tp: TP) -> Optional[int]:
        if tp.topic in self._holders:
            return self.commit_point(tp)
        return super()._new_offset(tp)

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        await super().on_partitions_revoked(revoked)
        for tp in revoked:
            self._points.pop(tp, None)

    # -- delivery --------------------------------------------------------------------------

    def delivery_cannot_block(self, tp: TP) -> bool:
        """True when ``callback(message)`` for ``tp`` will complete without waiting."""
        if self.suspend_flow.is_set() or not self.app.flow_control.is_active():
            return False
        producer_buffer = self.app.producer.buffer
        if producer_buffer.size > producer_buffer.max_messages:
            return False
        for channel in self.app.topics._tp_index.get(tp, ()):
            if channel.queue.full():
                return False
        return True

    async def _drain_messages(self, fetcher: Service) -> None:  # pragma: no cover - exercised by the workers
        # The loop of faust.transport.consumer.Consumer._drain_messages (0.15.3), with the
        # per-message delivery changed as explained in the module docstring.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        suspended = self.suspend_flow.is_set
        cannot_block = self.delivery_cannot_block
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        yield_every = 1000
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if self.should_stop:
                    continue
                async for tp, message in ait:
                    since_yield += 1
                    if since_yield > yield_every:
                        await asyncio.sleep(0)
                        since_yield = 0
                    if suspended():
                        # A rebalance started: deliver nothing more from this batch.
                        break
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is not None and offset < r_offset:
                        # Already delivered. (Faust lets offset == r_offset through, as after a
                        # seek r_offset is the next offset to read; the app drops such repeats,
                        # see PartitionWindows.add.)
                        continue
                    gap = offset - (r_offset or 0)
                    if gap > 1 and r_offset and acks_enabled_for(message.topic):
                        await self._add_gap(tp, r_offset + 1, offset)
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if cannot_block(tp):
                        self.fast_deliveries += 1
                        await callback(message)
                    else:
                        self.slow_deliveries += 1
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                    set_read_offset(tp, offset)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class FastDrainTransport(faust_aiokafka.Transport):
    Consumer = FastDrainConsumer
