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

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ingest.contract import LineCrossing


class TrueCrossing(Protocol):
    frame_index: int
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
    def missed(self) -> int:
        return sum(self.true.values()) - sum(self.matched.values())

    def merge(self, other: CrossingScore) -> CrossingScore:
        return CrossingScore(
            self.true + other.true, self.counted + other.counted, self.matched + other.matched,
            self.confusion + other.confusion, self.repeated_tracks + other.repeated_tracks,
        )  # fmt: skip


def score_crossings(
    truth: Sequence[TrueCrossing], counted: Iterable[LineCrossing], *, tolerance_frames: int = 15, clip_frames: int | None = None
) -> CrossingScore:
    """``clip_frames``: the clip's length, when the crossings come from a clip; its last
    ``tolerance_frames`` are then left out of the score (see the module's docstring)."""
    score = CrossingScore()
    counted = list(counted)
    end = None if clip_frames is None else clip_frames - tolerance_frames  # the first frame left out
    for t in truth:
        if end is None or t.frame_index < end:
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
        if end is not None and (free[best].frame_index if best is not None else crossing.frame_no) >= end:
            continue
        score.counted[key] += 1
        if best is not None:
            score.matched[key] += 1
            score.confusion[(free[best].cls, crossing.cls)] += 1
    return score


def format_confusion(confusion: Counter) -> list[str]:
    classes = sorted({c for pair in confusion for c in pair})
    width = max([9, *map(len, classes)])
    lines = ["true \\ counted".ljust(width + 6) + " ".join(c.rjust(width) for c in classes)]
    for true_cls in classes:
        lines.append(true_cls.ljust(width + 6) + " ".join(str(confusion[(true_cls, c)]).rjust(width) for c in classes))
    return lines


def count_crossings(config, source) -> tuple[int, list[LineCrossing]]:
    """Run one camera's pipeline over a finite source (a video file or a synthetic scene): the
    number of frames read and the crossings counted. ``config`` is a ``CameraConfig``."""
    from camera_agents.pipeline import CameraPipeline
    from camera_agents.sources import Frame

    pipeline = CameraPipeline(config, width=source.info.width, height=source.info.height, fps=source.info.fps)
    crossings: list[LineCrossing] = []
    frames = next_index = 0
    while (item := source.read(picture=pipeline.wants_picture(next_index))) is not None:
        if isinstance(item, Frame):
            frames += 1
            next_index = item.index + 1
            crossings += [e for e in pipeline.process(item.index, item.ts, item.image) if isinstance(e, LineCrossing)]
    return frames, crossings
