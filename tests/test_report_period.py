"""Periods and dimensions as planners type them; bad ones are clear errors."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from dashboards.reports.request import ReportError, parse_dimensions, parse_period

TZ = "Asia/Ho_Chi_Minh"
VN = ZoneInfo(TZ)


@pytest.mark.parametrize(
    ("text", "start", "end", "kind"),
    [
        ("2026", datetime(2026, 1, 1, tzinfo=VN), datetime(2027, 1, 1, tzinfo=VN), "year"),
        ("2026-02", datetime(2026, 2, 1, tzinfo=VN), datetime(2026, 3, 1, tzinfo=VN), "month"),
        ("2026-12", datetime(2026, 12, 1, tzinfo=VN), datetime(2027, 1, 1, tzinfo=VN), "month"),
        ("2026-W10", datetime(2026, 3, 2, tzinfo=VN), datetime(2026, 3, 9, tzinfo=VN), "week"),
        ("2026-03-09", datetime(2026, 3, 9, tzinfo=VN), datetime(2026, 3, 10, tzinfo=VN), "day"),
    ],
)
def test_named_periods(text: str, start: datetime, end: datetime, kind: str) -> None:
    period = parse_period(period=text, tz=TZ)
    assert (period.start, period.end, period.kind) == (start, end, kind)


def test_from_to_dates_are_inclusive_and_datetimes_exclusive() -> None:
    march = parse_period(start="2026-03-01", end="2026-03-31", tz=TZ)
    assert (march.start, march.end) == (datetime(2026, 3, 1, tzinfo=VN), datetime(2026, 4, 1, tzinfo=VN))
    morning = parse_period(start="2026-03-09T06:00", end="2026-03-09T09:30", tz=TZ)
    assert (morning.start, morning.end) == (datetime(2026, 3, 9, 6, tzinfo=VN), datetime(2026, 3, 9, 9, 30, tzinfo=VN))


def test_previous_period_is_last_month_or_last_year_or_the_same_length_before() -> None:
    march = parse_period(period="2026-03", tz=TZ).previous()
    assert (march.start, march.end, march.label) == (datetime(2026, 2, 1, tzinfo=VN), datetime(2026, 3, 1, tzinfo=VN), "2026-02")
    year = parse_period(period="2026", tz=TZ).previous()
    assert (year.start, year.end) == (datetime(2025, 1, 1, tzinfo=VN), datetime(2026, 1, 1, tzinfo=VN))
    ten_days = parse_period(start="2026-03-11", end="2026-03-20", tz=TZ).previous()
    assert (ten_days.start, ten_days.end) == (datetime(2026, 3, 1, tzinfo=VN), datetime(2026, 3, 11, tzinfo=VN))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "2026-03-10", "end": "2026-03-01"}, "ends (2026-03-01) before it starts (2026-03-10)"),
        ({"start": "2026-03-10T08:00", "end": "2026-03-10T08:00"}, "before it starts"),
        ({"start": "yesterday"}, "--from 'yesterday' is not a date"),
        ({"start": "2026-03-01", "end": "31/03/2026"}, "--to '31/03/2026' is not a date"),
        ({"period": "2026-13"}, "'2026-13' is not a real date"),
        ({"period": "2026-02-30"}, "not a real date"),
        ({"period": "March"}, "cannot read period 'March'"),
        ({"period": "2026", "start": "2026-01-01"}, "either --period or --from/--to"),
        ({}, "no period"),
    ],
)
def test_bad_periods_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_period(tz=TZ, **kwargs)


def test_dimensions() -> None:
    assert parse_dimensions("cls,camera") == ("camera", "cls")
    assert parse_dimensions("camera, line ,direction,class") == ("camera", "line", "direction", "cls")
    assert parse_dimensions("none") == ()
    with pytest.raises(ReportError, match="cannot break down by lane"):
        parse_dimensions("camera,lane")


def test_previous_period_labels() -> None:
    assert parse_period(start="2026-03-11", end="2026-03-20", tz=TZ).previous().label == "2026-03-01..2026-03-10"
    assert parse_period(period="2026-W10", tz=TZ).previous().label == "2026-02-23..2026-03-01"
