"""`ioc notify ...`: send alerts to people by webhook, e-mail and Telegram.

Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ingest.options import Shared, shared

app = typer.Typer(help="Notifications: alerts to webhooks, e-mail and Telegram, once each.", no_args_is_help=True)

_ROUTES = typer.Option(..., "--routes", help="Routes file (YAML): which alerts go where.")


@app.command("run")
@shared("bus", "db")
def run_command(
    shared: Shared,
    routes: Path = _ROUTES,
    desk_url: Optional[str] = typer.Option(None, "--desk-url", help="The alert desk's address, for a link in each message."),
    count: Optional[int] = typer.Option(None, "--count", min=1, help="Stop after this many records (alert events)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0, help="Stop after this many seconds (for tests)."),
    idle_timeout: Optional[float] = typer.Option(None, "--idle-timeout", min=0, help="Stop after this many seconds without an alert."),
) -> None:
    """Read the alerts topic and notify each route of openings, escalations and resolutions."""
    import signal

    from dashboards.notify.config import load_routes
    from dashboards.notify.service import Notifier, NotifierSettings

    config = load_routes(routes)
    notifier = Notifier(NotifierSettings(bus=shared.bus, db=shared.db, routes=config, desk_url=desk_url))
    signal.signal(signal.SIGTERM, lambda *_: notifier.stop())
    stats = notifier.run(count=count, timeout=timeout, idle_timeout=idle_timeout)
    typer.echo(f"alerts {stats.alerts}, sent {stats.sent}, failed {stats.failed}, already sent {stats.duplicates}, "
               f"too old {stats.stale}")


@app.command("check")
@shared()
def check_command(routes: Path = _ROUTES) -> None:
    """Validate a routes file (secrets read from the environment must be set) and list its routes."""
    from dashboards.notify.config import load_routes

    config = load_routes(routes)
    for route in config.routes:
        scope = ", ".join(route.districts) if route.districts else "all districts"
        rules = ", ".join(route.rules) if route.rules else "all rules"
        typer.echo(f"{route.name}: {route.channel}, {rules}, {route.min_severity} and above, {scope}, "
                   f"{'/'.join(route.languages)}")
