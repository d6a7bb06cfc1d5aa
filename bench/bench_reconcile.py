"""What `ioc db maintain`'s window check costs at city scale: one hour of 1,100 cameras' crossings
and zone samples, checked against their windows when all are there (a routine run) and rebuilt
when all are missing (the worst loss: a whole hour of windows never written).

Targets: a routine check of one city-hour <= 10 s (each run checks its overlap of 6 h again, so a
run every 10 minutes costs <= 1 min of one core); rebuilding a lost city-hour <= 60 s.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta

from bench.common import figure, local_stack, scratch_database
from ingest import contract as c
from ingest.db import connect
from ingest.warehouse.reconcile import reconcile_windows
from ingest.warehouse.settings import DEFAULT_RETENTION
from ingest.writer import EventWriter

CAMERAS = 1100
CROSSINGS_PER_CAMERA_MINUTE = 8  # a daytime average; the demo's busiest camera sends about 30
ZONE_SAMPLE_EVERY_S = 10
CLASSES = ("motorbike", "motorbike", "motorbike", "car", "bus_truck")


def _hour(start: datetime, seed: int = 3):
    rnd = random.Random(seed)
    for minute in range(60):
        batch: list[c.Event] = []
        for cam in range(CAMERAS):
            camera = f"cam-{cam:04d}"
            base = start + timedelta(minutes=minute)
            for i in range(CROSSINGS_PER_CAMERA_MINUTE):
                batch.append(c.LineCrossing(camera_id=camera, ts=base + timedelta(seconds=rnd.uniform(0, 60)), frame_no=i,
                                            line_id=rnd.choice(("l1", "l2")), direction=rnd.choice(("in", "out")),
                                            cls=rnd.choice(CLASSES), track_id=i, speed_kmh=round(rnd.uniform(5, 70), 1)))
            for s in range(0, 60, ZONE_SAMPLE_EVERY_S):
                batch.append(c.ZoneOccupancy(camera_id=camera, ts=base + timedelta(seconds=s + rnd.random()), frame_no=s,
                                             zone_id="z1", count=rnd.randrange(10)))
        yield batch


def main() -> None:
    stack = local_stack()
    now = datetime.now(UTC)
    start = (now - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    with scratch_database(stack) as db:
        rows = 0
        with connect(db) as conn:
            writer = EventWriter(conn)
            for batch in _hour(start):
                writer.write(batch)
                rows += len(batch)
            conn.commit()
            conn.execute("ANALYZE crossings")
            conn.execute("ANALYZE zone_occupancy")
            conn.commit()
        print(f"load: {os.getloadavg()[0]:.1f} (1-minute load average, 2 cores shared with other work)")
        kwargs = dict(window_s=60, after_s=310, overlap=timedelta(hours=6), retention=DEFAULT_RETENTION, full=True, now=now)
        wall, cpu = time.perf_counter(), time.process_time()
        rebuilt = reconcile_windows(db, **kwargs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        figure("reconcile.raw_rows_in_the_hour", rows, "rows")
        figure("reconcile.windows_rebuilt", rebuilt.repaired, "windows")
        figure("reconcile.rebuild_lost_city_hour_s", wall, "s", "<= 60")
        figure("reconcile.rebuild_client_cpu_s", cpu, "s")
        wall = time.perf_counter()
        checked = reconcile_windows(db, **kwargs)
        wall = time.perf_counter() - wall
        assert checked.repaired == 0
        figure("reconcile.check_city_hour_s", wall, "s", "<= 10")


if __name__ == "__main__":
    main()
