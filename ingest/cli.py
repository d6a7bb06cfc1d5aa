"""`ioc ingest`, `ioc bus`, `ioc schema` and `ioc db migrate`: the sink, the stream, the contract
and the schema. Heavy imports (Kafka clients, the database driver) happen inside the commands."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Optional

import typer

from ingest.options import Shared, setting_option, shared
from ingest.settings import SinkSettings

ingest_app = typer.Typer(help="The sink from the bus into TimescaleDB.", no_args_is_help=True)
bus_app = typer.Typer(help="A look at the stream: topics, consumer groups and lag, events as they flow.",
                      no_args_is_help=True)
schema_app = typer.Typer(help="The event contract, for other teams.", no_args_is_help=True)

COUNT = typer.Option(None, "--count", min=1, help="Stop after this many records (per worker).")
TIMEOUT = typer.Option(None, "--timeout", min=0.1, help="Stop after this many seconds.")


@ingest_app.command("run")
@shared("bus", "db", "workers")
def run_sink(
    shared: Shared,
    group: Optional[str] = setting_option(SinkSettings, "group_id"),
    metrics_port: Optional[int] = setting_option(SinkSettings, "metrics_port"),
    metrics_host: Optional[str] = setting_option(SinkSettings, "metrics_host"),
    count: Optional[int] = COUNT,
    timeout: Optional[float] = TIMEOUT,
) -> None:
    """Consume every contract topic and write TimescaleDB; Ctrl-C finishes the batch and stops."""
    from ingest.sink import Sink, run_workers

    settings = SinkSettings.load(bus=shared.bus, db=shared.db, group_id=group, metrics_port=metrics_port,
                                 metrics_host=metrics_host)
    if shared.workers > 1:
        try:
            results = run_workers(settings, workers=shared.workers, count=count, timeout=timeout)
        except KeyboardInterrupt:
            return
        consumed, written, dead = (sum(getattr(r, k) for r in results) for k in ("consumed", "written", "dead_lettered"))
    else:
        sink = Sink(settings)
        signal.signal(signal.SIGTERM, lambda *_: sink.stop())
        try:
            stats = sink.run(count=count, timeout=timeout)
        except KeyboardInterrupt:
            stats = sink.stats
        consumed, written, dead = stats.consumed, stats.written, stats.dead_lettered
    typer.echo(f"consumed {consumed}, written {written}, dead-lettered {dead}", err=True)


def _quiet_kafka(shared: Shared) -> None:
    """At a terminal the one-line error says it all; the client's retry chatter shows at DEBUG."""
    import logging

    if shared.log_level != "DEBUG":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


@bus_app.command("topics")
@shared("bus")
def bus_topics(shared: Shared, as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """The contract's topics with partitions, end offsets (as the broker reports them) and each
    consumer group's committed offsets and lag."""
    from dataclasses import asdict

    from ingest.streamview import describe

    _quiet_kafka(shared)
    views = describe(shared.bus)
    if as_json:
        print(json.dumps([asdict(v) for v in views]))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("topic", "partitions", "end offsets", "consumer group", "committed", "lag")
    table.columns[0].no_wrap = table.columns[3].no_wrap = True
    for view in views:
        end = "—" if view.end_offsets is None else str(view.end_offsets)
        if view.partitions == 0:
            table.add_row(view.name, "missing", "—", "", "", "")
        for i, group in enumerate(view.groups or [None]):
            first = (view.name, str(view.partitions), end) if i == 0 else ("", "", "")
            row = ("", "", "") if group is None else (group.group, str(group.committed), "—" if group.lag is None else str(group.lag))
            if view.partitions:
                table.add_row(*first, *row)
    Console().print(table)


@bus_app.command("tail")
@shared("bus")
def bus_tail(
    shared: Shared,
    topic: str = typer.Argument(..., help="A topic name or its stem: frames, crossings, zones, incidents, health, "
                                          "counts, alerts, alert-actions, dead-letter."),
    camera: Optional[str] = typer.Option(None, "--camera", help="Only this camera's events (camera id)."),
    follow: bool = typer.Option(False, "--follow", help="Keep waiting for new events (Ctrl-C stops)."),
    fmt: str = typer.Option("table", "--format", help="table (one line per event) or json (one object per line)."),
    count: Optional[int] = typer.Option(None, "--count", min=1, help="Stop after this many records."),
    timeout: Optional[float] = TIMEOUT,
) -> None:
    """Print a topic's events from the beginning, decoded; dead letters with their reason."""
    from ingest.errors import InvalidInput
    from ingest.streamview import event_time, resolve_topic, summary, tail

    if fmt not in ("table", "json"):
        raise InvalidInput(f"--format {fmt!r}: use table or json")
    _quiet_kafka(shared)
    name = resolve_topic(shared.bus, topic)
    try:
        for item in tail(shared.bus, name, camera=camera, follow=follow, count=count, timeout=timeout):
            if fmt == "json":
                from ingest import contract

                body = json.loads(contract.encode(item.event)) if item.event is not None else None
                print(json.dumps({"topic": item.topic, "partition": item.partition, "offset": item.offset,
                                  "key": item.key, "event": body, "error": item.error,
                                  "headers": item.headers}, ensure_ascii=False), flush=True)
            else:
                ts = event_time(item)
                when = ts.strftime("%Y-%m-%d %H:%M:%S") if ts else "-" * 19
                print(f"{when}  {item.partition}:{item.offset:<8} {item.camera_id:<16} {summary(item)}", flush=True)
    except KeyboardInterrupt:
        pass


@schema_app.command("export")
@shared()
def export_schema(out: Optional[Path] = typer.Option(None, "--out", "-o", help="File to write (default: standard output).")) -> None:
    """Write the contract as JSON Schema (draft 2020-12)."""
    from ingest.contract import json_schema
    from ingest.errors import writing

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False)
    if out is None:
        typer.echo(text)
    else:
        with writing(out):
            out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


@shared("db")
def migrate_command(shared: Shared) -> None:
    """Apply pending schema migrations (each once, recorded in schema_migrations)."""
    from ingest.db import migrate

    applied = migrate(shared.db)
    if applied:
        for migration in applied:
            typer.echo(f"applied {migration.version:04d}_{migration.name}", err=True)
    else:
        typer.echo("schema is up to date", err=True)
