"""The crossings counted by eye on real traffic recordings, and how the footage benchmark scores
the agent against them (the recordings themselves are fetched by the benchmark, not by tests)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.bench_footage import Clip, _footage, load_clips
from camera_agents.crossings_by_eye import CrossingsByEye

CLIPS = load_clips()


@pytest.mark.parametrize("clip", CLIPS, ids=[c.name for c in CLIPS])
def test_each_recording_is_a_camera_an_installer_could_set_up(clip, tmp_path):
    config = clip.config(tmp_path / clip.file_name)
    assert clip.counts.crossings and re.fullmatch(r"[0-9a-f]{64}", clip.sha256) and clip.url.startswith("https://")
    assert clip.counts.lines <= {line.id for line in config.lines}
    for crossing in clip.counts.truth():
        assert 0 <= crossing.frame_index <= clip.counts.end_frame, crossing


def test_most_recordings_were_never_used_to_choose_a_setting():
    splits = [c.split for c in CLIPS]
    assert set(splits) == {"looked_into", "held_out"} and splits.count("held_out") >= 3


def _hand_counts(tmp_path, crossings: dict, classes: dict) -> Path:
    """A file of hand counts holding one recording with these crossings and classes."""
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
    (clip,) = load_clips(_hand_counts(tmp_path, {"a/in": [100, 200], "a/out": [300]}, {"a/in": ["car", "motorbike"]}))
    assert [(t.frame_index, t.cls) for t in clip.counts.truth()] == [(100, "car"), (200, "motorbike"), (300, "unknown")]
    assert clip.counts.end_frame == 500 and clip.counts.tolerance_frames == 25


def test_classes_that_do_not_name_every_crossing_are_refused(tmp_path):
    with pytest.raises(ValueError, match="1 named for 2 crossings"):
        load_clips(_hand_counts(tmp_path, {"a/in": [100, 200]}, {"a/in": ["car"]}))


def _clip(url: str = "https://example.invalid/x.mp4") -> Clip:
    return Clip("test", "held_out", url, "0" * 64, {}, CrossingsByEye(crossings={"a/in": [100]}))


def test_a_recording_other_than_the_one_counted_is_refused(tmp_path):
    clip = _clip()
    (tmp_path / clip.file_name).write_bytes(b"another recording")
    with pytest.raises(RuntimeError, match=r"is not the recording counted by eye \(SHA-256 [0-9a-f]{64}, counted 0{64}\)"):
        _footage(clip, tmp_path)


def test_a_recording_that_cannot_be_fetched_is_named_with_where_to_put_it(tmp_path):
    clip = _clip("http://127.0.0.1:1/x.mp4")
    with pytest.raises(
        RuntimeError,
        match=rf"cannot fetch http://127.0.0.1:1/x.mp4 .*; put it at {re.escape(str(tmp_path / 'test.mp4'))} and run again",
    ):
        _footage(clip, tmp_path)
    assert not (tmp_path / "test.mp4").exists()
