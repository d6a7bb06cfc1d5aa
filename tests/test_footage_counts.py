"""The crossings counted by eye on real traffic recordings, and how the footage benchmark scores
the agent against them (the recordings themselves are fetched by the benchmark, not by tests)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.bench_footage import Clip, _footage, load_clips, score
from camera_agents.sources.synthetic import TruthCrossing
from ingest.contract import OBJECT_CLASSES

CLIPS, TOLERANCE = load_clips()


@pytest.mark.parametrize("clip", CLIPS, ids=[c.name for c in CLIPS])
def test_each_recording_is_a_camera_an_installer_could_set_up(clip, tmp_path):
    config = clip.config(tmp_path / clip.file_name)
    lines = {line.id for line in config.lines}
    assert clip.truth and re.fullmatch(r"[0-9a-f]{64}", clip.sha256) and clip.url.startswith("https://")
    for crossing in clip.truth:
        assert crossing.line_id in lines and crossing.direction in ("in", "out") and crossing.cls in OBJECT_CLASSES, crossing
        assert 0 <= crossing.frame_index <= clip.scored_frames, crossing


def test_most_recordings_were_never_used_to_choose_a_setting():
    splits = [c.split for c in CLIPS]
    assert set(splits) == {"looked_into", "held_out"} and splits.count("held_out") >= 3


def _clip(*frames: int, scored_frames: int = 500) -> Clip:
    camera = {
        "resolution": {"width": 320, "height": 240},
        "lines": [{"id": "a", "points": [[0, 100], [320, 100]], "in_direction": [[160, 80], [160, 120]]}],
    }
    return Clip(
        "test",
        "held_out",
        "https://example.invalid/x.mp4",
        "0" * 64,
        scored_frames,
        camera,
        tuple(TruthCrossing(frame_index=f, object_id=-1, cls="unknown", line_id="a", direction="in") for f in frames),
    )


def _counted(*frames: int, direction: str = "in") -> list:
    return [SimpleNamespace(frame_no=f, line_id="a", direction=direction, track_id=i, cls="car") for i, f in enumerate(frames)]


@pytest.mark.parametrize(
    "truth, counted, scored_frames, expected",
    [
        ((100, 200), (110, 215), 500, (2, 2, 1.0)),  # each counted a few frames after it crossed
        ((100, 200), (110, 118, 215), 500, (3, 2, 0.5)),  # one vehicle counted twice
        ((100, 200), (110,), 500, (1, 2, 0.5)),  # vehicles in file counted once
        ((100, 200), (110, 260), 500, (2, 2, 1.0)),  # counted late: one missed and one extra, the count still right
        ((100, 490), (110, 505), 500, (2, 2, 1.0)),  # counted just after the scored frames, for a crossing within them
        ((100,), (110, 560), 500, (1, 1, 1.0)),  # a count after the scored frames that matches nothing there is left out
        ((100, 520), (110, 530), 500, (1, 1, 1.0)),  # a crossing after the scored frames is left out, with its count
    ],
)
def test_the_agent_is_scored_by_line_and_direction_against_the_counts_by_eye(truth, counted, scored_frames, expected):
    result = score(_clip(*truth, scored_frames=scored_frames), _counted(*counted), TOLERANCE)
    key = ("a", "in")
    assert (result.counted[key], result.true[key], result.accuracy(key)) == expected


def _hand_counts(tmp_path, crossings: dict, classes: dict) -> Path:
    """A hand-count file holding one recording with these crossings and classes."""
    counts = {
        "tolerance_frames": 25,
        "clips": [
            {
                "name": "test", "split": "held_out", "url": "https://example.invalid/x.mp4", "sha256": "0" * 64, "scored_frames": 500,
                "camera": {"lines": [{"id": "a", "points": [[0, 100], [320, 100]], "in_direction": [[160, 80], [160, 120]]}]},
                "crossings": crossings, "classes": classes,
            }
        ],
    }  # fmt: skip
    path = tmp_path / "counts.json"
    path.write_text(json.dumps(counts), encoding="utf-8")
    return path


def test_each_crossings_class_where_named_is_read_in_the_order_of_its_frames(tmp_path):
    (clip,), _ = load_clips(_hand_counts(tmp_path, {"a/in": [100, 200], "a/out": [300]}, {"a/in": ["car", "motorbike"]}))
    assert [(t.frame_index, t.cls) for t in clip.truth] == [(100, "car"), (200, "motorbike"), (300, "unknown")]
    result = score(clip, _counted(110, 205), TOLERANCE)  # both counted as cars
    assert result.confusion == {("car", "car"): 1, ("motorbike", "car"): 1}


def test_classes_that_do_not_name_every_crossing_are_refused(tmp_path):
    with pytest.raises(ValueError):
        load_clips(_hand_counts(tmp_path, {"a/in": [100, 200]}, {"a/in": ["car"]}))


def test_a_count_the_wrong_way_is_not_a_count_the_right_way():
    result = score(_clip(100, 200), _counted(110, 210, direction="out"), TOLERANCE)
    assert result.accuracy(("a", "in")) == 0.0 and result.accuracy(("a", "out")) == 0.0


def test_a_recording_other_than_the_one_counted_is_refused(tmp_path):
    clip = _clip(100)
    (tmp_path / clip.file_name).write_bytes(b"another recording")
    with pytest.raises(RuntimeError, match=r"is not the recording counted by eye \(SHA-256 [0-9a-f]{64}, counted 0{64}\)"):
        _footage(clip, tmp_path)


def test_a_recording_that_cannot_be_fetched_is_named_with_where_to_put_it(tmp_path):
    clip = Clip("test", "held_out", "http://127.0.0.1:1/x.mp4", "0" * 64, 500, {}, ())
    with pytest.raises(
        RuntimeError,
        match=rf"cannot fetch http://127.0.0.1:1/x.mp4 .*; put it at {re.escape(str(tmp_path / 'test.mp4'))} and run again",
    ):
        _footage(clip, tmp_path)
    assert not (tmp_path / "test.mp4").exists()
