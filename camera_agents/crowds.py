"""How many people one moving blob holds, and where they stand, on a security camera.

People standing or walking together are one blob to background subtraction: a group of five in a
plaza is one object, and a zone's occupancy and its crowding alert read one person. A blob's area,
scaled by the square of the ground's metres per pixel at its feet, is about the same for every
single person wherever they stand, and grows with each person a group holds. One person's scaled
area and height are learned from what the camera sees (``PersonSize``): most blobs in a plaza are
one person, so they are the most common ones. A blob holding several people's area is cut into
that many people (``cut_into_people``), their feet spread from its bottom up to one person's
height below its top: a group one behind the other in view stands at several depths.
The same size names what is a person: a blob under a quarter of one person's area is a piece of
someone or something small, and one beyond ``MAX_PEOPLE`` people's is not a group.

On synthetic plazas (seeds 1-6, 11,000 blobs) the scaled area of a blob went up evenly with the
people in it: 0.34 m² for one person (median), 0.66 for two, 0.94 three, 1.27 four, 1.63 five.
The most common area was 0.35-0.36 on every seed; their median or a low quantile wandered from 0.30
to 0.42 with how many groups a clip held. A blob's box alone says less: people one behind the
other in view make it taller, not wider.

Without a calibration the ground's scale at a blob's feet is one person's height at that row of
the picture (``camera_agents.scales.RowScale``), learned from what the camera sees before anything
is counted by area.
``GroupCounter`` puts it together for the motion detector of a security camera.
"""

from __future__ import annotations

import numpy as np

from camera_agents.detections import CLASS_ID, GROUP, Detections
from camera_agents.scales import MostCommon, RowScale
from camera_agents.sizes import SizeClassifier

# More people's area than this in one blob is no crowd the area can count: light the detector has
# not caught up with, or a vehicle. It is left one object. A crowd of 8-11 gathered in a plaza's
# zone made one blob of up to 11 people's area (seed 110): a limit of 8 read it as one person.
MAX_PEOPLE = 30
# Less of one person's area than this is a piece of someone (a head above a planter, a leg apart
# from its body), or something small: on synthetic plazas blobs without anyone's feet in them had
# a median of a third of a person's area, and blobs of one person 0.7 of it at their lowest tenth.
# People in view as the frame events name them were off by 1.62 a frame (median of seeds 1-13)
# with a quarter, 1.75 with 0.4: what the tracker follows is seldom a piece.
PIECE = 0.25
# A blob of this many people's area or more through which the ground's texture shows (a third of
# it) is light, not a crowd: people hide the paving they stand on. A cloud's edge sweeping a plaza
# (seed 307) was otherwise cut into people: 13 too many on one frame, crossing its gate line both ways.
LIGHT_PEOPLE = 2.0
# How wide on the ground a blob of one person is, in metres: shoulders to arms swinging, and the
# error of a box's edge at the analysis scale. Only such blobs teach one person's size.
ONE_WIDE_M = (0.35, 0.8)
# Without a calibration the ground's scale is one person's height at that row (``RowScale``), and
# a person is 0.15-1.0 of it wide: slim walkers seen level (vtest.avi, 0.3-0.4), squat ones seen
# from a high pole (the synthetic plazas, about 0.4-0.95).
ONE_WIDE_HEIGHTS = (0.15, 1.0)


class PersonSize:
    """One person's blob, its area and height scaled by the ground's metres per pixel at its
    feet, learned from the blobs seen (``observe``); ``people`` reads how many people each blob
    holds."""

    def __init__(self, *, one_wide: tuple[float, float] = ONE_WIDE_M) -> None:
        self._area = MostCommon()
        self._height = MostCommon()
        self._one_wide = one_wide

    @property
    def area(self) -> float | None:
        """One person's scaled area (m²); None until enough blobs were seen."""
        return self._area.value

    @property
    def height(self) -> float | None:
        """One person's scaled height (m); None until enough blobs were seen."""
        return self._height.value

    def observe(self, area: np.ndarray, height: np.ndarray, wide: np.ndarray) -> None:
        """Remember the scaled areas and heights of one frame's blobs one person wide (``wide``:
        their widths on the ground, in its scale's unit). Narrower, a blob is a piece of someone
        (a head over a parked car) or something small; wider, a group side by side or a vehicle."""
        one_wide = (wide >= self._one_wide[0]) & (wide <= self._one_wide[1])
        self._area.observe(area[one_wide])
        self._height.observe(height[one_wide])

    @property
    def learned(self) -> bool:
        return self._area.value is not None and self._height.value is not None

    def people(self, area: np.ndarray) -> np.ndarray:
        """How many people each blob of scaled area ``area`` holds (once ``learned``): 0 for a
        blob under ``PIECE`` of one person's area (a piece of someone, or something small) or
        beyond ``MAX_PEOPLE`` people's."""
        one = self._area.value
        assert one is not None, "one person's size is not learned yet"
        n = np.maximum(np.floor(area / one + 0.5), 1).astype(np.int64)
        n[(area < PIECE * one) | (n > MAX_PEOPLE)] = 0
        return n


def cut_into_people(xyxy: np.ndarray, people: np.ndarray, person_height: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each box cut into ``people`` boxes of equal width side by side, their bottoms spread evenly
    from the box's bottom up to ``person_height`` (in pixels, per box) below its top, each that
    tall and within the box. Returns the boxes and, per new box, the index of the box it came from."""
    source = np.repeat(np.arange(len(xyxy)), people)
    share = np.arange(len(source)) - np.repeat(np.cumsum(people) - people, people)  # each piece's place in its blob
    n = people[source].astype(np.float64)
    x1, y1, x2, y2 = (xyxy[source, k].astype(np.float64) for k in range(4))
    tall = np.clip(person_height[source], 1.0, y2 - y1)
    # The front person (the first column) at the box's bottom, the hindmost at the top's reach.
    depth = np.divide(share, n - 1, out=np.zeros_like(n), where=n > 1)
    bottom = y2 - depth * (y2 - y1 - tall)
    width = (x2 - x1) / n
    cut = np.column_stack([x1 + share * width, bottom - tall, x1 + (share + 1) * width, bottom]).astype(xyxy.dtype)
    return cut, source


class GroupCounter:
    """A security camera's blobs counted as the people they hold, by their area against one
    person's at their spot: on a calibrated camera the ground's scale in metres; without a
    calibration one person's height at that row, learned from what the camera sees."""

    def __init__(self, classifier: SizeClassifier) -> None:
        self._classifier = classifier
        calibrated = classifier.calibrated
        self._person = PersonSize() if calibrated else PersonSize(one_wide=ONE_WIDE_HEIGHTS)
        self._rows = None if calibrated else RowScale()

    @property
    def learned(self) -> bool:
        """Whether one person's size is learned: before, a blob is one object."""
        return self._person.learned

    def scale(self, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Per box (in the frame's pixels), how wide its bottom edge is on the ground, and the
        ground's scale per pixel there: a blob's area scaled by its square is about the same for
        each person wherever they stand. Calibrated, in metres; else in one person's height at
        that row, once the rows' scale is learned (None before)."""
        if self._rows is None:
            wide_m = self._classifier.ground_width_m(xyxy)
            return wide_m, wide_m / np.maximum(xyxy[:, 2] - xyxy[:, 0], 1.0)
        if not self._rows.learned:
            return None
        per_px = 1.0 / self._rows.size_px(xyxy[:, 3])
        return (xyxy[:, 2] - xyxy[:, 0]) * per_px, per_px

    def light(self, xyxy: np.ndarray, area: np.ndarray, shown: np.ndarray) -> np.ndarray:
        """Per blob (its box in the frame's pixels, its ``area`` in the frame's pixels, ``shown``:
        the share of it where the paving's texture shows, NaN where it cannot tell), whether it is
        light, not a crowd: people hide the ground they stand on, so a blob of several people's
        size through which the paving shows is light (a cloud's edge). None is before one
        person's size is learned."""
        scale = self.scale(xyxy) if self.learned else None
        if scale is None:
            return np.zeros(len(xyxy), bool)
        assert self._person.area is not None
        several = area * scale[1] ** 2 >= LIGHT_PEOPLE * self._person.area
        with np.errstate(invalid="ignore"):
            return several & (shown >= 0.3)

    def cut(self, found: Detections, area: np.ndarray, frame_height: int) -> Detections:
        """``found`` with each blob cut into the people it holds, by its area (``area``: its pixels
        in the frame's) against one person's at its spot; what holds nobody (a piece of someone,
        something small, a vehicle) is ``unknown``. Before one person's size is learned, blobs are
        named by their shape."""
        xyxy = found.xyxy
        if self._rows is not None:
            self._rows.observe(xyxy, frame_height)
        scale = self.scale(xyxy)
        if scale is None:
            return found
        wide, per_px = scale  # in metres, or in one person's height at the row without a calibration
        scaled = area * per_px**2
        person = self._person
        person.observe(scaled, (xyxy[:, 3] - xyxy[:, 1]) * per_px, wide)
        if not person.learned:
            return found
        people = person.people(scaled)
        cut, source = cut_into_people(xyxy, np.maximum(people, 1), person.height / np.maximum(per_px, 1e-6))
        named = np.where(people[source] > 0, CLASS_ID["person"], CLASS_ID["unknown"]).astype(np.int16)
        # Which blob each person came from: the tracker keeps the people it follows in a group
        # where they were heading (``Tracker``), as the cut alone lays them out anew each frame.
        return Detections(xyxy=cut, confidence=found.confidence[source], class_id=named, data={GROUP: source})
