"""A camera's frame rate as its frames come, not as its stream reports it: the measurement, and the
pipeline analysing as many frames a second whatever the stream said."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from camera_agents.config import CameraConfig
from camera_agents.pipeline import CameraPipeline, SentRate


def steady(fps: float, start: float, end: float) -> list[float]:
    return [start + i / fps for i in range(round((end - start) * fps))]


def burst(frames: int, within_s: float) -> list[float]:
    return [i * within_s / frames for i in range(frames)]


def measured(times: list[float]) -> float | None:
    rate = SentRate()
    result = None
    for t in times:
        result = rate.observe(t)
    return result


@pytest.mark.parametrize(
    "times, expected",
    [
        # a 10 fps stream, under five seconds in: measured over the three after its first one and a half
        (steady(10.0, 0.0, 4.7), 10.0),
        # 25 fps for a minute: over the last ten seconds
        (steady(25.0, 0.0, 60.0), 25.0),
        # 29.97 fps, a camera's 30
        (steady(29.97, 0.0, 20.0), 29.97),
        # what the connection's probe buffered, delivered at once, then 10 fps: the burst is left out
        (burst(37, 0.9) + steady(10.0, 1.0, 12.0), 10.0),
        # a camera halving its rate at dusk: the last ten seconds are at the new rate
        (steady(25.0, 0.0, 30.0) + steady(12.5, 30.0, 45.0), 12.5),
        # too soon to say: frames over under three seconds after the first one and a half
        (steady(25.0, 0.0, 4.4), None),
        # an outage of five seconds: measured afresh after it, and too soon again
        (steady(25.0, 0.0, 30.0) + steady(25.0, 35.0, 39.0), None),
        # ... and measured once the frames after it span three seconds past its first one and a half
        (steady(25.0, 0.0, 30.0) + steady(10.0, 35.0, 39.7), 10.0),
        # a stall of a second on a 25 fps stream: fewer frames over the window, within 15 % of 25
        (steady(25.0, 0.0, 20.0) + steady(25.0, 21.0, 30.0), 22.5),
        # a camera sending a frame a second
        (steady(1.0, 0.0, 20.0), 1.0),
        # a clock going back (a camera's time set again): measured afresh
        (steady(25.0, 100.0, 120.0) + steady(25.0, 50.0, 54.0), None),
    ],
)
def test_the_rate_frames_come_at(times, expected):
    result = measured(times)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, rel=0.01)


CAMERA = {
    "camera_id": "cam-rate",
    "name": "Đường 3 Tháng 2",
    "kind": "traffic",
    "source": "synthetic:traffic",
    "lines": [{"id": "l1", "points": [[0, 270], [960, 270]], "in_direction": [[480, 200], [480, 340]]}],
}


def run(pipeline: CameraPipeline, fps: float, seconds: float) -> list[int]:
    """Blank frames at ``fps`` for ``seconds``; the frame numbers the pipeline analysed."""
    start = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)
    picture = np.full((540, 960, 3), 90, np.uint8)
    analysed = []
    for index in range(round(fps * seconds)):
        if pipeline.wants_picture(index):
            analysed.append(index)
        pipeline.process(index, start + timedelta(seconds=index / fps), picture if pipeline.wants_picture(index) else None)
    return analysed


@pytest.mark.parametrize(
    "reported, sent, analytics, stride",
    [
        # reports 25, sends 10: every frame once measured (every third was 3.3 analyses a second)
        (25.0, 10.0, {}, 1),
        # reports 25 (or nothing usable, taken as 25), sends 30: every fourth
        (25.0, 30.0, {}, 4),
        # a 25 fps camera losing a frame in twenty: still every third
        (25.0, 23.8, {}, 3),
        # reports 10, sends 25: every third, not every frame
        (10.0, 25.0, {}, 3),
        # a stride the installer set stays what they set
        (25.0, 10.0, {"stride": 3}, 3),
    ],
)
def test_the_pipeline_analyses_as_many_frames_a_second_as_the_camera_sends(reported, sent, analytics, stride, caplog):
    config = CameraConfig.model_validate({**CAMERA, "analytics": analytics})
    pipeline = CameraPipeline(config, width=960, height=540, fps=reported)
    with caplog.at_level(logging.WARNING, logger="camera_agents.pipeline"):
        analysed = run(pipeline, sent, 20.0)
    assert pipeline.stride == stride
    late = [b - a for a, b in zip(analysed, analysed[1:]) if a >= sent * 10]  # well after the measurement
    assert set(late) == {stride}
    followed = abs(sent - reported) > 0.15 * reported
    assert pipeline.fps == (pytest.approx(sent, rel=0.01) if followed else reported)
    # A track survives a second unseen (the default), in frames analysed at the rate followed.
    assert pipeline.tracker.max_lost == math.ceil(pipeline.fps / stride)
    assert (f"sends {sent:.1f} frames a second, not {reported:.1f}" in caplog.text) == followed
