"""Analytics on tracked detections, as small pure pieces with one ``trigger`` each.

Every piece works on the bottom-centre anchor of each box (where the object meets the ground),
keeps per-track state in a ``TrackMemory`` that forgets tracks unseen for a while (so a 24/7
agent's memory stays flat), and exposes its counts read-only. Time is passed in (``frame_no`` and
``now`` in seconds of stream time), so every piece runs without video or clocks.

* ``LineCounter``: crossings by direction and class, once per track and line, with hysteresis.
* ``ZoneCounter``: occupancy of a polygon, by class.
* ``DwellMonitor``: tracks staying in a zone longer than allowed (loitering).
* ``StoppedMonitor``: vehicles standing still (a breakdown, a crash, illegal parking).
* ``SpeedEstimator``: speed over ground from the calibration homography.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, Literal, TypeVar

import numpy as np

from camera_agents.detections import CLASS_ID, Detections
from camera_agents.geometry import GroundPlane, bottom_centre, points_in_polygon, side_of_arrow, signed_distance
from ingest.contract import OBJECT_CLASSES

Direction = Literal["in", "out"]
S = TypeVar("S")
_VEHICLES = frozenset(CLASS_ID[c] for c in ("motorbike", "car", "bus_truck", "bicycle"))


class TrackMemory(Generic[S]):
    """Per-track state that forgets tracks unseen for ``forget_after_s`` seconds."""

    def __init__(self, forget_after_s: float) -> None:
        self._forget_after_s = forget_after_s
        self._state: dict[int, S] = {}
        self._seen: dict[int, float] = {}
        self._last_prune = float("-inf")

    def get(self, track_id: int) -> S | None:
        return self._state.get(track_id)

    def put(self, track_id: int, state: S, now: float) -> None:
        self._state[track_id] = state
        self._seen[track_id] = now

    def touch(self, track_id: int, now: float) -> None:
        if track_id in self._state:
            self._seen[track_id] = now

    def pop(self, track_id: int) -> None:
        self._state.pop(track_id, None)
        self._seen.pop(track_id, None)

    def prune(self, now: float) -> None:
        # Sweep at most a few times per forget period: O(tracks) each, never per frame.
        if now - self._last_prune < self._forget_after_s / 4:
            return
        self._last_prune = now
        for track_id in [t for t, seen in self._seen.items() if now - seen > self._forget_after_s]:
            self.pop(track_id)

    def items(self) -> Iterator[tuple[int, S]]:
        return iter(list(self._state.items()))

    def __len__(self) -> int:
        return len(self._state)


def _confirmed(detections: Detections) -> np.ndarray:
    if detections.tracker_id is None:
        raise ValueError("analytics need tracked detections (run the tracker first)")
    confirmed = detections.data.get("confirmed")  # the default made only when it is wanted
    return (np.ones(len(detections), bool) if confirmed is None else confirmed).astype(bool)


# --- lines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountingLine:
    line_id: str
    a: tuple[float, float]
    b: tuple[float, float]
    in_side: int  # +1 / -1: the side of a->b the `in` arrow points to
    allowed_direction: Direction | None = None

    @classmethod
    def from_points(
        cls, line_id: str, points, in_direction, *, allowed_direction: Direction | None = None
    ) -> CountingLine:
        a, b = (tuple(map(float, p)) for p in points)
        arrow = tuple(tuple(map(float, p)) for p in in_direction)
        return cls(line_id, a, b, side_of_arrow(a, b, arrow), allowed_direction)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Crossing:
    line_id: str
    track_id: int
    direction: Direction
    class_id: int
    frame_no: int
    now: float
    wrong_way: bool = False

    @property
    def cls(self) -> str:
        return OBJECT_CLASSES[self.class_id]


_REARM_HEIGHTS, _REARM_PX = 3.0, 60.0  # how far past a line a counted track must go before it may count there again
# A line within 30 degrees of upright (|dx| <= 0.58 |dy|); the share of a box's height, from its
# anchor up, that must still meet such a line at a crossing below its lower end.
_UPRIGHT_SLOPE, _BODY_REACH = 0.58, 0.5


@dataclass(slots=True)
class _LineTrack:
    side: int  # last side the anchor was clearly on (0: not yet)
    x: float
    y: float
    distance: float
    pending: Crossing | None = None  # crossed while still unconfirmed
    counted: bool = False
    born: float = 0.0
    seen: float = 0.0
    last_x: float = 0.0  # the anchor when last seen (x, y above: when last clear of the line)
    last_y: float = 0.0
    height: float = 0.0
    confirmed: bool = False
    heir_of: int | None = None  # the vanished track whose crossing ``pending`` carries (see _hand_over)


class LineCounter:
    """Counts confirmed tracks crossing a line, by direction and class.

    A side change counts only once the anchor is ``hysteresis_px`` clear of the line on the new
    side, so a vehicle idling on a stop line does not count again and again; and each track
    counts at most once per line. A track that crosses before it is confirmed (an object entering
    at a frame edge right next to the line) is counted when it is confirmed. Anchors on the frame
    border count as clear of the line, so lines next to the edge still count.
    """

    def __init__(
        self,
        line: CountingLine,
        *,
        hysteresis_px: float = 4.0,
        frame_size: tuple[int, int] | None = None,
        forget_after_s: float = 10.0,
    ) -> None:
        self.line = line
        self._hysteresis = hysteresis_px
        self._frame_size = frame_size
        self._tracks: TrackMemory[_LineTrack] = TrackMemory(forget_after_s)
        self._counts: Counter[tuple[str, str]] = Counter()
        self._last_now: float | None = None
        dx, dy = line.b[0] - line.a[0], line.b[1] - line.a[1]
        length = float(np.hypot(dx, dy))
        self._t_tolerance = max(hysteresis_px, 2.0) / length  # crossings just past an end still count
        # On a line running up the picture, a vehicle in the lane nearest the camera crosses with
        # its anchor (the bottom of its box, nearest the camera) below the line's lower end while
        # its body, above the anchor, covers the end. Per pixel up the picture, how far along the
        # line a point moves (in fractions of its length); 0 on other lines, where moving up
        # reaches across the line's ends rather than along it.
        self._t_per_px_up = -dy / length**2 if abs(dx) <= _UPRIGHT_SLOPE * abs(dy) else 0.0

    @property
    def counts(self) -> Mapping[tuple[str, str], int]:
        """(direction, class) -> crossings so far."""
        return MappingProxyType(self._counts)

    @property
    def in_count(self) -> int:
        return sum(n for (d, _), n in self._counts.items() if d == "in")

    @property
    def out_count(self) -> int:
        return sum(n for (d, _), n in self._counts.items() if d == "out")

    @property
    def tracks_held(self) -> int:
        return len(self._tracks)

    def trigger(self, detections: Detections, *, frame_no: int, now: float) -> list[Crossing]:
        crossings: list[Crossing] = []
        if len(detections):
            anchors = bottom_centre(detections.xyxy)
            rows = zip(
                detections.tracker_id.tolist(),  # type: ignore[union-attr]
                anchors.tolist(),
                signed_distance(anchors, self.line.a, self.line.b).tolist(),
                self._thresholds(anchors).tolist(),
                _confirmed(detections).tolist(),
                detections.class_id.tolist(),
                (detections.xyxy[:, 3] - detections.xyxy[:, 1]).tolist(),
            )  # plain Python values: one track at a time is cheaper on them than on numpy scalars
            for track_id, anchor, distance, threshold, confirmed, class_id, height in rows:
                crossing = self._step(track_id, anchor, distance, threshold, confirmed, class_id, frame_no, now)
                if crossing is not None:
                    crossings.append(crossing)
                state = self._tracks.get(track_id)
                if state is not None:
                    state.seen, state.last_x, state.last_y = now, anchor[0], anchor[1]
                    state.height = height
                    state.confirmed = state.confirmed or confirmed
            crossings += self._hand_over(detections, frame_no, now)
        self._last_now = now
        self._tracks.prune(now)
        for crossing in crossings:
            self._counts[(crossing.direction, crossing.cls)] += 1
        return crossings

    def _hand_over(self, detections: Detections, frame_no: int, now: float) -> list[Crossing]:
        """A confirmed track that vanished just before the line while a new track was born just
        past it, where it would have gone, is one object whose id changed at the line (a vehicle
        pulling away from a queue leaves its id on the queue's blob; a white stop line cuts a grey
        car in two): the new id inherits the old one's side, so the crossing is counted once."""
        last = self._last_now
        if last is None:
            return []
        step = max(now - last, 1e-6)
        current = set(detections.tracker_id.tolist())  # type: ignore[union-attr]
        vanished = [
            (t, st) for t, st in self._tracks.items()
            if t not in current and st.seen == last and st.confirmed and not st.counted and st.pending is None and st.side != 0
        ]  # fmt: skip
        if not vanished:
            return []
        found: list[Crossing] = []
        class_of = dict(zip(detections.tracker_id.tolist(), detections.class_id.tolist()))  # type: ignore[union-attr]
        for old_id, old in vanished:
            best, best_gap = None, float("inf")
            for new_id in current:
                new = self._tracks.get(new_id)
                if new is None or new.counted or new.pending is not None or new.side != -old.side or now - new.born > 2.5 * step:
                    continue
                gap = float(np.hypot(new.last_x - old.last_x, new.last_y - old.last_y))
                if gap <= max(1.5 * max(old.height, new.height), 20.0) and gap < best_gap:
                    best, best_gap = new_id, gap
            if best is None:
                continue
            new = self._tracks.get(best)
            assert new is not None
            (ax, ay), (bx, by) = self.line.a, self.line.b
            t = ((new.last_x - ax) * (bx - ax) + (new.last_y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)
            if not -self._t_tolerance <= t <= 1 + self._t_tolerance:
                continue
            direction: Direction = "in" if new.side == self.line.in_side else "out"
            allowed = self.line.allowed_direction
            if allowed is not None and direction != allowed:
                # A wrong way is an incident the police are called to: only a track seen crossing
                # itself reports one, not a crossing read from an id that changed at the line (a
                # vehicle broken into pieces hands its side to a piece behind it).
                continue
            crossing = Crossing(self.line.line_id, best, direction, int(class_of[best]), frame_no, now, wrong_way=False)
            if new.confirmed:
                old.counted = new.counted = True
                found.append(crossing)
            else:
                # Counted once the heir is confirmed. Until then the old id may still come back
                # and cross itself (the new one was a piece of it, born as it blurred past the
                # line): then it counts and the heir's claim lapses, so a piece that never
                # confirms takes no crossing with it.
                new.pending, new.heir_of = crossing, old_id
        return found

    def _thresholds(self, anchors: np.ndarray) -> np.ndarray:
        threshold = np.full(len(anchors), self._hysteresis)
        if self._frame_size is not None:
            width, height = self._frame_size
            on_border = (anchors[:, 0] <= 1) | (anchors[:, 0] >= width - 1) | (anchors[:, 1] <= 1) | (anchors[:, 1] >= height - 1)
            threshold[on_border] = min(self._hysteresis, 0.5)
        return threshold

    def _step(
        self, track_id: int, anchor: list[float], distance: float, threshold: float, confirmed: bool,
        class_id: int, frame_no: int, now: float,
    ) -> Crossing | None:  # fmt: skip
        state = self._tracks.get(track_id)
        side = 0 if abs(distance) < threshold else (1 if distance > 0 else -1)
        if state is None:
            self._tracks.put(track_id, _LineTrack(side, anchor[0], anchor[1], distance, born=now), now)
            return None
        self._tracks.touch(track_id, now)
        result: Crossing | None = None
        if state.counted and side != 0 and side == state.side and abs(distance) >= max(_REARM_HEIGHTS * state.height, _REARM_PX):
            # Counted, then far past the line: coming back over it is another object whose id the
            # tracker handed on (one leaving the picture where another enters), not this one again.
            state.counted = False
        if side != 0 and state.side != 0 and side != state.side and not state.counted and state.pending is None:
            direction: Direction = "in" if side == self.line.in_side else "out"
            allowed = self.line.allowed_direction
            wrong_way = allowed is not None and direction != allowed
            # A wrong way is an incident the police are called to: a track must be seen crossing,
            # not lost before the line and found again past it. In a crawling queue the tracker
            # finds a lost id again on the vehicle ahead, up the road (a real camera over Jakarta:
            # two of its three ids that jumped back across the line in 20 s would each have raised
            # one); a vehicle driving against the traffic is seen on every analysed frame.
            jumped = state.seen != self._last_now
            if self._crosses_segment(state, anchor, distance) and not (wrong_way and jumped):
                crossing = Crossing(self.line.line_id, track_id, direction, class_id, frame_no, now, wrong_way=wrong_way)
                if confirmed:
                    state.counted = True
                    result = crossing
                    self._revoke_heirs(track_id)
                else:
                    state.pending = crossing
        if confirmed and state.pending is not None and not state.counted:
            pending = state.pending
            # The class is the track's vote now, not at the (unconfirmed) moment of crossing.
            result = Crossing(pending.line_id, track_id, pending.direction, class_id, pending.frame_no, pending.now, pending.wrong_way)
            state.counted = True
            state.pending = None
            if state.heir_of is not None:  # the crossing was the vanished track's: it and any other heir are done
                ancestor = self._tracks.get(state.heir_of)
                if ancestor is not None:
                    ancestor.counted = True
                self._revoke_heirs(state.heir_of)
                state.heir_of = None
        if side != 0:
            state.side, state.x, state.y, state.distance = side, anchor[0], anchor[1], distance
        return result

    def _revoke_heirs(self, track_id: int) -> None:
        """The crossing of ``track_id``, counted, is no longer pending on any track it was handed to."""
        for _, state in self._tracks.items():
            if state.heir_of == track_id and state.pending is not None:
                state.pending, state.heir_of = None, None

    def _crosses_segment(self, state: _LineTrack, anchor: list[float], distance: float) -> bool:
        # Where the motion from the last clear position to now meets the line, along the segment.
        fraction = state.distance / (state.distance - distance)
        x = state.x + (anchor[0] - state.x) * fraction
        y = state.y + (anchor[1] - state.y) * fraction
        (ax, ay), (bx, by) = self.line.a, self.line.b
        t = ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)
        # The box's lower half, from the anchor up, along the line: it must meet the segment.
        t_up = t + self._t_per_px_up * _BODY_REACH * state.height
        return max(t, t_up) >= -self._t_tolerance and min(t, t_up) <= 1 + self._t_tolerance


# --- zones ------------------------------------------------------------------------------------


class ZoneCounter:
    """How many confirmed tracks have their anchor in the polygon, by class."""

    def __init__(self, zone_id: str, polygon) -> None:
        self.zone_id = zone_id
        self.polygon = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        self._by_class: dict[str, int] = {}
        self._inside = np.zeros(0, bool)

    @property
    def count(self) -> int:
        return sum(self._by_class.values())

    @property
    def by_class(self) -> Mapping[str, int]:
        return MappingProxyType(self._by_class)

    def trigger(self, detections: Detections) -> np.ndarray:
        """Updates the occupancy; returns the mask of detections inside (confirmed or not)."""
        inside = points_in_polygon(bottom_centre(detections.xyxy), self.polygon) if len(detections) else np.zeros(0, bool)
        counted = inside & _confirmed(detections) if len(detections) else inside
        self._by_class = dict(Counter(OBJECT_CLASSES[c] for c in detections.class_id[counted]))
        self._inside = inside
        return inside


@dataclass(frozen=True)
class Dwell:
    track_id: int
    class_id: int
    zone_id: str | None
    duration_s: float
    frame_no: int


@dataclass(slots=True)
class _Stay:
    start: tuple[float, float]  # where the track was first seen, in the zone or not
    box: tuple[float, float, float, float]  # where it was last seen (xyxy)
    since: float | None = None  # when its stay in the zone began (None: it is not staying)
    last_inside: float = -math.inf
    arrived: bool = False  # it came there from where it was first seen
    reported: bool = False


class DwellMonitor:
    """Reports each confirmed track once per stay when it stays in the zone over ``dwell_s``.
    Leaving for less than ``grace_s`` (an occlusion, a jittery anchor at the edge) keeps the stay.

    With ``must_arrive`` (vehicles), as for stopped vehicles (``StoppedMonitor``), only a track
    that came from somewhere (``has_arrived``) is reported: an advertising screen or a tree in the
    zone lives as one track that never moves, and would be reported stopped over and over. People
    standing together merge and split under new ids, each piece born in place: there (loitering)
    every track is reported, and what never moves is masked (``ioc agent tune`` shows it). A
    track come into the zone without having come from anywhere takes over the stay of those
    staying where it appeared (``_inherited``)."""

    def __init__(
        self, zone: ZoneCounter, *, dwell_s: float, grace_s: float = 2.0, forget_after_s: float = 10.0, must_arrive: bool = True
    ) -> None:
        self.zone = zone
        self._must_arrive = must_arrive
        self._dwell_s = dwell_s
        self._grace_s = grace_s
        # Every confirmed track, in the zone or not: where it was first seen tells whether it arrived.
        self._stays: TrackMemory[_Stay] = TrackMemory(max(forget_after_s, grace_s))

    @property
    def tracks_held(self) -> int:
        return len(self._stays)

    def trigger(self, detections: Detections, inside: np.ndarray, *, frame_no: int, now: float) -> list[Dwell]:
        """``inside``: the mask ``ZoneCounter.trigger`` returned for the same detections."""
        found: list[Dwell] = []
        if len(detections):
            confirmed = _confirmed(detections)
            ids = detections.tracker_id[confirmed].tolist()  # type: ignore[index]
            boxes = detections.xyxy[confirmed]
            rows = zip(ids, bottom_centre(boxes).tolist(), boxes.tolist(), inside[confirmed].tolist(), detections.class_id[confirmed].tolist())
            staying = [stay for _, stay in self._stays.items() if stay.since is not None and stay.arrived and now - stay.last_inside <= _HANDOVER_S]
            before = [(stay, stay.box) for stay in staying]  # where they were last frame, before this one moves them
            for track_id, (x, y), box, is_inside, class_id in rows:
                stay = self._stays.get(track_id)
                if stay is None:
                    stay = _Stay(start=(x, y), box=tuple(box))
                    self._stays.put(track_id, stay, now)
                self._stays.touch(track_id, now)
                stay.box = tuple(box)
                if not stay.arrived:
                    stay.arrived = has_arrived(stay.start, (x, y), box)
                if not is_inside:
                    if stay.since is not None and now - stay.last_inside > self._grace_s:
                        stay.since, stay.reported = None, False  # it left: a later stay is another one
                    continue
                if stay.since is None:
                    heir_of = None if stay.arrived else _inherited(box, before)
                    stay.since = now if heir_of is None else heir_of.since
                    if heir_of is not None:
                        stay.arrived, stay.reported = True, heir_of.reported
                stay.last_inside = now
                if (stay.arrived or not self._must_arrive) and not stay.reported and now - stay.since >= self._dwell_s:
                    stay.reported = True
                    found.append(Dwell(track_id, class_id, self.zone.zone_id, now - stay.since, frame_no))
        self._stays.prune(now)
        return found


def _inherited(box: list[float], staying: list[tuple[_Stay, tuple[float, float, float, float]]]) -> _Stay | None:
    """The stay that a track come into the zone without having come from anywhere takes over:
    of the tracks staying there a moment ago (``staying``, each with the box it was last seen at),
    the one of longest stay that its ``box`` overlaps by half the smaller of the two. People
    standing together are one blob, then two, then one again, each time under new ids, and
    someone hidden by a passer-by comes back under a new id: the spot has been occupied all along.
    Its start is taken over, and whether it was reported (a group reported once is not reported
    again piece by piece). None: nothing was staying there."""
    best: _Stay | None = None
    for stay, last_box in staying:
        if _shared(box, last_box) >= 0.5 and (best is None or stay.since < best.since):  # type: ignore[operator]
            best = stay
    return best


# How recently a track must have been staying in the zone for a new track where it was to take its
# stay over: a merge or a split is seen at the next analysed frame; someone hidden by a passer-by is
# back within a second or two.
_HANDOVER_S = 2.0


def _shared(a: Sequence[float], b: Sequence[float]) -> float:
    """How much of the smaller of boxes ``a`` and ``b`` (xyxy) the other covers."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = max(min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])), 1e-6)
    return ix * iy / smaller


def has_arrived(start: tuple[float, float], anchor: tuple[float, float], box: Sequence[float]) -> bool:
    """Whether a track whose anchor was first seen at ``start`` and is now at ``anchor``, its box
    ``box`` (xyxy), came from somewhere: its anchor moved further than the box is long. What
    appears in place and never moves (an advertising screen, a tree in the wind) jitters within
    its own box; a vehicle that drove in has come many of its lengths."""
    return math.hypot(anchor[0] - start[0], anchor[1] - start[1]) > max(box[2] - box[0], box[3] - box[1])


@dataclass(slots=True)
class _Still:
    x: float  # the spot the anchor stays near, and since when
    y: float
    since: float
    start: tuple[float, float]  # where the track was first seen
    box: tuple[float, float, float, float]  # where it was last seen (xyxy)
    seen: float  # when it was last seen
    arrived: bool = False  # it drove there from where it was first seen
    reported: bool = False


class StoppedMonitor:
    """Vehicles that drove to a spot and whose anchor stays within ``max_px`` of it for
    ``stopped_s`` seconds; reported once per stop, re-armed when the vehicle moves on.

    What appears in place and never moves is not a vehicle that stopped: an advertising screen
    beside the road, whose changing picture the background never learns, or a patch of the verge a
    low bitrate keeps smearing, lives as one track for minutes. A track counts once it has arrived
    (``has_arrived``). A stopped vehicle hidden for a while (a bus passing in front of it) comes
    back as a new track where it stood: that track is the same vehicle, its stop neither restarted
    nor reported again."""

    def __init__(self, *, stopped_s: float, max_px: float, forget_after_s: float = 10.0) -> None:
        self._stopped_s = stopped_s
        self._max_px = max_px
        self._still: TrackMemory[_Still] = TrackMemory(forget_after_s)
        self._longest_wait = 0.0

    @property
    def tracks_held(self) -> int:
        return len(self._still)

    @property
    def longest_wait_s(self) -> float:
        """The longest a vehicle stood on one spot and then drove on, so far: a wait at a red
        light or in a queue, which ``stopped_s`` must outlast or every wait that long is reported."""
        return self._longest_wait

    def trigger(self, detections: Detections, *, frame_no: int, now: float) -> list[Dwell]:
        found: list[Dwell] = []
        if len(detections):
            confirmed = _confirmed(detections)
            ids = detections.tracker_id[confirmed].tolist()  # type: ignore[index]
            seen = set(ids)
            boxes = detections.xyxy[confirmed]
            rows = zip(detections.class_id[confirmed].tolist(), ids, bottom_centre(boxes).tolist(), boxes.tolist())
            for class_id, track_id, (x, y), box in rows:
                if class_id not in _VEHICLES:
                    continue
                still = self._still.get(track_id)
                if still is None:
                    still = self._stood_here(x, y, seen)
                    self._still.put(track_id, still or _Still(x, y, now, start=(x, y), box=tuple(box), seen=now), now)
                    if still is None:
                        continue
                self._still.touch(track_id, now)
                still.box, still.seen = tuple(box), now
                if not still.arrived:
                    still.arrived = has_arrived(still.start, (x, y), box)
                if np.hypot(x - still.x, y - still.y) > self._max_px:
                    if still.arrived:
                        self._longest_wait = max(self._longest_wait, now - still.since)
                    still.x, still.y, still.since, still.reported = x, y, now, False
                    continue
                if still.arrived and not still.reported and now - still.since >= self._stopped_s:
                    still.reported = True
                    found.append(Dwell(track_id, class_id, None, now - still.since, frame_no))
        self._still.prune(now)
        return found

    def _stood_here(self, x: float, y: float, seen: set[int]) -> _Still | None:
        """The stop of a vehicle that drove in and stood (``_STOOD_S`` or more) where a new
        track's anchor (``x``, ``y``) is, its own track not among those ``seen`` now: handed to the
        new track, the anchor moved to where the new track sees it. A vehicle lost while it drove on
        hands nothing to what appears where it was."""
        for track_id, still in self._still.items():
            x1, y1, x2, y2 = still.box
            stood = still.arrived and still.seen - still.since >= _STOOD_S
            if stood and track_id not in seen and x1 <= x <= x2 and y1 <= y <= y2:
                self._still.pop(track_id)
                still.x, still.y = x, y
                return still
        return None


# How long a vehicle must have stood at its spot before a track found there after it was lost is
# taken for it: two or three analysed frames at the usual rates. A vehicle still driving moves off
# its spot within one (and a vehicle lost then hands nothing on); one that has just stopped is
# often hidden within a second (the bus behind it pulling out past it), and with a second's wait
# its stop went to a track that had not driven in, so it was never reported.
_STOOD_S = 0.25


class SpeedEstimator:
    """Speed over ground (km/h) of each track from its anchor's path in the last ``window_s``."""

    def __init__(self, ground: GroundPlane, *, window_s: float = 1.0, forget_after_s: float = 10.0) -> None:
        self._ground = ground
        self._window_s = window_s
        self._paths: TrackMemory[deque[tuple[float, float, float]]] = TrackMemory(forget_after_s)

    @property
    def tracks_held(self) -> int:
        return len(self._paths)

    def trigger(self, detections: Detections, *, now: float, frame_size: tuple[int, int] | None = None) -> np.ndarray:
        """Speed per detection in km/h; NaN until a track has a path of half the window.
        Boxes cut by the frame's edge are not sampled: their anchor is the edge, not the ground."""
        speeds = np.full(len(detections), np.nan)
        if len(detections):
            ground = self._ground.to_ground(bottom_centre(detections.xyxy))
            cut = np.zeros(len(detections), bool)
            if frame_size is not None:
                xyxy = detections.xyxy
                cut = (xyxy[:, 0] <= 1) | (xyxy[:, 1] <= 1) | (xyxy[:, 2] >= frame_size[0] - 1) | (xyxy[:, 3] >= frame_size[1] - 1)
            for i, (track_id, is_cut, (x, y)) in enumerate(zip(detections.tracker_id.tolist(), cut.tolist(), ground.tolist())):  # type: ignore[union-attr]
                if is_cut:
                    continue
                path = self._paths.get(track_id)
                if path is None:
                    path = deque()
                    self._paths.put(track_id, path, now)
                else:
                    self._paths.touch(track_id, now)
                path.append((now, x, y))
                while len(path) > 2 and now - path[1][0] >= self._window_s:
                    path.popleft()
                t0, x0, y0 = path[0]
                if now - t0 >= self._window_s / 2:
                    speeds[i] = float(np.hypot(x - x0, y - y0)) / (now - t0) * 3.6
        self._paths.prune(now)
        return speeds
