"""Which blobs are vehicles merged, told by their size on the ground at their spot.

A calibrated camera knows how wide a rider and how long a car is wherever a blob stands; one
without a calibration whose traffic moves up and down the picture learns how wide a rider is at
each row (``camera_agents.sizes.RiderScale``) and reads sizes at that scale. A blob
wider than one rider is riders abreast, cut at a shallower valley of its profile than other blobs
(``camera_agents.blobs``), if one piece is then a rider. On traffic across the picture a blob too
deep across the lanes for its length is two vehicles in neighbouring lanes, cut between the lanes
with no valley to show it; on traffic up and down the picture, by day, riders abreast that no
profile cuts are cut where their colour changes, if each piece is then a rider.
"""

from __future__ import annotations

import numpy as np

from camera_agents.blobs import CAR_LONG_M, box_corners, cut_across_lanes, cut_by_colour, two_lanes_deep
from camera_agents.sizes import GroundScale, RiderScale, SizeClassifier

_RIDER_MAX_FOOTPRINT_M2 = 2.4  # a rider's box at most, its width on the ground times its height at that scale

Piece = tuple[int, int, int, int, float]  # x, y, w, h, fill in analysis pixels


class MergedVehicles:
    """Blobs that are two vehicles or more by their size, and whether a cut's pieces are riders."""

    def __init__(self, classifier: SizeClassifier, *, split_min_width_m: float, updown: bool, riders: RiderScale | None = None) -> None:
        self._classifier = classifier
        # Without a calibration, the scale a rider's width at each row gives, once learnt.
        self._riders = riders
        self._split_min_width_m = split_min_width_m  # a blob this wide on the ground or wider is riders abreast
        # Traffic up and down the picture: riders abreast stand side by side in it, each the
        # width of its own columns, and may be told apart by their colours.
        self._updown = updown

    def by_size(self, boxes: np.ndarray, *, dark: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per blob (``boxes`` in frame pixels), from its size on the ground (where sizes are
        known, ``_scale``): whether it is wide enough to be riders side by side; whether (traffic
        across the picture) it is too deep across the lanes for its length to be one vehicle; and
        whether (traffic up and down the picture, by day) it is riders wide and no longer than a
        car, to be cut by colour. After dark a vehicle's lamps and body differ in colour too."""
        two_wide, stacked, by_colour = (np.zeros(len(boxes), bool) for _ in range(3))
        scale = self._scale()
        if scale is None:
            return two_wide, stacked, by_colour
        across = scale.across_m(boxes)
        two_wide = across >= self._split_min_width_m
        if self._classifier.crosswise:  # calibrated only: nothing is learnt across the picture
            # Seen from the side, as traffic across the picture is, a long blob is at least
            # twice as wide as tall in the picture; a bus driving diagonally is squarer.
            sideways = boxes[:, 2] - boxes[:, 0] >= 2 * (boxes[:, 3] - boxes[:, 1])
            stacked = two_lanes_deep(scale.along_m(boxes), across, sideways)
        elif self._updown and not dark and two_wide.any():
            by_colour = two_wide & (scale.along_m(boxes) <= CAR_LONG_M)
        return two_wide, stacked, by_colour

    def holds_a_rider(self, pieces: list[Piece], inv: float, *, dark: bool) -> bool:
        """Whether the pieces of a blob cut at a shallow valley hold a rider: one is a rider wide
        on the ground (the expected size at its spot) and short, as a rider beside others is (the
        others may be two riders one behind the other, not yet cut apart); a car cut at its
        windows is not. After dark every piece must be a rider: there a vehicle's lit lamps and
        its unlit body make rider-sized pieces of one vehicle. ``inv``: frame pixels per
        analysis pixel."""
        p, rider = self._rider_sized(pieces, inv)
        if dark:
            return bool(rider.all())
        # A piece three times as long as it is wide is no vehicle: a lane's marking that came
        # along with a rider or a car, cut off from it, would become an object of its own.
        slender = np.maximum(p[:, 2], p[:, 3]) > 3 * np.minimum(p[:, 2], p[:, 3])
        return bool(rider.any() and not slender.any())

    def cut_without_a_valley(
        self, labels: np.ndarray, label: int, box: tuple[int, int, int, int], origin: tuple[int, int], colours: np.ndarray,
        solid: np.ndarray, inv: float,
    ) -> list[Piece] | None:  # fmt: skip
        """The pieces of a blob that no profile cut but that its size says is two vehicles, or None
        to keep it whole (``box`` in the labels' coordinates, the pieces in the frame's). Traffic
        across the picture: two lanes deep, it is cut between the lanes. Up and down the picture:
        riders wide, it is cut where its colour changes, if each piece is then a rider."""
        x, y, w, h = box
        ox, oy = origin
        if self._classifier.crosswise:
            return [(px + ox, py + oy, pw, ph, fill) for px, py, pw, ph, fill in cut_across_lanes(labels, label, x, y, w, h)]
        pieces = [(px + ox, py + oy, pw, ph, fill) for px, py, pw, ph, fill in cut_by_colour(labels, label, x, y, w, h, colours, solid)]
        return pieces if len(pieces) > 1 and self._riders_each(pieces, inv) else None

    def _riders_each(self, pieces: list[Piece], inv: float) -> bool:
        """Whether every piece of a blob cut by colour is a rider, filling its box as a rider's
        body does: a rider cut from its own shadow, or from a lane's marking, leaves a piece
        that is a stroke or an outline."""
        p, rider = self._rider_sized(pieces, inv)
        return bool((rider & (p[:, 4] >= 0.5)).all())

    def _rider_sized(self, pieces: list[Piece], inv: float) -> tuple[np.ndarray, np.ndarray]:
        """The pieces as an array, and per piece whether it is a rider wide on the ground (the
        expected size at its spot) and short."""
        p = np.asarray(pieces, dtype=np.float64)
        boxes = box_corners(p) * inv
        scale = self._scale()
        assert scale is not None, "only a blob whose size is known is cut for it"
        widths = scale.across_m(boxes)
        # A car cut down its middle (its two lamps at dusk, a windscreen the colour of the road)
        # gives two pieces a rider wide, but each as long as the car: riders are short.
        short = scale.footprint_m2(boxes) <= _RIDER_MAX_FOOTPRINT_M2
        return p, (widths >= 0.35) & (widths < self._split_min_width_m) & short

    def _scale(self) -> GroundScale | None:
        """What reads a blob's size in metres here: the calibration; without one, a rider's
        width learnt at each row, once learnt; else nothing."""
        if self._classifier.calibrated:
            return self._classifier
        if self._riders is not None and self._riders.learned:
            return self._riders
        return None
