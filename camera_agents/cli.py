"""``ioc agent``: run camera agents, check camera configs, snapshot and tune a camera, check its counts
against crossings counted by eye on a recording of it; and the registry sync.

Heavy imports (OpenCV, Kafka) happen inside the commands so ``ioc agent --help`` stays fast.
Flags: ``--config/-c FILE`` (repeatable) and ``--config-dir DIR`` name camera configs;
``--camera`` always means a camera id, in every ``ioc`` command.
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from camera_agents.settings import AgentSettings
from ingest.errors import InvalidInput, writing
from ingest.options import Shared, configure_logging, deprecated, deprecated_option, setting_option, shared

if TYPE_CHECKING:  # heavy imports inside the commands; the annotations only name them
    from camera_agents.agent import RunSettings
    from camera_agents.config import CameraConfig

app = typer.Typer(help="Camera agents: detect, track and count on video; publish events to Kafka.", no_args_is_help=True)

log = logging.getLogger("camera_agents")

CONFIG = typer.Option(None, "--config", "-c", help="A camera config (YAML); repeat for several cameras.")
CONFIG_DIR = typer.Option(None, "--config-dir", help="A folder of camera configs (*.yaml), one per camera.")
OLD_CAMERA = deprecated_option("--camera", "--config")
OLD_CAMERAS = deprecated_option("--cameras", "--config-dir")


def _config_paths(config, config_dir, old_camera, old_cameras) -> tuple[list[Path], Path | None]:
    files = [*(config or []), *(deprecated("--camera", "--config", old_camera) or [])]
    return files, config_dir or deprecated("--cameras", "--config-dir", old_cameras)


def _load_configs(files: list[Path], folder: Path | None):
    from camera_agents.config import load_camera, load_cameras

    if not files and folder is None:
        raise InvalidInput("give --config FILE (one or more) or --config-dir DIR")
    configs = [load_camera(path) for path in files]
    if folder is not None:
        configs += load_cameras(folder)
    ids = [c.camera_id for c in configs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InvalidInput(f"camera id(s) given twice: {', '.join(duplicates)}")
    return configs


def _open_sink(sink: str, settings: AgentSettings, *, name: str):
    """A sink ``_prepare_sink`` accepted: the JSON-lines file appended to, or Kafka with its spool
    in the folder ``name`` of the spool dir."""
    from camera_agents.publish import JsonlSink, KafkaSink, KafkaSinkSettings
    from ingest.bus import BusError, ensure_topics

    if sink.startswith("jsonl:"):
        return JsonlSink(sink.removeprefix("jsonl:"), append=True)
    try:
        ensure_topics(settings.bus)
    except BusError as exc:  # the agent still runs: events wait in the spool for the broker
        log.warning("could not create topics (%s); events are spooled until the broker is reachable", exc)
    return KafkaSink(KafkaSinkSettings(bus=settings.bus, spool_dir=settings.spool_dir / name, spool_max_bytes=settings.spool_max_bytes))


@app.command()
@shared("bus", "workers")
def run(
    shared: Shared,
    config: Optional[list[Path]] = CONFIG,
    config_dir: Optional[Path] = CONFIG_DIR,
    source: Optional[str] = typer.Option(None, "--source", help="Override the camera's source (file, URL, synthetic:...); one camera only."),
    sink: str = typer.Option("kafka", "--sink", help="kafka, or jsonl:PATH to write events to a file."),
    spool: Optional[Path] = setting_option(AgentSettings, "spool_dir"),
    realtime: bool = typer.Option(False, "--realtime", help="Pace files and synthetic scenes at their frame rate."),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help="Stop each camera after this many frames."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0.1, help="Stop after this many seconds."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress display for file runs."),
    metrics_port: Optional[int] = setting_option(AgentSettings, "metrics_port"),
    metrics_host: Optional[str] = setting_option(AgentSettings, "metrics_host"),
    old_camera: Optional[list[Path]] = OLD_CAMERA,
    old_cameras: Optional[Path] = OLD_CAMERAS,
    old_spool: Optional[Path] = deprecated_option("--spool", "--spool-dir"),
) -> None:
    """Run one or many camera agents until their sources end (files) or a bound is reached.

    With --workers N the cameras are dealt among N processes, one core each: the cameras of one
    process share its Python interpreter (on two cores, four cameras analysed 500 frames a second
    in one process, 800 in two)."""
    files, folder = _config_paths(config, config_dir, old_camera, old_cameras)
    configs = _load_configs(files, folder)
    if source is not None:
        if len(configs) != 1:
            raise InvalidInput("--source overrides the source of exactly one camera")
        configs = [configs[0].model_copy(update={"source": source})]
    from camera_agents.agent import RunSettings

    settings = AgentSettings.load(bus=shared.bus, spool_dir=spool or deprecated("--spool", "--spool-dir", old_spool),
                                  metrics_port=metrics_port, metrics_host=metrics_host)
    name = configs[0].camera_id if len(configs) == 1 else (folder.name if folder else "agent")
    run_settings = RunSettings(realtime=realtime, max_frames=frames, timeout_s=timeout, views_dir=settings.views_dir)
    jobs = _jobs(configs, min(shared.workers, len(configs)), sink=sink, name=name, settings=settings, run=run_settings)
    _prepare_sink(sink, settings, name=name, workers=len(jobs))
    if len(jobs) == 1:
        outcomes = [_run_job(jobs[0], progress=progress and sys.stderr.isatty())]
    else:
        from ingest.workers import run_workers

        logged = (shared.log_level, shared.log_format)
        outcomes = run_workers(_run_job, [replace(job, log=logged) for job in jobs])
    failed = False
    results = {camera_id: result for camera_results, _ in outcomes for camera_id, result in camera_results.items()}
    for camera_id, result in sorted(results.items()):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items())) or "no crossings"
        status = f"FAILED: {result.error}" if result.error else "ok"
        failed |= result.error is not None
        typer.echo(f"{camera_id}: {result.frames} frames at {result.fps:.0f} fps, {result.events} events ({counts}) {status}")
    published = [stats for _, stats in outcomes if stats is not None]
    if published:
        total = {key: sum(getattr(stats, key) for stats in published) for key in ("sent", "replayed", "spooled", "refused", "rejected")}
        typer.echo("kafka: " + ", ".join(f"{value} {key}" for key, value in total.items()))
    if failed:
        raise typer.Exit(1)


@dataclass(frozen=True, kw_only=True)
class _Job:
    """One process's share of ``ioc agent run``: its cameras, where their events go, and how."""

    configs: list[CameraConfig]
    sink: str  # as --sink gives it
    spool_name: str  # its spool's folder under the spool dir (Kafka)
    settings: AgentSettings  # its own metrics port
    run: RunSettings
    worker: tuple[int, int] = (1, 1)  # which of how many processes
    log: tuple[str, str] | None = None  # a worker process's log level and format, set up afresh in it


def _jobs(configs: list[CameraConfig], workers: int, *, sink: str, name: str, settings: AgentSettings, run: RunSettings) -> list[_Job]:
    """The cameras dealt among ``workers`` processes, by turns in the order given, each with its
    spool (``_spool_of``) and its /metrics port (``worker_port``)."""
    from ingest.workers import worker_port

    return [
        _Job(
            configs=configs[i::workers], sink=sink, spool_name=_spool_of(name, i + 1), run=run,
            settings=settings.model_copy(update={"metrics_port": worker_port(settings.metrics_port, i)}),
            worker=(i + 1, workers),
        )
        for i in range(workers)
    ]  # fmt: skip


def _prepare_sink(sink: str, settings: AgentSettings, *, name: str, workers: int) -> None:
    """Before any camera runs, ``sink`` checked; a JSON-lines file started afresh (every worker
    appends to it); the events waiting in the spools of workers a run with more of them left
    behind moved to the first worker's spool, so that they are sent."""
    from camera_agents.publish import JsonlSink, adopt_spool

    if sink.startswith("jsonl:"):
        JsonlSink(sink.removeprefix("jsonl:")).close()
        return
    if sink != "kafka":
        raise InvalidInput(f"unknown sink {sink!r} for --sink: use jsonl:PATH or kafka")
    if not settings.spool_dir.is_dir():
        return
    first = settings.spool_dir / _spool_of(name, 1)
    for folder in sorted(settings.spool_dir.glob(_spool_of(name, "*"))):
        number = folder.name.removeprefix(_spool_of(name, ""))
        if folder.is_dir() and number.isdigit() and int(number) > workers:
            moved = adopt_spool(folder, first, max_bytes=settings.spool_max_bytes)
            log.info("%d events waiting in %s moved to %s, to be sent", moved, folder, first)


def _spool_of(name: str, worker: int | str) -> str:
    """The spool folder of worker ``worker`` (from 1) of the agent ``name``: ``name`` itself for
    the first (an agent run without workers), ``<name>-worker<i>`` for the others."""
    return name if worker == 1 else f"{name}-worker{worker}"


def _run_job(job: _Job, *, progress: bool = False):
    """Run one process's cameras: (their results by camera id, the Kafka sink's counts or None)."""
    from camera_agents.agent import run_cameras

    if job.log is not None:
        configure_logging(*job.log)
    number, of = job.worker
    if of > 1:
        log.info("worker %d of %d: cameras %s", number, of, ", ".join(c.camera_id for c in job.configs))
    out = _open_sink(job.sink, job.settings, name=job.spool_name)
    metrics, server = _serve_metrics(out, job.spool_name, job.settings)
    stop = threading.Event()
    previous = {signum: signal.signal(signum, functools.partial(_stop_on, stop)) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        results = (_run_with_progress(job.configs, out, job.run, metrics, stop=stop) if progress
                   else run_cameras(job.configs, out, job.run, metrics=metrics, stop=stop))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        out.close()
        if server is not None:
            server.shutdown()
    return results, getattr(out, "stats", None)


def _stop_on(stop: threading.Event, signum: int, _frame: object) -> None:
    """A stop (a container's SIGTERM, the workers' parent passing its own on, Ctrl-C) ends every
    camera in order: its view and learnt road kept, the events still on their way spooled. Only a
    second Ctrl-C stops at once. The stop is an event the cameras' threads watch, not an exception
    in the thread joining them: an exception there can leave Python taking a camera's thread for
    ended while it still runs, and the process would end without it."""
    if signum == signal.SIGINT and stop.is_set():
        raise KeyboardInterrupt
    stop.set()


def _serve_metrics(out, name: str, settings: AgentSettings):
    """(metrics, server) for the /metrics endpoint, or (None, None) when its port is 0."""
    if not settings.metrics_port:
        return None, None
    from camera_agents.metrics import AgentMetrics
    from ingest.metrics import serve_metrics

    metrics = AgentMetrics()
    if hasattr(out, "spool_pending_bytes"):
        metrics.watch_spool(name, lambda: out.spool_pending_bytes)
        metrics.watch_publishing(out.stats)
    try:
        return metrics, serve_metrics(metrics.registry, settings.metrics_host, settings.metrics_port)
    except InvalidInput:
        out.close()
        raise


def _run_with_progress(configs, out, settings, metrics=None, *, stop: threading.Event | None = None):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from camera_agents.agent import run_cameras

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False) as bar:
        tasks = {c.camera_id: bar.add_task(c.camera_id, total=None) for c in configs}

        def update(camera_id: str, done: int, expected: int | None) -> None:
            bar.update(tasks[camera_id], completed=done, total=expected)

        return run_cameras(configs, out, settings, progress=update, metrics=metrics, stop=stop)


@app.command()
@shared()
def check(
    config: Optional[list[Path]] = CONFIG,
    config_dir: Optional[Path] = CONFIG_DIR,
    old_camera: Optional[list[Path]] = OLD_CAMERA,
    old_cameras: Optional[Path] = OLD_CAMERAS,
) -> None:
    """Validate camera configs; print every problem with file, line and key path."""
    configs = _load_configs(*_config_paths(config, config_dir, old_camera, old_cameras))
    for config in configs:
        typer.echo(
            f"{config.camera_id}: ok ({config.kind}, {len(config.lines)} lines, {len(config.zones)} zones, {len(config.masks)} masks, detector {config.detector.type})"
        )


@app.command()
@shared()
def snapshot(
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the picture (PNG or JPEG)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="A camera config (YAML): its lines, zones and masks are drawn."),
    source: Optional[str] = typer.Option(None, "--source", help="The source to grab from (default: the camera's)."),
    frame: int = typer.Option(50, "--frame", min=0, help="Which frame to grab (with --tracks: how many frames to analyse first)."),
    grid: bool = typer.Option(True, "--grid/--no-grid", help="Overlay a labelled pixel grid to read coordinates off."),
    tracks: bool = typer.Option(False, "--tracks", help="Run the analysis up to --frame and draw the tracks."),
    old_camera: Optional[Path] = deprecated_option("--camera", "--config"),
) -> None:
    """Save one frame of a camera with a pixel grid, its lines (with the `in` arrow) and zones:
    the way to place lines on a new camera and to check an existing one."""
    import cv2

    from camera_agents.draw import draw_config, draw_grid, draw_tracks
    from camera_agents.sources import Frame, open_source
    from camera_agents.sources.video import redact

    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise InvalidInput(f"--out {out}: the picture is written as PNG or JPEG; end the name in .png, .jpg or .jpeg")
    path = config or deprecated("--camera", "--config", old_camera)
    config = _load_configs([path], None)[0] if path else None
    spec = source or (config.source if config else None)
    if spec is None:
        raise InvalidInput("give --config or --source")
    src = open_source(spec)
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
        raise InvalidInput(f"{redact(spec)} ended before frame {frame}: choose an earlier --frame")
    if grid:
        image = draw_grid(image)
    if config is not None:
        image = draw_config(image, config)
    if pipeline is not None:
        image = draw_tracks(image, pipeline.last_tracks)
    _, encoded = cv2.imencode(out.suffix.lower(), image)
    with writing(out):
        out.write_bytes(encoded.tobytes())
    typer.echo(f"wrote {out} ({image.shape[1]}x{image.shape[0]}, frame {frame} of {redact(spec)})")


@app.command()
@shared()
def tune(
    config: Path = typer.Option(..., "--config", "-c", help="A camera config (YAML): the camera to watch."),
    seconds: float = typer.Option(60.0, "--seconds", min=1.0, help="How much of the camera to watch."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder (default: ./tune-CAMERA_ID)."),
    source: Optional[str] = typer.Option(None, "--source", help="Override the camera's source (a recording of it, say)."),
) -> None:
    """Watch a camera for a while and write a report folder: the picture with lines, zones, objects
    and their trails, counts per line and class, frame rates, and warnings about what will hurt counting."""
    from camera_agents.tune import report_text, run_tune

    camera = _load_configs([config], None)[0]
    if source is not None:
        camera = camera.model_copy(update={"source": source})
    folder = out or Path(f"tune-{camera.camera_id}")
    report = run_tune(camera, folder, seconds=seconds,
                      watching=lambda: typer.echo(f"watching {camera.camera_id} for {seconds:.0f} s ...", err=True))
    typer.echo(report_text(report), nl=False)
    typer.echo(f"report: {folder / 'report.html'} (picture {folder / 'annotated.png'}, data {folder / 'report.json'})")


@app.command()
@shared()
def linescan(
    config: Path = typer.Option(..., "--config", "-c", help="A camera config (YAML): each of its counting lines is scanned."),
    source: Optional[str] = typer.Option(None, "--source", help="The recording to scan (default: the camera's source)."),
    seconds: float = typer.Option(120.0, "--seconds", min=1.0, help="How much of the recording to scan."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the pictures (default: ./linescan-CAMERA_ID)."),
) -> None:
    """Draw each counting line's line-scan picture of a recording (the pixels along the line, one
    column a frame: each vehicle that crosses is one blob, its frame printed above) and a file to
    write the crossings counted off them into, for `ioc agent verify`."""
    import cv2

    from camera_agents.crossings_by_eye import line_scans, scan_picture, template

    camera = _load_configs([config], None)[0]
    if not camera.lines:
        raise InvalidInput(f"{config}: the camera has no counting lines to scan")
    frames = _Recording(source or camera.source, seconds)
    scans = line_scans(frames, [line.points for line in camera.lines])
    folder = out or Path(f"linescan-{camera.camera_id}")
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        for line, scan in zip(camera.lines, scans):
            path = folder / f"{line.id}.png"
            path.write_bytes(cv2.imencode(".png", scan_picture(scan))[1].tobytes())
            typer.echo(f"wrote {path} (line {line.id}: {scan.shape[0]} px along it from its first point at the top, {scan.shape[1]} frames from frame 0)")
        counts = folder / "crossings.yaml"
        if counts.exists():
            typer.echo(f"kept {counts}: it is there already")
        else:
            counts.write_text(template([line.id for line in camera.lines]), encoding="utf-8")
            typer.echo(f"wrote {counts}: write in it the frame of each crossing, then run: ioc agent verify --config {config} --counts {counts}"
                       + (f" --source {source}" if source else ""))


class _Recording:
    """The frames of a recording (``spec``), up to ``seconds``, read once as they are iterated: a
    recording, not a live stream, whose frames the crossings counted by eye name."""

    def __init__(self, spec: str, seconds: float | None) -> None:
        from camera_agents.sources.video import redact

        self._source = _open_recording(spec)
        self.name = redact(spec)
        self._limit = None if seconds is None else max(1, round(seconds * self._source.info.fps))

    def __iter__(self):
        from camera_agents.sources import Frame

        read = 0
        try:
            while (self._limit is None or read < self._limit) and (item := self._source.read()) is not None:
                if isinstance(item, Frame):
                    read += 1
                    yield item.image
        finally:
            self._source.close()
        if not read:
            raise InvalidInput(f"{self.name} sent no frame")


def _open_recording(spec: str):
    """The source ``spec``, which must be a recording: crossings counted by eye name its frames,
    which a live stream's are not."""
    from camera_agents.sources import open_source
    from camera_agents.sources.video import redact

    source = open_source(spec)
    if source.info.live:
        source.close()
        raise InvalidInput(f"{redact(spec)} is a live stream: counts by eye name the frames of a recording; "
                           "record a few minutes of the camera to a file and give it with --source")
    return source


VERIFY_TARGET = 0.95  # a line and direction within 5 % of the count by eye, as the benchmarks ask of every camera


@app.command()
@shared()
def verify(
    config: Path = typer.Option(..., "--config", "-c", help="A camera config (YAML): the camera whose counts are checked."),
    counts: Path = typer.Option(..., "--counts", help="The crossings counted by eye on the recording (YAML, as `ioc agent linescan` starts it)."),
    source: Optional[str] = typer.Option(None, "--source", help="The recording the crossings were counted on (default: the camera's source)."),
) -> None:
    """Count a recording of a camera and compare with the crossings counted by eye on it, for each
    line and direction: whether this camera's counts can be trusted. Exits 1 when a line and
    direction is off by more than 5 %."""
    from camera_agents.crossings_by_eye import load_crossings_by_eye
    from camera_agents.evaluation import count_crossings
    from camera_agents.sources.video import redact

    camera = _load_configs([config], None)[0]
    by_eye = load_crossings_by_eye(counts, lines=[line.id for line in camera.lines])
    spec = source or camera.source
    src = _open_recording(spec)
    try:
        frames, counted = count_crossings(camera.model_copy(update={"source": spec}), src)
    finally:
        src.close()
    result = by_eye.score(counted, frames_read=frames)
    below = 0
    typer.echo(f"{camera.camera_id}: {frames} frames of {redact(spec)} counted; a count matches a crossing by eye within {by_eye.tolerance_frames} frames")
    for key in result.keys:
        accuracy = result.accuracy(key)
        below += accuracy < VERIFY_TARGET
        typer.echo(f"  {key[0]}/{key[1]}: {result.counted[key]} counted, {result.true[key]} by eye, {accuracy:.3f}"
                   f"{'  << below ' + str(VERIFY_TARGET) if accuracy < VERIFY_TARGET else ''}; "
                   f"missed near frames {result.missed_frames(key) or '-'}; counted with no crossing near at {result.extra_frames(key) or '-'}")
    if result.classes_named:
        wrong = sorted((pair, n) for pair, n in result.confusion.items() if pair[0] != "unknown" and pair[0] != pair[1])
        typer.echo(f"  classes: {result.classes_right} of {result.classes_named} named right"
                   + ("; by eye -> counted: " + ", ".join(f"{t} -> {c} {n}" for (t, c), n in wrong) if wrong else ""))
    if below:
        typer.echo(f"{below} of {len(result.keys)} line directions off by more than {1 - VERIFY_TARGET:.0%}: do not trust this camera's "
                   "counts yet (`ioc agent tune` says what hurts them)")
        raise typer.Exit(1)
    typer.echo(f"every line direction within {1 - VERIFY_TARGET:.0%} of the counts by eye")


@shared("db", "bus")
def sync_cameras_command(
    shared: Shared,
    config_dir: Optional[Path] = CONFIG_DIR,
    announce: bool = typer.Option(False, "--announce", help="Also publish them to the processors, which then alert on a "
                                                            "registered camera that never sends a heartbeat."),
    old_cameras: Optional[Path] = OLD_CAMERAS,
) -> None:
    """Fill the cameras registry (names, positions, lines, zones) from a folder of camera configs."""
    from camera_agents.announce import announce_cameras
    from camera_agents.registry import sync_cameras

    folder = config_dir or deprecated("--cameras", "--config-dir", old_cameras)
    if folder is None:
        raise InvalidInput("give --config-dir DIR: the folder of camera configs")
    ids = sync_cameras(shared.db, folder)
    typer.echo(f"registry: {len(ids)} cameras ({', '.join(ids)})", err=True)
    if announce:
        announce_cameras(shared.bus, folder)
        typer.echo(f"announced {len(ids)} cameras on {shared.bus.topics.health}", err=True)
