"""Evidence snapshots: faces and plates blurred on the camera's side, the picture small enough,
one per incident, crowd or health condition, and through the real broker and sink into
TimescaleDB, where the alert it illustrates finds it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from camera_agents.config import parse_camera
from camera_agents.detections import Detections
from camera_agents.evidence import EvidenceRecorder, EvidenceSettings, EvidenceWorker, encode_within
from camera_agents.privacy import PrivacyBlur
from camera_agents.publish import KafkaSink, KafkaSinkSettings
from camera_agents.sources.privacy_targets import drawn_face, drawn_plate
from dashboards.evidence import snapshot_for_alert
from ingest.bus import BusSettings
from ingest.contract import (
    MAX_SNAPSHOT_JPEG_BYTES,
    Alert,
    CameraHealth,
    CameraInfo,
    Snapshot,
    TrackIncident,
    ZoneInfo,
    ZoneOccupancy,
    decode,
    encode,
)
from ingest.db import DbSettings, connect
from ingest.sink import Sink, SinkSettings
from processors.config import RulesConfig
from processors.rules import AlertEngine

# Recent, so that snapshots pass the sink's screening for the far past whenever the tests run.
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(hour=7, minute=30, second=0, microsecond=0)
FACE_AT = (200, 140, 120)  # x, y, size of the drawn face
PLATE_AT = (600, 400, 240)  # x, y, width of the drawn plate

CAMERA_YAML = """
camera_id: plaza-cam
name: Quảng trường (thử nghiệm)
kind: security
source: synthetic:crowd?seed=1
resolution: {width: 960, height: 540}
zones:
- id: entrance
  polygon: [[100, 100], [500, 100], [500, 500], [100, 500]]
  max_occupancy: 2
  dwell_seconds: 10
"""


def scene() -> tuple[np.ndarray, tuple[int, int, int, int], tuple[int, int, int, int]]:
    """A 960x540 street-like picture (soft gradients, buildings, some texture), a face and a
    plate pasted in; returns it with the face's and the plate's boxes (x, y, w, h)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:540, 0:960]
    image = np.stack([80 + xx / 12, 100 + yy / 8, 120 + (xx + yy) / 20], axis=-1).astype(np.uint8)
    for i in range(8):  # buildings with windows: edges and detail outside the private regions
        x = 40 + i * 115
        cv2.rectangle(image, (x, 40), (x + 90, 120 + 20 * (i % 3)), (60 + 20 * i, 90, 140 - 10 * i), -1)
        for wy in range(50, 110, 20):
            cv2.rectangle(image, (x + 10, wy), (x + 25, wy + 10), (220, 220, 180), -1)
    image = cv2.add(image, rng.integers(0, 6, image.shape, dtype=np.uint8))
    fx, fy, fs = FACE_AT
    image[fy : fy + fs, fx : fx + fs] = drawn_face(fs)
    px, py, pw = PLATE_AT
    plate = drawn_plate(pw)
    image[py : py + plate.shape[0], px : px + pw] = plate
    return image, (fx, fy, fs, fs), (px, py, pw, plate.shape[0])


def _inner(box: tuple[int, int, int, int], shrink: float = 0.2) -> tuple[slice, slice]:
    x, y, w, h = box
    return slice(y + int(h * shrink), y + h - int(h * shrink)), slice(x + int(w * shrink), x + w - int(w * shrink))


def _sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_the_cascades_find_the_synthetic_face_and_plate() -> None:
    image, face, plate = scene()
    regions = PrivacyBlur().regions(image)
    assert any(_overlaps(r, face) for r in regions), f"no face found; regions {regions}"
    assert any(_overlaps(r, plate) for r in regions), f"no plate found; regions {regions}"
    far = [r for r in regions if not (_overlaps(r, face) or _overlaps(r, plate))]
    assert not far, f"regions found where there is neither face nor plate: {far}"


@pytest.mark.parametrize(
    "width, height, texture",
    [
        (960, 540, "smooth"),  # a usual camera: fits at a high quality, full size
        (1920, 1080, "noise"),  # full HD sensor noise: no quality fits, so it must shrink too
        (3840, 2160, "noise"),  # 4K noise: shrinks several times
    ],
)
def test_a_snapshot_fits_the_size_limit(width: int, height: int, texture: str) -> None:
    rng = np.random.default_rng(1)
    if texture == "noise":
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    else:
        image = cv2.resize(scene()[0], (width, height))
    jpeg, scale = encode_within(image, MAX_SNAPSHOT_JPEG_BYTES)
    assert len(jpeg) <= MAX_SNAPSHOT_JPEG_BYTES
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape[:2] == (round(height * scale), round(width * scale))
    assert (scale == 1.0) == (texture == "smooth")


def _tracks(*boxes: tuple[float, float, float, float], ids: tuple[int, ...]) -> Detections:
    return Detections(xyxy=np.array(boxes, np.float32), confidence=np.ones(len(boxes)), class_id=np.zeros(len(boxes)),
                      tracker_id=np.array(ids))


def test_the_recorder_pictures_each_trouble_once() -> None:
    config = parse_camera(CAMERA_YAML)
    image = scene()[0]
    recorder = EvidenceRecorder(config)
    tracks = _tracks((210, 130, 330, 470), (380, 200, 450, 450), (700, 150, 760, 300), ids=(7, 8, 9))
    at = lambda s: T0 + timedelta(seconds=s)
    loiter = lambda s, track: TrackIncident(camera_id="plaza-cam", ts=at(s), frame_no=s, kind="loitering", track_id=track, cls="person", zone_id="entrance", duration_s=12.0)
    crowd = lambda s, n: ZoneOccupancy(camera_id="plaza-cam", ts=at(s), frame_no=s, zone_id="entrance", count=n)
    steps = [
        # (events of one frame, picture?, expected snapshot subjects)
        ([loiter(1, 7)], True, ["track:7"]),  # a track's first report is pictured, its box drawn
        ([loiter(2, 7)], True, []),  # the same track reported again: no second picture
        ([loiter(3, 8)], True, ["track:8"]),  # another track: its own picture
        ([crowd(4, 2)], True, []),  # at the limit: not over it
        ([crowd(5, 3)], True, ["zone:entrance"]),  # over the limit: pictured with the people in the zone
        ([crowd(6, 4)], True, []),  # still over: no second picture
        ([crowd(7, 1), crowd(8, 3)], True, ["zone:entrance"]),  # back under, then over again: a new episode
        ([CameraHealth(camera_id="plaza-cam", ts=at(9), condition="source_lost", state="raised")], False, ["health:source_lost"]),  # no frame now: the last picture
        ([CameraHealth(camera_id="plaza-cam", ts=at(10), condition="source_lost", state="cleared")], False, []),  # a clear is no trouble
    ]
    for events, with_picture, expected in steps:
        snapshots = recorder.observe(events, image if with_picture else None, tracks)
        assert [s.subject for s in snapshots] == expected, events
        for snapshot in snapshots:
            assert snapshot.trigger_event_id in {e.event_id for e in events}
            assert len(snapshot.jpeg) <= MAX_SNAPSHOT_JPEG_BYTES and snapshot.blurred >= 2
    first = recorder.observe([loiter(11, 9)], image, tracks)[0]
    assert first.boxes == ((700.0, 150.0, 760.0, 300.0),), "the incident's own track is the box drawn"


def test_the_recorder_keeps_to_its_rate() -> None:
    config = parse_camera(CAMERA_YAML)
    image = cv2.resize(scene()[0], (320, 180))
    recorder = EvidenceRecorder(config, EvidenceSettings(max_per_minute=3))
    taken = []
    for i in range(6):  # six tracks in 30 s: three pictures, then quiet until the minute is over
        event = TrackIncident(camera_id="plaza-cam", ts=T0 + timedelta(seconds=5 * i), frame_no=i, kind="loitering", track_id=i, cls="person", duration_s=12.0)
        taken += recorder.observe([event], image, Detections.empty())
    late = TrackIncident(camera_id="plaza-cam", ts=T0 + timedelta(seconds=61), frame_no=99, kind="loitering", track_id=99, cls="person", duration_s=12.0)
    taken += recorder.observe([late], image, Detections.empty())
    assert [s.subject for s in taken] == ["track:0", "track:1", "track:2", "track:99"] and recorder.skipped == 3


def test_a_snapshot_arrives_blurred_through_the_broker_and_the_sink(bus: BusSettings, db: DbSettings, tmp_path) -> None:
    config = parse_camera(CAMERA_YAML)
    original, face, plate = scene()
    person = (190.0, 120.0, 340.0, 480.0)
    incident = TrackIncident(camera_id="plaza-cam", ts=datetime.now(UTC), frame_no=10, kind="loitering",
                             track_id=7, cls="person", zone_id="entrance", duration_s=125.0)
    snapshot = EvidenceRecorder(config).observe([incident], original, _tracks(person, ids=(7,)))[0]
    # The processors raise the alert from the same incident (pure rules, as their worker runs them).
    alert = AlertEngine(RulesConfig()).on_event(incident, now=incident.ts.timestamp())[0]
    assert alert.details["evidence_id"] == incident.event_id == snapshot.trigger_event_id

    agent = KafkaSink(KafkaSinkSettings(bus=bus, spool_dir=tmp_path / "spool"))
    for event in (incident, snapshot, alert):
        agent.send(event)
    agent.close()
    assert agent.stats.sent == 3
    stats = Sink(SinkSettings(bus=bus, db=db, group_id=f"{bus.namespace}-sink")).run(count=3, timeout=60)
    assert stats.written >= 3 and stats.dead_lettered == 0

    with connect(db) as conn:
        stored = snapshot_for_alert(conn, alert.alert_id)
        assert snapshot_for_alert(conn, "no-such-alert") is None
    assert stored is not None and stored.match == "exact" and stored.subject == "track:7" and stored.blurred >= 2
    assert len(stored.jpeg) <= MAX_SNAPSHOT_JPEG_BYTES
    picture = cv2.imdecode(np.frombuffer(stored.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == original.shape, "a 960x540 scene fits without shrinking"

    # The private regions: their detail is gone, and they differ strongly from the original.
    for name, box in (("face", face), ("plate", plate)):
        rows, cols = _inner(box)
        before, after = original[rows, cols], picture[rows, cols]
        assert _sharpness(after) < 0.05 * _sharpness(before), f"{name}: detail left after blurring"
        assert np.abs(after.astype(int) - before.astype(int)).mean() > 8, f"{name}: hardly changed"
    # Everything else is the original, up to JPEG's error, except the drawn box's outline.
    keep = np.ones(original.shape[:2], bool)
    for x, y, w, h in (face, plate):
        keep[max(0, y - 40) : y + h + 40, max(0, x - 40) : x + w + 40] = False
    x1, y1, x2, y2 = (int(v) for v in person)
    outline = np.zeros_like(keep)
    cv2.rectangle(outline.view(np.uint8), (x1, y1), (x2, y2), 1, 8)
    keep &= ~outline
    difference = np.abs(picture.astype(int) - original.astype(int)).max(axis=2)[keep]
    assert difference.mean() < 3.0 and np.percentile(difference, 99) < 20, (difference.mean(), np.percentile(difference, 99))
    # The box is drawn in red where the track was.
    assert picture[y1, (x1 + x2) // 2, 2] > 200 and picture[y1, (x1 + x2) // 2, 0] < 80


def test_a_snapshot_survives_the_contract_round_trip_within_the_event_limit() -> None:
    config = parse_camera(CAMERA_YAML)
    noisy = np.random.default_rng(3).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    event = CameraHealth(camera_id="plaza-cam", ts=T0, condition="frozen", state="raised")
    snapshot = EvidenceRecorder(config).observe([event], noisy, Detections.empty())[0]
    wire = encode(snapshot)
    assert len(wire) < 4 / 3 * MAX_SNAPSHOT_JPEG_BYTES + 2048, "base64 JPEG plus a little metadata"
    back = decode(wire)
    assert isinstance(back, Snapshot) and back.jpeg == snapshot.jpeg and back.width < 1920


def test_alerts_carry_the_id_of_the_event_the_agent_pictured() -> None:
    engine = AlertEngine(RulesConfig())
    at = lambda s: T0 + timedelta(seconds=s)
    first = TrackIncident(camera_id="c", ts=at(0), frame_no=1, kind="loitering", track_id=4, cls="person", duration_s=30)
    later = TrackIncident(camera_id="c", ts=at(100), frame_no=2, kind="loitering", track_id=4, cls="person", duration_s=130)
    assert engine.on_event(first, now=0) == []  # under the limit: no alert yet, but the agent pictured it
    (loitering,) = engine.on_event(later, now=0)
    assert loitering.details["evidence_id"] == first.event_id, "a track's picture is of its first report"
    over = ZoneOccupancy(camera_id="c", ts=at(101), frame_no=3, zone_id="z", count=5)
    engine.on_event(CameraInfo(camera_id="c", ts=at(100), name="c", kind="security",
                               zones=(ZoneInfo(zone_id="z", polygon=((0, 0), (1, 0), (1, 1)), max_occupancy=4),)), now=0)
    (crowd,) = engine.on_event(over, now=0)
    (update,) = [a for a in engine.on_event(ZoneOccupancy(camera_id="c", ts=at(200), frame_no=4, zone_id="z", count=9), now=0)
                 if a.rule == "crowd"]
    assert crowd.details["evidence_id"] == update.details["evidence_id"] == over.event_id
    raised = CameraHealth(camera_id="c", ts=at(201), condition="frozen", state="raised")
    (frozen,) = engine.on_event(raised, now=0)
    assert frozen.details["evidence_id"] == raised.event_id


def test_the_worker_makes_pictures_off_the_camera_thread_and_drops_what_it_cannot_keep_up_with() -> None:
    config = parse_camera(CAMERA_YAML)
    image = scene()[0]
    sent: list = []
    gate = threading.Event()

    def send(event) -> None:
        gate.wait(30)  # a slow uplink: the first picture holds the worker
        sent.append(event)

    worker = EvidenceWorker(EvidenceRecorder(config), send, max_queued=2)
    reports = [TrackIncident(camera_id="plaza-cam", ts=T0 + timedelta(seconds=i), frame_no=i, kind="loitering", track_id=i,
                             cls="person", duration_s=12.0) for i in range(6)]
    for report in reports:
        worker.submit([report], image, Detections.empty())
    # Every submit returned while no picture could be sent yet (the uplink is held): submitting
    # never waits for a picture to be made or sent.
    assert sent == []
    gate.set()
    worker.close()
    # two queued (and one in the making if the worker took it before the next came); the rest
    # dropped rather than stall the camera
    assert 2 <= len(sent) <= 3 and worker.dropped == 6 - len(sent)
    assert all(isinstance(s, Snapshot) and s.blurred >= 2 for s in sent)
    # the first report always gets its picture, and pictures leave in the order of their reports
    # (which later ones found room in the queue depends on when the worker took the first)
    order = [r.event_id for r in reports]
    positions = [order.index(s.trigger_event_id) for s in sent]
    assert positions[0] == 0 and positions == sorted(positions)


def _stored_snapshot(camera_id: str, ts: datetime, kind: str, subject: str, trigger: str) -> Snapshot:
    ok, jpeg = cv2.imencode(".jpg", np.full((36, 64, 3), 100, np.uint8))
    return Snapshot(camera_id=camera_id, ts=ts, kind=kind, trigger_event_id=trigger, subject=subject,  # type: ignore[arg-type]
                    width=64, height=36, jpeg=jpeg.tobytes())


def _alert(alert_id: str, rule: str, opened: datetime, details: dict) -> Alert:
    return Alert(camera_id="cam-n", ts=opened, alert_id=alert_id, group_key=f"cam-n:{rule}", rule=rule, severity="warning",
                 state="open", opened_at=opened, title=rule, details=details)


@pytest.mark.parametrize(
    "rule, details, expected",
    [
        # the exact picture, named by the alert's evidence id
        ("crowd", {"zone_id": "gate", "evidence_id": "trigger-gate"}, ("exact", "zone:gate")),
        # no evidence id (a rules file tightened the limit): the nearest picture of the same zone
        ("crowd", {"zone_id": "gate"}, ("nearby", "zone:gate")),
        # another zone's picture never stands in for this one's
        ("crowd", {"zone_id": "pier"}, None),
        # a loitering alert opened on a later report of the pictured track
        ("loitering", {"track_id": 7, "evidence_id": "a-later-report"}, ("nearby", "track:7")),
        # a rule with nothing to picture
        ("flow_high", {"line_id": "main"}, None),
    ],
)
def test_an_alert_finds_its_snapshot(db: DbSettings, rule: str, details: dict, expected: tuple[str, str] | None) -> None:
    from ingest.writer import EventWriter

    opened = datetime.now(UTC)
    rows = [
        _stored_snapshot("cam-n", opened - timedelta(seconds=3), "crowd", "zone:gate", "trigger-gate"),
        _stored_snapshot("cam-n", opened - timedelta(seconds=40), "incident", "track:7", "first-report"),
        _stored_snapshot("cam-n", opened - timedelta(minutes=30), "crowd", "zone:pier", "too-old"),  # outside the window
        _stored_snapshot("cam-other", opened, "crowd", "zone:pier", "other-camera"),  # another camera
        _alert("the-alert", rule, opened, details),
    ]
    with connect(db) as conn:
        EventWriter(conn).write(rows)
        conn.commit()
        found = snapshot_for_alert(conn, "the-alert")
    assert (None if found is None else (found.match, found.subject)) == expected
    if found is not None:
        assert cv2.imdecode(np.frombuffer(found.jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (36, 64, 3)


def test_snapshots_are_dropped_after_their_retention(db: DbSettings) -> None:
    from ingest.warehouse.retention import apply_retention
    from ingest.warehouse.settings import DEFAULT_RETENTION
    from ingest.writer import EventWriter

    now = datetime.now(UTC)
    keep = DEFAULT_RETENTION["snapshots"]
    with connect(db) as conn:
        EventWriter(conn).write([
            _stored_snapshot("cam-r", now - keep - timedelta(days=30), "health", "health:frozen", "old"),
            _stored_snapshot("cam-r", now - timedelta(days=1), "health", "health:frozen", "recent"),
        ])
        conn.commit()
    dropped = {d.table: d for d in apply_retention(db, {"snapshots": keep}, now=now)}
    assert dropped["snapshots"].chunks, "the old snapshot's chunk is dropped"
    with connect(db) as conn:
        left = [row[0] for row in conn.execute("SELECT trigger_event_id FROM snapshots")]
    assert left == ["recent"]


@pytest.mark.parametrize("evidence", [True, False])  # on by default; RunSettings(evidence=False) turns it off
def test_an_agent_sends_a_blurred_snapshot_when_its_picture_freezes(tmp_path, evidence: bool) -> None:
    from camera_agents.agent import RunSettings, run_camera
    from camera_agents.publish import MemorySink

    picture, _, _ = scene()
    video = tmp_path / "frozen.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (960, 540))
    for _ in range(80):  # eight seconds of the very same frame: a hung encoder
        writer.write(picture)
    writer.release()
    config = parse_camera(f"camera_id: frozen-cam\nname: Cổng cảng\nkind: security\nsource: {video}\n")
    sink = MemorySink()
    run_camera(config, sink, RunSettings(evidence=evidence))
    raised = [e for e in sink.events if isinstance(e, CameraHealth) and e.condition == "frozen" and e.state == "raised"]
    snapshots = [e for e in sink.events if isinstance(e, Snapshot)]
    assert len(raised) == 1
    if not evidence:
        assert snapshots == []
        return
    (snapshot,) = snapshots
    assert snapshot.trigger_event_id == raised[0].event_id and snapshot.subject == "health:frozen"
    assert snapshot.blurred >= 2 and len(snapshot.jpeg) <= MAX_SNAPSHOT_JPEG_BYTES
