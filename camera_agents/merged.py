"""Which blobs are vehicles merged, told by their size on the ground at their spot.

A calibrated camera knows how wide a rider and how long a car is wherever a blob stands; one
without a calibration whose traffic moves up and down the picture learns how wide a rider is at
each row (``camera_agents.scales.RiderScale``) and reads sizes at that scale. A blob
wider than one rider is riders abreast, cut at a shallower valley of its profile than other blobs
(``camera_agents.blobs``), if one piece is then a rider. On traffic across the picture a blob too
deep across the lanes for its length is two vehicles in neighbouring lanes, cut between the lanes
with no valley to show it; on traffic up and down the picture, by day, riders abreast that no
profile cuts are cut where their colour changes, if each piece is then a rider; on a road seen
diagonally, riders abreast touching are cut across the traffic, as the picture shows it there.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from camera_agents.blobs import CAR_LONG_M, box_corners, cut_across_lanes, cut_by_colour, two_lanes_deep
from camera_agents.scales import RiderScale
from camera_agents.sizes import GroundScale, SizeClassifier

# Riders abreast on a calibrated road seen diagonally, measured across and along the traffic in
# the picture at a blob's anchor (a rider's height, seen from the pole, adds to both). A census of
# the one-piece blobs of the tuning cameras on such roads (seeds 1-6): on oblique-diagonal one
# rider reaches 1.73 m across (median; 2.31 at the 90th percentile) and 2.63 m along, two riders
# abreast 3.79 m across (2.85 at the 10th) and 3.35 m along, a car 3.1 m across and 5.83 m along
# (4.76 at the 10th); seen from above (topdown-diagonal) one rider 1.02 m across, a car 2.14 m
# (2.27 at the 90th). Tuning seeds 1-9 of both variants, wrong counts: none cut 59; 2.3, 2.6 and
# 2.8 m across 48, 3.0 m 50, 3.3 m 52; across at least 0.85, 0.9 and 1.05 times along 48, 48, 53;
# at most 4.0, 4.5 and 5.5 m along 47-48; each piece at most 3.0, 3.3 and 3.8 m along 50, 48, 48,
# and holding at least 15, 25 and 33 % of the blob's pixels 48, 49, 49.
_ABREAST_MIN_M = 2.6  # across: wider than a car seen from above
_ABREAST_SQUARENESS = 0.9  # across at least this times along: a car is twice as long as wide
_ABREAST_MAX_LONG_M = 4.0  # along: a pair of riders is as long as one
_ABREAST_PIECE_LONG_M = 3.3  # along, each piece: no longer than one rider
_ABREAST_PIECE_SHARE = 0.15  # of the blob's pixels, each piece at least: no sliver of a vehicle's edge
_RIDER_MAX_FOOTPRINT_M2 = 2.4  # a rider's box at most, its width on the ground times its height at that scale

Piece = tuple[int, int, int, int, float]  # x, y, w, h, fill in analysis pixels


class BySize(NamedTuple):
    """Per blob, which ways its size says it may be vehicles merged."""

    two_wide: np.ndarray  # wide enough on the ground to be riders side by side
    stacked: np.ndarray  # traffic across the picture: too deep across the lanes for its length to be one vehicle
    by_colour: np.ndarray  # traffic up and down the picture, by day: riders wide and no longer than a car, to be cut by colour
    abreast: np.ndarray  # a calibrated road seen diagonally, by day: may reach across the traffic as far as riders abreast
    # There: metres on the ground per frame pixel across and along the traffic at each blob's anchor (n x 2).
    abreast_scale: np.ndarray | None = None


class MergedVehicles:
    """Blobs that are two vehicles or more by their size, and whether a cut's pieces are riders."""

    def __init__(
        self, classifier: SizeClassifier, *, split_min_width_m: float, updown: bool, riders: RiderScale | None = None,
        across: tuple[float, float] | None = None,
    ) -> None:  # fmt: skip
        self._classifier = classifier
        # A calibrated road seen diagonally: the direction across its traffic in the picture
        # (``camera_agents.geometry.across_traffic``), along which riders abreast are cut apart.
        self._across = across
        # Without a calibration, the scale a rider's width at each row gives, once learnt.
        self._riders = riders
        self._split_min_width_m = split_min_width_m  # a blob this wide on the ground or wider is riders abreast
        # Traffic up and down the picture: riders abreast stand side by side in it, each the
        # width of its own columns, and may be told apart by their colours.
        self._updown = updown

    def by_size(self, boxes: np.ndarray, *, dark: bool) -> BySize:
        """Per blob (``boxes`` in frame pixels), from its size on the ground (where sizes are
        known, ``_scale``), which ways it may be vehicles merged (``BySize``). After dark a
        vehicle's lamps and body differ in colour too: no cut by colour then."""
        none = np.zeros(len(boxes), bool)
        scale = self._scale()
        if scale is None:
            return BySize(none, none, none, none)
        across = scale.across_m(boxes)
        two_wide = across >= self._split_min_width_m
        stacked = by_colour = abreast = none
        if self._classifier.crosswise:  # calibrated only: nothing is learnt across the picture
            # Seen from the side, as traffic across the picture is, a long blob is at least
            # twice as wide as tall in the picture; a bus driving diagonally is squarer.
            sideways = boxes[:, 2] - boxes[:, 0] >= 2 * (boxes[:, 3] - boxes[:, 1])
            stacked = two_lanes_deep(scale.along_m(boxes), across, sideways)
        elif self._updown and not dark and two_wide.any():
            by_colour = two_wide & (scale.along_m(boxes) <= CAR_LONG_M)
        elif self._across is not None and not dark:
            metres_per_px = self._metres_per_px_across_and_along(boxes)
            # No blob reaches further across the traffic than its box does that way.
            ux, uy = self._across
            reach = (boxes[:, 2] - boxes[:, 0]) * abs(ux) + (boxes[:, 3] - boxes[:, 1]) * abs(uy)
            abreast = reach * metres_per_px[:, 0] >= _ABREAST_MIN_M
            return BySize(two_wide, stacked, by_colour, abreast, metres_per_px)
        return BySize(two_wide, stacked, by_colour, abreast)

    def _metres_per_px_across_and_along(self, boxes: np.ndarray) -> np.ndarray:
        """Per box (frame pixels), metres on the ground per frame pixel across and along the
        traffic at its anchor (the middle of its bottom edge), in one projection."""
        assert self._across is not None
        ux, uy = self._across
        n = len(boxes)
        anchors = np.empty((2 * n, 2))
        anchors[:n, 0], anchors[:n, 1] = (boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]
        anchors[n:] = anchors[:n]
        steps = np.empty((2 * n, 2))
        steps[:n], steps[n:] = (10 * ux, 10 * uy), (10 * uy, -10 * ux)
        return (self._classifier.ground_distance_m(anchors, anchors + steps) / 10).reshape(2, n).T

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

    def cut_abreast(
        self, labels: np.ndarray, label: int, box: tuple[int, int, int, int], origin: tuple[int, int], inv: float, scale: np.ndarray
    ) -> list[Piece] | None:  # fmt: skip
        """The two pieces of riders abreast on a road seen diagonally, or None to keep the blob
        whole (``box`` in the labels' coordinates, the pieces in the frame's). There riders abreast
        stand apart along the direction across the traffic, which neither the rows nor the columns
        of the picture follow, and touch: no profile shows a valley between them. A blob wider
        across the traffic than a car and no longer than a pair of riders is cut at its narrowest
        across it, in its middle half, if each piece is then no longer than a rider. ``scale``:
        metres per frame pixel across and along the traffic at the blob (``BySize.abreast_scale``)."""
        assert self._across is not None
        x, y, w, h = box
        ux, uy = self._across
        rows, cols = np.nonzero(labels[y : y + h, x : x + w] == label)
        across_px = cols * ux + rows * uy
        low = across_px.min()
        extent = int(across_px.max() - low) + 1
        across_m, per_along = extent * inv * scale[0], inv * scale[1]
        # Each test asks for what holds, so that a scale beyond the horizon (NaN) cuts nothing.
        if not across_m >= _ABREAST_MIN_M:
            return None
        along_px = cols * uy - rows * ux
        along_m = float(along_px.max() - along_px.min() + 1) * per_along
        if not (across_m >= _ABREAST_SQUARENESS * along_m and along_m <= _ABREAST_MAX_LONG_M):
            return None
        bins = (across_px - low).astype(np.intp)
        profile = np.bincount(bins)
        middle = np.arange(extent // 4, extent - extent // 4)
        narrowest = middle[profile[middle] == profile[middle].min()]
        cut = int(narrowest[np.abs(narrowest - extent / 2).argmin()])
        ox, oy = origin
        pieces: list[Piece] = []
        for side in (bins < cut, bins >= cut):
            if side.sum() < _ABREAST_PIECE_SHARE * len(rows):
                return None
            if not float(along_px[side].max() - along_px[side].min() + 1) * per_along <= _ABREAST_PIECE_LONG_M:
                return None
            r, c = rows[side], cols[side]
            px, py = int(c.min()), int(r.min())
            pw, ph = int(c.max()) - px + 1, int(r.max()) - py + 1
            pieces.append((px + x + ox, py + y + oy, pw, ph, len(r) / (pw * ph)))
        return pieces

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
