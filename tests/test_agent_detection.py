"""Detectors on tiny drawn frames, the YOLO decode on a synthetic tensor, the missing-model error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from camera_agents.background import LearnedBackground
from camera_agents.blobs import (
    components,
    cut_across_lanes,
    cut_by_colour,
    split_merged,
    split_turned,
    two_lanes_deep,
    with_holes_filled,
)
from camera_agents.config import HogDetectorConfig, MotionDetectorConfig, OnnxDetectorConfig
from camera_agents.detection import DetectorError
from camera_agents.detections import CLASS_ID
from camera_agents.geometry import GroundPlane, across_traffic
from camera_agents.learned import COCO_NAMES, HogDetector, OnnxDetector, decode_yolo
from camera_agents.masks import Masks
from camera_agents.merged import MergedVehicles
from camera_agents.motion import MotionDetector
from camera_agents.pieces import PieceJoiner, join_lamp_ends
from camera_agents.scales import RIDER_WIDE_M, RiderScale
from camera_agents.sizes import SizeClassifier


def road(rng: np.random.Generator, brightness: int = 90) -> np.ndarray:
    frame = np.full((270, 480, 3), brightness, np.uint8)
    noise = rng.normal(0, 3, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def test_motion_detector_finds_moving_blocks_and_ignores_their_shadows():
    rng = np.random.default_rng(1)
    detector = MotionDetector(MotionDetectorConfig(scale=0.5, min_area_px=60))
    for _ in range(60):
        detector.detect(road(rng))
    found = []
    for step in range(10):
        frame = road(rng)
        x = 40 + step * 12
        # a car (dark red, 100x50) with a cast shadow (60% light) to its right
        cv2.rectangle(frame, (x + 100, 110), (x + 140, 160), (54, 54, 54), -1)
        cv2.rectangle(frame, (x, 110), (x + 100, 160), (40, 40, 160), -1)
        # a small motorbike
        cv2.rectangle(frame, (300, 40 + step * 8), (312, 64 + step * 8), (200, 200, 200), -1)
        found.append(detector.detect(frame))
    last = found[-1]
    assert len(last) == 2
    car = last[np.argmax(last.xyxy[:, 2] - last.xyxy[:, 0])]
    width = car.xyxy[0, 2] - car.xyxy[0, 0]
    assert 95 <= width <= 112, f"the shadow made the car {width} px wide"
    assert set(last.class_names) == {"car", "motorbike"}


def test_motion_detector_ignores_global_light_changes():
    rng = np.random.default_rng(2)
    detector = MotionDetector(MotionDetectorConfig(scale=0.5))
    for _ in range(40):
        detector.detect(road(rng, 90))
    # the sun comes out: a uniform gain change is normalised away, nothing is detected
    assert len(detector.detect(road(rng, 120))) == 0 and not detector.global_change
    # floodlights over most of the frame, their pool's edge soft: light, not objects
    light = np.ones(frame_shape := (270, 480), np.float32)
    light[:, : frame_shape[1] * 6 // 10] = 200 / 90
    light = cv2.GaussianBlur(light, (0, 0), 12)[:, :, None]
    for _ in range(20):
        frame = np.clip(road(rng, 90) * light, 0, 255).astype(np.uint8)
        assert len(detector.detect(frame)) == 0


@pytest.mark.parametrize(
    ("masks", "screen_seen", "car_top"),
    [
        # no mask: the screen is an object, and the car passing under it joins it into one blob
        ((), True, 40),
        # the screen masked: nothing of it, and the car keeps its own box
        (([[296, 36], [404, 36], [404, 100], [296, 100]],), False, 102),
    ],
)
def test_motion_under_a_mask_is_ignored(masks, screen_seen, car_top):
    rng = np.random.default_rng(4)
    detector = MotionDetector(MotionDetectorConfig(scale=0.5, min_area_px=60), masks=Masks(masks))
    for _ in range(60):
        detector.detect(road(rng))
    found = []
    for step in range(14):
        frame = road(rng)
        # an LED screen (300-400 x 40-100) showing another picture each frame, and a car coming to
        # pass right under it, touching its lower edge
        frame[40:100, 300:400] = np.repeat(np.repeat(rng.integers(0, 256, (3, 5, 3), dtype=np.uint8), 20, 0), 20, 1)
        x = 100 + 20 * step
        cv2.rectangle(frame, (x, 102), (x + 60, 130), (40, 40, 160), -1)
        found.append(detector.detect(frame))
    assert any(((d.xyxy[:, 3] <= 101) & (d.xyxy[:, 2] > 300)).any() for d in found) == screen_seen
    car = [d.xyxy[np.argmax(d.xyxy[:, 3])] for d in found[-4:]]  # the car passing under the screen
    assert [round(box[1]) for box in car] == pytest.approx([car_top] * 4, abs=3)


def _roadside(rng: np.random.Generator, colour: bool) -> np.ndarray:
    """The road with coloured buildings beside it, as a camera in colour or in its night or
    infrared mode (grey) sends it."""
    frame = road(rng)
    for i, paint in enumerate([(40, 140, 40), (160, 60, 160), (30, 60, 170), (150, 150, 40)]):
        frame[20 + 60 * i : 60 + 60 * i, 10:120] = paint
    return frame if colour else cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize(
    ("pictures", "switched_at"),
    [
        # a camera in colour switching to its infrared mode at night, and back in the morning: the
        # background is learnt afresh at the first look at the picture's colour after each switch
        ([(True, 120), (False, 120), (True, 120)], [121, 241]),
        # a camera sending grey from the start: nothing switches
        ([(False, 360)], []),
        # a switch while the background is still being learnt (the first 50 analysed frames): it is learnt anyway
        ([(True, 20), (False, 100)], []),
        # one grey picture that a look falls on: the background learnt afresh once, not again when
        # the colour is back at the next look (grey had not settled)
        ([(True, 120), (False, 1), (True, 120)], [121]),
        # one grey picture between two looks: unseen
        ([(True, 121), (False, 1), (True, 120)], []),
    ],
)
def test_a_camera_switching_between_colour_and_grey_has_its_background_learnt_afresh(pictures, switched_at):
    rng = np.random.default_rng(3)
    detector = MotionDetector(MotionDetectorConfig())
    frames = [colour for colour, count in pictures for _ in range(count)]
    switched = []
    for index, colour in enumerate(frames, start=1):  # the colour is looked at every 4th analysed frame: 1, 5, 9...
        detector.detect(_roadside(rng, colour))
        if detector.switched:
            switched.append(index)
    assert switched == switched_at


def test_hog_detector_runs_on_an_empty_scene():
    out = HogDetector(HogDetectorConfig()).detect(np.full((256, 256, 3), 128, np.uint8))
    assert len(out) == 0


def test_onnx_detector_without_model_is_a_clear_error(tmp_path):
    with pytest.raises(DetectorError, match="ships no weights"):
        OnnxDetector(OnnxDetectorConfig(model=tmp_path / "yolov8n.onnx"))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="cannot load"):
        OnnxDetector(OnnxDetectorConfig(model=broken))


def class_ids():
    from camera_agents.learned import MODEL_CLASS_TO_IOC

    return [CLASS_ID[MODEL_CLASS_TO_IOC[n]] if n in MODEL_CLASS_TO_IOC else None for n in COCO_NAMES]


def test_decode_yolov8_layout_with_letterbox_and_nms():
    n_boxes = 50
    out = np.zeros((1, 84, n_boxes), np.float32)
    # frame 1280x720 -> 640x360 inside 640x640: gain 0.5, pad_y 140
    def put(i, cx, cy, w, h, cls, score):
        out[0, :4, i] = (cx * 0.5, cy * 0.5 + 140, w * 0.5, h * 0.5)
        out[0, 4 + cls, i] = score
    put(0, 400, 300, 200, 100, COCO_NAMES.index("car"), 0.9)
    put(1, 405, 302, 200, 100, COCO_NAMES.index("car"), 0.6)  # duplicate, suppressed
    put(2, 100, 600, 40, 80, COCO_NAMES.index("motorcycle"), 0.8)
    put(3, 900, 200, 50, 50, COCO_NAMES.index("dog"), 0.99)  # not an ioc class
    put(4, 700, 400, 30, 90, COCO_NAMES.index("person"), 0.2)  # below the threshold
    put(5, 1260, 700, 80, 60, COCO_NAMES.index("truck"), 0.7)  # runs off the frame's corner: clipped to it
    d = decode_yolo(out, class_ids=class_ids(), confidence=0.35, nms_iou=0.45, input_size=640, frame_size=(1280, 720),
                    pad=(0, 140), gain=0.5)
    order = np.argsort(-d.confidence)
    assert [d.class_names[i] for i in order] == ["car", "motorbike", "bus_truck"]
    np.testing.assert_allclose(d.xyxy[order[0]], [300, 250, 500, 350], atol=0.01)
    np.testing.assert_allclose(d.xyxy[order[1]], [80, 560, 120, 640], atol=0.01)
    np.testing.assert_allclose(d.xyxy[order[2]], [1220, 670, 1280, 720], atol=0.01)


def test_decode_yolov5_layout_uses_objectness():
    out = np.zeros((1, 3, 85), np.float32)
    out[0, 0, :5] = (320, 320, 64, 64, 0.9)
    out[0, 0, 5 + COCO_NAMES.index("bus")] = 0.9
    out[0, 1, :5] = (100, 100, 20, 40, 0.2)  # weak objectness
    out[0, 1, 5 + COCO_NAMES.index("person")] = 0.95
    d = decode_yolo(out, class_ids=class_ids(), confidence=0.35, nms_iou=0.45, input_size=640, frame_size=(640, 640))
    assert d.class_names == ["bus_truck"] and d.confidence[0] == pytest.approx(0.81)
    with pytest.raises(DetectorError, match="does not fit"):
        decode_yolo(np.zeros((1, 10, 7)), class_ids=class_ids(), confidence=0.3, nms_iou=0.4, input_size=640, frame_size=(640, 640))


def test_motorbikes_side_by_side_are_two_objects():
    rng = np.random.default_rng(3)
    detector = MotionDetector(MotionDetectorConfig(scale=0.5, min_area_px=60))
    for _ in range(40):
        detector.detect(road(rng))
    frame = road(rng)
    cv2.rectangle(frame, (200, 100), (223, 147), (40, 160, 40), -1)  # two riders, 24x48 each,
    cv2.rectangle(frame, (236, 100), (259, 147), (160, 40, 160), -1)  # joined by a footrest
    cv2.rectangle(frame, (224, 140), (235, 143), (40, 40, 40), -1)
    found = detector.detect(frame)
    assert len(found) == 2, found.xyxy
    widths = sorted(found.xyxy[:, 2] - found.xyxy[:, 0])
    assert all(20 <= w <= 34 for w in widths), widths  # each about one rider wide
    # one car, as wide as the two riders together, stays one object
    for _ in range(40):
        detector.detect(road(rng))
    car = road(rng)
    cv2.rectangle(car, (200, 100), (259, 147), (40, 40, 160), -1)
    assert len(detector.detect(car)) == 1


def test_riders_abreast_are_cut_where_the_road_showed_before_gaps_were_closed():
    # Two riders 7 analysis pixels wide, a column of road between them that the closing filled
    # (but for two pixels where their shadows touch): the closed blob's profile has no valley.
    opened = np.zeros((20, 30), np.uint8)
    opened[4:16, 5:12] = 255
    opened[4:16, 13:20] = 255
    opened[9:11, 12] = 255
    closed = opened.copy()
    closed[4:16, 12] = 255
    _, labels = cv2.connectedComponents(closed)
    label = int(labels[8, 8])
    area = int((labels == label).sum())
    whole = split_merged(labels, label, 5, 4, 15, 12, area, column_depth=0.8)
    assert len(whole) == 1
    riders = split_merged(labels, label, 5, 4, 15, 12, area, column_depth=0.8, opened=opened)
    # cut at the filled column: each rider whole, the filled column going with the right one
    assert [(x, w) for x, _, w, _, _ in riders] == [(5, 7), (12, 8)]


def test_riders_abreast_on_traffic_across_the_picture_are_cut_between_their_rows():
    # Traffic moving left-right: two riders abreast stand one above the other, 7 analysis rows
    # each, with a row of road between them that the closing filled (but where their shadows touch)
    opened = np.zeros((30, 20), np.uint8)
    opened[5:12, 4:16] = 255
    opened[13:20, 4:16] = 255
    opened[12, 9:11] = 255
    closed = opened.copy()
    closed[12, 4:16] = 255
    _, labels = cv2.connectedComponents(closed)
    label = int(labels[8, 8])
    area = int((labels == label).sum())
    # cut as on a picture turned a quarter: at the filled row, the row going with the lower rider
    riders = split_turned(labels, label, 4, 5, 12, 15, area, column_depth=0.8, opened=opened)
    assert [(y, h) for _, y, _, h, _ in riders] == [(5, 7), (12, 8)]
    assert all((x, w) == (4, 12) for x, _, w, _, _ in riders)
    # unturned, the same blob has no column to cut at, and its rows no valley deep enough
    assert len(split_merged(labels, label, 4, 5, 12, 15, area, column_depth=0.8, opened=opened)) == 1


def _drawn_blob(*boxes: tuple[int, int, int, int]) -> tuple[np.ndarray, int, int]:
    """Labels of one blob drawn as filled boxes (x, y, w, h) on a 40 x 40 picture, its label and area."""
    picture = np.zeros((40, 40), np.uint8)
    for x, y, w, h in boxes:
        picture[y : y + h, x : x + w] = 255
    _, labels = cv2.connectedComponents(picture)
    label = int(labels[boxes[0][1], boxes[0][0]])
    return labels, label, int((labels == label).sum())


@pytest.mark.parametrize(
    "boxes, expected",
    [
        # an oblique camera's two neighbours in the next lanes, the near one's top hiding the far
        # one's bottom: no profile dips, but above and below they stand apart
        pytest.param(((16, 2, 16, 10), (4, 12, 14, 12)), [(16, 2, 16, 10), (4, 12, 14, 12)], id="neighbours-overlapping-at-a-corner"),
        # the same, side by side: one's right end beside the other's left end
        pytest.param(((2, 4, 12, 16), (14, 16, 14, 16)), [(2, 4, 12, 16), (14, 16, 14, 16)], id="neighbours-end-to-end-at-a-corner"),
        # a bus leaning in perspective: every row shifted a little from the one above
        pytest.param(tuple((2 + row // 2, 4 + row, 22, 1) for row in range(20)), None, id="bus-leaning-in-perspective"),
        # a car with its rider-sized shadow tail at a corner: the tail is too small to be an object
        pytest.param(((4, 4, 20, 14), (20, 18, 5, 3)), None, id="car-with-a-small-tail"),
    ],
)
def test_neighbours_overlapping_at_a_corner_are_cut_apart(boxes, expected):
    labels, label, area = _drawn_blob(*boxes)
    x, y, w, h = cv2.boundingRect((labels == label).astype(np.uint8))
    pieces = split_merged(labels, label, x, y, w, h, area, column_depth=0.3, row_neck=0.4)
    if expected is None:
        assert len(pieces) == 1
        return
    assert sorted((px, py, pw, ph) for px, py, pw, ph, _ in pieces) == sorted(expected)
    # after dark a vehicle's lit lamps and its body make such shapes too: no cut there
    assert len(split_merged(labels, label, x, y, w, h, area, column_depth=0.3, row_neck=0.0)) == 1


@pytest.mark.parametrize(
    "along_m, across_m, sideways, two_lanes",
    [
        # a rider, its height seen from the pole adding to its depth across the lanes
        (2.0, 2.5, False, False),
        # a rider's length, as deep as two lanes: a rider with the lower part of another beyond it
        (2.0, 3.3, False, True),
        # a car
        (4.5, 4.0, True, False),
        # a car's length, deeper than a car: a car with what rides beyond it
        (4.5, 4.8, True, True),
        # a bus seen from the side: its roof stands high, so it is deeper than a car, still one vehicle
        (11.0, 5.5, True, False),
        # a bus with the upper part of a car showing above its roof, in the lane beyond
        (11.0, 6.5, True, True),
        # a bus driving diagonally, its box square in the picture: its depth says nothing of lanes
        (11.0, 6.5, False, False),
    ],
)
def test_a_blob_too_deep_across_the_lanes_for_its_length_is_two_vehicles(along_m, across_m, sideways, two_lanes):
    assert two_lanes_deep(np.array([along_m]), np.array([across_m]), np.array([sideways])).tolist() == [two_lanes]


def test_a_bus_and_the_car_above_its_roof_are_cut_apart_between_the_lanes():
    # traffic across the picture: a bus in the near lane (36 x 14 pixels), and above its roof the
    # part of a car in the lane beyond that the bus does not hide (14 x 9, its last row on the roof)
    labels, label, _ = _drawn_blob((8, 4, 14, 9), (2, 12, 36, 14))
    pieces = cut_across_lanes(labels, label, 2, 4, 36, 22)
    # the car above, the bus below with the car's last row left on it
    assert sorted((px, py, pw, ph) for px, py, pw, ph, _ in pieces) == [(2, 11, 36, 15), (8, 4, 14, 7)]


# Colours (BGR) as the analysis frame shows them
RED, GREEN, PURPLE = (40, 40, 190), (50, 180, 60), (150, 30, 110)
ROAD, SHADOW, MARKING = (105, 105, 105), (30, 30, 32), (230, 230, 230)


@pytest.mark.parametrize(
    "parts, cut_at",
    [
        # two riders abreast, 6 x 10 analysis pixels each, their bodies touching: cut between them
        pytest.param([(4, 4, 6, 10, RED), (10, 4, 6, 10, GREEN)], 10, id="riders-abreast-touching"),
        # the same riders, the right one half a length behind: no profile dips, the colour changes
        pytest.param([(4, 4, 6, 8, PURPLE), (10, 8, 6, 8, GREEN)], 10, id="riders-abreast-staggered"),
        # a car: one colour across its width
        pytest.param([(4, 4, 12, 20, RED)], None, id="one-car"),
        # two riders abreast of one colour: nothing tells them apart here
        pytest.param([(4, 4, 6, 10, RED), (10, 4, 6, 10, RED)], None, id="riders-of-one-colour"),
        # a rider and its black shadow beside it: the shadow shows no colour
        pytest.param([(4, 4, 6, 10, SHADOW), (10, 4, 6, 10, GREEN)], None, id="rider-and-its-shadow"),
        # a rider and the grey road a low bitrate smeared beside it
        pytest.param([(4, 4, 6, 10, GREEN), (10, 4, 6, 10, ROAD)], None, id="rider-and-smeared-road"),
        # a rider and a lane's white marking beside it
        pytest.param([(4, 4, 6, 10, RED), (10, 2, 3, 14, MARKING)], None, id="rider-and-a-marking"),
    ],
)
def test_riders_abreast_are_cut_apart_where_their_colour_changes(parts, cut_at):
    colours = np.full((24, 24, 3), ROAD, np.uint8)
    for x, y, w, h, colour in parts:
        colours[y : y + h, x : x + w] = colour
    labels, label, _ = _drawn_blob(*((x, y, w, h) for x, y, w, h, _ in parts))
    solid = (labels == label).astype(np.uint8) * 255
    x, y, w, h = cv2.boundingRect(solid)
    pieces = cut_by_colour(labels, label, x, y, w, h, colours, solid)
    if cut_at is None:
        assert pieces == [(x, y, w, h, pytest.approx(float(solid.sum()) / 255 / (w * h)))]
        return
    assert [px for px, *_ in pieces] == [x, cut_at]
    assert [px + pw for px, _, pw, _, _ in pieces] == [cut_at, x + w]


@pytest.mark.parametrize(
    "rows, filled",
    [
        (["#####", "#...#", "#...#", "#####"], ["#####", "#####", "#####", "#####"]),  # a window inside a car's outline
        (["#####", "#...#", "#...#", "##.##"], ["#####", "#...#", "#...#", "##.##"]),  # open at the bottom edge of the picture: road
        (["......", ".####.", ".#..#.", ".#..#.", ".####.", "......"], ["......", ".####.", ".####.", ".####.", ".####.", "......"]),  # away from it
        (["#####", "#...#", "#####"], ["#####", "#...#", "#####"]),  # a pixel thin: noise, left
        ([".....", ".###.", ".#.#.", ".###.", "....."], [".....", ".###.", ".#.#.", ".###.", "....."]),  # one pixel: noise, left
        (["......", ".####.", ".#..#.", ".#..#.", ".#....", "......"], ["......", ".####.", ".#..#.", ".#..#.", ".#....", "......"]),  # a notch, open
        ([".......", ".###...", ".#..#..", ".#..#..", "..###..", "......."], [".......", ".###...", ".####..", ".####..", "..###..", "......."]),  # open only corner to corner
        (["##.##", "#...#", "#...#", "#####"], ["##.##", "#...#", "#...#", "#####"]),  # a gap to the top edge
        (["..", ".."], ["..", ".."]),  # nothing moving
        (["######", "#....#", "#....#", "######"], ["######", "#....#", "#....#", "######"]),  # wider than the largest hole filled: a ring of light
    ],
)
def test_the_road_a_blob_encloses_is_filled_and_road_open_to_the_rest_is_not(rows, filled):
    def mask(lines: list[str]) -> np.ndarray:
        return np.array([[255 if c == "#" else 0 for c in line] for line in lines], np.uint8)

    before = mask(rows)
    assert (with_holes_filled(before, largest=(3, 3)) == mask(filled)).all(), with_holes_filled(before, largest=(3, 3)) // 255
    assert (before == mask(rows)).all()  # the mask handed in is left as it was


def test_blobs_labelled_within_the_foreground_box_match_the_whole_frame():
    # blobs anywhere, at odd and even offsets, touching the frame's edges or not: the labels,
    # their order and every blob's statistics are those of labelling the whole frame
    rng = np.random.default_rng(5)
    for _ in range(200):
        foreground = np.zeros((135, 240), np.uint8)
        for _ in range(int(rng.integers(0, 10))):
            centre = (int(rng.integers(0, 240)), int(rng.integers(0, 135)))
            axes = (int(rng.integers(1, 25)), int(rng.integers(1, 15)))
            cv2.ellipse(foreground, centre, axes, int(rng.integers(0, 180)), 0, 360, 255, -1)
        foreground[rng.random(foreground.shape) > 0.998] = 255
        count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
        got_count, got_labels, got_stats, (x, y) = components(foreground)
        assert got_count == count
        whole = np.zeros_like(labels)  # the box's labels in place; outside the box every label is 0
        whole[y : y + got_labels.shape[0], x : x + got_labels.shape[1]] = got_labels
        assert np.array_equal(whole, labels)
        assert np.array_equal(got_stats[1:], stats[1:])


def test_after_dark_a_dark_vehicles_two_lit_ends_are_one_object():
    # rows of x, y, w, h, fill (analysis pixels): a car's rear lamps above its headlights' glow,
    # the body between them as dark as the road; a rider ahead of it in the next lane; and two
    # cars a long way apart in one lane
    blobs = np.array(
        [
            [40, 20, 14, 6, 0.6], [40, 30, 15, 8, 0.7],  # one car: same columns, 4 rows between
            [60, 20, 5, 8, 0.8],  # a rider beside it
            [90, 10, 14, 6, 0.6], [90, 40, 14, 8, 0.7],  # two cars, a car's length and more apart
        ],
        np.float32,
    )  # fmt: skip
    joined = join_lamp_ends(blobs)
    boxes = sorted(tuple(int(v) for v in row[:4]) for row in joined)
    assert boxes == [(40, 20, 15, 18), (60, 20, 5, 8), (90, 10, 14, 6), (90, 40, 14, 8)]


@pytest.mark.parametrize(
    "monochrome",
    [
        False,  # a camera in colour: the rear lamps are red
        True,  # a camera sending grey (night or infrared mode): the rear lamps a middling grey
    ],
)
def test_after_dark_a_dark_cars_four_lamps_are_one_object_and_riders_abreast_stay_apart(monochrome):
    # Looking straight down, 10 px a metre: rows of x, y, w, h, fill (pixels); white headlamps and
    # red rear lamps drawn on a dark road where the rows are
    ground = GroundPlane.from_points(np.array([[0, 0], [200, 0], [200, 100], [0, 100]], float), np.array([[0, 0], [20, 0], [20, 10], [0, 10]], float))
    joiner = PieceJoiner(SizeClassifier(MotionDetectorConfig().classes, kind="traffic", ground=ground))
    white, red = (220, 230, 230), (20, 20, 200)
    lamps = [
        ((40, 20, 3, 3, 1.0), white), ((52, 20, 3, 3, 1.0), white),  # a car: headlamps 1.2 m apart,
        ((40, 60, 3, 3, 1.0), red), ((52, 60, 3, 3, 1.0), red),  # its rear lamps 4 m behind them
        ((100, 20, 3, 3, 1.0), white), ((112, 20, 3, 3, 1.0), white),  # riders abreast: lamps 1.9 m
        ((100, 39, 3, 3, 1.0), red), ((112, 39, 3, 3, 1.0), red),  # apart along the road, not a car
        ((150, 20, 3, 3, 1.0), white), ((180, 20, 3, 3, 1.0), white),  # two riders 3 m apart across:
        ((150, 60, 3, 3, 1.0), red), ((180, 60, 3, 3, 1.0), red),  # no car is that wide
    ]  # fmt: skip
    raw = np.full((100, 200, 3), 20, np.uint8)
    for (x, y, w, h, _), colour in lamps:
        raw[y : y + h, x : x + w] = colour
    if monochrome:
        raw = cv2.cvtColor(cv2.cvtColor(raw, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    joined = joiner.join(np.array([row for row, _ in lamps], np.float32), raw, 1.0, dark=True, unlit=False, monochrome=monochrome)
    boxes = sorted(tuple(int(v) for v in row[:4]) for row in joined)
    assert (40, 20, 15, 43) in boxes  # the car, one object
    assert len(boxes) == 9  # the car and the eight riders' lamps, each as it was


@pytest.mark.parametrize(
    ("road_grey", "lamps", "objects"),
    [
        # no street light: a car as dark as the road shows its two rear lamps only, 1.2 m apart: one car
        (20, [((40, 60, 3, 3, 1.0), "red"), ((52, 60, 3, 3, 1.0), "red")], 1),
        # no street light, a dark car coming: its two headlamps abreast, nothing red near them: one car
        (20, [((40, 20, 3, 3, 1.0), "white"), ((52, 20, 3, 3, 1.0), "white")], 1),
        # a street-lit road shows a car's body with its lamps: two red blobs there are two objects
        (70, [((40, 60, 3, 3, 1.0), "red"), ((52, 60, 3, 3, 1.0), "red")], 2),
        # riders abreast, each a blob with its headlamp and its rear lamp: they stay apart
        (20, [((40, 50, 3, 9, 1.0), "rider"), ((52, 50, 3, 9, 1.0), "rider")], 2),
        # riders abreast whose headlamps show apart, a motorbike's length (1.9 m) ahead of their
        # rear lamps: neither the headlamps nor the rear lamps are joined
        (20, [((40, 41, 3, 3, 1.0), "white"), ((52, 41, 3, 3, 1.0), "white"), ((40, 60, 3, 3, 1.0), "red"), ((52, 60, 3, 3, 1.0), "red")], 4),
        # a dark car whose headlamps' glows join into one blob 1.5 m wide, its rear lamps into
        # another 4 m behind: one car
        (20, [((40, 20, 15, 4, 1.0), "white"), ((40, 60, 15, 3, 1.0), "red")], 1),
        # the same on a street-lit road, where the car's body may be as dark as the road too
        (70, [((40, 20, 15, 4, 1.0), "white"), ((40, 60, 15, 3, 1.0), "red")], 1),
        # riders abreast whose lamps' glows join the same way, a motorbike's length apart: two
        (20, [((40, 41, 15, 3, 1.0), "white"), ((40, 60, 15, 3, 1.0), "red")], 2),
        # a rider's headlamp and another's rear lamp 4 m on, each narrower than a car: two
        (20, [((40, 20, 7, 4, 1.0), "white"), ((40, 60, 7, 3, 1.0), "red")], 2),
        # a vehicle seen whole (its rear and head lamps in one blob) and the headlamps of the one
        # behind it: two
        (20, [((40, 20, 15, 20, 1.0), "rider"), ((40, 60, 15, 4, 1.0), "white")], 2),
    ],
)
def test_after_dark_what_shows_of_a_dark_car_is_one_object_and_riders_abreast_stay_apart(road_grey, lamps, objects):
    # Looking straight down, 10 px a metre; rows of x, y, w, h, fill (pixels) drawn on the road
    # the detector has learned
    ground = GroundPlane.from_points(np.array([[0, 0], [200, 0], [200, 100], [0, 100]], float), np.array([[0, 0], [20, 0], [20, 10], [0, 10]], float))
    config = MotionDetectorConfig(scale=1.0)
    learnt = LearnedBackground.learn(np.full((100, 200, 3), road_grey, np.uint8), config)
    joiner = PieceJoiner(SizeClassifier(config.classes, kind="traffic", ground=ground))
    raw = np.full((100, 200, 3), road_grey, np.uint8)
    paint = {"red": (20, 20, 200), "white": (220, 230, 230)}
    for (x, y, w, h, _), kind in lamps:
        if kind == "rider":  # headlamp below, rear lamp above: riding down the picture
            raw[y : y + 3, x : x + w], raw[y + h - 3 : y + h, x : x + w] = paint["red"], paint["white"]
        else:
            raw[y : y + h, x : x + w] = paint[kind]
    joined = joiner.join(np.array([row for row, _ in lamps], np.float32), raw, 1.0, dark=learnt.dark, unlit=learnt.unlit)
    assert len(joined) == objects


def _night_scene(road_grey: int, step: int, *, streaks: bool, thin: tuple[int, int, int] | None) -> np.ndarray:
    """A frame of a car driving down the picture with a rider ahead of it in its lane; with
    ``streaks``, its headlamps mirrored on a wet road down to the rider (4 px wide, bright);
    ``thin``: a narrow object of its own (6 px wide) in that colour, in another lane."""
    frame = road(np.random.default_rng(step), road_grey)
    top = 20 + 6 * step
    cv2.rectangle(frame, (200, top), (240, top + 60), (150, 60, 60), -1)  # the car
    frame[top + 54 : top + 60, 202:208] = frame[top + 54 : top + 60, 232:238] = (230, 235, 235)  # its headlamps
    cv2.rectangle(frame, (214, top + 110), (226, top + 134), (60, 140, 60), -1)  # the rider ahead
    if streaks:
        for x in (203, 233):
            frame[top + 60 : top + 112, x : x + 4] = np.clip(frame[top + 60 : top + 112, x : x + 4].astype(int) + 70, 0, 255)
    if thin is not None:
        frame[top : top + 40, 330:336] = thin
    return frame


@pytest.mark.parametrize(
    ("road_grey", "streaks", "thin", "objects"),
    [
        # a street-lit wet road at night: the lamps' reflections join the car to the rider ahead
        # unless they are taken out
        (60, True, None, 2),
        # the same road dry: the car and the rider
        (60, False, None, 2),
        # a narrow object darker than the lit road is no reflection: three objects
        (60, True, (20, 20, 20), 3),
        # by day a narrow bright object is a narrow object (a cyclist seen from above)
        (140, False, (250, 250, 250), 3),
        # on an unlit road a vehicle as dark as the road shows only its lamps, as narrow: kept
        (20, False, (230, 235, 235), 3),
    ],
)
def test_after_dark_a_wet_roads_reflections_of_lamps_are_not_objects(road_grey, streaks, thin, objects):
    detector = MotionDetector(MotionDetectorConfig(scale=0.5))
    for step in range(60):
        detector.detect(road(np.random.default_rng(1000 + step), road_grey))
    for step in range(8):  # the objects move on, as the background model needs them to
        found = detector.detect(_night_scene(road_grey, step, streaks=streaks, thin=thin))
    assert len(found) == objects, found.xyxy


# A camera looking straight down at 20 px a metre: a box's size on the ground is its size in pixels over 20.
_TOP_DOWN = GroundPlane.from_points(np.array([[0, 0], [960, 0], [960, 540], [0, 540]], float), np.array([[0, 0], [48, 0], [48, 27], [0, 27]], float))


@pytest.mark.parametrize(
    ("travel", "width_m", "height_m", "expected"),
    [
        # traffic up the picture: a rider 0.9 m wide, 2.2 m long; its footprint (2 m²) is a small car's estimate
        ("updown", 0.9, 2.2, "motorbike"),
        ("updown", 1.9, 4.6, "car"),
        ("updown", 2.6, 10.0, "bus_truck"),
        # traffic across the picture: its length is the box's width
        ("leftright", 2.3, 0.9, "motorbike"),
        ("leftright", 4.8, 1.9, "car"),
        ("leftright", 11.0, 2.6, "bus_truck"),
        # traffic diagonally across the picture: a rider's box is 2 m by 2 m, a car's 4.5 by 4.5,
        # as large as a bus seen from above (20 m²); named by how far each reaches along the road
        ("updown", 2.0, 2.0, "motorbike"),
        ("updown", 4.5, 4.5, "car"),
        # after dark a car's box takes in the glow of its headlamps ahead of it
        ("updown", 2.1, 7.2, "car"),
    ],
)
def test_a_calibrated_traffic_camera_names_a_vehicle_by_how_long_it_is_along_the_road(travel, width_m, height_m, expected):
    classifier = SizeClassifier(MotionDetectorConfig().classes, kind="traffic", ground=_TOP_DOWN, crosswise=travel == "leftright")
    box = np.array([[300.0, 100.0, 300.0 + 20 * width_m, 100.0 + 20 * height_m]])
    assert [k for k, v in CLASS_ID.items() if v == classifier.classify(box)[0]] == [expected]


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (30, 80, "person"),  # someone walking, seen from the side
        (50, 55, "person"),  # two walking side by side: about as tall as wide
        (40, 40, "person"),  # someone seen from a high pole: as wide as tall
        (90, 45, "unknown"),  # a car seen from the pole: wider than tall
        (60, 30, "unknown"),  # a dog or a pushed cart
    ],
)
def test_an_uncalibrated_security_camera_names_a_blob_a_person_when_it_is_not_wider_than_tall(width, height, expected):
    classifier = SizeClassifier(MotionDetectorConfig().classes, kind="security", ground=None)
    named = classifier.classify(np.array([[100.0, 100.0, 100.0 + width, 100.0 + height]]))
    assert [k for k, v in CLASS_ID.items() if v == named[0]] == [expected]


@pytest.mark.parametrize(
    ("road_grey", "dark", "unlit", "reflections"),
    [
        # a road by day
        (120, False, False, False),
        # a street-lit road after dark: the wet road's reflections of lamps are looked for
        (70, True, False, True),
        # an unlit road at night: a vehicle as dark as the road shows only its lamps, as thin and
        # bright as a reflection, so none is looked for
        (20, True, True, False),
    ],
)
def test_the_learnt_background_tells_day_from_a_lit_and_an_unlit_night(road_grey, dark, unlit, reflections):
    learnt = LearnedBackground.learn(np.full((60, 80, 3), road_grey, np.uint8), MotionDetectorConfig())
    assert (learnt.dark, learnt.unlit, learnt.reflection_floor is not None) == (dark, unlit, reflections)


def _road_users(rng: np.random.Generator, n: int, *, slope: float, offset: float) -> np.ndarray:
    """Boxes of what a road up and down the picture shows: most of them one rider seen from
    behind or ahead (``slope`` * row + ``offset`` pixels wide at the row of its bottom, twice as
    tall), the rest riders abreast and cars, wider than tall."""
    bottom = rng.uniform(150, 540, size=n)
    wide = slope * bottom + offset
    kind = rng.choice(3, size=n, p=[0.7, 0.15, 0.15])
    width = np.choose(kind, [1.0, 2.1, 2.4]) * wide
    height = np.choose(kind, [2.0, 2.0, 1.8]) * wide
    x1 = rng.uniform(0, 800, size=n)
    return np.column_stack([x1, bottom - height, x1 + width, bottom])


@pytest.mark.parametrize(
    ("slope", "offset"),
    [
        (0.08, 4.0),  # a pole looking along the road: riders near the camera four times as wide as far up
        (0.0, 24.0),  # seen from straight above: as wide everywhere
    ],
)
def test_without_a_calibration_a_riders_width_is_learnt_and_tells_riders_abreast_from_one(slope, offset):
    config = MotionDetectorConfig()
    riders = RiderScale()
    merged = MergedVehicles(SizeClassifier(config.classes, kind="traffic", ground=None), split_min_width_m=config.split_min_width_m, updown=True, riders=riders)
    at = np.array([200.0, 400.0, 520.0])
    one = slope * at + offset
    single = np.column_stack([400 - one / 2, at - 2 * one, 400 + one / 2, at])
    abreast = np.column_stack([400 - one, at - 2 * one, 400 + one, at])
    assert not merged.by_size(abreast, dark=False)[0].any()  # nothing learnt yet: nothing is cut by its size
    boxes = _road_users(np.random.default_rng(5), 600, slope=slope, offset=offset)
    for start in range(0, 600, 6):  # six objects an analysed frame
        riders.observe(boxes[start : start + 6], 540)
    assert riders.learned
    assert riders.across_m(single) == pytest.approx(np.full(3, RIDER_WIDE_M), rel=0.1)
    assert not merged.by_size(single, dark=False)[0].any()
    assert merged.by_size(abreast, dark=False)[0].all()


@pytest.mark.parametrize(
    ("riders_wide", "named"),
    [
        (1.0, "motorbike"),  # one rider
        (2.0, "car"),  # 1.8 m across: a car seen from behind or ahead
        (3.5, "bus_truck"),  # 3.1 m: wider than any car
    ],
)
def test_without_a_calibration_a_vehicle_is_named_by_its_width_once_a_riders_is_learnt(riders_wide, named):
    config = MotionDetectorConfig()
    riders = RiderScale()
    classifier = SizeClassifier(config.classes, kind="traffic", ground=None, riders=riders)
    boxes = _road_users(np.random.default_rng(6), 600, slope=0.08, offset=4.0)
    for start in range(0, 600, 6):
        riders.observe(boxes[start : start + 6], 540)
    assert riders.learned
    one = 0.08 * 450 + 4.0  # a rider's width at row 450, in pixels
    box = np.array([[300, 450 - 1.5 * one, 300 + riders_wide * one, 450]])
    assert classifier.classify(box).tolist() == [CLASS_ID[named]]


@pytest.mark.parametrize(
    ("most_common", "commons_wide", "named"),
    [
        ("motorbike", 1.0, "motorbike"),  # a Vietnamese street: the most common vehicle is a rider
        ("car", 1.0, "car"),  # an expressway: the most common vehicle is a car, 1.8 m across
        ("car", 0.5, "motorbike"),  # on an expressway, half a car's width: a motorbike
        ("car", 1.6, "bus_truck"),  # 2.9 m across: a lorry
        ("motorbike", 2.0, "car"),  # on a street, two riders' width: a car
    ],
)
def test_an_uncalibrated_camera_reads_sizes_from_the_roads_most_common_vehicle(most_common, commons_wide, named):
    config = MotionDetectorConfig(most_common_vehicle=most_common)
    riders = RiderScale.for_road(config.most_common_vehicle)
    classifier = SizeClassifier(config.classes, kind="traffic", ground=None, riders=riders)
    boxes = _road_users(np.random.default_rng(6), 600, slope=0.08, offset=4.0)
    for start in range(0, 600, 6):
        riders.observe(boxes[start : start + 6], 540)
    assert riders.learned
    common = 0.08 * 450 + 4.0  # the most common vehicle's width at row 450, in pixels
    box = np.array([[300, 450 - 1.5 * common, 300 + commons_wide * common, 450]])
    assert classifier.classify(box).tolist() == [CLASS_ID[named]]


# A pole camera looking diagonally down a road 8.4 m wide (the calibration of one of the synthetic
# oblique cameras): x across the road, y along it, in metres.
_POLE = GroundPlane.from_points(
    [[667.9, 276.7], [480.3, 205.7], [222.6, 311.9], [411.4, 411.1]], [[-4.2, -5.209], [4.2, -5.209], [4.2, 6.255], [-4.2, 6.255]]
)
_POLE_LINE = ((486.4, 450.5), (169.3, 283.9))  # a counting line across the road, 28 degrees off level


def _seen_from_the_pole(*vehicles: tuple[float, float, float, float, float]) -> np.ndarray:
    """Labels (label 1) of vehicles on that road as the camera sees them, each (x, y, wide, long,
    tall) in metres: its footprint, and its body rising from it up the picture (by 0.4 of its
    height at the ground's scale there, as a camera looking down at about 25 degrees sees it)."""
    labels = np.zeros((540, 960), np.int32)
    for x, y, wide, long, tall in vehicles:
        footprint = _POLE.to_image(np.array([[x - wide / 2, y - long / 2], [x + wide / 2, y - long / 2], [x + wide / 2, y + long / 2], [x - wide / 2, y + long / 2]]))
        rise = 0.4 * tall * float(_POLE.pixels_per_metre(footprint.mean(axis=0, keepdims=True))[0])
        cv2.fillConvexPoly(labels, cv2.convexHull(np.round(np.concatenate([footprint, footprint - (0, rise)])).astype(np.int32)), 1)
    return labels


@pytest.mark.parametrize(
    ("vehicles", "pieces"),
    [
        # riders abreast, 0.4 m apart (the detector's closing joins them): cut apart across the road
        ([(-0.65, 0.0, 0.9, 2.0, 1.4), (0.65, 0.0, 0.9, 2.0, 1.4)], 2),
        # the same further apart, and nearer the camera
        ([(-0.75, 3.0, 0.9, 2.0, 1.4), (0.75, 3.0, 0.9, 2.0, 1.4)], 2),
        # one rider: narrower than a car seen from above, whole
        ([(0.0, 0.0, 0.9, 2.0, 1.4)], 1),
        # a car: as wide across the picture's road as riders abreast, but twice as long; whole
        ([(0.0, 0.0, 1.8, 4.5, 1.5)], 1),
        # a bus: far longer, whole
        ([(0.0, 0.0, 2.5, 11.0, 3.0)], 1),
        # riders abreast but staggered by a third of their length: longer than a pair, left whole
        ([(-0.65, 0.0, 0.9, 2.0, 1.4), (0.65, 0.7, 0.9, 2.0, 1.4)], 1),
    ],
)
def test_riders_abreast_on_a_road_seen_diagonally_are_cut_across_it(vehicles, pieces):
    config = MotionDetectorConfig()
    across = across_traffic([_POLE_LINE], _POLE)
    assert across is not None
    merged = MergedVehicles(SizeClassifier(config.classes, kind="traffic", ground=_POLE), split_min_width_m=config.split_min_width_m, updown=False, across=across)
    labels = _seen_from_the_pole(*vehicles)
    count, _, stats, _ = cv2.connectedComponentsWithStats((labels > 0).astype(np.uint8))
    assert count == 2  # one blob
    x, y, w, h, _ = (int(v) for v in stats[1])
    sized = merged.by_size(np.array([[x, y, x + w, y + h]], np.float64), dark=False)
    assert sized.abreast_scale is not None
    found = merged.cut_abreast(labels, 1, (x, y, w, h), (0, 0), 1.0, sized.abreast_scale[0]) if sized.abreast[0] else None
    assert (1 if found is None else len(found)) == pieces
    if found is not None:  # one rider a piece: each rider mostly inside its own piece's box
        held = []
        for rider in vehicles:
            own = _seen_from_the_pole(rider) > 0
            shares = [own[py : py + ph, px : px + pw].sum() / own.sum() for px, py, pw, ph, _ in found]
            held.append(int(np.argmax(shares)))
            assert max(shares) >= 0.75
        assert sorted(held) == [0, 1]


def test_by_night_riders_abreast_on_a_road_seen_diagonally_are_left_to_the_profiles():
    # After dark a vehicle's lamps and its body make pieces of other sizes: nothing is cut by size.
    config = MotionDetectorConfig()
    merged = MergedVehicles(
        SizeClassifier(config.classes, kind="traffic", ground=_POLE), split_min_width_m=config.split_min_width_m, updown=False,
        across=across_traffic([_POLE_LINE], _POLE),
    )
    labels = _seen_from_the_pole((-0.65, 0.0, 0.9, 2.0, 1.4), (0.65, 0.0, 0.9, 2.0, 1.4))
    x, y, w, h, _ = cv2.connectedComponentsWithStats((labels > 0).astype(np.uint8))[2][1]
    box = np.array([[x, y, x + w, y + h]], np.float64)
    assert merged.by_size(box, dark=False).abreast[0]
    assert not merged.by_size(box, dark=True).abreast[0]
