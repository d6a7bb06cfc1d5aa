"""`ioc notify ...`: send alerts to people by webhook, e-mail and Telegram.

The lead mounts ``app`` as ``ioc notify``. Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Notifications: alerts to webhooks, e-mail and Telegram, once each.", no_args_is_help=True)

_ROUTES = typer.Option(..., "--routes", help="Routes file (YAML): which alerts go where.")


@app.command("run")
def run_command(
    routes: Path = _ROUTES,
    dsn: Optional[str] = typer.Option(None, "--dsn", help="PostgreSQL DSN (default: $IOC_DSN or the local stack)."),
    bootstrap: Optional[str] = typer.Option(None, "--bootstrap", help="Kafka bootstrap (default $IOC_BOOTSTRAP or 127.0.0.1:19092)."),
    namespace: Optional[str] = typer.Option(None, "--namespace", help="Topic namespace (default $IOC_NAMESPACE or 'ioc')."),
    desk_url: Optional[str] = typer.Option(None, "--desk-url", help="The alert desk's address, for a link in each message."),
    count: Optional[int] = typer.Option(None, "--count", min=1, help="Stop after this many alert events (for tests)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0, help="Stop after this many seconds (for tests)."),
    idle_timeout: Optional[float] = typer.Option(None, "--idle-timeout", min=0, help="Stop after this many seconds without an alert."),
) -> None:
    """Read the alerts topic and notify each route of openings, escalations and resolutions."""
    import logging
    import signal

    from ingest.bus import BusSettings
    from ingest.db import DbSettings
    from notifier.config import load_routes
    from notifier.service import Notifier, NotifierSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_routes(routes)
    bus = BusSettings.from_env(**{k: v for k, v in {"bootstrap": bootstrap, "namespace": namespace}.items() if v})
    db = DbSettings(dsn=dsn) if dsn else DbSettings.from_env()
    notifier = Notifier(NotifierSettings(bus=bus, db=db, routes=config, desk_url=desk_url))
    signal.signal(signal.SIGTERM, lambda *_: notifier.stop())
    stats = notifier.run(count=count, timeout=timeout, idle_timeout=idle_timeout)
    typer.echo(f"alerts {stats.alerts}, sent {stats.sent}, failed {stats.failed}, already sent {stats.duplicates}, "
               f"too old {stats.stale}")


@app.command("check")
def check_command(routes: Path = _ROUTES) -> None:
    """Validate a routes file (secrets read from the environment must be set) and list its routes."""
    from notifier.config import load_routes

    config = load_routes(routes)
    for route in config.routes:
        scope = ", ".join(route.districts) if route.districts else "all districts"
        rules = ", ".join(route.rules) if route.rules else "all rules"
        typer.echo(f"{route.name}: {route.channel}, {rules}, {route.min_severity} and above, {scope}, "
                   f"{'/'.join(route.languages)}")
