"""A synthetic but plausible year of a Vietnamese coastal city's traffic, as 15-minute count windows.

Pure and deterministic (numpy, seeded): the same seed gives the same history. The model, per
camera: a daily volume drawn around 25k objects (8k to 70k); a class mix dominated by motorbikes;
weekday double rush hours (07:15, 17:30) and a lunch shoulder, flatter and later weekends, beach
streets busier on weekends and holidays; tidal direction split (inbound mornings, outbound
evenings); Tết (Lunar New Year) emptying the city for a week after a shopping rush; afternoon rain
in the wet season (May to November) cutting volume and speed; a few incidents a year (a stopped
vehicle blocking a lane: volume halves, speed collapses for 1-3 hours); speeds falling with load.
Counts are Poisson around the expectation, so windows look like real counts, zeros included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

CLASSES: tuple[str, ...] = ("motorbike", "car", "bus_truck", "bicycle", "person")
DIRECTIONS: tuple[str, ...] = ("in", "out")
MODEL_VERSION = 1  # bump when the model changes: cached benchmark histories are rebuilt
SLOTS_PER_DAY = 96  # 15-minute windows
WINDOW_S = 900
Z85 = 1.0364  # 85th percentile of a standard normal

_BASE_MIX = np.array([0.80, 0.11, 0.03, 0.035, 0.025])
_CLASS_SPEED = np.array([1.0, 1.12, 0.9, 0.42, 0.14])  # relative to the street's motorbike free speed
_SPEED_CV = 0.18  # spot speeds: sd is ~15-20 % of the mean
_LUNAR_NEW_YEAR = {
    2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17), 2027: date(2027, 2, 6),
    2028: date(2028, 1, 26), 2029: date(2029, 2, 13), 2030: date(2030, 2, 3),
}
_PUBLIC_HOLIDAYS = {(1, 1), (4, 30), (5, 1), (9, 2)}
_STREETS = (
    "Thùy Vân", "Hạ Long", "Quang Trung", "Lê Hồng Phong", "Nguyễn An Ninh", "Ba Cu", "Trần Phú",
    "Võ Thị Sáu", "Nam Kỳ Khởi Nghĩa", "Lê Lợi", "Hoàng Hoa Thám", "30 Tháng 4", "Nguyễn Hữu Cảnh",
    "Bình Giã", "Lê Quang Định", "Phan Chu Trinh", "Trương Công Định", "Xô Viết Nghệ Tĩnh",
    "Nguyễn Thái Học", "Đô Lương",
)
_BEACH_STREETS = {"Thùy Vân", "Hạ Long", "Trần Phú"}


@dataclass(frozen=True)
class CameraProfile:
    camera_id: str
    name: str
    lat: float
    lon: float
    line_id: str
    daily_volume: float  # expected objects on an ordinary weekday, both directions
    class_mix: tuple[float, ...]  # shares of CLASSES
    free_speed_kmh: float  # motorbike free-flow speed on this street
    beach: bool  # tourist street: busier weekends and holidays
    incidents_per_year: float


@dataclass(frozen=True)
class Incident:
    camera_id: str
    start: datetime
    duration_s: float
    cls: str


@dataclass(frozen=True)
class DayOfTraffic:
    """One camera's windows for one local day: ``counts[slot, direction, class]`` and speeds alike."""

    camera_id: str
    slot_starts: tuple[datetime, ...]  # UTC
    counts: np.ndarray  # int64 (96, 2, 5)
    speed_mean: np.ndarray  # float64 (96, 2, 5)
    speed_p85: np.ndarray  # float64 (96, 2, 5)
    incidents: tuple[Incident, ...]


def coarsen(day: DayOfTraffic, window_s: int) -> DayOfTraffic:
    """The same day in longer windows (``window_s`` a multiple of 15 minutes dividing a day):
    counts add; mean and p85 are recombined from the windows' moments under the same normal model
    the rollups use, so a coarse history rolls up to the same hourly numbers."""
    if window_s == WINDOW_S:
        return day
    if window_s % WINDOW_S or 86400 % window_s:
        raise ValueError(f"window of {window_s} s: must be a multiple of {WINDOW_S} s that divides a day")
    k = window_s // WINDOW_S
    shape = (SLOTS_PER_DAY // k, k) + day.counts.shape[1:]
    n = day.counts.reshape(shape).astype(float)
    mean = day.speed_mean.reshape(shape)
    sd = (day.speed_p85.reshape(shape) - mean) / Z85
    total = n.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        combined = (n * mean).sum(axis=1) / total
        second = (n * (mean**2 + sd**2)).sum(axis=1) / total
        p85 = combined + Z85 * np.sqrt(np.maximum(second - combined**2, 0))
    return DayOfTraffic(
        camera_id=day.camera_id,
        slot_starts=day.slot_starts[::k],
        counts=total.astype(np.int64),
        speed_mean=np.round(np.nan_to_num(combined), 1),
        speed_p85=np.round(np.nan_to_num(p85), 1),
        incidents=day.incidents,
    )


def camera_profiles(n: int, *, seed: int = 7) -> list[CameraProfile]:
    rng = np.random.default_rng([seed, 0])
    profiles = []
    for i in range(n):
        street = _STREETS[i % len(_STREETS)]
        mix = rng.dirichlet(_BASE_MIX * 200)
        profiles.append(CameraProfile(
            camera_id=f"bf-{i + 1:03d}",
            name=f"{street} #{i // len(_STREETS) + 1}",
            lat=round(10.346 + rng.uniform(-0.03, 0.03), 6),
            lon=round(107.084 + rng.uniform(-0.03, 0.03), 6),
            line_id="main",
            daily_volume=float(np.clip(rng.lognormal(np.log(25_000), 0.45), 8_000, 70_000)),
            class_mix=tuple(float(x) for x in mix),
            free_speed_kmh=float(rng.uniform(30, 45)),
            beach=street in _BEACH_STREETS,
            incidents_per_year=float(rng.uniform(3, 8)),
        ))
    return profiles


def _bumps(hours: np.ndarray, bumps: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    return sum(height * np.exp(-0.5 * ((hours - centre) / width) ** 2) for height, centre, width in bumps)


_HOURS = (np.arange(SLOTS_PER_DAY) + 0.5) / 4
# Shapes of a day (per quarter hour), normalised to sum 1: a night floor plus rush-hour bumps.
_WEEKDAY = 0.04 + _bumps(_HOURS, ((0.9, 7.3, 1.0), (0.35, 11.7, 1.5), (0.9, 17.6, 1.2), (0.4, 20.2, 1.5), (0.35, 13.5, 4.5)))
_WEEKEND = 0.04 + _bumps(_HOURS, ((0.45, 9.5, 1.8), (0.5, 16.8, 1.8), (0.75, 20.0, 1.6), (0.3, 13.5, 4.5)))
_NIGHT = np.where((_HOURS >= 0.5) & (_HOURS < 5.0), 0.35, 1.0)
_WEEKDAY = _WEEKDAY * _NIGHT / (_WEEKDAY * _NIGHT).sum()
_WEEKEND = _WEEKEND * _NIGHT / (_WEEKEND * _NIGHT).sum()
# Inbound share: towards the centre in the morning, away in the evening.
_INBOUND = 0.5 + 0.13 * np.exp(-0.5 * ((_HOURS - 7.5) / 1.8) ** 2) - 0.13 * np.exp(-0.5 * ((_HOURS - 17.5) / 1.8) ** 2)


def _day_factor(day: date, beach: bool) -> tuple[float, bool]:
    """Volume factor of a day against an ordinary weekday, and whether it has a weekend shape."""
    weekend = day.weekday() >= 5
    factor = (1.25 if beach else 0.9) if weekend else 1.0
    tet = _LUNAR_NEW_YEAR.get(day.year)
    if tet is not None:
        offset = (day - tet).days
        if -10 <= offset <= -3:
            factor *= 1.15  # shopping before Tết
        elif -2 <= offset <= 5:
            return factor * (0.7 if beach else 0.4), True
    if (day.month, day.day) in _PUBLIC_HOLIDAYS:
        return (1.5 if beach else 0.75), True
    return factor, weekend


def _rain_probability(day: date) -> float:
    return 0.45 if 5 <= day.month <= 11 else 0.05


def simulate_day(profile: CameraProfile, day: date, *, tz: ZoneInfo, seed: int) -> DayOfTraffic:
    """One camera-day; deterministic in (seed, camera, day) so days can be generated in any order."""
    rng = np.random.default_rng([seed, int(profile.camera_id.rsplit("-", 1)[-1]), day.toordinal()])
    factor, weekend_shape = _day_factor(day, profile.beach)
    shape = _WEEKEND if weekend_shape else _WEEKDAY
    expected = profile.daily_volume * factor * rng.lognormal(0, 0.06) * shape  # (96,)

    volume_cut = np.ones(SLOTS_PER_DAY)
    speed_cut = np.ones(SLOTS_PER_DAY)
    if rng.random() < _rain_probability(day):  # an afternoon downpour
        start = int(rng.integers(13 * 4, 18 * 4))
        end = start + int(rng.integers(4, 12))
        volume_cut[start:end] *= rng.uniform(0.55, 0.8)
        speed_cut[start:end] *= 0.82
    incidents = []
    if rng.random() < profile.incidents_per_year / 365:
        start = int(rng.integers(6 * 4, 21 * 4))
        length = int(rng.integers(4, 13))
        volume_cut[start:start + length] *= 0.5
        speed_cut[start:start + length] *= 0.35
        incidents.append((start, length * 900.0, str(rng.choice(["car", "bus_truck"]))))

    expected = expected * volume_cut
    split = np.stack([_INBOUND, 1 - _INBOUND], axis=1)  # (96, 2)
    lam = expected[:, None, None] * split[:, :, None] * np.asarray(profile.class_mix)[None, None, :]
    counts = rng.poisson(lam)

    peak = profile.daily_volume * _WEEKDAY.max()
    load = np.clip(expected / peak, 0, 1.3)
    congestion = np.clip(1 - 0.45 * load**2, 0.25, 1)
    mean = (profile.free_speed_kmh * congestion * speed_cut)[:, None, None] * _CLASS_SPEED[None, None, :]
    mean = mean * rng.normal(1, 0.03, size=counts.shape)
    p85 = mean * (1 + Z85 * _SPEED_CV * rng.uniform(0.8, 1.2, size=counts.shape))

    midnight = datetime.combine(day, time(0), tz)
    starts = tuple((midnight + timedelta(minutes=15 * k)).astimezone(ZoneInfo("UTC")) for k in range(SLOTS_PER_DAY))
    return DayOfTraffic(
        camera_id=profile.camera_id,
        slot_starts=starts,
        counts=counts,
        speed_mean=np.round(mean, 1),
        speed_p85=np.round(p85, 1),
        incidents=tuple(Incident(profile.camera_id, starts[s], duration, cls) for s, duration, cls in incidents),
    )


def days_back(days: int, *, end: date) -> Iterator[date]:
    """The ``days`` local days before ``end`` (exclusive), oldest first."""
    for k in range(days, 0, -1):
        yield end - timedelta(days=k)
