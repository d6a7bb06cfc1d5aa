"""How counted crossings are scored against a clip's true ones, without the agent running."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from camera_agents.evaluation import score_crossings
from camera_agents.sources.synthetic import TruthCrossing
from ingest.contract import LineCrossing

CLIP = 1000  # frames in the clip
T0 = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)


def true_at(frame: int) -> TruthCrossing:
    return TruthCrossing(frame_index=frame, object_id=frame, cls="car", line_id="stop-line", direction="in")


def counted_at(frame: int, track: int = 1) -> LineCrossing:
    return LineCrossing(camera_id="cam-1", ts=T0, frame_no=frame, line_id="stop-line", direction="in", cls="car", track_id=track)


@pytest.mark.parametrize(
    ("true_frames", "counted_frames", "scored"),
    [
        # (true, counted, matched) after the clip's last 15 frames are left out
        ([500], [502], (1, 1, 1)),  # the middle of the clip: scored as ever
        ([998], [], (0, 0, 0)),  # happened two frames before the clip ended: the agent never saw it
        ([990], [993], (0, 0, 0)),  # in the last frames and counted: left out on both sides
        ([982], [986], (1, 1, 1)),  # before the last frames, counted in them: a hit, not lost
        ([982], [], (1, 0, 0)),  # before the last frames and never counted: a miss
        ([], [996], (0, 0, 0)),  # counted in the last frames, matching nothing seen: not scored
        ([], [600], (0, 1, 0)),  # counted in the middle, matching nothing: an extra
        ([988], [983], (0, 0, 0)),  # counted early for one that happened in the last frames: left out with it
    ],
)
def test_a_clips_last_frames_are_left_out_of_its_score(true_frames, counted_frames, scored):
    score = score_crossings(
        [true_at(f) for f in true_frames], [counted_at(f, n) for n, f in enumerate(counted_frames)], clip_frames=CLIP
    )
    key = ("stop-line", "in")
    assert (score.true[key], score.counted[key], score.matched[key]) == scored


def test_without_a_clip_length_every_crossing_is_scored():
    score = score_crossings([true_at(998), true_at(500)], [counted_at(999), counted_at(996, 2)])
    key = ("stop-line", "in")
    assert (score.true[key], score.counted[key], score.matched[key], score.extra) == (2, 2, 1, 1)
