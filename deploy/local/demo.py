"""`ioc demo`: a small city on the local stack, with a live view of what reaches TimescaleDB.

Simulated traffic and crowd cameras (synthetic scenes) and one recorded camera (Debian's
vtest.avi) run through real agents into the broker; the processors turn crossings into 1-minute
counts and alerts; the sink writes everything to TimescaleDB; the terminal shows, per camera,
what the database holds. Each stage is its own process, as in production. A stage that exits is
restarted (a file camera that reaches its end starts over); one that keeps failing is shown as
failed with the tail of its log, not restarted forever.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import yaml
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

EXAMPLES = Path(__file__).resolve().parents[2] / "camera_agents" / "examples"
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")

# Simulated traffic cameras at real Vũng Tàu junctions, so the wall's map shows a city.
_TRAFFIC_SITES = [
    (1, "Ngã tư Lê Hồng Phong – Nguyễn Văn Trỗi", 10.3471, 107.0846),
    (2, "Vòng xoay Ba Cu – Trưng Trắc", 10.3461, 107.0736),
    (3, "Đường Thùy Vân – Bãi Sau", 10.3402, 107.0927),
    (4, "Ngã năm Nam Kỳ Khởi Nghĩa – 3 Tháng 2", 10.3591, 107.0846),
]
# Two minutes at 25 fps before a scene starts over: a longer scene takes long to simulate at start.
_SCENE_FRAMES = 3000


@dataclass(frozen=True, kw_only=True)
class DemoSettings:
    bootstrap: str
    dsn: str
    state_dir: Path
    namespace: str = "ioc"
    duration_s: float | None = None  # None: until Ctrl-C
    refresh_s: float = 2.0
    traffic_cameras: int = 4
    metrics_port: int = 9464  # the sink's /metrics; 0: off
    log_level: str = "INFO"
    desk_port: int = 8088  # the alert desk on 127.0.0.1; 0: off


@dataclass
class _Component:
    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen | None = None
    failures: list[float] = field(default_factory=list)
    restarts: int = 0
    failed: bool = False

    def start(self, env: dict[str, str]) -> None:
        handle = open(self.log, "ab")
        self.process = subprocess.Popen(self.argv, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        handle.close()

    def status(self) -> str:
        if self.failed:
            return "[red]failed[/red]"
        if self.process is not None and self.process.poll() is None:
            return f"[green]running[/green] (pid {self.process.pid}, restarts {self.restarts})"
        return "[yellow]starting[/yellow]"

    def tail(self, lines: int = 3) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def write_demo_cameras(directory: Path, *, traffic_cameras: int) -> list[Path]:
    """The demo's camera configs: synthetic traffic at real junctions, a crowd, the recording."""
    from camera_agents.sources import open_source

    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    written = []
    for seed, name, lat, lon in _TRAFFIC_SITES[:traffic_cameras]:
        source = open_source(f"synthetic:traffic?seed={seed}&frames=25")  # the layout depends on the seed only
        config = source.camera_config()
        source.close()
        config.update(camera_id=f"vt-traffic-{seed:02d}", name=f"{name} (mô phỏng)", district="Vũng Tàu",
                      location={"lat": lat, "lon": lon},
                      source=f"synthetic:traffic?seed={seed}&frames={_SCENE_FRAMES}")
        written.append(_dump(directory / f"traffic-{seed:02d}.yaml", config))
    crowd = yaml.safe_load((EXAMPLES / "synthetic_crowd.yaml").read_text(encoding="utf-8"))
    crowd["source"] = f"synthetic:crowd?seed=1&frames={_SCENE_FRAMES}"
    written.append(_dump(directory / "crowd-01.yaml", crowd))
    if VTEST.exists():
        written.append(_dump(directory / "vtest.yaml", yaml.safe_load((EXAMPLES / "vtest.yaml").read_text(encoding="utf-8"))))
    return written


def _dump(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run_demo(settings: DemoSettings, *, console: Console | None = None) -> dict[str, int]:
    """Run the demo until ``duration_s`` passes or Ctrl-C; returns the final per-table row counts."""
    from ingest.bus import BusSettings, ensure_topics
    from ingest.db import DbSettings, migrate

    console = console or Console()
    demo_dir = settings.state_dir / "demo"
    logs = demo_dir / "logs"
    if logs.exists():
        shutil.rmtree(logs)
    logs.mkdir(parents=True)
    migrate(DbSettings(dsn=settings.dsn))
    ensure_topics(BusSettings(bootstrap=settings.bootstrap, namespace=settings.namespace))
    cameras_dir = demo_dir / "cameras"
    cameras = write_demo_cameras(cameras_dir, traffic_cameras=settings.traffic_cameras)

    ioc = [sys.executable, "-m", "ioc"]
    # Every stage keeps its state under the demo's own folder, and logs at the demo's level.
    common = ["--bootstrap", settings.bootstrap, "--namespace", settings.namespace, "--log-level", settings.log_level]
    state = ["--state-dir", str(demo_dir)]
    components = [
        _Component("sink", [*ioc, "ingest", "run", *common, "--dsn", settings.dsn, "--metrics-port", str(settings.metrics_port)], logs / "sink.log"),
        _Component("processors", [*ioc, "processors", "run", *common, *state], logs / "processors.log"),
        *(
            # A process per camera: each loops on its own, and one failing camera stops no other.
            _Component(f"camera {camera.stem}", [*ioc, "agent", "run", "--config", str(camera), "--sink", "kafka",
                                                 "--realtime", "--no-progress", "--spool-dir", str(demo_dir / "spool"), *common],
                       logs / f"camera-{camera.stem}.log")
            for camera in cameras
        ),
        _Component("maintenance", [*ioc, "db", "maintain", "--dsn", settings.dsn, "--every", "60", "--log-level", settings.log_level],
                   logs / "maintenance.log"),
    ]
    desk_logins: dict[str, str] = {}
    if settings.desk_port:
        desk = [*ioc, "desk"]
        desk_logins = _demo_desk_users(desk, settings.dsn)
        components.append(_Component("desk", [*desk, "serve", "--port", str(settings.desk_port), *common, "--dsn", settings.dsn],
                                     logs / "desk.log"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started_at = datetime.now(UTC)
    for component in components:
        component.start(env)
    console.print(f"[bold]ioc demo[/bold]: {len(cameras)} cameras; logs in {logs}; Ctrl-C stops")
    if settings.desk_port:
        logins = ", ".join(f"{name} / {password}" for name, password in desk_logins.items())
        console.print(f"[bold]alert desk[/bold]: http://127.0.0.1:{settings.desk_port}/  (operator, viewer: {logins})")
    deadline = time.monotonic() + settings.duration_s if settings.duration_s else None
    try:
        with psycopg.connect(settings.dsn, autocommit=True) as conn, Live(console=console, refresh_per_second=1) as live:
            while deadline is None or time.monotonic() < deadline:
                _supervise(components, env)
                live.update(_view(conn, components, started_at))
                time.sleep(settings.refresh_s)
            return _row_counts(conn)
    except KeyboardInterrupt:
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            return _row_counts(conn)
    finally:
        _stop_all(components)


def _demo_desk_users(desk: list[str], dsn: str) -> dict[str, str]:
    """A demo operator and a viewer (for the second screen), with fresh passwords each start."""
    import secrets

    logins = {}
    for name, role in (("demo.operator", "operator"), ("demo.viewer", "viewer")):
        password = secrets.token_urlsafe(9)
        subprocess.run([*desk, "user", "add", name, "--role", role, "--password-stdin", "--dsn", dsn],
                       input=password + "\n", text=True, check=True, capture_output=True)
        logins[name] = password
    return logins


def _supervise(components: list[_Component], env: dict[str, str]) -> None:
    now = time.monotonic()
    for component in components:
        if component.failed or component.process is None or component.process.poll() is None:
            continue
        if component.process.returncode != 0:
            component.failures = [t for t in component.failures if now - t < 120] + [now]
            if len(component.failures) >= 3:  # three failures in two minutes: stop, show why
                component.failed = True
                continue
        component.restarts += 1
        component.start(env)


def _stop_all(components: list[_Component]) -> None:
    running = [c.process for c in components if c.process is not None and c.process.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


_CAMERAS_SQL = """
SELECT c.camera_id, c.name, c.kind,
       (SELECT count(*) FROM crossings x WHERE x.camera_id = c.camera_id AND x.ts > now() - interval '1 minute'),
       (SELECT count(*) FROM crossings x WHERE x.camera_id = c.camera_id AND x.ts >= %(since)s),
       (SELECT coalesce(sum(w.count), 0) FROM count_windows w WHERE w.camera_id = c.camera_id AND w.ts >= %(since)s),
       (SELECT h.fps FROM heartbeats h WHERE h.camera_id = c.camera_id ORDER BY h.ts DESC LIMIT 1),
       (SELECT extract(epoch FROM now() - max(h.ts)) FROM heartbeats h WHERE h.camera_id = c.camera_id),
       (SELECT count(*) FROM alerts a WHERE a.camera_id = c.camera_id AND a.state <> 'resolved')
FROM cameras c ORDER BY c.camera_id
"""
_ALERTS_SQL = """
SELECT updated_at, camera_id, severity, state, title FROM alerts ORDER BY updated_at DESC LIMIT 6
"""


def _view(conn: psycopg.Connection, components: list[_Component], since: datetime) -> Group:
    cameras = Table(title="Cameras (from TimescaleDB)", expand=True)
    for column in ("camera", "name", "kind", "crossings/min", "crossings", "in 1-min windows", "fps", "heartbeat", "open alerts"):
        cameras.add_column(column, overflow="fold")
    for cam, name, kind, last_min, total, windowed, fps, age, alerts in conn.execute(_CAMERAS_SQL, {"since": since}):
        beat = "—" if age is None else (f"[red]{age:.0f} s ago[/red]" if age > 15 else f"{age:.0f} s ago")
        cameras.add_row(cam, name, kind, str(last_min), str(total), str(windowed), "—" if fps is None else f"{fps:.1f}",
                        beat, f"[red]{alerts}[/red]" if alerts else "0")
    alerts = Table(title="Latest alerts", expand=True)
    for column in ("time (UTC)", "camera", "severity", "state", "title"):
        alerts.add_column(column, overflow="fold")
    for updated, cam, severity, state, title in conn.execute(_ALERTS_SQL):
        alerts.add_row(updated.strftime("%H:%M:%S"), cam, severity, state, title)
    stages = Table(title="Stages", expand=True)
    stages.add_column("stage")
    stages.add_column("status")
    stages.add_column("last log line", overflow="fold")
    for component in components:
        stages.add_row(component.name, component.status(), component.tail(1)[-160:])
    return Group(Panel(cameras), Panel(alerts), Panel(stages))


def _row_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = ("cameras", "frame_events", "crossings", "zone_occupancy", "incidents", "camera_health", "heartbeats",
              "count_windows", "occupancy_windows", "alert_events", "alerts")
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
