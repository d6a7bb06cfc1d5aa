"""`ioc db` commands of the warehouse: maintain (rollups + retention), backfill, status.

The lead mounts ``app``'s commands in the ``ioc db`` group (next to ``migrate``).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ingest.db import DatabaseError, DbSettings, connect

app = typer.Typer(help="Rollups, retention and synthetic history of the traffic warehouse.", no_args_is_help=True)
_DSN = typer.Option(None, "--dsn", help="PostgreSQL DSN (default: $IOC_DSN or the local stack).")


def _settings(dsn: str | None) -> DbSettings:
    return DbSettings(dsn=dsn) if dsn else DbSettings.from_env()


def _describe(result) -> str:  # a Maintenance
    refresh = result.refresh
    text = f"rollups ({refresh.mode.value}) refreshed in {refresh.seconds:.2f} s"
    if refresh.mode.value == "own":
        text += f": {refresh.hours} camera-hours, {refresh.days} camera-days"
        if refresh.skipped_stale:
            text += f", {refresh.skipped_stale} camera-hours older than the raw horizon kept as they were"
    dropped = [f"{d.table} {len(d.chunks)}" for d in result.dropped if d.chunks]
    text += "; retention dropped " + (", ".join(dropped) + " chunks" if dropped else "nothing")
    return text + (f"; clustered {len(result.clustered)} closed rollup chunks" if result.clustered else "")


@app.command("maintain")
def maintain_command(
    every: Optional[float] = typer.Option(None, "--every", help="Run every SECONDS instead of once."),
    count: Optional[int] = typer.Option(None, "--count", help="With --every: stop after this many runs."),
    full: bool = typer.Option(False, "--full", help="Recompute every hour that still has raw windows (once)."),
    dsn: Optional[str] = _DSN,
) -> None:
    """Refresh the hourly and daily rollups, then drop chunks past each table's retention.

    IOC_RETENTION="frame_events=7d,crossings=26w,traffic_daily=forever" overrides the defaults."""
    from ingest.warehouse.maintenance import maintain, maintain_every
    from ingest.warehouse.settings import SettingsError, WarehouseSettings

    console = Console(stderr=True)
    try:
        warehouse = WarehouseSettings.from_env()
    except SettingsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    settings = _settings(dsn)
    if every is None:
        console.print(_describe(maintain(settings, warehouse, full=full)))
        return
    if every <= 0 or full:
        console.print("[red]error:[/red] --every needs a positive number of seconds and cannot be combined with --full")
        raise typer.Exit(2)
    failed = maintain_every(settings, warehouse, every_s=every, count=count, on_run=lambda r: console.print(_describe(r)))
    if failed:
        raise typer.Exit(1)


@app.command("backfill")
def backfill_command(
    cameras: int = typer.Option(..., "--cameras", min=1, help="How many synthetic cameras (bf-001...)."),
    days: int = typer.Option(..., "--days", min=1, help="How many days of history, ending yesterday."),
    end: Optional[str] = typer.Option(None, "--end", help="Day after the last one written (default: today)."),
    seed: int = typer.Option(7, "--seed", help="Same seed, same history."),
    window: int = typer.Option(900, "--window", help="Window length in seconds: 900 (15-minute reports work), 1800 or 3600 (4x fewer rows)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Writer processes (one per core is right)."),
    refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="Refresh the rollups afterwards."),
    dsn: Optional[str] = _DSN,
) -> None:
    """Write synthetic traffic history through the sink's write path, then refresh the rollups.

    Count windows per line, direction and class (rush hours, weekends, Tết, rain, incidents),
    incidents, and the camera registry."""
    from rich.progress import Progress

    from ingest.warehouse.backfill import BackfillPlan, backfill
    from ingest.warehouse.rollups import refresh_rollups

    console = Console(stderr=True)
    try:
        plan = BackfillPlan(cameras=cameras, days=days, seed=seed, window_s=window,
                            **({"end": date.fromisoformat(end)} if end else {}))
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    settings = _settings(dsn)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"backfilling {cameras} cameras x {days} days", total=days)
        result = backfill(settings, plan, workers=workers, progress=lambda done, rows: progress.update(task, completed=done))
    console.print(f"wrote {result.rows:,} rows in {result.seconds:.1f} s ({result.rows_per_s:,.0f} rows/s)")
    if refresh:
        done = refresh_rollups(settings)
        console.print(f"rollups ({done.mode.value}) refreshed in {done.seconds:.1f} s")


@app.command("sync-cameras")
def sync_cameras_command(
    cameras: Path = typer.Option(..., "--cameras", help="Folder of camera configs (*.yaml)."),
    dsn: Optional[str] = _DSN,
    announce: bool = typer.Option(False, "--announce", help="Also publish them to the processors, which then alert on a registered camera that never sends a heartbeat."),
    bootstrap: Optional[str] = typer.Option(None, "--bootstrap", help="With --announce: Kafka bootstrap (default $IOC_BOOTSTRAP or 127.0.0.1:19092)."),
    namespace: Optional[str] = typer.Option(None, "--namespace", help="With --announce: topic namespace (default $IOC_NAMESPACE or 'ioc')."),
) -> None:
    """Fill the cameras registry (names, positions, lines, zones) from the camera configs."""
    from camera_agents.config import ConfigError
    from ingest.bus import BusError, BusSettings
    from camera_agents.announce import announce_cameras
    from ingest.warehouse.registry import sync_cameras

    console = Console(stderr=True)
    try:
        ids = sync_cameras(_settings(dsn), cameras)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except DatabaseError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"registry: {len(ids)} cameras ({', '.join(ids)})")
    if announce:
        bus = BusSettings.from_env(**{k: v for k, v in {"bootstrap": bootstrap, "namespace": namespace}.items() if v})
        try:
            announce_cameras(bus, cameras)
        except BusError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(3) from None
        console.print(f"announced {len(ids)} cameras on {bus.topics.health}")


@app.command("status")
def status_command(dsn: Optional[str] = _DSN) -> None:
    """Licence, rollup mode, refresh backlog, and the extent of the rollups."""
    from ingest.warehouse.rollups import pending_marks, rollup_mode, timescale_license

    try:
        with connect(_settings(dsn)) as conn:
            typer.echo(f"timescaledb.license: {timescale_license(conn)}")
            typer.echo(f"rollup mode: {rollup_mode(conn).value}")
            typer.echo(f"camera-hours waiting for a refresh: {pending_marks(conn)}")
            for table in ("traffic_hourly", "traffic_daily"):
                first, last, cams = conn.execute(
                    f"SELECT min(bucket), max(bucket), count(DISTINCT camera_id) FROM {table}"
                ).fetchone()
                typer.echo(f"{table}: {cams} cameras, {first} .. {last}")
    except DatabaseError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
