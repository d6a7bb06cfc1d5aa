"""Light is not traffic: undo changes of illumination before a background model sees a frame.

A cloud's shadow, the sun going behind clouds and a cheap camera's auto-exposure all multiply
the scene's brightness by a factor that varies slowly across the picture and may change within a
second. ``LightField`` measures that factor on a coarse grid of blocks, as the median ratio of the
frame to the learned background over the pixels no tracked object covers (a block hidden for
more than a second is measured anyway), cleans the grid of blocks that a vehicle nobody tracks yet
fills (a vehicle is a block or two; light is smooth over many), and divides the frame by the
smooth field. What is left for the background model is the objects. ``colour_share`` tells a picture
in colour from a grey one (a camera in night or infrared mode).
"""

from __future__ import annotations

import cv2
import numpy as np

# A pixel is in colour when its channels differ by this many grey levels; compression leaves a grey
# picture's channels within a few levels of each other. A picture with under this share of its
# pixels in colour is monochrome (a camera in night or infrared mode; a daylight street in colour
# has several per cent at least, the synthetic night scenes a third).
COLOUR_SPREAD = 12
MONOCHROME_SHARE = 0.002


# A picture's chroma spread (``chroma_spread``) at most in grey, at least in colour; between, undecided.
GREY_CHROMA_MAX, COLOUR_CHROMA_MIN = 0.25, 1.0


def chroma_spread(image: np.ndarray) -> float:
    """How much a BGR picture's colour varies: the larger standard deviation of blue minus green
    and of red minus green, in grey levels. A camera's night or infrared mode sends none (its
    channels differ, if at all, by one offset everywhere: 0.0-0.02 on grey copies of the synthetic
    cameras after their codec); a camera in colour shows its sensor's noise even on a grey street
    (a 3-level noise per channel: 2.2 at the analysis scale) and its scene's colours (7.5-40)."""
    b, g, r = cv2.split(image)
    spread = 0.0
    for other in (b, r):
        _, deviation = cv2.meanStdDev(cv2.subtract(other, g, dtype=cv2.CV_16S))
        spread = max(spread, float(deviation[0, 0]))
    return spread


def colour_share(image: np.ndarray) -> float:
    """Share of a BGR picture's pixels whose channels differ by ``COLOUR_SPREAD`` grey levels or more.
    The largest difference of two channels is the spread; OpenCV's per-plane steps measured 50x
    faster than numpy's max and min over the channel axis (0.03 against 1.6 ms an analysis frame)."""
    b, g, r = cv2.split(image)
    spread = cv2.max(cv2.max(cv2.absdiff(b, g), cv2.absdiff(g, r)), cv2.absdiff(b, r))
    _, coloured = cv2.threshold(spread, COLOUR_SPREAD - 1, 255, cv2.THRESH_BINARY)
    return cv2.countNonZero(coloured) / spread.size


class LightField:
    """Per-block illumination gain of a frame against its background, and the frame without it."""

    def __init__(self, *, block: int = 12, limits: tuple[float, float] = (0.25, 4.0)) -> None:
        self.block = block  # side of a block, in pixels of the frames it is given
        self._limits = limits
        self.gain: np.ndarray | None = None  # read-only: the last measured grid of gains
        self.field: np.ndarray | None = None  # read-only: the per-pixel gain last divided out (None: none was)
        self._hidden_for: np.ndarray | None = None  # per block, analyses in a row it was under objects
        self._field3: np.ndarray | None = None  # the field per channel, reused
        self._quotient: np.ndarray | None = None  # the frame divided by it, reused
        # What the measurement needs of the reference, kept while the reference stays the same
        # (the background is refreshed every few analysed frames, the light measured every frame).
        self._reference: np.ndarray | None = None
        self._divisor: np.ndarray | None = None
        self._unlit: np.ndarray | None = None

    def normalise(
        self, small: np.ndarray, reference: np.ndarray, objects: np.ndarray | None = None, *, grey: np.ndarray | None = None
    ) -> np.ndarray:
        """``small`` (BGR uint8) with the illumination change against ``reference`` (the background,
        grey uint8, same size) divided out. ``objects`` (uint8 mask, same size) marks pixels to leave
        out of the measurement: where tracked objects are (for a second at most per block).
        ``grey``: ``small`` in grey, when the caller has it already."""
        h, w = reference.shape
        b = self.block
        ny, nx = max(h // b, 1), max(w // b, 1)
        if grey is None:
            grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        grey = grey[: ny * b, : nx * b]
        divisor, unlit = self._reference_terms(reference, ny * b, nx * b)
        ratio = grey.astype(np.float32) / divisor
        # Saturated, black, and object pixels say nothing about the light.
        bad = unlit | (grey > 250)
        if objects is not None:
            hidden = objects[: ny * b, : nx * b] > 0
            # A block hidden for a second is measured anyway: vehicles move on, and light taken
            # for an object must not shut itself out of the measurement for good.
            covered = _block_sums(hidden, b) > (b * b) / 2
            if self._hidden_for is None or self._hidden_for.shape != covered.shape:
                self._hidden_for = np.zeros(covered.shape, np.int32)
            self._hidden_for = np.where(covered, self._hidden_for + 1, 0)
            stale = self._hidden_for > 8
            if stale.any():  # per block, broadcast over its pixels
                bad |= (hidden.reshape(ny, b, nx, b) & ~stale[:, None, :, None]).reshape(hidden.shape)
            else:
                bad |= hidden
        ratio[bad] = np.nan
        blocks = ratio.reshape(ny, b, nx, b).transpose(0, 2, 1, 3).reshape(ny, nx, b * b)
        blocks.sort(axis=2)  # in place: the reshape above made a copy; NaNs sort last
        valid = b * b - _block_sums(bad, b)  # every ratio but the bad ones is a number
        middle = valid // 2  # 0 to b * b / 2: always inside the block
        gain = blocks.reshape(-1)[np.arange(0, ny * nx * b * b, b * b).reshape(ny, nx) + middle]
        gain[valid < (b * b) // 4] = np.nan
        self.field = None
        if np.isnan(gain).all():
            self.gain = None
            return small
        known = ~np.isnan(gain)
        overall = _median(gain[known])
        if not known.all():  # blocks under objects take their neighbours' light, nearest first
            values = np.where(known, gain, 0.0).astype(np.float32)
            weights = known.astype(np.float32)
            for _ in range(4):
                total = cv2.blur(values, (3, 3), borderType=cv2.BORDER_CONSTANT)
                count = cv2.blur(weights, (3, 3), borderType=cv2.BORDER_CONSTANT)
                grow = (weights == 0) & (count > 0)
                if not grow.any():
                    break
                values[grow] = total[grow] / count[grow]
                weights[grow] = 1.0
            gain = np.where(weights > 0, values, overall)
        gain = gain.astype(np.float32)
        # A vehicle nobody tracks yet fills a block or two with its own colour; light varies
        # smoothly (a wider median would also round off the edge of a cloud's shadow).
        if min(ny, nx) >= 3:
            gain = cv2.medianBlur(gain, 3)
        _clip(gain, self._limits)
        self.gain = gain
        if float(np.abs(gain - 1.0).max()) < 0.02:
            return small
        # Block centres on block centres, and the light's slope carried on past the outer ones (a
        # cloud's edge crossing a corner of the frame bends the field there).
        padded = _pad_odd_reflect(gain) if min(ny, nx) >= 2 else np.pad(gain, 1, mode="edge")
        _clip(padded, self._limits)
        full = cv2.resize(padded, ((nx + 2) * b, (ny + 2) * b), interpolation=cv2.INTER_LINEAR)
        field = full[b : b + h, b : b + w]
        if field.shape != (h, w):  # the frame's last partial block: carry the edge on
            field = cv2.copyMakeBorder(field, 0, h - field.shape[0], 0, w - field.shape[1], cv2.BORDER_REPLICATE)
        self.field = field
        # The field repeated per channel: a contiguous divisor divides ~6x faster than a broadcast
        # one. Both frame-sized float buffers are kept from frame to frame, not made afresh each time.
        if self._field3 is None or self._field3.shape != small.shape:
            self._field3 = np.empty(small.shape, np.float32)
            self._quotient = np.empty(small.shape, np.float32)
        cv2.cvtColor(field, cv2.COLOR_GRAY2BGR, dst=self._field3)
        # The frame in floats first, then divided in place: as many instructions as one division
        # that casts its bytes on the way (the same quotients), measured a little faster (43 vs 46 µs).
        np.copyto(self._quotient, small, casting="unsafe")
        np.divide(self._quotient, self._field3, out=self._quotient)
        # Capped at 255 (a quotient is never negative: the gains are), then truncated to bytes.
        cv2.threshold(self._quotient, 255, 255, cv2.THRESH_TRUNC, dst=self._quotient)
        return self._quotient.astype(np.uint8)

    def _reference_terms(self, reference: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The reference's top-left ``height`` x ``width`` as a divisor (at least 1) and where it is
        too dark or too bright to measure light on; worked out again only for another reference.
        A reference is the same while it is the same array: a new background is a new array (the
        detector's is), so no frame-sized comparison is needed to tell."""
        if self._reference is not reference or self._divisor is None or self._divisor.shape != (height, width):
            cropped = reference[:height, :width]
            self._reference = reference
            self._divisor = np.maximum(cropped.astype(np.float32), 1.0)
            self._unlit = (cropped < 12) | (cropped > 240)
        assert self._divisor is not None and self._unlit is not None
        return self._divisor, self._unlit


def _block_sums(mask: np.ndarray, block: int) -> np.ndarray:
    """Per ``block`` x ``block`` tile of a boolean mask (whole tiles only), its true pixels."""
    corners = cv2.integral(mask.view(np.uint8))[::block, ::block]
    return corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]


def _clip(values: np.ndarray, limits: tuple[float, float]) -> None:
    """``np.clip(values, *limits, out=values)`` for arrays without NaN, without its dispatch."""
    np.maximum(values, limits[0], out=values)
    np.minimum(values, limits[1], out=values)


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D float32 array, to the bit, without its generic machinery."""
    ordered = np.sort(values)
    middle = len(ordered) // 2
    return float(ordered[middle]) if len(ordered) % 2 else float(ordered[middle - 1] + ordered[middle]) / 2


def _pad_odd_reflect(grid: np.ndarray) -> np.ndarray:
    """``np.pad(grid, 1, mode="reflect", reflect_type="odd")`` to the bit (rows first, then
    columns, as numpy pads), without its generic machinery."""
    padded = np.empty((grid.shape[0] + 2, grid.shape[1] + 2), grid.dtype)
    padded[1:-1, 1:-1] = grid
    padded[0, 1:-1] = 2 * grid[0] - grid[1]
    padded[-1, 1:-1] = 2 * grid[-1] - grid[-2]
    padded[:, 0] = 2 * padded[:, 1] - padded[:, 2]
    padded[:, -1] = 2 * padded[:, -2] - padded[:, -3]
    return padded
