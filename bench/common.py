"""What every benchmark needs: the local stack, a database of its own, a topic namespace of its own."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg

from deploy.local.stack import StackInfo, StackSettings, stack_up
from ingest.bus import BusSettings, ensure_topics
from ingest.db import DbSettings, migrate


def local_stack() -> StackInfo:
    return stack_up(StackSettings.from_env())


def fresh_bus(stack: StackInfo, **overrides) -> BusSettings:
    settings = BusSettings(bootstrap=stack.bootstrap, namespace=f"bench{uuid.uuid4().hex[:8]}", **overrides)
    ensure_topics(settings)
    return settings


@contextlib.contextmanager
def scratch_database(stack: StackInfo, *, prefix: str = "ioc_bench") -> Iterator[DbSettings]:
    """A migrated database that is dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    settings = DbSettings(dsn=psycopg.conninfo.make_conninfo(stack.dsn, dbname=name))
    try:
        migrate(settings)
        yield settings
    finally:
        with psycopg.connect(stack.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def figure(metric: str, value: float, unit: str, target: str = "") -> None:
    """One printed figure, in the format every benchmark uses."""
    suffix = f" (target {target})" if target else ""
    print(f"{metric}: {value:,.2f} {unit}{suffix}", flush=True)
