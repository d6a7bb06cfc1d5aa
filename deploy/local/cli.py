"""`ioc stack up|down|status`: the local broker + TimescaleDB stack."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from deploy.local.stack import StackError, StackInfo, StackSettings, stack_down, stack_status, stack_up

app = typer.Typer(help="Local Kafka broker (Tansu) + TimescaleDB, state under $IOC_STATE_DIR (default .ioc/).",
                  no_args_is_help=True)
console = Console()


def _fail(err: StackError) -> None:
    Console(stderr=True).print(f"[bold red]ioc stack:[/] {err}", highlight=False)
    raise typer.Exit(1)


def _show(info: StackInfo) -> None:
    table = Table(show_header=False, box=None)
    mark = lambda ok: "[green]running[/]" if ok else "[red]stopped[/]"  # noqa: E731
    pid = f" (pid {info.broker_pid})" if info.broker_pid else ""
    table.add_row("broker", mark(info.broker_running) + pid, info.bootstrap)
    table.add_row("database", mark(info.pg_running), info.dsn)
    table.add_row("state", "", str(info.state_dir))
    console.print(table)


@app.command()
def up() -> None:
    """Install what is missing, start the broker and the database, wait until both answer."""
    try:
        _show(stack_up(StackSettings.from_env()))
    except StackError as err:
        _fail(err)


@app.command()
def down() -> None:
    """Stop the broker and the database (broker topics are in memory and are lost)."""
    try:
        stack_down(StackSettings.from_env())
    except StackError as err:
        _fail(err)
    console.print("stack stopped")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON: bootstrap, dsn, state_dir, pids, flags.")) -> None:
    """Show the broker bootstrap address and the database DSN. Exits 1 unless both run."""
    try:
        info = stack_status(StackSettings.from_env())
    except StackError as err:
        _fail(err)
    if as_json:
        print(json.dumps(info.to_json()))  # plain print: no rich markup or wrapping in machine output
    else:
        _show(info)
    if not (info.broker_running and info.pg_running):
        raise typer.Exit(1)
