"""The sink's counters, on a registry of its own (no process-global state) served at /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ingest.errors import InvalidInput


def serve_metrics(registry: CollectorRegistry, host: str, port: int):
    """Serve ``registry`` at /metrics on ``host``:``port``; returns the server, for the caller to
    shut down. An address that cannot be had (a port another program holds) is bad input, said
    alike by every stage."""
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise InvalidInput(f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}") from None
    return server


@dataclass
class SinkMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter("ioc_sink_consumed", "Records read from the bus", ["topic"], registry=r)
        self.written = Counter("ioc_sink_written_rows", "Rows that reached TimescaleDB (replays excluded)", registry=r)
        self.dead_lettered = Counter("ioc_sink_dead_lettered", "Records sent to the dead-letter topic", ["topic"], registry=r)
        self.db_retries = Counter("ioc_sink_db_retries", "Batch writes retried because the database was unavailable", registry=r)
        self.db_up = Gauge("ioc_sink_db_up", "1 while the last write succeeded, 0 while retrying", registry=r)
        self.lag = Gauge("ioc_sink_lag", "Records behind the partition's high watermark", ["topic", "partition"], registry=r)
        self.batch_seconds = Histogram("ioc_sink_batch_seconds", "Time to write and commit one batch", registry=r)
