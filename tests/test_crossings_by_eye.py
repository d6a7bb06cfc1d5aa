"""An installer checks a camera's counts against crossings counted by eye on a recording of it:
the line-scan pictures to count from, the file the counts go into, the scoring, and
`ioc agent linescan` / `ioc agent verify` end to end."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from camera_agents.cli import app
from camera_agents.crossings_by_eye import (
    CrossingsByEye,
    CrossingsByEyeError,
    line_scans,
    load_crossings_by_eye,
    scan_picture,
    template,
)
from camera_agents.sources.synthetic import SceneTruth
from tests.media import MjpegCamera, synthetic_video

runner = CliRunner()


def _counted(*frames: int, direction: str = "in", cls: str = "car") -> list:
    return [SimpleNamespace(frame_no=f, line_id="a", direction=direction, track_id=i, cls=cls) for i, f in enumerate(frames)]


@pytest.mark.parametrize(
    "by_eye, counted, end_frame, expected",
    [
        ((100, 200), (110, 215), 500, (2, 2, 1.0)),  # each counted a few frames after it crossed
        ((100, 200), (110, 118, 215), 500, (3, 2, 0.5)),  # one vehicle counted twice
        ((100, 200), (110,), 500, (1, 2, 0.5)),  # vehicles in file counted once
        ((100, 200), (110, 260), 500, (2, 2, 1.0)),  # counted late: one missed and one extra, the count still right
        ((100, 490), (110, 505), 500, (2, 2, 1.0)),  # counted just after the scored frames, for a crossing within them
        ((100,), (110, 560), 500, (1, 1, 1.0)),  # a count after the scored frames that matches nothing there is left out
        ((100, 520), (110, 530), 500, (1, 1, 1.0)),  # a crossing after the scored frames is left out, with its count
        ((100, 200), (110, 215), None, (2, 2, 1.0)),  # by default scored to the recording's last 25 frames (frames_read 600)
        ((100, 590), (110,), None, (1, 1, 1.0)),  # ... and a crossing within them is left out
    ],
)
def test_the_agent_is_scored_by_line_and_direction_against_the_counts_by_eye(by_eye, counted, end_frame, expected):
    counts = CrossingsByEye(crossings={"a/in": list(by_eye)}, end_frame=end_frame)
    result = counts.score(_counted(*counted), frames_read=600)
    key = ("a", "in")
    assert (result.counted[key], result.true[key], result.accuracy(key)) == expected


def test_a_count_the_wrong_way_is_not_a_count_the_right_way():
    result = CrossingsByEye(crossings={"a/in": [100, 200]}).score(_counted(110, 210, direction="out"), frames_read=600)
    assert result.accuracy(("a", "in")) == 0.0 and result.accuracy(("a", "out")) == 0.0


def test_crossings_before_the_first_frame_counted_are_left_out():
    # a vehicle already on the line as the recording starts: the agent never saw it arrive
    counts = CrossingsByEye(crossings={"a/in": [10, 200]}, first_frame=50)
    result = counts.score(_counted(210), frames_read=600)
    assert result.true[("a", "in")] == 1 and result.accuracy(("a", "in")) == 1.0


def test_each_crossings_class_where_named_is_compared_in_the_order_of_its_frames():
    counts = CrossingsByEye(crossings={"a/in": [100, 200], "a/out": [300]}, classes={"a/in": ["car", "motorbike"]})
    assert [(t.frame_index, t.cls) for t in counts.truth()] == [(100, "car"), (200, "motorbike"), (300, "unknown")]
    result = counts.score(_counted(110, 205), frames_read=600)  # both counted as cars
    assert result.confusion == {("car", "car"): 1, ("motorbike", "car"): 1}
    assert (result.classes_right, result.classes_named) == (1, 2)


@pytest.mark.parametrize(
    "text, where",
    [
        ("crossings: {a/in: [1]}\ncounts: 3\n", "counts.yaml:2: counts: unknown key"),  # a key the file does not know
        ("crossings: {a/up: [1]}\n", "should be a line's id and a direction"),  # a direction other than in and out
        ("crossings: {a/in: [1, 2]}\nclasses: {a/in: [car]}\n", "1 named for 2 crossings"),  # a class missing
        ("crossings: {a/in: [1]}\nclasses: {a/in: [person]}\n", "counts.yaml:2: classes.a/in[0]"),  # people on foot are not counted
        ("crossings: {a/in: [1]}\nclasses: {a/out: [car]}\n", "classes names a/out, which crossings does not list"),
        ("crossings: {a/in: [3, -5]}\n", "counts.yaml:1: crossings.a/in[1]: Input should be greater than or equal to 0 (got -5)"),  # a frame before the recording
        ("crossings: {b/in: [1]}\n", "counts.yaml:1: crossings.b/in: the camera has no line 'b' (its lines: a)"),  # a line the camera lacks
        ("crossings: {a/in: [1]}\ncrossings: {a/in: [2]}\n", "key given twice"),  # YAML would keep the second
        ("- a/in\n", "a mapping with a crossings key"),
    ],
)
def test_a_wrong_file_of_counts_is_refused_with_its_line(tmp_path, text, where):
    path = tmp_path / "counts.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CrossingsByEyeError) as raised:
        load_crossings_by_eye(path, lines=["a"])
    assert where in str(raised.value)


def test_the_file_to_fill_in_lists_every_line_and_direction_and_reads_back():
    text = template(["stop_line", "near_edge"])
    counts = CrossingsByEye.model_validate(yaml.safe_load(text))
    assert counts.crossings == {"stop_line/in": [], "stop_line/out": [], "near_edge/in": [], "near_edge/out": []}
    # as an installer fills it in: two crossings, and their classes once uncommented
    edits = {"  stop_line/in:  []": "  stop_line/in:  [12, 40]", "# classes:": "classes:", "  # stop_line/in:  []": "  stop_line/in:  [car, motorbike]"}
    filled = CrossingsByEye.model_validate(yaml.safe_load("\n".join(edits.get(line, line) for line in text.splitlines())))
    assert [(t.frame_index, t.cls) for t in filled.truth()][:2] == [(12, "car"), (40, "motorbike")]


def test_a_vehicle_crossing_a_line_is_one_blob_in_its_line_scan_at_the_frames_it_crossed():
    # a grey road; a white square 20 px wide moving right 10 px a frame across an upright line at x = 100
    frames = []
    for t in range(30):
        frame = np.full((120, 200, 3), 90, np.uint8)
        left = 10 * t - 60
        if left < 200:
            frame[40:60, max(left, 0) : max(left + 20, 0)] = 250
        frames.append(frame)
    upright, level = line_scans(frames, [((100, 20), (100, 100)), ((0, 110), (199, 110))])
    assert upright.shape == (80, 30, 3) and level.shape == (199, 30, 3)
    lit = np.flatnonzero((upright[:, :, 0] > 200).any(axis=0))
    assert lit.tolist() == [15, 16]  # the frames whose square [10t - 60, 10t - 40) holds x = 100
    rows = np.flatnonzero((upright[:, :, 0] > 200).any(axis=1))
    assert rows.min() in (19, 20) and rows.max() in (38, 39)  # the square's rows 40-59, the line's first point at y = 20
    assert not (level > 200).any()  # nothing crosses the other line
    picture = scan_picture(upright, per_row=25, zoom=2)
    assert picture.shape == (2 * (16 + 80 * 2), 25 * 2, 3)  # two rows of 25 frames, each under its band of frame numbers


def _recorded_camera(tmp_path) -> tuple[Path, Path, SceneTruth]:
    """A recording of the example avenue (30 s) and its camera file pointing at it."""
    video = synthetic_video("synthetic:traffic?seed=2&frames=750")
    truth = SceneTruth.from_json(json.loads(Path(f"{video}.truth.json").read_text(encoding="utf-8")))
    camera = json.loads(Path(f"{video}.camera.json").read_text(encoding="utf-8"))
    camera["source"] = str(video)
    path = tmp_path / "avenue.yaml"
    path.write_text(yaml.safe_dump(camera), encoding="utf-8")
    return path, video, truth


def _write_counts(path: Path, crossings: dict[str, list[int]], classes: dict[str, list[str]]) -> Path:
    path.write_text(yaml.safe_dump({"crossings": crossings, "classes": classes}), encoding="utf-8")
    return path


def test_verify_says_a_camera_counts_within_five_per_cent_of_the_counts_by_eye_and_where_not(tmp_path):
    camera, video, truth = _recorded_camera(tmp_path)
    out = tmp_path / "scan"
    result = runner.invoke(app, ["linescan", "--config", str(camera), "--seconds", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "stop_line.png").is_file() and (out / "near_edge.png").is_file() and (out / "crossings.yaml").is_file()
    # The counts by eye: the scene's own crossings, as a careful installer would have counted them.
    crossings: dict[str, list[int]] = {}
    classes: dict[str, list[str]] = {}
    for crossing in sorted(truth.crossings, key=lambda c: c.frame_index):
        key = f"{crossing.line_id}/{crossing.direction}"
        crossings.setdefault(key, []).append(crossing.frame_index)
        classes.setdefault(key, []).append(crossing.cls)
    counts = _write_counts(out / "crossings.yaml", crossings, classes)
    result = runner.invoke(app, ["verify", "--config", str(camera), "--counts", str(counts)])
    assert result.exit_code == 0, result.output
    assert "every line direction within 5% of the counts by eye" in result.output
    assert "stop_line/in:" in result.output and "classes:" in result.output
    # An installer who counted only half the vehicles going one way: the camera looks twice as busy.
    key = max(crossings, key=lambda k: len(crossings[k]))
    halved = {**crossings, key: crossings[key][::2]}
    counts = _write_counts(tmp_path / "halved.yaml", halved, {})
    result = runner.invoke(app, ["verify", "--config", str(camera), "--counts", str(counts)])
    assert result.exit_code == 1, result.output
    assert f"{key}:" in result.output and "<< below 0.95" in result.output
    assert "1 of 4 line directions off by more than 5%" in result.output


def test_linescan_keeps_counts_already_written_and_refuses_a_live_stream(tmp_path):
    camera, _, _ = _recorded_camera(tmp_path)
    out = tmp_path / "scan"
    out.mkdir()
    (out / "crossings.yaml").write_text("crossings: {stop_line/in: [12]}\n", encoding="utf-8")
    result = runner.invoke(app, ["linescan", "--config", str(camera), "--seconds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "crossings.yaml").read_text(encoding="utf-8") == "crossings: {stop_line/in: [12]}\n"
    assert "kept" in result.output
    # A live stream's frames are not a recording's: the counts by eye could name none of them.
    live = MjpegCamera()
    try:
        for command in (["linescan", "--out", str(out)], ["verify", "--counts", str(out / "crossings.yaml")]):
            result = runner.invoke(app, [*command, "--config", str(camera), "--source", live.url])
            assert result.exit_code == 2, result.output
            assert "is a live stream: counts by eye name the frames of a recording" in result.output
    finally:
        live.stop()
