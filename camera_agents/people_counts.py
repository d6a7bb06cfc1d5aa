"""People counts of an agent's events scored against counts made by eye on chosen frames.

A hand count says how many people a person looking at frame N saw. On a synthetic scene the truth
is exact: ``people_in_view_errors`` scores the frame events against the people the scene shows. The agent answers with the
events it published: the ``person`` objects of its frame event, and the ``person`` occupancy of a
zone covering the picture. Frames the agent skipped (``analytics.stride``) are answered by the last
analysed frame before them, which is what the wall shows at that moment.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ingest.contract import Event, FrameEvent, ZoneOccupancy

Split = Literal["tune", "held_out"]


@dataclass(frozen=True, slots=True)
class HandCount:
    frame: int
    people: int
    split: Split


def load_hand_counts(path: Path) -> list[HandCount]:
    """Rows ``frame,people,...,split,...`` of a CSV file; lines starting with ``#`` explain it."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    counts = [HandCount(frame=int(r["frame"]), people=int(r["people"]), split=r["split"]) for r in rows]  # type: ignore[arg-type]
    bad = [c.split for c in counts if c.split not in ("tune", "held_out")]
    if bad or not counts:
        raise ValueError(f"{path}: needs rows with split tune or held_out (got {bad or 'no rows'})")
    return sorted(counts, key=lambda c: c.frame)


def people_in_frames(events: Iterable[Event], camera_id: str) -> dict[int, int]:
    """Frame number -> ``person`` objects in that frame's event."""
    return {
        e.frame_no: sum(o.cls == "person" for o in e.objects)
        for e in events
        if isinstance(e, FrameEvent) and e.camera_id == camera_id
    }


def people_in_zone(events: Iterable[Event], camera_id: str, zone_id: str) -> dict[int, int]:
    """Frame number -> ``person`` occupancy the zone's events reported at that frame (sent on change)."""
    return {
        e.frame_no: e.by_class.get("person", 0)
        for e in events
        if isinstance(e, ZoneOccupancy) and e.camera_id == camera_id and e.zone_id == zone_id
    }


# A person showing less of themselves than this (px²) is a sliver at the frame's edge or behind
# someone: nobody counts it.
SLIVER_PX2 = 150


def people_in_view_errors(events: Iterable[Event], boxes: Sequence[Sequence], *, from_frame: int = 0) -> dict[int, int]:
    """Per frame event from ``from_frame`` on, the ``person`` objects it names less the people a
    synthetic scene shows then (``boxes[frame]``: their visible boxes, ``bbox`` xyxy), slivers left out."""
    return {
        e.frame_no: sum(o.cls == "person" for o in e.objects)
        - sum((b.bbox[2] - b.bbox[0]) * (b.bbox[3] - b.bbox[1]) > SLIVER_PX2 for b in boxes[e.frame_no])
        for e in events
        if isinstance(e, FrameEvent) and e.frame_no >= from_frame
    }


def answer_at(reported: dict[int, int], frame: int) -> int:
    """What was last reported at or before ``frame`` (0 before the first report)."""
    earlier = [f for f in reported if f <= frame]
    return reported[max(earlier)] if earlier else 0


@dataclass(frozen=True)
class CountScore:
    errors: dict[int, int]  # frame -> counted - true

    @property
    def mae(self) -> float:
        return sum(abs(e) for e in self.errors.values()) / len(self.errors) if self.errors else float("nan")

    @property
    def worst(self) -> tuple[int, int]:
        """(frame, error) of the largest miss."""
        frame = max(self.errors, key=lambda f: abs(self.errors[f]))
        return frame, self.errors[frame]


def score_counts(truth: Iterable[HandCount], reported: dict[int, int], *, split: Split | None = None) -> CountScore:
    return CountScore({c.frame: answer_at(reported, c.frame) - c.people for c in truth if split is None or c.split == split})
