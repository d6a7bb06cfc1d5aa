"""Exact event-time tumbling windows of one input partition, and the offsets that make them
replayable.

Pure logic: no Kafka, no faust. The app feeds each decoded event with its offset.

Event time is kept per camera. Many cameras share a partition and their clocks are not aligned
(an agent behind real time, a clock off by seconds, an agent replaying its spool after an
outage), so each camera has its own *stream time* (the largest event time it has sent) and the
partition has one too. The partition's is not simply the latest camera's: a camera whose clock is
set ahead (ten minutes, a wrong time zone) would drag it forward and close every neighbour's
windows before their events arrive. It is the running maximum of

    max(second_latest, latest - lone_lead)

over the cameras' stream times: a camera ahead of all the others moves the partition's clock only
once it is ``lone_lead`` seconds further, while two cameras that agree move it at once. A camera
``D`` seconds ahead of its neighbours therefore harms none of them as long as
``D <= lone_lead + idle + grace``; its own events are still counted, by its own clock, in its own
(future) windows. The price: when only one camera of a partition still sends, the silent ones'
windows close ``lone_lead`` seconds later than ``idle`` alone would close them. Both stream times
only grow, and the partition's is a monotone function of the cameras', so the replay argument
below is unchanged. A window of camera ``c`` closes once

    end + grace <= max(camera_time[c], partition_time - idle)

that is when the camera itself has moved past it, or when the partition has moved ``idle``
seconds further (a camera gone silent must not hold its last window, and so the partition's
commit offset, open forever). Both clocks only grow, so the condition, once true, stays true:
an event whose window satisfies it on arrival is *late* (counted and logged, not added).
``max(camera_time[c], partition_time - idle)`` is the camera's *effective* time; a camera whose
own time is at or below ``partition_time - idle`` no longer matters and is forgotten.

A camera's other streams. Crossings, zone samples and frames travel on three topics, so each
camera has a clock on three partitions. On its crossing partition alone, a quiet street's window
would wait for its next crossing (seconds to minutes after ``end + grace``) although its frames
(about one a second) and zone samples (every change, else every 5 s) show the camera has long
moved on. So ``close_due`` takes ``bound(c)``: the latest event time the worker has read from
``c`` on any partition it holds. A camera whose window waits on its own clock is raised to

    min(bound(c), session_time - behind[c])

as if it had sent an event at that time here (its clock, the lateness rule and the horizon move
together; the value is at most an event time the camera really sent). ``session_time`` is the
same robust clock as the partition's, ``max(second latest, latest - lone_lead)``, over the events
this owner has read here (without the horizon); ``behind[c]`` is how far the camera's last event
read here was behind it at that read (0 when it was not behind). Why both terms, i.e. why this
does not make one of the camera's own crossings late that its own clock would have counted:

* ``bound(c)``: the agent sends a camera's events in time order through one producer (one
  request in flight, in order), so once its frame at ``f`` is on the bus its crossings before
  ``f`` are too. It is the camera's own time: a camera that lags (a loaded edge box, a spool
  replayed after an outage) or whose clock is behind is bounded by its own lag; a camera whose
  clock is ahead already closes its windows by its own clock. It never touches a neighbour.
* ``session_time - behind[c]``: the worker reads the topics at different speeds (a backlog
  after a restart, one partition fetched ahead of another), so a crossing already on the bus may
  not be *read* yet when the frame that bounds it is. This term is how far this partition's own
  reading supports the camera: its clock has moved on since the camera's last event here, and
  the camera's next events sit in the log where the others' of ``behind[c]`` seconds later do.
  A window closes this way only once the partition has been read ``grace`` past its end at the
  camera's lag, so a crossing made late by it reached the bus more than ``grace`` after where
  its camera's lag put it: that is what the grace means everywhere else. A lagging camera's
  frames read far ahead of its crossings therefore close nothing early (a cap by the partition's
  clock alone would: its crossings sit next to the others' of 45 s later).
  Counting only this owner's reading keeps a replay from a committed offset exact: while it
  re-reads the open windows' events the cap is where that reading is, never the horizon's later
  clock. A subset of the events gives a clock no later than all of them, and the cap is never
  above ``session_time <= stream_time``, so raising a camera never moves the partition's clock.

What remains late this way is a crossing that reached the bus more than ``grace`` after the
camera's frames of a later time and later than its lag put it (a producer request that failed
while the next one, to another partition, succeeded, and was spooled and resent that much
later; an agent whose lag grew by more than ``grace`` between two of its events here). It is
logged like any late event, and ``ioc db maintain``'s window reconcile rebuilds its window from
the stored crossings. The raised clocks only grow, and a raise is one more event time in the
prefix of the partition as far as the replay argument below is concerned: the horizon stores
it, and a new owner judges replayed events by it as the first owner did. A new owner's own
raises may differ from the first owner's, which is the same as another run with other timing:
safe by the argument above. Heartbeats are not used: they travel on the health topic, read by
the alerting agent outside the counting batches, and the frames already bound a live camera
every second.

Exactness across restarts and rebalances rests on two things per partition, kept outside the
worker (see ``processors.counting`` and ``processors.horizon``):

* ``commit_offset``: the first offset of the earliest still-open window (or the next offset when
  none is open). Everything before it belongs to closed, emitted windows or was dropped as late.
* the *horizon* (``Horizon``): the clocks at that moment, the partition's and each camera's
  that still matters. Every window whose close condition holds under the horizon has been
  emitted (and acknowledged by the broker) before the horizon is stored.

A new owner resumes at the committed offset with its clocks set to the stored horizon. Why the
replay is exact: write ``S(n)`` for the clocks after offsets ``< n`` (a componentwise maximum
over that prefix, so it only grows with ``n``), and let the horizon be ``S(n)`` with commit
offset ``c(n) <= n``. Replaying offset ``o`` from ``c(n)`` on, the clocks are
``max(S(n), events c..o) = S(n)`` for ``o < n`` and ``max(S(n), events n..o) = S(o+1)`` beyond,
so an event at ``o >= n`` is admitted exactly as in an uninterrupted run. An event at ``o < n``
was judged by the first owner under ``S(o+1) <= S(n)``: if its window was still open at the
checkpoint it is open under ``S(n)`` and re-admitted, and every event of such a window has an
offset ``>= c(n)``, so the window is rebuilt whole; if its window had closed (emitted) or it was
late, the condition holds under ``S(n)`` and it is rejected. Each window is therefore emitted
with the numbers of an uninterrupted run; one emitted twice carries identical numbers, and the
sink's upsert makes that harmless. Windows are self contained (occupancy is weighted from the
window's own first sample) for the same reason.

The order of the two writes follows from the same argument. A horizon *ahead* of the committed
offset (``S(m)`` with an older ``c(n)``, ``n <= m``) is safe: ``c`` only grows, so windows open
at ``m`` start after ``c(n)``, and what closed between ``n`` and ``m`` was emitted before ``S(m)``
was written. A horizon *behind* the committed offset is not: windows that closed after the
horizon would be re-admitted from the middle and re-emitted partial. So the horizon is stored
first and the offset committed second (a crash in between leaves the horizon ahead: the replay
is longer, never wrong), and a stored horizon is only ever merged upwards (``Horizon.merged``):
a worker that lost its partition in a rebalance and stores a stale horizon late cannot move it
back below what the new owner has committed. Forgetting idle cameras does not change the
argument: it leaves every effective time as it was.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.contract import CountWindow, FrameEvent, LineCrossing, OccupancyWindow, ZoneOccupancy
from ingest.windowstats import occupancy_stats, speed_stats

__all__ = ["Admission", "FRAME_ZONE", "Horizon", "PartitionWindows", "WindowSpec", "occupancy_stats"]
#: zone id of the whole-view occupancy computed from frame events (objects tracked in the frame)
FRAME_ZONE = "_frame"


@dataclass(frozen=True, kw_only=True)
class WindowSpec:
    """Tumbling window length, the grace period granted to late events, and how far the
    partition's stream time may run ahead of a silent camera before its windows close (seconds)."""

    window_s: int = 60
    grace_s: float = 10.0
    idle_s: float = 300.0
    #: how far a camera ahead of every other camera on the partition is discounted before its
    #: clock moves the partition's (see the module docstring)
    lone_lead_s: float = 600.0

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ValueError(f"window_s must be positive, got {self.window_s}")
        if self.grace_s < 0:
            raise ValueError(f"grace_s must not be negative, got {self.grace_s}")
        if not self.idle_s >= 0:
            raise ValueError(f"idle_s must not be negative, got {self.idle_s}")
        if not self.lone_lead_s >= 0:
            raise ValueError(f"lone_lead_s must not be negative, got {self.lone_lead_s}")

    def start_of(self, ts: float) -> float:
        return (ts // self.window_s) * self.window_s

    def closes_at(self, start: float) -> float:
        return start + self.window_s + self.grace_s


class Admission(enum.Enum):
    COUNTED = "counted"
    # Its window had already closed in this session: later than the grace period allows.
    LATE = "late"
    # Its window had closed before this owner took the partition over: a replayed event of an
    # emitted window (normal after a restart or rebalance) or a late one; either way not counted.
    BEFORE_HORIZON = "before_horizon"
    # Not a crossing or zone sample (the topic carries other event types too).
    IGNORED = "ignored"
    # An offset delivered a second time (a re-fetch after a seek); already admitted.
    DUPLICATE = "duplicate"


@dataclass(slots=True)
class _Crossings:
    first_offset: int
    count: int = 0
    speeds: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _ZoneSamples:
    first_offset: int
    samples: list[tuple[float, int]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Horizon:
    """A partition's clocks at a checkpoint: its stream time and the stream time of each camera
    still ahead of ``stream_time - idle_s`` (the others no longer matter)."""

    stream_time: float
    cameras: dict[str, float] = field(default_factory=dict)

    def merged(self, other: Horizon | None, idle_s: float) -> Horizon:
        """The componentwise maximum (the clocks of the longer of two prefixes of one stream)."""
        if other is None:
            return self
        stream_time = max(self.stream_time, other.stream_time)
        floor = stream_time - idle_s
        cameras = {cam: ts for cam, ts in other.cameras.items() if ts > floor}
        for cam, ts in self.cameras.items():
            if ts > floor and ts > cameras.get(cam, -math.inf):
                cameras[cam] = ts
        return Horizon(stream_time=stream_time, cameras=cameras)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


class _LeadingCameras:
    """The latest event time of any camera and the latest of any other: what the robust clock
    ``max(second latest, latest - lone_lead)`` reads (see the module docstring)."""

    __slots__ = ("camera", "latest", "lone_lead_s", "second")

    def __init__(self, lone_lead_s: float) -> None:
        self.lone_lead_s = lone_lead_s
        self.camera: str | None = None
        self.latest = self.second = -math.inf

    def advance(self, camera: str, ts: float) -> float:
        """Note an event of ``camera`` at ``ts``; returns the robust clock after it."""
        if camera == self.camera:
            if ts > self.latest:
                self.latest = ts
        elif ts > self.latest:
            self.second, self.latest, self.camera = self.latest, ts, camera
        elif ts > self.second:
            self.second = ts
        clock = self.latest - self.lone_lead_s
        return self.second if self.second > clock else clock


class PartitionWindows:
    """Open windows of one input partition: crossings, zone samples, and frames (whose object
    count is the whole view's occupancy, published as zone ``FRAME_ZONE``)."""

    def __init__(self, spec: WindowSpec, *, horizon: Horizon | None = None) -> None:
        self.spec = spec
        self._window_s = float(spec.window_s)
        self._grace_s = float(spec.grace_s)
        self._idle_s = float(spec.idle_s)
        lone_lead_s = float(spec.lone_lead_s)
        #: the partition's stream time, and ``stream_time - idle_s``: the least effective time
        #: of any camera (see the module docstring)
        self.stream_time = -math.inf if horizon is None else horizon.stream_time
        self._floor = self.stream_time - self._idle_s
        #: camera -> its own stream time (cameras at or below ``_floor`` may be forgotten)
        self._camera_time: dict[str, float] = {} if horizon is None else dict(horizon.cameras)
        # Over the cameras' stream times. Forgotten cameras are below the floor, so never among
        # the two latest where it matters.
        self._leading = _LeadingCameras(lone_lead_s)
        for camera, ts in self._camera_time.items():
            self._leading.advance(camera, ts)
        #: the same robust clock over the events read by this owner only (no horizon): how far
        #: its own reading of the partition has got, which caps a camera's bound from its other
        #: streams (see the module docstring)
        self.session_time = -math.inf
        self._session_leading = _LeadingCameras(lone_lead_s)
        #: camera -> how far its last event read here was behind ``session_time`` at that read
        self._behind: dict[str, float] = {}
        # The clocks this owner started from: what closed under them closed before it took over.
        self._resumed_floor = self._floor
        self._resumed_cameras = dict(self._camera_time)
        self._next_offset: int | None = None
        self._crossings: dict[tuple[str, str, str, str, float], _Crossings] = {}
        self._zones: dict[tuple[str, str, float], _ZoneSamples] = {}
        #: camera -> keys of its open windows (crossing keys have 5 items, zone keys 3), and the
        #: earliest ``end + grace`` among them
        self._camera_windows: dict[str, list[tuple]] = {}
        self._camera_closes: dict[str, float] = {}
        self.late = 0
        self.before_horizon = 0

    # -- feeding ---------------------------------------------------------------------------

    def add(self, offset: int, event: object) -> Admission:
        """Admit one event read at ``offset``; offsets below the next expected are repeats."""
        if self._next_offset is not None and offset < self._next_offset:
            return Admission.DUPLICATE
        self._next_offset = offset + 1
        kind = type(event)
        # Frames first: they are most of the volume.
        if kind is FrameEvent:
            return self._add_sample(offset, event.camera_id, FRAME_ZONE, event.ts.timestamp(), len(event.objects))  # type: ignore[attr-defined]
        if kind is LineCrossing:
            return self._add_crossing(offset, event)  # type: ignore[arg-type]
        if kind is ZoneOccupancy:
            return self._add_sample(offset, event.camera_id, event.zone_id, event.ts.timestamp(), event.count)  # type: ignore[attr-defined]
        return Admission.IGNORED

    def _admit(self, camera: str, ts: float) -> tuple[Admission, float]:
        # The hot path: plain locals and dict lookups.
        camera_time = self._camera_time
        self._read(camera, ts)
        own = camera_time.get(camera, -math.inf)
        if ts > own:
            camera_time[camera] = own = ts
            partition = self._leading.advance(camera, ts)
            if partition > self.stream_time:
                self.stream_time = partition
                self._floor = partition - self._idle_s
        window_s = self._window_s
        start = (ts // window_s) * window_s  # == spec.start_of(ts), inlined
        closes = start + window_s + self._grace_s
        if closes <= own or closes <= self._floor:
            if closes <= self._resumed_floor or closes <= self._resumed_cameras.get(camera, -math.inf):
                self.before_horizon += 1
                return Admission.BEFORE_HORIZON, start
            self.late += 1
            return Admission.LATE, start
        return Admission.COUNTED, start

    def _read(self, camera: str, ts: float) -> None:
        """Move the session clock (the events read by this owner) and note how far ``camera``'s
        event read now is behind it."""
        session = self._session_leading.advance(camera, ts)
        if session > self.session_time:
            self.session_time = session
        if session > -math.inf:
            self._behind[camera] = session - ts

    def _opened(self, camera: str, key: tuple, start: float) -> None:
        self._camera_windows.setdefault(camera, []).append(key)
        closes = start + self._window_s + self._grace_s
        if closes < self._camera_closes.get(camera, math.inf):
            self._camera_closes[camera] = closes

    def _add_crossing(self, offset: int, event: LineCrossing) -> Admission:
        camera = event.camera_id
        admission, start = self._admit(camera, event.ts.timestamp())
        if admission is Admission.COUNTED:
            key = (camera, event.line_id, event.direction, event.cls, start)
            acc = self._crossings.get(key)
            if acc is None:
                acc = self._crossings[key] = _Crossings(first_offset=offset)
                self._opened(camera, key, start)
            acc.count += 1
            if event.speed_kmh is not None:
                acc.speeds.append(event.speed_kmh)
        return admission

    def _add_sample(self, offset: int, camera_id: str, zone_id: str, ts: float, count: int) -> Admission:
        admission, start = self._admit(camera_id, ts)
        if admission is Admission.COUNTED:
            key = (camera_id, zone_id, start)
            acc = self._zones.get(key)
            if acc is None:
                acc = self._zones[key] = _ZoneSamples(first_offset=offset)
                self._opened(camera_id, key, start)
            acc.samples.append((ts, count))
        return admission

    # -- closing ---------------------------------------------------------------------------

    def effective_time(self, camera: str) -> float:
        """The clock that closes ``camera``'s windows: its own, but never below the partition's
        stream time minus ``idle_s``."""
        return max(self._camera_time.get(camera, -math.inf), self._floor)

    def camera_clock(self, camera: str) -> float:
        """``camera``'s own stream time on this partition (the latest event time it has sent
        here, or was raised to from its other streams), -inf if unknown."""
        return self._camera_time.get(camera, -math.inf)

    def close_due(self, bound: Callable[[str], float] | None = None) -> list[CountWindow | OccupancyWindow]:
        """Remove and return every window whose ``end + grace`` its camera's effective time has
        passed.

        ``bound(camera)``, when given, is the latest event time the worker has read from that
        camera on any of its streams (its frames, zone samples, crossings on their own
        partitions). A camera whose windows wait for its own next event here is raised to
        ``min(bound(camera), session_time - behind[camera])`` (the module docstring says why)."""
        floor = self._floor
        camera_time = self._camera_time
        if bound is not None:
            session = self.session_time
            behind = self._behind
            for camera, closes in self._camera_closes.items():
                if closes <= floor or closes > session:
                    continue
                own = camera_time.get(camera, -math.inf)
                if closes <= own or camera not in behind:
                    continue
                # How far this partition's reading supports the camera: as far as its clock has
                # moved since the camera's last event here, at the camera's own lag behind it.
                cap = session - behind[camera] if behind[camera] > 0 else session
                if closes > cap:
                    continue
                raised = bound(camera)
                if raised > cap:
                    raised = cap
                if raised >= closes:
                    # As if the camera had sent an event at ``raised`` here: its clock, its
                    # lateness rule and the horizon all move together.
                    camera_time[camera] = raised
                    self._leading.advance(camera, raised)  # the partition clock itself moves on events only
        due = [camera for camera, closes in self._camera_closes.items()
               if closes <= floor or closes <= camera_time.get(camera, -math.inf)]
        closed: list[CountWindow | OccupancyWindow] = []
        window_s, grace_s = self._window_s, self._grace_s
        for camera in due:
            now = self.effective_time(camera)
            still_open: list[tuple] = []
            earliest = math.inf
            for key in self._camera_windows.pop(camera):
                closes = key[-1] + window_s + grace_s  # summed in _admit's order: same float
                if closes > now:
                    still_open.append(key)
                    earliest = min(earliest, closes)
                elif len(key) == 5:
                    closed.append(self._count_window(key, self._crossings.pop(key)))  # type: ignore[arg-type]
                else:
                    closed.append(self._occupancy_window(key, self._zones.pop(key)))  # type: ignore[arg-type]
            if still_open:
                self._camera_windows[camera] = still_open
                self._camera_closes[camera] = earliest
            else:
                del self._camera_closes[camera]
        return closed

    def _count_window(self, key: tuple[str, str, str, str, float], acc: _Crossings) -> CountWindow:
        camera_id, line_id, direction, cls, start = key
        mean, p85 = speed_stats(acc.speeds)
        return CountWindow(
            camera_id=camera_id,
            ts=_utc(start),
            line_id=line_id,
            direction=direction,  # type: ignore[arg-type]
            cls=cls,  # type: ignore[arg-type]
            window_s=self.spec.window_s,
            count=acc.count,
            speed_mean_kmh=mean,
            speed_p85_kmh=p85,
        )

    def _occupancy_window(self, key: tuple[str, str, float], acc: _ZoneSamples) -> OccupancyWindow:
        camera_id, zone_id, start = key
        peak, mean = occupancy_stats(acc.samples, start + self.spec.window_s)
        return OccupancyWindow(
            camera_id=camera_id, ts=_utc(start), zone_id=zone_id, window_s=self.spec.window_s, peak=peak, mean=mean
        )

    # -- checkpoint ------------------------------------------------------------------------

    @property
    def open_windows(self) -> int:
        return len(self._crossings) + len(self._zones)

    def horizon(self) -> Horizon:
        """The clocks to store with ``commit_offset()``. Cameras idle for more than ``idle_s``
        (own time at or below the floor) are forgotten here: they no longer change any decision."""
        floor = self._floor
        live = {camera: ts for camera, ts in self._camera_time.items() if ts > floor}
        if len(live) < len(self._camera_time):
            self._camera_time = live
            self._behind = {camera: lag for camera, lag in self._behind.items() if camera in live}
        return Horizon(stream_time=self.stream_time, cameras=dict(live))

    def commit_offset(self) -> int | None:
        """The offset a new owner must resume from so that no open window loses an event."""
        firsts = [acc.first_offset for acc in self._crossings.values()]
        firsts.extend(acc.first_offset for acc in self._zones.values())
        if firsts:
            return min(firsts)
        return self._next_offset

