"""The `ioc` console command: one entry point mounting each stage's own commands."""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console
from rich.logging import RichHandler

from deploy.local.cli import app as stack_app
from ingest.bus import BusError
from ingest.cli import ingest_app, migrate_command, schema_app
from ingest.contract import ContractError
from ingest.db import DatabaseError
from ingest.warehouse.cli import app as db_app
from camera_agents.cli import app as agent_app
from dashboards.reports.cli import app as report_app
from processors.cli import app as processors_app

app = typer.Typer(
    help="ioc: cameras -> Kafka -> processors -> TimescaleDB -> Grafana, for a city's operations center.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack", help="The local broker and TimescaleDB.")
app.add_typer(agent_app, name="agent")
app.add_typer(ingest_app, name="ingest")
app.add_typer(schema_app, name="schema")

db_app.command("migrate")(migrate_command)
app.add_typer(db_app, name="db", help="Schema migrations, rollups, retention and backfill.")
app.add_typer(processors_app, name="processors")
app.add_typer(report_app, name="report")


@app.command()
def demo(
    duration: float = typer.Option(None, help="Stop after this many seconds (default: until Ctrl-C)."),
    traffic_cameras: int = typer.Option(4, min=1, max=4, help="Simulated traffic cameras."),
) -> None:
    """A small city on the local stack: simulated and recorded cameras, processors, sink, live counts."""
    from deploy.local.demo import DemoSettings, run_demo
    from deploy.local.stack import StackSettings, stack_up

    info = stack_up(StackSettings.from_env())
    counts = run_demo(DemoSettings(bootstrap=info.bootstrap, dsn=info.dsn, state_dir=info.state_dir,
                                   duration_s=duration, traffic_cameras=traffic_cameras))
    Console().print("rows in TimescaleDB: " + ", ".join(f"{table} {n}" for table, n in counts.items()))


@app.callback()
def _configure(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    if sys.stderr.isatty():
        logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=Console(stderr=True), show_path=False)])
    else:  # services and log files: one plain line per record, never wrapped
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    # kafka-python 3 warns whenever its I/O loop is held >100 ms, which a busy host does often and
    # which asks nothing of an operator; real connection problems are still logged as errors.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)


def main() -> None:
    """Run the CLI; a project error prints one clear line and exits 1 instead of a traceback."""
    try:
        app()
    except (BusError, DatabaseError, ContractError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        sys.exit(1)
