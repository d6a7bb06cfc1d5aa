"""The named camera variants of the synthetic traffic family: ``synthetic:traffic?variant=NAME&seed=N``.

Each variant fixes where it stands on four axes (geometry, traffic, light, camera); the seed draws
the details inside it (exact angles, scale, rates, where the shadows fall, when the cloud comes).
A variant is a plain table of settings over the defaults below, so a new camera type is one line.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal


@dataclass(frozen=True)
class Variant:
    name: str
    # geometry
    view: Literal["topdown", "oblique"] = "oblique"
    travel: Literal["updown", "leftright", "diagonal"] = "updown"
    ways: int = 2  # 1: one-way, 2: two-way
    lanes: int = 4  # 2..6, all carriageways together
    scale_ratio: float = 3.0  # how much larger a vehicle is at the near edge than at the far one (1..6)
    lift: float = 0.6  # ground metres a point one metre up is drawn further away (0.1 top-down .. 1 low pole)
    near_ppm: float = 40.0  # pixels per metre across the near edge of the view
    # traffic
    motorbike_share: float = 0.72
    rate: float = 0.55  # arrivals per second per lane
    light: bool = False  # a traffic light before the first line: platoons at green
    red_s: float = 6.0
    side_by_side: float = 0.0  # chance a motorbike arrives with a partner riding abreast
    grey_share: float = 0.2  # vehicles painted close to the asphalt (or dark at night)
    follow_gap: float = 1.0  # 1: followers keep clear in view; lower lets a taller vehicle hide the one ahead
    # light
    trees: int = 3  # static tree shadows on the road
    building_shadow: bool = False
    clouds: tuple[tuple[str, float], ...] = ()  # (part|full, seconds to cross the frame) each
    gain_step: bool = False  # the sun goes behind clouds and comes back: a global change of light
    time: Literal["day", "dusk", "night"] = "day"
    wet: bool = False  # headlight reflections on the road
    street_lights: bool = False
    rain: float = 0.0  # streaks per frame, as a share of 1000
    # camera
    shake_px: int = 1
    shake_share: float = 0.15  # frames shaken
    vibration: bool = False  # shaken every frame, not now and then
    drift_px: int = 0  # slow drift of the pole over the clip
    auto_exposure: bool = False
    jpeg_quality: int | None = None  # low-bitrate artefacts when set (10..40)

    def axes(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _v(name: str, **settings) -> Variant:
    return replace(Variant(name=name), **settings)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        # geometry
        _v("crosswise-trees", view="topdown", travel="leftright", lift=0.1, scale_ratio=1.0, near_ppm=30, trees=9, grey_share=0.45),
        _v("topdown-updown", view="topdown", travel="updown", lift=0.12, scale_ratio=1.0, near_ppm=30),
        _v("topdown-diagonal", view="topdown", travel="diagonal", lift=0.12, scale_ratio=1.1, near_ppm=28),
        _v("oblique-diagonal", travel="diagonal", scale_ratio=2.5, lift=0.5),
        _v("oblique-crosswise", travel="leftright", scale_ratio=1.8, lift=0.6, near_ppm=34),
        _v("high-along-road", travel="updown", scale_ratio=6.0, lift=0.45, near_ppm=70, shake_px=2, shake_share=0.35, follow_gap=0.25, rate=0.65),
        _v("one-way-three-lanes", ways=1, lanes=3, scale_ratio=2.5),
        _v("two-lanes", lanes=2, scale_ratio=2.0, near_ppm=48),
        _v("six-lanes", lanes=6, scale_ratio=3.0, near_ppm=30),
        _v("low-pole", scale_ratio=4.0, lift=0.95, near_ppm=45),
        # traffic
        _v("platoons", light=True, red_s=7.0, rate=0.7),
        _v("queue", light=True, red_s=14.0, rate=0.75, scale_ratio=3.5),
        _v("side-by-side", side_by_side=0.5, motorbike_share=0.85, rate=0.65),
        _v("asphalt-grey", grey_share=0.6),
        # light
        _v("building-shadow", building_shadow=True, trees=5),
        _v("cloud-ten-seconds", clouds=(("part", 10.0),), scale_ratio=3.0),
        _v("cloud-fast-full", clouds=(("full", 4.0),)),
        _v("cloud-slow", clouds=(("part", 25.0),)),
        _v("sun-behind-clouds", gain_step=True),
        _v("dusk", time="dusk", trees=0),
        _v("night-wet", time="night", wet=True, street_lights=True, trees=0),
        _v("night-dark", time="night", street_lights=False, trees=0),
        _v("rain", rain=0.4, wet=True, clouds=(("full", 30.0),)),
        # camera
        _v("shake", shake_px=2, shake_share=0.4),
        _v("vibration", shake_px=1, vibration=True),
        _v("drift", drift_px=5),
        _v("auto-exposure", auto_exposure=True),
        _v("low-bitrate", jpeg_quality=18),
        # the failures of one camera rarely come alone
        _v("night-rain-shake", time="night", wet=True, street_lights=True, rain=0.3, shake_px=2, shake_share=0.3, trees=0),
        _v("diagonal-cloud-grey", travel="diagonal", scale_ratio=2.0, clouds=(("part", 8.0),), grey_share=0.5),
        _v("crosswise-exposure-bitrate", view="topdown", travel="leftright", lift=0.1, scale_ratio=1.0, near_ppm=32, auto_exposure=True, jpeg_quality=22),
        _v("along-road-platoons-shake", scale_ratio=5.0, lift=0.45, near_ppm=62, light=True, shake_px=2, shake_share=0.3),
    )
}
