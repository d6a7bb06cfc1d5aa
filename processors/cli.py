"""`ioc processors ...`: run the stream processors (counting and alerting)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import typer

from ingest.options import Shared, configure_logging, deprecated, deprecated_option, setting_option, shared
from processors.settings import ProcessorSettings

app = typer.Typer(help="Stream processors: exact 1-minute counts and alerts.", no_args_is_help=True)


@app.command()
@shared("bus", "state", "workers")
def run(
    shared: Shared,
    rules: Optional[Path] = setting_option(ProcessorSettings, "rules_path"),
    grace: Optional[float] = setting_option(ProcessorSettings, "grace_s"),
    idle: Optional[float] = setting_option(ProcessorSettings, "idle_s"),
    app_id: Optional[str] = setting_option(ProcessorSettings, "app_id"),
    web_port: Optional[int] = setting_option(ProcessorSettings, "web_port"),
    metrics_port: Optional[int] = setting_option(ProcessorSettings, "metrics_port"),
    metrics_host: Optional[str] = setting_option(ProcessorSettings, "metrics_host"),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0.1, help="Stop after this many seconds."),
    old_loglevel: Optional[str] = deprecated_option("--loglevel", "--log-level"),
) -> None:
    """Run the processors: with --workers N, N worker processes share the partitions as one group.

    State (alert baselines, open alerts, counting horizons, faust's data dir) lives in
    STATE_DIR/processors."""
    from ingest.bus import ensure_topics
    from processors.config import load_rules

    if deprecated("--loglevel", "--log-level", old_loglevel):
        configure_logging(old_loglevel.upper(), shared.log_format)
    settings = ProcessorSettings.load(bus=shared.bus, state_dir=shared.state_dir / "processors", rules_path=rules,
                                      grace_s=grace, idle_s=idle, app_id=app_id, web_port=web_port,
                                      metrics_port=metrics_port, metrics_host=metrics_host)
    if settings.web_port is not None and shared.workers > 1:
        from ingest.errors import InvalidInput

        raise InvalidInput("--web-port needs --workers 1 (each worker would bind the same port)")
    load_rules(settings.rules_path)  # fail fast, with the key path, before any worker starts
    # The broker asked once before any worker starts (the contract's topics made if missing): one
    # that does not answer is one line and status 3, not a faust worker's traceback.
    ensure_topics(settings.bus)
    level = old_loglevel.upper() if old_loglevel else shared.log_level
    worker = functools.partial(run_one, timeout_s=timeout, log_level=level, log_format=shared.log_format)
    if shared.workers == 1:
        worker(settings)
        return
    from ingest.workers import run_workers, worker_port

    # Worker i serves /metrics on PORT+i: each keeps its own counters, and Prometheus sums them.
    run_workers(worker, [settings.model_copy(update={"metrics_port": worker_port(settings.metrics_port, i)})
                         for i in range(shared.workers)])


def run_one(settings: ProcessorSettings, *, timeout_s: float | None, log_level: str, log_format: str) -> None:
    """One worker process: logging as the command was asked, then the faust worker."""
    from processors.app import run_worker

    configure_logging(log_level, log_format)
    run_worker(settings, timeout_s=timeout_s, loglevel=log_level.lower())


@app.command("check-rules")
@shared()
def check_rules(path: Path = typer.Argument(..., help="Rules YAML to validate."),
                camera: Optional[str] = typer.Option(None, "--camera", help="Also print this camera's merged settings (camera id).")) -> None:
    """Validate a rules file (each unknown key, bad value or key given twice named by its line and key path)."""
    from processors.config import load_rules

    rules = load_rules(path)
    typer.echo(f"{path}: ok ({len(rules.cameras)} camera override(s))")
    if camera:
        typer.echo(rules.for_camera(camera).model_dump_json(indent=2))
