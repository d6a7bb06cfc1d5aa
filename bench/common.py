"""What every benchmark needs: the local stack, a database of its own, a topic namespace of its own."""

from __future__ import annotations

import contextvars
import uuid

from deploy.local.stack import StackInfo, StackSettings, stack_up
from ingest.bus import BusSettings, ensure_topics
from ingest.db import DbSettings, temporary_database


def local_stack() -> StackInfo:
    return stack_up(StackSettings.load())


def fresh_bus(stack: StackInfo, **overrides) -> BusSettings:
    settings = BusSettings(bootstrap=stack.bootstrap, namespace=f"bench{uuid.uuid4().hex[:8]}", **overrides)
    ensure_topics(settings)
    return settings


def scratch_database(stack: StackInfo, *, prefix: str = "ioc_bench"):
    """A migrated database of the benchmark's own, dropped afterwards (a context manager)."""
    return temporary_database(DbSettings(dsn=stack.dsn), prefix=prefix)


#: the figures of the benchmark run now, for `--json PATH` (set by bench.__main__)
RECORDED: contextvars.ContextVar[list[dict] | None] = contextvars.ContextVar("recorded", default=None)


def figure(metric: str, value: float, unit: str, target: str = "", *, met: bool | None = None) -> None:
    """One printed figure, in the format every benchmark uses, beside its target; ``met`` says
    whether the target holds, where the benchmark can tell."""
    suffix = f" (target {target})" if target else ""
    verdict = "" if met is None else ("  ok" if met else "  MISSED")
    print(f"{metric}: {value:,.2f} {unit}{suffix}{verdict}", flush=True)
    recorded = RECORDED.get()
    if recorded is not None:
        recorded.append({"metric": metric, "value": value, "unit": unit, "target": target, "met": met})
