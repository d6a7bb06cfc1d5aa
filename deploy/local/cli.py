"""`ioc stack up|down|status` (the local broker + TimescaleDB) and `ioc demo`."""

from __future__ import annotations

import json
from typing import Optional

import typer

from deploy.local.stack import StackSettings
from ingest.options import Shared, setting_option, shared

app = typer.Typer(help="Local Kafka broker (Tansu) + TimescaleDB; state under the state dir (default .ioc/).",
                  no_args_is_help=True)

_BROKER_PORT = setting_option(StackSettings, "broker_port")
_PG_PORT = setting_option(StackSettings, "pg_port")


def _settings(shared: Shared, broker_port: Optional[int], pg_port: Optional[int]) -> StackSettings:
    return StackSettings.load(state_dir=shared.state_dir, broker_port=broker_port, pg_port=pg_port)


def _show(info) -> None:  # a StackInfo
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None)
    mark = lambda ok: "[green]running[/]" if ok else "[red]stopped[/]"  # noqa: E731
    pid = f" (pid {info.broker_pid})" if info.broker_pid else ""
    table.add_row("broker", mark(info.broker_running) + pid, info.bootstrap)
    table.add_row("database", mark(info.pg_running), info.dsn)
    table.add_row("state", "", str(info.state_dir))
    Console().print(table)


@app.command()
@shared("state")
def up(shared: Shared, broker_port: Optional[int] = _BROKER_PORT, pg_port: Optional[int] = _PG_PORT) -> None:
    """Install what is missing, start the broker and the database, wait until both answer."""
    from deploy.local.stack import stack_up

    _show(stack_up(_settings(shared, broker_port, pg_port)))


@app.command()
@shared("state")
def down(shared: Shared, broker_port: Optional[int] = _BROKER_PORT, pg_port: Optional[int] = _PG_PORT) -> None:
    """Stop the broker and the database (broker topics are in memory and are lost)."""
    from deploy.local.stack import stack_down

    stack_down(_settings(shared, broker_port, pg_port))
    typer.echo("stack stopped")


@app.command()
@shared("state")
def status(
    shared: Shared,
    as_json: bool = typer.Option(False, "--json", help="Print JSON: bootstrap, dsn, state_dir, pids, flags."),
    broker_port: Optional[int] = _BROKER_PORT,
    pg_port: Optional[int] = _PG_PORT,
) -> None:
    """Show the broker bootstrap address and the database DSN. Exits 1 unless both run."""
    from deploy.local.stack import stack_status

    info = stack_status(_settings(shared, broker_port, pg_port))
    if as_json:
        print(json.dumps(info.to_json()))  # plain print: no rich markup or wrapping in machine output
    else:
        _show(info)
    if not (info.broker_running and info.pg_running):
        raise typer.Exit(1)


@shared("state")
def demo(
    shared: Shared,
    duration: Optional[float] = typer.Option(None, "--duration", min=1, help="Stop after this many seconds (default: until Ctrl-C)."),
    traffic_cameras: int = typer.Option(4, "--traffic-cameras", min=1, max=4, help="Simulated traffic cameras."),
) -> None:
    """A small city on the local stack: simulated and recorded cameras, processors, sink, live counts."""
    from rich.console import Console

    from deploy.local.demo import DemoSettings, run_demo
    from deploy.local.stack import stack_up

    info = stack_up(StackSettings.load(state_dir=shared.state_dir))
    counts = run_demo(DemoSettings(bootstrap=info.bootstrap, dsn=info.dsn, state_dir=info.state_dir,
                                   duration_s=duration, traffic_cameras=traffic_cameras, log_level=shared.log_level))
    Console().print("rows in TimescaleDB: " + ", ".join(f"{table} {n}" for table, n in counts.items()))
