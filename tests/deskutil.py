"""The desk on the real stack for tests and the benchmark: the web app in a thread on a free port,
the sink in a thread, desk users made with the desk's own command line."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from typer.testing import CliRunner

from ingest.bus import BusSettings
from ingest.db import DbSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def desk_server(db: DbSettings, bus: BusSettings, **overrides) -> Iterator[str]:
    """The desk app served by uvicorn in a thread; yields its base URL."""
    import uvicorn

    from dashboards.desk.app import create_app
    from dashboards.desk.settings import DeskSettings

    port = free_port()
    app = create_app(DeskSettings(db=db, bus=bus, **overrides))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1, lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"desk-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the desk did not start")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    _wait_listening(url)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _wait_listening(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/healthz").json().get("live"):
            return
        time.sleep(0.05)
    raise RuntimeError("the desk never started listening for changes")


@contextmanager
def sink_thread(db: DbSettings, bus: BusSettings) -> Iterator[None]:
    """The sink consuming this bus into this database until the block ends."""
    from ingest.sink import Sink, SinkSettings

    sink = Sink(SinkSettings(bus=bus, db=db, group_id=f"sink-{bus.namespace}", poll_timeout_ms=100))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            sink.run(timeout=600)
        except BaseException as exc:  # noqa: BLE001 - reported by the test that owns the sink
            errors.append(exc)

    thread = threading.Thread(target=run, name="sink", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sink.stop()
        thread.join(timeout=30)
    if errors:
        raise errors[0]


@dataclass(frozen=True)
class DeskUser:
    name: str
    password: str
    role: str
    token: str


def add_user(db: DbSettings, name: str, role: str, *districts: str, lang: str = "vi") -> DeskUser:
    """A desk user and an API token, through `ioc desk user add` and `ioc desk token create`."""
    from dashboards.desk.cli import app

    password = f"pw-{name}-Vung-Tau-2026"
    args = ["user", "add", name, "--role", role, "--password-stdin", "--lang", lang, "--dsn", db.dsn]
    for district in districts:
        args += ["--district", district]
    result = CliRunner().invoke(app, args, input=password + "\n")
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["token", "create", name, "--dsn", db.dsn])
    assert result.exit_code == 0, result.output
    return DeskUser(name=name, password=password, role=role, token=result.stdout.strip().splitlines()[-1])


def wait_for(condition, what: str, timeout: float = 30.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
