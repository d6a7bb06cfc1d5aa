"""The pieces of one vehicle joined into one object: after dark its lamps, by day a vehicle the
road's grey broke up.

The motion detector finds what differs from the road. A car painted the asphalt's grey differs
only at its windows, roof and edges; after dark a car as dark as the road shows only its lamps,
white at one end and red at the other. Each piece would become a track of its own and be counted
at the line. ``PieceJoiner`` joins them on a calibrated camera, by their size and distance on the
ground; ``join_lamp_ends`` joins a vehicle's two ends on any camera.
"""

from __future__ import annotations

import numpy as np

from camera_agents.blobs import box_corners, joined
from camera_agents.sizes import SizeClassifier

# A grey vehicle's pieces: the widest is wider on the ground than a rider ever is, and all of
# them together fit in one car, as long along the road as a car's box reaches (its height seen
# from the pole included: 5.3 m at the median on the tuning cameras) and as wide.
_PIECE_MIN_WIDE_M = 1.2
_PIECES_MAX_LONG_M, _PIECES_MAX_WIDE_M = 5.0, 2.4


class PieceJoiner:
    """Joins blobs (rows of x, y, w, h, fill in analysis pixels) that are pieces of one vehicle."""

    def __init__(self, classifier: SizeClassifier) -> None:
        self._classifier = classifier  # sizes on the ground, across and along the traffic

    def join(self, b: np.ndarray, raw: np.ndarray, inv: float, *, dark: bool, unlit: bool, monochrome: bool = False) -> np.ndarray:
        """Blobs that are pieces of one vehicle, joined: after dark its lamps, in daylight (on a
        calibrated camera) a vehicle the road's grey broke up. ``b``: rows of x, y, w, h, fill in
        analysis pixels; ``raw``: the frame at the analysis scale as the camera saw it;
        ``monochrome``: the camera sends grey pictures (night or infrared mode)."""
        if not dark:
            return self._join_grey_vehicle(b, inv) if self._classifier.calibrated else b
        b = join_lamp_ends(b)
        if self._classifier.calibrated and len(b) >= 2:  # two lamps, or two ends
            b = self._join_lamp_pairs(b, raw, inv, unlit=unlit, monochrome=monochrome)
        return b

    def _join_grey_vehicle(self, b: np.ndarray, inv: float) -> np.ndarray:
        """A vehicle painted the road's grey shows only its windows, roof and edges: pieces one
        behind the other along the road. A piece wider on the ground than any rider (a windscreen
        spans most of a car's width) takes in the pieces in its lane behind or ahead of it, no
        wider than itself, as long as all of them together fit in one car on the ground. Riders in
        file are each narrower than that; a car with a rider close behind it, seen whole, is
        already longer than a car's pieces together may be."""
        rows = [list(r) for r in b.tolist()]
        a = 1 if self._classifier.crosswise else 0  # the picture's axis across the traffic
        across = self._classifier.across_m(box_corners(b) * inv).tolist()
        i = 0
        while i < len(rows):
            j = self._piece_in_lane(rows, i, a, inv) if across[i] >= _PIECE_MIN_WIDE_M else None
            if j is None:
                i += 1
                continue
            rows[i] = joined([rows[i], rows[j]])
            del rows[j], across[j]
            i -= j < i  # the row joined into moved up one place
        return np.asarray(rows, dtype=np.float32).reshape(-1, 5)

    def _piece_in_lane(self, rows: list[list[float]], i: int, a: int, inv: float) -> int | None:
        """The first row that lies within row ``i``'s span across the traffic (``a``: the picture's
        axis across it), no wider, and with it fits in one car on the ground; or None."""
        p = rows[i]
        lane = [
            j for j, q in enumerate(rows)
            if j != i and q[2 + a] <= p[2 + a] + 1 and min(p[a] + p[2 + a], q[a] + q[2 + a]) - max(p[a], q[a]) >= 0.8 * q[2 + a]
        ]  # fmt: skip
        if not lane:
            return None
        # The box of row i with each candidate, all measured on the ground at once.
        ends = box_corners(np.asarray([rows[j] for j in lane], dtype=np.float64))
        np.minimum(ends[:, :2], [p[0], p[1]], out=ends[:, :2])
        np.maximum(ends[:, 2:], [p[0] + p[2], p[1] + p[3]], out=ends[:, 2:])
        boxes = ends * inv
        fits = (self._classifier.along_m(boxes) <= _PIECES_MAX_LONG_M) & (self._classifier.across_m(boxes) <= _PIECES_MAX_WIDE_M)
        return lane[int(np.argmax(fits))] if fits.any() else None

    def _join_lamp_pairs(self, b: np.ndarray, raw: np.ndarray, inv: float, *, unlit: bool, monochrome: bool) -> np.ndarray:
        """After dark a car as dark as the road shows its two ends apart: its two headlamps abreast
        (white) and its two rear lamps abreast (red), each pair two blobs a car's width (0.8 to
        2.2 m) apart or one blob (the lamps' glow joining them), and the two ends a car's length
        apart on the ground. Riders abreast show the same lamps, but a motorbike's length
        apart (under 2 m): two ends are joined only when they stand 2.5 to 12 m apart, one white
        and the other red, of about the same span and middle. On a road no street light lights,
        a pair of lamp blobs may be all that shows apart of such a car (the glow of its headlamps
        merged with whatever rides ahead of it, or its rear lamps with what follows): it is
        joined on its own too, unless a lamp of the other colour lies within 2.5 m of either
        lamp, or a rear lamp's blob holds a headlamp's white (riders abreast, each showing both
        of its lamps). ``b``: rows of x, y, w, h, fill in analysis pixels, ``inv`` frame pixels
        per analysis pixel; ``raw``: the frame at the analysis scale as the camera saw it, grey
        when ``monochrome`` (its lamps then told apart by their brightness)."""
        rows = [list(r) for r in b.tolist()]
        lamps_shown = _lamps_shown_grey if monochrome else _lamps_shown
        shown = [lamps_shown(raw, r) for r in rows]  # per blob: (rear lamp's red, headlamp's white)
        colours = [_lamp_colour(r, lit) for r, lit in zip(rows, shown)]
        pairs = self._lamp_pairs(rows, colours, inv) + self._ends_in_one_blob(rows, shown, inv)
        used: set[int] = set()
        cars = []
        for a, (first, colour, p) in enumerate(pairs):
            for second, other, q in pairs[a + 1 :]:
                span = max(p[2], q[2])
                if colour == other or used & {*first, *second} or min(p[2], q[2]) < 0.5 * span:
                    continue
                if abs((p[0] + p[2] / 2) - (q[0] + q[2] / 2)) > 0.25 * span:
                    continue  # not one behind the other
                if 2.5 <= self._ground_apart_m(p, q, inv) <= 12.0:
                    used |= {*first, *second}
                    cars.append(joined([rows[n] for n in (*first, *second)]))
        if unlit:
            cars += self._lone_pairs(rows, colours, pairs, used, shown, inv)
        if not cars:
            return b
        return np.asarray([r for n, r in enumerate(rows) if n not in used] + cars, dtype=np.float32).reshape(-1, 5)

    def _lone_pairs(
        self, rows: list[list[float]], colours: list[str | None], pairs: list[tuple[tuple[int, int], str, list[float]]],
        used: set[int], shown: list[tuple[bool, bool]], inv: float,
    ) -> list[list[float]]:  # fmt: skip
        """On an unlit road, each pair of lamps not yet in ``used`` that is a car's on its own:
        the box around both, its lamps added to ``used``. Riders abreast are left apart."""
        white = [r for r, colour in zip(rows, colours) if colour == "white"]
        red = [r for r, colour in zip(rows, colours) if colour == "red"]
        cars = []
        for pair, colour, _ in pairs:
            if len(pair) == 1 or used & set(pair):
                continue  # an end in one blob is a vehicle's box already
            if colour == "red" and any(shown[n][1] for n in pair):
                continue  # riders abreast, each blob holding both of its lamps
            others = red if colour == "white" else white
            if any(self._ground_apart_m(rows[n], other, inv) <= 2.5 for n in pair for other in others):
                continue  # riders abreast whose lamps show apart: each has its other lamp close by
            used |= set(pair)
            cars.append(joined([rows[n] for n in pair]))
        return cars

    def _lamp_pairs(self, rows: list[list[float]], colours: list[str | None], inv: float) -> list[tuple[tuple[int, int], str, list[float]]]:
        """Two lamps of one colour abreast (sharing half their rows), apart, a car's width (0.8 to
        2.2 m) across on the ground: their indices into ``rows``, their colour and the box around both."""
        pairs = []
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                p, q = rows[i], rows[j]
                if colours[i] is None or colours[i] != colours[j]:
                    continue
                if min(p[1] + p[3], q[1] + q[3]) - max(p[1], q[1]) < 0.5 * min(p[3], q[3]):
                    continue
                left, right = (p, q) if p[0] <= q[0] else (q, p)
                if right[0] < left[0] + left[2]:
                    continue  # overlapping: pieces of one lamp
                if 0.8 <= self._ground_apart_m(p, q, inv) <= 2.2:
                    pairs.append(((i, j), str(colours[i]), joined([p, q])[:4]))
        return pairs

    def _ends_in_one_blob(
        self, rows: list[list[float]], shown: list[tuple[bool, bool]], inv: float
    ) -> list[tuple[tuple[int, ...], str, list[float]]]:
        """Blobs that hold both lamps of a vehicle's end, their glows joined: a car's width or more
        across on the ground (a rider's lamp is narrower) and of one lamp colour only, a
        headlamp's white without a rear lamp's red or the other way about (a vehicle seen whole
        shows both). ``shown``: per row, whether it shows a rear lamp's red and a headlamp's
        white. Their index into ``rows`` (alone), their colour and their box."""
        if not rows:
            return []
        across = self._classifier.across_m(box_corners(np.asarray(rows, dtype=np.float64)) * inv).tolist()
        ends = []
        for i, (r, (red, white)) in enumerate(zip(rows, shown)):
            if across[i] >= 0.8 and red != white:
                ends.append(((i,), "red" if red else "white", r[:4]))
        return ends

    def _ground_apart_m(self, p: list[float], q: list[float], inv: float) -> float:
        """How far apart on the ground the middles of boxes ``p`` and ``q`` (x, y, w, h in analysis
        pixels, ``inv`` frame pixels each) are, in metres."""
        middles = np.array([[p[0] + p[2] / 2, p[1] + p[3] / 2], [q[0] + q[2] / 2, q[1] + q[3] / 2]]) * inv
        return float(self._classifier.ground_distance_m(middles[:1], middles[1:])[0])


def _lamps_shown(raw: np.ndarray, r: list[float]) -> tuple[bool, bool]:
    """Whether blob ``r`` (x, y, w, h in ``raw``'s pixels) shows a rear lamp (a pixel far redder
    than green and blue) and a headlamp (a pixel bright in all three)."""
    pixels = raw[int(r[1]) : int(r[1] + r[3]), int(r[0]) : int(r[0] + r[2])].reshape(-1, 3).astype(np.int16)
    if not len(pixels):
        return False, False
    red = int((pixels[:, 2] - np.maximum(pixels[:, 0], pixels[:, 1])).max()) >= 60
    white = int(pixels.min(axis=1).max()) >= 150
    return red, white


def _lamps_shown_grey(raw: np.ndarray, r: list[float]) -> tuple[bool, bool]:
    """As ``_lamps_shown`` on a grey picture, where a rear lamp's red is a middling grey: a
    headlamp is as bright as in colour; a rear lamp is a point lit well above the darkest of its
    blob and the pixel around it (the vehicle's body, or the road) that falls short of a
    headlamp's white."""
    x, y = int(r[0]), int(r[1])
    pixels = raw[y : int(r[1] + r[3]), x : int(r[0] + r[2]), 1]  # one channel: they are equal
    if not pixels.size:
        return False, False
    brightest = int(pixels.max())
    white = brightest >= 150
    around = raw[max(y - 1, 0) : int(r[1] + r[3]) + 1, max(x - 1, 0) : int(r[0] + r[2]) + 1, 1]
    return not white and brightest - int(around.min()) >= _REAR_LAMP_MIN_LIFT, white


# A rear lamp lights its point of the body by about 65 grey levels in full pixels; the quarter-scale
# analysis picture averages a small lamp with the body around it (on the grey copies of the tuning
# cameras after dark, wrong counts 125 at no lamp test, 82 at a lift of 25, 77 at 40, 75 at 55).
_REAR_LAMP_MIN_LIFT = 40


def _lamp_colour(r: list[float], shown: tuple[bool, bool]) -> str | None:
    """"red" (a rear lamp), "white" (a headlamp) or None (no lamp, or too large for one) for a
    blob ``r`` (x, y, w, h) that shows a rear lamp's red and a headlamp's white as ``shown`` says."""
    if max(r[2], r[3]) > 12:
        return None
    red, white = shown
    return "red" if red else "white" if white else None


def join_lamp_ends(b: np.ndarray) -> np.ndarray:
    """After dark a vehicle painted as dark as the road shows only its two ends: the front lamps
    and their glow, the rear lamps. Both span the vehicle's width, one right behind the other,
    a body's length apart at most: two blobs of the same width and columns, one above the other
    and closer than their own height, are joined into one. Only along the picture's height, as
    traffic up and down it shows its ends: side by side, two blobs of the same rows are as likely
    riders abreast. ``b``: rows of x, y, w, h, fill."""
    rows = [list(r) for r in b.tolist()]
    merged = True
    while merged:
        merged = False
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                p, q = rows[i], rows[j]
                lo, hi = max(p[0], q[0]), min(p[0] + p[2], q[0] + q[2])
                if min(p[2], q[2]) < 4 or hi - lo < 0.8 * max(p[2], q[2]):
                    continue
                gap = max(p[1], q[1]) - min(p[1] + p[3], q[1] + q[3])
                if not 0 <= gap <= 0.5 * max(p[3], q[3]):
                    continue
                rows[i] = joined([p, q])
                del rows[j]
                merged = True
                break
            if merged:
                break
    return np.asarray(rows, dtype=np.float32).reshape(-1, 5)
