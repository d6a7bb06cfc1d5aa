"""``ioc dashboards``: build the wall's Grafana dashboards to JSON and publish them to a Grafana."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ingest.options import Shared, shared

app = typer.Typer(help="The Grafana wall: build the dashboards as JSON, publish them to Grafana.", no_args_is_help=True)


@app.command()
@shared()
def build(
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write <lang>/<dashboard>.json into (default: the provisioned folder, dashboards/grafana/provisioning/dashboards)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="vi or en (default: both)."),
    desk_url: Optional[str] = typer.Option(None, "--desk-url", envvar="IOC_DESK_URL", help="Base URL of the alert desk that alert rows link to (default http://127.0.0.1:8088)."),
) -> None:
    """Write the four dashboards (city live, alerts, planning, pipeline health) as Grafana JSON."""
    from dashboards.grafana.build import PROVISIONED, write
    from dashboards.grafana.labels import LANGS
    from ingest.errors import InvalidInput, writing

    if lang is not None and lang not in LANGS:
        raise InvalidInput(f"--lang must be one of {', '.join(LANGS)}, not {lang!r}")
    langs = LANGS if lang is None else (lang,)
    folder = out or PROVISIONED
    with writing(folder):
        written = write(folder, langs, desk_url=desk_url)  # type: ignore[arg-type]
    for path in written:
        typer.echo(f"wrote {path}")


@app.command()
@shared()
def publish(
    url: str = typer.Option(..., "--url", envvar="IOC_GRAFANA_URL", help="Grafana's base URL, e.g. http://127.0.0.1:3000."),
    token: str = typer.Option(..., "--token", envvar="IOC_GRAFANA_TOKEN", help="A Grafana service-account token with Editor rights."),
    lang: Optional[str] = typer.Option(None, "--lang", help="vi or en (default: both)."),
    folder: str = typer.Option("IOC", "--folder", help="Grafana folder to put the dashboards in (created if missing)."),
    desk_url: Optional[str] = typer.Option(None, "--desk-url", envvar="IOC_DESK_URL", help="Base URL of the alert desk."),
) -> None:
    """Upload the dashboards to a running Grafana (overwriting the versions there)."""
    from pydantic import SecretStr

    from dashboards.grafana.labels import LANGS
    from dashboards.grafana.publish import PublishSettings
    from dashboards.grafana.publish import publish as publish_all
    from ingest.errors import InvalidInput

    if lang is not None and lang not in LANGS:
        raise InvalidInput(f"--lang must be one of {', '.join(LANGS)}, not {lang!r}")
    settings = PublishSettings(url=url, token=SecretStr(token), folder=folder)
    langs = LANGS if lang is None else (lang,)
    for uid, dashboard_url in publish_all(settings, langs, desk_url=desk_url):  # type: ignore[arg-type]
        typer.echo(f"published {uid}: {dashboard_url}")


@app.command("reader-password")
@shared("db")
def reader_password(
    shared: Shared,
    password_env: str = typer.Option("IOC_GRAFANA_DB_PASSWORD", "--password-env", help="Environment variable holding the password (never on the command line)."),
) -> None:
    """Set the password of ioc_grafana, the read-only role Grafana queries TimescaleDB as."""
    import os

    from pydantic import SecretStr

    from dashboards.grafana.reader import set_reader_password
    from ingest.errors import InvalidInput

    value = os.environ.get(password_env, "")
    if not value:
        raise InvalidInput(f"set the password in the environment variable {password_env} (it is empty or missing)")
    set_reader_password(shared.db, SecretStr(value))
    typer.echo("password of ioc_grafana set; give Grafana the same one as IOC_GRAFANA_DB_PASSWORD")
