"""Shared fixtures: the real local stack (Tansu broker + TimescaleDB), isolated per test run.

Services are started, never mocked. If they cannot start, tests fail (they never skip): a missing
service must not look like a green run. Each test gets its own topic namespace and its own
database, so tests and concurrent runs on one stack never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

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
