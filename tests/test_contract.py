"""The event contract without services: round trips, clear errors, topics, the exported schema."""

from __future__ import annotations

import json

import jsonschema
import msgspec
import pytest
from typer.testing import CliRunner

from ingest import contract as c
from ioc.cli import app
from tests.factories import events_of_every_type

SAMPLES = [batch[0] for batch in events_of_every_type(1).values()]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event):
    assert c.decode(c.encode(event)) == event


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{oops", "not JSON"),
        (b'{"type":"crossing","v":1}', "missing required field `camera_id`"),
        (b'{"type":"teleport","v":1}', "Invalid value 'teleport' - at `$.type`"),
        (c.encode(SAMPLES[1]).replace(b'"direction":"', b'"direction":"sideways'), "at `$.direction`"),
        (c.encode(SAMPLES[1]).replace(b'"v":1', b'"v":7'), "unsupported schema version 7"),
        (b" " * (c.MAX_EVENT_BYTES + 1), "larger than the limit"),
        # a snapshot whose picture is not base64 (a producer that sent raw bytes)
        (b'{"type":"snapshot","v":1,"camera_id":"c","ts":"2026-11-02T07:30:00Z","kind":"crowd","trigger_event_id":"e",'
         b'"subject":"zone:z","width":2,"height":2,"jpeg":"not base64!"}', "Invalid base64 encoded string - at `$.jpeg`"),
        # a picture larger than snapshots may be (an agent that skipped the size limit)
        (c.encode(c.Snapshot(camera_id="c", ts=SAMPLES[0].ts, kind="crowd", trigger_event_id="e", subject="zone:z", width=2,
                             height=2, jpeg=b"\xff" * (c.MAX_SNAPSHOT_JPEG_BYTES + 1))), "Expected `bytes` of length <= 61440"),
    ],
)
def test_invalid_bytes_are_rejected_with_a_reason(data, reason):
    with pytest.raises(c.ContractError) as info:
        c.decode(data)
    assert reason in info.value.reason


def test_every_event_type_has_a_topic_and_is_keyed_by_camera():
    topics = c.Topics("city")
    for event in SAMPLES:
        assert topics.for_event(event) in topics.event_topics()
        assert c.partition_key(event) == event.camera_id.encode()
    assert topics.dead_letter not in topics.event_topics()
    assert all(t.startswith("city.") and t.endswith(f".v{c.SCHEMA_VERSION}") for t in topics.event_topics())


def test_event_ids_are_unique_and_time_ordered():
    ids = [c.new_event_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)


def test_exported_json_schema_accepts_real_events_and_rejects_broken_ones(tmp_path):
    out = tmp_path / "ioc-events.schema.json"
    result = CliRunner().invoke(app, ["schema", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    schema = json.loads(out.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for event in SAMPLES:
        validator.validate(json.loads(c.encode(event)))
    broken = msgspec.to_builtins(SAMPLES[1]) | {"direction": "sideways"}
    assert not validator.is_valid(broken)
