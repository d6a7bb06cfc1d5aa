"""A realistic stream with a share of malformed records in it, for the sink's tests and benchmark
(like ``processors.workload`` for the processors): good events of registered cameras, and bad
records of every kind the sink must dead-letter, each with the reason it must give.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from ingest import contract as c

CLASSES = ("motorbike", "motorbike", "motorbike", "car", "bus_truck")


@dataclass(frozen=True)
class Record:
    """One record as a producer sends it; ``fault`` names what is wrong with it (None: good)."""

    topic: str
    key: bytes
    value: bytes
    fault: str | None = None


#: each fault and a fragment of the reason the sink gives for it
FAULTS = {
    "huge": "larger than the limit",
    "schema_version": "unsupported schema version 2",
    "future": "ahead of the sink's clock",
    "far_past": "behind the sink's clock",
    "unknown_camera": "unknown camera",
}


def good_events(*, cameras: list[str], n: int, now: datetime, seed: int = 1) -> list[c.Event]:
    """Crossings, zone samples and frames (about 6 : 1 : 3) of the last minutes, in time order."""
    rnd = random.Random(seed)
    start = now - timedelta(minutes=10)
    events: list[c.Event] = []
    for i in range(n):
        cam = cameras[i % len(cameras)]
        ts = start + timedelta(seconds=600 * i / n)
        kind = i % 10
        if kind < 6:
            events.append(c.LineCrossing(camera_id=cam, ts=ts, frame_no=i, line_id="l1", direction=rnd.choice(("in", "out")),
                                         cls=rnd.choice(CLASSES), track_id=i, speed_kmh=round(rnd.uniform(5, 70), 1)))
        elif kind == 6:
            events.append(c.ZoneOccupancy(camera_id=cam, ts=ts, frame_no=i, zone_id="z1", count=rnd.randrange(12)))
        else:
            events.append(c.FrameEvent(camera_id=cam, ts=ts, frame_no=i, width=1280, height=720, objects=(
                c.TrackedObject(track_id=i, cls="car", confidence=0.8, bbox=(10.0, 10.0, 90.0, 60.0), speed_kmh=31.5),)))
    return events


def _bad(fault: str, template: c.LineCrossing, topics: c.Topics, now: datetime, n: int) -> Record:
    key = template.camera_id.encode()
    if fault == "huge":
        value = msgspec.json.encode({**msgspec.to_builtins(template), "pad": "x" * (c.MAX_EVENT_BYTES + 1000)})
    elif fault == "schema_version":
        value = msgspec.json.encode({**msgspec.to_builtins(template), "v": 2})
    elif fault == "future":  # a camera whose clock is ahead: ten minutes to a year
        value = c.encode(msgspec.structs.replace(template, ts=now + timedelta(minutes=10 + 5000 * (n % 100))))
    elif fault == "far_past":  # a device that lost its clock (1970), a long-gone replay
        ts = datetime(1970, 1, 1, tzinfo=now.tzinfo) if n % 2 else now - timedelta(days=800)
        value = c.encode(msgspec.structs.replace(template, ts=ts))
    elif fault == "unknown_camera":
        camera = f"not-registered-{n % 7}"
        key = camera.encode()
        value = c.encode(msgspec.structs.replace(template, camera_id=camera))
    else:
        raise ValueError(f"unknown fault {fault!r}")
    return Record(topics.crossings, key, value, fault)


def flood(events: list[c.Event], *, topics: c.Topics, now: datetime, share: float = 0.01, seed: int = 2,
          huge_every: int = 20) -> list[Record]:
    """``events`` as records, with ``share`` of bad records spread among them at random: the
    faults in turn, except that only one bad record in ``huge_every`` is a huge one (a megabyte
    each: a broker takes a flood of them, a test need not)."""
    rnd = random.Random(seed)
    records = [Record(topics.for_event(e), c.partition_key(e), c.encode(e)) for e in events]
    crossings = [e for e in events if type(e) is c.LineCrossing]
    n_bad = round(len(events) * share / (1 - share))
    others = [f for f in FAULTS if f != "huge"]
    for i in range(n_bad):
        fault = "huge" if i % huge_every == 0 else others[i % len(others)]
        records.insert(rnd.randrange(len(records) + 1), _bad(fault, rnd.choice(crossings), topics, now, i))
    return records
