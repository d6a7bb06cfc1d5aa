"""What normal flow looks like per (camera, line, direction) and time of week, learned online.

Each slot (e.g. Monday 08:00-09:00) keeps an exponentially weighted mean and variance of the
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MINUTES_PER_WEEK = 7 * 24 * 60


def week_slot(ts: float, slot_minutes: int) -> int:
    """Index of the time-of-week slot (Monday 00:00 UTC = minute 0) that ``ts`` falls in."""
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    minute_of_week = moment.weekday() * 24 * 60 + moment.hour * 60 + moment.minute
    return minute_of_week // slot_minutes


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

    def lines_of(self, camera_id: str) -> set[tuple[str, str]]:
        return {(line, direction) for (cam, line, direction, _) in self._slots if cam == camera_id}

    def __len__(self) -> int:
        return len(self._slots)

    def to_data(self) -> list[list[Any]]:
        return [[*key, s.n, s.mean, s.var] for key, s in self._slots.items()]

    @classmethod
    def from_data(cls, rows: list[list[Any]]) -> "FlowBaseline":
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
