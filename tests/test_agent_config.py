"""Camera configs: a good file loads into value objects; a bad one names file, line, key path and value."""

from __future__ import annotations

import textwrap
import unicodedata

import pytest

from camera_agents.config import (
    ConfigError,
    MotionDetectorConfig,
    load_camera,
    load_cameras,
    parse_camera,
    seen_width,
    verify_inside_frame,
)

GOOD = textwrap.dedent(
    """\
    camera_id: vt-thuy-van-01
    name: "Ngã tư Thùy Vân – Hạ Long"
    kind: traffic
    location: {lat: 10.3397, lon: 107.0843}
    source: synthetic:traffic?seed=1
    resolution: {width: 960, height: 540}
    detector:
      type: motion
      scale: 0.25
    lines:
      - id: stop_line
        points: [[100, 400], [860, 400]]
        in_direction: [[480, 350], [480, 450]]
        names: {in: "vào trung tâm", out: "ra Bãi Sau"}
        allowed_direction: in
    zones:
      - id: queue
        polygon: [[100, 200], [400, 200], [400, 390], [100, 390]]
        max_occupancy: 12
        dwell_seconds: 30
    calibration:
      image_points: [[300, 500], [660, 500], [600, 200], [360, 200]]
      ground_points: [[-3.5, 5], [3.5, 5], [3.5, 30], [-3.5, 30]]
    masks:
      - id: led_screen
        polygon: [[700, 20], [940, 20], [940, 120], [700, 120]]
    """
)


def write(tmp_path, text, name="cam.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("written, stored", [
    ("Vũng Tàu", "Vũng Tàu"),
    (unicodedata.normalize("NFD", "Vũng Tàu"), "Vũng Tàu"),  # decomposed, as some keyboards and files send it
    ("' Côn Đảo '", "Côn Đảo"),  # a stray space
])
def test_a_cameras_district_is_stored_in_one_spelling(tmp_path, written, stored):
    config = load_camera(write(tmp_path, GOOD.replace("kind: traffic", f"kind: traffic\ndistrict: {written}")))
    assert config.district == stored and len(config.district) == len(stored)


def test_a_blank_district_is_refused_on_its_line(tmp_path):
    with pytest.raises(ConfigError, match=r"cam\.yaml:4: district: a district's name cannot be blank"):
        load_camera(write(tmp_path, GOOD.replace("kind: traffic", "kind: traffic\ndistrict: '  '")))


def test_good_config_loads_with_vietnamese_names(tmp_path):
    config = load_camera(write(tmp_path, GOOD))
    assert config.name == "Ngã tư Thùy Vân – Hạ Long"
    assert config.lines[0].names.in_ == "vào trung tâm" and config.lines[0].allowed_direction == "in"
    assert config.detector.type == "motion" and config.detector.scale == 0.25
    assert config.zones[0].dwell_seconds == 30 and len(config.calibration.image_points) == 4


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "words"),
    [
        ("scale: 0.25", "scale: 3", 9, "detector.scale", "less than or equal to 1 (got 3)"),
        ("allowed_direction: in", "allowed_direction: sideways", 15, "lines[0].allowed_direction", "'sideways'"),
        ("max_occupancy: 12", "max_occupancy: 12\n    colour: red", 20, "zones[0].colour", "unknown key"),
        ("kind: traffic", "kind: parking", 3, "kind", "'parking'"),
        ("lat: 10.3397", "lat: 100.5", 4, "location.lat", "got 100.5"),
        ("[480, 350], [480, 450]", "[100, 400], [860, 400]", 13, "lines[0].in_direction", "across the line"),
        ("[[100, 400], [860, 400]]", "[[100, 400], [1860, 400]]", 12, "lines[0].points[1]", "outside the 960x540 frame"),
        ("id: queue", "id: z0\n    polygon: [[0, 0], [5, 0], [5, 5]]\n  - id: z0", 19, "zones[1].id", "duplicate zone id"),
        ("[3.5, 30], [-3.5, 30]]", "[3.5, 30]]", 23, "calibration.ground_points", "exactly 4 points"),
        ("type: motion\n  scale: 0.25", "type: onnx\n  model: /nowhere/yolov8n.onnx", 9, "detector.model", "does not exist"),
        ("camera_id: vt-thuy-van-01", "camera_id: vt thuy van", 1, "camera_id", "should be up to 64 letters, digits"),
        # masks: ids unique, inside the picture, with an area, and never over all of a line or a zone
        ("id: led_screen", "id: m0\n    polygon: [[0, 0], [5, 0], [5, 5]]\n  - id: m0", 27, "masks[1].id", "duplicate mask id"),
        ("[940, 120], [700, 120]]", "[1940, 120], [700, 120]]", 26, "masks[0].polygon[2]", "outside the 960x540 frame"),
        ("[[700, 20], [940, 20], [940, 120], [700, 120]]", "[[700, 20], [800, 20], [900, 20]]", 26, "masks[0].polygon", "no area"),
        ("[[700, 20], [940, 20], [940, 120], [700, 120]]", "[[50, 380], [900, 380], [900, 420], [50, 420]]", 12, "lines[0].points", "count nothing"),
        ("[[700, 20], [940, 20], [940, 120], [700, 120]]", "[[50, 150], [450, 150], [450, 395], [50, 395]]", 18, "zones[0].polygon", "count nothing"),
        ("id: led_screen", "id: led_screen\n    motion_only: true", 26, "masks[0].motion_only", "unknown key"),
        # a setting renamed with its unit: the file says what to write instead
        ("scale: 0.25", "scale: 0.25\n  classes: {motorbike_max_m2: 1.6}", 10, "detector.classes.motorbike_max_m2", "replaced by motorbike_max_long_m"),
    ],
)
def test_bad_config_names_file_line_path_and_value(tmp_path, old, new, line, path, words):
    assert old in GOOD
    file = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_camera(file)
    issue = caught.value.issues[0]
    assert (issue.file, issue.line, issue.path) == (str(file), line, path), str(caught.value)
    assert words in issue.message
    assert f"{file}:{line}: {path}:" in str(caught.value)


def test_a_mask_may_reach_over_part_of_a_line_or_zone(tmp_path):
    # a screen beside the road, its mask over the line's left end and the zone's corner
    config = load_camera(write(tmp_path, GOOD.replace("[[700, 20], [940, 20], [940, 120], [700, 120]]", "[[20, 180], [160, 180], [160, 420], [20, 420]]")))
    assert config.masks[0].polygon[2] == (160, 420)


def test_yaml_errors_and_duplicate_keys_are_reported_with_lines(tmp_path):
    with pytest.raises(ConfigError, match=r"cam.yaml:3: .*not valid YAML"):
        load_camera(write(tmp_path, "camera_id: a\nname: [b\nkind: traffic\n"))
    with pytest.raises(ConfigError, match=r"cam.yaml:3: name: key given twice"):
        load_camera(write(tmp_path, "camera_id: a\nname: b\nname: c\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_camera("- just\n- a list\n")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"camera_id: a\nname: V\xf9ng T\xe0u\n")  # saved by an editor in Latin-1
    with pytest.raises(ConfigError, match=r"latin\.yaml:2: cannot read the file: not UTF-8 text"):
        load_camera(latin)


def test_folder_of_cameras_reports_every_bad_file_and_duplicate_ids(tmp_path):
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD.replace("vt-thuy-van-01", "vt-02"), "b.yml")
    assert [c.camera_id for c in load_cameras(tmp_path)] == ["vt-thuy-van-01", "vt-02"]
    write(tmp_path, GOOD, "c.yaml")  # same id as a.yaml
    write(tmp_path, GOOD.replace("kind: traffic", "kind: x"), "d.yaml")
    with pytest.raises(ConfigError) as caught:
        load_cameras(tmp_path)
    text = str(caught.value)
    assert "c.yaml: camera_id: camera id 'vt-thuy-van-01' is also used by" in text and "d.yaml:3: kind:" in text
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no camera files"):
        load_cameras(tmp_path / "empty")
    with pytest.raises(ConfigError, match="missing: no such folder"):
        load_cameras(tmp_path / "missing")
    with pytest.raises(ConfigError, match="c.yaml: not a folder"):
        load_cameras(tmp_path / "c.yaml")


def test_frame_check_against_the_real_source_size(tmp_path):
    config = load_camera(write(tmp_path, GOOD.replace("resolution: {width: 960, height: 540}\n", "")))
    assert verify_inside_frame(config) == []
    problems = verify_inside_frame(config, 640, 360)
    assert (("lines", 0, "points", 0), "point [100.0, 400.0] lies outside the 640x360 frame") in problems


@pytest.mark.parametrize(
    "kind, detector, tracking, hits",
    [
        # the motion detector's blobs of vehicles break into pieces that live a few analysed frames: four
        ("traffic", "detector:\n  type: motion\n  scale: 0.25\n", "", 4),
        # people, even by motion, count sooner with three
        ("security", "detector:\n  type: motion\n  scale: 0.25\n", "", 3),
        # a model sees whole objects: three
        ("traffic", "detector:\n  type: hog\n", "", 3),
        ("security", "detector:\n  type: hog\n", "", 3),
        # set in the file, it is what the installer chose
        ("traffic", "detector:\n  type: motion\n  scale: 0.25\n", "tracking:\n  min_hits: 2\n", 2),
        ("security", "detector:\n  type: hog\n", "tracking:\n  min_hits: 5\n", 5),
    ],
)
def test_hits_to_confirm_a_track_follow_the_camera_unless_set(tmp_path, kind, detector, tracking, hits):
    text = GOOD.replace("detector:\n  type: motion\n  scale: 0.25\n", detector).replace("kind: traffic", f"kind: {kind}") + tracking
    config = load_camera(write(tmp_path, text))
    assert config.confirmation_hits() == hits


@pytest.mark.parametrize(
    "analytics, fps, stride",
    [
        # the rate the agent was tuned at: every third frame of a 25 fps camera, 8.3 a second
        ("", 25.0, 3),
        # a 30 fps camera: every fourth, 7.5 a second
        ("", 30.0, 4),
        # 29.97 is a 30 fps camera too
        ("", 29.97, 4),
        # a camera saving bandwidth at 15 fps: every second frame
        ("", 15.0, 2),
        # 12.5 and 10 fps: every frame (every second would be 5-6 a second, too few to follow a motorbike)
        ("", 12.5, 1),
        ("", 10.0, 1),
        # a camera slower than the analysis rate: every frame it sends
        ("", 5.0, 1),
        # 60 fps: every eighth
        ("", 60.0, 8),
        # set in the file, it is what the installer chose, whatever the camera's rate
        ("analytics:\n  stride: 3\n", 10.0, 3),
        ("analytics:\n  stride: 1\n", 25.0, 1),
    ],
)
def test_frames_analysed_follow_the_cameras_rate_unless_set(tmp_path, analytics, fps, stride):
    config = load_camera(write(tmp_path, GOOD + analytics))
    assert config.analytics.stride_at(fps) == stride


@pytest.mark.parametrize(
    "width, scale, min_area, merge, hysteresis, stopped",
    [
        # the picture the detector was tuned on: analysed at a quarter, 240 pixels wide
        (960, 0.25, 120.0, 6.0, 4.0, 6.0),
        # a camera's substream: analysed 240 wide too, its settings in its own (larger) pixels
        (640, 0.375, 53.333, 4.0, 2.667, 4.0),
        # full HD: analysed 240 wide, no dearer than 960, its settings in its own (smaller) pixels
        (1920, 0.125, 480.0, 12.0, 8.0, 12.0),
        # a picture narrower than the analysis: analysed as it is
        (160, 1.0, 3.333, 1.0, 0.667, 1.0),
    ],
)
def test_pixel_settings_follow_the_pictures_width_unless_set(tmp_path, width, scale, min_area, merge, hysteresis, stopped):
    config = load_camera(write(tmp_path, GOOD.replace("  scale: 0.25\n", "")))
    detector, analytics = config.detector, config.analytics
    assert detector.type == "motion"
    got = (detector.scale_at(width), detector.min_area_at(width), detector.merge_at(width), analytics.hysteresis_at(width), analytics.stopped_px_at(width))
    assert got == pytest.approx((scale, min_area, merge, hysteresis, stopped), abs=1e-3)
    # set in the file, each is what the installer chose, whatever the picture
    chosen = GOOD.replace("  scale: 0.25\n", "  scale: 0.5\n  min_area_px: 200\n  merge_px: 3\n") + "analytics:\n  line_hysteresis_px: 5\n  stopped_max_px: 9\n"
    config = load_camera(write(tmp_path, chosen))
    detector, analytics = config.detector, config.analytics
    assert detector.type == "motion"
    got = (detector.scale_at(width), detector.min_area_at(width), detector.merge_at(width), analytics.hysteresis_at(width), analytics.stopped_px_at(width))
    assert got == (0.5, 200, 3, 5, 9)


@pytest.mark.parametrize(
    "width, px_per_m, seen",
    [
        # not calibrated: how large vehicles look is not known, the picture's width decides
        (1920, None, 1920),
        # a 960-wide picture: its own width, however small its vehicles look (the tuning cameras')
        (960, 11.7, 960),
        # full HD, vehicles twice as large as on the typical tuning camera's 960 picture (the same view, twice the detail)
        (1920, 32.6, 1908.3),
        # full HD showing a wider view, vehicles as large as on a 960 picture: read as one, analysed 480 wide
        (1920, 16.3, 960),
        # ... and as large as on a tuning camera's near line: between the two
        (1920, 24.0, 1404.9),
        # a wide view of 4K, its vehicles small: down to half its width at most (an analysis twice as fine)
        (3840, 10.0, 1920),
        # a 640x480 view whose vehicles look as on a 960 picture: read as one, analysed 160 wide
        (640, 16.3, 954.1),
        # a substream of a 960 picture, its vehicles two thirds as large: its own width
        (640, 10.9, 640),
        # ... and however small they look, no finer than 240 wide
        (640, 5.0, 640),
    ],
)
def test_the_width_whose_settings_suit_a_picture_follows_how_large_its_vehicles_look(width, px_per_m, seen):
    assert seen_width(width, px_per_m) == pytest.approx(seen, abs=0.1)


def test_a_substream_of_the_same_shape_gets_the_lines_scaled_to_its_pictures(tmp_path):
    # lines drawn on the 960x540 main stream's snapshot, pictures from a 640x360 substream
    config = load_camera(write(tmp_path, GOOD.replace("  scale: 0.25\n", "  min_area_px: 90\n") + "analytics:\n  line_hysteresis_px: 6\n"))
    sub = config.for_picture(640, 360)
    assert sub.resolution is not None and (sub.resolution.width, sub.resolution.height) == (640, 360)
    assert [*sub.lines[0].points[0], *sub.lines[0].points[1]] == pytest.approx([100 * 2 / 3, 400 * 2 / 3, 860 * 2 / 3, 400 * 2 / 3])
    assert sub.lines[0].in_direction[1] == pytest.approx((320, 300))
    assert sub.zones[0].polygon[2] == pytest.approx((400 * 2 / 3, 390 * 2 / 3))
    assert sub.masks[0].polygon[1] == pytest.approx((940 * 2 / 3, 20 * 2 / 3))
    assert sub.calibration is not None and sub.calibration.image_points[0] == pytest.approx((200, 500 * 2 / 3))
    assert sub.calibration.ground_points == config.calibration.ground_points  # metres stay metres
    assert sub.detector.type == "motion" and sub.detector.min_area_px == pytest.approx(40)  # an area: by (2/3)²
    assert sub.analytics.line_hysteresis_px == pytest.approx(4)  # a length: by 2/3
    assert sub.detector.merge_px is None and sub.analytics.stopped_max_px is None  # defaults follow the picture anyway
    assert config.for_picture(960, 540) is config  # the pictures the lines were drawn on


def test_a_source_of_another_shape_is_refused_with_what_to_do(tmp_path):
    config = load_camera(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match=r"resolution: .*drawn on a 960x540 picture but the source sends 640x480, another shape"):
        config.for_picture(640, 480)
    # without a resolution the lines are in the source's pixels, whatever it sends
    bare = load_camera(write(tmp_path, GOOD.replace("resolution: {width: 960, height: 540}\n", "")))
    assert bare.for_picture(640, 480) is bare


@pytest.mark.parametrize(
    ("history", "kind", "expected"),
    [
        (None, "traffic", 1000),  # a vehicle at a red light stays foreground 36 s
        (None, "security", 4000),  # people waiting in a crowd stay two and a half minutes
        (10_000, "security", 10_000),  # set in the camera's file: as set, whatever the kind
        (500, "traffic", 500),
    ],
)
def test_the_background_remembers_longer_on_a_security_camera(history, kind, expected):
    assert MotionDetectorConfig(history=history).history_for(kind) == expected
