"""Notifications reach a signed webhook, an SMTP server and a Telegram bot API on loopback,
once per alert opening, escalation and resolution, in Vietnamese and English, only to the routes
of the camera's district, even when every receiver fails its first attempt and across a restart."""

from __future__ import annotations

import json
import socket
import threading
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from msgspec.structs import replace

from dashboards.notify.channels import sign
from dashboards.notify.config import RoutesError, parse_routes
from dashboards.notify.service import Notifier, NotifierSettings, transition_of
from ingest.bus import BusSettings
from ingest.contract import Alert, CameraInfo, new_event_id
from ingest.db import DbSettings, connect
from ingest.writer import EventWriter
from processors.harness import produce

SECRET = "webhook-secret-ổn-định"
TOKEN = "123456:TEST-token"


class Receivers:
    """A webhook endpoint and a fake Telegram Bot API on one loopback HTTP server, and an SMTP
    server (aiosmtpd); each refuses its first delivery (HTTP 500, SMTP 451)."""

    def __init__(self) -> None:
        self.http: list[tuple[str, dict[str, str], bytes]] = []
        self.mail: list[bytes] = []
        self.refused: dict[str, int] = {"webhook": 0, "telegram": 0, "email": 0}
        self._lock = threading.Lock()
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                kind = "telegram" if self.path.startswith("/bot") else "webhook"
                with receivers._lock:
                    first = receivers.refused[kind] == 0
                    if first:
                        receivers.refused[kind] += 1
                    else:
                        receivers.http.append((self.path, dict(self.headers), body))
                self.send_response(500 if first else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": false}' if first else b'{"ok": true, "result": {}}')

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

        class SmtpHandler:
            async def handle_DATA(self, server, session, envelope) -> str:
                with receivers._lock:
                    if receivers.refused["email"] == 0:
                        receivers.refused["email"] += 1
                        return "451 4.3.0 try again later"
                    receivers.mail.append(envelope.content)
                return "250 OK"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.smtp_port = probe.getsockname()[1]
        self.smtp = Controller(SmtpHandler(), hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

    def webhooks(self) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for path, headers, body in self.http if path == "/hook"]

    def telegrams(self, chat: str) -> list[dict]:
        sent = [json.loads(body) for path, _, body in self.http if path == f"/bot{TOKEN}/sendMessage"]
        return [message for message in sent if message["chat_id"] == chat]

    def close(self) -> None:
        self.server.shutdown()
        self.smtp.stop()


@pytest.fixture
def receivers():
    r = Receivers()
    yield r
    r.close()


def _routes(receivers: Receivers):
    return parse_routes({"routes": [
        {"name": "dispatch", "channel": "webhook", "url": f"{receivers.base}/hook", "secret": SECRET},
        {"name": "duty-mail", "channel": "email", "smtp_host": "127.0.0.1", "smtp_port": receivers.smtp_port,
         "sender": "ioc@vungtau.example", "to": ["truc-ban@vungtau.example"]},
        # Each district's duty group gets its own cameras' alerts only.
        {"name": "con-dao", "channel": "telegram", "api_base": receivers.base, "bot_token": TOKEN, "chat_id": "-100",
         "districts": ["Côn Đảo"]},
        {"name": "ba-ria", "channel": "telegram", "api_base": receivers.base, "bot_token": TOKEN, "chat_id": "-200",
         "districts": ["Bà Rịa"]},
    ]})


def _register_camera(db: DbSettings) -> None:
    with connect(db) as conn:
        EventWriter(conn).write([CameraInfo(camera_id="cd-01", ts=datetime.now(UTC), name="Bến Đầm, Côn Đảo", kind="security")])
        # The registry's district column (cameras carry a district); IF NOT EXISTS: a schema that has it already.
        conn.execute("ALTER TABLE cameras ADD COLUMN IF NOT EXISTS district text")
        conn.execute("UPDATE cameras SET district = 'Côn Đảo' WHERE camera_id = 'cd-01'")
        conn.commit()


def _episode(now: datetime) -> list[Alert]:
    base = Alert(camera_id="cd-01", ts=now, alert_id="a-crowd-1", group_key="cd-01:crowd", rule="crowd", severity="warning",
                 state="open", opened_at=now, title="crowd in pier: 9 people (limit 6)",
                 details={"zone_id": "pier", "count": 9, "limit": 6})
    step = lambda s, **kw: replace(base, event_id=new_event_id(), ts=now + timedelta(seconds=s), **kw)
    old = now - timedelta(hours=3)
    return [
        base,  # opens: every route of the district is told
        step(60, state="update", details={"zone_id": "pier", "count": 10, "limit": 6}),  # same severity: silence
        step(120, state="update", severity="critical", details={"zone_id": "pier", "count": 12, "limit": 6}),  # escalated
        step(180, state="update", severity="critical", details={"zone_id": "pier", "count": 13, "limit": 6}),  # silence
        step(240, state="resolved", severity="critical"),  # resolved: told once
        replace(base, event_id=new_event_id(), alert_id="a-old", ts=old, opened_at=old),  # hours old: nobody is paged
    ]


def _notifier(bus: BusSettings, db: DbSettings, receivers: Receivers, group: str) -> Notifier:
    return Notifier(NotifierSettings(bus=bus, db=db, routes=_routes(receivers), group_id=group,
                                     backoff_initial_s=0.05, backoff_max_s=0.2, desk_url="http://desk.example"))


def test_each_route_is_told_once_per_transition_despite_failures_and_a_restart(bus: BusSettings, db: DbSettings, receivers: Receivers) -> None:
    _register_camera(db)
    alerts = _episode(datetime.now(UTC))
    produce(bus, alerts)
    stats = _notifier(bus, db, receivers, f"{bus.namespace}-notify").run(count=len(alerts), timeout=60)
    assert stats.stale == 1 and stats.failed == 0 and stats.retries == 3, stats

    hooks = receivers.webhooks()
    payloads = [json.loads(body) for _, body in hooks]
    assert [p["transition"] for p in payloads] == ["open", "escalated", "resolved"]
    for headers, body in hooks:
        assert headers["X-IOC-Signature"] == sign(SECRET.encode(), body), "HMAC-SHA256 of the exact body"
    assert len({p["delivery_id"] for p in payloads}) == 3
    first = payloads[0]
    assert first["district"] == "Côn Đảo" and first["camera_name"] == "Bến Đầm, Côn Đảo"
    assert first["title"] == {"vi": "Đám đông tại pier: 9 người (ngưỡng 6)", "en": "Crowd in pier: 9 people (limit 6)"}
    assert first["url"] == "http://desk.example/alerts/a-crowd-1"

    telegrams = receivers.telegrams("-100")
    assert len(telegrams) == 3 and receivers.telegrams("-200") == [], "Bà Rịa's group hears nothing of Côn Đảo"
    assert "Đám đông vượt ngưỡng" in telegrams[0]["text"] and "Crowd over capacity" in telegrams[0]["text"]
    assert "[NÂNG MỨC]" in telegrams[1]["text"] and "[ESCALATED]" in telegrams[1]["text"]

    mails = [message_from_bytes(m, policy=policy.default) for m in receivers.mail]
    assert len(mails) == 3
    assert mails[0]["To"] == "truc-ban@vungtau.example" and "[CẢNH BÁO]" in mails[0]["Subject"]
    body = mails[0].get_content()
    assert "Đám đông tại pier" in body and "Crowd in pier" in body

    # A restart that lost its offsets (a new group reads everything again), and processors that
    # re-emitted the same steps with new event ids: nothing is sent twice.
    produce(bus, [replace(a, event_id=new_event_id()) for a in alerts])
    again = _notifier(bus, db, receivers, f"{bus.namespace}-notify-2").run(count=2 * len(alerts), timeout=60)
    # Openings and ends are found in the ledger (2 copies x 2 x 3 routes); a repeated escalation
    # is no transition at all any more, since the routes were last told "critical".
    assert again.sent == 0 and again.failed == 0 and again.duplicates == 2 * 2 * 3, again
    assert len(receivers.webhooks()) == 3 and len(receivers.telegrams("-100")) == 3 and len(receivers.mail) == 3
    with connect(db) as conn:
        rows = conn.execute("SELECT route, transition, status, attempts FROM notifications_sent ORDER BY route, created_at").fetchall()
    assert rows == [(route, transition, "sent", 2 if transition == "open" else 1)
                    for route in ("con-dao", "dispatch", "duty-mail") for transition in ("open", "escalated", "resolved")]


@pytest.mark.parametrize(
    "state, severity, told, expected",
    [
        ("open", "warning", None, "open"),  # an opening is always news
        ("open", "warning", "critical", "open"),  # a reopened episode too
        ("update", "warning", "warning", None),  # a periodic update is not
        ("update", "critical", "warning", "escalated"),  # severity rose
        ("update", "warning", "critical", None),  # severity fell: not worth a page
        ("update", "critical", None, "escalated"),  # the route skipped the opening (below its minimum)
        ("resolved", "warning", "warning", "resolved"),  # the end of what the route was told
        ("resolved", "warning", None, None),  # the end of what it was never told
    ],
)
def test_which_alert_steps_are_notifications(state: str, severity: str, told: str | None, expected: str | None) -> None:
    now = datetime.now(UTC)
    alert = Alert(camera_id="c", ts=now, alert_id="a", group_key="c:crowd", rule="crowd", severity=severity,  # type: ignore[arg-type]
                  state=state, opened_at=now, title="t")  # type: ignore[arg-type]
    assert transition_of(alert, told) == expected


@pytest.mark.parametrize(
    "route, problem",
    [
        ({"name": "x", "channel": "webhook", "url": "ftp://h/", "secret": "s"}, "url"),  # http(s) only
        ({"name": "x", "channel": "webhook", "url": "http://h/"}, "secret"),  # a webhook must be signed
        ({"name": "x", "channel": "telegram", "chat_id": "1", "bot_token": "env:IOC_TEST_NO_SUCH_VAR"}, "IOC_TEST_NO_SUCH_VAR"),  # unset env secret
        ({"name": "x", "channel": "email", "smtp_host": "h", "sender": "a@b", "to": ["not-an-address"]}, "to"),
        ({"name": "x", "channel": "webhook", "url": "http://h/", "secret": "s", "languages": ["fr"]}, "languages"),
        ({"name": "x", "channel": "pager"}, "channel"),  # unknown channel
        ({"name": "x", "channel": "webhook", "url": "http://h/", "secret": "s", "districts": [" "]}, "district's name cannot be blank"),
    ],
)
def test_bad_routes_are_refused_with_the_key_named(route: dict, problem: str) -> None:
    with pytest.raises(RoutesError, match=problem):
        parse_routes({"routes": [route]})


def test_secrets_never_show_in_the_route_config() -> None:
    routes = parse_routes({"routes": [{"name": "d", "channel": "webhook", "url": "http://h/", "secret": SECRET}]})
    assert SECRET not in repr(routes) and SECRET not in str(routes.model_dump())


@pytest.mark.parametrize(
    "route, rule, severity, district, transition, carried",
    [
        ({}, "crowd", "warning", None, "open", True),  # a provincial route carries everything
        ({}, "crowd", "info", None, "open", False),  # below the default minimum (warning)
        ({"min_severity": "critical"}, "crowd", "warning", None, "escalated", False),
        # told at critical, the alert ended after falling back to warning: the end is still news
        ({"min_severity": "critical"}, "crowd", "warning", None, "resolved", True),
        ({"rules": ["wrong_way"]}, "crowd", "critical", None, "open", False),  # not this route's rule
        ({"districts": ["Côn Đảo"]}, "crowd", "critical", "Côn Đảo", "open", True),
        ({"districts": ["Côn Đảo"]}, "crowd", "critical", "Bà Rịa", "open", False),  # another district
        ({"districts": ["Côn Đảo"]}, "crowd", "critical", None, "open", False),  # unknown district: not a scoped route's
        # the district written decomposed and with a space: the camera's district all the same
        ({"districts": [unicodedata.normalize("NFD", " Côn Đảo")]}, "crowd", "critical", "Côn Đảo", "open", True),
        ({"states": ["open"]}, "crowd", "critical", None, "resolved", False),  # a route that wants openings only
    ],
)
def test_which_alerts_a_route_carries(route: dict, rule: str, severity: str, district: str | None, transition: str, carried: bool) -> None:
    config = parse_routes({"routes": [{"name": "r", "channel": "webhook", "url": "http://h/", "secret": "s", **route}]})
    assert config.routes[0].carries(rule=rule, severity=severity, district=district, transition=transition) is carried


def test_while_the_database_is_away_alerts_wait_and_none_is_lost(bus: BusSettings, stack, receivers: Receivers) -> None:
    """The ledger's database does not exist yet when alerts arrive; it appears a little later."""
    import uuid

    import psycopg

    from ingest.db import migrate

    name = f"ioc_test_late_{uuid.uuid4().hex[:8]}"
    admin = DbSettings(dsn=stack.dsn)
    late = DbSettings(dsn=psycopg.conninfo.make_conninfo(stack.dsn, dbname=name), connect_timeout_s=2)

    def appear() -> None:  # migrated under another name, then renamed: it appears whole
        time.sleep(3)
        with connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}_new"')
        migrate(DbSettings(dsn=psycopg.conninfo.make_conninfo(stack.dsn, dbname=f"{name}_new")))
        with connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}_new" RENAME TO "{name}"')

    alerts = _episode(datetime.now(UTC))[:1]
    produce(bus, alerts)
    creator = threading.Thread(target=appear)
    creator.start()
    try:
        stats = _notifier(bus, late, receivers, f"{bus.namespace}-notify").run(count=1, timeout=60)
    finally:
        creator.join()
        with connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP DATABASE IF EXISTS "{name}_new" WITH (FORCE)')
    assert stats.sent == 2 and stats.failed == 0, stats  # webhook and e-mail (the camera's district is unknown)
    assert len(receivers.webhooks()) == 1 and len(receivers.mail) == 1 and receivers.telegrams("-100") == []


def test_a_database_without_the_ledger_stops_the_notifier_with_what_to_do(bus: BusSettings, stack, receivers: Receivers) -> None:
    import uuid

    import psycopg

    from ingest.db import DatabaseError

    name = f"ioc_test_bare_{uuid.uuid4().hex[:8]}"
    admin = DbSettings(dsn=stack.dsn)
    with connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # never migrated
    try:
        bare = DbSettings(dsn=psycopg.conninfo.make_conninfo(stack.dsn, dbname=name))
        with pytest.raises(DatabaseError, match=r'relation "notifications_sent" does not exist; run `ioc db migrate`'):
            _notifier(bus, bare, receivers, f"{bus.namespace}-notify").run(timeout=20)
    finally:
        with connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_ioc_notify_run_sends_from_the_command_line(bus: BusSettings, db: DbSettings, receivers: Receivers, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from dashboards.notify.cli import app

    monkeypatch.setenv("IOC_TEST_WEBHOOK_SECRET", SECRET)
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"routes:\n  - {{name: dispatch, channel: webhook, url: '{receivers.base}/hook', secret: 'env:IOC_TEST_WEBHOOK_SECRET'}}\n",
                      encoding="utf-8")
    produce(bus, _episode(datetime.now(UTC))[:1])
    result = CliRunner().invoke(app, ["run", "--routes", str(routes), "--dsn", db.conninfo, "--bootstrap", bus.bootstrap,
                                      "--namespace", bus.namespace, "--count", "1", "--timeout", "60"])
    assert result.exit_code == 0, result.output
    assert "alerts 1, sent 1, failed 0" in result.output
    ((headers, body),) = receivers.webhooks()
    assert headers["X-IOC-Signature"] == sign(SECRET.encode(), body)
