"""The processors' Prometheus metrics, on a registry of its own, served at /metrics.

Read at scrape time from the counting and alerting components' own counters (so nothing on the
hot path changes): events in, windows closed, windows that arrived late, open windows, alerts
published, records dead-lettered; and consumer lag per partition, which the worker refreshes
every few seconds from the consumer's high watermarks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class ProcessorsMetrics(Collector):
    def __init__(self, *, counter: Any, router: Any | None) -> None:
        self.registry = CollectorRegistry()
        self._counter, self._router = counter, router
        #: (topic, partition) -> records behind the high watermark
        self.lag: dict[tuple[str, int], int] = {}
        self.registry.register(self)

    def collect(self) -> Iterator[Metric]:
        stats = self._counter.stats()
        router_dead = getattr(self._router, "dead_lettered", 0) if self._router is not None else 0
        for name, help_text, value in (
            ("ioc_processors_events_in", "Events read by the counting stage (frames, crossings, zones)", stats["events"]),
            ("ioc_processors_windows_closed", "Count and occupancy windows closed and published", stats["windows_emitted"]),
            ("ioc_processors_late_events", "Events that arrived after their window had closed", stats["late"]),
            ("ioc_processors_alerts", "Alert events published", self._router.alerts_sent if self._router is not None else 0),
            ("ioc_processors_dead_lettered", "Records sent to the dead-letter topic", stats["dead_lettered"] + router_dead),
        ):
            yield CounterMetricFamily(name, help_text, value=value)
        yield GaugeMetricFamily("ioc_processors_open_windows", "Windows open, waiting for their end", value=stats["open_windows"])
        lag = GaugeMetricFamily("ioc_processors_lag", "Records behind the partition's high watermark", labels=["topic", "partition"])
        for (topic, partition), behind in sorted(self.lag.items()):
            lag.add_metric([topic, str(partition)], behind)
        yield lag

    def update_lag(self, consumer: Any) -> None:
        """Refresh the lag of every assigned partition (call from the worker's event loop)."""
        lag: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            try:
                high = consumer.highwater(tp)
            except Exception:  # not fetched yet, or the partition is being revoked
                continue
            read = consumer._read_offset.get(tp)
            if high is not None and read is not None:
                lag[(tp.topic, tp.partition)] = max(0, high - read - 1)
        self.lag = lag
