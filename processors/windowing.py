"""Exact event-time tumbling windows of one input partition, and the offsets that make them
replayable.

Pure logic: no Kafka, no faust. The app feeds each decoded event with its offset; windows close
when the partition's stream time (the largest event time seen) passes ``end + grace``.

Exactness across restarts and rebalances rests on two numbers per partition, kept outside the
worker (see ``processors.app``):

* ``commit_offset``: the first offset of the earliest still-open window (or the next offset when
  none is open). Everything before it belongs to closed, emitted windows or was dropped as late.
* ``stream_time`` at that moment, stored as the partition's *horizon*: every window with
  ``end + grace <= horizon`` has been emitted.

A new owner resumes at ``commit_offset`` with ``stream_time = horizon``. Replaying from there
re-admits exactly the events the old owner had admitted into still-open windows and rejects the
rest (windows already emitted, or late), so each window is rebuilt whole and emitted once more
with the same numbers; the sink's upsert makes that second emission harmless. Windows are self
contained (occupancy is weighted from the window's own first sample) for the same reason.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from datetime import datetime, timezone

from ingest.contract import CountWindow, FrameEvent, LineCrossing, OccupancyWindow, ZoneOccupancy
from processors.percentile import percentile

P85 = 85.0
#: zone id of the whole-view occupancy computed from frame events (objects tracked in the frame)
FRAME_ZONE = "_frame"


@dataclass(frozen=True, kw_only=True)
class WindowSpec:
    """Tumbling window length and the grace period granted to late events (seconds)."""

    window_s: int = 60
    grace_s: float = 10.0

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ValueError(f"window_s must be positive, got {self.window_s}")
        if self.grace_s < 0:
            raise ValueError(f"grace_s must not be negative, got {self.grace_s}")

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


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


class PartitionWindows:
    """Open windows of one input partition: crossings, zone samples, and frames (whose object
    count is the whole view's occupancy, published as zone ``FRAME_ZONE``)."""

    def __init__(self, spec: WindowSpec, *, horizon: float | None = None) -> None:
        self.spec = spec
        self._window_s = float(spec.window_s)
        self._grace_s = float(spec.grace_s)
        start = -math.inf if horizon is None else horizon
        self.stream_time = start
        self.resumed_at = start
        self._next_offset: int | None = None
        self._crossings: dict[tuple[str, str, str, str, float], _Crossings] = {}
        self._zones: dict[tuple[str, str, float], _ZoneSamples] = {}
        self._earliest_close = math.inf
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

    def _admit(self, ts: float) -> tuple[Admission, float]:
        if ts > self.stream_time:
            self.stream_time = ts
        window_s = self._window_s
        start = (ts // window_s) * window_s  # == spec.start_of(ts), inlined: the hot path
        closes = start + window_s + self._grace_s
        if closes <= self.stream_time:
            if closes <= self.resumed_at:
                self.before_horizon += 1
                return Admission.BEFORE_HORIZON, start
            self.late += 1
            return Admission.LATE, start
        if closes < self._earliest_close:
            self._earliest_close = closes
        return Admission.COUNTED, start

    def _add_crossing(self, offset: int, event: LineCrossing) -> Admission:
        admission, start = self._admit(event.ts.timestamp())
        if admission is Admission.COUNTED:
            key = (event.camera_id, event.line_id, event.direction, event.cls, start)
            acc = self._crossings.get(key)
            if acc is None:
                acc = self._crossings[key] = _Crossings(first_offset=offset)
            acc.count += 1
            if event.speed_kmh is not None:
                acc.speeds.append(event.speed_kmh)
        return admission

    def _add_sample(self, offset: int, camera_id: str, zone_id: str, ts: float, count: int) -> Admission:
        admission, start = self._admit(ts)
        if admission is Admission.COUNTED:
            key = (camera_id, zone_id, start)
            acc = self._zones.get(key)
            if acc is None:
                acc = self._zones[key] = _ZoneSamples(first_offset=offset)
            acc.samples.append((ts, count))
        return admission

    # -- closing ---------------------------------------------------------------------------

    def close_due(self) -> list[CountWindow | OccupancyWindow]:
        """Remove and return every window whose ``end + grace`` the stream time has passed."""
        if self.stream_time < self._earliest_close:
            return []
        closed: list[CountWindow | OccupancyWindow] = []
        now = self.stream_time
        spec = self.spec
        for key in [k for k in self._crossings if spec.closes_at(k[4]) <= now]:
            closed.append(self._count_window(key, self._crossings.pop(key)))
        for key in [k for k in self._zones if spec.closes_at(k[2]) <= now]:
            closed.append(self._occupancy_window(key, self._zones.pop(key)))
        self._earliest_close = min(
            (spec.closes_at(start) for start in self._open_starts()), default=math.inf
        )
        return closed

    def _open_starts(self) -> Iterator[float]:
        yield from {k[4] for k in self._crossings}
        yield from {k[2] for k in self._zones}

    def _count_window(self, key: tuple[str, str, str, str, float], acc: _Crossings) -> CountWindow:
        camera_id, line_id, direction, cls, start = key
        speeds = acc.speeds
        return CountWindow(
            camera_id=camera_id,
            ts=_utc(start),
            line_id=line_id,
            direction=direction,  # type: ignore[arg-type]
            cls=cls,  # type: ignore[arg-type]
            window_s=self.spec.window_s,
            count=acc.count,
            speed_mean_kmh=sum(speeds) / len(speeds) if speeds else None,
            speed_p85_kmh=percentile(speeds, P85),
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

    def commit_offset(self) -> int | None:
        """The offset a new owner must resume from so that no open window loses an event."""
        firsts = [acc.first_offset for acc in self._crossings.values()]
        firsts.extend(acc.first_offset for acc in self._zones.values())
        if firsts:
            return min(firsts)
        return self._next_offset


def occupancy_stats(samples: list[tuple[float, int]], end: float) -> tuple[int, float]:
    """Peak and time-weighted mean of a zone's step-function count within one window.

    Each sample holds until the next one (or the window's end). The mean covers the window from
    its first sample on: the value before it belongs to an earlier window's samples, and keeping
    windows self-contained is what lets a restarted worker rebuild them exactly. Agents resend
    every few seconds, so that uncovered head is a few seconds at most.
    """
    ordered = sorted(samples)
    peak = max(count for _, count in ordered)
    first = ordered[0][0]
    span = end - first
    if span <= 0:
        return peak, float(ordered[-1][1])
    area = 0.0
    for (ts, count), (next_ts, _) in zip(ordered, ordered[1:] + [(end, 0)]):
        area += count * (next_ts - ts)
    return peak, area / span
