"""What moves beside the road and is not traffic, through the whole per-camera chain (detector,
tracker, analytics) on drawn frames: an advertising screen is never a stopped vehicle, and under a
mask it is nothing at all; a car that drives in and stops is reported either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from camera_agents.config import CameraConfig
from camera_agents.detections import Detections
from camera_agents.masks import Masks
from camera_agents.pipeline import CameraPipeline
from ingest.contract import TrackIncident, ZoneOccupancy

FPS = 25
CAR_ENTERS = 8 * FPS  # once the background is learnt (its first 50 analysed frames)
CAR_STOPS_AT = 400  # x of the car's front (right edge) where it stands
SCREEN = (760, 40, 900, 120)  # x1, y1, x2, y2: an LED screen on the building across the road


def frame_at(index: int, backgrounds: list[np.ndarray], *, car_stands_s: float) -> np.ndarray:
    picture = backgrounds[index % len(backgrounds)].copy()
    # The screen shows another advert every second, in blocks of colour.
    blocks = np.random.default_rng(index // FPS).integers(0, 256, (4, 7, 3), dtype=np.uint8)
    x1, y1, x2, y2 = SCREEN
    picture[y1:y2, x1:x2] = np.repeat(np.repeat(blocks, 20, axis=0), 20, axis=1)
    # The car drives in from the left at 12 px a frame, stands, then drives on.
    arrives = CAR_ENTERS + CAR_STOPS_AT // 12
    leaves = arrives + round(car_stands_s * FPS)
    x = 12 * (index - CAR_ENTERS) if index < arrives else CAR_STOPS_AT if index < leaves else CAR_STOPS_AT + 12 * (index - leaves)
    if 0 < x < 960:
        picture[300:340, max(x - 80, 0) : x] = (140, 40, 30)
    return picture


SCREEN_MASK = [[750, 30], [910, 30], [910, 130], [750, 130]]


@pytest.mark.parametrize(
    ("box", "masks", "kept"),
    [
        # standing under the mask (the screen's own blob): dropped
        ([760, 40, 900, 120], [SCREEN_MASK], False),
        # a truck passing in front of the screen, standing on the road below it: kept
        ([740, 60, 920, 200], [SCREEN_MASK], True),
        # its feet under the mask, its body above it: dropped (where it stands decides)
        ([800, 0, 840, 100], [SCREEN_MASK], False),
        # under the second of two masks
        ([100, 300, 140, 340], [SCREEN_MASK, [[90, 290], [150, 290], [150, 350], [90, 350]]], False),
        # a camera without masks drops nothing
        ([760, 40, 900, 120], [], True),
    ],
)
def test_an_object_standing_in_a_mask_is_dropped(box, masks, kept):
    found = Detections(xyxy=np.asarray([box, [10, 400, 50, 450]], np.float32), confidence=np.ones(2), class_id=np.zeros(2, np.int16))
    left = Masks(masks).without_masked(found)
    assert left.xyxy.tolist() == ([box] if kept else []) + [[10, 400, 50, 450]]


def run_camera(config: CameraConfig, seconds: float) -> tuple[list[tuple[TrackIncident, list[float]]], list[ZoneOccupancy], list[list[float]]]:
    """The stopped-vehicle incidents (each with its track's box then), the zone occupancy events and
    every confirmed track's box, over ``seconds`` of the drawn street."""
    pipeline = CameraPipeline(config, width=960, height=540, fps=FPS)
    rng = np.random.default_rng(3)
    backgrounds = [np.clip(rng.normal(100, 3, (540, 960, 3)), 0, 255).astype(np.uint8) for _ in range(6)]
    start = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    stopped, occupancy, boxes = [], [], []
    for index in range(round(seconds * FPS)):
        analysed = pipeline.wants_picture(index)
        picture = frame_at(index, backgrounds, car_stands_s=26.0) if analysed else None
        events = pipeline.process(index, start + timedelta(seconds=index / FPS), picture)
        tracks = pipeline.last_tracks
        where = dict(zip(tracks.tracker_id.tolist(), tracks.xyxy.tolist()))
        stopped += [(e, where[e.track_id]) for e in events if isinstance(e, TrackIncident) and e.kind == "stopped"]
        occupancy += [e for e in events if isinstance(e, ZoneOccupancy)]
        if analysed and len(tracks):
            boxes += tracks.xyxy[tracks.data["confirmed"]].tolist()
    return stopped, occupancy, boxes


def street(**more) -> CameraConfig:
    # A zone over the building across the road, where people would be counted.
    zone = {"id": "across", "polygon": [[600, 0], [960, 0], [960, 200], [600, 200]]}
    return CameraConfig.model_validate({"camera_id": "cam-street", "name": "Đường Thùy Vân", "kind": "traffic", "source": "drawn", "zones": [zone], **more})


def on_screen(box: list[float]) -> bool:
    return box[0] < SCREEN[2] and box[2] > SCREEN[0] and box[1] < SCREEN[3] and box[3] > SCREEN[1]


def assert_the_car_was_reported_stopped(stopped):
    assert len(stopped) == 1, stopped
    incident, (x1, _, x2, _) = stopped[0]
    assert abs(x2 - CAR_STOPS_AT) <= 8 and x2 - x1 >= 60  # the car, where it stood
    # 20 s (the default) after it stopped, within an analysed frame or two
    assert abs(incident.duration_s - 20.0) <= 0.3
    assert abs(incident.frame_no - (CAR_ENTERS + CAR_STOPS_AT // 12 + 20 * FPS)) <= 6


def test_a_car_that_stops_is_reported_and_an_advertising_screen_is_not():
    stopped, occupancy, boxes = run_camera(street(), 48.0)
    # The screen was an object all along, still for over 20 s, but it never came from anywhere.
    assert sum(on_screen(box) for box in boxes) > 300
    assert max(e.count for e in occupancy) == 1
    assert_the_car_was_reported_stopped(stopped)


def test_under_a_mask_the_screen_is_nothing_and_the_car_is_still_seen():
    mask = {"id": "led_screen", "polygon": SCREEN_MASK}
    stopped, occupancy, boxes = run_camera(street(masks=[mask]), 48.0)
    assert not any(on_screen(box) for box in boxes)
    assert max(e.count for e in occupancy) == 0
    assert_the_car_was_reported_stopped(stopped)


def test_in_a_zone_with_a_dwell_time_the_screen_is_never_reported():
    # The zone over the building holds the screen all along; a zone over the road gets the car.
    across = {"id": "across", "polygon": [[600, 0], [960, 0], [960, 200], [600, 200]], "dwell_seconds": 10}
    road = {"id": "road", "polygon": [[0, 250], [960, 250], [960, 400], [0, 400]], "dwell_seconds": 10}
    stopped, _, boxes = run_camera(street(zones=[across, road]), 48.0)
    assert sum(on_screen(box) for box in boxes) > 300
    assert [incident.zone_id for incident, _ in stopped] == ["road", None]
    in_road, (x1, _, x2, _) = stopped[0]
    assert abs(x2 - CAR_STOPS_AT) <= 8 and x2 - x1 >= 60  # the car, where it stood
    assert abs(in_road.duration_s - 10.0) <= 0.3  # 10 s after it came into the zone
    assert_the_car_was_reported_stopped(stopped[1:])
