"""Camera health: is the picture usable, and is the camera there at all?

``HealthMonitor`` is fed every item a source returns (a ``Frame`` or a ``SourceOutage``) and
answers with the events to publish: a ``CameraHealth`` when a condition is raised or cleared, and
a ``Heartbeat`` every few seconds with the measured frame rate. Conditions:

- ``frozen``: the picture has not changed for a while (a hung encoder repeats its last frame;
  a live sensor never gives two identical frames, its noise alone changes them);
- ``blackout``: dark and flat (a covered lens, a dead sensor, a lost video signal);
- ``blur``: much less detail than this camera normally has (fog, a fogged or knocked lens). The
  camera's own normal is learned, so a naturally soft camera is not flagged;
- ``source_lost``: no frames; cleared ("source back") when frames flow again;
- ``moved``: the camera shows another view than before, when the agent started or as its last run
  kept it (a PTZ camera off its preset, a camera knocked or turned): its lines and zones lie on
  other ground (``View``; a reference per colour and night or infrared mode).

Each condition must hold for ``raise_after_s`` before it is raised and be absent for
``clear_after_s`` before it is cleared, so one odd frame never becomes an alert. Frames are
measured on a small grey thumbnail of point samples a few times a second: about 0.2 ms each.
Durations use the frames' own timestamps (a replayed file is judged in video time); heartbeats and
the measured frame rate use the wall clock, since they speak for the agent itself.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
import numpy as np

from camera_agents.light import COLOUR_CHROMA_MIN, GREY_CHROMA_MAX, chroma_spread
from camera_agents.sources import Frame, SourceOutage
from ingest.contract import CameraHealth, Event, HealthCondition, Heartbeat


@dataclass(frozen=True, kw_only=True)
class HealthSettings:
    heartbeat_every_s: float = 5.0
    measure_every_s: float = 0.2  # frames are measured this often (video time)
    thumbnail: tuple[int, int] = (160, 90)
    frozen_after_s: float = 3.0
    # Mean absolute grey change (0..255) of the thumbnail under which two frames are the same: a
    # live sensor's noise alone changes a static scene by ~0.2 or more, even after compression; a
    # frozen feed by 0, or by ~0.1 at a key frame that re-encodes the same picture.
    frozen_max_change: float = 0.08  # median over the last second
    frozen_max_blip: float = 0.5  # no change in the last second may exceed this
    blackout_after_s: float = 2.0
    blackout_max_mean: float = 20.0  # grey level
    blackout_max_contrast: float = 7.0  # standard deviation of grey
    blur_after_s: float = 3.0
    blur_ratio: float = 0.3  # sharpness below this share of the camera's normal is blur
    blur_learn_s: float = 8.0  # video seconds of sharpness samples before blur can be judged
    blur_adapt_s: float = 600.0  # time constant with which the normal follows slow changes (dusk)
    source_lost_after_s: float = 2.0
    # The view: the picture's still structure (its edges, averaged over a few seconds so traffic
    # fades out) against the one it showed in its first seconds, which follows slow changes.
    moved_learn_s: float = 10.0  # video seconds of pictures before the reference view is taken
    moved_every_s: float = 1.0  # the view is judged this often (the average follows every measured frame)
    moved_average_s: float = 6.0  # time constant of the average compared with it (at night, light trails fade out)
    moved_after_s: float = 10.0
    moved_min_similarity: float = 0.65  # correlation of the edges below which it is another view
    moved_max_shift: float = 0.0125  # a shift of the whole picture by this share of its width
    moved_adapt_s: float = 600.0  # time constant with which the reference follows slow changes (dusk)
    # A camera switching to its night or infrared mode sends grey pictures of the same view in
    # another light: the view is then judged against a reference of its own, taken in that mode.
    mode_switch_after_s: float = 3.0  # seconds of pictures in the other mode before the switch is taken
    # An agent restarted (an update, a crash, a power cut that also sent a PTZ camera back to its
    # home position) judges the view and the sharpness against what it kept, if it kept them this
    # recently; older ones are learnt afresh, as the light may have changed as much as a view.
    kept_view_max_age_s: float = 900.0
    clear_after_s: float = 2.0

    def __post_init__(self) -> None:
        for name in (
            "heartbeat_every_s", "measure_every_s", "frozen_after_s", "blackout_after_s", "blur_after_s", "blur_learn_s",
            "blur_adapt_s", "moved_learn_s", "moved_every_s", "moved_average_s", "moved_after_s", "moved_adapt_s",
            "mode_switch_after_s", "kept_view_max_age_s",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ValueError(f"HealthSettings.{name} must be positive")
        if not 0 < self.blur_ratio < 1:
            raise ValueError("HealthSettings.blur_ratio must be within (0, 1)")


@dataclass(frozen=True, slots=True)
class Measurement:
    """What one frame looks like, on its thumbnail."""

    mean: float
    contrast: float
    sharpness: float  # variance of the Laplacian
    change: float | None  # mean absolute change from the previous measured frame
    colour: float  # how much the colour varies (``chroma_spread``): not at all in a camera's night or infrared mode


def measure(image: np.ndarray, previous: np.ndarray | None, size: tuple[int, int] = (160, 90)) -> tuple[Measurement, np.ndarray]:
    """Measure a BGR frame; returns the measurement and its grey thumbnail (for the next change)."""
    # Point samples, not averages: ten times cheaper, and the sensor noise they keep is what tells
    # a live static scene from a frozen feed (averaging smooths a compressed static scene to ~0.1).
    small = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    mean, std = cv2.meanStdDev(grey)
    laplacian = cv2.Laplacian(grey, cv2.CV_32F)
    sharpness = float(laplacian.var())
    change = None if previous is None or previous.shape != grey.shape else float(cv2.absdiff(grey, previous).mean())
    return Measurement(float(mean[0, 0]), float(std[0, 0]), sharpness, change, chroma_spread(small)), grey


@dataclass(frozen=True)
class RememberedView:
    """What an agent keeps of a camera's view across restarts: its references by mode (False: in
    colour, True: in grey, its night or infrared mode; each a grey thumbnail averaged over seconds),
    its normal sharpness (None: not learnt yet), the time of the last picture they were judged with,
    and the road as the motion detector had learnt it then (None: not learnt, or another detector)."""

    references: dict[bool, np.ndarray]
    sharpness: float | None
    seen_at: datetime
    road: np.ndarray | None = None


class View:
    """Whether a camera still shows the view it showed when it started: a PTZ camera sent off its
    preset, or back to its home position after a reboot; a camera knocked, turned or zoomed. Its
    lines and zones then lie on other ground, and its counts mean nothing.

    The picture's edges, averaged over a few seconds (traffic passes, the road stays), are
    correlated with the reference's; and the shift of the whole picture against it is measured
    (phase correlation). Light changes the edges' strength, not where they lie. The reference is
    the average of the first ``moved_learn_s`` and then follows slow changes (dusk), never a moved
    view. A camera's night or infrared mode lights the same view otherwise (its own illuminator
    lights the near road, street lights bloom): the view in that mode has a reference of its own,
    taken in its first ``moved_learn_s`` in that mode and kept for the next time."""

    def __init__(self, settings: HealthSettings) -> None:
        self._s = settings
        self._average: np.ndarray | None = None
        self._references: dict[bool, np.ndarray] = {}  # by mode: False in colour, True in grey
        self._grey: bool | None = None  # the mode of the pictures averaged
        self._since: float | None = None  # when the average began
        self._judged_at = -math.inf
        self._window = cv2.createHanningWindow(settings.thumbnail, cv2.CV_32F)

    @property
    def references(self) -> dict[bool, np.ndarray]:
        """The references taken so far, by mode (copies)."""
        return {grey: reference.copy() for grey, reference in self._references.items()}

    def remember(self, references: dict[bool, np.ndarray]) -> None:
        """Judge against ``references`` (by mode, as ``references`` gives them) instead of taking new ones."""
        for grey, reference in references.items():
            if reference.shape == self._window.shape:
                self._references[grey] = reference.astype(np.float32)

    def judge(
        self, thumbnail: np.ndarray, t: float, *, raised: bool, grey: bool
    ) -> tuple[bool, float, tuple[float, float] | None] | None:
        """Whether the picture (``thumbnail``: its grey thumbnail) shows another view, the edges'
        correlation, and the shift of the whole picture (share of the width, x and y) when that is
        what moved it (the picture moved back by it matches); None while the reference is learnt,
        while the average settles after a switch of mode, and between judgements. ``raised``: the
        condition is raised now (the reference then stays as it was); ``grey``: the camera is in
        its night or infrared mode. The thumbnail's point samples are noisy; their average over
        seconds is not."""
        s = self._s
        if grey != self._grey:  # another picture of the view: averaged afresh, judged against its own reference
            self._grey, self._average, self._since = grey, None, t
        small = thumbnail.astype(np.float32)
        weight = min(1.0, s.measure_every_s / s.moved_average_s)
        self._average = small if self._average is None else self._average + weight * (small - self._average)
        if self._since is not None and t - self._since < s.moved_learn_s:
            return None
        self._since = None
        if grey not in self._references:
            self._references[grey] = self._average.copy()
            return None
        if t - self._judged_at < s.moved_every_s - 1e-6:
            return None
        self._judged_at = t
        held = self._references[grey]
        reference = _edges(held)
        similarity = float((_edges(self._average) * reference).mean())
        (dx, dy), _ = cv2.phaseCorrelate(held.copy(), self._average.copy(), self._window)
        shifted = math.hypot(dx, dy) >= s.moved_max_shift * s.thumbnail[0]
        moved = similarity < s.moved_min_similarity or shifted
        if not moved and not raised:
            held += min(1.0, s.moved_every_s / s.moved_adapt_s) * (self._average - held)
        if shifted:
            back = cv2.warpAffine(self._average, np.float32([[1, 0, -dx], [0, 1, -dy]]), s.thumbnail, borderMode=cv2.BORDER_REFLECT)
            shifted = float((_edges(back) * reference).mean()) >= s.moved_min_similarity
        return moved, similarity, (dx / s.thumbnail[0], dy / s.thumbnail[0]) if shifted else None


def _edges(grey: np.ndarray) -> np.ndarray:
    """The strength of a picture's edges, standardised (zero mean, unit spread)."""
    blurred = cv2.GaussianBlur(grey, (0, 0), 1.0)
    strength = cv2.magnitude(cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3))
    spread = float(strength.std())
    return (strength - strength.mean()) / spread if spread > 1e-6 else strength * 0.0


class Debounced:
    """A condition with hysteresis: raised after holding ``raise_after`` seconds, cleared after
    being absent ``clear_after`` seconds. ``update`` returns "raised", "cleared" or None."""

    def __init__(self, raise_after: float, clear_after: float) -> None:
        self.raise_after, self.clear_after = raise_after, clear_after
        self.raised = False
        self.since: float | None = None  # start of the current streak against the state

    def update(self, present: bool, t: float) -> str | None:
        if present == self.raised:
            self.since = None
            return None
        if self.since is None:
            self.since = t
        if t - self.since >= (self.clear_after if self.raised else self.raise_after):
            self.raised = present
            self.since = None
            return "raised" if present else "cleared"
        return None

    def streak(self, t: float) -> float:
        return 0.0 if self.since is None else t - self.since


class HealthMonitor:
    """Watches one camera; ``observe`` returns the CameraHealth and Heartbeat events to publish."""

    def __init__(
        self,
        camera_id: str,
        *,
        expected_fps: float | None = None,
        settings: HealthSettings = HealthSettings(),
        clock: Callable[[], float] = time.monotonic,
        utc_now: Callable[[], datetime] = lambda: datetime.now(UTC),
        remembered: RememberedView | None = None,
    ) -> None:
        """``remembered``: the view as an earlier run of the agent left it (``remembered_view``)."""
        self.camera_id = camera_id
        self.expected_fps = expected_fps  # informational: the source's nominal rate
        self.settings = settings
        self._clock, self._utc_now = clock, utc_now
        s = settings
        self._conditions: dict[HealthCondition, Debounced] = {
            "frozen": Debounced(s.frozen_after_s, s.clear_after_s),
            "blackout": Debounced(s.blackout_after_s, s.clear_after_s),
            "blur": Debounced(s.blur_after_s, s.clear_after_s),
            "source_lost": Debounced(s.source_lost_after_s, s.clear_after_s),
            "moved": Debounced(s.moved_after_s, s.clear_after_s),
        }
        self._view = View(settings)
        self._remembered = remembered  # until the first picture tells whether it is recent enough
        self._grey = Debounced(s.mode_switch_after_s, s.mode_switch_after_s)  # the camera sends grey: night or infrared mode
        self._previous: np.ndarray | None = None
        self._last_measured: float | None = None
        self._learning: list[float] = []
        self._learning_since: float | None = None
        self._normal_sharpness: float | None = None
        self._unchanged_since: float | None = None
        self._started = clock()
        self._beat_at = self._started
        self._frames = 0
        self._frames_at_beat = 0
        self._last_ts: datetime | None = None
        self._changes: deque[float] = deque(maxlen=max(3, round(1.0 / settings.measure_every_s)))

    @property
    def raised(self) -> set[str]:
        """The conditions raised now."""
        return {name for name, c in self._conditions.items() if c.raised}

    @property
    def normal_sharpness(self) -> float | None:
        return self._normal_sharpness

    def remembered_view(self) -> RememberedView | None:
        """The view's references, the normal sharpness and the time of the last picture, for the
        next run of the agent; None before any reference is taken."""
        references = self._view.references
        if not references or self._last_ts is None:
            return None
        return RememberedView(references, self._normal_sharpness, self._last_ts)

    def observe(self, item: Frame | SourceOutage) -> list[Event]:
        events: list[Event] = []
        if isinstance(item, Frame):
            if self._remembered is not None:
                if 0 <= (item.ts - self._remembered.seen_at).total_seconds() <= self.settings.kept_view_max_age_s:
                    self._view.remember(self._remembered.references)
                    self._normal_sharpness = self._remembered.sharpness  # a lens fogged meanwhile is blur, not its normal
                self._remembered = None
            self._frames += 1
            self._last_ts = item.ts
            t = item.ts.timestamp()
            events += self._change("source_lost", False, t, item.ts, "frames arrive again")
            due = self._last_measured is None or not 0 <= t - self._last_measured < self.settings.measure_every_s - 1e-6
            if due and item.image is not None:  # a frame read without its picture waits for the next
                self._last_measured = t
                events += self._judge(item, t)
        else:
            now = self._utc_now()
            self._last_ts = now
            down_for = (now - item.since).total_seconds()
            # The outage began at ``since``: judge it on that clock, not from when we first heard.
            lost = self._conditions["source_lost"]
            if not lost.raised and lost.since is None:
                lost.since = item.since.timestamp()
            events += self._change("source_lost", True, now.timestamp(), now, f"no frames for {down_for:.1f} s: {item.reason}")
        events += self._heartbeat()
        return events

    def _judge(self, frame: Frame, t: float) -> list[Event]:
        s = self.settings
        m, self._previous = measure(frame.image, self._previous, s.thumbnail)
        events: list[Event] = []
        dark = m.mean <= s.blackout_max_mean and m.contrast <= s.blackout_max_contrast
        events += self._change("blackout", dark, t, frame.ts, f"picture dark and flat (mean grey {m.mean:.1f}, contrast {m.contrast:.1f}): lens covered or no signal")
        # Judged over the last second, not frame by frame: an encoder stuck on one picture still
        # re-encodes it at every key frame, a small blip that must not restart the count.
        if m.change is not None:
            self._changes.append(m.change)
        still = (
            len(self._changes) >= 3
            and statistics.median(self._changes) <= s.frozen_max_change
            and max(self._changes) <= s.frozen_max_blip
        )
        frozen = still and not dark
        if not frozen:
            self._unchanged_since = None
        elif self._unchanged_since is None:
            self._unchanged_since = t - (len(self._changes) - 1) * s.measure_every_s
        unchanged_for = 0.0 if self._unchanged_since is None else t - self._unchanged_since
        events += self._change("frozen", frozen, t, frame.ts, f"picture unchanged for {unchanged_for:.1f} s")
        blurred = False
        if not dark and not frozen:
            blurred = self._learn_sharpness(m.sharpness, t)
        normal = self._normal_sharpness or 0.0
        share = m.sharpness / normal if normal else 1.0
        if dark:  # a black picture has no detail; that is the blackout, not blur
            blurred = self._conditions["blur"].raised
        events += self._change("blur", blurred, t, frame.ts, f"sharpness {share:.0%} of this camera's normal")
        if not dark and not frozen and not blurred:  # a black, stuck or fogged picture shows no view to judge
            # Grey until the colour is clearly back: a colour camera's noise keeps it above the band between.
            self._grey.update(m.colour < (COLOUR_CHROMA_MIN if self._grey.raised else GREY_CHROMA_MAX), t)
            events += self._judge_view(frame, t)
        return events

    def _judge_view(self, frame: Frame, t: float) -> list[Event]:
        assert self._previous is not None  # the thumbnail just measured
        judged = self._view.judge(self._previous, t, raised=self._conditions["moved"].raised, grey=self._grey.raised)
        if judged is None:
            return []
        moved, similarity, shift = judged
        width = frame.image.shape[1]
        detail = (
            f"the view moved: the picture shifted by {shift[0] * width:+.0f} px across and {shift[1] * width:+.0f} px down"
            if shift is not None
            else f"the view is not the one it showed before (its edges {similarity:.0%} alike): turned, zoomed or pointed elsewhere"
        )
        return self._change("moved", moved, t, frame.ts, detail + "; lines and zones lie on other ground")

    def _learn_sharpness(self, sharpness: float, t: float) -> bool:
        """Whether ``sharpness`` is blur for this camera; learns the camera's normal meanwhile."""
        s = self.settings
        if self._normal_sharpness is None:
            if self._learning_since is None:
                self._learning_since = t
            self._learning.append(sharpness)
            if t - self._learning_since >= s.blur_learn_s and len(self._learning) >= 5:
                self._normal_sharpness = statistics.median(self._learning)
                self._learning = []
            return False
        blurred = sharpness < s.blur_ratio * self._normal_sharpness
        if not blurred and not self._conditions["blur"].raised:
            # Follow slow changes (dusk, rain) without ever learning the blur itself.
            # Rising detail (a lens cleaned, a soft start) is trusted ten times faster than falling.
            weight = min(1.0, s.measure_every_s / s.blur_adapt_s * (10.0 if sharpness > self._normal_sharpness else 1.0))
            self._normal_sharpness += weight * (sharpness - self._normal_sharpness)
        return blurred

    def _change(self, condition: HealthCondition, present: bool, t: float, ts: datetime, detail: str) -> list[Event]:
        state = self._conditions[condition].update(present, t)
        if state is None:
            return []
        if state == "cleared":
            detail = {
                "frozen": "picture changes again",
                "blackout": "picture visible again",
                "blur": "picture sharp again",
                "source_lost": "source back: frames arrive again",
                "moved": "the view is back where it was",
            }[condition]
        return [CameraHealth(camera_id=self.camera_id, ts=ts, condition=condition, state=state, detail=detail)]  # type: ignore[arg-type]

    def finish(self) -> list[Event]:
        """The events that close a run: a last heartbeat over the time since the previous one (a
        file analysed in three seconds would otherwise never send one)."""
        if self._frames == self._frames_at_beat:
            return []
        return self._heartbeat(force=True)

    def _heartbeat(self, *, force: bool = False) -> list[Event]:
        now = self._clock()
        elapsed = now - self._beat_at
        if elapsed < self.settings.heartbeat_every_s and not force:
            return []
        fps = (self._frames - self._frames_at_beat) / elapsed if elapsed > 0 else 0.0
        self._beat_at, self._frames_at_beat = now, self._frames
        ts = self._last_ts or self._utc_now()
        return [Heartbeat(camera_id=self.camera_id, ts=ts, fps=round(fps, 2), frames=self._frames, uptime_s=round(now - self._started, 3))]


__all__ = ["Debounced", "HealthMonitor", "HealthSettings", "Measurement", "View", "measure"]
