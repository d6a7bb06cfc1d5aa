"""FastDrainConsumer without a broker: bulk delivery, the rebalance stop (suspend flag and
generation), and commit points agreed by every holder of a topic."""

from __future__ import annotations

import asyncio
import types

import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from ingest.bus import BusSettings
from processors.app import build_app
from processors.consumer import FastDrainConsumer
from processors.settings import ProcessorSettings


def _record(topic: str, partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", b"{}", None, 1, 2, ())


@pytest.fixture
def consumer(tmp_path):
    settings = ProcessorSettings(bus=BusSettings(namespace="unit"), state_dir=tmp_path)
    app = build_app(settings)
    consumer = app.consumer
    assert isinstance(consumer, FastDrainConsumer)
    app.flow_control.resume()  # as after a partition assignment
    return app, consumer


def _drain(consumer, batches, *, on_bulk=None, on_message=None):
    """Run the drain loop over ``batches`` (then stop); returns bulk calls and messages delivered."""
    bulk_calls, delivered = [], []
    fetcher = types.SimpleNamespace(_stopped=asyncio.Event())
    pending = list(batches)

    async def wait_next_records(timeout):
        if not pending:
            fetcher._stopped.set()
            return None, None
        return pending.pop(0), None

    async def bulk(batch, generation):
        bulk_calls.append({tp: [r.offset for r in records] for tp, records in batch.items()})
        if on_bulk:
            on_bulk()

    async def callback(message):
        delivered.append((message.topic, message.offset))
        if on_message:
            on_message()

    consumer._wait_next_records = wait_next_records
    consumer.callback = callback
    consumer.app.bulk_handler = bulk

    async def run():
        await asyncio.wait_for(consumer._drain_messages(fetcher), timeout=10)

    asyncio.run(run())
    return bulk_calls, delivered


def test_bulk_topics_are_handed_over_in_one_call_and_others_per_message(consumer):
    app, cons = consumer
    crossings, health = TP("unit.crossings.v1", 0), TP("unit.health.v1", 1)
    batch = {crossings: [_record(crossings.topic, 0, o) for o in range(5)], health: [_record(health.topic, 1, 7)]}
    bulk_calls, delivered = _drain(cons, [batch])
    assert bulk_calls == [{crossings: [0, 1, 2, 3, 4]}]
    assert delivered == [(health.topic, 7)]
    assert cons._read_offset[crossings] == 4 and cons.bulk_records == 5
    assert cons.delivery_cannot_block(health)
    app.flow_control.suspend()
    assert not cons.delivery_cannot_block(health), "suspended flow control: take the interruptible path"


def test_a_started_rebalance_stops_deliveries(consumer):
    app, cons = consumer
    crossings, health = TP("unit.crossings.v1", 0), TP("unit.health.v1", 1)
    first = {health: [_record(health.topic, 1, o) for o in range(4)]}
    second = {crossings: [_record(crossings.topic, 0, 0)]}
    # The first per-message delivery starts a rebalance (as faust's on_rebalance_start does).
    bulk_calls, delivered = _drain(cons, [first, second], on_message=cons.stop_flow)
    assert delivered == [(health.topic, 0)], "nothing more of the batch after the suspend"
    assert bulk_calls == [], "no bulk delivery while the flow is stopped"
    assert cons._read_offset[health] == 0


def test_a_new_generation_drops_the_rest_of_the_fetched_batch(consumer):
    app, cons = consumer
    health = TP("unit.health.v1", 1)

    def new_generation():
        app.consumer_generation_id += 1

    _, delivered = _drain(cons, [{health: [_record(health.topic, 1, o) for o in range(3)]}], on_message=new_generation)
    assert delivered == [(health.topic, 0)]


def test_records_below_the_read_offset_are_not_delivered_again(consumer):
    _, cons = consumer
    crossings = TP("unit.crossings.v1", 2)
    cons._read_offset[crossings] = 3
    bulk_calls, _ = _drain(cons, [{crossings: [_record(crossings.topic, 2, o) for o in range(6)]}])
    assert bulk_calls == [{crossings: [3, 4, 5]}]


def test_commit_point_is_the_minimum_over_all_holders(consumer):
    app, cons = consumer
    zones, crossings = TP("unit.zones.v1", 0), TP("unit.crossings.v1", 0)
    assert app.commit_holders["unit.zones.v1"] == {"counting", "alerting"}
    cons.set_commit_point(zones, "counting", 40)
    assert cons.commit_point(zones) is None, "alerting has not said what it still needs"
    cons.set_commit_point(zones, "alerting", 25)
    cons.set_commit_point(crossings, "counting", 90)
    assert cons.commit_point(zones) == 25 and cons.commit_point(crossings) == 90
    assert cons._new_offset(zones) == 25
    assert set(cons._filter_tps_with_pending_acks()) >= {zones, crossings}
    asyncio.run(cons.on_partitions_revoked({zones}))
    assert cons.commit_point(zones) is None and cons.commit_point(crossings) == 90


def test_the_worker_consumer_asks_the_broker_for_short_fetch_waits(consumer):
    # faust asks for 1,500 ms; Tansu holds a fetch about that long after its first record, which
    # every window's close would wait for.
    from processors.consumer import FETCH_MAX_WAIT_MS

    app, cons = consumer

    async def create():
        return cons._new_consumer_thread()._create_worker_consumer(app.transport)

    aiokafka_consumer = asyncio.run(create())
    assert aiokafka_consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS == 100
