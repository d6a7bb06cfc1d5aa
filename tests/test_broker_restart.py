"""The broker stopped mid-stream and started again, with the agents sending at their rate.

The local stack's Tansu broker keeps its topics in memory: what it had acknowledged before the
restart is gone (the sink has usually written it by then; the processors' open windows are
rebuilt by `ioc db maintain`, see test_windows_repair.py). What the agents send while it is down
is spooled on their disk and replayed, complete and in order, once it is back. On a broker of the
test's own (free port), so the shared one is never stopped.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from camera_agents.publish import KafkaSink, KafkaSinkSettings
from deploy.local.stack import broker_down, broker_up
from ingest.bus import BusSettings, ensure_topics
from ingest.contract import LineCrossing, decode
from processors.harness import read_events

pytestmark = pytest.mark.timeout(180)

CAMERAS = [f"cam-{i:02d}" for i in range(6)]




def test_agents_spool_while_the_broker_restarts_and_replay_in_order(own_broker, tmp_path):
    bus = BusSettings(bootstrap=own_broker.bootstrap, namespace=f"t{uuid.uuid4().hex[:10]}")
    ensure_topics(bus)
    agent = KafkaSink(KafkaSinkSettings(bus=bus, spool_dir=tmp_path / "spool", retry_min_s=0.5, retry_max_s=1.0))
    start = datetime.now(UTC) - timedelta(minutes=5)
    sent: dict[str, list[LineCrossing]] = defaultdict(list)
    # Marks in the stream: events before `down_at` may be on the broker when it stops; every
    # event from `down_at` on is sent while it is down or after it is back.
    marks: dict[str, int] = {}
    stop_sending = threading.Event()

    def cameras_send() -> None:  # six cameras, about 1,200 events/s in all
        n = 0
        while not stop_sending.is_set():
            for cam in CAMERAS:
                event = LineCrossing(camera_id=cam, ts=start + timedelta(milliseconds=5 * n), frame_no=n, line_id="l1",
                                     direction="in", cls="car", track_id=n, speed_kmh=30.0)
                agent.send(event)
                sent[cam].append(event)
            n += 1
            time.sleep(0.005)

    sender = threading.Thread(target=cameras_send)
    sender.start()
    time.sleep(2.0)
    broker_down(own_broker)
    marks["down_at"] = len(sent[CAMERAS[0]])
    time.sleep(3.0)  # the cameras go on; the agent spools
    broker_up(own_broker)
    ensure_topics(bus)
    time.sleep(3.0)
    stop_sending.set()
    sender.join()
    agent.close()

    total = sum(len(events) for events in sent.values())
    # Events the broker could not take while it was down went to the spool, and all came back out
    # (how many depends on how fast the client notices: hundreds to thousands).
    assert total > 6000 and agent.stats.spooled > 0 and agent.stats.replayed == agent.stats.spooled
    assert agent.spool_pending_bytes == 0 and agent.stats.refused == 0
    records = read_events(bus, bus.topics.crossings, raw=True, timeout_s=60, idle_s=3.0,
                          until=lambda got: len(got) >= total - 6 * marks["down_at"])
    received: dict[str, list[LineCrossing]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = decode(record.value)
        received[event.camera_id].append(event)
    for cam in CAMERAS:
        got, mine = received[cam], sent[cam]
        # Each camera's events on the restarted broker: an unbroken run, once each, in order, to
        # the last one sent; it starts at or before the first event sent while the broker was down.
        first = mine.index(got[0])
        assert got == mine[first:], cam
        assert first <= marks["down_at"], (cam, first, marks["down_at"])
        # What the broker acknowledged before it stopped is gone from it: held in memory only.
        assert first > 0, cam
