"""What every benchmark needs: the local stack, a database of its own, a topic namespace of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from deploy.local.stack import StackInfo, StackSettings, stack_up
from ingest.bus import BusSettings, delete_namespace, ensure_topics
from ingest.db import DbSettings, temporary_database


@contextmanager
def one_core() -> Iterator[None]:
    """This process on one core with one OpenCV thread, as the agent's speed bar counts it; both
    given back after."""
    import os

    import cv2

    cpus, threads = os.sched_getaffinity(0), cv2.getNumThreads()
    os.sched_setaffinity(0, {min(cpus)})
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)
        cv2.setNumThreads(threads)


def local_stack() -> StackInfo:
    return stack_up(StackSettings.load())


@contextmanager
def fresh_bus(stack: StackInfo, **overrides) -> Iterator[BusSettings]:
    """A topic namespace of the benchmark's own, its topics deleted afterwards: the in-memory local
    broker answers more slowly with every topic it keeps (a context manager)."""
    settings = BusSettings(bootstrap=stack.bootstrap, namespace=f"bench{uuid.uuid4().hex[:8]}", **overrides)
    ensure_topics(settings)
    try:
        yield settings
    finally:
        delete_namespace(settings)


def scratch_database(stack: StackInfo, *, prefix: str = "ioc_bench"):
    """A migrated database of the benchmark's own, dropped afterwards (a context manager)."""
    return temporary_database(DbSettings(dsn=stack.dsn), prefix=prefix)


def figure(metric: str, value: float, unit: str, target: str = "") -> None:
    """One printed figure, in the format every benchmark uses (and `--json` reads), beside its target."""
    suffix = f" (target {target})" if target else ""
    print(f"{metric}: {shown(value)} {unit}{suffix}", flush=True)


def shown(value: float) -> str:
    """A figure as printed: under 10 to three decimals, so that a ratio of 0.446 or an accuracy of
    0.948 is not rounded up to its target (0.45, 0.95); larger ones to two, with thousands marked."""
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.2f}"
