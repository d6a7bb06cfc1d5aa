"""Speed histograms as the warehouse stores them (migration 0035), read back in Python.

A histogram has ``BINS`` fixed bins ``BIN_KMH`` wide (the last one open: ``TOP_KMH`` and over),
packed in one numeric with ``DIGITS`` decimal digits per bin, bin 0 in the lowest digits, so that
``sum()`` in SQL merges histograms exactly. These functions mirror the SQL functions
``speed_hist_bins`` and ``speed_percentile``, vectorised for reports of thousands of buckets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BIN_KMH = 2
BINS = 61
TOP_KMH = BIN_KMH * (BINS - 1)  # 120 km/h: the open top bin starts here
DIGITS = 12
WIDTH = DIGITS * BINS  # decimal digits of a packed histogram, zero-padded


def bin_of(speed_kmh: float) -> int:
    """The bin a speed falls in (as SQL ``speed_bin``)."""
    return int(min(max(speed_kmh // BIN_KMH, 0), BINS - 1))


def pack(counts: Sequence[int]) -> int:
    """Bin counts (bin 0 first) as the packed integer the warehouse stores."""
    if len(counts) != BINS or any(n < 0 or n >= 10**DIGITS for n in counts):
        raise ValueError(f"a speed histogram has {BINS} bins of 0 .. {10**DIGITS - 1} vehicles")
    return sum(int(n) * 10 ** (DIGITS * b) for b, n in enumerate(counts))


def unpack(packed: Sequence[str | int | None]) -> np.ndarray:
    """Packed histograms (``sum(speed_hist)::text`` from SQL, or ints; None for none) to an
    ``(n, BINS)`` int64 array of counts."""
    text = list(packed)
    if set(map(type, text)) - {str}:
        text = ["0" if p is None else str(p).partition(".")[0] for p in text]
    if not text:
        return np.zeros((0, BINS), dtype=np.int64)
    # Only as many bins as the widest histogram uses: the empty top bins cost nothing.
    longest = max(map(len, text))
    if longest > WIDTH:
        raise ValueError("not a packed speed histogram: too many digits")
    used = -(-longest // DIGITS)
    text = [p.zfill(used * DIGITS) for p in text]
    digits = np.frombuffer("".join(text).encode("ascii", errors="replace"), dtype=np.uint8) - ord("0")
    if digits.max(initial=0) > 9:  # anything but a digit wraps around above 9
        raise ValueError("not a packed speed histogram: not a decimal number")
    # One row per digit position (12 x bins): Horner's rule on contiguous rows, vectorised and exact.
    columns = np.ascontiguousarray(digits.reshape(-1, DIGITS).T)
    values = columns[0].astype(np.int64)
    for column in columns[1:]:
        values *= 10
        values += column
    counts = np.zeros((len(text), BINS), dtype=np.int64)
    counts[:, :used] = values.reshape(len(text), used)[:, ::-1]  # the most significant bin is written first
    return counts


def percentiles(counts: np.ndarray, p: float) -> np.ndarray:
    """The p-th quantile (0 < p <= 1) of each row of bin counts in km/h, interpolated linearly in its
    bin (``TOP_KMH`` in the open top bin); NaN for an empty row."""
    if not 0 < p <= 1:
        raise ValueError(f"p must be in (0, 1], got {p}")
    if len(counts) == 0:
        return np.zeros(0)
    cumulative = np.cumsum(counts, axis=1)
    total = cumulative[:, -1]
    target = p * total
    # The first bin whose cumulative count reaches the target (it holds vehicles, as target > 0).
    index = np.minimum((cumulative < target[:, None]).sum(axis=1), BINS - 1)
    rows = np.arange(len(counts))
    below = np.where(index > 0, cumulative[rows, np.maximum(index - 1, 0)], 0)
    in_bin = np.maximum(counts[rows, index], 1)
    value = BIN_KMH * index + BIN_KMH * (target - below) / in_bin
    value = np.where(index == BINS - 1, TOP_KMH, value)
    return np.where(total > 0, value, np.nan)
