"""The motion detector: moving objects against a learned background, with light divided out.

Background subtraction (MOG2 with shadow detection) on a reduced copy of the frame after the
light field (``camera_agents.light``) has divided out changes of illumination; morphology;
connected components; blobs of light left out; merged vehicles cut apart (``camera_agents.blobs``,
``camera_agents.merged``) and the pieces of one vehicle joined (``camera_agents.pieces``); each
object named by its size (``camera_agents.sizes``). What the model calls object or shadow is
second-guessed against the background it has learnt (``camera_agents.background``); on a security
camera a group's blob is counted as the people it holds (``camera_agents.crowds``).
Cheap enough for several cameras a core, and it needs no weights.
"""

from __future__ import annotations

import cv2
import numpy as np

from camera_agents.background import LearnedBackground, model_shadows
from camera_agents.blobs import box_corners, components, opened_2x2, split_merged, split_turned, with_holes_filled
from camera_agents.config import MotionDetectorConfig
from camera_agents.crowds import GroupCounter
from camera_agents.detections import Detections
from camera_agents.geometry import GroundPlane, Travel
from camera_agents.light import COLOUR_CHROMA_MIN, GREY_CHROMA_MAX, MONOCHROME_SHARE, LightField, chroma_spread, colour_share
from camera_agents.masks import Masks
from camera_agents.merged import MergedVehicles
from camera_agents.pieces import PieceJoiner
from camera_agents.scales import RiderScale
from camera_agents.sizes import SizeClassifier


class MotionDetector:
    """Moving objects against a learned background, analysed at ``config.scale_at(seen_width)`` of
    the frame; ``seen_width`` (by default the frame's width) is the width whose settings suit it."""

    def __init__(
        self, config: MotionDetectorConfig, *, kind: str = "traffic", ground: GroundPlane | None = None, travel: Travel | None = None,
        seen_width: float | None = None, masks: Masks | None = None, across: tuple[float, float] | None = None,
    ) -> None:  # fmt: skip
        self._config = config
        self._history = config.history_for(kind)  # analysed frames of background history
        self._seen_width = seen_width
        self._masks = masks if masks is not None else Masks()
        self._masked: np.ndarray | None = None  # analysis-scale: 255 under a mask, where motion is ignored
        self._unmasked: np.ndarray | None = None  # its inverse
        # Without a calibration, riders abreast are told from one rider by the most common rider's
        # width at each row, learnt from what the camera sees (traffic up and down the picture).
        uncalibrated_updown = kind == "traffic" and ground is None and travel == "updown"
        self._riders = RiderScale.for_road(config.most_common_vehicle) if uncalibrated_updown else None
        # Traffic across the picture: riders abreast stand one above the other in it, and a vehicle
        # close behind another is beside it. Merged blobs are then cut as on a picture turned a
        # quarter, so that the cuts meant for riders abreast fall between them. The size classifier
        # keeps it: it also turns sizes across and along the traffic.
        self._classifier = SizeClassifier(config.classes, kind=kind, ground=ground, crosswise=travel == "leftright", riders=self._riders)
        self._merged = MergedVehicles(
            self._classifier, split_min_width_m=config.split_min_width_m, updown=travel == "updown", riders=self._riders,
            across=across if kind == "traffic" else None,
        )
        # What a sharp edge of light leaves behind the light field is taken out on traffic cameras:
        # on a plaza it took grey-clad people at a cloud's edge with it (the example crowd
        # camera's tuning plazas: entrance occupancy off by 0.55 -> 0.57 median, as many more
        # people in view missed), and a plaza's blobs are already tested for light as people.
        self._light_edges = kind == "traffic"
        # A hole in a vehicle's blob is the vehicle (``_foreground``); in a group of people it is
        # the ground between them, which their count by area must not take for more people
        # (vtest.avi, motion: off by 0.62 -> 0.88 a frame on the held-out frames when filled).
        self._fills_holes = kind == "traffic"
        self._pieces = PieceJoiner(self._classifier)
        # A security camera's groups of people are one blob each: counted by their area, where
        # the ground's scale says how large one person is at each spot.
        self._groups = GroupCounter(self._classifier) if kind == "security" else None
        self._model = self._new_model()
        self._kept_road: np.ndarray | None = None  # a road an earlier run learnt, until the first frame
        self._size: tuple[int, int] | None = None
        self._kernel_close: np.ndarray | None = None
        self._settling = 0
        self._analysed = 0
        self._warmup = min(self._history, 50)
        self._envelope_age = 0
        self._light = LightField()
        self._objects: np.ndarray | None = None  # analysis-scale mask of the last frame's objects
        self._mask: np.ndarray | None = None  # the background model's last answer (255 object, 127 shadow)
        self._learnt: LearnedBackground | None = None  # what the tests read of the background, taken every few frames
        self._kernel_envelope = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        self._colourless = 0  # looks in a row that found no colour: the camera sends grey (night or infrared mode)
        self._monochrome = False  # those looks say it does
        self._looks: tuple[str | None, int] = (None, 0)  # the last looks' answer ("grey", "colour" or None) and how many in a row gave it
        self.shaken = False  # read-only: the last frame was shaken (the pole swayed)
        self.global_change = False  # read-only: the last frame was a whole-frame change
        self.switched = False  # read-only: at the last frame the camera switched between colour and grey

    @property
    def counts_groups(self) -> bool:
        """Whether a group's blob is counted as the people it holds: on a security camera, once
        one person's size was learned from what it saw (before, and on other cameras, a blob is
        one object)."""
        return self._groups is not None and self._groups.learned

    @property
    def knows_riders(self) -> bool:
        """Whether, without a calibration, a rider's width at each row is learnt (traffic up and
        down the picture), by which riders abreast are told from one rider."""
        return self._riders is not None and self._riders.learned

    @property
    def analysis_size(self) -> tuple[int, int] | None:
        """Width and height of the picture the background model sees; None before the first frame."""
        return self._small if self._size is not None else None

    def learnt_road(self) -> np.ndarray | None:
        """The road as the background model has learnt it (BGR at the analysis size), for the
        agent's next run; None while it is still being learnt (at start, after a change of light)."""
        if self._size is None or self._analysed < self._warmup or self._settling:
            return None
        return self._model.getBackgroundImage()

    def start_from(self, road: np.ndarray) -> None:
        """Start from ``road`` (``learnt_road`` of a run just before) instead of learning the road
        from the first frames. A camera restarts with traffic on the road: learnt from its first
        frames at the warm-up's fast rates, every vehicle in view would be taken for road, and the
        slow learning that keeps a vehicle waiting at a red light visible would keep those ghosts
        and hide the vehicles of their colours for minutes. Synthetic cameras stopped 6 s into
        traffic and restarted 4 s later, scored over the 19 s after: tuning seeds 1-2, 60 wrong
        counts never stopped, 127 restarted cold, 72 from the road; the evaluation cameras, never
        tuned on, 39, 64 and 39. A road of another size (a camera whose picture changed) is not used."""
        self._kept_road = road

    def detect(self, image: np.ndarray | None, *, analyse: bool = True) -> Detections:
        if not analyse:
            return Detections.empty()  # skipped frames cost nothing: the model learns at the analysis rate
        found = self._detect(image)
        self._remember(found)
        if self._riders is not None and len(found):
            self._riders.observe(found.xyxy, image.shape[0])
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
        cast = cv2.bitwise_and(model_shadows(self._mask), near)
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
        self._resume(small)  # from a road an earlier run learnt, if one was given
        rate = 0.2 if self._settling else (-1 if self._analysed < self._warmup else 1.0 / self._history)
        mask = self._model.apply(small, learningRate=rate)
        self._mask = mask
        if self._settling:
            self._settling -= 1
        foreground = self._foreground(mask, small)
        foreground = self._without_light_edges(foreground, small)
        foreground = opened_2x2(foreground)  # single-pixel specks out
        learnt = self._learnt
        assert learnt is not None  # taken by the foreground's tests
        foreground = learnt.without_reflections(foreground, grey)
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
        shown = learnt.texture_shown(grey, labels, origin, keep, cfg.light_texture_correlation)  # NaN where the road has no texture to tell
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
        two_wide, stacked, by_colour, abreast, abreast_scale = self._merged.by_size(boxes, dark=learnt.dark)
        candidate = (s[:, 2] >= 8) | (s[:, 3] >= 8)
        # After dark a vehicle's lit lamps and its unlit body meet at a neck too: no cut there.
        neck = 0.0 if learnt.dark else 0.4
        if candidate.any():
            parts: list[tuple[float, ...]] = []
            # Blobs are cut in the labels' box: their coordinates there, their pieces' in the frame.
            ox, oy = origin
            labelled = (slice(oy, oy + labels.shape[0]), slice(ox, ox + labels.shape[1]))
            solid = learnt.without_cast_shadows(opened, small, labelled) if (two_wide & candidate).any() and not learnt.dark else opened[labelled]
            split = split_turned if self._classifier.crosswise else split_merged
            for index in np.flatnonzero(candidate):
                x, y, w, h, area = (int(v) for v in stats[kept[index]])
                x, y = x - ox, y - oy
                label = int(kept[index])
                gaps = solid if two_wide[index] else None
                pieces = split(labels, label, x, y, w, h, area, column_depth=0.8 if two_wide[index] else 0.3, opened=gaps, row_neck=neck)
                pieces = [(px + ox, py + oy, pw, ph, fill) for px, py, pw, ph, fill in pieces]
                if two_wide[index] and len(pieces) > 1 and not self._merged.holds_a_rider(pieces, inv, dark=learnt.dark):
                    pieces = split(labels, label, x, y, w, h, area, column_depth=0.3, row_neck=neck)
                    pieces = [(px + ox, py + oy, pw, ph, fill) for px, py, pw, ph, fill in pieces]
                if len(pieces) == 1 and (stacked[index] or by_colour[index]):
                    pieces = self._merged.cut_without_a_valley(labels, label, (x, y, w, h), origin, raw[labelled], solid, inv) or pieces
                elif len(pieces) == 1 and abreast[index]:
                    assert abreast_scale is not None
                    pieces = self._merged.cut_abreast(labels, label, (x, y, w, h), origin, inv, abreast_scale[index]) or pieces
                if self._monochrome:
                    pieces = learnt.without_shadow_pieces(pieces, labels, label, origin, small)
                parts.extend(pieces)
            b = np.concatenate([b[~candidate], np.asarray(parts, dtype=np.float32).reshape(-1, 5)])
        if len(b) > 1:
            b = self._pieces.join(b, raw, inv, dark=learnt.dark, unlit=learnt.unlit, monochrome=self._monochrome)
        xyxy = box_corners(b) * inv
        # In place (``xyxy[:, [0, 2]]`` would clip a copy): scaled back from the analysis size, a
        # box at the bottom edge may end a fraction of a pixel below the frame.
        np.clip(xyxy, 0, np.array([width, height, width, height], np.float32), out=xyxy)
        found = Detections(xyxy=xyxy, confidence=np.clip(0.5 + b[:, 4] / 2, 0, 1), class_id=self._classifier.classify(xyxy))
        return found if self._groups is None else self._groups.cut(found, b[:, 4] * b[:, 2] * b[:, 3] * (inv * inv), height)

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
        if counts_people:
            assert self._groups is not None
            lit |= self._groups.light(boxes, s[:, 4] * (inv * inv), shown)
        return lit

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
        if fw and self._learnt is not None:
            weak = self._learnt.weak_shadows_near(foreground, mask, small, box)
            if weak is not None:
                foreground[box] |= weak
            if self._fills_holes and not self._learnt.dark:
                # By day a hole in a blob is its object's: a window or a roof the road's grey, or
                # a grey car's body the model took for its own shadow (most real cars are white,
                # grey or black on grey asphalt). Left empty, it cuts the object into pieces, each
                # counted. A cast shadow lies beside its object, not inside it. After dark the
                # lamps' glows ring unlit road between vehicles: nothing is filled. Nor is a hole
                # a third of the picture across: a cloud's shadow ringed by what the light field
                # left of its edge.
                foreground[box] = with_holes_filled(foreground[box], largest=self._largest_hole)
        learnt = self._refresh_background()
        self.shaken = False
        if fw:
            # Only a shaken frame lights up the road's edges everywhere; the envelope test would also
            # cut a vehicle in two where it covers a white stop line, so it applies to shaken frames only.
            inside = cv2.bitwise_and(foreground[box], learnt.outside_envelope(small, box, self._config.envelope_threshold))
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
        gain, field, learnt = self._light.gain, self._light.field, self._learnt
        if not self._light_edges or gain is None or field is None or learnt is None or learnt.dark or self._monochrome or min(gain.shape) < 3:
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
        road = learnt.colour[ys, xs].astype(np.float32)
        level = (seen.sum(axis=1) + 3.0) / (road.sum(axis=1) + 3.0)  # how much lighter or darker than the road
        # The light here lies between the lowest and the highest gain of the blocks around; the
        # field divided out one value between them, or beyond them past the outer blocks.
        divided = field[ys, xs]
        within = (level * divided >= low[by, bx] / _LIGHT_MARGIN) & (level * divided <= high[by, bx] * _LIGHT_MARGIN)
        # The road's own colour in that light, each channel within the sensor's and the codec's noise.
        off = np.abs(seen - road * level[:, None]).max(axis=1)
        light = within & (off <= np.maximum(_LIGHT_NOISE, (_LIGHT_CHROMA - 1.0) * seen.max(axis=1)))
        if light.any():
            foreground = foreground.copy()
            foreground[ys[light], xs[light]] = 0
        return foreground

    def _normalise_light(self, small: np.ndarray, grey: np.ndarray) -> np.ndarray:
        """Undo changes of light (a cloud's shadow, the sun behind haze, auto exposure) before the
        model sees the frame: as a smooth field of gains against the background, measured where no
        tracked object is. A background model may not learn fast enough to follow the light without
        swallowing a vehicle waiting at a red light."""
        if self._learnt is None:
            return small
        return self._light.normalise(small, self._learnt.grey, self._objects, grey=grey)

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

    def _resume(self, small: np.ndarray) -> None:
        """The model started from the road given to ``start_from``, warmed up, if there is one and
        it is of ``small``'s size. Its pixels start with the narrowest spread the model allows, as
        a model settled on a steady road has it:
        OpenCV's initial spread, nearly four times wider, would hide vehicles close to the road's
        colour until it had narrowed at the slow rate, minutes later (tuning seeds 1-2 restarted:
        97 wrong counts with the spread measured on the first frame, 72 with the narrowest). A
        first frame unlike the road (a camera moved meanwhile, the light changed) is a global
        change, relearnt fast as any."""
        road, self._kept_road = self._kept_road, None
        if road is None or road.shape != small.shape or road.dtype != np.uint8:
            return
        model = self._new_model()
        spread = model.getVarInit()
        model.setVarInit(model.getVarMin())
        model.apply(road, learningRate=1.0)  # a rate of 1: the model made afresh from this one picture
        model.setVarInit(spread)
        self._model = model
        self._analysed = self._warmup
        self._envelope_age = 0

    def _refresh_background(self) -> LearnedBackground:
        """The learned background and what the tests read of it, taken again every few analysed frames."""
        if self._envelope_age <= 0 or self._learnt is None:
            self._learnt = LearnedBackground.learn(self._model.getBackgroundImage(), self._config)
            self._envelope_age = 4  # the background drifts slowly: refresh every few analysed frames
        self._envelope_age -= 1
        return self._learnt

    def _resize_for(self, width: int, height: int) -> None:
        cfg = self._config
        self._size = (width, height)
        seen = self._seen_width or width
        scale = cfg.scale_at(seen)
        self._small = (max(16, round(width * scale)), max(16, round(height * scale)))
        self._factor = self._small[0] / width
        self._largest_hole = (self._small[0] // 3, self._small[1] // 3)  # filled in a vehicle's blob (``_foreground``)
        self._min_area = cfg.min_area_at(seen)  # in square pixels of the picture
        gap = cfg.merge_at(seen) * self._factor  # in analysis pixels
        size = 2 * int(round(gap / 2)) + 1  # odd, so closing does not shift blobs
        self._kernel_close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)) if gap >= 1 else None
        self._masked = self._masks.raster(self._small, self._factor)
        self._unmasked = None if self._masked is None else cv2.bitwise_not(self._masked)


_LIGHT_EDGE = 1.3  # gain ratio between neighbouring blocks of the light field that marks an edge of light
_LIGHT_MARGIN = 1.1  # how far beyond the gains of the blocks around a pixel its light may be
_LIGHT_CHROMA = 1.06  # a pixel is the road in other light when each channel is within this factor of the road's times its lightness
_LIGHT_NOISE = 8  # or within this many grey levels of it (noise and compression: a dark road's channels differ by more than the factor)
_MONOCHROME_SHADOW_TAU = 0.9  # on a grey picture, the darkening ratio above which a pixel may be a shadow
_COLOUR_EVERY = 4  # analysed frames between two looks at the picture's colour
_MONOCHROME_AFTER = 3  # looks in a row without colour (about 1.5 s) before the picture is taken for grey
