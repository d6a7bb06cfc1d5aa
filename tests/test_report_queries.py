"""Report numbers against an independent computation from the raw windows (small synthetic history)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboards.reports import queries
from dashboards.reports.request import Grain, ReportError, VolumeQuery, parse_period
from ingest.db import DbSettings, connect
from ingest.warehouse.backfill import BackfillPlan
from tests.factories import backfilled

TZ = "Asia/Ho_Chi_Minh"
VN = ZoneInfo(TZ)
PLAN = BackfillPlan(cameras=3, days=21, end=date(2026, 11, 1), seed=3)  # 2026-10-11 .. 2026-10-31


@pytest.fixture(scope="module")
def history(module_db: DbSettings) -> DbSettings:
    return backfilled(module_db, PLAN)


@pytest.fixture(scope="module")
def raw(history: DbSettings) -> list[tuple]:
    """(local start, camera, line, direction, cls, count, mean, p85) of every raw window."""
    with connect(history) as conn:
        rows = conn.execute(
            "SELECT ts, camera_id, line_id, direction, cls, count, speed_mean_kmh, speed_p85_kmh FROM count_windows"
        ).fetchall()
    return [(ts.astimezone(VN), *rest) for ts, *rest in rows]


def _sum_by(raw: list[tuple], key) -> dict:
    out: dict = defaultdict(int)
    for row in raw:
        out[key(row)] += row[5]
    return dict(out)


def _in(period, ts: datetime) -> bool:
    return period.start <= ts < period.end


def test_hourly_volumes_by_class_equal_the_raw_windows(history: DbSettings, raw: list[tuple]) -> None:
    period = parse_period(start="2026-10-20", end="2026-10-22", tz=TZ)
    with connect(history) as conn:
        table = queries.volume(conn, VolumeQuery(period=period, grain=Grain.HOUR, cameras=("bf-002",), by=("camera", "cls")), tz=TZ)
    expected = _sum_by([r for r in raw if r[1] == "bf-002" and _in(period, r[0])],
                       lambda r: (r[0].replace(minute=0), r[4]))
    got = {(row[0], row[2]): row[3] for row in table.rows}
    assert got == expected
    assert len({row[0] for row in table.rows}) == 72  # --to is inclusive: three whole days
    assert all(row[0].tzinfo is not None and row[0].utcoffset() == timedelta(hours=7) for row in table.rows)


@pytest.mark.parametrize("grain", [Grain.QUARTER, Grain.DAY, Grain.WEEK, Grain.MONTH])
def test_every_grain_adds_up_to_the_raw_total(history: DbSettings, raw: list[tuple], grain: Grain) -> None:
    period = parse_period(period="2026-10", tz=TZ)
    with connect(history) as conn:
        table = queries.volume(conn, VolumeQuery(period=period, grain=grain, by=("camera",)), tz=TZ)
    per_camera = _sum_by([r for r in raw if _in(period, r[0])], lambda r: r[1])
    got: dict = defaultdict(int)
    for _start, camera, volume, *_ in table.rows:
        got[camera] += volume
    assert dict(got) == per_camera
    starts = sorted({row[0] for row in table.rows})
    if grain is Grain.DAY:
        assert starts[0] == datetime(2026, 10, 11, tzinfo=VN) and len(starts) == 21
    if grain is Grain.WEEK:
        assert all(s.weekday() == 0 and s.hour == 0 for s in starts)  # local Mondays
    if grain is Grain.MONTH:
        assert starts == [datetime(2026, 10, 1, tzinfo=VN)]


def test_speed_percentiles_follow_the_windows(history: DbSettings, raw: list[tuple]) -> None:
    period = parse_period(period="2026-10-15", tz=TZ)
    with connect(history) as conn:
        (row,) = queries.volume(conn, VolumeQuery(period=period, grain=Grain.DAY, cameras=("bf-001",), by=()), tz=TZ).rows
    windows = [r for r in raw if r[1] == "bf-001" and _in(period, r[0])]
    n = sum(r[5] for r in windows)
    mean = sum(r[5] * r[6] for r in windows) / n
    second = sum(r[5] * (r[6] ** 2 + ((r[7] - r[6]) / 1.0364) ** 2) for r in windows) / n
    p85 = mean + 1.0364 * math.sqrt(second - mean**2)
    assert row[2] == pytest.approx(mean, abs=0.06) and row[3] == row[2]
    assert row[4] == pytest.approx(p85, abs=0.06)
    assert row[4] > row[2]
    # The p85 of a day lies within the range of its windows' p85s (a sanity bound on the model).
    assert min(r[7] for r in windows) <= row[4] <= max(r[7] for r in windows)


def test_summary_peak_hour_weekday_weekend_and_previous_period(history: DbSettings, raw: list[tuple]) -> None:
    period = parse_period(start="2026-10-22", end="2026-10-31", tz=TZ)  # 10 days, the previous 10 are stored too
    with connect(history) as conn:
        table = queries.summary(conn, period, ("bf-003",), tz=TZ)
    (record,) = table.dicts()
    windows = [r for r in raw if r[1] == "bf-003" and _in(period, r[0])]
    by_hour = _sum_by(windows, lambda r: r[0].hour)
    by_day = _sum_by(windows, lambda r: r[0].date())
    peak = max(by_hour, key=by_hour.get)
    assert record["volume"] == sum(by_day.values())
    assert record["days"] == 10
    assert record["adt"] == pytest.approx(sum(by_day.values()) / 10, abs=0.05)
    assert record["peak_hour"] == peak
    assert record["peak_hour_share"] == pytest.approx(by_hour[peak] / sum(by_hour.values()), abs=1e-4)
    weekday = [v for d, v in by_day.items() if d.weekday() < 5]
    weekend = [v for d, v in by_day.items() if d.weekday() >= 5]
    assert record["weekday_adt"] == pytest.approx(sum(weekday) / len(weekday), abs=0.05)
    assert record["weekend_adt"] == pytest.approx(sum(weekend) / len(weekend), abs=0.05)
    before = period.previous()
    previous = sum(r[5] for r in raw if r[1] == "bf-003" and _in(before, r[0]))
    assert record["previous_volume"] == previous
    assert record["adt_change_pct"] == pytest.approx(100 * (record["adt"] - previous / 10) / (previous / 10), abs=0.1)
    assert 7 <= peak <= 19, "a city street peaks in a rush hour"


def test_profiles_average_per_day_type(history: DbSettings, raw: list[tuple]) -> None:
    period = parse_period(period="2026-10", tz=TZ)
    with connect(history) as conn:
        data = queries.profiles(conn, period, (), tz=TZ)
    windows = [r for r in raw if _in(period, r[0])]
    days = {r[0].date() for r in windows}
    mondays = [d for d in days if d.weekday() == 0]
    monday_8 = sum(r[5] for r in windows if r[0].weekday() == 0 and r[0].hour == 8)
    assert data.weekday_by_hour[0][8] == pytest.approx(monday_8 / len(mondays))
    assert [d for d, _ in data.daily] == sorted(days)
    assert sum(v for _, v in data.daily) == sum(r[5] for r in windows)
    weekdays = [d for d in days if d.weekday() < 5]
    at_17 = sum(r[5] for r in windows if r[0].weekday() < 5 and r[0].hour == 17)
    assert data.weekday_hours[17] == pytest.approx(at_17 / len(weekdays))


def test_unknown_camera_lists_the_known_ones(history: DbSettings) -> None:
    with connect(history) as conn, pytest.raises(ReportError, match="unknown camera bf-404; known cameras: bf-001, bf-002, bf-003"):
        queries.check_cameras(conn, ("bf-001", "bf-404"))


def test_empty_result_is_an_error_naming_what_was_asked(history: DbSettings) -> None:
    period = parse_period(period="2025-03", tz=TZ)
    with connect(history) as conn:
        table = queries.volume(conn, VolumeQuery(period=period, grain=Grain.DAY), tz=TZ)
        with pytest.raises(ReportError, match="no traffic recorded for any camera in 2025-03"):
            queries.ensure_rows(table, period, ())
