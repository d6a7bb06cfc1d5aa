"""What the motion detector's pixel tests read of the background it has learnt.

The background model (MOG2) answers per pixel: object, shadow or road. Its answer is second-guessed
against the background it has learnt, taken again every few analysed frames
(``LearnedBackground.learn``):
- a weak "shadow" right next to an object is the object itself (a car painted the asphalt's grey);
- on a shaken frame, a pixel within the range of its 3x3 neighbourhood of the background is the
  road moved by a pixel (a lane's marking), not an object;
- a blob through which the road's fine texture shows is the road in other light;
- the road darkened evenly, to about half, is a cast shadow (riders' shadows between them; on a
  grey picture, a vehicle's shadow cut off from it);
- on a lit road after dark, a thin bright streak is a lamp's reflection on the wet surface.
The background's mean grey also tells day from dusk or night, and a lit road from an unlit one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from camera_agents.config import MotionDetectorConfig

DARK_SCENE = 90  # mean grey level of the learned background below which the scene is after dark
UNLIT_SCENE = 35  # below which no street light lights the road (lit at night: 60 and over)
_REFLECTION_MIN_LIFT = 6  # grey levels over the learned road that make a thin streak a lamp's reflection
_SHADOW_PIECE_SHARE = 0.5  # of a piece's pixels in a cast shadow's shade, on a grey picture by day...
_SHADOW_PIECE_SPREAD = 0.25  # ...darkened evenly: the spread of their darkening (grey over the road's) at most this


def _kernel(kernel: np.ndarray) -> np.ndarray:
    kernel.flags.writeable = False  # shared by every camera's detector
    return kernel


_ENVELOPE = _kernel(cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
_NEAR = _kernel(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))  # how near an object a weak shadow must be
_STREAK = _kernel(np.ones((1, 4), np.uint8))  # opening with it keeps what is 4 pixels wide or more


def model_shadows(mask: np.ndarray) -> np.ndarray:
    """The background model's shadow pixels (127), not its foreground (255, above 200) nor the road (0)."""
    return cv2.inRange(mask, 101, 200)


@dataclass(frozen=True, eq=False)
class LearnedBackground:
    """The learnt background and what the tests read of it, all at the analysis scale."""

    colour: np.ndarray  # BGR
    grey: np.ndarray
    texture: np.ndarray  # the fine texture: grey minus its 5x5 mean (float32)
    texture_energy: np.ndarray  # its local energy: the 5x5 mean of its square
    textured: np.ndarray  # where that energy is enough to tell light from objects
    shadow_floor: np.ndarray  # grey above which a "shadow" pixel is barely darker than the road
    shadow_low: np.ndarray  # the band of grey a cast shadow darkens the road to: 0.45...
    shadow_high: np.ndarray  # ...to 0.7 of it
    high: np.ndarray  # per pixel, the brightest of its 3x3 neighbourhood, per channel
    low: np.ndarray  # and the darkest
    dark: bool  # the road is as dark as at dusk or at night: vehicles' lamps are lit
    unlit: bool  # night without street lights: of a vehicle as dark as the road only its lamps show
    reflection_floor: np.ndarray | None  # the grey a lamp's reflection is brighter than (lit road after dark only)

    @classmethod
    def learn(cls, background: np.ndarray, config: MotionDetectorConfig) -> LearnedBackground:
        """What the tests read of ``background`` (BGR, the model's ``getBackgroundImage``)."""
        grey = cv2.cvtColor(background, cv2.COLOR_BGR2GRAY)
        texture = grey.astype(np.float32) - cv2.blur(grey, (5, 5)).astype(np.float32)
        energy = cv2.blur(texture * texture, (5, 5))
        level = cv2.mean(grey)[0]
        dark, unlit = level < DARK_SCENE, level < UNLIT_SCENE
        # Reflections are looked for on a lit road after dark only: on an unlit road a vehicle
        # as dark as the road shows only its lamps, as thin and bright as a reflection.
        lit_after_dark = dark and not unlit
        return cls(
            colour=background,
            grey=grey,
            texture=texture,
            texture_energy=energy,
            textured=energy >= config.light_texture_floor * config.light_texture_floor,
            shadow_floor=cv2.convertScaleAbs(grey, alpha=config.shadow_max_ratio),
            shadow_low=cv2.convertScaleAbs(grey, alpha=0.45),
            shadow_high=cv2.convertScaleAbs(grey, alpha=0.7),
            high=cv2.dilate(background, _ENVELOPE),
            low=cv2.erode(background, _ENVELOPE),
            dark=dark,
            unlit=unlit,
            reflection_floor=cv2.add(grey, _REFLECTION_MIN_LIFT) if lit_after_dark else None,
        )

    def weak_shadows_near(self, foreground: np.ndarray, mask: np.ndarray, small: np.ndarray, box: tuple[slice, slice]) -> np.ndarray | None:
        """"Shadow" pixels that are barely darker than the road, next to foreground, as foreground
        (within ``box``, which holds the foreground and 2 pixels around it; None: there are none).

        MOG2 calls any slightly darker, same-hue pixel a shadow, which erases a car painted close
        to the asphalt's grey, leaving its windows as separate blobs. A cast shadow darkens much
        more (to about 0.6); so a weak darkening right next to an object is the object itself.
        """
        shadow = model_shadows(mask[box])
        if not cv2.countNonZero(shadow):
            return None
        grey = cv2.cvtColor(small[box], cv2.COLOR_BGR2GRAY)
        weak = cv2.compare(grey, self.shadow_floor[box], cv2.CMP_GT)
        # Dilated within the box: the foreground is all inside it, and nothing outside it lights up.
        near = cv2.dilate(foreground[box], _NEAR)
        return cv2.bitwise_and(cv2.bitwise_and(shadow, weak), near)

    def outside_envelope(self, small: np.ndarray, box: tuple[slice, slice], threshold: float) -> np.ndarray:
        """Pixels within ``box`` that differ by more than ``threshold`` from every background
        pixel of their 3x3 neighbourhood.

        A swaying pole shifts the image by a pixel, which turns every sharp edge of the road
        (lane markings, the stop line, kerbs) into foreground for a per-pixel model; an object
        is darker or brighter than the whole neighbourhood of the background it covers.
        """
        difference = cv2.max(cv2.subtract(small[box], self.high[box]), cv2.subtract(self.low[box], small[box]))
        _, over = cv2.threshold(difference, threshold, 255, cv2.THRESH_BINARY)  # per channel
        # Outside where any channel is over: grey is 0 only where all three are (each weighs > 0).
        return cv2.compare(cv2.cvtColor(over, cv2.COLOR_BGR2GRAY), 0, cv2.CMP_GT)

    def texture_shown(self, grey: np.ndarray, labels: np.ndarray, origin: tuple[int, int], keep: np.ndarray, correlation: float) -> np.ndarray:
        """Per blob kept (``labels`` 1.., a box of the frame at ``origin``), the share of its
        textured pixels where the background's fine texture shows through, scaled but unchanged
        (local correlation of ``correlation`` or more): the road in other light (a cloud's edge, a
        headlight's pool) shows it; an object hides the texture it covers. NaN where the
        background is too plain to tell. ``grey``: the frame as the camera saw it."""
        shown = np.full(len(keep), np.nan)
        ox, oy = origin
        lh, lw = labels.shape
        # Per blob label, its textured pixels and those of them where the texture shows.
        in_blob = np.flatnonzero(self.textured[oy : oy + lh, ox : ox + lw] & (labels > 0))
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
        ab = cv2.blur(a * self.texture[y0:y1, x0:x1], (5, 5)).reshape(-1)[at]
        aa = cv2.blur(a * a, (5, 5)).reshape(-1)[at]
        bb = self.texture_energy.reshape(-1)[(rows + oy) * width + cols + ox]
        corr = ab / np.sqrt(np.maximum(aa * bb, 1e-6))
        agrees = corr >= correlation
        agreeing = np.bincount(blob_of[agrees], minlength=len(keep) + 1)[1:]
        shown[tell] = agreeing[tell] / textured[tell]
        return shown

    def shaded(self, grey: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
        """255 where ``grey`` (the frame's grey within ``box``) is the road darkened as a cast
        shadow darkens it, to 0.45-0.7 of the learnt road; 0 elsewhere."""
        return cv2.bitwise_and(cv2.compare(grey, self.shadow_low[box], cv2.CMP_GT), cv2.compare(grey, self.shadow_high[box], cv2.CMP_LT))

    def without_cast_shadows(self, opened: np.ndarray, small: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
        """``opened`` within ``box`` without the pixels darkened as a cast shadow darkens the road
        (to about half): a rider's shadow, darker than the model's shadow band allows here and
        there, fills the road between riders abreast; their bodies are not that even shade of the road."""
        shade = self.shaded(cv2.cvtColor(small[box], cv2.COLOR_BGR2GRAY), box)
        return cv2.bitwise_and(opened[box], cv2.bitwise_not(shade))

    def without_reflections(self, foreground: np.ndarray, grey: np.ndarray) -> np.ndarray:
        """``foreground`` without the streaks a wet road mirrors of each lamp after dark: straight
        down the picture from the lamp, brighter than the road (``grey``, the frame as the camera
        saw it, over ``reflection_floor``) and narrower than 4 analysis pixels. Such a streak joins
        a vehicle to the one ahead of it and lengthens its box. Unchanged where no reflection is
        looked for (by day, or on an unlit road)."""
        if self.reflection_floor is None:
            return foreground
        thin = cv2.subtract(foreground, cv2.morphologyEx(foreground, cv2.MORPH_OPEN, _STREAK))
        return cv2.subtract(foreground, cv2.bitwise_and(thin, cv2.compare(grey, self.reflection_floor, cv2.CMP_GT)))

    def without_shadow_pieces(
        self, pieces: list[tuple[float, ...]], labels: np.ndarray, label: int, origin: tuple[int, int], small: np.ndarray
    ) -> list[tuple[float, ...]]:
        """``pieces`` (x, y, w, h, fill in the frame's analysis pixels) cut from blob ``label`` of
        ``labels`` (a box of the frame at ``origin``) on a grey picture, without those that are a
        vehicle's cast shadow. The model's shadow test reads colour: on a grey picture a shadow
        stays foreground, and a valley between it and what casts it cuts it off into a piece, then
        a track, of its own, counted at the line as a second vehicle. A piece is shadow when half
        its pixels or more are the road darkened as a cast shadow darkens it (to 0.45-0.7 of the
        learnt road), evenly: that darkening's spread a quarter at most (a rider dressed as dark
        shows a lit helmet, a plate, a lamp). Grey copies of the tuning seeds 1-3: 508 -> 438
        wrong counts, of the validation seeds 543 -> 455. All of them shadow: left whole. After
        dark, where shadows are cast by lamps, not the sun, left as they are."""
        if len(pieces) < 2 or self.dark:
            return pieces
        ox, oy = origin
        kept = []
        for piece in pieces:
            x, y, w, h = (int(v) for v in piece[:4])
            own = labels[y - oy : y - oy + h, x - ox : x - ox + w] == label
            box = (slice(y, y + h), slice(x, x + w))
            seen = cv2.cvtColor(small[box], cv2.COLOR_BGR2GRAY)
            grey = seen[own]
            if len(grey) and np.count_nonzero(self.shaded(seen, box)[own]) >= _SHADOW_PIECE_SHARE * len(grey):
                darkening = grey / np.maximum(self.grey[box][own], 1).astype(np.float32)
                if float(darkening.std()) <= _SHADOW_PIECE_SPREAD:
                    continue  # a cast shadow
            kept.append(piece)
        return kept or pieces
