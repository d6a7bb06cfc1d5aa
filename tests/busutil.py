"""Small bus helpers for tests: produce raw bytes, read a topic back."""

from __future__ import annotations

import time
import uuid

from ingest.bus import BusSettings, make_consumer, make_producer, publish
from ingest.contract import Event


def produce_events(bus: BusSettings, events: list[Event]) -> None:
    producer = make_producer(bus)
    try:
        for event in events:
            publish(producer, bus, event)
        producer.flush(timeout=30)
    finally:
        producer.close()


def produce_raw(bus: BusSettings, topic: str, values: list[bytes], *, key: bytes = b"cam-raw") -> None:
    producer = make_producer(bus, max_request_size=8 * 1024 * 1024)
    try:
        for value in values:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def read_topic(bus: BusSettings, topic: str, *, expect: int, timeout: float = 30.0) -> list:
    """Read a topic from the beginning until ``expect`` records arrived or ``timeout`` passed."""
    consumer = make_consumer(bus, group_id=f"reader-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([topic])
    records: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expect and time.monotonic() < deadline:
            for part in consumer.poll(timeout_ms=500).values():
                records.extend(part)
        # Wait a little longer for records beyond the expected ones, so tests can see extras.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            for part in consumer.poll(timeout_ms=200).values():
                records.extend(part)
    finally:
        consumer.close()
    return records
