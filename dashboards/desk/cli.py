"""`ioc desk`: serve the alert desk, manage its users and API tokens, read its audit trail."""

from __future__ import annotations

import json
import re
import socket
import sys
from datetime import timedelta
from typing import Optional

import typer

from ingest.errors import InvalidInput
from ingest.options import Shared, shared

app = typer.Typer(help="The alert desk: operators see, acknowledge, annotate and resolve alerts.", no_args_is_help=True)
user_app = typer.Typer(help="Desk users: roles and districts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for other systems (Bearer).", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")



class UnknownUser(InvalidInput):
    """A desk user that does not exist."""


@app.command("serve")
@shared("bus", "db")
def serve(
    shared: Shared,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8088, min=1, max=65535, help="Port to listen on."),
    secure_cookies: Optional[bool] = typer.Option(None, "--secure-cookies/--no-secure-cookies",
                                                  help="Mark cookies Secure (default: when the request came over https)."),
    forwarded_allow_ips: str = typer.Option("127.0.0.1", help="Proxies trusted for X-Forwarded-For/-Proto (TLS in front)."),
) -> None:
    """Serve the desk's pages, its JSON API (/api, schema at /api/openapi.json) and its live stream."""
    import uvicorn

    from dashboards.desk.app import create_app
    from dashboards.desk.settings import DeskSettings

    settings = DeskSettings.load(db=shared.db, bus=shared.bus, secure_cookies=secure_cookies)
    listening = _listening_socket(host, port)
    config = uvicorn.Config(create_app(settings), proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips,
                            log_level=shared.log_level.lower(), log_config=None)
    typer.echo(f"alert desk on http://{host}:{port}/", err=True)
    with listening:
        uvicorn.Server(config).run(sockets=[listening])


def _listening_socket(host: str, port: int) -> socket.socket:
    """The desk's socket, bound before anything is served: an address that cannot be had (a port
    in use, a host name that resolves to nothing here) is one line of bad input, not a server's
    log followed by its shutdown."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        listening = socket.socket(family, kind, proto)
    except OSError as exc:
        raise InvalidInput(f"cannot serve the desk on {host}:{port}: {exc.strerror or exc}") from None
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a desk restarted at once takes its port back
        listening.bind(address)
        listening.listen(2048)
    except OSError as exc:
        listening.close()
        raise InvalidInput(f"cannot serve the desk on {host}:{port}: {exc.strerror or exc}") from None
    listening.set_inheritable(True)
    return listening


def _check_user_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}", name):
        raise InvalidInput(f"user name {name!r} may hold letters, digits and . _ - @ (at most 64)")


@user_app.command("add")
@shared("db")
def user_add(
    shared: Shared,
    name: str = typer.Argument(..., help="User name (letters, digits, . _ - @)."),
    role: str = typer.Option(..., "--role", help="viewer (sees), operator (acts on alerts) or admin (also silences)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
    district: list[str] = typer.Option([], "--district", help="A district the user answers for (repeat); none: the province."),
    lang: str = typer.Option("vi", "--lang", help="Language of the pages: vi or en."),
) -> None:
    """Add a user, or update an existing one's role, districts, language and password."""
    from dashboards.desk.security import ROLES, hash_password
    from ingest.contract import district_name
    from ingest.db import connect

    if role not in ROLES:
        raise InvalidInput(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    if lang not in ("vi", "en"):
        raise InvalidInput(f"--lang must be vi or en, not {lang!r}")
    _check_user_name(name)
    if not password_stdin:
        raise InvalidInput("give the password on standard input with --password-stdin (never on the command line)")
    district = list(dict.fromkeys(district_name(d) for d in district))
    if not all(district):
        raise InvalidInput("--district cannot be blank (leave it out for a user of the whole province)")
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise InvalidInput("the password must have at least 8 characters")
    with connect(shared.db) as conn:
        known = {row[0] for row in conn.execute("SELECT DISTINCT district FROM cameras WHERE district IS NOT NULL")}
        for place in district:
            if place not in known:
                # Cameras may be registered after their operators: a warning, not a refusal.
                listed = ", ".join(sorted(known)) or "none yet"
                typer.echo(f"warning: no registered camera is in district {place!r} (districts with cameras: {listed}); "
                           "until one is, this user sees no alert", err=True)
        conn.execute(
            "INSERT INTO desk_users (name, role, password_hash, districts, lang) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, password_hash = EXCLUDED.password_hash, "
            "districts = EXCLUDED.districts, lang = EXCLUDED.lang",
            (name, role, hash_password(password), district, lang))
        conn.execute("INSERT INTO desk_audit (actor, action, note, detail) VALUES ('cli', 'user_add', %s, %s)",
                     (name, json.dumps({"role": role, "districts": district})))
    scope = ", ".join(district) if district else "the province"
    typer.echo(f"user {name}: {role}, {scope}", err=True)


@token_app.command("create")
@shared("db")
def token_create(shared: Shared, name: str = typer.Argument(..., help="The user the token acts as.")) -> None:
    """Create an API token for a user; it is printed once, and only its hash is kept."""
    from dashboards.desk.security import new_token, token_hash
    from ingest.db import connect

    _check_user_name(name)  # no such user can exist: said before the database is asked
    token = new_token()
    with connect(shared.db) as conn:
        if conn.execute("SELECT 1 FROM desk_users WHERE name = %s", (name,)).fetchone() is None:
            raise UnknownUser(f"no desk user {name!r}; add it first with `ioc desk user add`")
        conn.execute("INSERT INTO desk_api_tokens (token_hash, user_name) VALUES (%s, %s)", (token_hash(token), name))
        conn.execute("INSERT INTO desk_audit (actor, action, note) VALUES ('cli', 'token_create', %s)", (name,))
    typer.echo(token)


def parse_since(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if not match:
        raise InvalidInput(f"--since takes a number and a unit (s, m, h, d, w), e.g. 1d or 30m; got {text!r}")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match[2]]
    return timedelta(seconds=int(match[1]) * seconds)


@app.command("audit")
@shared("db")
def audit(
    shared: Shared,
    since: str = typer.Option("1d", help="How far back: 30m, 12h, 1d, 2w."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of a table."),
) -> None:
    """Every action on the desk since then: when, who, from where, what, on which alert, and the note."""
    from rich.console import Console
    from rich.table import Table

    from ingest.db import connect

    window = parse_since(since)
    with connect(shared.db) as conn:
        rows = conn.execute("SELECT at, actor, address, action, alert_id, camera_id, note, detail FROM desk_audit "
                            "WHERE at > now() - %s ORDER BY at, id", (window,)).fetchall()
    if as_json:
        for at, actor, address, action, alert_id, camera_id, note, detail in rows:
            typer.echo(json.dumps({"at": at.isoformat(), "actor": actor, "address": address, "action": action,
                                   "alert_id": alert_id, "camera_id": camera_id, "note": note, "detail": detail},
                                  ensure_ascii=False))
        return
    table = Table("at (UTC)", "actor", "address", "action", "alert", "camera", "note")
    for at, actor, address, action, alert_id, camera_id, note, _ in rows:
        table.add_row(at.strftime("%Y-%m-%d %H:%M:%S"), actor, address or "", action, alert_id or "", camera_id or "", note)
    Console().print(table)
