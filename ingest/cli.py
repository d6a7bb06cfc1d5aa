"""`ioc ingest`, `ioc schema` and `ioc db migrate`: the sink, the contract and the schema."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ingest.bus import BusSettings
from ingest.db import DbSettings

ingest_app = typer.Typer(help="The sink from the bus into TimescaleDB.", no_args_is_help=True)
schema_app = typer.Typer(help="The event contract, for other teams.", no_args_is_help=True)
console = Console(stderr=True)

BootstrapOption = typer.Option(None, "--bootstrap", envvar="IOC_BOOTSTRAP", help="Kafka bootstrap servers (default: the local stack).")
NamespaceOption = typer.Option("ioc", "--namespace", envvar="IOC_NAMESPACE", help="Topic namespace: topics are NAMESPACE.<stem>.v1.")
DsnOption = typer.Option(None, "--dsn", envvar="IOC_DSN", help="PostgreSQL DSN (default: the local stack).")


def bus_settings(bootstrap: Optional[str], namespace: str) -> BusSettings:
    return BusSettings(bootstrap=bootstrap, namespace=namespace) if bootstrap else BusSettings(namespace=namespace)


def db_settings(dsn: Optional[str]) -> DbSettings:
    return DbSettings(dsn=dsn) if dsn else DbSettings()


@ingest_app.command("run")
def run_sink(
    bootstrap: Optional[str] = BootstrapOption,
    namespace: str = NamespaceOption,
    dsn: Optional[str] = DsnOption,
    group: str = typer.Option("ioc-sink", help="Consumer group; several sinks in one group share the partitions."),
    metrics_port: int = typer.Option(9464, help="Port of the Prometheus /metrics endpoint (0: off); with --workers N, worker i serves PORT+i."),
    metrics_host: str = typer.Option("127.0.0.1", help="Address of the /metrics endpoint (0.0.0.0 in a container)."),
    workers: int = typer.Option(1, min=1, max=32, help="Sink processes in this group (one core each)."),
    count: Optional[int] = typer.Option(None, help="Stop after this many records."),
    timeout: Optional[float] = typer.Option(None, help="Stop after this many seconds."),
) -> None:
    """Consume every contract topic and write TimescaleDB; Ctrl-C finishes the batch and stops."""
    from ingest.sink import Sink, SinkSettings, SinkStats, run_workers

    settings = SinkSettings(bus=bus_settings(bootstrap, namespace), db=db_settings(dsn), group_id=group, metrics_port=metrics_port,
                            metrics_host=metrics_host)
    if workers > 1:
        try:
            results = run_workers(settings, workers=workers, count=count, timeout=timeout)
        except KeyboardInterrupt:
            return
        total = SinkStats(consumed=sum(r.consumed for r in results), written=sum(r.written for r in results),
                          dead_lettered=sum(r.dead_lettered for r in results))
        console.print(f"consumed {total.consumed}, written {total.written}, dead-lettered {total.dead_lettered}")
        return
    sink = Sink(settings)
    signal.signal(signal.SIGTERM, lambda *_: sink.stop())
    try:
        stats = sink.run(count=count, timeout=timeout)
    except KeyboardInterrupt:
        stats = sink.stats
    console.print(f"consumed {stats.consumed}, written {stats.written}, dead-lettered {stats.dead_lettered}")


@schema_app.command("export")
def export_schema(out: Optional[Path] = typer.Option(None, help="File to write (default: standard output).")) -> None:
    """Write the contract as JSON Schema (draft 2020-12)."""
    from ingest.contract import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {out}")


def migrate_command(dsn: Optional[str] = DsnOption) -> None:
    """Apply pending schema migrations (each once, recorded in schema_migrations)."""
    from ingest.db import migrate

    applied = migrate(db_settings(dsn))
    if applied:
        for migration in applied:
            console.print(f"applied {migration.version:04d}_{migration.name}")
    else:
        console.print("schema is up to date")
