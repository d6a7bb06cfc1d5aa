"""The faust app: one worker process runs the counting agent and the alerting agent.

Everything interesting is in pure modules (windowing, rules, baseline); this file wires them to
faust: topics, agents, a timer, the consumer class and the worker settings this broker needs.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from processors.consumer import FastDrainTransport
from processors.counting import HOLDER as COUNTING
from processors.counting import WindowCounter
from processors.horizon import HorizonStore
from processors.settings import ProcessorSettings

log = logging.getLogger(__name__)


class ProcessorsApp(faust.App):
    """A faust App whose consumer is ``FastDrainConsumer`` (see processors.consumer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: topic -> components that decide its committed offsets (see FastDrainConsumer)
        self.commit_holders: dict[str, set[str]] = {}

    def hold(self, holder: str, topics: Any) -> None:
        for topic in topics:
            self.commit_holders.setdefault(topic, set()).add(holder)

    def _new_transport(self) -> Any:
        return FastDrainTransport(self.conf.broker_consumer, self)


def build_app(settings: ProcessorSettings, *, with_alerts: bool = True) -> ProcessorsApp:
    web: dict[str, Any] = {"web_enabled": False}
    if settings.web_port is not None:
        web = {"web_enabled": True, "web_bind": "127.0.0.1", "web_port": settings.web_port}
    app = ProcessorsApp(
        settings.app_id,
        broker=f"kafka://{settings.bus.bootstrap}",
        datadir=str(settings.faust_datadir),
        store="memory://",
        # Tansu holds a join for half the session timeout: keep it short.
        broker_session_timeout=settings.bus.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.bus.heartbeat_interval_ms / 1000,
        broker_commit_interval=1.0,
        # Never 'latest': Tansu's end offsets are wrong.
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,
        topic_allow_declare=False,
        producer_acks=-1,
        producer_linger=0.005,
        stream_buffer_maxsize=16384,
        consumer_max_fetch_size=8 * 1024 * 1024,
        autodiscover=False,
        **web,
    )
    topics = settings.bus.topics
    horizons = HorizonStore(directory=settings.state_dir / settings.app_id, idle_s=settings.window.idle_s)
    counter = WindowCounter(app=app, settings=settings, horizons=horizons)
    app.counter = counter  # type: ignore[attr-defined]

    @app.on_before_shutdown.connect
    async def stop_horizons(sender: Any, **kwargs: Any) -> None:
        await horizons.stop()

    # Counting input is delivered in bulk by FastDrainConsumer (no faust stream): declare the
    # topics to faust for subscription only. acks=False and hold(): the counter decides what is
    # committed (FastDrainConsumer.set_commit_point).
    counted = (topics.crossings, topics.zones, topics.frames)
    app.hold(COUNTING, counted)
    app.topics.add(app.topic(*counted, key_type=bytes, value_type=bytes, key_serializer="raw",
                             value_serializer="raw", acks=False))
    router = None
    if with_alerts:
        from processors.alerting import wire_alerting

        router = wire_alerting(app, settings)
    app.router = router  # type: ignore[attr-defined]

    async def deliver_bulk(batches: dict[Any, list[Any]], generation: int) -> None:
        await counter.process(batches, generation)
        if router is not None:
            zones = {tp: records for tp, records in batches.items() if tp.topic == topics.zones}
            if zones:
                await router.process(zones, generation)

    @app.on_partitions_revoked.connect
    async def drop_revoked_windows(sender: Any, revoked: Any, **kwargs: Any) -> None:
        counter.forget(revoked)

    metrics = None
    if settings.metrics_port is not None:
        from processors.metrics import ProcessorsMetrics

        metrics = ProcessorsMetrics(counter=counter, router=router)
    app.metrics = metrics  # type: ignore[attr-defined]

    app.bulk_topics = frozenset(counted)  # type: ignore[attr-defined]
    app.bulk_handler = deliver_bulk  # type: ignore[attr-defined]

    last_progress: dict[str, object] = {}

    @app.timer(interval=2.0)
    async def report_progress() -> None:
        if metrics is not None:
            metrics.update_lag(app.consumer)
        stats = counter.stats()
        if stats != last_progress:
            last_progress.update(stats)
            # One parseable line; the benchmark reads throughput from it.
            log.info("counting progress: %s", " ".join(f"{k}={v}" for k, v in stats.items()))

    return app


def run_worker(settings: ProcessorSettings, *, timeout_s: float | None = None, loglevel: str = "info",
               with_alerts: bool = True) -> None:
    """Run one faust worker until stopped (SIGTERM/SIGINT) or until ``timeout_s`` passes."""
    import asyncio
    import os
    import signal

    settings.faust_datadir.mkdir(parents=True, exist_ok=True)
    app = build_app(settings, with_alerts=with_alerts)
    if timeout_s is not None:
        @app.task
        async def stop_after_timeout() -> None:
            await asyncio.sleep(timeout_s)
            log.info("stopping after %.0f s (timeout)", timeout_s)
            # The same path as an operator's SIGTERM: the worker shuts down in order.
            os.kill(os.getpid(), signal.SIGTERM)

    server = None
    if app.metrics is not None:  # type: ignore[attr-defined]
        from ingest.metrics import serve_metrics

        server = serve_metrics(app.metrics.registry, settings.metrics_host, settings.metrics_port)  # type: ignore[attr-defined]
    # Logging is configured by the command (--log-level, --log-format): faust must not redo it.
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    try:
        worker.execute_from_commandline()
    finally:
        if server is not None:
            server.shutdown()
