"""A city's cameras as the event streams their agents send, without video.

Each simulated traffic camera sees objects arrive at its street's rate for the hour (a Poisson
process around a daily volume, with the day's shape: quiet nights, rush hours at 07:00 and
17:00-18:00 local time), stay in view a few seconds and cross its counting line once. From those
tracks it sends what an agent sends (camera_agents/pipeline.py, with its defaults):

* frame events on the analysis grid (25 fps, every 3rd frame analysed), sampled as the agent
  samples them (ingest/framesample.py: whenever a track appears or ends, else the first of each second);
* one crossing per object at its line, with class, direction and speed;
* zone occupancy of the junction box on every change, else every 5 s;
* a heartbeat every 5 s, the registry entry every 300 s;
* now and then a stopped vehicle (an incident with its evidence picture), and a health condition
  raised and cleared.

The rates were read off real agent runs: the demo's synthetic traffic scene sends 2.5 tracks/s,
7.5 frame events/s (of 8.3 analysed), 3.3 crossings/s and 2.9 zone samples/s. That scene is a
busy junction: the city's cameras average ~25,000 objects a day (ingest/warehouse/synthetic.py),
0.3 a second, which is what ``daily_volume`` defaults to. Deterministic for a seed.
"""

from __future__ import annotations

import bisect
import math
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from ingest import contract as c

ANALYSIS_HZ = 25 / 3
FRAME_EVERY_S = 1.0
ZONE_EVERY_S = 5.0
HEARTBEAT_EVERY_S = 5.0
INFO_EVERY_S = 300.0
INCIDENTS_PER_DAY = 6.0  # stopped vehicles per camera a day, each with a snapshot
HEALTH_PER_DAY = 2.0  # a condition raised (and cleared a minute later) per camera a day
SNAPSHOT_BYTES = (20_000, 45_000)  # a blurred 960x540 JPEG kept under 60 KiB by the agent
CLASS_MIX = (("motorbike", 0.80), ("car", 0.11), ("bus_truck", 0.03), ("bicycle", 0.035), ("person", 0.025))
LOCAL = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh, no daylight saving
# Share of the day's objects in each local hour (sums to 1): nights near empty, two rush hours.
HOURLY_SHARE = tuple(w / 100 for w in (
    0.6, 0.4, 0.3, 0.3, 0.6, 2.0, 4.5, 7.5, 6.5, 5.0, 4.6, 4.8, 4.6, 4.3, 4.4, 4.9, 5.8, 7.6, 7.9, 6.2, 5.0, 3.8, 2.5, 1.4,
))
WIDTH, HEIGHT = 1280, 720


@dataclass
class _Track:
    track_id: int
    cls: str
    start: float
    end: float
    speed_kmh: float
    confidence: float
    direction: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 at start
    step: tuple[float, float]  # pixels a second


@dataclass
class CameraSim:
    camera_id: str
    start: datetime
    daily_volume: float = 25_000.0
    seed: int = 0
    frame_every_s: float = FRAME_EVERY_S
    rnd: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rnd = random.Random(f"{self.camera_id}/{self.seed}")
        self._now = self.start.timestamp()
        self._tracks: list[_Track] = []  # started or starting, not yet ended before _now
        self._next_arrival = self._now + self._gap(self._now)
        self._next_track_id = 1
        offset = self.rnd.uniform(0, 1)
        self._last_frame = self._now - 10.0
        self._last_zone: tuple[float, int] = (self._now - 100.0, -1)
        self._next_heartbeat = self._now + offset * HEARTBEAT_EVERY_S
        self._next_info = self._now + offset * INFO_EVERY_S
        self._next_incident = self._now + self.rnd.expovariate(INCIDENTS_PER_DAY / 86_400)
        self._next_health = self._now + self.rnd.expovariate(HEALTH_PER_DAY / 86_400)
        self._later: list[tuple[float, c.Event]] = []  # events already decided, due after the last ``until``

    def _rate(self, t: float) -> float:
        hour = datetime.fromtimestamp(t, LOCAL).hour
        return self.daily_volume * HOURLY_SHARE[hour] / 3600

    def _gap(self, t: float) -> float:
        return self.rnd.expovariate(max(self._rate(t), 1e-6))

    def _new_track(self, t: float) -> _Track:
        rnd = self.rnd
        cls = rnd.choices([k for k, _ in CLASS_MIX], [w for _, w in CLASS_MIX])[0]
        dwell = rnd.uniform(3.0, 9.0)
        w, h = {"motorbike": (60, 90), "car": (160, 120), "bus_truck": (260, 220), "bicycle": (50, 80), "person": (35, 90)}[cls]
        scale = rnd.uniform(0.7, 1.3)
        w, h = w * scale, h * scale
        down = rnd.random() < 0.5
        x = rnd.uniform(100, WIDTH - 100 - w)
        y0, y1 = (0.0, HEIGHT - h) if down else (HEIGHT - h, 0.0)
        track = _Track(
            track_id=self._next_track_id, cls=cls, start=t, end=t + dwell,
            speed_kmh=round(max(3.0, rnd.gauss(35 if cls != "person" else 5, 8)), 1), confidence=round(rnd.uniform(0.45, 0.99), 3),
            direction="in" if down else "out", box=(x, y0, x + w, y0 + h), step=(rnd.uniform(-5, 5), (y1 - y0) / dwell),
        )  # fmt: skip
        self._next_track_id += 1
        return track

    @staticmethod
    def _grid(t: float) -> float:
        """The first analysed frame at or after ``t``."""
        return math.ceil(t * ANALYSIS_HZ - 1e-9) / ANALYSIS_HZ

    def _objects(self, t: float) -> tuple[c.TrackedObject, ...]:
        out = []
        for tr in self._tracks:
            if tr.start <= t < tr.end:
                dt = t - tr.start
                x1, y1, x2, y2 = tr.box
                dx, dy = tr.step[0] * dt, tr.step[1] * dt
                out.append(c.TrackedObject(
                    track_id=tr.track_id, cls=tr.cls, confidence=tr.confidence,  # type: ignore[arg-type]
                    bbox=(round(x1 + dx, 1), round(y1 + dy, 1), round(x2 + dx, 1), round(y2 + dy, 1)),
                    speed_kmh=tr.speed_kmh if dt > 1.0 else None,
                ))  # fmt: skip
        return tuple(out)

    def _in_zone(self, t: float) -> dict[str, int]:
        by_class: dict[str, int] = {}
        for tr in self._tracks:
            d = tr.end - tr.start
            if tr.start + 0.25 * d <= t < tr.start + 0.75 * d:
                by_class[tr.cls] = by_class.get(tr.cls, 0) + 1
        return by_class

    def _ts(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, UTC)

    def advance(self, until: datetime) -> list[c.Event]:
        """Every event with a timestamp in [the last ``until``, ``until``), in time order."""
        end = until.timestamp()
        if end <= self._now:
            return []
        while self._next_arrival < end:
            self._tracks.append(self._new_track(self._next_arrival))
            self._next_arrival += self._gap(self._next_arrival)
        cam = self.camera_id
        out: list[tuple[float, c.Event]] = []
        changes: list[float] = []  # moments the set of tracks changes (seen on the analysis grid)
        zone_changes: list[float] = []
        for tr in self._tracks:
            for moment in (tr.start, tr.end):
                if self._now <= moment < end:
                    changes.append(self._grid(moment))
            d = tr.end - tr.start
            for moment in (tr.start + 0.25 * d, tr.start + 0.75 * d):
                if self._now <= moment < end:
                    zone_changes.append(self._grid(moment))
            crossing_at = tr.start + 0.5 * d
            if self._now <= crossing_at < end:
                out.append((crossing_at, c.LineCrossing(
                    camera_id=cam, ts=self._ts(crossing_at), frame_no=int(crossing_at * 25), line_id="stop_line",
                    direction=tr.direction, cls=tr.cls, track_id=tr.track_id, speed_kmh=tr.speed_kmh)))  # type: ignore[arg-type]
        # Frames: every change, else the first of each frame_every_s period of the clock.
        for t in _sampled(sorted(set(changes)), self._last_frame, self._now, end, self.frame_every_s, on_the_clock=True):
            self._last_frame = t
            out.append((t, c.FrameEvent(camera_id=cam, ts=self._ts(t), frame_no=int(round(t * 25)), width=WIDTH, height=HEIGHT,
                                        objects=self._objects(t))))
        for t in _sampled(sorted(set(zone_changes)), self._last_zone[0], self._now, end, ZONE_EVERY_S):
            by_class = self._in_zone(t)
            self._last_zone = (t, sum(by_class.values()))
            out.append((t, c.ZoneOccupancy(camera_id=cam, ts=self._ts(t), frame_no=int(round(t * 25)), zone_id="junction",
                                           count=sum(by_class.values()), by_class=by_class)))
        while self._next_heartbeat < end:
            t = self._next_heartbeat
            out.append((t, c.Heartbeat(camera_id=cam, ts=self._ts(t), fps=25.0, frames=int((t - self.start.timestamp()) * 25),
                                       uptime_s=round(t - self.start.timestamp(), 3))))
            self._next_heartbeat += HEARTBEAT_EVERY_S
        while self._next_info < end:
            t = self._next_info
            out.append((t, c.CameraInfo(camera_id=cam, ts=self._ts(t), name=f"Camera {cam}", kind="traffic", lat=10.35, lon=107.08,
                                        district="Vũng Tàu")))
            self._next_info += INFO_EVERY_S
        while self._next_incident < end:
            t = self._next_incident
            incident = c.TrackIncident(camera_id=cam, ts=self._ts(t), frame_no=int(t * 25), kind="stopped",
                                       track_id=self._next_track_id + 1_000_000, cls="car", duration_s=20.0)
            jpeg = os.urandom(self.rnd.randint(*SNAPSHOT_BYTES))  # a JPEG's entropy: does not compress
            out.append((t, incident))
            out.append((t, c.Snapshot(camera_id=cam, ts=self._ts(t), kind="incident", trigger_event_id=incident.event_id,
                                      subject=f"track:{incident.track_id}", width=960, height=540, jpeg=jpeg,
                                      boxes=((400.0, 300.0, 560.0, 420.0),), blurred=2)))
            self._next_incident += self.rnd.expovariate(INCIDENTS_PER_DAY / 86_400)
        while self._next_health < end:
            t = self._next_health
            out.append((t, c.CameraHealth(camera_id=cam, ts=self._ts(t), condition="blur", state="raised", detail="lens dirty")))
            self._later.append((t + 60, c.CameraHealth(camera_id=cam, ts=self._ts(t + 60), condition="blur", state="cleared")))
            self._next_health += self.rnd.expovariate(HEALTH_PER_DAY / 86_400)
        out += [pair for pair in self._later if pair[0] < end]
        self._later = [pair for pair in self._later if pair[0] >= end]
        self._tracks = [tr for tr in self._tracks if tr.end >= end]
        self._now = end
        out.sort(key=lambda pair: pair[0])
        return [event for _, event in out]


def _sampled(changes: list[float], last: float, now: float, end: float, every_s: float, *,
             on_the_clock: bool = False) -> list[float]:
    """Moments in [now, end) to send at: each change, and fills so no gap exceeds ``every_s``:
    ``every_s`` after the last one sent, or, ``on_the_clock``, at the first analysed frame of each
    ``every_s``-second period of the clock (as ingest/framesample.py samples frames)."""
    out = []
    i = bisect.bisect_left(changes, now)
    while True:
        if not every_s:  # every analysed frame (the full-rate stream)
            after = last + 1 / ANALYSIS_HZ
        elif on_the_clock:
            # A frame on a whole second may carry it as 20.999999...: the period it opened is 21's.
            after = (math.floor(last / every_s + 1e-6) + 1) * every_s
        else:
            after = last + every_s
        due = CameraSim._grid(max(after, now))
        nxt = changes[i] if i < len(changes) else math.inf
        t = min(due, nxt)
        if t >= end:
            return out
        if t == nxt:
            i += 1
        out.append(t)
        last = t
        while i < len(changes) and changes[i] <= t:
            i += 1


def daily_volumes(cameras: int, *, seed: int = 1) -> list[float]:
    """Objects a day per camera: lognormal around 25,000, within 8,000-70,000 (as the warehouse model)."""
    rnd = random.Random(seed)
    return [min(70_000.0, max(8_000.0, rnd.lognormvariate(math.log(25_000), 0.45))) for _ in range(cameras)]


def windows_of(events: list[c.Event]) -> list[c.Event]:
    """The one-minute windows processors emit for these events (counts per line, direction and
    class; occupancy peak and mean per zone and for the whole view), for storage measurements."""
    counts: dict[tuple, list[float]] = {}
    zone: dict[tuple, list[int]] = {}
    for e in events:
        minute = e.ts.replace(second=0, microsecond=0)
        if isinstance(e, c.LineCrossing):
            counts.setdefault((e.camera_id, e.line_id, e.direction, e.cls, minute), []).append(e.speed_kmh or 0.0)
        elif isinstance(e, c.ZoneOccupancy):
            zone.setdefault((e.camera_id, e.zone_id, minute), []).append(e.count)
        elif isinstance(e, c.FrameEvent):
            zone.setdefault((e.camera_id, "_frame", minute), []).append(len(e.objects))
    out: list[c.Event] = []
    for (cam, line, direction, cls, minute), speeds in counts.items():
        speeds.sort()
        out.append(c.CountWindow(camera_id=cam, ts=minute, line_id=line, direction=direction, cls=cls, count=len(speeds),  # type: ignore[arg-type]
                                 speed_mean_kmh=round(sum(speeds) / len(speeds), 1), speed_p85_kmh=speeds[int(0.85 * (len(speeds) - 1))]))
    for (cam, zone_id, minute), samples in zone.items():
        out.append(c.OccupancyWindow(camera_id=cam, ts=minute, zone_id=zone_id, peak=max(samples), mean=round(sum(samples) / len(samples), 2)))
    return out
