"""A faust consumer without faust's per-message overhead, and with offsets set by the app.

Delivery. Stock faust hands every record to streams one by one, as
``wait_first(callback(message), suspend_flow.wait())``: several asyncio tasks, a message object,
a codec lookup, a queue hop and a stream step per record, which caps a worker at ~4,000
events/s. This consumer keeps faust's fetch loop (the same ``_wait_next_records``, flow control,
generation checks and seek-back) and changes what happens to a fetched batch:

* records of *bulk* topics (``ProcessorsApp.bulk``) go, one list per partition, to the app's
  handler in a single call; no per-record task, message object or queue;
* records of other topics take faust's own per-message path to the agents' streams, by a direct
  ``await callback(message)`` when that call cannot block (flow not suspended, flow control
  active, the partition's queues not full), else by the stock interruptible ``wait_first``.

Rebalances still stop deliveries: before a batch is handed over (and before each per-message
delivery) the suspend flag and the generation are checked; once a rebalance has begun nothing
more of the fetched batch is delivered, and it is fetched again from the committed offsets.

Offsets. For topics that app components *hold* (``ProcessorsApp.hold``), the committed offset
is not faust's "highest contiguous acked" offset but the smallest of the points the holders set
(``set_commit_point``): the counting handler's is the first offset an open window still needs,
the alerting agent's the offset its last state snapshot covers. Until every holder of a topic
has set a point for a partition, nothing is committed there. Other topics keep faust's acks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Optional

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service

#: handler(records by partition, consumer generation) for bulk topics
BulkHandler = Callable[[dict[TP, list[Any]], int], Awaitable[None]]


#: how long the broker may hold a fetch of the worker's consumer. faust fixes 1,500 ms, and Tansu
#: holds a fetch long after its first record arrives: records written every 0.3 s were received
#: 0.4 s late at the median, 0.75 s at worst, against 4-8 ms with 100 ms. That delay is added to
#: every window's close (its camera's events reach the worker that much later).
FETCH_MAX_WAIT_MS = 100


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads it when the consumer starts (its Fetcher); faust gives no setting for it.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class FastDrainConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._points: dict[TP, dict[str, int]] = {}  # partition -> holder -> offset
        self.bulk_records = 0
        self.fast_deliveries = 0
        self.slow_deliveries = 0

    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    # -- offsets ---------------------------------------------------------------------------

    @property
    def _holders(self) -> dict[str, set[str]]:
        # topic -> holders, declared by the app before it starts
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

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        await super().on_partitions_revoked(revoked)
        for tp in revoked:
            self._points.pop(tp, None)

    # -- delivery --------------------------------------------------------------------------

    def delivery_cannot_block(self, tp: TP) -> bool:
        """True when faust's ``callback(message)`` for ``tp`` will complete without waiting."""
        if self.suspend_flow.is_set() or not self.app.flow_control.is_active():
            return False
        for channel in self.app.topics._tp_index.get(tp, ()):
            if channel.queue.full():
                return False
        return True

    def may_deliver(self, generation: int) -> bool:
        """False once a rebalance has begun: the rest of a fetched batch must not be delivered."""
        return self.flow_active and not self.suspend_flow.is_set() and generation == self.app.consumer_generation_id

    def split_batch(self, records: dict[TP, list[Any]], active: Optional[set[TP]]) -> tuple[dict[TP, list[Any]], dict[TP, list[Any]]]:
        """(bulk, per-message) records of partitions still assigned, bulk ones from the read offset on."""
        bulk_topics = getattr(self.app, "bulk_topics", ())
        bulk: dict[TP, list[Any]] = {}
        rest: dict[TP, list[Any]] = {}
        for tp, batch in records.items():
            if not batch or (active is not None and tp not in active and tp not in self._buffered_partitions):
                continue
            if tp.topic in bulk_topics:
                # As faust: below the read offset = delivered already. The read offset is the
                # last delivered record, or after a seek the next to read, so a record equal to
                # it may come twice (faust #596); handlers drop repeated offsets themselves.
                read = self._read_offset[tp]
                if read is not None and batch[0].offset < read:
                    batch = [r for r in batch if r.offset >= read]
                if batch:
                    bulk[tp] = batch
            else:
                rest[tp] = batch
        return bulk, rest

    async def _drain_messages(self, fetcher: Service) -> None:  # noqa: C901 - faust's loop, kept in its shape to compare with it
        # faust.transport.consumer.Consumer._drain_messages (0.15.3) and getmany() in one loop,
        # with delivery changed as the module docstring explains.
        callback = self.callback
        to_message = self._to_message
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        cannot_block = self.delivery_cannot_block
        acks_enabled_for = self.app.topics.acks_enabled_for
        bulk_handler: Optional[BulkHandler] = getattr(self.app, "bulk_handler", None)
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records, active = await self._wait_next_records(1.0)
                generation = self.app.consumer_generation_id
                await self.sleep(0)
                if records is None or self.should_stop:
                    continue
                if not self.flow_active:
                    # As faust's getmany: fetched while stopped, so go back to the committed offsets.
                    try:
                        await self.perform_seek()
                    except Exception as exc:
                        self.log.warning("exception performing seek when flow not active %r", exc)
                    continue
                bulk, rest = self.split_batch(records, active)
                if bulk and bulk_handler is not None and self.may_deliver(generation):
                    await bulk_handler(bulk, generation)
                    for tp, batch in bulk.items():
                        self.bulk_records += len(batch)
                        set_read_offset(tp, batch[-1].offset)
                for tp, record in self.scheduler.iterate(rest):
                    if not self.may_deliver(generation):
                        break
                    message = to_message(tp, record)
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is not None and offset < r_offset:
                        continue  # already delivered
                    gap = offset - (r_offset or 0)
                    if gap > 1 and r_offset and acks_enabled_for(message.topic):
                        await self._add_gap(tp, r_offset + 1, offset)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
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
