"""The motion detector: moving objects against a learned background, with light divided out.

Background subtraction (MOG2 with shadow detection) on a reduced copy of the frame after the
light field (``camera_agents.light``) has divided out changes of illumination; morphology;
connected components; blobs of light left out; merged vehicles cut apart (``camera_agents.blobs``)
and the pieces of one vehicle joined (``camera_agents.pieces``); each object named by its size (``camera_agents.sizes``).
Cheap enough for several cameras a core, and it needs no weights.
"""

from __future__ import annotations

import cv2
import numpy as np

from camera_agents.blobs import (
    CAR_LONG_M,
    box_corners,
    components,
    cut_across_lanes,
    cut_by_colour,
    split_merged,
    split_turned,
    two_lanes_deep,
)
from camera_agents.config import MotionDetectorConfig
from camera_agents.crowds import LIGHT_PEOPLE, ONE_WIDE_HEIGHTS, PersonSize, RowScale, cut_into_people
from camera_agents.detections import CLASS_ID, GROUP, Detections
from camera_agents.geometry import GroundPlane, Travel
from camera_agents.light import COLOUR_CHROMA_MIN, GREY_CHROMA_MAX, MONOCHROME_SHARE, LightField, chroma_spread, colour_share
from camera_agents.masks import Masks
from camera_agents.pieces import PieceJoiner
from camera_agents.sizes import SizeClassifier


class MotionDetector:
    """Moving objects against a learned background, analysed at ``config.scale_at(seen_width)`` of
    the frame; ``seen_width`` (by default the frame's width) is the width whose settings suit it."""

    def __init__(
        self, config: MotionDetectorConfig, *, kind: str = "traffic", ground: GroundPlane | None = None, travel: Travel | None = None,
        seen_width: float | None = None, masks: Masks | None = None,
    ) -> None:  # fmt: skip
        self._config = config
        self._history = config.history_for(kind)  # analysed frames of background history
        self._seen_width = seen_width
        self._masks = masks if masks is not None else Masks()
        self._masked: np.ndarray | None = None  # analysis-scale: 255 under a mask, where motion is ignored
        self._unmasked: np.ndarray | None = None  # its inverse
        # Traffic across the picture: riders abreast stand one above the other in it, and a vehicle
        # close behind another is beside it. Merged blobs are then cut as on a picture turned a
        # quarter, so that the cuts meant for riders abreast fall between them. The size classifier
        # keeps it: it also turns sizes across and along the traffic.
        self._classifier = SizeClassifier(config.classes, kind=kind, ground=ground, crosswise=travel == "leftright")
        # Traffic up and down the picture: riders abreast stand side by side in it, each the
        # width of its own columns, and may be told apart by their colours.
        self._updown = travel == "updown"
        # What a sharp edge of light leaves behind the light field is taken out on traffic cameras:
        # on a plaza it took grey-clad people at a cloud's edge with it (the example crowd
        # camera's tuning plazas: entrance occupancy off by 0.55 -> 0.57 median, as many more
        # people in view missed), and a plaza's blobs are already tested for light as people.
        self._light_edges = kind == "traffic"
        self._pieces = PieceJoiner(self._classifier)
        # A security camera's groups of people are one blob each: counted by their area, where
        # the ground's scale says how large one person is at each spot. Without a calibration,
        # the scale is one person's height at each row, learned from what the camera sees.
        self._person: PersonSize | None = None
        self._rows: RowScale | None = None
        if kind == "security":
            self._person = PersonSize() if ground is not None else PersonSize(one_wide=ONE_WIDE_HEIGHTS)
            self._rows = None if ground is not None else RowScale()
        self._model = self._new_model()
        self._size: tuple[int, int] | None = None
        self._kernel_open = np.ones((2, 2), np.uint8)
        self._kernel_close: np.ndarray | None = None
        self._settling = 0
        self._analysed = 0
        self._warmup = min(self._history, 50)
        self._envelope_age = 0
        self._light = LightField()
        self._objects: np.ndarray | None = None  # analysis-scale mask of the last frame's objects
        self._mask: np.ndarray | None = None  # the background model's last answer (255 object, 127 shadow)
        self._texture: np.ndarray | None = None  # the background's fine texture (grey minus its local mean)
        self._texture_energy: np.ndarray | None = None  # its local energy (5x5 mean of its square)
        self._textured: np.ndarray | None = None  # where that energy is enough to tell light from objects
        self._kernel_envelope = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        self._high = self._low = None
        self._background_grey: np.ndarray | None = None
        self._background: np.ndarray | None = None  # the learned background in colour (BGR)
        self._shadow_low = self._shadow_high = None  # the band of grey a cast shadow darkens the background to
        self._dark = False  # the learned road is as dark as at dusk or at night: vehicles' lamps are lit
        self._unlit = False  # night without street lights: of a vehicle as dark as the road only its lamps show
        self._colourless = 0  # looks in a row that found no colour: the camera sends grey (night or infrared mode)
        self._monochrome = False  # those looks say it does
        self._looks: tuple[str | None, int] = (None, 0)  # the last looks' answer ("grey", "colour" or None) and how many in a row gave it
        self._shadow_floor: np.ndarray | None = None
        self._reflection_floor: np.ndarray | None = None  # the grey a lamp's reflection is brighter than (lit road after dark)
        self._kernel_near = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self._kernel_streak = np.ones((1, 4), np.uint8)  # opening with it keeps what is 4 pixels wide or more
        self.shaken = False  # read-only: the last frame was shaken (the pole swayed)
        self.global_change = False  # read-only: the last frame was a whole-frame change
        self.switched = False  # read-only: at the last frame the camera switched between colour and grey

    @property
    def counts_groups(self) -> bool:
        """Whether a group's blob is counted as the people it holds: on a security camera, once
        one person's size was learned from what it saw (before, and on other cameras, a blob is
        one object)."""
        return self._person is not None and self._person.learned

    @property
    def analysis_size(self) -> tuple[int, int] | None:
        """Width and height of the picture the background model sees; None before the first frame."""
        return self._small if self._size is not None else None

    def detect(self, image: np.ndarray | None, *, analyse: bool = True) -> Detections:
        if not analyse:
            return Detections.empty()  # skipped frames cost nothing: the model learns at the analysis rate
        found = self._detect(image)
        self._remember(found)
        return found

    def _remember(self, found: Detections) -> None:
        """Where the objects are, so the next light measurement leaves them out."""
        if self._objects is None or self._objects.shape[::-1] != self._small:
            self._objects = np.zeros(self._small[::-1], np.uint8)
        if self._masked is None:
            self._objects.fill(0)
        else:
            np.copyto(self._objects, self._masked)  # what moves under a mask says nothing of the light either
        if not len(found):
            return
        pad = 3
        boxes = (found.xyxy * self._factor).round().astype(np.int32)
        # Python ints (tolist): slicing on numpy scalars costs several times more per box.
        for x1, y1, x2, y2 in boxes.tolist():
            self._objects[max(y1 - pad, 0) : y2 + pad, max(x1 - pad, 0) : x2 + pad] = 255
        # An object's cast shadow lies beside it, outside its box: it is the object's, not a change
        # of light. Measured as light, a bus's shadow would darken the field over a few blocks, and
        # the sunlit road around it, divided by that field, would stand out as a ghost. Only large
        # objects' shadows span blocks enough to outlast the field's 3x3 median.
        large = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= 2 * self._light.block
        if self._mask is None or not large.any():
            return
        near = np.zeros_like(self._objects)
        for x1, y1, x2, y2 in boxes[large]:
            reach = max(x2 - x1, y2 - y1) // 2 + pad
            near[max(y1 - reach, 0) : y2 + reach, max(x1 - reach, 0) : x2 + reach] = 255
        cast = cv2.bitwise_and(_shadows(self._mask), near)
        cv2.bitwise_or(self._objects, cast, dst=self._objects)

    def _detect(self, image: np.ndarray) -> Detections:
        cfg = self._config
        height, width = image.shape[:2]
        if self._size != (width, height):
            self._resize_for(width, height)
        small_w, small_h = self._small
        # Linear at an integer factor averages a few pixels per output pixel: 8x cheaper than
        # INTER_AREA and the background model's variance absorbs the rest of the sensor noise.
        small = image if (small_w, small_h) == (width, height) else cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_LINEAR)
        raw = small  # as the camera saw it: texture tests need no light correction
        grey = cv2.cvtColor(raw, cv2.COLOR_BGR2GRAY)  # read by both the light measurement and the texture test
        small = self._normalise_light(small, grey)
        # After a global change relearn fast, so the new light becomes background within ~1 s.
        # Warm up quickly (OpenCV's automatic 1/frames), then learn at a fixed 1/history, so a
        # vehicle waiting at a red light does not melt into the background and leave a ghost.
        self._analysed += 1
        self._follow_colour(raw)
        rate = 0.2 if self._settling else (-1 if self._analysed < self._warmup else 1.0 / self._history)
        mask = self._model.apply(small, learningRate=rate)
        self._mask = mask
        if self._settling:
            self._settling -= 1
        foreground = self._foreground(mask, small)
        foreground = self._without_light_edges(foreground, small)
        # A 2x2 opening removes single-pixel specks; the two anchors cancel each other's half-pixel
        # shift (one even-sized morphology step moves a blob by a whole analysis pixel).
        foreground = cv2.dilate(cv2.erode(foreground, self._kernel_open, anchor=(1, 1)), self._kernel_open, anchor=(0, 0))
        if self._reflection_floor is not None:
            foreground = self._without_reflections(foreground, grey, self._reflection_floor)
        opened = foreground  # before closing: the road between riders abreast is still empty here
        if self._kernel_close is not None:
            foreground = cv2.morphologyEx(foreground, cv2.MORPH_CLOSE, self._kernel_close)
        share = cv2.countNonZero(foreground) / float(small_w * small_h)
        self.global_change = share > cfg.global_change_fraction
        if self.global_change:
            self._settling = 12
            return Detections.empty()
        count, labels, stats, origin = components(foreground)
        if count <= 1:
            return Detections.empty()
        inv = 1.0 / self._factor
        area_full = stats[1:, cv2.CC_STAT_AREA] * inv * inv
        keep = (area_full >= self._min_area) & (area_full <= cfg.max_area_fraction * width * height)
        if not keep.any():
            return Detections.empty()
        # Light is not traffic: a blob through which the road's texture shows is the road in other
        # light; one far larger than any vehicle there (calibrated) is light the field has not
        # caught up with yet, unless it hides the road's texture: then it is vehicles merged in a
        # queue or behind their headlights, left for the splitting below. Left out of the objects,
        # light is measured again next frame and divided out.
        shown = self._texture_shown(grey, labels, origin, keep)  # NaN where the road has no texture to tell
        keep &= ~self._lit(shown, stats, inv)
        if not keep.any():
            return Detections.empty()
        kept = np.flatnonzero(keep) + 1
        s = stats[kept].astype(np.float32)  # x, y, w, h, area in analysis pixels
        b = np.empty((len(s), 5), np.float32)  # x, y, w, h, fill (np.column_stack's array, without its machinery)
        b[:, :4] = s[:, :4]
        b[:, 4] = s[:, 4] / np.maximum(s[:, 2] * s[:, 3], 1)
        # Merged vehicles are split where the blob's column or row profile has a valley. Riders side
        # by side: a blob that, calibrated, is wider on the ground than one rider is at that spot
        # (its expected size there) is cut at a shallower valley (their shadows and the road
        # between them blur it; their bodies still stand up on either side), or where the road
        # still showed between them before gaps were closed; one of the pieces must be a rider
        # on the ground (after dark: each of them), or the blob is cut as any other. Traffic
        # across the picture: a blob too deep across the road for its length along it is two
        # vehicles in neighbouring lanes, one hiding the other's lower part: no valley shows
        # between them, and it is cut in two across the lanes all the same. Traffic up and down
        # the picture, by day: riders abreast still one blob (staggered, or their shadows joining
        # them) are cut where the colour changes most from one side to the other.
        boxes = box_corners(s) * inv
        two_wide, stacked, by_colour = self._merged_by_size(boxes)
        candidate = (s[:, 2] >= 8) | (s[:, 3] >= 8)
        # After dark a vehicle's lit lamps and its unlit body meet at a neck too: no cut there.
        neck = 0.0 if self._dark else 0.4
        if candidate.any():
            parts: list[tuple[float, ...]] = []
            # Blobs are cut in the labels' box: their coordinates there, their pieces' in the frame.
            ox, oy = origin
            labelled = (slice(oy, oy + labels.shape[0]), slice(ox, ox + labels.shape[1]))
            solid = self._without_cast_shadows(opened, small, labelled) if (two_wide & candidate).any() and not self._dark else opened[labelled]
            split = split_turned if self._classifier.crosswise else split_merged
            for index in np.flatnonzero(candidate):
                x, y, w, h, area = (int(v) for v in stats[kept[index]])
                x, y = x - ox, y - oy
                label = int(kept[index])
                gaps = solid if two_wide[index] else None
                pieces = split(labels, label, x, y, w, h, area, column_depth=0.8 if two_wide[index] else 0.3, opened=gaps, row_neck=neck)
                pieces = [(px + ox, py + oy, pw, ph, fill) for px, py, pw, ph, fill in pieces]
                if two_wide[index] and len(pieces) > 1 and not self._holds_a_rider(pieces, inv):
                    pieces = split(labels, label, x, y, w, h, area, column_depth=0.3, row_neck=neck)
                    pieces = [(px + ox, py + oy, pw, ph, fill) for px, py, pw, ph, fill in pieces]
                if len(pieces) == 1 and (stacked[index] or by_colour[index]):
                    pieces = self._cut_without_a_valley(labels, label, (x, y, w, h), origin, raw[labelled], solid, inv) or pieces
                parts.extend(self._without_shadow_pieces(pieces, labels, label, origin, small))
            b = np.concatenate([b[~candidate], np.asarray(parts, dtype=np.float32).reshape(-1, 5)])
        if len(b) > 1:
            b = self._pieces.join(b, raw, inv, dark=self._dark, unlit=self._unlit, monochrome=self._monochrome)
        xyxy = box_corners(b) * inv
        # In place (``xyxy[:, [0, 2]]`` would clip a copy): scaled back from the analysis size, a
        # box at the bottom edge may end a fraction of a pixel below the frame.
        np.clip(xyxy, 0, np.array([width, height, width, height], np.float32), out=xyxy)
        found = Detections(xyxy=xyxy, confidence=np.clip(0.5 + b[:, 4] / 2, 0, 1), class_id=self._classifier.classify(xyxy))
        return found if self._person is None else self._cut_into_people(found, b[:, 4] * b[:, 2] * b[:, 3] * (inv * inv))

    def _cut_into_people(self, found: Detections, area: np.ndarray) -> Detections:
        """``found`` with each blob cut into the people it holds, by its area (``area``: its pixels
        in the frame's) against one person's at its spot; what holds nobody (a piece of someone,
        something small, a vehicle) is ``unknown``. Before one person's size is learned, blobs are
        named by their shape."""
        person = self._person
        assert person is not None and self._size is not None
        xyxy = found.xyxy
        if self._rows is not None:
            self._rows.observe(xyxy, self._size[1])
        scale = self._people_scale(xyxy)
        if scale is None:
            return found
        wide, per_px = scale  # in metres, or in one person's height at the row without a calibration
        scaled = area * per_px**2
        person.observe(scaled, (xyxy[:, 3] - xyxy[:, 1]) * per_px, wide)
        if not person.learned:
            return found
        people = person.people(scaled)
        cut, source = cut_into_people(xyxy, np.maximum(people, 1), person.height / np.maximum(per_px, 1e-6))
        named = np.where(people[source] > 0, CLASS_ID["person"], CLASS_ID["unknown"]).astype(np.int16)
        # Which blob each person came from: the tracker keeps the people it follows in a group
        # where they were heading (``Tracker``), as the cut alone lays them out anew each frame.
        return Detections(xyxy=cut, confidence=found.confidence[source], class_id=named, data={GROUP: source})

    def _lit(self, shown: np.ndarray, stats: np.ndarray, inv: float) -> np.ndarray:
        """Per blob (``stats`` of the labels, ``shown``: the share of it where the background's
        texture shows, NaN where it cannot tell), whether it is light, not an object."""
        cfg = self._config
        with np.errstate(invalid="ignore"):
            lit = shown >= 0.8  # nearly all of it: a vehicle's blob shows some at its shadow and edges
            counts_people = self.counts_groups
            if not self._classifier.calibrated and not counts_people:
                return lit
            s = stats[1:].astype(np.float64)
            boxes = box_corners(s) * inv
            if self._classifier.calibrated:
                footprint = self._classifier.footprint_m2(boxes)
                lit |= (footprint > cfg.light_min_m2) & (shown >= 0.3)
                lit |= footprint > 4 * cfg.light_min_m2
            scale = self._people_scale(boxes) if counts_people else None
            if scale is not None:
                # People hide the ground they stand on: a blob of several people's size through
                # which the paving shows is light (a cloud's edge), not a crowd.
                assert self._person is not None and self._person.area is not None
                several = s[:, 4] * (inv * inv) * scale[1] ** 2 >= LIGHT_PEOPLE * self._person.area
                lit |= several & (shown >= 0.3)
        return lit

    def _people_scale(self, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Per box (in the frame's pixels), how wide its bottom edge is on the ground, and the
        ground's scale per pixel there: a blob's area scaled by its square is about the same for
        each person wherever they stand. Calibrated, in metres; else in one person's height at
        that row, once the rows' scale is learned (None before)."""
        if self._rows is None:
            wide_m = self._classifier.ground_width_m(xyxy)
            return wide_m, wide_m / np.maximum(xyxy[:, 2] - xyxy[:, 0], 1.0)
        if not self._rows.learned:
            return None
        per_px = 1.0 / self._rows.person_px(xyxy[:, 3])
        return (xyxy[:, 2] - xyxy[:, 0]) * per_px, per_px

    def _foreground(self, mask: np.ndarray, small: np.ndarray) -> np.ndarray:
        """The model's foreground outside the masks, with the weak shadows next to it, and without
        the road's edges on a shaken frame (``shaken`` says whether it was)."""
        _, foreground = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)  # 127 = shadow, dropped
        if self._unmasked is not None:
            cv2.bitwise_and(foreground, self._unmasked, dst=foreground)  # under the installer's masks nothing moves
        # Every step here works pixel by pixel or reaches 2 pixels (how near a weak shadow must
        # be): it is worked out on the foreground's box and 2 pixels around it only, outside which
        # the foreground is empty and stays so (the same masks as on the whole frame, for less).
        fx, fy, fw, fh = cv2.boundingRect(foreground)
        box = (slice(max(fy - 2, 0), fy + fh + 2), slice(max(fx - 2, 0), fx + fw + 2))
        if fw:
            weak = self._weak_shadows_near(foreground, mask, small, box)
            if weak is not None:
                foreground[box] |= weak
        self._refresh_background()
        self.shaken = False
        if fw:
            # Only a shaken frame lights up the road's edges everywhere; the envelope test would also
            # cut a vehicle in two where it covers a white stop line, so it applies to shaken frames only.
            inside = cv2.bitwise_and(foreground[box], self._outside_envelope(small, box))
            edges_only = cv2.countNonZero(foreground[box]) - cv2.countNonZero(inside)
            self.shaken = edges_only > self._config.shake_fraction * mask.shape[1] * mask.shape[0]
            if self.shaken:
                foreground[box] = inside
        return foreground

    def _without_light_edges(self, foreground: np.ndarray, small: np.ndarray) -> np.ndarray:
        """``foreground`` without what the light field left of a sharp edge of light: on a traffic
        camera by day, in colour, where the field's gain changes steeply between neighbouring
        blocks (a cloud's shadow sweeping in or out, its edge sharper than a block), a pixel whose
        colour is the background's times one factor in all three channels, within the light
        change around it, is light the field smeared over its blocks, not an object."""
        gain, field = self._light.gain, self._light.field
        if not self._light_edges or gain is None or field is None or self._background is None or self._dark or self._monochrome or min(gain.shape) < 3:
            return foreground
        high = cv2.dilate(gain, self._kernel_envelope)
        low = cv2.erode(gain, self._kernel_envelope)
        steep = high > _LIGHT_EDGE * low
        if not steep.any():
            return foreground
        ys, xs = np.nonzero(foreground)
        b = self._light.block
        by, bx = np.minimum(ys // b, steep.shape[0] - 1), np.minimum(xs // b, steep.shape[1] - 1)  # the frame's last partial block: its last whole one's
        near_edge = steep[by, bx]
        ys, xs, by, bx = ys[near_edge], xs[near_edge], by[near_edge], bx[near_edge]
        if not len(ys):
            return foreground
        seen = small[ys, xs].astype(np.float32)
        learnt = self._background[ys, xs].astype(np.float32)
        level = (seen.sum(axis=1) + 3.0) / (learnt.sum(axis=1) + 3.0)  # how much lighter or darker than the road
        # The light here lies between the lowest and the highest gain of the blocks around; the
        # field divided out one value between them, or beyond them past the outer blocks.
        divided = field[ys, xs]
        within = (level * divided >= low[by, bx] / _LIGHT_MARGIN) & (level * divided <= high[by, bx] * _LIGHT_MARGIN)
        # The road's own colour in that light, each channel within the sensor's and the codec's noise.
        off = np.abs(seen - learnt * level[:, None]).max(axis=1)
        light = within & (off <= np.maximum(_LIGHT_NOISE, (_LIGHT_CHROMA - 1.0) * seen.max(axis=1)))
        if light.any():
            foreground = foreground.copy()
            foreground[ys[light], xs[light]] = 0
        return foreground

    def _without_reflections(self, foreground: np.ndarray, grey: np.ndarray, floor: np.ndarray) -> np.ndarray:
        """``foreground`` without the streaks a wet road mirrors of each lamp after dark: straight
        down the picture from the lamp, brighter than the road (``grey``, the frame as the camera
        saw it, over ``floor``) and narrower than 4 analysis pixels. Such a streak joins a vehicle
        to the one ahead of it and lengthens its box."""
        thin = cv2.subtract(foreground, cv2.morphologyEx(foreground, cv2.MORPH_OPEN, self._kernel_streak))
        return cv2.subtract(foreground, cv2.bitwise_and(thin, cv2.compare(grey, floor, cv2.CMP_GT)))

    def _without_cast_shadows(self, opened: np.ndarray, small: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
        """``opened`` within ``box`` without the pixels darkened as a cast shadow darkens the road
        (to about half): a rider's shadow, darker than the model's shadow band allows here and
        there, fills the road between riders abreast; their bodies are not that even shade of the road."""
        if self._background_grey is None:
            return opened[box]
        shade = self._shaded(cv2.cvtColor(small[box], cv2.COLOR_BGR2GRAY), box)
        return cv2.bitwise_and(opened[box], cv2.bitwise_not(shade))

    def _shaded(self, grey: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
        """255 where ``grey`` (the frame's grey within ``box``) is the road darkened as a cast
        shadow darkens it, to 0.45-0.7 of the learnt road; 0 elsewhere."""
        return cv2.bitwise_and(cv2.compare(grey, self._shadow_low[box], cv2.CMP_GT), cv2.compare(grey, self._shadow_high[box], cv2.CMP_LT))

    def _without_shadow_pieces(
        self, pieces: list[tuple[float, ...]], labels: np.ndarray, label: int, origin: tuple[int, int], small: np.ndarray
    ) -> list[tuple[float, ...]]:
        """``pieces`` (x, y, w, h, fill in the frame's analysis pixels) cut from blob ``label`` of
        ``labels`` (a box of the frame at ``origin``), without those that are a vehicle's cast
        shadow, on a grey picture by day. The model's shadow test reads colour: on a grey picture
        a shadow stays foreground, and a valley between it and what casts it cuts it off into a
        piece, then a track, of its own, counted at the line as a second vehicle. A piece is
        shadow when half its pixels or more are the road darkened as a cast shadow darkens it (to
        0.45-0.7 of the learnt road), evenly: that darkening's spread a quarter at most (a rider
        dressed as dark shows a lit helmet, a plate, a lamp). Grey copies of the tuning seeds 1-3:
        508 -> 438 wrong counts, of the validation seeds 543 -> 455. All of them shadow: left whole."""
        if len(pieces) < 2 or not self._monochrome or self._dark or self._background_grey is None:
            return pieces
        ox, oy = origin
        kept = []
        for piece in pieces:
            x, y, w, h = (int(v) for v in piece[:4])
            own = labels[y - oy : y - oy + h, x - ox : x - ox + w] == label
            box = (slice(y, y + h), slice(x, x + w))
            seen = cv2.cvtColor(small[box], cv2.COLOR_BGR2GRAY)
            grey = seen[own]
            if len(grey) and np.count_nonzero(self._shaded(seen, box)[own]) >= _SHADOW_PIECE_SHARE * len(grey):
                darkening = grey / np.maximum(self._background_grey[box][own], 1).astype(np.float32)
                if float(darkening.std()) <= _SHADOW_PIECE_SPREAD:
                    continue  # a cast shadow
            kept.append(piece)
        return kept or pieces

    def _merged_by_size(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per blob (``boxes`` in frame pixels), from its size on the ground (calibrated cameras
        only): whether it is wide enough to be riders side by side; whether (traffic across the
        picture) it is too deep across the lanes for its length to be one vehicle; and whether
        (traffic up and down the picture, by day) it is riders wide and no longer than a car, to
        be cut by colour. After dark a vehicle's lamps and body differ in colour too."""
        two_wide, stacked, by_colour = (np.zeros(len(boxes), bool) for _ in range(3))
        if self._classifier.calibrated:
            across = self._classifier.across_m(boxes)
            two_wide = across >= self._config.split_min_width_m
            if self._classifier.crosswise:
                # Seen from the side, as traffic across the picture is, a long blob is at least
                # twice as wide as tall in the picture; a bus driving diagonally is squarer.
                sideways = boxes[:, 2] - boxes[:, 0] >= 2 * (boxes[:, 3] - boxes[:, 1])
                stacked = two_lanes_deep(self._classifier.along_m(boxes), across, sideways)
            elif self._updown and not self._dark and two_wide.any():
                by_colour = two_wide & (self._classifier.along_m(boxes) <= CAR_LONG_M)
        return two_wide, stacked, by_colour

    def _holds_a_rider(self, pieces: list[tuple[int, int, int, int, float]], inv: float) -> bool:
        """Whether the pieces of a blob cut at a shallow valley hold a rider: one is a rider wide
        on the ground (the expected size at its spot) and short, as a rider beside others is (the
        others may be two riders one behind the other, not yet cut apart); a car cut at its
        windows is not. After dark every piece must be a rider: there a vehicle's lit lamps and
        its unlit body make rider-sized pieces of one vehicle."""
        p, rider = self._rider_sized(pieces, inv)
        if self._dark:
            return bool(rider.all())
        # A piece three times as long as it is wide is no vehicle: a lane's marking that came
        # along with a rider or a car, cut off from it, would become an object of its own.
        slender = np.maximum(p[:, 2], p[:, 3]) > 3 * np.minimum(p[:, 2], p[:, 3])
        return bool(rider.any() and not slender.any())

    def _cut_without_a_valley(
        self, labels: np.ndarray, label: int, box: tuple[int, int, int, int], origin: tuple[int, int], colours: np.ndarray,
        solid: np.ndarray, inv: float,
    ) -> list[tuple[int, int, int, int, float]] | None:
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

    def _riders_each(self, pieces: list[tuple[int, int, int, int, float]], inv: float) -> bool:
        """Whether every piece of a blob cut by colour is a rider, filling its box as a rider's
        body does: a rider cut from its own shadow, or from a lane's marking, leaves a piece
        that is a stroke or an outline."""
        p, rider = self._rider_sized(pieces, inv)
        return bool((rider & (p[:, 4] >= 0.5)).all())

    def _rider_sized(self, pieces: list[tuple[int, int, int, int, float]], inv: float) -> tuple[np.ndarray, np.ndarray]:
        """The pieces (rows of x, y, w, h, fill in analysis pixels) as an array, and per piece
        whether it is a rider wide on the ground (the expected size at its spot) and short."""
        p = np.asarray(pieces, dtype=np.float64)
        boxes = box_corners(p) * inv
        widths = self._classifier.across_m(boxes)
        # A car cut down its middle (its two lamps at dusk, a windscreen the colour of the road)
        # gives two pieces a rider wide, but each as long as the car: riders are short.
        short = self._classifier.footprint_m2(boxes) <= _RIDER_MAX_FOOTPRINT_M2
        return p, (widths >= 0.35) & (widths < self._config.split_min_width_m) & short

    def _normalise_light(self, small: np.ndarray, grey: np.ndarray) -> np.ndarray:
        """Undo changes of light (a cloud's shadow, the sun behind haze, auto exposure) before the
        model sees the frame: as a smooth field of gains against the background, measured where no
        tracked object is. A background model may not learn fast enough to follow the light without
        swallowing a vehicle waiting at a red light."""
        if self._background_grey is None:
            return small
        return self._light.normalise(small, self._background_grey, self._objects, grey=grey)

    def _texture_shown(self, grey: np.ndarray, labels: np.ndarray, origin: tuple[int, int], keep: np.ndarray) -> np.ndarray:
        """Per blob kept (``labels`` 1.., a box of the frame at ``origin``), the share of its
        textured pixels where the background's fine texture shows through, scaled but unchanged
        (local correlation): the road in other light (a cloud's edge, a headlight's pool) shows it;
        an object hides the texture it covers. NaN where the background is too plain to tell.
        ``grey``: the frame as the camera saw it."""
        shown = np.full(len(keep), np.nan)
        if self._texture is None:
            return shown
        ox, oy = origin
        lh, lw = labels.shape
        # Per blob label, its textured pixels and those of them where the texture shows.
        in_blob = np.flatnonzero(self._textured[oy : oy + lh, ox : ox + lw] & (labels > 0))
        blob_of = labels.reshape(-1)[in_blob]
        textured = np.bincount(blob_of, minlength=len(keep) + 1)[1:]
        tell = keep & (textured >= 12)  # fewer: a plain surface, its texture cannot tell light from an object
        if not tell.any():
            return shown
        # The correlation is a local sum (5x5) of the frame's fine texture (grey minus its 5x5
        # mean), read where blobs are only: worked out on the labels' box and 4 pixels around it,
        # not the whole frame. Cut at the frame's edges the box sees the border the whole frame
        # does; within 4 pixels of a cut elsewhere its sums are wrong, and never read. Every
        # term is a whole number (bytes and differences of bytes), so every sum is exact, and
        # the same whatever the box.
        height, width = grey.shape
        x0, y0, x1, y1 = max(ox - 4, 0), max(oy - 4, 0), min(ox + lw + 4, width), min(oy + lh + 4, height)
        near = grey[y0:y1, x0:x1]
        a = cv2.subtract(near, cv2.blur(near, (5, 5)), dtype=cv2.CV_32F)
        rows, cols = np.divmod(in_blob, lw)
        at = (rows + (oy - y0)) * (x1 - x0) + cols + (ox - x0)  # the blob pixels in the box around
        ab = cv2.blur(a * self._texture[y0:y1, x0:x1], (5, 5)).reshape(-1)[at]
        aa = cv2.blur(a * a, (5, 5)).reshape(-1)[at]
        bb = self._texture_energy.reshape(-1)[(rows + oy) * width + cols + ox]
        corr = ab / np.sqrt(np.maximum(aa * bb, 1e-6))
        agrees = corr >= self._config.light_texture_correlation
        agreeing = np.bincount(blob_of[agrees], minlength=len(keep) + 1)[1:]
        shown[tell] = agreeing[tell] / textured[tell]
        return shown

    def _weak_shadows_near(self, foreground: np.ndarray, mask: np.ndarray, small: np.ndarray, box: tuple[slice, slice]) -> np.ndarray | None:
        """"Shadow" pixels that are barely darker than the road, next to foreground, as foreground
        (within ``box``, which holds the foreground and 2 pixels around it; None: there are none).

        MOG2 calls any slightly darker, same-hue pixel a shadow, which erases a car painted close
        to the asphalt's grey, leaving its windows as separate blobs. A cast shadow darkens much
        more (to about 0.6); so a weak darkening right next to an object is the object itself.
        """
        shadow = _shadows(mask[box])
        if self._background_grey is None or not cv2.countNonZero(shadow):
            return None
        grey = cv2.cvtColor(small[box], cv2.COLOR_BGR2GRAY)
        weak = cv2.compare(grey, self._shadow_floor[box], cv2.CMP_GT)
        # Dilated within the box: the foreground is all inside it, and nothing outside it lights up.
        near = cv2.dilate(foreground[box], self._kernel_near)
        return cv2.bitwise_and(cv2.bitwise_and(shadow, weak), near)

    def _outside_envelope(self, small: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
        """Pixels within ``box`` that differ from every background pixel of their 3x3 neighbourhood.

        A swaying pole shifts the image by a pixel, which turns every sharp edge of the road
        (lane markings, the stop line, kerbs) into foreground for a per-pixel model; an object
        is darker or brighter than the whole neighbourhood of the background it covers.
        """
        difference = cv2.max(cv2.subtract(small[box], self._high[box]), cv2.subtract(self._low[box], small[box]))
        _, over = cv2.threshold(difference, self._config.envelope_threshold, 255, cv2.THRESH_BINARY)  # per channel
        # Outside where any channel is over: grey is 0 only where all three are (each weighs > 0).
        return cv2.compare(cv2.cvtColor(over, cv2.COLOR_BGR2GRAY), 0, cv2.CMP_GT)

    def _follow_colour(self, raw: np.ndarray) -> None:
        """Whether the camera sends grey (night or infrared mode), from the frames it sends: a
        camera in colour shows some, in its vehicles, markings and noise, where the road may show
        none. MOG2 takes for shadow what keeps the background's colour, darker; on a grey picture
        every vehicle darker than the road keeps it. There, only a darkening by a tenth at most is
        shadow, what is left at a cloud's soft edge once the light field has divided the cloud out
        (grey copies of the tuning cameras: 303 -> 162 wrong counts; 159 with none at all). Looked
        at every few analysed frames; a switch between colour and grey starts the background afresh."""
        self.switched = False
        if self._analysed % _COLOUR_EVERY != 1:
            return
        colourless = colour_share(raw) < MONOCHROME_SHARE
        # A switch is read from how much the colour varies: a camera's night or infrared mode
        # sends none at all, a camera in colour some even of a grey street, in its sensor's noise;
        # there the share of coloured pixels comes and goes with each coloured vehicle.
        spread = chroma_spread(raw)
        seen = "grey" if spread < GREY_CHROMA_MAX else "colour" if spread >= COLOUR_CHROMA_MIN else None
        answer, times = self._looks
        if {seen, answer} == {"grey", "colour"} and times >= _MONOCHROME_AFTER and self._analysed > self._warmup:
            self._start_afresh()
            self.switched = True
        self._looks = (seen, times + 1 if seen == answer else 1)
        self._colourless = self._colourless + 1 if colourless else 0
        self._monochrome = self._colourless >= _MONOCHROME_AFTER
        self._model.setShadowThreshold(_MONOCHROME_SHADOW_TAU if self._monochrome else self._config.shadow_tau)

    def _new_model(self) -> cv2.BackgroundSubtractorMOG2:
        cfg = self._config
        model = cv2.createBackgroundSubtractorMOG2(history=self._history, varThreshold=cfg.var_threshold, detectShadows=True)
        model.setShadowThreshold(cfg.shadow_tau)
        model.setBackgroundRatio(cfg.background_ratio)
        return model

    def _start_afresh(self) -> None:
        """The background learnt anew, as at start, when the camera switches between colour and
        its night or infrared mode (after three looks that agreed, no colour at all where there was
        some, or colour where there was none): the same road in other pixels everywhere, which
        neither a fast relearning (as after a global change of light) nor the slow one forgets
        cleanly. A simulated switch to grey 16 s into the tuning cameras after dark (seeds 1-3):
        124 wrong counts as before, 102 relearning fast for 12 frames, 82 learnt anew at the first
        look without colour, 104 only once the picture is taken for grey (1.5 s later); back to
        colour: 104 -> 66."""
        self._model = self._new_model()
        self._analysed = 1  # warms up again
        self._settling = 0
        self._envelope_age = 0  # what the tests read of the background, taken again
        self._light = LightField()

    def _refresh_background(self) -> None:
        """The learned background and what the tests read of it (its grey, texture, shadow bands
        and 3x3 envelope), taken again every few analysed frames."""
        if self._envelope_age <= 0:
            background = self._model.getBackgroundImage()
            self._background = background
            self._background_grey = cv2.cvtColor(background, cv2.COLOR_BGR2GRAY)
            self._texture = self._background_grey.astype(np.float32) - cv2.blur(self._background_grey, (5, 5)).astype(np.float32)
            self._texture_energy = cv2.blur(self._texture * self._texture, (5, 5))
            floor = self._config.light_texture_floor
            self._textured = self._texture_energy >= floor * floor
            self._shadow_floor = cv2.convertScaleAbs(self._background_grey, alpha=self._config.shadow_max_ratio)
            level = cv2.mean(self._background_grey)[0]
            self._dark, self._unlit = level < _DARK_SCENE, level < _UNLIT_SCENE
            # Reflections are looked for on a lit road after dark only: on an unlit road a vehicle
            # as dark as the road shows only its lamps, as thin and bright as a reflection.
            lit_after_dark = self._dark and not self._unlit
            self._reflection_floor = cv2.add(self._background_grey, _REFLECTION_MIN_LIFT) if lit_after_dark else None
            self._shadow_low = cv2.convertScaleAbs(self._background_grey, alpha=0.45)
            self._shadow_high = cv2.convertScaleAbs(self._background_grey, alpha=0.7)
            self._high = cv2.dilate(background, self._kernel_envelope)
            self._low = cv2.erode(background, self._kernel_envelope)
            self._envelope_age = 4  # the background drifts slowly: refresh every few analysed frames
        self._envelope_age -= 1

    def _resize_for(self, width: int, height: int) -> None:
        cfg = self._config
        self._size = (width, height)
        seen = self._seen_width or width
        scale = cfg.scale_at(seen)
        self._small = (max(16, round(width * scale)), max(16, round(height * scale)))
        self._factor = self._small[0] / width
        self._min_area = cfg.min_area_at(seen)  # in square pixels of the picture
        gap = cfg.merge_at(seen) * self._factor  # in analysis pixels
        size = 2 * int(round(gap / 2)) + 1  # odd, so closing does not shift blobs
        self._kernel_close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)) if gap >= 1 else None
        self._masked = self._masks.raster(self._small, self._factor)
        self._unmasked = None if self._masked is None else cv2.bitwise_not(self._masked)


def _shadows(mask: np.ndarray) -> np.ndarray:
    """The background model's shadow pixels (127), not its foreground (255, above 200) nor the road (0)."""
    return cv2.inRange(mask, 101, 200)


_SHADOW_PIECE_SHARE = 0.5  # of a piece's pixels in a cast shadow's shade, on a grey picture by day...
_SHADOW_PIECE_SPREAD = 0.25  # ...darkened evenly: the spread of their darkening (grey over the road's) at most this
_RIDER_MAX_FOOTPRINT_M2 = 2.4  # a rider's box at most, its width on the ground times its height at that scale
_LIGHT_EDGE = 1.3  # gain ratio between neighbouring blocks of the light field that marks an edge of light
_LIGHT_MARGIN = 1.1  # how far beyond the gains of the blocks around a pixel its light may be
_LIGHT_CHROMA = 1.06  # a pixel is the road in other light when each channel is within this factor of the road's times its lightness
_LIGHT_NOISE = 8  # or within this many grey levels of it (noise and compression: a dark road's channels differ by more than the factor)
_DARK_SCENE = 90  # mean grey level of the learned background below which the scene is after dark
_UNLIT_SCENE = 35  # below which no street light lights the road (lit at night: 60 and over)
_MONOCHROME_SHADOW_TAU = 0.9  # on a grey picture, the darkening ratio above which a pixel may be a shadow
_COLOUR_EVERY = 4  # analysed frames between two looks at the picture's colour
_MONOCHROME_AFTER = 3  # looks in a row without colour (about 1.5 s) before the picture is taken for grey
_REFLECTION_MIN_LIFT = 6  # grey levels over the learned road that make a thin streak a lamp's reflection
