"""Stopped vehicles through the whole per-camera chain (detector, tracker, monitor) on drawn frames:
a car that drives in and stops is reported, an advertising screen beside the road is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from camera_agents.config import CameraConfig
from camera_agents.pipeline import CameraPipeline
from ingest.contract import TrackIncident

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


def test_a_car_that_stops_is_reported_and_an_advertising_screen_is_not():
    config = CameraConfig.model_validate({"camera_id": "cam-stop", "name": "Đường Thùy Vân", "kind": "traffic", "source": "drawn"})
    pipeline = CameraPipeline(config, width=960, height=540, fps=FPS)
    rng = np.random.default_rng(3)
    backgrounds = [np.clip(rng.normal(100, 3, (540, 960, 3)), 0, 255).astype(np.uint8) for _ in range(6)]
    start = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    stopped = []  # each stopped-vehicle incident, with the box of its track then
    for index in range(48 * FPS):
        analysed = pipeline.wants_picture(index)
        picture = frame_at(index, backgrounds, car_stands_s=26.0) if analysed else None
        events = pipeline.process(index, start + timedelta(seconds=index / FPS), picture)
        where = dict(zip(pipeline.last_tracks.tracker_id.tolist(), pipeline.last_tracks.xyxy.tolist()))
        stopped += [(e, where[e.track_id]) for e in events if isinstance(e, TrackIncident) and e.kind == "stopped"]
    # The screen's track lived all along, still for over 20 s, but never left its spot.
    assert len(stopped) == 1, stopped
    incident, (x1, _, x2, _) = stopped[0]
    assert abs(x2 - CAR_STOPS_AT) <= 8 and x2 - x1 >= 60  # the car, where it stood
    # 20 s (the default) after it stopped, within an analysed frame or two
    assert abs(incident.duration_s - 20.0) <= 0.3
    assert abs(incident.frame_no - (CAR_ENTERS + CAR_STOPS_AT // 12 + 20 * FPS)) <= 6
