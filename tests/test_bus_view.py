"""`ioc bus`: what an operator sees of the stream, against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ingest import contract as c
from ingest.bus import make_consumer
from ingest.settings import BusSettings
from tests.busutil import produce_events, produce_raw
from tests.factories import events_of_every_type

ROOT = Path(__file__).resolve().parents[1]


def _ioc(bus: BusSettings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ioc", *args, "--bootstrap", bus.bootstrap, "--namespace", bus.namespace],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=os.environ.copy())


def test_tail_decodes_one_cameras_events_and_shows_why_a_record_is_invalid(bus: BusSettings):
    crossings = events_of_every_type(9)[c.LineCrossing]  # cameras cam-01-0, -1, -2 in turn
    produce_events(bus, crossings)
    produce_raw(bus, bus.topics.crossings, [b'{"type": "crossing", "v": 1'], key=b"cam-01-1")

    done = _ioc(bus, "bus", "tail", "crossings", "--camera", "cam-01-1", "--format", "json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    events = [line for line in lines if line["event"] is not None]
    assert sorted(e["event"]["frame_no"] for e in events) == [1, 4, 7]
    assert all(e["event"]["camera_id"] == "cam-01-1" for e in events)
    invalid = [line for line in lines if line["event"] is None]
    assert len(invalid) == 1 and invalid[0]["key"] == "cam-01-1" and "JSON" in invalid[0]["error"]

    table = _ioc(bus, "bus", "tail", "crossings", "--count", "2")
    assert table.returncode == 0, table.stderr
    assert len(table.stdout.splitlines()) == 2 and "line_id=stop-line" in table.stdout


def test_tail_shows_dead_letters_with_their_reason(bus: BusSettings):
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bus.bootstrap)
    producer.send(bus.topics.dead_letter, key=b"cam-9", value=b"\x00garbage",
                  headers=[("ioc-error", b"not valid JSON: invalid character"), ("ioc-source-topic", bus.topics.frames.encode())])
    producer.flush()
    producer.close()
    done = _ioc(bus, "bus", "tail", "dead-letter", "--format", "table")
    assert done.returncode == 0, done.stderr
    assert "invalid: not valid JSON: invalid character" in done.stdout and "cam-9" in done.stdout


def test_topics_lists_every_contract_topic_and_a_groups_lag(bus: BusSettings):
    produce_events(bus, events_of_every_type(5)[c.Heartbeat])
    consumer = make_consumer(bus, group_id=f"{bus.namespace}-reader")
    consumer.subscribe([bus.topics.health])
    seen = 0
    for _ in range(60):
        seen += sum(len(records) for records in consumer.poll(timeout_ms=500).values())
        if seen >= 5:
            break
    consumer.commit()
    consumer.close()

    done = _ioc(bus, "bus", "topics", "--json")
    assert done.returncode == 0, done.stderr
    views = {v["name"]: v for v in json.loads(done.stdout)}
    assert set(views) == {*bus.topics.event_topics(), bus.topics.dead_letter}
    assert all(v["partitions"] == bus.partitions for v in views.values())
    groups = {g["group"]: g for g in views[bus.topics.health]["groups"]}
    assert groups[f"{bus.namespace}-reader"]["committed"] == 5


def test_unknown_topic_is_bad_input(bus: BusSettings):
    done = _ioc(bus, "bus", "tail", "lorries")
    assert done.returncode == 2 and "unknown topic 'lorries'" in done.stderr
