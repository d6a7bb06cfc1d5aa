"""The agent's Prometheus metrics, on a registry of its own, served at /metrics.

Per camera: frames analysed, events published by type, and the analysis rate (fps, measured
over the last few seconds). Per agent process: the spool's backlog in bytes (events waiting for
the broker) and what happened to published events (sent, spooled, replayed, refused, rejected).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

#: how long the fps gauge averages over
FPS_WINDOW_S = 2.0


@dataclass
class AgentMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.frames = Counter("ioc_agent_frames", "Frames analysed", ["camera"], registry=r)
        self.events = Counter("ioc_agent_events", "Events published, by type", ["camera", "type"], registry=r)
        self.fps = Gauge("ioc_agent_fps", "Frames analysed per second over the last seconds", ["camera"], registry=r)
        self.spool_bytes = Gauge("ioc_agent_spool_bytes", "Bytes of events waiting in the spool for the broker", ["spool"], registry=r)

    def camera(self, camera_id: str) -> CameraMeter:
        return CameraMeter(self, camera_id)

    def watch_spool(self, name: str, pending_bytes: Callable[[], int]) -> None:
        """Read the spool's backlog at each scrape."""
        self.spool_bytes.labels(name).set_function(pending_bytes)

    def watch_publishing(self, stats: object) -> None:
        """Count published events from the Kafka sink's stats (sent, spooled, replayed, refused, rejected)."""
        self.registry.register(_PublishCollector(stats))


class CameraMeter:
    """One camera's counters, looked up once (the analysis loop calls these per frame)."""

    def __init__(self, metrics: AgentMetrics, camera_id: str) -> None:
        self._metrics, self._camera = metrics, camera_id
        self._frames = metrics.frames.labels(camera_id)
        self._fps = metrics.fps.labels(camera_id)
        self._events: dict[str, Counter] = {}
        self._window_start, self._window_frames = time.monotonic(), 0

    def frame(self) -> None:
        self._frames.inc()
        self._window_frames += 1
        now = time.monotonic()
        if now - self._window_start >= FPS_WINDOW_S:
            self._fps.set(self._window_frames / (now - self._window_start))
            self._window_start, self._window_frames = now, 0

    def event(self, kind: str) -> None:
        child = self._events.get(kind)
        if child is None:
            child = self._events[kind] = self._metrics.events.labels(self._camera, kind)
        child.inc()

    def stopped(self) -> None:
        self._fps.set(0)


class _PublishCollector(Collector):
    def __init__(self, stats: object) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("ioc_agent_published", "Events handed to the Kafka sink, by outcome", labels=["outcome"])
        for outcome in ("sent", "spooled", "replayed", "refused", "rejected"):
            family.add_metric([outcome], getattr(self._stats, outcome))
        yield family
