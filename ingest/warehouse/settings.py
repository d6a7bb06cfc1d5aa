"""Warehouse settings: how long each table keeps its data, and how often maintenance runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from ingest.settings import IocSettings, SettingsError

# Raw frames are bulky and only needed for recent investigations; counts and alerts are the
# record planners and auditors come back to; rollups are small and kept for years (None: forever).
# count_windows must outlive the latest data anyone can still deliver late: the rollup refresh never
# recomputes an hour whose raw windows were dropped.
DEFAULT_RETENTION: Mapping[str, timedelta | None] = MappingProxyType({
    "frame_events": timedelta(days=7),
    "heartbeats": timedelta(days=30),
    "zone_occupancy": timedelta(days=90),
    # Evidence pictures: long enough for an incident's follow-up and complaints, short enough that
    # pictures of people (blurred as they are) are not kept for years.
    "snapshots": timedelta(days=90),
    "crossings": timedelta(days=180),
    "count_windows": timedelta(days=400),
    "occupancy_windows": timedelta(days=400),
    "incidents": timedelta(days=730),
    "camera_health": timedelta(days=730),
    "alert_events": timedelta(days=730),
    "alert_actions": timedelta(days=730),
    "traffic_hourly": timedelta(days=5 * 365),
    "traffic_daily": None,
    "speed_hourly": timedelta(days=5 * 365),
    "speed_daily": None,
})


class WarehouseSettings(IocSettings):
    """How long each table keeps its data. ``IOC_RETENTION="frame_events=3d,crossings=26w,traffic_daily=forever"``
    overrides tables one by one; the others keep their defaults."""

    retention: Annotated[Mapping[str, timedelta | None], NoDecode] = Field(default_factory=lambda: DEFAULT_RETENTION)
    # The processors' window and how long after its end a window may still be open there (their
    # grace + idle: IOC_PROCESSORS_GRACE_S + IOC_PROCESSORS_IDLE_S); `maintain` rebuilds only
    # windows older than that. Set them to match the processors' if you change theirs.
    reconcile_window_s: int = Field(60, gt=0, description="Length of the processors' count windows, in seconds.")
    reconcile_after_s: float = Field(310.0, ge=0, description="Seconds after a window's end before maintenance "
                                                             "rebuilds it from its raw rows (processors' grace + idle).")
    reconcile_overlap: timedelta = Field(timedelta(hours=6), ge=timedelta(0),
                                         description="How far behind its last run maintenance checks windows again "
                                                     "(raw rows that arrived late).")

    @field_validator("retention", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        if isinstance(value, str):
            return MappingProxyType({**DEFAULT_RETENTION, **parse_retention(value)})
        return value


_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "y": timedelta(days=365)}


def parse_duration(text: str) -> timedelta | None:
    """``90d``, ``26w``, ``2y``, ``12h``; ``forever`` (or ``off``) means never drop."""
    text = text.strip().lower()
    if text in ("forever", "off", "none"):
        return None
    match = re.fullmatch(r"(\d+)\s*([hdwy])", text)
    if not match or int(match[1]) == 0:
        raise SettingsError(f"retention {text!r} is not a duration like 12h, 90d, 26w, 2y or 'forever'")
    return int(match[1]) * _UNITS[match[2]]


def parse_retention(spec: str) -> dict[str, timedelta | None]:
    out: dict[str, timedelta | None] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        table, sep, duration = item.partition("=")
        if not sep or table.strip() not in DEFAULT_RETENTION:
            raise SettingsError(
                f"retention entry {item!r} must be TABLE=DURATION with TABLE one of {', '.join(DEFAULT_RETENTION)}"
            )
        out[table.strip()] = parse_duration(duration)
    return out
