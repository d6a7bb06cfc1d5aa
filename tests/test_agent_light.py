"""The motion detector against light, markings under shake and merged vehicles, on drawn frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from camera_agents.config import MotionDetectorConfig
from camera_agents.detections import CLASS_ID, Detections
from camera_agents.geometry import GroundPlane, Travel
from camera_agents.light import LightField
from camera_agents.motion import MotionDetector
from camera_agents.tracking import Tracker

W, H = 480, 270


def road(seed: int = 0, level: int = 95) -> np.ndarray:
    """Textured asphalt: blotches and grain, as the background model must learn it."""
    rng = np.random.default_rng(seed)
    low = cv2.resize(rng.normal(0, 6, (H // 16, W // 16)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(rng.normal(0, 4, (H, W)).astype(np.float32), (0, 0), 0.7)
    grey = np.clip(level + low + grain, 0, 255).astype(np.uint8)
    return cv2.merge([grey, grey, grey])


def street(seed: int = 0) -> np.ndarray:
    """``road`` between a green verge and a brick pavement: a camera in colour, by day (a road
    lighter than the detector's dusk)."""
    frame = road(seed, level=125)
    frame[:30] = np.clip(frame[:30].astype(np.int16) + np.array([-40, 25, -40], np.int16), 0, 255).astype(np.uint8)
    frame[-30:] = np.clip(frame[-30:].astype(np.int16) + np.array([-35, -10, 45], np.int16), 0, 255).astype(np.uint8)
    return frame


def noisy(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(frame.astype(np.int16) + rng.normal(0, 2.5, frame.shape).astype(np.int16), 0, 255).astype(np.uint8)


def grey_picture(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``frame`` as a camera in night or infrared mode sends it: grey, its sensor's noise the same
    in its three channels."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.int16) + rng.normal(0, 2.5, frame.shape[:2]).astype(np.int16)
    return cv2.merge([np.clip(grey, 0, 255).astype(np.uint8)] * 3)


def soft_shadow(centre_x: float, radius: float, factor: float) -> np.ndarray:
    """A cloud's shadow: a light multiplier, 1 outside, ``factor`` inside, with a soft edge."""
    mask = np.zeros((H, W), np.float32)
    cv2.circle(mask, (int(centre_x), H // 2), int(radius), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), radius / 4)
    return 1.0 - (1.0 - factor) * mask


def sharp_shadow(edge_x: float, factor: float) -> np.ndarray:
    """The shadow of a cloud or a building's edge with a sharp straight border: ``factor`` left of
    ``edge_x``, 1 right of it, the border blurred over a pixel or two."""
    mask = (np.arange(W, dtype=np.float32) < edge_x).astype(np.float32)
    mask = cv2.GaussianBlur(np.tile(mask, (H, 1)), (0, 0), 1.5)
    return 1.0 - (1.0 - factor) * mask


def lit(frame: np.ndarray, gain: np.ndarray | float) -> np.ndarray:
    gain = np.asarray(gain, np.float32)
    if gain.ndim == 2:
        gain = gain[:, :, None]
    return np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def learnt(detector: MotionDetector, background: np.ndarray, frames: int = 60, seed: int = 0, *, picture=noisy) -> MotionDetector:
    """``detector`` with ``background`` learnt, as the camera sends it (``picture``: its noise, in colour or grey)."""
    rng = np.random.default_rng(seed)
    for _ in range(frames):
        detector.detect(picture(background, rng))
    return detector


def driven(detector: MotionDetector, background: np.ndarray, colour, steps: int, *, start: int, speed: int, light=None) -> list[np.ndarray]:
    """Per step, the boxes ``detector`` finds as a 70x35 car of ``colour`` drives across
    ``background`` from ``start``, ``speed`` pixels a step, in the light ``light(step, x)`` gives
    (the car's left edge at ``x``; none: the light the background was learnt in)."""
    rng = np.random.default_rng(6)
    found = []
    for step in range(steps):
        frame = background.copy()
        x = start + step * speed
        cv2.rectangle(frame, (x, 110), (x + 70, 145), colour, -1)
        found.append(detector.detect(noisy(frame if light is None else lit(frame, light(step, x)), rng)).xyxy)
    return found


# --- the light field ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "light",
    [
        pytest.param(0.55, id="sun-behind-clouds"),  # the whole frame darkens to 55 %
        pytest.param(1.6, id="sun-comes-out"),  # the whole frame brightens by 60 %
        pytest.param(soft_shadow(W * 0.4, H * 0.6, 0.45), id="cloud-shadow-over-half"),  # a dark soft patch
        pytest.param(np.tile(np.linspace(0.6, 1.2, W, dtype=np.float32), (H, 1)), id="gradient-exposure"),  # light varying across
    ],
)
def test_light_field_divides_out_smooth_light_and_keeps_objects(light):
    # at the detector's analysis scale (a quarter of 960x540, blocks of 12 px)
    background = cv2.resize(road(1), (240, 135))
    scene = background.copy()
    cv2.rectangle(scene, (100, 50), (111, 71), (40, 40, 40), -1)  # a dark car, in the same light
    cv2.rectangle(scene, (165, 30), (170, 39), (200, 200, 200), -1)  # a motorbike
    frame = lit(scene, cv2.resize(np.asarray(light, np.float32), (240, 135)) if np.ndim(light) == 2 else light)
    out = LightField().normalise(frame, cv2.cvtColor(background, cv2.COLOR_BGR2GRAY))
    road_only = np.ones((135, 240), bool)
    road_only[46:76, 96:116] = False
    road_only[26:44, 161:175] = False
    error = np.abs(out.astype(np.int16) - background.astype(np.int16)).mean(axis=2)[road_only]
    assert np.percentile(error, 95) < 12, np.percentile(error, 95)
    # both objects still stand out from the road they cover
    assert out[54:68, 103:109].mean() < background[54:68, 103:109].mean() - 25
    assert out[32:38, 166:170].mean() > background[32:38, 166:170].mean() + 40


def test_light_field_ignores_a_bus_that_fills_blocks():
    # at the detector's analysis scale (a quarter of 960x540): a bus entering, two blocks by two
    background = cv2.resize(road(2), (240, 135))
    frame = background.copy()
    cv2.rectangle(frame, (100, 50), (124, 74), (230, 230, 230), -1)
    out = LightField().normalise(frame, cv2.cvtColor(background, cv2.COLOR_BGR2GRAY))
    assert out[54:70, 104:120].mean() > 200  # not divided down to the road's grey


def test_light_taken_for_an_object_is_measured_again_within_a_second():
    # a shadow's patch that the tracker once followed: masked out of the light measurement, it
    # would keep its darkness for good; after about a second of analysed frames it is measured
    background = cv2.resize(road(11), (240, 135))
    frame = background.copy()
    frame[30:100, 60:160] = (frame[30:100, 60:160] * 0.5).astype(np.uint8)
    tracked = np.zeros((135, 240), np.uint8)
    tracked[30:100, 60:160] = 255
    field = LightField()
    reference = cv2.cvtColor(background, cv2.COLOR_BGR2GRAY)
    darkness = []
    for _ in range(12):  # 8.3 analysed frames a second
        out = field.normalise(frame, reference, tracked)
        darkness.append(float(background[40:90, 70:150].mean() - out[40:90, 70:150].mean()))
    assert darkness[0] > 30  # first left alone: it is where an object is
    assert abs(darkness[-1]) < 8, darkness  # then divided out like any light


# --- the detector in changing light -------------------------------------------------------------


@pytest.mark.parametrize(
    "factor, seconds",
    [
        pytest.param(0.6, 10.0, id="light-cloud-ten-seconds"),  # within MOG2's shadow band
        pytest.param(0.4, 10.0, id="dark-cloud-ten-seconds"),  # darker than any cast shadow
        pytest.param(0.45, 3.0, id="fast-dark-cloud"),  # sweeps the frame in 3 s
    ],
)
def test_a_cloud_shadow_sweeping_the_road_never_becomes_an_object(factor, seconds):
    detector = learnt(MotionDetector(MotionDetectorConfig(scale=0.5, min_area_px=60)), road(3))
    tracker = Tracker(min_hits=4, max_lost=8)  # a traffic camera's defaults: an object is a confirmed track
    rng = np.random.default_rng(4)
    analysed = int(seconds * 25 / 3)  # every third frame of a 25 fps camera
    found, confirmed = [], []
    for step in range(analysed + 30):
        progress = step / analysed
        frame = road(3)
        if progress <= 1.0:
            frame = lit(frame, soft_shadow(-200 + progress * (W + 400), 200, factor))
        detections = detector.detect(noisy(frame, rng))
        found.append(len(detections))
        confirmed.append(int(tracker.update(detections).data["confirmed"].sum()))
    assert max(confirmed) == 0, found
    assert sum(found) <= 4, found  # at most a blip where the shadow's edge crosses a corner
    assert sum(found[-20:]) == 0, found  # and nothing is left once it has passed


@pytest.mark.parametrize(
    "factor, seconds",
    [
        pytest.param(0.5, 10.0, id="dark-edge-ten-seconds"),  # the edge moves ~5 pixels an analysed frame
        pytest.param(0.6, 25.0, id="lighter-slow-edge"),  # a slow cloud: the edge lingers on each block
        pytest.param(0.4, 4.0, id="darkest-fast-edge"),  # beyond MOG2's shadow band, 12 pixels a frame
    ],
)
def test_a_sharp_edge_of_shadow_sweeping_the_road_leaves_no_object_once_the_light_is_measured(factor, seconds):
    # Sharper than the light field's blocks: the field smears it over a block either side, and
    # what it leaves there is light, not an object. The shadow's edge is in the picture from the
    # start (as a building's would be) and sweeps on across it. Light new to a block that the
    # field has not measured yet is taken for an object at first, and the field measures such a
    # block anyway after a second: from then on nothing, until the edge is within a block of the
    # picture's far side (a block the light fills less than half of is measured as unlit).
    start = 0.15 * W
    detector = learnt(MotionDetector(MotionDetectorConfig(scale=0.5, min_area_px=60)), lit(street(3), sharp_shadow(start, factor)))
    tracker = Tracker(min_hits=4, max_lost=8)
    rng = np.random.default_rng(4)
    analysed = int(seconds * 25 / 3)
    confirmed = []
    for step in range(analysed):
        frame = lit(street(3), sharp_shadow(start + step / analysed * (W - 24 - start), factor))
        confirmed.append(int(tracker.update(detector.detect(noisy(frame, rng))).data["confirmed"].sum()))
    assert max(confirmed[17:]) == 0, confirmed  # after the first 2 s


@pytest.mark.parametrize(
    "colour",
    [
        (60, 60, 170),  # red
        (170, 90, 40),  # blue
        (40, 150, 60),  # green
    ],
)
def test_a_coloured_car_at_a_sharp_edge_of_shadow_is_still_found(colour):
    # The car crosses the edge as the edge sweeps on: its colour is not the road's in other light.
    detector = learnt(MotionDetector(MotionDetectorConfig(scale=0.5, min_area_px=60)), street(5))
    found = driven(detector, street(5), colour, 24, start=40, speed=12, light=lambda step, x: sharp_shadow(x + 35 + (step % 3 - 1) * 20, 0.5))
    for step, boxes in enumerate(found[6:], start=6):
        x = 40 + step * 12
        assert len(boxes) == 1, (step, boxes)
        assert abs(boxes[0, 0] - x) <= 8 and abs(boxes[0, 2] - (x + 70)) <= 8, (step, boxes)


def test_a_car_is_still_found_under_a_cloud_shadow():
    detector = learnt(MotionDetector(MotionDetectorConfig(scale=0.5, min_area_px=60)), road(5))
    shadow = soft_shadow(W * 0.5, 260, 0.45)
    last = driven(detector, road(5), (60, 60, 170), 20, start=60, speed=15, light=lambda step, x: shadow if step >= 5 else 1.0)[-1]
    assert len(last) == 1, last
    assert abs(last[0, 0] - (60 + 19 * 15)) <= 6 and abs(last[0, 2] - (60 + 19 * 15 + 70)) <= 6


@pytest.mark.parametrize(
    "colour",
    [
        (60, 60, 170),  # a red car on a camera in colour
        (62, 62, 62),  # a dark car on a camera sending grey (night or infrared mode): darker road, no colour to tell
    ],
)
def test_a_car_darker_than_the_road_is_not_taken_for_its_shadow(colour):
    # The road is grey (95) in both: on the grey camera the car is two thirds as bright as the road
    # and keeps its colour (none), which is what a shadow looks like to MOG2.
    detector = learnt(MotionDetector(MotionDetectorConfig(scale=0.5, min_area_px=60)), road(5))
    last = driven(detector, road(5), colour, 12, start=60, speed=15)[-1]
    assert len(last) == 1, last
    assert abs(last[0, 0] - (60 + 11 * 15)) <= 6 and abs(last[0, 2] - (60 + 11 * 15 + 70)) <= 6


def test_thin_markings_under_shake_are_not_objects():
    background = road(7)
    for x in (150, 158, 320):  # a double centre line and a lane line, bright and thin
        cv2.rectangle(background, (x, 0), (x + 3, H), (215, 220, 222), -1)
    cv2.rectangle(background, (0, 200), (W, 204), (215, 220, 222), -1)  # a stop line across
    detector = learnt(MotionDetector(MotionDetectorConfig(scale=0.5, min_area_px=60)), background)
    rng = np.random.default_rng(8)
    counts = []
    for step in range(60):
        dx, dy = ((step * 7) % 5) - 2, ((step * 3) % 5) - 2  # the pole sways up to 2 px each way
        shaken = np.roll(np.roll(background, dy, axis=0), dx, axis=1)
        counts.append(len(detector.detect(noisy(shaken, rng))))
    assert sum(counts) <= 2, counts  # at most a stray frame, never a track's worth


# --- merged vehicles ----------------------------------------------------------------------------


def dets(boxes, cls="motorbike") -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections(xyxy=boxes, confidence=np.ones(len(boxes)), class_id=np.full(len(boxes), CLASS_ID[cls]))


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("behind", id="closing-up-behind"),  # the follower catches up and stays close behind
        pytest.param("abreast", id="drawing-level-abreast"),  # a rider drifts across until level with the other
        # in the next lane and half a length ahead: the merged box is half empty, at two corners
        pytest.param("staggered", id="drawing-near-in-the-next-lane-half-a-length-ahead"),
    ],
)
def test_merged_detections_keep_both_tracks(how):
    tracker = Tracker(min_hits=2, max_lost=5)
    ids: set[int] = set()
    for frame in range(14):
        a = np.array([100, 100 + 10 * frame, 130, 160 + 10 * frame], float)
        gap = max(40 - 6 * frame, 4)  # 40 px apart, closing to 4
        if how == "abreast":  # level with the first, to its right
            b = a + [30 + gap, 0, 30 + gap, 0]
        elif how == "behind":  # behind it (above in the picture)
            b = a - [0, 60 + gap, 0, 60 + gap]
        else:  # to its right and 50 px ahead (below in the picture)
            b = a + [30 + gap, 50, 30 + gap, 50]
        if gap < 12:  # close enough that the detector sees one blob
            out = tracker.update(dets([[min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]]))
        else:
            out = tracker.update(dets([a, b]))
        ids |= set(out.tracker_id.tolist())
        assert len(out) == 2, (frame, out.xyxy)
    assert len(ids) == 2


def test_a_detection_larger_than_two_tracks_is_not_split_into_them():
    # a bus arriving next to two tracked motorbikes: it must not be cut into their two boxes
    tracker = Tracker(min_hits=2, max_lost=5)
    for _ in range(3):
        tracker.update(dets([[100, 100, 120, 140], [130, 100, 150, 140]]))
    out = tracker.update(dets([[60, 40, 260, 200]], cls="bus_truck"))
    assert len(out) == 1


def calibrated_top_down(px_per_m: int = 40) -> GroundPlane:
    """A camera looking straight down, ``px_per_m`` pixels a metre."""
    w, h = W / px_per_m, H / px_per_m
    return GroundPlane.from_points(np.array([[0, 0], [W, 0], [W, H], [0, H]], float), np.array([[0, 0], [w, 0], [w, h], [0, h]], float))


@pytest.mark.parametrize(
    "gap_px, expected",
    [
        pytest.param(16, 2, id="riders-abreast-joined-by-their-shadows"),  # 0.4 m apart, one blob: two riders
        pytest.param(0, 1, id="one-car"),  # a car 1.8 m wide: one
    ],
)
def test_riders_side_by_side_are_split_by_expected_width_and_profile(gap_px, expected):
    detector = learnt(MotionDetector(MotionDetectorConfig(min_area_px=60), ground=calibrated_top_down()), road(9))
    rng = np.random.default_rng(10)
    for step in range(6):
        frame = road(9)
        y = 20 + step * 12
        if gap_px:
            # two riders 0.7 m wide and 1.9 m long (28 x 76 px), the pair taller than wide,
            # their shadows joining them along the bottom
            cv2.rectangle(frame, (200, y + 70), (256 + gap_px, y + 76), (45, 45, 45), -1)
            cv2.rectangle(frame, (200, y), (228, y + 76), (30, 30, 160), -1)
            cv2.rectangle(frame, (228 + gap_px, y), (256 + gap_px, y + 76), (160, 40, 30), -1)
        else:
            cv2.rectangle(frame, (200, y), (272, y + 150), (40, 150, 40), -1)
        found = detector.detect(noisy(frame, rng))
    assert len(found) == expected, found.xyxy


def moving(
    draw, *, travel: Travel | None = "updown", ground: GroundPlane | None = None, background: np.ndarray | None = None, picture=noisy
) -> Detections:
    """What a calibrated detector (``ground``, else 40 px a metre), its road learnt, finds in the
    last of six frames in which ``draw(frame, at)`` draws objects 12 px further along the road
    each frame, as the counting lines' ``travel`` says: down the picture (``updown``) or across it.
    ``background``: the road (else ``road(9)``); ``picture``: what the camera sends of a frame."""
    calibration = ground or calibrated_top_down()
    road_seen = road(9) if background is None else background
    detector = learnt(MotionDetector(MotionDetectorConfig(min_area_px=60), ground=calibration, travel=travel), road_seen, picture=picture)
    rng = np.random.default_rng(10)
    for step in range(6):
        frame = road_seen.copy()
        draw(frame, 60 + step * 12)
        found = detector.detect(picture(frame, rng))
    return found


def test_a_rider_beside_two_riders_in_file_is_cut_off_from_them():
    # Two riders abreast, a hand's width apart (the closing fills it), their shadows joining
    # them; a third rider half a length ahead of the right one, touching it at the corner. Cut
    # where the road showed, the right piece is two riders long and not one rider's size: the
    # rider on the left is one all the same, and is not left merged into one object of three.
    def draw(frame: np.ndarray, y: int) -> None:
        cv2.rectangle(frame, (200, y + 70), (262, y + 76), (45, 45, 45), -1)
        cv2.rectangle(frame, (200, y), (228, y + 76), (30, 30, 160), -1)
        cv2.rectangle(frame, (234, y), (262, y + 76), (160, 40, 30), -1)
        cv2.rectangle(frame, (258, y - 60), (286, y + 16), (40, 160, 160), -1)

    found = moving(draw)
    lone = found.xyxy[found.xyxy[:, 0] < 220]
    assert len(found) >= 2 and len(lone) == 1, found.xyxy
    assert 26 <= lone[0, 2] - lone[0, 0] <= 42  # about one rider (28 px) wide, and the gap


@pytest.mark.parametrize(
    "travel, expected",
    [
        ("updown", 2),  # level counting lines: traffic down the picture, riders abreast side by side in it
        (None, 1),  # lines drawn diagonally: a rider seen along its length differs in colour from front to back
    ],
)
def test_staggered_riders_abreast_of_two_colours_are_two_objects(travel, expected):
    # Two riders abreast, 0.7 m wide and 1.9 m long, the right one 0.9 m behind the left, their
    # bodies touching: no profile dips and the two parts overlap too much to stand apart.
    def draw(frame: np.ndarray, y: int) -> None:
        cv2.rectangle(frame, (200, y), (227, y + 75), (150, 30, 110), -1)
        cv2.rectangle(frame, (228, y + 36), (255, y + 111), (50, 180, 60), -1)

    found = moving(draw, travel=travel)
    assert len(found) == expected, found.xyxy
    if expected == 2:  # each about one rider wide
        assert all(24 <= w <= 36 for w in (found.xyxy[:, 2] - found.xyxy[:, 0]).tolist()), found.xyxy


def test_a_slender_stroke_beside_a_rider_is_not_cut_off_as_an_object():
    # A rider and, a hand's width beside it, a stroke 0.55 m wide and 3 m long (a lane's marking
    # that came along with it), joined by the rider's shadow: cut where the road showed, the
    # rider would be one piece and the stroke an object of its own, counted as a vehicle.
    def draw(frame: np.ndarray, y: int) -> None:
        cv2.rectangle(frame, (200, y), (228, y + 76), (30, 30, 160), -1)
        cv2.rectangle(frame, (232, y - 20), (254, y + 100), (230, 230, 230), -1)
        cv2.rectangle(frame, (200, y + 70), (254, y + 76), (45, 45, 45), -1)

    found = moving(draw)
    assert len(found) == 1, found.xyxy


def rider_from_above(frame: np.ndarray, x: int, y: int, body: int = 70) -> None:
    """A rider 0.7 m wide and 1.9 m long at 40 px a metre, dressed darker than the road, and a light helmet."""
    cv2.rectangle(frame, (x, y), (x + 27, y + 76), (body, body, body), -1)
    cv2.rectangle(frame, (x + 6, y + 4), (x + 22, y + 18), (200, 200, 200), -1)


def shaded(frame: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    """The road in ``frame`` between the corners darkened as a cast shadow darkens it."""
    frame[y0:y1, x0:x1] = (frame[y0:y1, x0:x1] * 0.6).astype(np.uint8)


@pytest.mark.parametrize(
    "beside, expected",
    [
        ("shadow", 1),  # the rider's cast shadow 9 px to its right, joined to it at the wheels: the rider alone
        ("rider", 2),  # another rider dressed as dark, as close, their shadows joined: two riders
    ],
)
def test_on_a_grey_picture_by_day_a_riders_cast_shadow_is_not_an_object_of_its_own(beside, expected):
    # A grey picture has no colour to tell a shadow by: the background model keeps it as
    # foreground, and a valley between it and the rider would cut it off into a track of its own.
    def draw(frame: np.ndarray, y: int) -> None:
        if beside == "shadow":
            shaded(frame, 236, y + 16, 264, y + 80)
        else:
            rider_from_above(frame, 236, y, body=72)
        shaded(frame, 227, y + 74, 236, y + 80)
        rider_from_above(frame, 200, y)

    found = moving(draw, background=road(9, level=125), picture=grey_picture)
    assert len(found) == expected, found.xyxy
    assert found.xyxy[:, 0].min() <= 202 and (found.xyxy[:, 2] - found.xyxy[:, 0]).max() <= 36, found.xyxy  # each about one rider wide


@pytest.mark.parametrize(
    "pieces, expected",
    [
        # (across, along, how far down the road from the first piece's start) in metres, each piece drawn dark
        ([(1.5, 0.6, 0.0), (1.4, 0.4, 2.2)], 1),  # a grey car: its windscreen and rear window, its body the road's grey
        ([(0.7, 1.9, 0.0), (0.7, 1.9, 2.9)], 2),  # two riders in file, a metre apart: neither as wide as a car's windscreen
        ([(1.8, 4.5, 0.0), (0.7, 1.9, 5.3)], 2),  # a car seen whole, a rider close behind it: together longer than a car
    ],
)
def test_a_grey_vehicles_pieces_one_behind_the_other_are_one_object(pieces, expected):
    px = 20  # a metre, so that a car and a rider behind it fit in the picture

    def draw(frame: np.ndarray, y: int) -> None:
        for across, along, down in pieces:
            top = y + round(down * px)
            cv2.rectangle(frame, (200, top), (200 + round(across * px), top + round(along * px)), (35, 35, 40), -1)

    found = moving(draw, ground=calibrated_top_down(px))
    assert len(found) == expected, found.xyxy


@pytest.mark.parametrize(
    "near, far, expected",
    [
        # (near vehicle, far vehicle above it or None) as (length along the road, depth across it) in metres
        ((1.9, 1.6), (1.9, 1.6), 2),  # two riders in neighbouring lanes, the far one's lower part hidden: 3.2 m deep
        ((4.5, 2.2), (4.0, 2.3), 2),  # two cars so: 4.5 m long, 4.5 m deep
        ((1.9, 2.6), None, 1),  # one rider, tall as a low pole sees it
        ((4.5, 4.1), None, 1),  # one car as deep as one car gets on the tuning cameras
        ((8.0, 4.8), None, 1),  # a bus: longer than any car, not judged
    ],
)
def test_vehicles_in_neighbouring_lanes_across_the_picture_are_cut_apart_by_their_depth(near, far, expected):
    # Traffic moving left to right on a camera looking straight down, 20 px a metre; no valley
    # in the blob's profile shows where one vehicle ends and the other begins.
    px, bottom = 20, 220
    top = bottom - round(near[1] * px)  # where the near vehicle hides the far one

    def draw(frame: np.ndarray, x: int) -> None:
        cv2.rectangle(frame, (x, top), (x + round(near[0] * px), bottom), (30, 30, 160), -1)
        if far is not None:
            cv2.rectangle(frame, (x, top - round(far[1] * px)), (x + round(far[0] * px), top), (160, 40, 30), -1)

    found = moving(draw, travel="leftright", ground=calibrated_top_down(px))
    assert len(found) == expected, found.xyxy
    if expected == 2:  # cut where the near vehicle's top hides the far one, within two analysis pixels
        upper, lower = sorted(found.xyxy.tolist(), key=lambda box: box[1])
        assert abs(upper[3] - top) <= 8 and abs(lower[1] - top) <= 8, found.xyxy


@pytest.mark.parametrize(
    "rows, cols",
    [
        (11, 20),  # the light grid of a 960x540 camera at the default analysis scale
        (2, 2),  # the smallest grid that is reflected rather than repeated at its edge
        (3, 17),  # odd sizes, so the median of each size parity is taken
        (6, 7),  # an even number of rows by an odd number of columns
    ],
)
def test_light_grid_median_and_border_are_numpys_to_the_bit(rows, cols):
    from camera_agents.light import _median, _pad_odd_reflect

    rng = np.random.default_rng(rows * 100 + cols)
    for _ in range(200):
        grid = (rng.random((rows, cols)) * rng.choice([0.01, 1.0, 3.7]) + rng.random()).astype(np.float32)
        assert np.array_equal(_pad_odd_reflect(grid), np.pad(grid, 1, mode="reflect", reflect_type="odd"))
        values = grid.ravel()[: rng.integers(1, grid.size + 1)]
        assert _median(values) == float(np.median(values))


def test_light_field_measures_against_each_new_background():
    # the reference's terms are kept while the detector hands the same background; a background
    # learnt again (a new array, darker here) is measured against, as a fresh field would
    background = cv2.resize(road(12), (240, 135))
    frame = (background * soft_shadow(120, 60, 0.7)[::2, ::2, None]).astype(np.uint8)
    first = cv2.cvtColor(background, cv2.COLOR_BGR2GRAY)
    second = (first * 0.8).astype(np.uint8)
    field = LightField()
    for _ in range(3):
        field.normalise(frame, first)
    fresh = LightField()
    expected = fresh.normalise(frame, second)
    assert not np.array_equal(expected, field.normalise(frame, first))  # the two backgrounds light it differently
    assert np.array_equal(field.normalise(frame, second), expected)
    assert np.array_equal(field.gain, fresh.gain)


def test_texture_shown_worked_out_on_the_labels_box_is_the_whole_frames():
    # blobs anywhere, touching the frame's edges or not: the share of each blob's textured
    # pixels where the road's texture shows is what the correlation over the whole frame gives
    from camera_agents.background import LearnedBackground
    from camera_agents.blobs import components

    config = MotionDetectorConfig()
    background = LearnedBackground.learn(cv2.resize(road(3), (W // 2, H // 2)), config)
    texture, energy, textured = background.texture, background.texture_energy, background.textured
    rng = np.random.default_rng(8)
    told = 0
    for _ in range(40):
        frame = lit(noisy(road(3), rng), soft_shadow(rng.uniform(0, W), 80, 0.6))
        grey = cv2.cvtColor(cv2.resize(frame, (W // 2, H // 2)), cv2.COLOR_BGR2GRAY)
        foreground = np.zeros(grey.shape, np.uint8)
        for _ in range(int(rng.integers(1, 6))):
            centre = (int(rng.integers(0, W // 2)), int(rng.integers(0, H // 2)))
            cv2.ellipse(foreground, centre, (int(rng.integers(3, 30)), int(rng.integers(3, 20))), 0, 0, 360, 255, -1)
        count, labels, stats, origin = components(foreground)
        keep = np.ones(count - 1, bool)
        _, whole = cv2.connectedComponents(foreground, connectivity=8)
        in_blob = np.flatnonzero(textured & (whole > 0))
        blob_of = whole.reshape(-1)[in_blob]
        a = cv2.subtract(grey, cv2.blur(grey, (5, 5)), dtype=cv2.CV_32F)
        ab = cv2.blur(a * texture, (5, 5)).reshape(-1)[in_blob]
        aa = cv2.blur(a * a, (5, 5)).reshape(-1)[in_blob]
        agrees = ab / np.sqrt(np.maximum(aa * energy.reshape(-1)[in_blob], 1e-6)) >= config.light_texture_correlation
        counted = np.bincount(blob_of, minlength=count)[1:]
        expected = np.where(counted >= 12, np.bincount(blob_of[agrees], minlength=count)[1:] / np.maximum(counted, 1), np.nan)
        assert np.array_equal(background.texture_shown(grey, labels, origin, keep, config.light_texture_correlation), expected, equal_nan=True)
        told += int((~np.isnan(expected)).sum())
    assert told > 40  # most blobs lie on texture that can tell


def test_a_buss_cast_shadow_is_not_light_and_leaves_no_ghost_beside_it():
    # Top-down, a bus drives down its lane with its shadow (0.58 of the light) on the road beside
    # it. Measured as light, the shadow would darken the field over a few blocks, and the sunlit
    # road next to it, divided by that field, would stand out as an object of its own.
    rng = np.random.default_rng(5)
    background = road(6)
    detector = MotionDetector(MotionDetectorConfig(scale=0.5))
    for _ in range(60):
        detector.detect(noisy(background, rng))
    haunted = []
    for step in range(32):
        frame = background.copy()
        top = -120 + 12 * step
        shade = np.zeros((H, W), bool)
        shade[max(top + 10, 0) : max(top + 130, 0), 250:310] = True
        frame[shade] = (frame[shade] * 0.58).astype(np.uint8)
        cv2.rectangle(frame, (200, top), (250, top + 120), (70, 200, 230), -1)
        found = detector.detect(noisy(frame, rng))
        if step > 10 and (found.xyxy[:, 0] >= 262).any():  # something that starts in or past the shadow
            haunted.append(step)
    # (a frame or two where the bus leaves the picture and its box no longer reaches its shadow)
    assert len(haunted) <= 3, f"ghosts beside the bus at steps {haunted}"


@pytest.mark.parametrize(
    "body, objects",
    [
        (88, 1),  # the road's grey darkened to 0.7: what the model takes for the car's own shadow
        (110, 1),  # barely darker than the road
        (None, 2),  # no body: two dark bars one behind the other, the road showing between them
    ],
)
def test_a_grey_car_seen_from_behind_is_one_object_though_its_body_passes_for_shadow(body, objects):
    # An uncalibrated camera over traffic up and down the picture, as most real cameras are
    # installed, and a car the asphalt's grey, as most real cars are: its outline, bumper and rear
    # window dark, its body what the model takes for a shadow of the road's colour.
    detector = learnt(MotionDetector(MotionDetectorConfig(min_area_px=60), travel="updown"), street(4))
    rng = np.random.default_rng(12)
    for step in range(8):
        frame = street(4)
        top = 40 + step * 12
        if body is not None:
            cv2.rectangle(frame, (200, top), (264, top + 60), (30, 30, 32), -1)  # its outline
            cv2.rectangle(frame, (205, top + 5), (259, top + 55), (body, body, body), -1)  # its body
            cv2.rectangle(frame, (205, top + 22), (259, top + 32), (30, 30, 32), -1)  # its rear window
        else:
            cv2.rectangle(frame, (200, top), (264, top + 12), (30, 30, 32), -1)
            cv2.rectangle(frame, (200, top + 48), (264, top + 60), (30, 30, 32), -1)
        found = detector.detect(noisy(frame, rng))
    assert len(found) == objects, found.xyxy
