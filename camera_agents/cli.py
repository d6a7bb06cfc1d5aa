"""``ioc agent``: run camera agents, check camera configs, snapshot and tune a camera.

Heavy imports (OpenCV, Kafka) happen inside the commands so ``ioc --help`` stays fast.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Camera agents: detect, track and count on video; publish events to Kafka.", no_args_is_help=True)

log = logging.getLogger("camera_agents")


def _load_configs(camera: list[Path] | None, cameras: Path | None):
    from camera_agents.config import ConfigError, load_camera, load_cameras

    if not camera and cameras is None:
        raise typer.BadParameter("give --camera FILE (one or more) or --cameras DIR")
    try:
        configs = [load_camera(path) for path in camera or []]
        if cameras is not None:
            configs += load_cameras(cameras)
    except ConfigError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    ids = [c.camera_id for c in configs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        typer.secho(f"camera id(s) given twice: {', '.join(duplicates)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    return configs


def _open_sink(sink: str, *, bootstrap: str | None, namespace: str | None, spool: Path | None, name: str):
    from camera_agents.publish import JsonlSink, KafkaSink, KafkaSinkSettings
    from ingest.bus import BusError, BusSettings, ensure_topics

    if sink.startswith("jsonl:"):
        return JsonlSink(sink.removeprefix("jsonl:"))
    if sink == "kafka":
        overrides = {k: v for k, v in (("bootstrap", bootstrap), ("namespace", namespace)) if v}
        bus = BusSettings.from_env(**overrides)
        try:
            ensure_topics(bus)
        except BusError as exc:  # the agent still runs: events wait in the spool for the broker
            log.warning("could not create topics (%s); events are spooled until the broker is reachable", exc)
        spool_dir = spool or Path(os.environ.get("IOC_SPOOL_DIR", Path.home() / ".cache" / "ioc" / "spool")) / name
        return KafkaSink(KafkaSinkSettings(bus=bus, spool_dir=spool_dir))
    raise typer.BadParameter(f"unknown sink {sink!r}: use jsonl:PATH or kafka", param_hint="--sink")


@app.command()
def run(
    camera: Optional[list[Path]] = typer.Option(None, "--camera", "-c", help="A camera YAML file (repeatable)."),
    cameras: Optional[Path] = typer.Option(None, "--cameras", help="A folder of camera YAML files, one per camera."),
    source: Optional[str] = typer.Option(None, "--source", help="Override the camera's source (file, URL, synthetic:...); one camera only."),
    sink: str = typer.Option("kafka", "--sink", help="kafka, or jsonl:PATH to write events to a file."),
    bootstrap: Optional[str] = typer.Option(None, "--bootstrap", help="Kafka bootstrap servers [env IOC_BOOTSTRAP]."),
    namespace: Optional[str] = typer.Option(None, "--namespace", help="Topic namespace [env IOC_NAMESPACE]."),
    spool: Optional[Path] = typer.Option(None, "--spool", help="Spool folder for events while Kafka is down [env IOC_SPOOL_DIR]."),
    realtime: bool = typer.Option(False, "--realtime", help="Pace files and synthetic scenes at their frame rate."),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help="Stop each camera after this many frames."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0.1, help="Stop after this many seconds."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress display for file runs."),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING, ERROR."),
) -> None:
    """Run one or many camera agents until their sources end (files) or a bound is reached."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    configs = _load_configs(camera, cameras)
    if source is not None:
        if len(configs) != 1:
            raise typer.BadParameter("--source overrides the source of exactly one camera", param_hint="--source")
        configs = [configs[0].model_copy(update={"source": source})]
    from camera_agents.agent import RunSettings, run_cameras
    from camera_agents.publish import PublishError

    name = configs[0].camera_id if len(configs) == 1 else (cameras.name if cameras else "agent")
    try:
        out = _open_sink(sink, bootstrap=bootstrap, namespace=namespace, spool=spool, name=name)
    except PublishError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    settings = RunSettings(realtime=realtime, max_frames=frames, timeout_s=timeout)
    try:
        results = _run_with_progress(configs, out, settings) if progress and sys.stderr.isatty() else run_cameras(configs, out, settings)
    finally:
        out.close()
    failed = False
    for camera_id, result in sorted(results.items()):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items())) or "no crossings"
        status = f"FAILED: {result.error}" if result.error else "ok"
        failed |= result.error is not None
        typer.echo(f"{camera_id}: {result.frames} frames at {result.fps:.0f} fps, {result.events} events ({counts}) {status}")
    stats = getattr(out, "stats", None)
    if stats is not None:
        typer.echo(f"kafka: {stats.sent} sent, {stats.replayed} replayed, {stats.spooled} spooled, {stats.refused} refused, {stats.rejected} rejected")
    if failed:
        raise typer.Exit(1)


def _run_with_progress(configs, out, settings):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from camera_agents.agent import run_cameras

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False) as bar:
        tasks = {c.camera_id: bar.add_task(c.camera_id, total=None) for c in configs}

        def update(camera_id: str, done: int, expected: int | None) -> None:
            bar.update(tasks[camera_id], completed=done, total=expected)

        return run_cameras(configs, out, settings, progress=update)


@app.command()
def check(
    camera: Optional[list[Path]] = typer.Option(None, "--camera", "-c", help="A camera YAML file (repeatable)."),
    cameras: Optional[Path] = typer.Option(None, "--cameras", help="A folder of camera YAML files."),
) -> None:
    """Validate camera configs; print every problem with file, line and key path."""
    configs = _load_configs(camera, cameras)
    for config in configs:
        typer.echo(f"{config.camera_id}: ok ({config.kind}, {len(config.lines)} lines, {len(config.zones)} zones, detector {config.detector.type})")


@app.command()
def snapshot(
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the picture (PNG or JPEG)."),
    camera: Optional[Path] = typer.Option(None, "--camera", "-c", help="A camera YAML file: its lines and zones are drawn."),
    source: Optional[str] = typer.Option(None, "--source", help="The source to grab from (default: the camera's)."),
    frame: int = typer.Option(50, "--frame", min=0, help="Which frame to grab (with --tracks: how many frames to analyse first)."),
    grid: bool = typer.Option(True, "--grid/--no-grid", help="Overlay a labelled pixel grid to read coordinates off."),
    tracks: bool = typer.Option(False, "--tracks", help="Run the analysis up to --frame and draw the tracks."),
) -> None:
    """Save one frame of a camera with a pixel grid, its lines (with the `in` arrow) and zones:
    the way to place lines on a new camera and to check an existing one."""
    import cv2

    from camera_agents.draw import draw_config, draw_grid, draw_tracks
    from camera_agents.sources import Frame, SourceError, open_source

    config = _load_configs([camera], None)[0] if camera else None
    spec = source or (config.source if config else None)
    if spec is None:
        raise typer.BadParameter("give --camera or --source")
    try:
        src = open_source(spec)
    except SourceError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    pipeline = None
    if tracks and config is not None:
        from camera_agents.pipeline import CameraPipeline

        pipeline = CameraPipeline(config, width=src.info.width, height=src.info.height, fps=src.info.fps)
    image = None
    try:
        while (item := src.read()) is not None:
            if not isinstance(item, Frame):
                continue
            if pipeline is not None:
                pipeline.process(item.index, item.ts, item.image)
            if item.index >= frame:
                image = item.image
                break
    finally:
        src.close()
    if image is None:
        typer.secho(f"the source ended before frame {frame}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if grid:
        image = draw_grid(image)
    if config is not None:
        image = draw_config(image, config)
    if pipeline is not None:
        image = draw_tracks(image, pipeline.last_tracks)
    if not cv2.imwrite(str(out), image):
        typer.secho(f"cannot write {out}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"wrote {out} ({image.shape[1]}x{image.shape[0]}, frame {frame} of {spec})")


@app.command()
def tune(
    camera: Path = typer.Option(..., "--camera", "-c", help="The camera YAML file."),
    seconds: float = typer.Option(60.0, "--seconds", min=1.0, help="How much of the camera to watch."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder (default: ./tune-CAMERA_ID)."),
    source: Optional[str] = typer.Option(None, "--source", help="Override the camera's source (a recording of it, say)."),
) -> None:
    """Watch a camera for a while and write a report folder: the picture with lines, zones, objects
    and their trails, counts per line, frame rates, and warnings about what will hurt counting."""
    from camera_agents.sources import SourceError
    from camera_agents.tune import run_tune

    config = _load_configs([camera], None)[0]
    if source is not None:
        config = config.model_copy(update={"source": source})
    folder = out or Path(f"tune-{config.camera_id}")
    typer.echo(f"watching {config.camera_id} for {seconds:.0f} s ...", err=True)
    try:
        report = run_tune(config, folder, seconds=seconds)
    except (SourceError, ValueError, OSError) as exc:
        typer.secho(f"{config.camera_id}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    from camera_agents.tune import report_text

    typer.echo(report_text(report), nl=False)
    typer.echo(f"report: {folder / 'report.html'} (picture {folder / 'annotated.png'}, data {folder / 'report.json'})")
