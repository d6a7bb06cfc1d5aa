"""An agent restarted while traffic drives past starts from the road its last run learnt.

Learnt from the first frames instead, every vehicle in view is taken for road at the warm-up's
fast rates, and the slow learning that keeps a vehicle waiting at a red light visible keeps those
ghosts, and hides vehicles of their colours, for minutes. The camera here runs 6 s, is stopped for
4 s (a deploy, a crash) and runs again (``camera_agents.evaluation.scores_across_a_restart``); its
crossings from 1 s after the restart to the clip's end are scored against the truth, next to those
of an agent that never stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from camera_agents.config import CameraConfig, MotionDetectorConfig
from camera_agents.evaluation import scores_across_a_restart
from camera_agents.motion import MotionDetector
from camera_agents.sources.synthetic import SceneTruth
from tests.media import synthetic_video
from tests.scene_sets import TUNING
from tests.scene_sets import spec as family_spec

# Tuning cameras, summed: one camera's count moves by a crossing or two with the frames analysed.
CAMERAS = (
    ("platoons", 1),  # a queue at a red light in view when the agent restarts, released after
    ("side-by-side", 2),  # riders abreast in dense traffic on a road seen from above
    ("queue", 1),  # a long queue waiting before the line
    ("vibration", 2),  # a camera on a shaking pole
)


def _wrong_counts(name: str, seed: int) -> tuple[int, int, int]:
    """Wrong counts after the restart: of an agent that never stopped, of one restarted cold and
    of one restarted from the road its last run learnt."""
    video = synthetic_video(family_spec(name, seed))
    config = CameraConfig.model_validate(json.loads(Path(f"{video}.camera.json").read_text(encoding="utf-8")))
    truth = SceneTruth.from_json(json.loads(Path(f"{video}.truth.json").read_text(encoding="utf-8")))
    never_stopped, cold, from_road = scores_across_a_restart(config, video, truth)
    return never_stopped.wrong, cold.wrong, from_road.wrong


def test_an_agent_restarted_in_traffic_counts_as_one_that_never_stopped():
    assert set(CAMERAS) <= set(TUNING)
    counts = {f"{name} seed {seed}": _wrong_counts(name, seed) for name, seed in CAMERAS}
    never_stopped, cold, from_its_road = (sum(c[i] for c in counts.values()) for i in range(3))
    assert from_its_road <= never_stopped + 4, counts
    assert cold >= 3 * from_its_road + 10, counts


def test_a_kept_road_of_another_size_is_not_used():
    """A camera whose picture changed size meanwhile: its detector learns the road afresh."""
    frame = np.full((540, 960, 3), 90, np.uint8)
    for road, warmed_up in (
        (np.full((135, 240, 3), 90, np.uint8), True),  # the analysis picture of a 960x540 camera
        (np.full((180, 320, 3), 90, np.uint8), False),  # that of a 1280x720 one
    ):
        detector = MotionDetector(MotionDetectorConfig())
        detector.start_from(road)
        detector.detect(frame)
        assert (detector.learnt_road() is not None) is warmed_up
