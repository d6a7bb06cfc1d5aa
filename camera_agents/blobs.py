"""Blobs of foreground labelled (``components``) and cut into the objects they hold: pure
geometry on a labelled mask.

Each cut returns pieces as (x, y, w, h, fill) in the labels' pixels, fill being the piece's
share of its box; a blob that should not be cut comes back whole. The motion detector chooses
which cut a blob gets (from its size on the ground and the way traffic moves); nothing here
reads a camera's picture but the colours handed to ``cut_by_colour``.
"""

from __future__ import annotations

import cv2
import numpy as np


def components(foreground: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, tuple[int, int]]:
    """``cv2.connectedComponentsWithStats(foreground, connectivity=8)`` (but for the background's
    row of stats, left unset), labelled within the foreground's bounding box only: OpenCV's
    statistics visit every pixel, the empty road as well. The box starts on even coordinates, so
    the labeller's 2x2 blocks, and with them the order of the labels, are those of the whole frame.
    Returned: the count, the labels of the box only (outside it every label is 0, and nothing
    looks there), the statistics in frame pixels, and the box's top-left corner in the frame."""
    x, y, w, h = cv2.boundingRect(foreground)
    if w == 0:
        return 1, np.zeros((0, 0), np.int32), np.zeros((1, 5), np.int32), (0, 0)
    x0, y0 = x & ~1, y & ~1
    x1, y1 = min((x + w + 1) & ~1, foreground.shape[1]), min((y + h + 1) & ~1, foreground.shape[0])
    # Grana's 2x2-block labeller: the labels OpenCV's default (Spaghetti) gives, in the same
    # order, at half its time with statistics on one thread (measured 0.055 vs 0.107 ms a frame).
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(foreground[y0:y1, x0:x1], 8, cv2.CV_32S, cv2.CCL_BBDT)
    stats[:, cv2.CC_STAT_LEFT] += x0
    stats[:, cv2.CC_STAT_TOP] += y0
    return count, labels, stats, (x0, y0)


def with_holes_filled(foreground: np.ndarray, *, largest: tuple[int, int]) -> np.ndarray:
    """``foreground`` (0 or 255) and the empty pixels it encloses, those no path of empty pixels
    (4-connected) links to the picture's edge, in holes that hold a 2x2 square and are at most
    ``largest`` (width, height) across. Thinner holes are the sensor's noise: filled, they make a
    speckled blob of light solid enough to pass for an object (and the closing that follows
    fills those that must be). A flood of the empty pixels from outside the edge finds the holes:
    0.03 ms a frame, against 0.12 for filling their contours."""
    outside = cv2.copyMakeBorder(foreground, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    cv2.floodFill(outside, None, (0, 0), 255)  # the foreground stays 255, the holes alone 0
    holes = opened_2x2(cv2.bitwise_not(outside[1:-1, 1:-1]))
    _, _, w, h = cv2.boundingRect(holes)
    if w == 0:
        return foreground
    if w > largest[0] or h > largest[1]:  # one hole at least too large: each measured
        _, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
        small = (stats[:, cv2.CC_STAT_WIDTH] <= largest[0]) & (stats[:, cv2.CC_STAT_HEIGHT] <= largest[1])
        small[0] = False  # the label of everything else
        holes = np.where(small[labels], 255, 0).astype(np.uint8)
    return cv2.bitwise_or(foreground, holes)


def opened_2x2(mask: np.ndarray) -> np.ndarray:
    """``mask`` opened by a 2x2 square: what is thinner than two pixels taken out. The two anchors
    cancel each other's half-pixel shift (one even-sized morphology step moves a blob by a whole
    pixel)."""
    return cv2.dilate(cv2.erode(mask, _SQUARE, anchor=(1, 1)), _SQUARE, anchor=(0, 0))


_SQUARE = np.ones((2, 2), np.uint8)


def split_merged(
    labels: np.ndarray, label: int, x: int, y: int, w: int, h: int, area: int, *, column_depth: float, row_depth: float = 0.3,
    depth: int = 2, opened: np.ndarray | None = None, row_neck: float = 0.0,
) -> list[tuple[int, int, int, int, float]]:
    """One blob, or its parts where its column profile (riders side by side) or row profile (a
    vehicle close behind another) falls to a valley of at most ``*_depth`` of the lower peak
    beside it; each part is split again, ``depth`` times at most. With ``opened`` (the foreground
    before gaps were closed, same size as ``labels``) a column the closing alone filled is a cut
    too: the road showing between riders abreast, a pixel or two wide at the analysis scale."""
    whole = [(x, y, w, h, area / max(w * h, 1))]
    mask = labels[y : y + h, x : x + w] == label
    gaps = None if opened is None else mask & (opened[y : y + h, x : x + w] > 0)
    for axis, limit in ((0, column_depth), (1, row_depth)):
        cut = _gap(gaps.sum(axis=0)) if axis == 0 and gaps is not None else None
        if cut is None and axis == 1 and row_neck > 0:
            # Neighbours offset along the road in two lanes (oblique riders, a car passing a
            # rider) touch at a neck a row or two thick, which smoothing the profile would hide.
            # Only a neck between parts side by side as well: one vehicle's lamps and body, one
            # above the other, also meet at a neck.
            cut = _gap(mask.sum(axis=1), limit=row_neck)
            if cut is not None and not _staggered(mask[:cut].any(axis=0), mask[cut:].any(axis=0)):
                cut = None
        if cut is None:
            cut = _valley(mask.sum(axis=axis).astype(np.float32), limit)
        if cut is None and axis == 1 and row_neck > 0 and area < 0.7 * w * h:
            # Neither profile dips between neighbours in two lanes that overlap at a corner, as an
            # oblique camera sees them: the far one's bottom hidden by the near one's top. The
            # blob is then a staircase, cut where its parts above and below stand apart, or
            # beside each other: the last test, so it may turn the cut (``axis``) to a column.
            cut, axis = _stair(mask)
        if cut is None:
            continue
        halves = (mask[:, :cut], mask[:, cut:]) if axis == 0 else (mask[:cut], mask[cut:])
        parts: list[tuple[int, int, int, int, float]] = []
        for half, (ox, oy) in zip(halves, ((0, 0), (cut, 0)) if axis == 0 else ((0, 0), (0, cut))):
            bounds = _bounds(half)
            if bounds is None:
                return whole
            bx, by, pw, ph = bounds
            px, py = x + ox + bx, y + oy + by
            count = int(half.sum())
            if depth > 1 and max(pw, ph) >= 8:
                sub = np.zeros_like(labels[py : py + ph, px : px + pw])
                sub[half[by : by + ph, bx : bx + pw]] = 1
                sub_opened = None if opened is None else opened[py : py + ph, px : px + pw]
                parts.extend(
                    (px + a, py + b_, c, d, e)
                    for a, b_, c, d, e in split_merged(
                        sub, 1, 0, 0, pw, ph, count, column_depth=column_depth, row_depth=row_depth, depth=depth - 1, opened=sub_opened,
                        row_neck=row_neck,
                    )
                )
            else:
                parts.append((px, py, pw, ph, count / max(pw * ph, 1)))
        return parts
    return whole


def _bounds(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box (x, y, w, h) of a mask's pixels, or None when they span under two rows or columns."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) < 2 or len(cols) < 2:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


# On a camera looking across the road, how deep across the lanes (in metres on the ground, a
# vehicle's height seen from the pole included) one vehicle's blob can be for its length along
# them: a rider (up to 2.8 m long) 3 m, a car (up to 5.5 m) 4.5 m. On the tuning cameras, 99 in
# 100 single riders and cars stay under 2.5 and 4.1 m, while nine in ten pairs of vehicles in
# neighbouring lanes, the far one's lower part hidden, reach 3.3 m or more. A longer blob (a bus,
# or vehicles in file) is two lanes deep from 6 m: a bus's roof hides the lower part of what
# rides in the lane beyond it. On the tuning cameras across the road, 22 in 1,839 longer blobs
# of one vehicle reach 6 m, and 485 in 620 of two vehicles or more.
_RIDER_LONG_M, _RIDER_DEEP_M = 2.8, 3.0
CAR_LONG_M, _CAR_DEEP_M = 5.5, 4.5
_LONG_DEEP_M = 6.0


def two_lanes_deep(along: np.ndarray, across: np.ndarray, sideways: np.ndarray) -> np.ndarray:
    """Per blob, whether it is too deep across the lanes for its length along them to be one
    vehicle (both in metres on the ground). A long blob is judged only when ``sideways`` (seen
    from the side in the picture)."""
    rider = (along <= _RIDER_LONG_M) & (across >= _RIDER_DEEP_M)
    car = (along > _RIDER_LONG_M) & (along <= CAR_LONG_M) & (across >= _CAR_DEEP_M)
    long = (along > CAR_LONG_M) & (across >= _LONG_DEEP_M) & sideways
    return rider | car | long


def cut_across_lanes(labels: np.ndarray, label: int, x: int, y: int, w: int, h: int) -> list[tuple[int, int, int, int, float]]:
    """A blob of traffic across the picture cut in two between the lanes, at its narrowest row in
    its middle half (the row nearest the middle among the narrowest): two vehicles in neighbouring
    lanes, the near one hiding the far one's lower part, show no valley to cut at."""
    mask = labels[y : y + h, x : x + w] == label
    whole = [(x, y, w, h, float(mask.sum()) / max(w * h, 1))]
    if h < 6:
        return whole
    profile = mask.sum(axis=1)
    rows = np.arange(h // 4, h - h // 4)
    narrowest = rows[profile[rows] == profile[rows].min()]
    cut = int(narrowest[np.abs(narrowest - h / 2).argmin()])
    return _halves(mask, x, y, cut, rows=True) or whole


def _halves(mask: np.ndarray, x: int, y: int, cut: int, *, rows: bool) -> list[tuple[int, int, int, int, float]] | None:
    """A blob's mask (its box at ``x``, ``y``) cut before row (``rows``) or column ``cut``: the two
    pieces (x, y, w, h, fill), or None when either spans under two rows or columns."""
    pieces = []
    for start, half in ((0, mask[:cut] if rows else mask[:, :cut]), (cut, mask[cut:] if rows else mask[:, cut:])):
        bounds = _bounds(half)
        if bounds is None:
            return None
        bx, by, bw, bh = bounds
        px, py = (x + bx, y + start + by) if rows else (x + start + bx, y + by)
        pieces.append((px, py, bw, bh, float(half.sum()) / (bw * bh)))
    return pieces


# Riders abreast told apart by colour (traffic up and down the picture, by day): the two sides
# of the cut differ in mean colour by at least this much (BGR distance, grey levels), and each
# side shows a colour on at least this share of its pixels, a colour being a spread of at least
# this much between the pixel's strongest and weakest channel. A rider's black shadow, the grey
# road a low bitrate smears around a rider, and the white of a lane's marking show none: cut
# from a rider, each would be an object of its own. Chosen on the tuning cameras; riders abreast
# in grey, black or white are not told apart this way.
_COLOUR_APART = 50.0
_COLOURED_SHARE = 0.4
_COLOUR_SPREAD = 40


def cut_by_colour(
    labels: np.ndarray, label: int, x: int, y: int, w: int, h: int, colours: np.ndarray, solid: np.ndarray
) -> list[tuple[int, int, int, int, float]]:
    """One blob of traffic up and down the picture, or its two parts left and right of the
    column where the mean colour of its solid pixels (``solid``: the foreground without cast
    shadows; ``colours``: the frame at the analysis scale; both the size of ``labels``) changes
    most, in the blob's middle half, when both sides are coloured and far apart in colour:
    riders abreast, of two colours, that no profile tells apart."""
    mask = (labels[y : y + h, x : x + w] == label) & (solid[y : y + h, x : x + w] > 0)
    whole = [(x, y, w, h, float(mask.sum()) / max(w * h, 1))]
    if w < 4:
        return whole
    pixels = colours[y : y + h, x : x + w].astype(np.float32)
    counts = mask.sum(axis=0).cumsum().astype(np.float32)  # solid pixels left of each column's right edge
    sums = (pixels * mask[..., None]).sum(axis=0).cumsum(axis=0)  # and their colours' sums
    cuts = np.arange(max(w // 4, 1), w - w // 4)  # a cut before this column
    left_n, right_n = counts[cuts - 1], counts[-1] - counts[cuts - 1]
    enough = (left_n >= 4) & (right_n >= 4)
    if not enough.any():
        return whole
    with np.errstate(invalid="ignore", divide="ignore"):
        apart = np.linalg.norm(sums[cuts - 1] / left_n[:, None] - (sums[-1] - sums[cuts - 1]) / right_n[:, None], axis=1)
    apart = np.where(enough, apart, 0.0)
    best = int(apart.argmax())
    if apart[best] < _COLOUR_APART:
        return whole
    cut = int(cuts[best])
    coloured = (pixels.max(axis=2) - pixels.min(axis=2) >= _COLOUR_SPREAD) & mask
    for side in (slice(0, cut), slice(cut, w)):
        if coloured[:, side].sum() < _COLOURED_SHARE * mask[:, side].sum():
            return whole
    return _halves(mask, x, y, cut, rows=False) or whole


def split_turned(
    labels: np.ndarray, label: int, x: int, y: int, w: int, h: int, area: int, *, opened: np.ndarray | None = None, **depths: float
) -> list[tuple[int, int, int, int, float]]:
    """``split_merged`` on the picture turned a quarter (transposed views, no copy): its columns
    across the traffic and its rows along it, as on a camera that looks along the road."""
    pieces = split_merged(labels.T, label, y, x, h, w, area, opened=None if opened is None else opened.T, **depths)
    return [(py, px, ph, pw, fill) for px, py, pw, ph, fill in pieces]


_SMOOTH3 = np.ones(3, np.float32) / 3  # a 3-tap moving average, made once


def _stair(mask: np.ndarray) -> tuple[int | None, int]:
    """Where a blob is two parts, one above the other or one beside the other, whose spans the
    other way overlap by at most a third of the narrower, each holding a sixth of the blob at
    least and filling half of its own box: ``(cut, axis)`` as for a profile's cut (axis 1: a
    row, 0: a column), or ``(None, 1)``. Lines of a single pixel are noise, left out of the spans."""
    h, w = mask.shape
    a, b = max(h // 3, 1), max(w // 3, 1)
    if (mask[:a, :b].any() or mask[-a:, -b:].any()) and (mask[:a, -b:].any() or mask[-a:, :b].any()):
        return None, 1  # two such parts leave two opposite corners of the box empty: most blobs fill one of each
    best: tuple[float, int | None, int] = (0.34, None, 1)
    total = int(mask.sum())
    for axis, m in ((1, mask), (0, mask.T)):
        length, width = m.shape
        if length < 6:
            continue
        counts = m.sum(axis=1)
        spanned = counts >= 2  # the lines whose span counts
        first = np.where(spanned, m.argmax(axis=1), width)
        last = np.where(spanned, width - 1 - m[:, ::-1].argmax(axis=1), -1)
        cuts = np.arange(3, length - 2)  # three lines on either side at least
        left_a, right_a = np.minimum.accumulate(first)[cuts - 1], np.maximum.accumulate(last)[cuts - 1]
        left_b, right_b = np.minimum.accumulate(first[::-1])[::-1][cuts], np.maximum.accumulate(last[::-1])[::-1][cuts]
        narrower = np.minimum(right_a - left_a, right_b - left_b) + 1
        overlap = np.minimum(right_a, right_b) - np.maximum(left_a, left_b) + 1
        above = counts.cumsum()[cuts - 1]
        below = total - above
        # Each part a body, solid in its own box: a thin slanted stroke (a lane's edge under
        # shake, a trail) is a staircase too, of steps one pixel high.
        solid_a = above >= 0.5 * cuts * (right_a - left_a + 1)
        solid_b = below >= 0.5 * (length - cuts) * (right_b - left_b + 1)
        balanced = (narrower >= 3) & (np.minimum(above, below) >= 0.15 * total) & solid_a & solid_b
        share = np.where(balanced, overlap / np.maximum(narrower, 1), np.inf)
        at = int(share.argmin())
        if share[at] <= best[0]:
            best = (float(share[at]), int(cuts[at]), axis)
    return best[1], best[2]


def _staggered(upper: np.ndarray, lower: np.ndarray) -> bool:
    """Whether two parts' column spans (boolean, one per column) overlap by at most half the
    narrower one: objects beside each other as well as one behind the other."""
    a, b = np.flatnonzero(upper), np.flatnonzero(lower)
    if not len(a) or not len(b):
        return False
    overlap = min(a[-1], b[-1]) - max(a[0], b[0]) + 1
    return overlap <= 0.75 * min(a[-1] - a[0] + 1, b[-1] - b[0] + 1)


def _gap(profile: np.ndarray, limit: float = 0.3) -> int | None:
    """The inner column nearest the middle where an unsmoothed profile falls to at most ``limit``
    of the lower peak beside it, with at least three columns of three pixels on either side."""
    if len(profile) < 8 or profile[3:-3].min() > limit * profile.max():
        return None  # most blobs: nothing near that deep, decided in two reductions
    solid = (profile >= 3).cumsum()
    left_peak = np.maximum.accumulate(profile)
    right_peak = np.maximum.accumulate(profile[::-1])[::-1]
    inner = np.arange(3, len(profile) - 3)
    ok = (profile[inner] <= limit * np.minimum(left_peak[inner - 1], right_peak[inner + 1]))
    ok &= (solid[inner - 1] >= 3) & (solid[-1] - solid[inner] >= 3)
    if not ok.any():
        return None
    found = inner[ok]
    return int(found[np.abs(found - (len(profile) - 1) / 2).argmin()])


def _valley(profile: np.ndarray, limit: float) -> int | None:
    """Where a smoothed profile has its deepest inner valley, if it is at most ``limit`` of the
    lower of the two peaks around it."""
    if len(profile) < 8:
        return None
    profile = np.convolve(profile, _SMOOTH3, mode="same")
    inner = profile[2:-2]
    cut = int(inner.argmin()) + 2
    left, right = profile[:cut].max(initial=0), profile[cut + 1 :].max(initial=0)
    if min(left, right) < 3 or profile[cut] > limit * min(left, right):
        return None
    return cut


def _columns(*columns: np.ndarray) -> np.ndarray:
    """``np.stack(columns, axis=1)`` for 1-D arrays of one length and dtype, filled column by
    column: the same array, without np.stack's generic path (measured 2x faster on a frame's blobs)."""
    out = np.empty((len(columns[0]), len(columns)), columns[0].dtype)
    for index, column in enumerate(columns):
        out[:, index] = column
    return out


def box_corners(rows: np.ndarray) -> np.ndarray:
    """Boxes as x1, y1, x2, y2 from rows of x, y, w, h (and anything after them)."""
    return _columns(rows[:, 0], rows[:, 1], rows[:, 0] + rows[:, 2], rows[:, 1] + rows[:, 3])


def joined(parts: list[list[float]]) -> list[float]:
    """The box around blobs (rows of x, y, w, h, fill), its fill their pixels over its area."""
    x0, y0 = min(r[0] for r in parts), min(r[1] for r in parts)
    x1, y1 = max(r[0] + r[2] for r in parts), max(r[1] + r[3] for r in parts)
    return [x0, y0, x1 - x0, y1 - y0, sum(r[4] * r[2] * r[3] for r in parts) / max((x1 - x0) * (y1 - y0), 1)]
