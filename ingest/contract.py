"""The event contract: every event on the bus, its topic, its key and its encoding.

Defined once here and imported by every stage (agents, processors, sink, dashboards).
Events are msgspec Structs encoded as JSON; the ``type`` field tags the kind and ``v`` the
schema version. A breaking change bumps ``SCHEMA_VERSION`` and the topic suffix together, so
old and new producers never share a topic.
"""

from __future__ import annotations

import os
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, Union

import msgspec

from ingest.errors import InvalidInput

SCHEMA_VERSION = 1
# Larger events are dead-lettered: a frame with a few hundred objects is ~50 KiB, so a
# megabyte means a bug upstream, and Kafka's default message limit is about this size.
MAX_EVENT_BYTES = 1_000_000

ObjectClass = Literal["person", "bicycle", "motorbike", "car", "bus_truck", "unknown"]
OBJECT_CLASSES: tuple[str, ...] = ObjectClass.__args__  # type: ignore[attr-defined]
Direction = Literal["in", "out"]
HealthCondition = Literal["frozen", "blackout", "blur", "source_lost", "moved"]
IncidentKind = Literal["loitering", "stopped", "wrong_way"]
Severity = Literal["info", "warning", "critical"]
AlertState = Literal["open", "update", "resolved"]
AlertActionKind = Literal["ack", "note", "resolve", "reopen", "silence", "unsilence"]
ResolutionCode = Literal["handled", "false_alarm", "duplicate", "other"]
EvidenceKind = Literal["incident", "crowd", "health"]
# A snapshot's JPEG is kept under this by its agent (which lowers quality, then size, to fit);
# base64 in JSON makes it 4/3 larger, far under MAX_EVENT_BYTES and Kafka's 1 MB default.
MAX_SNAPSHOT_JPEG_BYTES = 60 * 1024


class ContractError(InvalidInput):
    """Bytes that are not a valid event of this contract; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields every event carries. ``ts`` is event time (UTC), never processing time."""

    v: int = SCHEMA_VERSION
    event_id: str = msgspec.field(default_factory=lambda: new_event_id())
    camera_id: str
    ts: datetime


class TrackedObject(msgspec.Struct, frozen=True, kw_only=True):
    track_id: int
    cls: ObjectClass
    confidence: float
    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the analysed frame
    speed_kmh: float | None = None


class FrameEvent(Event, frozen=True, kw_only=True, tag="frame"):
    """One analysed frame with its confirmed tracks."""

    frame_no: int
    width: int
    height: int
    objects: tuple[TrackedObject, ...] = ()


class LineCrossing(Event, frozen=True, kw_only=True, tag="crossing"):
    """A confirmed track crossed a counting line; each track is counted once per line."""

    frame_no: int
    line_id: str
    direction: Direction
    cls: ObjectClass
    track_id: int
    speed_kmh: float | None = None
    wrong_way: bool = False


class ZoneOccupancy(Event, frozen=True, kw_only=True, tag="zone_occupancy"):
    """How many tracks stand in a zone; sent when the count changes and at least every few seconds."""

    frame_no: int
    zone_id: str
    count: int
    by_class: dict[str, int] = {}


class TrackIncident(Event, frozen=True, kw_only=True, tag="incident"):
    """One track doing something worth a look: loitering, stopped in traffic, going the wrong way."""

    frame_no: int
    kind: IncidentKind
    track_id: int
    cls: ObjectClass
    zone_id: str | None = None
    line_id: str | None = None
    duration_s: float = 0.0


class CameraHealth(Event, frozen=True, kw_only=True, tag="health"):
    """A debounced change of a camera's condition: raised when it starts, cleared when it ends."""

    condition: HealthCondition
    state: Literal["raised", "cleared"]
    detail: str = ""


class LineInfo(msgspec.Struct, frozen=True, kw_only=True):
    line_id: str
    points: tuple[tuple[float, float], tuple[float, float]]
    name_in: str = "in"
    name_out: str = "out"
    # The same names in English, when the camera's config gives them (names above are local).
    name_in_en: str | None = None
    name_out_en: str | None = None
    allowed_direction: Direction | None = None  # set on one-way roads: the other way is wrong way


class ZoneInfo(msgspec.Struct, frozen=True, kw_only=True):
    zone_id: str
    polygon: tuple[tuple[float, float], ...]
    max_occupancy: int | None = None
    dwell_seconds: float | None = None


def district_name(text: str) -> str:
    """A district's name as every stage stores and compares it: trimmed, in Unicode NFC. A
    camera's district (its config), the districts a desk user answers for and those a
    notification route carries are matched by equality; Vietnamese comes composed from one
    keyboard or file and decomposed from another ("Tàu" with one letter à, or with a and a
    combining grave), and the same name must match itself, or an operator sees none of the
    district's alerts."""
    return unicodedata.normalize("NFC", text).strip()


class CameraInfo(Event, frozen=True, kw_only=True, tag="camera_info"):
    """A camera's registry entry, sent by its agent at start and every few minutes, so the
    registry downstream follows the camera configs without anyone writing it by hand.

    ``origin`` says who sent it: ``agent`` (the camera's agent is running: it counts as a sign of
    life) or ``registry`` (``ioc db sync-cameras`` announcing a camera that is expected to run,
    whose silence is an outage even if its agent never started)."""

    name: str
    kind: Literal["traffic", "security"]
    lat: float | None = None
    lon: float | None = None
    lines: tuple[LineInfo, ...] = ()
    zones: tuple[ZoneInfo, ...] = ()
    #: the locality responsible for the camera (e.g. "Vũng Tàu", "Côn Đảo"); None = province-wide only
    district: str | None = None
    origin: Literal["agent", "registry"] = "agent"


class Heartbeat(Event, frozen=True, kw_only=True, tag="heartbeat"):
    """The agent is alive; ``fps`` is measured over the last interval."""

    fps: float
    frames: int
    uptime_s: float


class CountWindow(Event, frozen=True, kw_only=True, tag="count_window"):
    """Crossings of one line, direction and class in one event-time window.

    ``ts`` is the window's start. Its natural key (camera, line, direction, class, start) makes a
    window emitted twice overwrite, never add.
    """

    line_id: str
    direction: Direction
    cls: ObjectClass
    window_s: int = 60
    count: int
    speed_mean_kmh: float | None = None
    speed_p85_kmh: float | None = None


class OccupancyWindow(Event, frozen=True, kw_only=True, tag="occupancy_window"):
    """Peak and time-weighted mean occupancy of one zone in one window; ``ts`` is the start."""

    zone_id: str
    window_s: int = 60
    peak: int
    mean: float


class Alert(Event, frozen=True, kw_only=True, tag="alert"):
    """One step in an alert's life. ``alert_id`` names the episode; ``group_key`` (camera x rule)
    groups episodes so one jam is one alert."""

    alert_id: str
    group_key: str
    rule: str
    severity: Severity
    state: AlertState
    opened_at: datetime
    title: str
    details: dict[str, float | int | str | None] = {}
    # What operators did with the episode, carried on every later step so the current state is
    # whole in each one. ``escalated_at``: left unacknowledged past its severity's deadline.
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolution: ResolutionCode | None = None
    escalated_at: datetime | None = None


class AlertAction(Event, frozen=True, kw_only=True, tag="alert_action"):
    """What an operator did with an alert; ``silence`` applies to ``rule`` on this camera.
    ``resolution`` says why a ``resolve`` closed it."""

    alert_id: str
    action: AlertActionKind
    actor: str
    note: str = ""
    rule: str | None = None
    silence_until: datetime | None = None
    resolution: ResolutionCode | None = None


class Snapshot(Event, frozen=True, kw_only=True, tag="snapshot"):
    """Evidence: one JPEG of the moment an agent saw an incident, a crowd or a health condition,
    faces and licence plates blurred on the camera's side, the object's box drawn.

    ``trigger_event_id`` is the ``event_id`` of the event it illustrates (the ``TrackIncident``,
    ``ZoneOccupancy`` or ``CameraHealth``); the alert opened by that event carries the same id in
    its details as ``evidence_id``, which is how an alert finds its picture. ``subject`` names what
    is shown (``track:<id>``, ``zone:<id>`` or ``health:<condition>``). ``jpeg`` travels as
    base64 in the JSON."""

    kind: EvidenceKind
    trigger_event_id: str
    subject: str
    width: Annotated[int, msgspec.Meta(gt=0)]
    height: Annotated[int, msgspec.Meta(gt=0)]
    jpeg: Annotated[bytes, msgspec.Meta(min_length=1, max_length=MAX_SNAPSHOT_JPEG_BYTES)]
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # drawn boxes, pixels of this JPEG
    blurred: int = 0  # faces and plates blurred


AnyEvent = Union[
    FrameEvent,
    LineCrossing,
    ZoneOccupancy,
    TrackIncident,
    CameraHealth,
    Heartbeat,
    CameraInfo,
    CountWindow,
    OccupancyWindow,
    Alert,
    AlertAction,
    Snapshot,
]
EVENT_TYPES: tuple[type[Event], ...] = AnyEvent.__args__  # type: ignore[attr-defined]


def type_tag(event_type: type[Event]) -> str:
    return event_type.__struct_config__.tag  # type: ignore[return-value]


@dataclass(frozen=True)
class Topics:
    """Topic names. ``namespace`` lets several deployments (or test runs) share one cluster."""

    namespace: str = "ioc"

    def _name(self, stem: str) -> str:
        return f"{self.namespace}.{stem}.v{SCHEMA_VERSION}"

    @property
    def frames(self) -> str:
        return self._name("frames")

    @property
    def crossings(self) -> str:
        return self._name("crossings")

    @property
    def zones(self) -> str:
        return self._name("zones")

    @property
    def incidents(self) -> str:
        return self._name("incidents")

    @property
    def health(self) -> str:
        return self._name("health")

    @property
    def counts(self) -> str:
        return self._name("counts")

    @property
    def alerts(self) -> str:
        return self._name("alerts")

    @property
    def alert_actions(self) -> str:
        return self._name("alert-actions")

    @property
    def snapshots(self) -> str:
        return self._name("snapshots")

    @property
    def dead_letter(self) -> str:
        return self._name("dead-letter")

    def for_event(self, event: Event | type[Event]) -> str:
        event_type = event if isinstance(event, type) else type(event)
        return getattr(self, _TOPIC_OF_TYPE[event_type])

    def event_topics(self) -> tuple[str, ...]:
        """Every topic that carries contract events (the dead-letter topic does not)."""
        return tuple(dict.fromkeys(getattr(self, stem) for stem in _TOPIC_OF_TYPE.values()))


_TOPIC_OF_TYPE: dict[type[Event], str] = {
    FrameEvent: "frames",
    LineCrossing: "crossings",
    ZoneOccupancy: "zones",
    TrackIncident: "incidents",
    CameraHealth: "health",
    Heartbeat: "health",
    CameraInfo: "health",
    CountWindow: "counts",
    OccupancyWindow: "counts",
    Alert: "alerts",
    AlertAction: "alert_actions",
    Snapshot: "snapshots",
}
# Partitions per topic on a fresh cluster: enough for two workers per processor to share.
DEFAULT_PARTITIONS = 4


def partition_key(event: Event) -> bytes:
    """Every event is keyed by its camera, so one camera's events stay in order."""
    return event.camera_id.encode()


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)
_version_probe = msgspec.json.Decoder(dict[str, object])


def encode(event: Event) -> bytes:
    return _encoder.encode(event)


def decode(data: bytes) -> AnyEvent:
    """Bytes to a validated event, or ContractError with the reason (path and value included)."""
    if len(data) > MAX_EVENT_BYTES:
        raise ContractError(f"event of {len(data)} bytes is larger than the limit of {MAX_EVENT_BYTES}")
    try:
        event = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ContractError(_explain(data, str(exc))) from None
    except msgspec.DecodeError as exc:
        raise ContractError(f"not JSON: {exc}") from None
    if event.v != SCHEMA_VERSION:
        raise ContractError(f"unsupported schema version {event.v!r} (this build reads {SCHEMA_VERSION})")
    if event.ts.tzinfo is None:
        raise ContractError("`ts` has no time zone; event time must be UTC with an offset")
    return event


def _explain(data: bytes, message: str) -> str:
    # A wrong version usually fails on some field first; name the version, it is the real cause.
    try:
        version = _version_probe.decode(data).get("v")
    except msgspec.DecodeError:
        version = None
    if version is not None and version != SCHEMA_VERSION:
        return f"unsupported schema version {version!r} (this build reads {SCHEMA_VERSION}); {message}"
    return message


def new_event_id() -> str:
    """A unique, time-ordered id (48-bit milliseconds + 80 random bits), so indexes stay local."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def json_schema() -> dict[str, object]:
    """The contract as JSON Schema (draft 2020-12), for teams that do not use this package."""
    schema = msgspec.json.schema(AnyEvent)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"ioc events v{SCHEMA_VERSION}"
    return schema
