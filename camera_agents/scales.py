"""How large things look at each row of a camera nobody calibrated, learnt from what it sees.

Over flat ground, objects further away stand higher in the picture and look smaller. The most
common upright object's size at each row (``RowScale``) is one person's height on a security
camera, one rider's width on a road of the Vietnamese mix and one car's on an expressway; that
width read as ``RIDER_WIDE_M`` (or ``CAR_WIDE_M``) turns pixels into metres at every row
(``RiderScale``). ``MostCommon`` is the running mode both rest on."""

from __future__ import annotations

from typing import Literal

import numpy as np


class MostCommon:
    """The most common of positive values seen lately (of their logarithm, smoothed): no answer
    until ``learnt_from`` were seen, then worked out again each ``relearn_every``."""

    _REMEMBERED = 4096  # about a minute of a busy plaza at the analysis rate
    # A bandwidth of 0.15 (15 %) is about the spread of one walker's size from stride to stride.
    _BANDWIDTH = 0.15
    _EDGES = np.linspace(np.log(0.01), np.log(20.0), 401)
    _STEP = float(_EDGES[1] - _EDGES[0])
    _KERNEL = np.exp(-0.5 * (np.arange(-40, 41) * _STEP / _BANDWIDTH) ** 2)

    def __init__(self, *, learnt_from: int = 300, relearn_every: int = 200) -> None:
        self._logs = np.zeros(self._REMEMBERED)
        self._seen = 0
        self._learnt_from = learnt_from
        self._relearn_every = relearn_every
        self.value: float | None = None

    def observe(self, values: np.ndarray) -> None:
        logs = np.log(values[values > 0][-self._REMEMBERED :])
        before = self._seen
        self._logs[(before + np.arange(len(logs))) % self._REMEMBERED] = logs
        self._seen += len(logs)
        if self._seen >= self._learnt_from and (
            self.value is None or self._seen // self._relearn_every != before // self._relearn_every
        ):
            counts, _ = np.histogram(
                self._logs[: min(self._seen, self._REMEMBERED)],
                bins=len(self._EDGES) - 1,
                range=(self._EDGES[0], self._EDGES[-1]),
            )
            peak = int(np.argmax(np.convolve(counts, self._KERNEL, mode="same")))
            self.value = float(np.exp(self._EDGES[0] + (peak + 0.5) * self._STEP))


class RowScale:
    """How large the most common upright object is at each row of an uncalibrated camera's
    picture, learned from what it sees: over flat ground objects further away stand higher in the
    picture and look smaller, their size in pixels about a straight line of the row they stand
    on. In each of ``BANDS`` bands of rows the most common ``measure`` ("height" or "width") of
    blobs not wider than tall is learned; a line through the bands learned gives every row's. On a
    security camera most such blobs are one person (their height); on a road of the Vietnamese
    mix, one rider seen from behind or ahead (their width)."""

    BANDS = 8
    LEARNT_FROM = 60  # blobs in a band before it says how large objects are there
    _LEAST_PX = 6.0  # smaller blobs (their measure) are specks and pieces at any row

    def __init__(self, *, measure: Literal["height", "width"] = "height", learnt_from: int = LEARNT_FROM) -> None:
        self._bands = [MostCommon(learnt_from=learnt_from, relearn_every=learnt_from // 2) for _ in range(self.BANDS)]
        self._line: tuple[float, float] | None = None
        self._measure = measure

    def observe(self, xyxy: np.ndarray, frame_height: int) -> None:
        """Remember one frame's blobs (boxes in the frame's pixels)."""
        width, height = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
        size = height if self._measure == "height" else width
        upright = (height >= width) & (size >= self._LEAST_PX)
        band = np.minimum((xyxy[:, 3] / frame_height * self.BANDS).astype(np.int64), self.BANDS - 1)
        before = [memory.value for memory in self._bands]
        for k in np.unique(band[upright]).tolist():
            # Fractions of the picture's height: the range MostCommon reads.
            self._bands[k].observe(size[upright & (band == k)] / frame_height)
        after = [memory.value for memory in self._bands]
        if after != before and sum(value is not None for value in after) >= 2:
            self._line = self._fit(frame_height)  # only when a band learned anew: most frames change none

    def _fit(self, frame_height: int) -> tuple[float, float]:
        """Size in pixels = slope * row + offset through the learned bands. A line that would
        have objects shrink towards the camera (a camera looking straight down, or too few bands
        apart) is flat at the bands' median size."""
        rows = np.array([(k + 0.5) / self.BANDS * frame_height for k, m in enumerate(self._bands) if m.value is not None])
        tall = np.array([m.value * frame_height for m in self._bands if m.value is not None])
        slope, offset = np.polyfit(rows, tall, 1)
        if slope <= 0:
            return 0.0, float(np.median(tall))
        return float(slope), float(offset)

    @property
    def learned(self) -> bool:
        return self._line is not None

    def size_px(self, row: np.ndarray) -> np.ndarray:
        """The most common upright object's size (one person's height, one rider's width) in
        pixels standing on ``row`` (once ``learned``), never under a speck's."""
        assert self._line is not None, "the rows' scale is not learned yet"
        slope, offset = self._line
        return np.maximum(slope * row + offset, self._LEAST_PX)


# How wide the most common upright blob is on a road of the Vietnamese mix (one rider seen from
# behind or ahead), in metres as a calibration reads a box's width on the ground: learnt without
# the calibration on the tuning cameras whose traffic moves up and down the picture (seeds 1-3,
# 72 cameras, read at their lines) 0.74-1.33 m, median 0.886.
RIDER_WIDE_M = 0.89
# How wide a car's box is, read the same way, where cars are the most common vehicle (an
# expressway): a car is 1.7-1.85 m wide with its mirrors. On three real motorways and freeways with
# few motorbikes, vehicles named right: 7 of 49 read as riders, 33 of 49 at 1.8 m, 31 at 1.9 m.
CAR_WIDE_M = 1.8


class RiderScale:
    """Metres per pixel at each row of an uncalibrated traffic camera whose traffic moves up and
    down the picture, learnt from what it sees: the most common upright blob's width at that row
    (``RowScale``) is ``wide_m``, a rider's (``RIDER_WIDE_M``) unless the road's most common
    vehicle is a car (``CAR_WIDE_M``). A box's height is read at the same scale, as a calibrated
    camera reads a box's footprint. It tells riders abreast from one rider without a calibration,
    and a vehicle's class by its width; no more (the joins of a vehicle's pieces still want one)."""

    def __init__(self, *, wide_m: float = RIDER_WIDE_M) -> None:
        self._wide_m = wide_m  # the most common upright blob's width, m
        # A rider's width per band from 10 blobs (60 for a person's height): a road shows many
        # riders a frame, and riders abreast are cut only once it is learnt. Uncalibrated tuning
        # cameras, seeds 1-3: 60 blobs 214 wrong counts, 35 207, 20 199, 10 182 (learnt after
        # 80-130 analysed frames at 60; side-by-side 41 -> 8 wrong at 10).
        self._rows = RowScale(measure="width", learnt_from=10)

    @classmethod
    def for_road(cls, most_common: str) -> RiderScale:
        """The scale of a road whose most common vehicle is ``most_common`` ("motorbike" or "car")."""
        return cls(wide_m=CAR_WIDE_M if most_common == "car" else RIDER_WIDE_M)

    def observe(self, xyxy: np.ndarray, frame_height: int) -> None:
        """Remember one analysed frame's objects (boxes in the frame's pixels)."""
        self._rows.observe(xyxy, frame_height)

    @property
    def learned(self) -> bool:
        return self._rows.learned

    def across_m(self, xyxy: np.ndarray) -> np.ndarray:
        """How wide each box is, in metres (once ``learned``)."""
        return (xyxy[:, 2] - xyxy[:, 0]) * self._metres_per_px(xyxy)

    def along_m(self, xyxy: np.ndarray) -> np.ndarray:
        """How tall each box is, in metres at its bottom row's scale (once ``learned``)."""
        return (xyxy[:, 3] - xyxy[:, 1]) * self._metres_per_px(xyxy)

    def footprint_m2(self, xyxy: np.ndarray) -> np.ndarray:
        """Each box's width times its height, in square metres at its bottom row's scale."""
        per_px = self._metres_per_px(xyxy)
        return (xyxy[:, 2] - xyxy[:, 0]) * per_px * ((xyxy[:, 3] - xyxy[:, 1]) * per_px)

    def _metres_per_px(self, xyxy: np.ndarray) -> np.ndarray:
        return self._wide_m / self._rows.size_px(xyxy[:, 3])
