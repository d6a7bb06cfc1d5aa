"""The desk on the real stack for tests: the web app in a thread on a free port, the sink in a
thread, desk users made with the desk's own command line."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from typer.testing import CliRunner

from dashboards.desk.server import free_port  # noqa: F401 - re-exported for tests
from ingest.bus import BusSettings
from ingest.db import DbSettings


@contextmanager
def desk_server(db: DbSettings, bus: BusSettings, **overrides) -> Iterator[str]:
    """The desk app served in a thread; yields its base URL."""
    from dashboards.desk.server import desk_in_thread
    from dashboards.desk.settings import DeskSettings

    with desk_in_thread(DeskSettings(db=db, bus=bus, **overrides)) as url:
        yield url


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
    args = ["user", "add", name, "--role", role, "--password-stdin", "--lang", lang, "--dsn", db.conninfo]
    for district in districts:
        args += ["--district", district]
    result = CliRunner().invoke(app, args, input=password + "\n")
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["token", "create", name, "--dsn", db.conninfo])
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
