"""A camera's commissioning report: run it for a while and say what will hurt its counting.

``run_tune`` (the one function here that does I/O) plays a camera's source for some seconds through
its real pipeline and writes a folder an installer can read: ``annotated.png`` (the last analysed
picture with the lines, zones, tracked objects and the trails where objects went), and the same
summary as ``report.txt``, ``report.json`` and ``report.html``: counts per line and direction (and
per class, as planners will read them), the frame rates, and warnings. Everything else is a pure
measuring or formatting function:

* lines too close to the frame's edge (objects there are cut by the edge and not yet confirmed);
* objects too small to detect and classify reliably;
* shake, as the global frame-to-frame shift (phase correlation);
* light changes, as the drift and the fastest change of the picture's mean brightness;
* a source slower than analysis needs, an agent slower than its source, lines that count nothing;
* motion that stays in place (an advertising screen, trees in the wind), with a mask to paste;
* vehicles waiting (a red light, a queue) about as long as a stop takes to be reported;
* a line that one object covers most of, often: vehicles merge there into one (a queue standing
  on it, lamps' glare on a wet road), and its counts will be low;
* a security camera that did not learn how large one person is, and so counts a group as one;
* a calibration by which the objects followed are not as wide as people or vehicles are.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from camera_agents.analytics import has_arrived
from camera_agents.config import MIN_ANALYSES_PER_S, AnalyticsConfig, CameraConfig, SizeClasses
from camera_agents.geometry import segment_share_in_boxes
from camera_agents.light import MONOCHROME_SHARE, colour_share
from camera_agents.pipeline import RATE_TOLERANCE
from camera_agents.sizes import SizeClassifier
from ingest.errors import InvalidInput, writing

# Thresholds of the warnings (why each one: see the message it produces).
EDGE_SHARE = 0.06  # a line whose middle lies within this share of the frame from an edge
MIN_OBJECT_PX = 16  # box height below which detection and classification become unreliable
SMALL_SHARE = 0.5  # warn when more than this share of the objects seen is smaller
SHAKE_PX = 1.0  # 95th percentile of the frame-to-frame shift: the motion detector absorbs one pixel
LIGHT_DRIFT = 0.25  # brightness range over the run, as a share of its mean
LIGHT_STEP_PER_S = 0.10  # largest brightness change within a second, as a share of the mean
MIN_SOURCE_FPS = 8.0
IN_PLACE_S = 10.0  # an object seen this long without coming from anywhere is motion that is not traffic
WAIT_SHARE = 0.75  # warn when vehicles waited this share of the stopped time or more, and drove on
# A line one object's box covers this much of, in this share of the analysed frames or more, is
# where vehicles merge into one. On ten real recordings counted by eye: 59 % of a dusk run on a wet
# road (one blob of lamps' glare over the carriageway; 3 of 14 cars counted), 27 % at a line beside a
# queue at a stop bar (its one crossing missed), at most 2 % on the fourteen other lines; at most 1 %
# on any line of the 28 synthetic tuning cameras (seed 1).
COVERED_LINE = 0.7
COVERED_SHARE = 0.1
OUTAGE_GRACE_S = 10.0  # how long past the run's end to wait for a live camera that went down
# How wide on the ground the objects a camera follows are (the median of their medians), in
# metres. People: one 0.35-0.8 with swinging arms at the analysis scale, more for pairs side by
# side (0.51-0.54 on the example plazas). Vehicles across the traffic: 0.78-1.73 on the 28 tuning
# cameras (a diagonal view's boxes take in some length), 2.52-5.69 with their ground points in feet.
# Outside these the calibration is wrong, not the objects: feet read a person 0.5 m wide as 1.6.
WIDE_M = {"security": (0.25, 1.2), "traffic": (0.4, 2.3)}
MEASURED = 10  # fewer objects followed in the run say nothing of the calibration


@dataclass(frozen=True)
class TuneWarning:
    kind: str  # line_edge | small_objects | shake | light | monochrome | frame_rate | stride | reported_rate | slow_agent | motion_in_place | waiting | covered_line | groups | riders | calibration | idle_line | nothing_seen
    message: str


@dataclass(frozen=True, kw_only=True)
class TuneReport:
    camera_id: str
    source: str
    width: int
    height: int
    seconds: float  # of video looked at
    frames: int
    analysed: int
    source_fps: float  # the rate the frames came at, as the agent measured and followed it
    reported_fps: float  # the rate the source reported of itself
    stride: int  # every stride-th frame analysed, at the end
    agent_fps: float  # frames the agent handled per second of wall clock
    counts: dict[str, int]  # "line/direction" -> crossings
    classes: dict[str, dict[str, int]]  # "line/direction" -> class -> crossings
    zone_peaks: dict[str, int]  # zone -> most objects at once
    objects: int  # confirmed tracks seen
    object_height_px: float | None  # median box height of confirmed objects
    shake_px: tuple[float, float]  # 95th percentile and largest frame-to-frame shift
    brightness: tuple[float, float, float]  # min, mean, max of the mean grey level
    light_step_per_s: float  # largest brightness change within a second, as a share of the mean
    colour_share: float  # the most of an analysed frame's pixels in colour (0: a monochrome picture)
    analysis_size: tuple[int, int] | None  # the picture the motion detector's background model sees
    warnings: tuple[TuneWarning, ...] = field(default_factory=tuple)


# --- measuring ---------------------------------------------------------------------------------


def frame_shift(previous: np.ndarray, current: np.ndarray) -> float:
    """Global shift in pixels between two grey frames of one size (phase correlation, sub-pixel)."""
    import cv2

    window = cv2.createHanningWindow((previous.shape[1], previous.shape[0]), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(previous.astype(np.float32), current.astype(np.float32), window)
    return float(math.hypot(dx, dy))


def small_grey(image: np.ndarray, width: int = 320) -> np.ndarray:
    """A reduced grey copy for shake and light measures (they are global: detail does not help)."""
    import cv2

    scale = width / image.shape[1]
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (width, max(8, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)


def reduced_colour_share(image: np.ndarray, width: int = 160) -> float:
    """``colour_share`` of a reduced copy (the measure is global: detail does not help)."""
    import cv2

    small = cv2.resize(image, (width, max(8, round(image.shape[0] * width / image.shape[1]))), interpolation=cv2.INTER_AREA)
    return colour_share(small)


def colour_warnings(shares: Sequence[float]) -> list[TuneWarning]:
    """A picture without colour (a camera in its night or infrared mode sends grey)."""
    if not len(shares) or max(shares) >= MONOCHROME_SHARE:
        return []
    return [
        TuneWarning(
            "monochrome",
            "the picture has no colour (night or infrared mode, or an infrared filter stuck): the agent tells vehicles "
            "from the road and their shadows partly by colour, and miscounts several times as often without it, by "
            "day most of all; keep the camera in colour wherever the light allows",
        )
    ]


def line_edge_warnings(config: CameraConfig, width: int, height: int, *, share: float = EDGE_SHARE) -> list[TuneWarning]:
    warnings = []
    for line in config.lines:
        (x1, y1), (x2, y2) = line.points
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        distances = {"left": mx / width, "right": (width - mx) / width, "top": my / height, "bottom": (height - my) / height}
        edge, near = min(distances.items(), key=lambda item: item[1])
        if near < share:
            size = width if edge in ("left", "right") else height
            warnings.append(
                TuneWarning(
                    "line_edge",
                    f"line {line.id} lies {near * size:.0f} px from the {edge} edge: objects there are cut by the edge and "
                    f"may not be confirmed yet (tracking.min_hits) when they cross; move it at least {share * size:.0f} px inwards",
                )
            )
    return warnings


def size_warnings(heights: Sequence[float], *, min_px: float = MIN_OBJECT_PX) -> list[TuneWarning]:
    if not len(heights):
        return []
    heights = np.asarray(heights, np.float32)
    median, small = float(np.median(heights)), float((heights < min_px).mean())
    if median < min_px or small > SMALL_SHARE:
        return [
            TuneWarning(
                "small_objects",
                f"objects are {median:.0f} px tall (median), {small:.0%} under {min_px} px: too small to detect and classify "
                "reliably; zoom in, or count closer to the camera",
            )
        ]
    return []


def calibration_warnings(config: CameraConfig, presences: Sequence[Presence]) -> list[TuneWarning]:
    """On a calibrated camera, whether the objects it followed (``presences``) measure on its
    ground as wide as people (security) or vehicles across the traffic do: a calibration off in
    scale (ground points in feet or centimetres) makes every size, speed and group count wrong."""
    ground = config.ground_plane()
    if ground is None or len(presences) < MEASURED:
        return []
    sizes = SizeClassifier(SizeClasses(), kind=config.kind, ground=ground, crosswise=config.travel() == "leftright")
    measure = sizes.ground_width_m if config.kind == "security" else sizes.across_m
    wide = float(np.median([np.median(measure(np.asarray(presence.boxes, np.float64))) for presence in presences]))
    low, high = WIDE_M[config.kind]
    if low <= wide <= high:
        return []
    what = "people measure" if config.kind == "security" else "vehicles measure across the traffic"
    return [
        TuneWarning(
            "calibration",
            f"the {len(presences)} objects followed measure {wide:.2f} m across on the ground (median) by this camera's "
            f"calibration, where {what} {low:g}-{high:g} m: are its ground points in metres, and in the order of its image "
            "points? Sizes, speeds and the people in groups are read by it",
        )
    ]


def group_warnings(config: CameraConfig, *, learned: bool) -> list[TuneWarning]:
    """A security camera whose motion detector did not learn in the run how large one person is
    (``learned``), so it still counts a group's blob as one person."""
    if config.kind != "security" or config.detector.type != "motion" or learned:
        return []
    where = "on the ground" if config.calibration is not None else "at each row of the picture"
    return [
        TuneWarning(
            "groups",
            "people walking or standing together are one blob to the motion detector; it counts a group by its area once it "
            f"has learned how large one person is {where}, from a few hundred people seen alone, and it did not in this run "
            "(too few people, or seen too small): run tune longer or at a busier hour"
            + ("" if config.calibration is not None else ", or give the camera a calibration"),
        )
    ]


def rider_warnings(config: CameraConfig, *, learned: bool) -> list[TuneWarning]:
    """A traffic camera without a calibration, with the motion detector, on which riders abreast
    stay one object: its traffic crosses the picture sideways or diagonally, where nothing tells
    one rider's size without a calibration; or it moves up and down the picture and the detector
    did not learn in the run how wide a rider is at each row (``learned``)."""
    if config.kind != "traffic" or config.detector.type != "motion" or config.calibration is not None or not config.lines:
        return []
    if config.travel() != "updown":
        return [
            TuneWarning(
                "riders",
                "without a calibration, riders abreast are one object to the motion detector where traffic crosses the "
                "picture sideways or diagonally, and are counted as one: give the camera a calibration",
            )
        ]
    if learned:
        return []
    return [
        TuneWarning(
            "riders",
            "without a calibration, the motion detector tells riders abreast from one rider by how wide a rider is at each "
            "row, learnt from riders seen alone, and it did not learn it in this run (too little traffic, or riders seen too "
            "small): run tune longer or at a busier hour, or give the camera a calibration",
        )
    ]


def shake_warnings(shifts: Sequence[float], *, max_px: float = SHAKE_PX) -> list[TuneWarning]:
    if not len(shifts):
        return []
    p95, largest = float(np.percentile(shifts, 95)), float(np.max(shifts))
    if p95 > max_px:
        return [
            TuneWarning(
                "shake",
                f"the camera shakes: the picture moves {p95:.1f} px between analysed frames (95th percentile, largest {largest:.1f} px); "
                "sharp edges then look like motion: fix the mount or the pole",
            )
        ]
    return []


def light_step(levels: Sequence[float], analysed_fps: float) -> float:
    """Largest change of the mean brightness within one second, as a share of its mean (over a
    second, not frame to frame: sensor noise must not add up to a change of light)."""
    if len(levels) < 2 or analysed_fps <= 0:
        return 0.0
    levels = np.asarray(levels, np.float32)
    window = min(max(1, round(analysed_fps)), len(levels) - 1)
    return float(np.abs(levels[window:] - levels[:-window]).max() / max(float(levels.mean()), 1.0))


def light_warnings(levels: Sequence[float], analysed_fps: float) -> list[TuneWarning]:
    if len(levels) < 2:
        return []
    levels = np.asarray(levels, np.float32)
    mean = max(float(levels.mean()), 1.0)
    drift, step = float(levels.max() - levels.min()) / mean, light_step(levels, analysed_fps)
    warnings = []
    if drift > LIGHT_DRIFT:
        warnings.append(TuneWarning("light", f"the light changed by {drift:.0%} of its mean during the run (clouds, dusk or auto-exposure)"))
    if step > LIGHT_STEP_PER_S:
        warnings.append(
            TuneWarning("light", f"the light jumped by up to {step:.0%} within a second (auto-exposure, a cloud's shadow, lights switched on)")
        )
    if mean < 40:
        warnings.append(TuneWarning("light", f"the picture is dark (mean grey level {mean:.0f} of 255): night mode or an IR light helps"))
    return warnings


def rate_warnings(source_fps: float, agent_fps: float, *, live: bool, stride: int, reported_fps: float | None = None) -> list[TuneWarning]:
    """``source_fps``: the rate the frames came at; ``reported_fps``: the one the stream reported."""
    warnings = []
    if reported_fps is not None and abs(source_fps - reported_fps) > RATE_TOLERANCE * reported_fps:
        warnings.append(
            TuneWarning(
                "reported_rate",
                f"the stream reports {reported_fps:.1f} frames a second but sends {source_fps:.1f}: the agent follows what it "
                "sends once it has measured it, a few seconds after each start; set the camera's encoder to the rate it sends",
            )
        )
    if source_fps < MIN_SOURCE_FPS:
        warnings.append(
            TuneWarning("frame_rate", f"the camera sends {source_fps:.1f} frames a second; fast objects need {MIN_SOURCE_FPS:.0f} or more")
        )
    elif stride > AnalyticsConfig().stride_at(source_fps):  # coarser than the default for this rate
        warnings.append(
            TuneWarning(
                "stride",
                f"analytics.stride {stride} analyses {source_fps / stride:.1f} of the camera's {source_fps:.1f} frames a second; "
                f"counting needs {MIN_ANALYSES_PER_S} or more: lower it, or leave it out to follow the camera's rate",
            )
        )
    if live and agent_fps < 0.9 * source_fps:
        warnings.append(
            TuneWarning(
                "slow_agent",
                f"the agent handled {agent_fps:.1f} of {source_fps:.1f} frames a second: it drops frames; "
                f"raise analytics.stride (now {stride}) or give it more CPU",
            )
        )
    return warnings


@dataclass
class Presence:
    """One confirmed object over a tune run: where it was first seen, when, its boxes, and whether
    it came from anywhere (``camera_agents.analytics.has_arrived``)."""

    start: tuple[float, float]
    first_s: float
    last_s: float
    boxes: list[list[float]]
    arrived: bool = False

    def saw(self, anchor: tuple[float, float], box: list[float], at_s: float) -> None:
        self.last_s = at_s
        self.boxes.append(box)
        self.arrived = self.arrived or has_arrived(self.start, anchor, box)

    @property
    def usual_box(self) -> tuple[float, ...]:
        """Where it usually was: the median of each side of its boxes (now and then it merges with
        something passing, and its box grows for a frame or two)."""
        return tuple(float(v) for v in np.median(np.asarray(self.boxes), axis=0))


def in_place_warnings(presences: Sequence[Presence], width: int, height: int, *, to_file: float = 1.0) -> list[TuneWarning]:
    """Motion that stays where it is (an advertising screen, trees or a flag in the wind, water, a
    clock burnt into the picture): objects seen ``IN_PLACE_S`` or longer that never came from
    anywhere, those overlapping taken as one place, each with a mask to paste into the camera's
    file (``to_file``: the file's pixels per picture pixel, when its lines were drawn on another size)."""
    places: list[list[float]] = []  # x1, y1, x2, y2, seconds
    for p in presences:
        if p.arrived or p.last_s - p.first_s < IN_PLACE_S:
            continue
        box, seconds = p.usual_box, p.last_s - p.first_s
        for place in places:
            if box[0] <= place[2] and place[0] <= box[2] and box[1] <= place[3] and place[1] <= box[3]:
                place[:4] = [min(place[0], box[0]), min(place[1], box[1]), max(place[2], box[2]), max(place[3], box[3])]
                place[4] = max(place[4], seconds)
                break
        else:
            places.append([*box, seconds])
    warnings = []
    for n, (x1, y1, x2, y2, seconds) in enumerate(places, start=1):
        # a margin of a tenth of its size (the blob's edges come and go with what it shows), within the picture
        mx, my = 0.1 * (x2 - x1) + 2, 0.1 * (y2 - y1) + 2
        x1, y1, x2, y2 = (round(v * to_file) for v in (max(x1 - mx, 0), max(y1 - my, 0), min(x2 + mx, width), min(y2 + my, height)))
        warnings.append(
            TuneWarning(
                "motion_in_place",
                f"something moved at x {x1}-{x2}, y {y1}-{y2} for {seconds:.0f} s without coming from anywhere (an advertising "
                "screen, trees or a flag in the wind, water?): it is tracked and may count as an object in a zone; if it never "
                f"carries traffic, mask it in the camera's file: masks: [{{id: still_{n}, polygon: [[{x1}, {y1}], [{x2}, {y1}], "
                f"[{x2}, {y2}], [{x1}, {y2}]]}}]",
            )
        )
    return warnings


def wait_warnings(longest_wait_s: float, stopped_seconds: float) -> list[TuneWarning]:
    """Vehicles that stood and drove on (at a red light, in a queue) for as long as, or nearly as
    long as, a stop takes to be reported: each such wait raises a ``stopped`` incident on the wall."""
    if longest_wait_s < WAIT_SHARE * stopped_seconds:
        return []
    waited = f"vehicles stood up to {longest_wait_s:.0f} s at a red light or in a queue and drove on"
    rule = f"a vehicle standing analytics.stopped_seconds ({stopped_seconds:g} s) is reported stopped"
    said = f"{rule}, so these waits were" if longest_wait_s >= stopped_seconds else f"nearly as long as {rule}: a longer red phase would be"
    advice = math.ceil(1.5 * max(longest_wait_s, stopped_seconds))
    return [
        TuneWarning(
            "waiting",
            f"{waited}; {said}. Set stopped_seconds well above the longest red phase (here {advice} at least: "
            f"analytics: {{stopped_seconds: {advice}}}), "
            "or watch the stretch of road where a vehicle must not stop with a zone's dwell_seconds",
        )
    ]


def lines_covered(config: CameraConfig, xyxy: np.ndarray) -> list[str]:
    """The lines of which one of an analysed frame's boxes (rows of xyxy) covers ``COVERED_LINE`` or more."""
    if not len(xyxy):
        return []
    return [line.id for line in config.lines if segment_share_in_boxes(xyxy, *line.points).max() >= COVERED_LINE]


def covered_line_warnings(covered: dict[str, int], analysed: int) -> list[TuneWarning]:
    """Lines one object covered most of (``lines_covered``) in ``COVERED_SHARE`` of the ``analysed``
    frames or more (``covered``: per line, the frames it was): vehicles there are one blob to the
    motion detector, and one count."""
    return [
        TuneWarning(
            "covered_line",
            f"line {line_id}: one object covered most of it in {frames / analysed:.0%} of the analysed frames: vehicles merge into "
            "one there (a queue standing on it, lamps' glare on a wet road at dusk or at night), and its counts will be low; "
            "move it to where vehicles pass apart and do not stop",
        )
        for line_id, frames in covered.items()
        if analysed and frames >= COVERED_SHARE * analysed
    ]


def idle_line_warnings(config: CameraConfig, counts: dict[str, int], objects: int, seconds: float) -> list[TuneWarning]:
    if objects == 0:
        wrong_scale = ", or a calibration that makes everything too large to be an object" if config.calibration is not None else ""
        return [TuneWarning("nothing_seen", f"no object was tracked in {seconds:.0f} s: an empty scene, or the detector misses them{wrong_scale}")]
    return [
        TuneWarning("idle_line", f"line {line.id} counted nothing in {seconds:.0f} s although {objects} objects were tracked: does it cross their path?")
        for line in config.lines
        if not any(counts.get(f"{line.id}/{d}", 0) for d in ("in", "out"))
    ]


# --- formatting --------------------------------------------------------------------------------


def report_text(report: TuneReport) -> str:
    lines = [
        f"camera {report.camera_id} ({report.source}), {report.width}x{report.height}",
        f"looked at {report.seconds:.1f} s of video: {report.frames} frames, {report.analysed} analysed",
        (
            f"frame rate: camera {report.source_fps:.1f} fps"
            + (f" (it reports {report.reported_fps:.1f})" if report.reported_fps != report.source_fps else "")
            + f", every {report.stride} frame(s) analysed "
            f"({report.source_fps / report.stride:.1f} a second), agent {report.agent_fps:.1f} fps"
        ),
        "counts: " + (", ".join(f"{k} {v} ({_by_class(report.classes.get(k, {}))})" for k, v in sorted(report.counts.items())) or "none"),
        "zone peaks: " + (", ".join(f"{k} {v}" for k, v in sorted(report.zone_peaks.items())) or "no zones"),
        f"objects tracked: {report.objects}"
        + (f", median height {report.object_height_px:.0f} px" if report.object_height_px is not None else ""),
        f"shake: {report.shake_px[0]:.2f} px (95th percentile), {report.shake_px[1]:.2f} px largest",
        (
            f"light: mean grey {report.brightness[1]:.0f} (from {report.brightness[0]:.0f} to {report.brightness[2]:.0f}), "
            f"largest change within a second {report.light_step_per_s:.0%}"
        ),
        f"colour: up to {report.colour_share:.1%} of the picture in colour",
    ]
    if report.analysis_size is not None:
        lines.append(f"analysis: the motion detector sees the picture {report.analysis_size[0]}x{report.analysis_size[1]}")
    lines.append(f"{len(report.warnings)} warning(s)" + (":" if report.warnings else ": nothing found that will hurt counting"))
    lines += [f"  - [{w.kind}] {w.message}" for w in report.warnings]
    return "\n".join(lines) + "\n"


def _by_class(counts: dict[str, int]) -> str:
    """Crossings per class, most first: "motorbike 9, car 3"."""
    return ", ".join(f"{cls} {n}" for cls, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def report_html(report: TuneReport, picture: str) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v}</td><td>{html.escape(_by_class(report.classes.get(k, {})))}</td></tr>"
        for k, v in sorted(report.counts.items())
    )
    warnings = "".join(f"<li><b>{html.escape(w.kind)}</b>: {html.escape(w.message)}</li>" for w in report.warnings)
    summary = html.escape(report_text(report))
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<title>Camera {html.escape(report.camera_id)}: commissioning report</title>"
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1100px}img{max-width:100%;border:1px solid #888}"
        "li{margin:.3em 0}table{border-collapse:collapse}th,td{border:1px solid #bbb;padding:.2em .6em;text-align:left}</style>"
        f"<h1>Camera {html.escape(report.camera_id)}</h1>"
        f"<h2>Warnings ({len(report.warnings)})</h2>" + (f"<ul>{warnings}</ul>" if warnings else "<p>Nothing found that will hurt counting.</p>")
        + f"<h2>Picture</h2><img src='{html.escape(picture)}' alt='last analysed frame with lines, zones, objects and their trails'>"
        + f"<h2>Counts per line and class</h2><table>{rows or '<tr><td>no crossings</td></tr>'}</table>"
        + f"<h2>Summary</h2><pre>{summary}</pre></html>\n"
    )


def annotate(image: np.ndarray, config: CameraConfig, tracks, trails: Sequence[tuple[float, float]]) -> np.ndarray:
    """The picture with where objects went (their counted anchor points), the lines, zones and objects."""
    import cv2

    from camera_agents.draw import draw_config, draw_tracks

    out = image.copy()
    for x, y in trails:
        cv2.circle(out, (int(x), int(y)), 1, (255, 0, 255), -1)
    return draw_tracks(draw_config(out, config), tracks)


# --- the run -----------------------------------------------------------------------------------


def run_tune(
    config: CameraConfig, out_dir: Path, *, seconds: float = 60.0, realtime: bool = False, watching: Callable[[], None] | None = None
) -> TuneReport:
    """Play ``seconds`` of the camera's source through its pipeline; write the report folder. A
    folder that cannot be written is found before the camera is watched, not after, and named
    (``InvalidInput``). ``watching``: called once the folder is made and the camera is open, as
    the watching begins."""
    with _report_folder(out_dir):
        return _watch(config, out_dir, seconds=seconds, realtime=realtime, watching=watching or (lambda: None))


def _watch(config: CameraConfig, out_dir: Path, *, seconds: float, realtime: bool, watching: Callable[[], None]) -> TuneReport:
    import cv2

    from camera_agents.motion import MotionDetector
    from camera_agents.pipeline import CameraPipeline
    from camera_agents.sources import Frame, SourceOutage, open_source
    from ingest.contract import LineCrossing, ZoneOccupancy

    source = open_source(config.source, realtime=realtime)
    watching()
    info = source.info
    pipeline = CameraPipeline(config, width=info.width, height=info.height, fps=info.fps)
    source.want_pictures(pipeline.wants_picture)
    to_file = config.resolution.width / info.width if config.resolution is not None else 1.0  # the file's pixels a picture pixel
    config = pipeline.config  # in the source's pixels
    classes: dict[str, dict[str, int]] = {}  # "line/direction" -> class -> crossings
    zone_peaks = {zone.id: 0 for zone in config.zones}
    heights: list[float] = []
    trails: list[tuple[float, float]] = []
    presences: dict[int, Presence] = {}  # per confirmed track
    shifts: list[float] = []
    levels: list[float] = []
    colour: list[float] = []  # per analysed frame, the share of its pixels in colour
    covered = dict.fromkeys((line.id for line in config.lines), 0)  # per line, analysed frames one object covered most of it
    previous = last_image = None
    frames = analysed = next_index = 0
    first_ts = last_ts = None
    started = time.monotonic()
    try:
        while True:
            item = source.read(picture=pipeline.wants_picture(next_index))
            if item is None:
                break
            if isinstance(item, SourceOutage):
                if time.monotonic() - started > seconds + OUTAGE_GRACE_S:  # a live camera that stays down
                    break
                continue
            assert isinstance(item, Frame)
            first_ts = first_ts or item.ts
            if (item.ts - first_ts).total_seconds() >= seconds:
                break
            last_ts = item.ts
            frames += 1
            next_index = item.index + 1
            for event in pipeline.process(item.index, item.ts, item.image):
                if isinstance(event, LineCrossing):
                    by_class = classes.setdefault(f"{event.line_id}/{event.direction}", {})
                    by_class[event.cls] = by_class.get(event.cls, 0) + 1
                elif isinstance(event, ZoneOccupancy):
                    zone_peaks[event.zone_id] = max(zone_peaks.get(event.zone_id, 0), event.count)
            if item.image is None or not pipeline.wants_picture(item.index):
                continue
            analysed += 1
            last_image = item.image
            _note_objects(pipeline.last_tracks, (item.ts - first_ts).total_seconds(), presences, heights, trails)
            for line_id in lines_covered(config, pipeline.last_tracks.xyxy):
                covered[line_id] += 1
            grey = small_grey(item.image)
            levels.append(float(grey.mean()))
            colour.append(reduced_colour_share(item.image))
            if previous is not None:
                shifts.append(frame_shift(previous, grey))
            previous = grey
    finally:
        source.close()
    wall = time.monotonic() - started
    if last_image is None:
        raise InvalidInput(f"camera {config.camera_id}: its source gave no picture to look at")
    fps, stride = pipeline.fps, pipeline.stride  # as measured from the frames, when they came at another rate
    looked = (last_ts - first_ts).total_seconds() + 1 / fps if first_ts and last_ts else 0.0
    analysed_fps = analysed / looked if looked > 0 else 0.0
    counts = {key: sum(by_class.values()) for key, by_class in classes.items()}  # "line/direction" -> crossings
    warnings = [
        *line_edge_warnings(config, info.width, info.height),
        *size_warnings(heights),
        *calibration_warnings(config, list(presences.values())),
        *group_warnings(config, learned=isinstance(pipeline.detector, MotionDetector) and pipeline.detector.counts_groups),
        *rider_warnings(config, learned=isinstance(pipeline.detector, MotionDetector) and pipeline.detector.knows_riders),
        *shake_warnings(shifts),
        *light_warnings(levels, analysed_fps),
        *colour_warnings(colour),
        *rate_warnings(fps, frames / wall if wall > 0 else 0.0, live=info.live, stride=stride, reported_fps=info.fps),
        *in_place_warnings(list(presences.values()), info.width, info.height, to_file=to_file),
        *covered_line_warnings(covered, analysed),
        *idle_line_warnings(config, counts, len(presences), looked),
        *(wait_warnings(pipeline.stopped.longest_wait_s, config.analytics.stopped_seconds) if pipeline.stopped is not None else []),
    ]
    report = TuneReport(
        camera_id=config.camera_id, source=_redacted(config.source),
        width=info.width, height=info.height, seconds=round(looked, 2), frames=frames, analysed=analysed,
        source_fps=round(fps, 2), reported_fps=round(info.fps, 2), stride=stride, agent_fps=round(frames / wall, 1) if wall > 0 else 0.0,
        counts=counts, classes=classes, zone_peaks=zone_peaks, objects=len(presences),
        object_height_px=round(float(np.median(heights)), 1) if heights else None,
        shake_px=(round(float(np.percentile(shifts, 95)), 2), round(float(np.max(shifts)), 2)) if shifts else (0.0, 0.0),
        brightness=(round(min(levels), 1), round(float(np.mean(levels)), 1), round(max(levels), 1)),
        light_step_per_s=round(light_step(levels, analysed_fps), 3), colour_share=round(max(colour, default=0.0), 4),
        analysis_size=getattr(pipeline.detector, "analysis_size", None), warnings=tuple(warnings),
    )  # fmt: skip
    encoded, picture = cv2.imencode(".png", annotate(last_image, config, pipeline.last_tracks, trails))
    if not encoded:
        raise InvalidInput(f"camera {config.camera_id}: its picture could not be encoded as PNG")
    with writing(out_dir):
        (out_dir / "annotated.png").write_bytes(picture.tobytes())
        (out_dir / "report.txt").write_text(report_text(report), encoding="utf-8")
        (out_dir / "report.json").write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2), encoding="utf-8")
        (out_dir / "report.html").write_text(report_html(report, "annotated.png"), encoding="utf-8")
    return report


@contextmanager
def _report_folder(folder: Path) -> Iterator[None]:
    """``folder`` made (with its parents) before the camera is watched, so that one that cannot be
    written fails at once, named, not after a minute of watching; and taken away again, with the
    parents this made, when no report comes."""
    import errno

    made = [path for path in (folder, *folder.parents) if not path.exists()]  # innermost first
    try:
        with writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
        yield
    except BaseException:
        for path in made:
            with suppress(OSError):  # not made after all, or holding something now
                path.rmdir()
        raise


def _note_objects(tracks, at_s: float, presences: dict[int, Presence], heights: list[float], trails: list[tuple[float, float]]) -> None:
    """An analysed frame's confirmed objects, noted: their heights, their counted points, their presence."""
    confirmed = tracks.data.get("confirmed", np.ones(len(tracks), bool))
    for i in np.flatnonzero(confirmed):
        box = tracks.xyxy[i].tolist()
        heights.append(box[3] - box[1])
        anchor = ((box[0] + box[2]) / 2, box[3])
        trails.append(anchor)
        if tracks.tracker_id is None:
            continue
        track_id = int(tracks.tracker_id[i])
        if track_id in presences:
            presences[track_id].saw(anchor, box, at_s)
        else:
            presences[track_id] = Presence(start=anchor, first_s=at_s, last_s=at_s, boxes=[box])


def _redacted(source: str) -> str:
    from camera_agents.sources.video import redact

    return redact(source)
