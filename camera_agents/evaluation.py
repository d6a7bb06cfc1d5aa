"""How well the agent counts: crossings compared with a synthetic scene's exact ground truth.

Used by the accuracy tests and the benchmark. A counted crossing matches a true one on the same
line and direction within ``tolerance_frames``; each true crossing matches at most once, so a
track counted twice shows up as an extra crossing, never as a hit.

A clip ends; a camera does not. The agent counts a crossing at the first analysed frame after
the object is clear of the line, a few frames after it happened, so a crossing in a clip's last
frames is one the agent never got to see. Given the clip's length, the score leaves out its last
``tolerance_frames``: the true crossings there, the counted crossings that match them, and the
unmatched counted crossings there. The agent still watches those frames, so a crossing just
before them is counted and matched as on a live camera.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from ingest.contract import LineCrossing


class TrueCrossing(Protocol):
    frame_index: int
    object_id: int
    cls: str
    line_id: str
    direction: str


@dataclass
class CrossingScore:
    true: Counter = field(default_factory=Counter)  # (line, direction) -> true crossings
    counted: Counter = field(default_factory=Counter)  # (line, direction) -> counted crossings
    matched: Counter = field(default_factory=Counter)  # (line, direction) -> counted that match a true one
    confusion: Counter = field(default_factory=Counter)  # (true class, counted class) -> matches
    repeated_tracks: int = 0  # (track, line) pairs counted more than once
    missed_crossings: list = field(default_factory=list)  # the scored true crossings nothing counted matched
    extra_crossings: list = field(default_factory=list)  # the scored counted crossings that matched nothing

    def accuracy(self, key: tuple[str, str]) -> float:
        """1 - |counted - true| / true, for one line and direction."""
        true = self.true[key]
        return 1.0 - abs(self.counted[key] - true) / true if true else (1.0 if not self.counted[key] else 0.0)

    @property
    def keys(self) -> list[tuple[str, str]]:
        return sorted(set(self.true) | set(self.counted))

    @property
    def min_accuracy(self) -> float:
        return min((self.accuracy(k) for k in self.keys), default=1.0)

    @property
    def extra(self) -> int:
        return sum(self.counted.values()) - sum(self.matched.values())

    @property
    def wrong(self) -> int:
        """|counted - true| summed over the lines and directions."""
        return sum(abs(self.counted[key] - self.true[key]) for key in self.keys)

    @property
    def classes_named(self) -> int:
        """Matched crossings whose true class is known (hand counts may leave it "unknown")."""
        return sum(n for (true_cls, _), n in self.confusion.items() if true_cls != "unknown")

    @property
    def classes_right(self) -> int:
        """Of ``classes_named``, those counted as their true class."""
        return sum(n for (true_cls, counted_cls), n in self.confusion.items() if true_cls == counted_cls != "unknown")

    @property
    def missed(self) -> int:
        return sum(self.true.values()) - sum(self.matched.values())

    def missed_frames(self, key: tuple[str, str]) -> list[int]:
        """The frames of the true crossings of one line and direction that no count matched."""
        return [t.frame_index for t in self.missed_crossings if (t.line_id, t.direction) == key]

    def extra_frames(self, key: tuple[str, str]) -> list[int]:
        """The frames of the counts of one line and direction that matched no true crossing."""
        return [c.frame_no for c in self.extra_crossings if (c.line_id, c.direction) == key]

    def merge(self, other: CrossingScore) -> CrossingScore:
        return CrossingScore(
            self.true + other.true, self.counted + other.counted, self.matched + other.matched,
            self.confusion + other.confusion, self.repeated_tracks + other.repeated_tracks,
            self.missed_crossings + other.missed_crossings, self.extra_crossings + other.extra_crossings,
        )  # fmt: skip


def score_crossings(
    truth: Sequence[TrueCrossing], counted: Iterable[LineCrossing], *, tolerance_frames: int = 15, clip_frames: int | None = None,
    first_frame: int = 0,
) -> CrossingScore:
    """``clip_frames``: the clip's length, when the crossings come from a clip; its last
    ``tolerance_frames`` are then left out of the score (see the module's docstring).
    ``first_frame``: the crossings before it are left out too, in the same way (a recording that
    starts with vehicles on the line: the agent never saw the road before them)."""
    score = CrossingScore()
    counted = list(counted)
    end = None if clip_frames is None else clip_frames - tolerance_frames  # the first frame left out

    def scored(frame: int) -> bool:
        return frame >= first_frame and (end is None or frame < end)

    for t in truth:
        if scored(t.frame_index):
            score.true[(t.line_id, t.direction)] += 1
    repeats = Counter((c.track_id, c.line_id) for c in counted)
    score.repeated_tracks = sum(1 for n in repeats.values() if n > 1)
    free = sorted(truth, key=lambda t: t.frame_index)
    used = [False] * len(free)
    for crossing in sorted(counted, key=lambda c: c.frame_no):
        key = (crossing.line_id, crossing.direction)
        best, best_gap = None, tolerance_frames + 1
        for i, t in enumerate(free):
            if used[i] or (t.line_id, t.direction) != key:
                continue
            gap = abs(t.frame_index - crossing.frame_no)
            if gap < best_gap:
                best, best_gap = i, gap
        if best is not None:
            used[best] = True
        # Scored by the true crossing it matched, else by its own frame.
        if not scored(free[best].frame_index if best is not None else crossing.frame_no):
            continue
        score.counted[key] += 1
        if best is not None:
            score.matched[key] += 1
            score.confusion[(free[best].cls, crossing.cls)] += 1
        else:
            score.extra_crossings.append(crossing)
    score.missed_crossings = [t for t, hit in zip(free, used) if not hit and scored(t.frame_index)]
    return score


# Why a crossing was missed or counted extra, read from the tracks of the analysed frame nearest it.
MISSED_MERGED = "missed: inside a track counted there for another vehicle"
MISSED_UNSEEN = "missed: never seen"
MISSED_ELSEWHERE = "missed: its track counted only on another line or the other way"
MISSED_UNCOUNTED = "missed: its track never counted"
EXTRA_OVER_VEHICLE = "extra: over a vehicle (counted twice, or far from its crossing)"
EXTRA_OVER_NOTHING = "extra: over nothing"
_HELD = 0.4  # share of a vehicle's box a track's box covers for the track to hold it


def error_causes(score: CrossingScore, counted: Sequence[LineCrossing], tracks: dict, boxes) -> Counter:
    """How many of ``score``'s missed and extra crossings fall to each cause above. ``counted``:
    every crossing the agent counted; ``tracks``: each analysed frame's tracks, as
    ``count_crossings`` gives them; ``boxes``: the true boxes of each frame (``SceneTruth.boxes``:
    per frame, boxes with ``object_id`` and ``bbox``)."""
    causes: Counter = Counter()
    if not tracks:
        return causes
    analysed = sorted(tracks)
    counted_as: dict[int, set[tuple[str, str]]] = {}  # per track, the lines and ways it was counted at
    for c in counted:
        counted_as.setdefault(c.track_id, set()).add((c.line_id, c.direction))

    def nearest(frame: int) -> tuple[int, list[int], list[list[float]]]:
        after = bisect.bisect_left(analysed, frame)
        near = analysed[max(after - 1, 0) : after + 1]  # the analysed frames either side; the earlier on a tie
        at = min(near, key=lambda f: abs(f - frame))
        ids, xyxy = tracks[at]
        return at, ids.tolist(), xyxy.tolist()

    for truth in score.missed_crossings:
        at, ids, xyxy = nearest(truth.frame_index)
        own = [b.bbox for b in boxes[at] if b.object_id == truth.object_id]
        held = [(_covered(own[0], box), track) for track, box in zip(ids, xyxy)] if own else []
        share, holder = max(held, default=(0.0, None))
        if share < _HELD:
            causes[MISSED_UNSEEN] += 1
            continue
        where = counted_as.get(holder, set())
        if (truth.line_id, truth.direction) in where:
            causes[MISSED_MERGED] += 1
        else:
            causes[MISSED_ELSEWHERE if where else MISSED_UNCOUNTED] += 1
    for crossing in score.extra_crossings:
        at, ids, xyxy = nearest(crossing.frame_no)
        box = xyxy[ids.index(crossing.track_id)] if crossing.track_id in ids else None
        over = box is not None and any(_covered(b.bbox, box) >= _HELD for b in boxes[at])
        causes[EXTRA_OVER_VEHICLE if over else EXTRA_OVER_NOTHING] += 1
    return causes


def _covered(inner, outer) -> float:
    """The share of box ``inner`` (x1, y1, x2, y2) that box ``outer`` covers."""
    width = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    height = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    return width * height / max((inner[2] - inner[0]) * (inner[3] - inner[1]), 1e-9)


def format_confusion(confusion: Counter) -> list[str]:
    classes = sorted({c for pair in confusion for c in pair})
    width = max([9, *map(len, classes)])
    lines = ["true \\ counted".ljust(width + 6) + " ".join(c.rjust(width) for c in classes)]
    for true_cls in classes:
        lines.append(true_cls.ljust(width + 6) + " ".join(str(confusion[(true_cls, c)]).rjust(width) for c in classes))
    return lines


# The restart the benchmark and the tests measure: the agent stopped 6 s into a 25 fps clip and
# started again 4 s later, on a frame the agent that never stopped analyses too (a multiple of its
# stride), so that both look at the same frames; scored from 1 s after the restart.
STOPPED_AT, RESTARTED_AT = 150, 252


class Restart(NamedTuple):
    """The agent stopped at frame ``stopped_at`` and started again at ``restarted_at``: from the
    road its first run learnt (``from_road``, as an agent keeping its view does within
    ``KEPT_ROAD_MAX_AGE_S``), or cold."""

    stopped_at: int
    restarted_at: int
    from_road: bool


def count_crossings(config, source, *, tracks: dict | None = None, restart: Restart | None = None) -> tuple[int, list[LineCrossing]]:
    """Run one camera's pipeline over a finite source (a video file or a synthetic scene): the
    number of frames it read and the crossings counted. ``config`` is a ``CameraConfig``.
    ``tracks``: when given, filled with each analysed frame's tracks, frame index -> (track ids,
    xyxy boxes), for ``error_causes``. ``restart``: the agent down for a while, the frames then
    neither counted nor looked at."""
    from camera_agents.pipeline import CameraPipeline
    from camera_agents.sources import Frame

    def started() -> CameraPipeline:
        return CameraPipeline(config, width=source.info.width, height=source.info.height, fps=source.info.fps)

    pipeline = started()
    crossings: list[LineCrossing] = []
    frames = next_index = 0
    while (item := source.read(picture=pipeline.wants_picture(next_index))) is not None:
        if isinstance(item, Frame):
            next_index = item.index + 1
            if restart is not None and item.index == restart.stopped_at:
                road, pipeline = pipeline.learnt_road(), started()
                if restart.from_road and road is not None:
                    pipeline.start_from(road, item.ts)
            if restart is not None and restart.stopped_at <= item.index < restart.restarted_at:
                continue  # the agent is down
            frames += 1
            # Asked before ``process``, which may change the stride from the next frame on.
            keep = tracks is not None and pipeline.wants_picture(item.index)
            crossings += [e for e in pipeline.process(item.index, item.ts, item.image) if isinstance(e, LineCrossing)]
            if keep:
                shown = pipeline.last_tracks
                tracks[item.index] = (shown.tracker_id.copy(), shown.xyxy.copy())
    return frames, crossings


def scores_across_a_restart(config, path, truth) -> tuple[CrossingScore, CrossingScore, CrossingScore]:
    """The crossings of the video at ``path`` (its ``SceneTruth`` ``truth``) from 1 s after the
    restart at ``RESTARTED_AT`` on, as counted by an agent that never stopped, by one restarted
    cold and by one restarted from the road its first run learnt."""
    from camera_agents.sources import open_source

    scores = []
    for restart in (None, Restart(STOPPED_AT, RESTARTED_AT, from_road=False), Restart(STOPPED_AT, RESTARTED_AT, from_road=True)):
        source = open_source(str(path))
        try:
            _, crossings = count_crossings(config, source, restart=restart)
        finally:
            source.close()
        scores.append(score_crossings(truth.crossings, crossings, clip_frames=truth.n_frames, first_frame=RESTARTED_AT + 25))
    never_stopped, cold, from_road = scores
    return never_stopped, cold, from_road
