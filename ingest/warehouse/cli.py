"""`ioc db` commands of the warehouse: maintain (rollups + retention), backfill, status.

``ioc`` adds `migrate` (ingest.cli) and `sync-cameras` (camera_agents.cli) to this group.
"""

from __future__ import annotations

from datetime import date
from typing import Optional

import typer

from ingest.errors import InvalidInput
from ingest.options import Shared, deprecated, deprecated_option, shared

app = typer.Typer(help="Schema migrations, rollups, retention, backfill and the camera registry.", no_args_is_help=True)


def _describe(result) -> str:  # a Maintenance
    reconciled = result.reconciled
    if reconciled.checked_from is None:
        text = "no closed window to check yet; "
    else:
        text = (f"repaired {reconciled.repaired} windows ({reconciled.count_windows} count, "
                f"{reconciled.occupancy_windows} occupancy) missing or disagreeing with their raw rows "
                f"between {reconciled.checked_from:%Y-%m-%d %H:%M} and {reconciled.checked_until:%Y-%m-%d %H:%M} UTC; ")
    refresh = result.refresh
    text += f"rollups ({refresh.mode.value}) refreshed in {refresh.seconds:.2f} s"
    if refresh.mode.value == "own":
        text += f": {refresh.hours} camera-hours, {refresh.days} camera-days"
        if refresh.speed_hours:
            text += f", speed histograms of {refresh.speed_hours} camera-hours"
        if refresh.skipped_stale:
            text += f", {refresh.skipped_stale} camera-hours older than the raw horizon kept as they were"
    dropped = [f"{d.table} {len(d.chunks)}" for d in result.dropped if d.chunks]
    text += "; retention dropped " + (", ".join(dropped) + " chunks" if dropped else "nothing")
    return text + (f"; clustered {len(result.clustered)} closed rollup chunks" if result.clustered else "")


@app.command("maintain")
@shared("db")
def maintain_command(
    shared: Shared,
    every: Optional[float] = typer.Option(None, "--every", help="Run every SECONDS instead of once."),
    runs: Optional[int] = typer.Option(None, "--runs", min=1, help="With --every: stop after this many runs."),
    full: bool = typer.Option(False, "--full", help="Re-check every closed window and recompute every hour that still has raw "
                                                    "windows or crossings (once; after upgrading, for speed histograms)."),
    old_count: Optional[int] = deprecated_option("--count", "--runs"),
) -> None:
    """Rebuild closed windows missing from their crossings and zone samples, refresh the hourly and
    daily rollups, then drop chunks past each table's retention.

    IOC_RETENTION="frame_events=7d,crossings=26w,traffic_daily=forever" overrides the defaults."""
    from ingest.warehouse.maintenance import maintain, maintain_every
    from ingest.warehouse.settings import WarehouseSettings

    runs = runs or deprecated("--count", "--runs", old_count)
    warehouse = WarehouseSettings.load()
    if every is None:
        typer.echo(_describe(maintain(shared.db, warehouse, full=full)), err=True)
        return
    if every <= 0 or full:
        raise InvalidInput("--every needs a positive number of seconds and cannot be combined with --full")
    failed = maintain_every(shared.db, warehouse, every_s=every, count=runs, on_run=lambda r: typer.echo(_describe(r), err=True))
    if failed:
        raise typer.Exit(1)


@app.command("backfill")
@shared("db", "workers")
def backfill_command(
    shared: Shared,
    camera_count: Optional[int] = typer.Option(None, "--camera-count", min=1, help="How many synthetic cameras (bf-001...)."),
    days: int = typer.Option(..., "--days", min=1, help="How many days of history, ending yesterday."),
    end: Optional[str] = typer.Option(None, "--end", help="Day after the last one written (default: today)."),
    seed: int = typer.Option(7, "--seed", help="Same seed, same history."),
    window: int = typer.Option(900, "--window", help="Window length in seconds: 900 (15-minute reports work), 1800 or 3600 (4x fewer rows)."),
    refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="Refresh the rollups afterwards."),
    old_cameras: Optional[int] = deprecated_option("--cameras", "--camera-count", min=1),
) -> None:
    """Write synthetic traffic history through the sink's write path, then refresh the rollups.

    Count windows per line, direction and class (rush hours, weekends, Tết, rain, incidents),
    incidents, and the camera registry."""
    from rich.console import Console
    from rich.progress import Progress

    from ingest.warehouse.backfill import BackfillPlan, backfill
    from ingest.warehouse.rollups import refresh_rollups

    cameras = camera_count or deprecated("--cameras", "--camera-count", old_cameras)
    if cameras is None:
        raise InvalidInput("give --camera-count N: how many synthetic cameras to write")
    try:
        last = date.fromisoformat(end) if end else None
    except ValueError as exc:
        raise InvalidInput(f"--end {end!r} is not a date such as 2026-03-01: {exc}") from None
    try:
        plan = BackfillPlan(cameras=cameras, days=days, seed=seed, window_s=window, **({"end": last} if last else {}))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    console = Console(stderr=True)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"backfilling {cameras} cameras x {days} days", total=days)
        result = backfill(shared.db, plan, workers=shared.workers,
                          progress=lambda done, rows: progress.update(task, completed=done))
    console.print(f"wrote {result.rows:,} rows in {result.seconds:.1f} s ({result.rows_per_s:,.0f} rows/s)")
    if refresh:
        done = refresh_rollups(shared.db)
        console.print(f"rollups ({done.mode.value}) refreshed in {done.seconds:.1f} s")


@app.command("status")
@shared("db")
def status_command(shared: Shared) -> None:
    """Licence, rollup mode, refresh backlog, and the extent of the rollups."""
    import psycopg

    from ingest.db import DatabaseError, connect
    from ingest.warehouse.rollups import pending_marks, rollup_mode, timescale_license

    try:
        with connect(shared.db) as conn:
            typer.echo(f"timescaledb.license: {timescale_license(conn)}")
            typer.echo(f"rollup mode: {rollup_mode(conn).value}")
            typer.echo(f"camera-hours waiting for a refresh: {pending_marks(conn)}")
            for table in ("traffic_hourly", "traffic_daily", "speed_hourly", "speed_daily"):
                first, last, cams = conn.execute(
                    f"SELECT min(bucket), max(bucket), count(DISTINCT camera_id) FROM {table}"
                ).fetchone()
                typer.echo(f"{table}: {cams} cameras, {first} .. {last}")
    except psycopg.Error as exc:
        raise DatabaseError(f"reading the warehouse status failed: {exc}") from exc
