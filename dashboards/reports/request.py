"""What a planner asks for: a period, a grain, cameras and the dimensions to break volumes down by.

Loose CLI text becomes these values once, here; everything downstream takes the values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ingest.errors import InvalidInput


class ReportError(InvalidInput):
    """A report that cannot be produced as asked; the message says why and what would work."""


class Grain(StrEnum):
    QUARTER = "15min"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


DIMENSIONS: tuple[str, ...] = ("camera", "line", "direction", "cls")


@dataclass(frozen=True)
class Period:
    """[start, end) in the warehouse's time zone; ``label`` is how the planner wrote it."""

    start: datetime
    end: datetime
    label: str
    kind: str = "range"  # "year", "month", "week", "day" or "range": decides the previous period

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def previous(self) -> Period:
        """The period before, for period-over-period: last month for a month, last year for a
        year, otherwise the same length immediately before."""
        tz = self.start.tzinfo
        if self.kind == "month":
            first = (self.start.date().replace(day=1) - timedelta(days=1)).replace(day=1)
            return Period(datetime.combine(first, time(0), tz), self.start, f"{first:%Y-%m}", "month")
        if self.kind == "year":
            first = self.start.date().replace(year=self.start.year - 1)
            return Period(datetime.combine(first, time(0), tz), self.start, f"{first:%Y}", "year")
        length = self.end - self.start
        start = self.start - length
        whole_days = start.time() == time(0) and length % timedelta(days=1) == timedelta(0)
        label = (f"{start:%Y-%m-%d}..{self.start - timedelta(days=1):%Y-%m-%d}" if whole_days
                 else f"{start.isoformat()}..{self.start.isoformat()}")
        return Period(start, self.start, label, self.kind)


def parse_period(*, period: str | None = None, start: str | None = None, end: str | None = None, tz: str) -> Period:
    """``period`` is ``2026``, ``2026-03``, ``2026-W10`` or ``2026-03-09``; otherwise ``start`` and
    ``end`` are dates (``end`` inclusive: 2026-03-01..2026-03-31 is March) or ISO date-times
    (``end`` exclusive)."""
    zone = ZoneInfo(tz)
    if period:
        if start or end:
            raise ReportError("give either --period or --from/--to, not both")
        return _named_period(period.strip(), zone)
    if not start:
        raise ReportError("no period: give --period (2026, 2026-03, 2026-W10, 2026-03-09) or --from and --to")
    begin = _instant(start, zone, "--from", end_of_day=False)
    finish = _instant(end, zone, "--to", end_of_day=True) if end else begin + timedelta(days=1)
    if finish <= begin:
        raise ReportError(f"the period ends ({end}) before it starts ({start})")
    return Period(begin, finish, f"{start}..{end or start}")


def _named_period(text: str, zone: ZoneInfo) -> Period:
    def at(d: date) -> datetime:
        return datetime.combine(d, time(0), zone)

    try:
        if re.fullmatch(r"\d{4}", text):
            year = int(text)
            return Period(at(date(year, 1, 1)), at(date(year + 1, 1, 1)), text, "year")
        if re.fullmatch(r"\d{4}-\d{2}", text):
            first = date.fromisoformat(f"{text}-01")
            following = (first + timedelta(days=32)).replace(day=1)
            return Period(at(first), at(following), text, "month")
        if match := re.fullmatch(r"(\d{4})-W(\d{2})", text):
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            return Period(at(monday), at(monday + timedelta(days=7)), text, "week")
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            return Period(at(day), at(day + timedelta(days=1)), text, "day")
    except ValueError as exc:
        raise ReportError(f"period {text!r} is not a real date: {exc}") from None
    raise ReportError(f"cannot read period {text!r}: use 2026, 2026-03, 2026-W10 or 2026-03-09")


def _instant(text: str, zone: ZoneInfo, option: str, *, end_of_day: bool) -> datetime:
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end_of_day else day, time(0), zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{option} {text!r} is not a date (2026-03-09) or date-time (2026-03-09T07:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def parse_dimensions(text: str) -> tuple[str, ...]:
    """``camera,line,direction,cls`` (any subset, any order, or ``none`` for a grand total)."""
    if text.strip().lower() in ("", "none", "total"):
        return ()
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    aliases = {"class": "cls", "dir": "direction", "cam": "camera"}
    names = tuple(aliases.get(n, n) for n in names)
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise ReportError(f"cannot break down by {', '.join(unknown)}: choose from {', '.join(DIMENSIONS)}")
    return tuple(d for d in DIMENSIONS if d in names)


@dataclass(frozen=True, kw_only=True)
class VolumeQuery:
    period: Period
    grain: Grain = Grain.HOUR
    cameras: tuple[str, ...] = ()  # empty: every camera
    by: tuple[str, ...] = ("camera",)
