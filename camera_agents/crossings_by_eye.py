"""Crossings an installer counted by eye on a recording of a camera, and the agent's counts
scored against them: how a city learns whether one of its own cameras counts well before its
figures are trusted.

The synthetic cameras and the real recordings of ``python -m bench footage`` say how the agent
counts in general; a city's own camera may be unlike all of them (a junction denser than any, a
low frame rate, glare after dark). The installer records a minute or two of it, draws the
line-scan picture of each counting line (``line_scans``: the pixels along the line, one column a
frame, so that each vehicle that crosses is one blob), counts the crossings off it into a file
(``CrossingsByEye``), and has the agent count the same recording against it (``ioc agent
linescan`` and ``ioc agent verify``). The scoring is the benchmarks' own
(``camera_agents.evaluation.score_crossings``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from camera_agents.evaluation import CrossingScore, score_crossings
from ingest.config_files import ConfigFileError, YamlFile, read_yaml_file, text_matching, validation_issues
from ingest.contract import LineCrossing

# What one counts by eye: every road user that crosses, bicycles included (people on foot do not count).
CountedClass = Literal["motorbike", "bicycle", "car", "bus_truck"]
CrossingKey = text_matching(r"^[A-Za-z0-9_.:-]+/(in|out)$", "a line's id and a direction, such as stopline/in or stopline/out")

# Frames within which a count matches a crossing counted by eye: the eye puts a crossing where the
# vehicle's middle is on the line, the agent counts it once the vehicle is clear of it (a long
# vehicle, a slow one at a stop bar, later), the benchmarks' real recordings 25.
TOLERANCE_FRAMES = 25


class CrossingsByEyeError(ConfigFileError):
    """A file of crossings counted by eye that cannot be used; ``issues`` name file, line, key
    path and problem."""

    kind = "file of crossings counted by eye"


class CrossingsByEye(BaseModel):
    """The crossings of a recording counted by eye: for each line and direction (``LINE/in``,
    ``LINE/out``), the frame (0-based, as the recording decodes) at which each vehicle's middle was
    on the line, and, where named, each one's class in the same order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    crossings: dict[CrossingKey, list[Annotated[int, Field(ge=0)]]] = Field(  # type: ignore[valid-type]
        description="Per line and direction (LINE/in or LINE/out), the frame of each crossing counted by eye.",
    )
    classes: dict[CrossingKey, list[CountedClass]] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="Per line and direction, each crossing's class, in the order of its frames (optional).",
    )
    first_frame: int = Field(
        default=0, ge=0,
        description="Crossings before this frame are left out: vehicles already on a line as the recording starts, "
                    "which the agent never saw arrive.",
    )
    end_frame: int | None = Field(
        default=None, ge=1,
        description="Crossings from this frame on are left out (a vehicle half across as the recording ends); "
                    "by default the recording's last frames, as many as the tolerance.",
    )
    tolerance_frames: int = Field(
        default=TOLERANCE_FRAMES, ge=1, le=250, description="Frames within which a count matches a crossing counted by eye."
    )

    @model_validator(mode="after")
    def _classes_follow_crossings(self) -> CrossingsByEye:
        for key, named in self.classes.items():
            frames = self.crossings.get(key)
            if frames is None:
                raise ValueError(f"classes names {key}, which crossings does not list")
            if len(named) != len(frames):
                raise ValueError(f"classes of {key}: {len(named)} named for {len(frames)} crossings; name one class per crossing, in order")
        return self

    @property
    def lines(self) -> set[str]:
        """The ids of the lines counted."""
        return {_line_and_direction(key)[0] for key in self.crossings}

    def truth(self) -> tuple[CountedByEye, ...]:
        """Every crossing counted, with its class where named ("unknown" where not)."""
        return tuple(
            CountedByEye(frame, cls, *_line_and_direction(key))
            for key, frames in self.crossings.items()
            for frame, cls in zip(frames, self.classes.get(key, ["unknown"] * len(frames)), strict=True)
        )  # fmt: skip

    def score(self, counted: Iterable[LineCrossing], *, frames_read: int, first_frame: int | None = None) -> CrossingScore:
        """The agent's ``counted`` crossings over a recording of ``frames_read`` frames against these
        (``first_frame``: instead of the file's, as a benchmark leaves out its recordings' first seconds)."""
        end = self.end_frame if self.end_frame is not None else max(frames_read - self.tolerance_frames, 0)
        start = self.first_frame if first_frame is None else first_frame
        return score_crossings(self.truth(), counted, tolerance_frames=self.tolerance_frames, clip_frames=end + self.tolerance_frames, first_frame=start)


@dataclass(frozen=True, slots=True)
class CountedByEye:
    """One crossing counted by eye (``camera_agents.evaluation.TrueCrossing``): no object id."""

    frame_index: int
    cls: str
    line_id: str
    direction: str
    object_id: int = -1


def load_crossings_by_eye(path: str | Path, *, lines: Iterable[str] | None = None) -> CrossingsByEye:
    """Read and check a file of crossings counted by eye; ``lines``: the camera's line ids, each
    counted line must be one of them. Raises ``CrossingsByEyeError`` naming every problem with
    its line."""
    document = read_yaml_file(path, error=CrossingsByEyeError)
    return _validated(document, lines)


def _validated(document: YamlFile, lines: Iterable[str] | None) -> CrossingsByEye:
    if not isinstance(document.data, dict):
        raise CrossingsByEyeError([document.issue((), "a file of crossings counted by eye is a mapping with a crossings key")])
    try:
        counts = CrossingsByEye.model_validate(document.data)
    except ValidationError as exc:
        raise CrossingsByEyeError(validation_issues(exc, document, unknown_key=_UNKNOWN_KEY)) from None
    if lines is not None:
        known = set(lines)
        unknown = [(key, line) for key in counts.crossings if (line := _line_and_direction(key)[0]) not in known]
        if unknown:
            raise CrossingsByEyeError(
                [document.issue(("crossings", key), f"the camera has no line {line!r} (its lines: {', '.join(sorted(known))})") for key, line in unknown]
            )
    return counts


def _line_and_direction(key: str) -> tuple[str, str]:
    """A key of the file (``LINE/in``, ``LINE/out``) as its line's id and its direction."""
    line, direction = key.rsplit("/", 1)
    return line, direction


_UNKNOWN_KEY = "unknown key (allowed: crossings, classes, first_frame, end_frame, tolerance_frames)"


def template(line_ids: Sequence[str]) -> str:
    """A file of crossings counted by eye to fill in, for a camera with these lines."""
    keys = [f"{line}/{direction}" for line in line_ids for direction in ("in", "out")]
    width = max(len(key) for key in keys) + 1
    crossings = "\n".join(f"  {key + ':':<{width}} []" for key in keys)
    classes = "\n".join(f"  # {key + ':':<{width}} []" for key in keys)
    return (
        "# Crossings counted by eye on one recording of this camera, for `ioc agent verify`.\n"
        "# For each line and direction, the frame (0-based, as printed on the line-scan pictures) at which\n"
        "# each vehicle's middle is on the line. Every road user that crosses counts, bicycles included;\n"
        "# people on foot do not. 'in' is the way the line's in_direction arrow points.\n"
        "crossings:\n"
        f"{crossings}\n"
        "# Optional: each crossing's class (motorbike, bicycle, car, bus_truck), in the order of its frames.\n"
        "# classes:\n"
        f"{classes}\n"
        "# Vehicles already on a line as the recording starts: leave out the crossings before this frame.\n"
        "first_frame: 0\n"
    )


def line_scans(frames: Iterable[np.ndarray], lines: Sequence[Sequence[Sequence[float]]]) -> list[np.ndarray]:
    """For each line (two points), the pixels along it through ``frames`` (BGR pictures), one
    column a frame: a (pixels along the line) x (frames) x 3 picture in which each vehicle that
    crosses the line is one blob, as wide as the frames it took to cross; its first row is the
    line's first point. One pass over the frames, which are not kept."""
    samples = []
    for (x0, y0), (x1, y1) in lines:
        n = max(int(round(np.hypot(x1 - x0, y1 - y0))), 2)
        samples.append((np.linspace(x0, x1, n, dtype=np.float32)[:, None], np.linspace(y0, y1, n, dtype=np.float32)[:, None]))
    columns: list[list[np.ndarray]] = [[] for _ in samples]
    for frame in frames:
        for taken, (xs, ys) in zip(columns, samples):
            taken.append(cv2.remap(frame, xs, ys, cv2.INTER_LINEAR)[:, 0])
    return [np.stack(taken, axis=1) if taken else np.zeros((len(xs), 0, 3), np.uint8) for taken, (xs, _) in zip(columns, samples)]


def scan_picture(scan: np.ndarray, *, first_frame: int = 0, per_row: int = 250, zoom: int = 2) -> np.ndarray:
    """A line-scan (``line_scans``) laid out to count from: rows of ``per_row`` frames, one below
    the other, each under a band that prints the frame number every 25 frames, enlarged ``zoom``
    times. ``first_frame``: the frame of the scan's first column."""
    pixels, frames = scan.shape[:2]
    rows = []
    for start in range(0, max(frames, 1), per_row):
        part = scan[:, start : start + per_row]
        part = np.pad(part, ((0, 0), (0, per_row - part.shape[1]), (0, 0)))
        part = cv2.resize(part, (per_row * zoom, pixels * zoom), interpolation=cv2.INTER_NEAREST)
        band = np.zeros((16, part.shape[1], 3), np.uint8)
        for tick in range(0, per_row, 25):
            number = first_frame + start + tick
            cv2.line(part, (tick * zoom, 0), (tick * zoom, 4), (0, 255, 255), 1)
            cv2.putText(band, str(number), (tick * zoom + 1, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1)
        rows += [band, part]
    return np.vstack(rows)
