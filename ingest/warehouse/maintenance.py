"""`ioc db maintain`: rebuild lost windows, refresh the rollups, apply retention, cluster closed
rollup chunks; once or on a schedule.

Reconcile first: a window rebuilt from its crossings marks its hour, and the refresh right after
carries it into the rollups (``ingest.warehouse.reconcile``).
Refresh next: a late window for an hour about to leave raw retention still reaches the rollup.
Cluster last: a chunk retention is about to drop is not worth rewriting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ingest.db import DatabaseError, DbSettings
from ingest.warehouse.clustering import cluster_closed_chunks
from ingest.warehouse.reconcile import Reconciled, reconcile_windows
from ingest.warehouse.retention import Dropped, apply_retention
from ingest.warehouse.rollups import RefreshResult, refresh_rollups
from ingest.warehouse.settings import WarehouseSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Maintenance:
    refresh: RefreshResult
    dropped: list[Dropped]
    clustered: list[str]
    reconciled: Reconciled

    @property
    def windows_repaired(self) -> int:
        return self.reconciled.repaired

    @property
    def chunks_dropped(self) -> int:
        return sum(len(d.chunks) for d in self.dropped)


def maintain(db: DbSettings, warehouse: WarehouseSettings, *, full: bool = False) -> Maintenance:
    """One maintenance run; ``full`` also re-checks every window the raw retention still holds."""
    reconciled = reconcile_windows(db, window_s=warehouse.reconcile_window_s, after_s=warehouse.reconcile_after_s,
                                   overlap=warehouse.reconcile_overlap, retention=warehouse.retention, full=full)
    refresh = refresh_rollups(db, full=full)
    dropped = apply_retention(db, warehouse.retention)
    return Maintenance(refresh, dropped, cluster_closed_chunks(db), reconciled)


def maintain_every(
    db: DbSettings,
    warehouse: WarehouseSettings,
    *,
    every_s: float,
    count: int | None = None,
    on_run: Callable[[Maintenance], None] = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run ``maintain`` every ``every_s`` seconds, ``count`` times (None: until interrupted).
    A database outage is logged and retried at the next tick rather than ending the schedule;
    returns the number of runs that failed."""
    failures = 0
    run = 0
    while count is None or run < count:
        started = time.monotonic()
        try:
            on_run(maintain(db, warehouse))
        except DatabaseError as exc:
            failures += 1
            log.error("maintenance run failed, retrying in %.0f s: %s", every_s, exc)
        run += 1
        if count is None or run < count:
            sleep(max(0.0, every_s - (time.monotonic() - started)))
    return failures
