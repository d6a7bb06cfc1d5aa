"""What normal flow looks like per (camera, line, direction) and time of week, learned online.

Each slot (e.g. Monday 08:00-09:00 in the city's local time, ``flow.time_zone``) keeps an exponentially weighted mean and variance of the
per-minute count. Until a slot has ``1/alpha`` samples the weight is ``1/n``, i.e. a plain
running mean, so a new camera needs hours, not weeks, to get a usable baseline; after that old
weeks fade at rate ``alpha``. Stored as plain data so the engine snapshot can persist it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

MINUTES_PER_WEEK = 7 * 24 * 60
CITY_TIME_ZONE = "Asia/Ho_Chi_Minh"


@lru_cache(maxsize=64)
def time_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def week_slot(ts: float, slot_minutes: int, zone: str = CITY_TIME_ZONE) -> int:
    """Index of the time-of-week slot (Monday 00:00 local time in ``zone`` = minute 0) that
    ``ts`` falls in: traffic follows the city's clock, so "Monday 07:00" is 07:00 there."""
    moment = datetime.fromtimestamp(ts, tz=time_zone(zone))
    minute_of_week = moment.weekday() * 24 * 60 + moment.hour * 60 + moment.minute
    return minute_of_week // slot_minutes


def fixed_offset_minutes(zone: str) -> int | None:
    """The zone's offset from UTC in minutes if it never changes (no daylight saving in the
    years around now), else None: only then can slots move between zones exactly."""
    tz = time_zone(zone)
    year = datetime.now(UTC).year
    offsets = {datetime(y, m, 15, tzinfo=UTC).astimezone(tz).utcoffset() for y in (year - 1, year, year + 1)
               for m in range(1, 13)}
    if len(offsets) != 1:
        return None
    offset = offsets.pop() or timedelta(0)
    return int(offset.total_seconds() // 60)


def slot_shift(from_zone: str, to_zone: str, slot_minutes: int) -> int | None:
    """How many slots a baseline learned in ``from_zone`` moves to be right in ``to_zone``;
    None when it cannot move exactly (daylight saving, or an offset that is not whole slots)."""
    a, b = fixed_offset_minutes(from_zone), fixed_offset_minutes(to_zone)
    if a is None or b is None or MINUTES_PER_WEEK % slot_minutes or (b - a) % slot_minutes:
        return None
    return (b - a) // slot_minutes


@dataclass(slots=True)
class SlotStats:
    n: int = 0
    mean: float = 0.0
    var: float = 0.0

    def update(self, x: float, alpha: float) -> None:
        self.n += 1
        weight = max(alpha, 1.0 / self.n)
        diff = x - self.mean
        incr = weight * diff
        self.mean += incr
        self.var = (1.0 - weight) * (self.var + diff * incr)

    def z(self, x: float, min_sd: float) -> float:
        return (x - self.mean) / max(math.sqrt(max(self.var, 0.0)), min_sd)


class FlowBaseline:
    def __init__(self) -> None:
        self._slots: dict[tuple[str, str, str, int], SlotStats] = {}

    def get(self, camera_id: str, line_id: str, direction: str, slot: int) -> SlotStats | None:
        return self._slots.get((camera_id, line_id, direction, slot))

    def update(self, camera_id: str, line_id: str, direction: str, slot: int, x: float, alpha: float) -> SlotStats:
        stats = self._slots.setdefault((camera_id, line_id, direction, slot), SlotStats())
        stats.update(x, alpha)
        return stats

    def cameras(self) -> set[str]:
        return {key[0] for key in self._slots}

    def reslot(self, camera_id: str, shift: int, slot_minutes: int) -> int:
        """Moves a camera's slots by ``shift`` (wrapping round the week); returns how many."""
        slots = MINUTES_PER_WEEK // slot_minutes
        mine = {key: stats for key, stats in self._slots.items() if key[0] == camera_id}
        for key in mine:
            del self._slots[key]
        for (camera, line, direction, slot), stats in mine.items():
            self._slots[(camera, line, direction, (slot + shift) % slots)] = stats
        return len(mine)

    def forget(self, camera_id: str) -> int:
        """Drops a camera's slots (a baseline that cannot be moved is relearned); returns how many."""
        mine = [key for key in self._slots if key[0] == camera_id]
        for key in mine:
            del self._slots[key]
        return len(mine)

    def lines_of(self, camera_id: str) -> set[tuple[str, str]]:
        return {(line, direction) for (cam, line, direction, _) in self._slots if cam == camera_id}

    def __len__(self) -> int:
        return len(self._slots)

    def to_data(self) -> list[list[Any]]:
        return [[*key, s.n, s.mean, s.var] for key, s in self._slots.items()]

    @classmethod
    def from_data(cls, rows: list[list[Any]]) -> FlowBaseline:
        baseline = cls()
        for camera_id, line_id, direction, slot, n, mean, var in rows:
            baseline._slots[(camera_id, line_id, direction, int(slot))] = SlotStats(int(n), float(mean), float(var))
        return baseline


def write_atomically(path: Path, data: Any) -> None:
    """Write JSON so that a reader (or a crash) sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_snapshot(path: Path) -> Any | None:
    """The snapshot's data, None when there is none; a corrupt file is an error naming it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"alert state snapshot {path} is corrupt ({exc}); move it away to start fresh") from None
