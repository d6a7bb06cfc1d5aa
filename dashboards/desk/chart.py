"""A small inline SVG chart of a camera's recent 1-minute counts, drawn on the server (no script)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT, PAD = 600, 120, 4


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    peak: int
    first: datetime | None
    last: datetime | None
    width: int = WIDTH
    height: int = HEIGHT


def count_chart(points: list[tuple[datetime, int]], fmt) -> Chart:
    if not points:
        return Chart(bars=(), peak=0, first=None, last=None)
    peak = max(n for _, n in points) or 1
    slot = (WIDTH - 2 * PAD) / len(points)
    bars = tuple(
        Bar(x=round(PAD + i * slot, 1), y=round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * n / peak, 1),
            width=round(max(slot - 1, 1), 1), height=round((HEIGHT - 2 * PAD) * n / peak, 1), label=f"{fmt(ts)}: {n}")
        for i, (ts, n) in enumerate(points)
    )
    return Chart(bars=bars, peak=peak, first=points[0][0], last=points[-1][0])
