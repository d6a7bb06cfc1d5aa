"""Publishing: JSON lines, the on-disk spool, and Kafka with spool-and-replay against the real broker."""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from camera_agents.publish import DiskSpool, JsonlSink, KafkaSink, KafkaSinkSettings, PublishError, adopt_spool
from ingest.bus import BusSettings
from ingest.contract import LineCrossing, decode, encode
from tests.busutil import read_topic

T0 = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)


def crossings(n: int, camera_id: str = "cam-spool", start: int = 0) -> list[LineCrossing]:
    return [
        LineCrossing(camera_id=camera_id, ts=T0 + timedelta(seconds=i), frame_no=i, line_id="stop_line",
                     direction="in" if i % 3 else "out", cls="motorbike", track_id=1000 + i)
        for i in range(start, start + n)
    ]  # fmt: skip


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_jsonl_sink_writes_contract_events_one_per_line(tmp_path):
    sink = JsonlSink(tmp_path / "out" / "events.jsonl")
    events = crossings(5)
    for event in events:
        sink.send(event)
    sink.close()
    lines = (tmp_path / "out" / "events.jsonl").read_bytes().splitlines()
    assert [decode(line) for line in lines] == events
    with pytest.raises(PublishError, match="cannot write events"):
        JsonlSink(tmp_path / "out" / "events.jsonl" / "x.jsonl")


def test_two_processes_appending_to_one_events_file_never_mix_their_lines(tmp_path):
    import multiprocessing

    path = tmp_path / "events.jsonl"
    JsonlSink(path).close()  # started afresh once, as ``ioc agent run`` does before its workers
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append_crossings, args=(path, f"cam-{i}")) for i in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert [w.exitcode for w in writers] == [0, 0]
    events = [decode(line) for line in path.read_bytes().splitlines()]
    for camera in ("cam-0", "cam-1"):
        assert [e.frame_no for e in events if e.camera_id == camera] == list(range(2000))  # every line whole, in order


def _append_crossings(path, camera_id: str) -> None:
    sink = JsonlSink(path, append=True)
    for event in crossings(2000, camera_id):
        sink.send(event)
    sink.close()


def test_events_left_in_a_spool_no_agent_uses_are_moved_behind_the_ones_waiting_in_another(tmp_path):
    orphan, kept = tmp_path / "cameras-worker3", tmp_path / "cameras"
    waiting, left = [encode(e) for e in crossings(5)], [encode(e) for e in crossings(7, start=5)]
    for folder, records in ((kept, waiting), (orphan, left)):
        spool = DiskSpool(folder, segment_bytes=300)
        spool.append(records)
        spool.close()
    assert adopt_spool(orphan, kept, max_bytes=10**6) == 7
    assert not orphan.exists()
    spool = DiskSpool(kept)
    assert spool.read(100)[0] == waiting + left


def test_events_a_spool_has_no_room_for_stay_where_they_were(tmp_path, caplog):
    orphan, kept = tmp_path / "cameras-worker2", tmp_path / "cameras"
    records = [encode(e) for e in crossings(6)]
    spool = DiskSpool(orphan)
    spool.append(records)
    spool.close()
    full = DiskSpool(kept, max_bytes=len(records[0]) * 3)
    full.append(records[:2])
    full.close()
    assert adopt_spool(orphan, kept, max_bytes=len(records[0]) * 3) == 0
    assert "has no room" in caplog.text
    assert DiskSpool(orphan).read(100)[0] == records


def test_spool_keeps_order_across_restarts_and_ignores_a_torn_write(tmp_path):
    spool = DiskSpool(tmp_path, segment_bytes=300)
    records = [encode(e) for e in crossings(12)]
    assert spool.append(records[:7]) == 0 and spool.append(records[7:]) == 0
    assert len(list(tmp_path.glob("segment-*.jsonl"))) > 1  # rolled over
    got, position = spool.read(5)
    assert got == records[:5]
    spool.commit(position)
    spool.close()
    # a crash in the middle of an append leaves half a line: never delivered
    last = sorted(tmp_path.glob("segment-*.jsonl"))[-1]
    with last.open("ab") as out:
        out.write(b'{"type":"cross')
    with pytest.raises(PublishError, match="in use"):
        held = DiskSpool(tmp_path)
        DiskSpool(tmp_path)
    held.close()
    reopened = DiskSpool(tmp_path)
    rest: list[bytes] = []
    while True:
        got, position = reopened.read(4)
        if not got:
            break
        rest += got
        reopened.commit(position)
    assert rest == records[5:]


def test_spool_is_bounded_and_says_so_loudly(tmp_path, caplog):
    records = [encode(e) for e in crossings(20)]
    spool = DiskSpool(tmp_path, max_bytes=len(records[0]) * 10)
    with caplog.at_level(logging.ERROR):
        refused = spool.append(records)
    assert refused == 11 and spool.dropped == 11
    assert "SPOOL FULL" in caplog.text


def test_kafka_sink_spools_while_the_broker_is_down_and_replays_in_order(bus: BusSettings, tmp_path):
    events = crossings(60)
    down = BusSettings(bootstrap=f"127.0.0.1:{closed_port()}", namespace=bus.namespace)
    sink = KafkaSink(KafkaSinkSettings(bus=down, spool_dir=tmp_path / "spool", batch_size=25, retry_min_s=0.2))
    started = time.monotonic()
    for event in events[:40]:
        sink.send(event)
    assert time.monotonic() - started < 1.0  # a dead broker never stalls the camera that sends
    sink.flush()
    assert not sink.connected and sink.stats.sent == 0 and sink.stats.spooled == 40
    sink.close()
    assert sink.spool_pending_bytes > 0

    # The broker is back: a new agent with the same spool replays it first, then sends new events.
    sink = KafkaSink(KafkaSinkSettings(bus=bus, spool_dir=tmp_path / "spool", batch_size=25))
    assert sink.connected and sink.stats.replayed == 40
    for event in events[40:]:
        sink.send(event)
    sink.close()
    assert sink.stats.sent == 20 and sink.spool_pending_bytes == 0

    records = read_topic(bus, bus.topics.crossings, expect=len(events))
    assert {r.key for r in records} == {b"cam-spool"}
    got = [decode(r.value) for r in sorted(records, key=lambda r: (r.partition, r.offset))]
    assert got == events  # every event once, in order (one camera = one partition)


def test_an_event_that_can_never_be_sent_is_set_aside_and_the_rest_flow(bus: BusSettings, tmp_path):
    from ingest.contract import MAX_EVENT_BYTES, FrameEvent, TrackedObject

    objects = tuple(
        TrackedObject(track_id=i, cls="motorbike", confidence=0.9, bbox=(1.0, 2.0, 3.0, 4.0)) for i in range(MAX_EVENT_BYTES // 60)
    )
    huge = FrameEvent(camera_id="cam-spool", ts=T0, frame_no=1, width=960, height=540, objects=objects)
    assert len(encode(huge)) > MAX_EVENT_BYTES
    events = crossings(3)
    sink = KafkaSink(KafkaSinkSettings(bus=bus, spool_dir=tmp_path / "spool"))
    sink.send(events[0])
    sink.send(huge)  # a bug upstream must not block the camera's queue behind it for ever
    sink.send(events[1])
    sink.send(events[2])
    sink.close()
    assert (sink.stats.sent, sink.stats.rejected, sink.stats.spooled) == (3, 1, 0)
    rejected = (tmp_path / "spool" / "rejected.jsonl").read_bytes().splitlines()
    assert len(rejected) == 1 and b"larger than the limit" in rejected[0]
    got = [decode(r.value) for r in read_topic(bus, bus.topics.crossings, expect=3)]
    assert got == events


def test_a_producer_failing_outside_kafka_errors_spools_and_resends_in_order(bus: BusSettings, tmp_path, caplog):
    """While a broker restarts, kafka-python can fail inside send() with a plain TypeError (topic
    metadata momentarily gone). That is a transient failure: nothing is lost or reordered, and the
    log says so in one line instead of a traceback."""
    events = crossings(30)
    sink = KafkaSink(KafkaSinkSettings(bus=bus, spool_dir=tmp_path / "spool", batch_size=10, retry_min_s=0.1))
    assert sink.connected
    producer = sink._producer
    real_send, calls = producer.send, []

    def send_failing_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 5:
            raise TypeError("'NoneType' object is not iterable")
        return real_send(*args, **kwargs)

    producer.send = send_failing_once
    with caplog.at_level(logging.WARNING, logger="camera_agents.publish"):
        for event in events:
            sink.send(event)
        sink.close()
    assert sink.stats.spooled >= 1 and sink.spool_pending_bytes == 0
    assert not [r for r in caplog.records if r.exc_info], "a transient send failure logged a traceback"
    assert any("TypeError" in r.getMessage() for r in caplog.records)
    records = read_topic(bus, bus.topics.crossings, expect=len(events))
    assert [decode(r.value) for r in sorted(records, key=lambda r: (r.partition, r.offset))] == events
