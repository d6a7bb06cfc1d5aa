"""How counted crossings are scored against a clip's true ones, without the agent running."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from camera_agents.evaluation import (
    EXTRA_OVER_NOTHING,
    EXTRA_OVER_VEHICLE,
    MISSED_ELSEWHERE,
    MISSED_MERGED,
    MISSED_UNCOUNTED,
    MISSED_UNSEEN,
    error_causes,
    score_crossings,
)
from camera_agents.sources.synthetic import TruthBox, TruthCrossing
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


@pytest.mark.parametrize(
    ("true_frames", "counted_frames", "scored"),
    [
        # (true, counted, matched) with the frames before frame 50 left out
        ([10], [], (0, 0, 0)),  # on the line when the recording began: never seen arriving
        ([10], [14], (0, 0, 0)),  # before the first scored frame and counted: left out on both sides
        ([48], [55], (0, 0, 0)),  # counted after the first scored frame for one before it: left out with it
        ([52], [45], (1, 1, 1)),  # counted just before the first scored frame for one after it: a hit
        ([], [30], (0, 0, 0)),  # counted before the first scored frame, matching nothing: not scored
        ([60], [], (1, 0, 0)),  # after the first scored frame and never counted: a miss
    ],
)
def test_a_recordings_first_frames_can_be_left_out_of_its_score(true_frames, counted_frames, scored):
    score = score_crossings(
        [true_at(f) for f in true_frames], [counted_at(f, n) for n, f in enumerate(counted_frames)], clip_frames=CLIP, first_frame=50
    )
    key = ("stop-line", "in")
    assert (score.true[key], score.counted[key], score.matched[key]) == scored


def test_without_a_clip_length_every_crossing_is_scored():
    score = score_crossings([true_at(998), true_at(500)], [counted_at(999), counted_at(996, 2)])
    key = ("stop-line", "in")
    assert (score.true[key], score.counted[key], score.matched[key], score.extra) == (2, 2, 1, 1)


def test_the_missed_and_extra_crossings_are_listed():
    score = score_crossings([true_at(300), true_at(500)], [counted_at(302), counted_at(700, 2)], clip_frames=CLIP)
    assert [t.frame_index for t in score.missed_crossings] == [500]
    assert [(c.frame_no, c.track_id) for c in score.extra_crossings] == [(700, 2)]


# One vehicle (object 500) crosses the stop line at frame 500 and nothing counted it; what the
# tracks held around then says why.
VEHICLE = (100.0, 100.0, 140.0, 130.0)
OVER_IT = [90.0, 95.0, 150.0, 135.0]
ELSEWHERE = [400.0, 300.0, 440.0, 330.0]
MISSED = (MISSED_MERGED, MISSED_UNSEEN, MISSED_ELSEWHERE, MISSED_UNCOUNTED)


@pytest.mark.parametrize(
    ("track_box", "track_counted_at", "cause"),
    [
        # a track over it, counted at this line and way (for another vehicle, earlier)
        (OVER_IT, [("stop-line", "in")], MISSED_MERGED),
        # no track over it: the only one is across the picture
        (ELSEWHERE, [("stop-line", "in")], MISSED_UNSEEN),
        # a track covering a third of it does not hold it
        ([126.0, 100.0, 160.0, 130.0], [("stop-line", "in")], MISSED_UNSEEN),
        # its track counted the other way only
        (OVER_IT, [("stop-line", "out")], MISSED_ELSEWHERE),
        # its track counted on the other line only
        (OVER_IT, [("exit-line", "in")], MISSED_ELSEWHERE),
        # its track never counted
        (OVER_IT, [], MISSED_UNCOUNTED),
    ],
)
def test_a_missed_crossing_is_put_down_to_what_the_tracks_held(track_box, track_counted_at, cause):
    counted = [
        LineCrossing(camera_id="cam-1", ts=T0, frame_no=300, line_id=line, direction=way, cls="car", track_id=7)
        for line, way in track_counted_at
    ]
    tracks = {frame: (np.array([7]), np.array([track_box])) for frame in (300, 497, 500, 503)}
    boxes = {frame: (TruthBox(object_id=500, cls="car", bbox=VEHICLE),) for frame in (300, 497, 500, 503)}
    score = score_crossings([true_at(500)], counted, clip_frames=CLIP)
    causes = error_causes(score, counted, tracks, boxes)
    assert {c: causes[c] for c in MISSED if causes[c]} == {cause: 1}


@pytest.mark.parametrize(
    ("track_box", "cause"),
    [
        # the extra crossing's track lay over a vehicle
        ([95.0, 95.0, 145.0, 135.0], EXTRA_OVER_VEHICLE),
        # over the road only: light, a marking, a lamp's glow
        (ELSEWHERE, EXTRA_OVER_NOTHING),
    ],
)
def test_an_extra_crossing_is_put_down_to_what_its_track_lay_over(track_box, cause):
    counted = [counted_at(600, 9)]
    tracks = {600: (np.array([9]), np.array([track_box]))}
    boxes = {600: (TruthBox(object_id=1, cls="car", bbox=VEHICLE),)}
    score = score_crossings([], counted, clip_frames=CLIP)
    assert error_causes(score, counted, tracks, boxes) == Counter({cause: 1})
