"""Shared fixtures: the real local stack (Tansu broker + TimescaleDB), isolated per test run.

Services are started, never mocked. If they cannot start, tests fail (they never skip): a missing
service must not look like a green run. Each test gets its own topic namespace and its own
database, so tests and concurrent runs on one stack never see each other's data.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.stack import StackInfo, StackSettings, stack_up
from ingest.bus import BusSettings, delete_namespace, ensure_topics
from ingest.db import DbSettings, temporary_database


@pytest.fixture(scope="session")
def stack() -> StackInfo:
    try:
        return stack_up(StackSettings.load())
    except Exception as exc:  # any failure to start is a test failure, with the reason
        pytest.fail(f"the local stack (broker + TimescaleDB) could not start: {exc}", pytrace=False)


@pytest.fixture
def bus(stack: StackInfo) -> Iterator[BusSettings]:
    """Bus settings with a namespace (so topics) of this test's own, topics created, and deleted
    afterwards so that a long suite does not slow the one broker down."""
    settings = BusSettings(bootstrap=stack.bootstrap, namespace=f"t{uuid.uuid4().hex[:10]}")
    ensure_topics(settings)
    yield settings
    delete_namespace(settings)


@pytest.fixture
def db(stack: StackInfo) -> Iterator[DbSettings]:
    """A fresh, migrated database of this test's own, dropped afterwards."""
    with temporary_database(DbSettings(dsn=stack.dsn), prefix="ioc_test") as settings:
        yield settings


@pytest.fixture(scope="module")
def module_db(stack: StackInfo) -> Iterator[DbSettings]:
    """A fresh, migrated database shared by the tests of one module."""
    with temporary_database(DbSettings(dsn=stack.dsn), prefix="ioc_test") as settings:
        yield settings


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_broker() -> Iterator[StackSettings]:
    """A Tansu broker of this test's own (memory storage, like the local stack's), for tests that
    stop and start it; always stopped afterwards."""
    from deploy.local.stack import broker_down, broker_up

    state = Path(tempfile.mkdtemp(prefix="ioc-broker-"))
    settings = StackSettings(state_dir=state, broker_port=free_port(), pg_port=free_port())
    try:
        broker_up(settings)
        yield settings
    finally:
        broker_down(settings)
        shutil.rmtree(state, ignore_errors=True)
