"""The synthetic cameras the traffic agent is tuned on, and the ones it is judged on.

One list each, read by the accuracy tests and by ``python -m bench agent``. Nothing is ever tuned
on ``EVALUATION``: its seeds never appear in ``TUNING``, and four of its variants (the
combinations at the end of the catalogue) have no seed in ``TUNING`` at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from camera_agents.sources._variants import VARIANTS

FRAMES = 1000  # 40 s at 25 fps: 20 to 60 true crossings per line and direction
HELD_OUT = ("night-rain-shake", "diagonal-cloud-grey", "crosswise-exposure-bitrate", "along-road-platoons-shake")

# Nine seeds a variant: a camera's figure moves a lot from seed to seed (dusk's worst line and
# direction is 0.96-0.97 on seeds 1-3 and 0.88-0.89 on seeds 4-6), and a change can move three
# seeds one way and the next six the other.
TUNED_VARIANTS: tuple[str, ...] = tuple(name for name in VARIANTS if name not in HELD_OUT)
TUNING: tuple[tuple[str, int], ...] = tuple((name, seed) for name in TUNED_VARIANTS for seed in range(1, 10))
# Three more seeds of every tuning variant, scored once a change has been chosen on TUNING: a
# change that wins there and loses here fits the tuning seeds, not the variant. The tuning seeds
# flatter some variants (night-wet: 41 wrong counts over its nine tuning seeds in the code of
# 2026-12-05, 76 over twelve seeds drawn afresh).
VALIDATION: tuple[tuple[str, int], ...] = tuple((name, seed) for name in TUNED_VARIANTS for seed in range(20, 23))
EVALUATION: tuple[tuple[str, int], ...] = tuple((name, 101 + 7 * index) for index, name in enumerate(VARIANTS))
# A second draw of every variant. Nothing is tuned on EVALUATION or FRESH and no camera of
# theirs is looked into to find a failure; but both are scored after a candidate change to decide
# whether it stays, so a change kept for them has been chosen on them a little.
FRESH: tuple[tuple[str, int], ...] = tuple((name, 7001 + 13 * index) for index, name in enumerate(VARIANTS))
# A third draw, scored to report figures and never to choose a change: the one set no decision
# has leant on. First scored on 2026-12-03, after that day's changes were chosen.
REPORT_ONLY: tuple[tuple[str, int], ...] = tuple((name, 9001 + 17 * index) for index, name in enumerate(VARIANTS))

@dataclass(frozen=True)
class Camera:
    """A synthetic camera: a variant and a seed, sending ``fps`` frames a second, its pictures
    resized to ``size`` (the lines still drawn on the 960x540 ones) when given, in grey when
    ``grey``; with ``view``, rendered at that size: another view, its vehicles as large in its
    pixels as on a 960x540 camera, its lines drawn on its own pictures; with ``switch`` ("to grey"
    or "to colour"), switching between colour and its night or infrared mode 40 % into the clip;
    not ``calibrated``, installed without the calibration its scene comes with."""

    name: str
    seed: int
    fps: float = 25.0
    size: tuple[int, int] | None = None
    grey: bool = False
    view: tuple[int, int] | None = None
    switch: str | None = None
    calibrated: bool = True

    def __str__(self) -> str:
        at = [f"{self.fps:g} fps"] if self.fps != 25.0 else []
        at += [f"{self.size[0]}x{self.size[1]}"] if self.size else []
        at += [f"a {self.view[0]}x{self.view[1]} view"] if self.view else []
        switched = f" switching {self.switch}" if self.switch else ""
        uncalibrated = "" if self.calibrated else " uncalibrated"
        return f"{self.name} seed {self.seed}" + (f" at {', '.join(at)}" if at else "") + (" in grey" if self.grey else "") + switched + uncalibrated


# Every variant again from a camera set to another frame rate: a city's cameras often send 10 to
# 15 frames a second to save bandwidth, some send 30. The same 40 s each; never tuned on (the
# agent's analysis rate was chosen on tuning and validation seeds rendered at 10, 15 and 30 fps,
# never at 12.5), scored to report.
OTHER_RATES: tuple[Camera, ...] = tuple(
    Camera(name, 5001 + 11 * index, fps=(10.0, 12.5, 15.0, 30.0)[index % 4]) for index, name in enumerate(VARIANTS)
)
# And every variant from a camera whose pictures are another size than the 960x540 its lines were
# drawn on: an NVR's 640x360 substream, 1280x720, full HD. Never tuned on, scored to report.
OTHER_SIZES: tuple[Camera, ...] = tuple(
    Camera(name, 6001 + 11 * index, size=((640, 360), (1280, 720), (1920, 1080))[index % 3]) for index, name in enumerate(VARIANTS)
)
# And every variant from a camera sending grey pictures: in night or infrared mode, or with its
# infrared filter stuck by day. Never tuned on (the changes for grey pictures were chosen on grey
# copies of tuning and validation seeds), scored to report.
MONOCHROME: tuple[Camera, ...] = tuple(Camera(name, 8001 + 11 * index, grey=True) for index, name in enumerate(VARIANTS))
# And the variants after dark and at dusk from a camera switching between colour and its night or
# infrared mode 40 % into the clip, to grey (evening) or back to colour (morning), two seeds each.
# Never tuned on (how the detector follows a switch was chosen on tuning and validation seeds of
# these variants switched the same way), scored to report.
SWITCHING: tuple[Camera, ...] = tuple(
    Camera(name, 11001 + 100 * index + 10 * turn + draw, switch=switch)
    for index, name in enumerate(("dusk", "night-wet", "night-dark", "night-rain-shake"))
    for turn, switch in enumerate(("to grey", "to colour"))
    for draw in (0, 1)
)
# And every variant from a camera whose picture shows another view, its vehicles as large in its
# pixels as on a 960x540 camera: wider at 1280x720 and full HD, narrower at 640x480 and 704x576
# (4:3 and PAL's D1, shapes the family had never rendered). Never tuned on (the settings' rule for
# such pictures was chosen on tuning seed 1 and validation seed 20 at those sizes), scored to report.
OTHER_VIEWS: tuple[Camera, ...] = tuple(
    Camera(name, 10001 + 11 * index, view=((1280, 720), (1920, 1080), (640, 480), (704, 576))[index % 4])
    for index, name in enumerate(VARIANTS)
)

# And every variant from a camera installed without a calibration: what a vehicle's size is at each
# spot is then learnt from what the camera sees (riders abreast told from one rider on traffic up
# and down the picture), or not known. Never tuned on (the rider's width and how soon it is learnt
# were chosen on the tuning and validation seeds without their calibration), scored to report.
UNCALIBRATED: tuple[Camera, ...] = tuple(Camera(name, 12001 + 11 * index, calibrated=False) for index, name in enumerate(VARIANTS))

# A subset of the evaluation cameras for the test suite, one per axis, on shorter clips.
TEST_SUBSET: tuple[tuple[str, int], ...] = tuple(
    pair for pair in EVALUATION if pair[0] in ("crosswise-trees", "cloud-ten-seconds", "high-along-road", "night-wet", "shake", "low-bitrate")
)
TEST_FRAMES = 600

TARGET_EVERY = 0.95  # per line and direction, on every evaluation camera
TARGET_MEDIAN = 0.98
# A floor under what the agent holds on every held-out camera the tests count, its worst line and
# direction (EVALUATION's worst on the benchmark's full clips 0.926, diagonal-cloud-grey seed 304
# and night-dark seed 248; the tests' cameras, on shorter clips and at other rates and sizes,
# 0.909 at worst, oblique-crosswise seed 129 at 15 fps: one count more on a line of 22 would be
# 0.86): the tests keep it from slipping back. The target above is not met yet; `python -m bench
# agent` prints the whole distribution against it.
HELD_EVERY = 0.85


def spec(name: str, seed: int, frames: int = FRAMES, *, fps: float = 25.0, view: tuple[int, int] | None = None) -> str:
    """The camera's synthetic source: ``frames`` frames at 25 fps, or as many seconds at ``fps``;
    rendered at ``view`` (width, height) when given, else 960x540."""
    source = f"synthetic:traffic?variant={name}&seed={seed}"
    source += f"&frames={frames}" if fps == 25.0 else f"&frames={round(frames * fps / 25.0)}&fps={fps:g}"
    return source + (f"&width={view[0]}&height={view[1]}" if view else "")


assert not set(TUNING) & set(EVALUATION) and not set(FRESH) & (set(TUNING) | set(EVALUATION))
assert not set(REPORT_ONLY) & (set(TUNING) | set(EVALUATION) | set(FRESH))
assert not set(VALIDATION) & (set(TUNING) | set(EVALUATION) | set(FRESH) | set(REPORT_ONLY))
_ELSEWHERE = set(TUNING) | set(VALIDATION) | set(EVALUATION) | set(FRESH) | set(REPORT_ONLY)
assert not {(c.name, c.seed) for c in OTHER_RATES + OTHER_SIZES + MONOCHROME + OTHER_VIEWS + SWITCHING + UNCALIBRATED} & _ELSEWHERE
assert len({(c.name, c.seed) for c in SWITCHING}) == len(SWITCHING)
assert len(EVALUATION) >= 24
