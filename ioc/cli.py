"""The `ioc` console command: one entry point in front of every stage's own commands.

Stages are imported only when their command runs (or its ``--help`` is asked for), so ``ioc``
starts fast on an edge box and a missing optional stack (reports, desk) affects only its commands.
Every ``IocError`` becomes one line and its exit status here (see ``ingest.errors``).
"""

from __future__ import annotations

import contextvars
import importlib
import os
import sys
from typing import Any

# Plain help and usage errors unless the user asks for Rich's panels (TYPER_USE_RICH=1): rendering
# them costs about 70 ms of every `--help`, a third of the start-up budget (python -m bench startup).
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402 (after the switch above, which typer reads when it is imported)
from typer.core import TyperGroup

from ingest.errors import EXIT_CODES

# Commands that live with the stage they need but belong, for the user, in another group.
EXTRA_COMMANDS: dict[str, dict[str, str]] = {
    "db": {"migrate": "ingest.cli:migrate_command", "sync-cameras": "camera_agents.cli:sync_cameras_command"},
}

# name -> (module:attribute of its Typer app, one-line help shown by `ioc --help`)
STAGES: dict[str, tuple[str, str]] = {
    "stack": ("deploy.local.cli:app", "The local broker and TimescaleDB: up, down, status."),
    "demo": ("deploy.local.cli:demo", "A small city on the local stack: cameras, processors, sink, live counts."),
    "agent": ("camera_agents.cli:app", "Camera agents: detect, track and count on video; publish events."),
    "processors": ("processors.cli:app", "Stream processors: exact 1-minute counts and alerts."),
    "ingest": ("ingest.cli:ingest_app", "The sink from the bus into TimescaleDB."),
    "bus": ("ingest.cli:bus_app", "A look at the stream: topics, consumer groups and lag, events as they flow."),
    "schema": ("ingest.cli:schema_app", "The event contract, for other teams."),
    "db": ("ingest.warehouse.cli:app", "Schema migrations, rollups, retention, backfill and the camera registry."),
    "report": ("dashboards.reports.cli:app", "Traffic reports for planners: volumes, peaks, speeds, exports and charts."),
    "desk": ("dashboards.desk.cli:app", "The alert desk: operators see, acknowledge, annotate and resolve alerts."),
    "notify": ("dashboards.notify.cli:app", "Notifications: alerts to webhooks, e-mail and Telegram, once each."),
    "dashboards": ("dashboards.grafana.cli:app", "The Grafana wall: build the dashboards as JSON, publish them to Grafana."),
}

_listing = contextvars.ContextVar("listing", default=False)


def load_stage(name: str) -> Any:
    """The click command of stage ``name``, imported now."""
    target = _import(STAGES[name][0])
    if isinstance(target, typer.Typer):  # a group, even when it has one command so far
        command = typer.main.get_group(target)
    else:  # a single command
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    for sub, target in EXTRA_COMMANDS.get(name, {}).items():
        extra = typer.Typer()
        extra.command(sub)(_import(target))
        command.add_command(typer.main.get_command(extra), sub)
    return command


def _import(target: str):
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)


class LazyStages(TyperGroup):
    """A group whose stage commands are imported on first use. While ``ioc --help`` lists them,
    each is a placeholder carrying its one-line help, so listing imports no stage."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *STAGES})

    def get_command(self, ctx: typer.Context, name: str) -> Any:
        if name not in STAGES:
            return super().get_command(ctx, name)
        if _listing.get():
            return TyperGroup(name=name, help=STAGES[name][1])
        return load_stage(name)

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        token = _listing.set(True)
        try:
            super().format_help(ctx, formatter)
        finally:
            _listing.reset(token)


app = typer.Typer(
    cls=LazyStages,
    help="ioc: cameras -> Kafka -> processors -> TimescaleDB -> Grafana, for a city's operations center.\n\n"
         "Exit status: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()) + ".",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["--help", "-h"]},
)


@app.callback()
def _root() -> None:
    """Each command configures logging from its own --log-level and --log-format."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. Each command maps its own errors to one line and an exit status (see
    ``ingest.options.shared``); what is left here is bad usage and interrupts."""
    try:
        status = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        status = exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        status = 130
    except KeyboardInterrupt:
        status = 130
    except typer.TyperException as exc:  # bad usage: the parser's own message and status 2
        show = getattr(exc, "show", None)
        show() if show else typer.echo(f"error: {exc.format_message()}", err=True)
        status = exc.exit_code
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
