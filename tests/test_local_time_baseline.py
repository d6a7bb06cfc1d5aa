"""The flow baseline's time-of-week slots follow the city's clock (Asia/Ho_Chi_Minh by default),
and baselines persisted on UTC slots are moved forward, or dropped with a clear log line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from ingest.contract import CountWindow
from processors.baseline import slot_shift, week_slot
from processors.config import ConfigError, parse_rules
from processors.rules import AlertEngine

MONDAY_0030_UTC = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)  # 07:30 on Monday in Vũng Tàu


@pytest.mark.parametrize(
    "moment, minutes, zone, slot",
    [
        (MONDAY_0030_UTC, 60, "Asia/Ho_Chi_Minh", 7),  # Monday 07:30 local: the 07:00 slot
        (MONDAY_0030_UTC, 60, "UTC", 0),  # the old UTC slots called it Monday 00:00
        (datetime(2026, 11, 1, 20, 0, tzinfo=UTC), 60, "Asia/Ho_Chi_Minh", 3),  # Sunday 20:00 UTC is Monday 03:00 local
        (datetime(2026, 11, 8, 16, 59, tzinfo=UTC), 60, "Asia/Ho_Chi_Minh", 7 * 24 - 1),  # Sunday 23:59 local: the week's last slot
        (MONDAY_0030_UTC, 15, "Asia/Ho_Chi_Minh", 30),  # quarter-hour slots: 07:30 is the 30th
        (MONDAY_0030_UTC, 1440, "Asia/Ho_Chi_Minh", 0),  # day slots: Monday
    ],
)
def test_slots_follow_the_local_clock(moment: datetime, minutes: int, zone: str, slot: int) -> None:
    assert week_slot(moment.timestamp(), minutes, zone) == slot


@pytest.mark.parametrize(
    "old, new, minutes, shift",
    [
        ("UTC", "Asia/Ho_Chi_Minh", 60, 7),  # +07:00, no daylight saving: seven hour slots on
        ("UTC", "Asia/Ho_Chi_Minh", 15, 28),
        ("Asia/Ho_Chi_Minh", "UTC", 60, -7),
        ("UTC", "Asia/Kolkata", 60, None),  # +05:30 is not whole hour slots
        ("UTC", "Asia/Kolkata", 30, 11),  # but whole half-hours
        ("UTC", "Europe/Berlin", 60, None),  # daylight saving: no single shift is right all year
        ("UTC", "Asia/Ho_Chi_Minh", 1440, None),  # day slots: seven hours is not a whole day
    ],
)
def test_how_far_a_baseline_moves_between_zones(old: str, new: str, minutes: int, shift: int | None) -> None:
    assert slot_shift(old, new, minutes) == shift


def _learned_engine(rules: dict, windows: int = 5) -> AlertEngine:
    """An engine that learned Monday 07:xx local traffic on line l1 (windows from 00:00 UTC)."""
    engine = AlertEngine(parse_rules(rules))
    start = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    for minute in range(windows + 1):  # a later window closes the one before
        engine.on_event(CountWindow(camera_id="cam", ts=start + timedelta(minutes=minute), line_id="l1", direction="in",
                                    cls="car", count=30), now=0)
    return engine


def test_the_engine_learns_in_local_slots() -> None:
    engine = _learned_engine({})
    assert engine.baseline.get("cam", "l1", "in", 7).n == 5 and engine.baseline.get("cam", "l1", "in", 0) is None


def _as_version_1(engine: AlertEngine) -> dict:
    """The engine's snapshot as the previous release wrote it: UTC slots, no clock recorded."""
    data = engine.to_data()
    data["version"] = 1
    del data["baseline_clock"]
    return data


def test_a_utc_baseline_is_moved_to_local_time_on_restore(caplog: pytest.LogCaptureFixture) -> None:
    old = _learned_engine({"defaults": {"flow": {"time_zone": "UTC"}}})
    assert old.baseline.get("cam", "l1", "in", 0).n == 5
    restored = AlertEngine(parse_rules({}))
    with caplog.at_level(logging.INFO, logger="processors.rules"):
        restored.restore(_as_version_1(old), now=0)
    assert restored.baseline.get("cam", "l1", "in", 7).n == 5 and restored.baseline.get("cam", "l1", "in", 0) is None
    assert "camera cam: moved 1 flow baseline slot(s) from UTC to Asia/Ho_Chi_Minh time (+7 slot(s))" in caplog.text
    again = AlertEngine(parse_rules({}))
    again.restore(restored.to_data(), now=0)  # now recorded as local: nothing moves twice
    assert again.baseline.get("cam", "l1", "in", 7).n == 5


@pytest.mark.parametrize(
    "flow, previous_release",
    [
        ({"time_zone": "Europe/Berlin"}, True),  # daylight saving: cannot move exactly
        # A different slot length: the old slots mean something else. (Snapshots of the previous
        # release did not record their slot length; it is taken as unchanged.)
        ({"slot_minutes": 30}, False),
    ],
)
def test_a_baseline_that_cannot_move_is_dropped_with_a_log_line(flow: dict, previous_release: bool, caplog: pytest.LogCaptureFixture) -> None:
    old = _learned_engine({"defaults": {"flow": {"time_zone": "UTC"}}})
    restored = AlertEngine(parse_rules({"defaults": {"flow": flow}}))
    with caplog.at_level(logging.WARNING, logger="processors.rules"):
        restored.restore(_as_version_1(old) if previous_release else old.to_data(), now=0)
    assert len(restored.baseline) == 0
    assert "flow baseline learned on UTC with 60-minute slots cannot be moved" in caplog.text
    assert "dropped 1 slot(s), it is relearned from now on" in caplog.text


def test_an_unknown_time_zone_is_refused_with_its_key() -> None:
    with pytest.raises(ConfigError, match=r"defaults\.flow\.time_zone: .*unknown time zone 'Asia/Vung_Tau'"):
        parse_rules({"defaults": {"flow": {"time_zone": "Asia/Vung_Tau"}}})
