"""`ioc processors ...`: run the stream processors (counting and alerting)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Stream processors: exact 1-minute counts and alerts.", no_args_is_help=True)


@app.command()
def run(
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Worker processes; they share the partitions as one consumer group."),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Per-camera thresholds (YAML). Default: $IOC_PROCESSORS_RULES or built-in defaults."),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help="Where alert baselines and open alerts are snapshotted."),
    namespace: Optional[str] = typer.Option(None, "--namespace", help="Topic namespace (default $IOC_NAMESPACE or 'ioc')."),
    bootstrap: Optional[str] = typer.Option(None, "--bootstrap", help="Kafka bootstrap (default $IOC_BOOTSTRAP or 127.0.0.1:19092)."),
    grace: Optional[float] = typer.Option(None, "--grace", help="Seconds a window waits for late events after it ends (default 10; by the camera's own clock)."),
    idle: Optional[float] = typer.Option(None, "--idle", help="Seconds the partition's stream time may run ahead of a silent or lagging camera before that camera's windows close anyway (default 300)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Stop after this many seconds (for tests and trials)."),
    app_id: Optional[str] = typer.Option(None, "--app-id", help="Consumer group / faust app id (default '<namespace>-processors')."),
    web_port: Optional[int] = typer.Option(None, "--web-port", help="Serve faust's web UI on 127.0.0.1:PORT (off by default)."),
    loglevel: str = typer.Option("info", "--loglevel"),
    metrics_port: Optional[int] = typer.Option(None, "--metrics-port", min=1, max=65535, help="Serve Prometheus /metrics on this port; with --workers N, worker i serves PORT+i (off by default)."),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host", help="Address of the /metrics endpoints (0.0.0.0 in a container)."),
) -> None:
    """Run the processors: `--workers N` starts N worker processes that share the partitions."""
    from ingest.bus import BusSettings
    from processors.config import ConfigError, load_rules
    from processors.settings import ProcessorSettings
    bus_overrides = {k: v for k, v in {"namespace": namespace, "bootstrap": bootstrap}.items() if v}
    settings = ProcessorSettings.from_env(
        bus=BusSettings.from_env(**bus_overrides),
        rules_path=rules,
        state_dir=state_dir,
        web_port=web_port,
        app_id=app_id,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )
    window_overrides = {k: v for k, v in {"grace_s": grace, "idle_s": idle}.items() if v is not None}
    if window_overrides:
        try:
            settings = dataclasses.replace(settings, window=dataclasses.replace(settings.window, **window_overrides))
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2)
    try:
        load_rules(settings.rules_path)  # fail fast, with the key path, before any worker starts
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if workers == 1:
        from processors.app import run_worker

        run_worker(settings, timeout_s=timeout, loglevel=loglevel)
        return
    child_args = ["run", "--loglevel", loglevel, "--metrics-host", metrics_host]
    for flag, value in (("--rules", rules), ("--state-dir", state_dir), ("--namespace", namespace),
                        ("--bootstrap", bootstrap), ("--grace", grace), ("--idle", idle), ("--timeout", timeout),
                        ("--app-id", app_id)):
        if value is not None:
            child_args += [flag, str(value)]
    if web_port is not None:
        typer.echo("error: --web-port needs --workers 1 (each worker would bind the same port)", err=True)
        raise typer.Exit(2)
    argv = [sys.executable, "-m", "processors", *child_args]
    # One /metrics port per worker (PORT, PORT+1, ...): each worker keeps its own registry, and
    # Prometheus scrapes every worker and sums them.
    argvs = [argv + (["--metrics-port", str(metrics_port + i)] if metrics_port else []) for i in range(workers)]
    _supervise(argvs, timeout)


def _supervise(argvs: list[list[str]], timeout: Optional[float]) -> None:
    """Start one worker per argv; they join one consumer group. Signals are forwarded."""
    workers = len(argvs)
    children = [subprocess.Popen(argv, env=os.environ.copy()) for argv in argvs]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    deadline = None if timeout is None else time.monotonic() + timeout + 30
    codes = []
    for child in children:
        remaining = None if deadline is None else max(1.0, deadline - time.monotonic())
        try:
            codes.append(child.wait(timeout=remaining))
        except subprocess.TimeoutExpired:
            child.kill()
            codes.append(child.wait())
    failed = [code for code in codes if code != 0]
    if failed:
        typer.echo(f"error: {len(failed)} of {workers} workers exited with an error ({failed})", err=True)
        raise typer.Exit(1)


@app.command("check-rules")
def check_rules(path: Path = typer.Argument(..., help="Rules YAML to validate."),
                camera: Optional[str] = typer.Option(None, "--camera", help="Also print this camera's merged settings.")) -> None:
    """Validate a rules file (unknown keys and bad values are named by their key path)."""
    from processors.config import ConfigError, load_rules

    try:
        rules = load_rules(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{path}: ok ({len(rules.cameras)} camera override(s))")
    if camera:
        typer.echo(rules.for_camera(camera).model_dump_json(indent=2))
