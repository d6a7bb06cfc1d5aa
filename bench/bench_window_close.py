"""How long the processors keep a count window open after its end + grace, in event time:
`python -m bench window_close [--cameras 1100] [--minutes 3] [--hours 9,23,3] [--batch 50]`.

The city's simulated cameras (bench/citysim.py, the rates of real agent runs) are read in time
order, ``--batch`` events at a time, through the processors' window logic
(processors/windowing.py: a partition per topic, 4 each, the cameras shared out as the broker
would), once closing on each camera's own clock alone and once also with each camera's bound
from its other streams (as processors/counting.py does). For every count window: the event time
read when it closed, less its end + grace. No broker, database or wall clock: the figure is the
logic's alone, the same on a busy machine; the whole pipeline's (`bench city`) adds the agents'
linger, the processors' batches, the bus and the sink. Both runs also count late events (0 is
the only right answer for these in-order streams).
"""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime, timedelta

from bench.common import figure

PARTITIONS = 4


def close_delays(cameras: int, minutes: float, local_hour: int, *, batch: int, bounds: bool) -> tuple[list[float], int]:
    """(seconds past end + grace at which each count window closed, late events)."""
    from bench.citysim import CameraSim, daily_volumes
    from ingest import contract as c
    from processors.windowing import PartitionWindows, WindowSpec

    # The simulated cameras' hour is local (UTC+7); 13 s past the hour so windows do not start aligned.
    start = datetime(2026, 12, 2, tzinfo=UTC) + timedelta(hours=(local_hour - 7) % 24, seconds=13)
    sims = [CameraSim(f"cam-{i:04d}", start, daily_volume=v, seed=1) for i, v in enumerate(daily_volumes(cameras))]
    counted = (c.LineCrossing, c.FrameEvent, c.ZoneOccupancy)
    events = [e for sim in sims for e in sim.advance(start + timedelta(minutes=minutes)) if isinstance(e, counted)]
    events.sort(key=lambda e: e.ts)
    spec = WindowSpec()
    partitions: dict[tuple[type, int], PartitionWindows] = {}
    next_offset: dict[tuple[type, int], int] = {}

    def bound(camera: str) -> float:
        return max(windows.camera_clock(camera) for windows in partitions.values())

    delays: list[float] = []
    for i, event in enumerate(events):
        key = (type(event), sum(event.camera_id.encode()) % PARTITIONS)
        windows = partitions.get(key) or partitions.setdefault(key, PartitionWindows(spec))
        offset = next_offset.get(key, 0)
        windows.add(offset, event)
        next_offset[key] = offset + 1
        if i % batch == batch - 1:
            read = event.ts.timestamp()
            for part in partitions.values():
                for window in part.close_due(bound if bounds else None):
                    if isinstance(window, c.CountWindow):
                        delays.append(read - (window.ts.timestamp() + spec.window_s + spec.grace_s))
    return sorted(delays), sum(part.late for part in partitions.values())


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, math.floor(q * len(values)))] if values else math.nan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench window_close", description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=1100)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--hours", default="9,23,3", help="local hours to simulate (rush, evening, night)")
    parser.add_argument("--batch", type=int, default=50, help="events the processors read between closes")
    args = parser.parse_args(argv or [])
    for hour in (int(h) for h in args.hours.split(",")):
        for bounds, name in ((False, "own_clock"), (True, "other_streams")):
            delays, late = close_delays(args.cameras, args.minutes, hour, batch=args.batch, bounds=bounds)
            tag = f"window_close.h{hour:02d}.{name}"
            target = "<= 2 (grace + 2 s for the whole pipeline)" if bounds else ""
            figure(f"{tag}.windows", len(delays), "windows")
            figure(f"{tag}.p50", _percentile(delays, 0.5), "s")
            figure(f"{tag}.p99", _percentile(delays, 0.99), "s", target)
            figure(f"{tag}.max", delays[-1] if delays else math.nan, "s")
            figure(f"{tag}.late", late, "events", "0" if bounds else "")


if __name__ == "__main__":
    main()
