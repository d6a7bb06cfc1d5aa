"""``ioc agent tune``: the commissioning report of a camera, its measures and its warnings."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from camera_agents.cli import app
from camera_agents.config import CameraConfig, load_camera
from camera_agents.tune import (
    Presence,
    calibration_warnings,
    colour_warnings,
    covered_line_warnings,
    frame_shift,
    group_warnings,
    light_warnings,
    line_edge_warnings,
    lines_covered,
    rate_warnings,
    reduced_colour_share,
    rider_warnings,
    run_tune,
    shake_warnings,
    size_warnings,
    wait_warnings,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "camera_agents" / "examples"
runner = CliRunner()


def camera_with_line(points) -> CameraConfig:
    data = yaml.safe_load((EXAMPLES / "synthetic_traffic.yaml").read_text(encoding="utf-8"))
    data["lines"] = [{"id": "count", "points": points, "in_direction": [[480, 10], [480, 60]] if points[0][1] == points[1][1] else [[10, 270], [60, 270]]}]
    return CameraConfig.model_validate(data)


@pytest.mark.parametrize(
    "points, edge",
    [
        ([[100, 520], [860, 520]], "bottom"),  # across the road, 20 px above the bottom edge
        ([[15, 100], [15, 400]], "left"),  # along the left edge
        ([[0, 270], [960, 270]], None),  # edge to edge across the middle: ends at the edges are fine
        ([[300, 400], [700, 400]], None),  # well inside
    ],
)
def test_lines_too_close_to_an_edge_are_named(points, edge):
    warnings = line_edge_warnings(camera_with_line(points), 960, 540)
    if edge is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and f"from the {edge} edge" in warnings[0].message and warnings[0].kind == "line_edge"


@pytest.mark.parametrize(
    "heights, warned",
    [
        ([10, 12, 11, 14, 30], True),  # mostly tiny objects
        ([40, 60, 80, 12], False),  # people of a fair size, one far away
        ([], False),  # nothing seen: said by another warning
    ],
)
def test_small_objects(heights, warned):
    assert bool(size_warnings(heights)) is warned


def test_frame_shift_measures_a_translation():
    rng = np.random.default_rng(4)
    picture = cv2.GaussianBlur(rng.integers(0, 255, (270, 480), np.uint8), (0, 0), 3)
    moved = np.roll(picture, (2, -3), axis=(0, 1))  # 2 px down, 3 px left
    assert frame_shift(picture[20:-20, 20:-20], moved[20:-20, 20:-20]) == pytest.approx(np.hypot(2, 3), abs=0.15)
    assert frame_shift(picture, picture) == pytest.approx(0, abs=0.05)


@pytest.mark.parametrize(
    "shifts, warned",
    [
        ([0.0] * 50 + [1.0] * 2, False),  # the pole sways a pixel now and then
        ([0.2, 2.5, 3.1, 0.4] * 10, True),  # a shaking mount
    ],
)
def test_shake(shifts, warned):
    assert bool(shake_warnings(shifts)) is warned


@pytest.mark.parametrize(
    "levels, fps, said",
    [
        ([120, 121, 119, 120, 122] * 10, 8.0, []),  # steady daylight
        (list(np.linspace(150, 90, 50)), 1.0, ["changed by"]),  # dusk over a minute: a drift, no jump
        ([120] * 20 + [70] * 20, 8.0, ["changed by", "jumped by"]),  # a cloud's shadow or auto-exposure
        ([25, 26, 24, 25] * 10, 8.0, ["dark"]),  # night without lights
    ],
)
def test_light(levels, fps, said):
    messages = [w.message for w in light_warnings(levels, fps)]
    assert len(messages) == len(said) and all(s in m for s, m in zip(said, messages)), messages


def test_frame_rates():
    assert rate_warnings(25, 24.5, live=True, stride=3) == []
    assert [w.kind for w in rate_warnings(5, 3, live=True, stride=3)] == ["frame_rate", "slow_agent"]
    assert rate_warnings(25, 3, live=False, stride=3) == []  # a file is read as fast as the agent goes
    # a stride set for a 25 fps camera on one that sends 10: 3.3 analyses a second, too few to count
    assert [w.kind for w in rate_warnings(10, 10, live=True, stride=3)] == ["stride"]
    assert rate_warnings(10, 10, live=True, stride=1) == [] and rate_warnings(29.97, 30, live=True, stride=4) == []
    # a stream reporting 25 frames a second that sends 10: said, with the rate it sends
    [reported] = rate_warnings(10, 10, live=True, stride=1, reported_fps=25)
    assert reported.kind == "reported_rate" and "reports 25.0 frames a second but sends 10.0" in reported.message
    assert rate_warnings(24, 24, live=True, stride=3, reported_fps=25) == []  # a frame lost now and then


def test_a_picture_without_colour_is_said_so():
    from camera_agents.sources import Frame, open_source

    source = open_source("synthetic:traffic?seed=2&frames=5")
    frames = [item.image for item in iter(source.read, None) if isinstance(item, Frame)]
    grey = [cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR) for f in frames]
    # a grey picture through a JPEG encoder: compression leaves its channels within a few levels
    compressed = [cv2.imdecode(cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, 50])[1], cv2.IMREAD_COLOR) for g in grey]
    assert all(reduced_colour_share(f) > 0.05 for f in frames)  # a daylight street
    assert max(reduced_colour_share(f) for f in compressed) < 0.002
    assert colour_warnings([reduced_colour_share(f) for f in frames]) == []
    assert [w.kind for w in colour_warnings([reduced_colour_share(f) for f in compressed])] == ["monochrome"]
    assert colour_warnings([]) == []  # nothing analysed, nothing to say


def test_tune_writes_a_report_folder_for_a_synthetic_camera(tmp_path):
    out = tmp_path / "report"
    result = runner.invoke(app, ["tune", "--config", str(EXAMPLES / "synthetic_traffic.yaml"), "--seconds", "12", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["frames"] == 300 and report["analysed"] == 100 and report["source_fps"] == report["reported_fps"] == 25.0
    assert set(report["counts"]) <= {"stop_line/in", "stop_line/out", "near_edge/in", "near_edge/out"} and sum(report["counts"].values()) >= 5
    assert report["objects"] >= 10 and report["object_height_px"] > 16
    # per class as planners will read them: every crossing once, and the avenue's riders the most counted
    assert {key: sum(by_class.values()) for key, by_class in report["classes"].items()} == report["counts"]
    overall = sum((Counter(by_class) for by_class in report["classes"].values()), Counter())
    assert overall.most_common(1)[0][0] == "motorbike" and set(overall) <= {"motorbike", "car", "bus_truck"}
    assert report["colour_share"] > 0.05
    assert report["analysis_size"] == [240, 135]  # a 960x540 picture, analysed at a quarter
    assert report["warnings"] == [], report["warnings"]  # the example camera is set up well
    picture = cv2.imread(str(out / "annotated.png"))
    assert picture.shape == (540, 960, 3)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<img src='annotated.png'" in page and "stop_line/out" in page
    assert "counts:" in (out / "report.txt").read_text(encoding="utf-8") and "counts:" in result.output
    assert "motorbike" in (out / "report.txt").read_text(encoding="utf-8") and "motorbike" in page


def test_tune_measures_shake_and_light_of_a_troubled_recording_and_a_line_at_the_edge(tmp_path):
    from camera_agents.sources import open_source

    # A recording of the synthetic camera on a shaking pole while a cloud darkens the scene.
    source = open_source("synthetic:traffic?seed=3&frames=200")
    video = tmp_path / "troubled.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (960, 540))
    rng = np.random.default_rng(5)
    while (frame := source.read()) is not None:
        dx, dy = (int(v) for v in rng.integers(-4, 5, 2))
        image = np.roll(frame.image, (dy, dx), axis=(0, 1))
        gain = 1.0 if frame.index < 100 else 0.55
        writer.write(cv2.convertScaleAbs(image, alpha=gain))
    writer.release()
    source.close()
    camera = yaml.safe_load((EXAMPLES / "synthetic_traffic.yaml").read_text(encoding="utf-8"))
    camera["lines"][1]["points"] = [[100, 530], [860, 530]]  # near_edge, now 10 px from the bottom
    path = tmp_path / "camera.yaml"
    path.write_text(yaml.safe_dump(camera, allow_unicode=True), encoding="utf-8")
    load_camera(path)
    out = tmp_path / "report"
    result = runner.invoke(app, ["tune", "--config", str(path), "--source", str(video), "--seconds", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    kinds = {w["kind"] for w in report["warnings"]}
    assert {"shake", "light", "line_edge"} <= kinds, report["warnings"]
    assert 2.0 <= report["shake_px"][0] <= 6.0  # shifts of up to 4 px a side between frames
    assert report["brightness"][2] / report["brightness"][0] > 1.5
    assert "near_edge lies 10 px from the bottom edge" in result.output


def test_tune_finds_an_advertising_screen_and_gives_the_mask_that_silences_it(tmp_path):
    from camera_agents.sources import open_source

    # A recording of the synthetic camera with an LED screen on the building right of the road,
    # showing another advert every second.
    source = open_source("synthetic:traffic?seed=3&frames=500")
    video = tmp_path / "screen.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (960, 540))
    while (frame := source.read()) is not None:
        blocks = np.random.default_rng(frame.index // 25).integers(0, 256, (4, 6, 3), dtype=np.uint8)
        frame.image[150:230, 820:940] = np.repeat(np.repeat(blocks, 20, axis=0), 20, axis=1)
        writer.write(frame.image)
    writer.release()
    source.close()
    camera = yaml.safe_load((EXAMPLES / "synthetic_traffic.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "camera.yaml"
    path.write_text(yaml.safe_dump(camera, allow_unicode=True), encoding="utf-8")

    def tune() -> list[dict]:
        out = tmp_path / "report"
        result = runner.invoke(app, ["tune", "--config", str(path), "--source", str(video), "--seconds", "20", "--out", str(out)])
        assert result.exit_code == 0, result.output
        return json.loads((out / "report.json").read_text(encoding="utf-8"))["warnings"]

    found = [w for w in tune() if w["kind"] == "motion_in_place"]
    assert len(found) == 1, found
    # The mask it gives pastes into the camera's file as it stands, and covers the screen.
    camera |= yaml.safe_load(found[0]["message"].split("in the camera's file: ")[1])
    (x1, y1), _, (x2, y2), _ = camera["masks"][0]["polygon"]
    assert x1 <= 820 and y1 <= 150 and x2 >= 940 and y2 >= 230 and (x2 - x1) * (y2 - y1) <= 1.7 * 120 * 80  # a tenth more a side
    path.write_text(yaml.safe_dump(camera, allow_unicode=True), encoding="utf-8")
    load_camera(path)
    assert not [w for w in tune() if w["kind"] == "motion_in_place"]
    # The report's picture shows the mask, darkened over the screen's bright blocks.
    picture = cv2.imread(str(tmp_path / "report" / "annotated.png"))
    assert picture[160:220, 830:930].max() <= 0.6 * 40 + 0.4 * 255 + 1


@pytest.mark.parametrize(
    ("boxes", "covered"),
    [
        ([[250, 200, 700, 320]], ["stop_line"]),  # one blob over the whole line
        ([[250, 200, 600, 320]], ["stop_line"]),  # over 80 % of it
        ([[250, 200, 500, 320], [500, 200, 700, 320]], []),  # two vehicles abreast, half of it each
        ([[400, 250, 460, 300]], []),  # a car on it
        ([], []),  # nothing in the picture
    ],
)
def test_a_line_one_object_covers_most_of_is_named(boxes, covered):
    camera = CameraConfig.model_validate(yaml.safe_load((EXAMPLES / "synthetic_traffic.yaml").read_text(encoding="utf-8")))
    assert lines_covered(camera, np.array(boxes, float).reshape(-1, 4)) == covered


@pytest.mark.parametrize(
    ("covered", "analysed", "warned"),
    [
        ({"north": 59, "east": 0}, 100, ["north"]),  # a dusk run on a wet road: one blob of glare over the carriageway
        ({"north": 10, "east": 27}, 100, ["north", "east"]),  # a tenth of the run is enough
        ({"north": 2}, 100, []),  # a bus now and then
        ({"north": 0}, 0, []),  # nothing analysed
    ],
)
def test_lines_often_covered_by_one_object_are_warned_of(covered, analysed, warned):
    warnings = covered_line_warnings(covered, analysed)
    assert [w.message.split(":")[0] for w in warnings] == [f"line {line}" for line in warned]
    assert all(w.kind == "covered_line" and "merge" in w.message for w in warnings)


def test_tune_warns_of_a_line_that_one_object_stands_over(tmp_path):
    from camera_agents.sources import open_source

    # The synthetic camera with a queue of lorries as wide as the road creeping down over the stop
    # line: the motion detector sees one object there for seconds.
    source = open_source("synthetic:traffic?seed=3&frames=500")
    video = tmp_path / "queue.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (960, 540))
    while (frame := source.read()) is not None:
        top = 150 + frame.index // 4  # 6 px a second: over the line (y 291) from frame 84 to the end
        frame.image[top : top + 90, 260:700] = (40, 40, 170)
        frame.image[top : top + 90 : 30, 260:700] = (20, 20, 60)  # their ends
        writer.write(frame.image)
    writer.release()
    source.close()
    out = tmp_path / "report"
    result = runner.invoke(
        app, ["tune", "--config", str(EXAMPLES / "synthetic_traffic.yaml"), "--source", str(video), "--seconds", "20", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    warned = [w["message"] for w in json.loads((out / "report.json").read_text(encoding="utf-8"))["warnings"] if w["kind"] == "covered_line"]
    assert len(warned) == 1 and warned[0].startswith("line stop_line:"), warned


def test_tune_on_a_source_that_does_not_open_is_one_clear_line(tmp_path):
    result = runner.invoke(
        app, ["tune", "--config", str(EXAMPLES / "synthetic_traffic.yaml"), "--source", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "site" / "r")]
    )
    assert result.exit_code == 2 and "missing.mp4 does not exist" in result.output  # bad input
    assert not (tmp_path / "site").exists()  # the folders made for a report that never came are gone again
    assert "watching" not in result.output  # nothing was watched


def test_tune_says_how_finely_a_full_hd_wide_view_is_analysed(tmp_path):
    from tests.media import synthetic_video
    from tests.scene_sets import TEST_FRAMES, spec

    # a full-HD camera showing a wide view, its vehicles at the lines as large as on a 960x540 one
    video = synthetic_video(spec("asphalt-grey", 10144, TEST_FRAMES, view=(1920, 1080)))
    camera = json.loads(Path(f"{video}.camera.json").read_text(encoding="utf-8"))
    camera["source"] = str(video)
    path = tmp_path / "camera.yaml"
    path.write_text(yaml.safe_dump(camera, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "report"
    result = runner.invoke(app, ["tune", "--config", str(path), "--seconds", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    # finer than the 240 pixels its width alone would give, at most twice as fine
    width, height = report["analysis_size"]
    assert 240 < width <= 480 and abs(height - 1080 * width / 1920) <= 1, report["analysis_size"]
    assert f"the motion detector sees the picture {width}x{height}" in result.output


@pytest.mark.parametrize(
    ("longest_wait_s", "stopped_seconds", "said"),
    [
        (6.0, 5.0, "so these waits were"),  # waits at the light outlasted the stop time: reported stopped
        (6.0, 8.0, "nearly as long"),  # three quarters of it or more: a longer red phase would be
        (14.9, 20.0, None),  # under three quarters of the stop time
        (3.0, 20.0, None),  # a short red phase
        (0.0, 20.0, None),  # nobody waited
    ],
)
def test_waits_at_a_light_about_as_long_as_a_stop_are_named(longest_wait_s, stopped_seconds, said):
    warnings = wait_warnings(longest_wait_s, stopped_seconds)
    assert [w.kind for w in warnings] == (["waiting"] if said else [])
    if said:
        assert said in warnings[0].message and f"stopped_seconds: {math.ceil(1.5 * max(longest_wait_s, stopped_seconds))}" in warnings[0].message


@pytest.mark.parametrize(
    ("stopped_seconds", "warned"),
    [
        (5.0, True),  # the queue at the light waits longer than a stop takes
        (20.0, False),  # the default: its red phases are shorter
    ],
)
def test_tune_says_when_vehicles_waiting_at_a_light_would_be_reported_stopped(tmp_path, stopped_seconds, warned):
    from camera_agents.sources import open_source

    source = open_source("synthetic:traffic?variant=queue&seed=9")
    data = source.camera_config()
    source.close()
    data["analytics"] = {**data.get("analytics", {}), "stopped_seconds": stopped_seconds}
    report = run_tune(CameraConfig.model_validate(data), tmp_path / "report", seconds=40)
    assert ("waiting" in {w.kind for w in report.warnings}) is warned


@pytest.mark.parametrize(
    ("example", "changes", "learned", "warned"),
    [
        ("vtest.yaml", {"detector": {"type": "motion"}}, False, True),  # motion: groups count as one until a person's size is learned
        ("vtest.yaml", {"detector": {"type": "motion"}}, True, False),  # learned at each row, without a calibration
        ("vtest.yaml", {}, False, False),  # the learned pedestrian detector separates people itself
        ("synthetic_crowd.yaml", {}, False, True),  # calibrated, but too few people seen alone in the run
        ("synthetic_crowd.yaml", {}, True, False),  # calibrated and learned: groups are counted by their area
        ("synthetic_traffic.yaml", {}, False, False),  # a traffic camera counts vehicles
    ],
)
def test_a_security_camera_that_did_not_learn_a_persons_size_is_named(example, changes, learned, warned):
    data = {**yaml.safe_load((EXAMPLES / example).read_text(encoding="utf-8")), **changes}
    warnings = group_warnings(CameraConfig.model_validate(data), learned=learned)
    assert [w.kind for w in warnings] == (["groups"] if warned else [])
    # Without a calibration the installer is also told that one would do it.
    assert all(("calibration" in w.message) == ("calibration" not in data) for w in warnings)


def _uncalibrated(lines=None) -> CameraConfig:
    data = yaml.safe_load((EXAMPLES / "synthetic_traffic.yaml").read_text(encoding="utf-8"))
    del data["calibration"]
    if lines is not None:
        data["lines"] = lines
    return CameraConfig.model_validate(data)


_UPRIGHT = [{"id": "count", "points": [[480, 40], [480, 500]], "in_direction": [[10, 270], [60, 270]]}]


@pytest.mark.parametrize(
    ("config", "learned", "warned"),
    [
        # calibrated: riders abreast are told apart on the ground
        (lambda: CameraConfig.model_validate(yaml.safe_load((EXAMPLES / "synthetic_traffic.yaml").read_text(encoding="utf-8"))), False, False),
        # no calibration, traffic up and down the picture, a rider's width learnt in the run
        (lambda: _uncalibrated(), True, False),
        # the same, not learnt in the run: run longer or calibrate
        (lambda: _uncalibrated(), False, True),
        # no calibration, traffic across the picture: nothing learnt tells riders abreast there
        (lambda: _uncalibrated(_UPRIGHT), True, True),
        # a security camera counts people, not riders
        (lambda: CameraConfig.model_validate({**yaml.safe_load((EXAMPLES / "vtest.yaml").read_text(encoding="utf-8")), "detector": {"type": "motion"}}), False, False),
    ],
)
def test_an_uncalibrated_traffic_camera_that_cannot_tell_riders_abreast_is_named(config, learned, warned):
    warnings = rider_warnings(config(), learned=learned)
    assert [w.kind for w in warnings] == (["riders"] if warned else [])
    assert all("calibration" in w.message for w in warnings)


def test_the_report_of_an_uncalibrated_camera_says_whether_it_learnt_a_riders_width(tmp_path):
    # A road of riders up and down the picture without its calibration: a rider's width is
    # learnt within seconds; with the lines turned upright nothing could be.
    from camera_agents.sources import open_source

    source = open_source("synthetic:traffic?variant=side-by-side&seed=9")
    data = source.camera_config()
    source.close()
    del data["calibration"]
    report = run_tune(CameraConfig.model_validate(data), tmp_path / "level", seconds=15)
    assert "riders" not in {w.kind for w in report.warnings}
    data["lines"] = [{"id": "count", "points": [[480, 40], [480, 500]], "in_direction": [[10, 270], [60, 270]]}]
    report = run_tune(CameraConfig.model_validate(data), tmp_path / "upright", seconds=5)
    assert "riders" in {w.kind for w in report.warnings}


@pytest.mark.parametrize(
    ("seconds", "warned"),
    [
        (4, True),  # a few people in four seconds: too few to learn a person's size from
        (30, False),  # half a minute of the plaza: learned at each row, groups counted
    ],
)
def test_tune_says_whether_an_uncalibrated_crowd_camera_learned_how_large_one_person_is(tmp_path, seconds, warned):
    data = yaml.safe_load((EXAMPLES / "synthetic_crowd.yaml").read_text(encoding="utf-8"))
    del data["calibration"]
    report = run_tune(CameraConfig.model_validate(data), tmp_path / "report", seconds=seconds)
    assert ("groups" in {w.kind for w in report.warnings}) is warned


@pytest.mark.parametrize(
    ("unit", "metres", "warned"),
    [
        ("m", 1.0, False),  # the people measure 0.51-0.54 m across (three plazas)
        ("ft", 0.3048, True),  # the installer measured the plaza in feet: people 1.86 m across
        ("yd", 0.9144, False),  # yards: a tenth off, within what people measure
    ],
)
def test_tune_says_when_a_security_cameras_calibration_makes_people_too_wide_or_narrow(tmp_path, unit, metres, warned):
    data = yaml.safe_load((EXAMPLES / "synthetic_crowd.yaml").read_text(encoding="utf-8"))
    data["calibration"]["ground_points"] = [[x / metres, y / metres] for x, y in data["calibration"]["ground_points"]]
    report = run_tune(CameraConfig.model_validate(data), tmp_path / "report", seconds=30)
    assert ("calibration" in {w.kind for w in report.warnings}) is warned


def test_a_calibration_is_judged_on_enough_people_only():
    data = yaml.safe_load((EXAMPLES / "synthetic_crowd.yaml").read_text(encoding="utf-8"))
    camera = CameraConfig.model_validate(data)
    giant = Presence(start=(480, 500), first_s=0, last_s=5, boxes=[[300, 300, 700, 500]])  # 400 px across near the camera
    assert [w.kind for w in calibration_warnings(camera, [giant] * 10)] == ["calibration"]
    assert calibration_warnings(camera, [giant] * 9) == []  # too few followed to tell
    uncalibrated = camera.model_copy(update={"calibration": None})
    assert calibration_warnings(uncalibrated, [giant] * 10) == []  # nothing to judge


@pytest.mark.parametrize(
    ("metres", "warned"),
    [
        (1.0, False),  # vehicles measure 0.78-1.73 m across the traffic on the tuning cameras
        (0.3048, True),  # ground points in feet: 2.52-5.69 m
    ],
)
def test_tune_says_when_a_traffic_cameras_calibration_makes_vehicles_too_wide(tmp_path, metres, warned):
    from camera_agents.sources import open_source

    source = open_source("synthetic:traffic?variant=topdown-updown&seed=9")
    data = source.camera_config()
    source.close()
    data["calibration"]["ground_points"] = [[x / metres, y / metres] for x, y in data["calibration"]["ground_points"]]
    report = run_tune(CameraConfig.model_validate(data), tmp_path / "report", seconds=30)
    assert ("calibration" in {w.kind for w in report.warnings}) is warned
