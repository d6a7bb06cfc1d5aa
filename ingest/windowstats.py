"""The numbers of a closed window, from its events: shared by the processors (which emit windows
as the stream closes them) and the warehouse (which rebuilds a window from the stored crossings
and zone samples when it was never written). One definition, so both give the same numbers.

Pure functions of the window's own events, independent of their order: a window rebuilt from
rows read back in any order equals the one emitted from the stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: the speed percentile a count window carries
P85 = 85.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks.

    The same definition as numpy's default ('linear') and PostgreSQL's ``percentile_cont``, so
    a planner re-computing p85 from raw crossings in the database gets the same number. Exact
    (no sketch): a 1-minute window per line, direction and class holds a few hundred speeds.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def speed_stats(speeds: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and 85th percentile of a window's measured speeds (None, None without any). The mean
    is summed exactly (``math.fsum``), so it does not depend on the order the speeds came in."""
    if not speeds:
        return None, None
    return math.fsum(speeds) / len(speeds), percentile(speeds, P85)


def occupancy_stats(samples: Sequence[tuple[float, int]], end: float) -> tuple[int, float]:
    """Peak and time-weighted mean of a zone's step-function count within one window.

    Each sample holds until the next one (or the window's end). The mean covers the window from
    its first sample on: the value before it belongs to an earlier window's samples, and keeping
    windows self-contained is what lets a restarted worker rebuild them exactly. Agents resend
    every few seconds, so that uncovered head is a few seconds at most.
    """
    ordered = sorted(samples)
    peak = max(count for _, count in ordered)
    first = ordered[0][0]
    span = end - first
    if span <= 0:
        return peak, float(ordered[-1][1])
    area = 0.0
    for (ts, count), (next_ts, _) in zip(ordered, ordered[1:] + [(end, 0)]):
        area += count * (next_ts - ts)
    return peak, area / span
