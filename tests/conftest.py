"""Shared fixtures: the real local stack (Tansu broker + TimescaleDB), isolated per test run.

Services are started, never mocked. If they cannot start, tests fail (they never skip): a missing
service must not look like a green run. Each test session gets its own topic namespace and its
own database, so concurrent runs on one stack do not see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from deploy.local.stack import StackInfo, StackSettings, stack_up
from ingest.bus import BusSettings, ensure_topics
from ingest.db import DbSettings, migrate


@pytest.fixture(scope="session")
def stack() -> StackInfo:
    try:
        return stack_up(StackSettings.from_env())
    except Exception as exc:  # any failure to start is a test failure, with the reason
        pytest.fail(f"the local stack (broker + TimescaleDB) could not start: {exc}", pytrace=False)


def _new_bus(stack: StackInfo) -> BusSettings:
    settings = BusSettings(bootstrap=stack.bootstrap, namespace=f"t{uuid.uuid4().hex[:10]}")
    ensure_topics(settings)
    return settings


@pytest.fixture
def bus(stack: StackInfo) -> BusSettings:
    """Bus settings with a namespace (so topics) of this test's own, topics created."""
    return _new_bus(stack)


def _with_database(stack: StackInfo, dsn_to_db) -> Iterator[DbSettings]:
    name = f"ioc_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(stack.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    settings = DbSettings(dsn=dsn_to_db(stack.dsn, name))
    try:
        migrate(settings)
        yield settings
    finally:
        with psycopg.connect(stack.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _dsn_for(dsn: str, database: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, dbname=database)


@pytest.fixture
def db(stack: StackInfo) -> Iterator[DbSettings]:
    """A fresh, migrated database of this test's own, dropped afterwards."""
    yield from _with_database(stack, _dsn_for)


@pytest.fixture(scope="module")
def module_db(stack: StackInfo) -> Iterator[DbSettings]:
    """A fresh, migrated database shared by the tests of one module."""
    yield from _with_database(stack, _dsn_for)
