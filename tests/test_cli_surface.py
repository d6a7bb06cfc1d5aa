"""The `ioc` command line as one product: every command, every option, one meaning per flag,
one way to set it, one way to fail. Walks the whole command tree as a user's `--help` would."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ioc.cli import app

ROOT = Path(__file__).resolve().parents[1]
VTEST = str(ROOT / "camera_agents" / "examples" / "vtest.yaml")  # the real recording vtest.avi


def _walk(command, ctx, path):
    yield path, command
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _walk(sub, typer.Context(sub, info_name=name, parent=ctx), [*path, name])


def _tree() -> list[tuple[tuple[str, ...], object]]:
    root = typer.main.get_command(app)
    return [(tuple(path), command) for path, command in _walk(root, typer.Context(root, info_name="ioc"), [])]


TREE = _tree()
COMMANDS = [(path, command) for path, command in TREE if not hasattr(command, "list_commands")]


def _options(command):
    return [p for p in command.params if p.param_type_name == "option" and not p.hidden]


def test_the_tree_holds_every_stage():
    groups = {path[0] for path, _ in COMMANDS}
    assert {"stack", "demo", "agent", "processors", "ingest", "bus", "schema", "db", "report", "desk", "notify", "dashboards"} <= groups
    assert ("db", "migrate") in dict(COMMANDS) and ("db", "sync-cameras") in dict(COMMANDS)
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("path", [path for path, _ in TREE], ids=lambda p: " ".join(p) or "ioc")
def test_every_command_help_exits_0(path):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_every_option_has_help_text():
    missing = [f"ioc {' '.join(path)} {option.opts[0]}" for path, command in COMMANDS
               for option in _options(command) if not (option.help or "").strip()]
    assert not missing, missing


# Flags whose meaning users rely on across commands: each use must say it means this.
MEANINGS = {
    "--camera": "camera id",
    "--config": "camera config",
    "--config-dir": "folder of camera configs",
    "--count": "records",
    "--workers": "worker processes",
    "--timeout": "seconds",
    "--log-level": "log level",
    "--bootstrap": "kafka bootstrap",
    "--dsn": "dsn",
    "--state-dir": "state",
    "--namespace": "namespace",
}


def _base_type(option) -> str:
    """int, str, Path... of one value, whether the option is repeatable or optional."""
    annotation = option.type_descriptor.annotation
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    while args and getattr(args[0], "__args__", None):  # Optional[list[Path]] -> Path
        args = [a for a in args[0].__args__ if a is not type(None)]
    return getattr(args[0] if args else annotation, "__name__", str(annotation))


def test_no_flag_has_two_meanings():
    uses = defaultdict(set)
    for path, command in COMMANDS:
        for option in _options(command):
            for flag in option.opts:
                uses[flag].add((_base_type(option), option.is_flag))
                if flag in MEANINGS:
                    assert MEANINGS[flag] in option.help.lower(), f"ioc {' '.join(path)} {flag}: {option.help!r}"
    differing = {flag: kinds for flag, kinds in uses.items() if len(kinds) > 1}
    assert not differing, differing
    assert set(MEANINGS) <= set(uses)


def test_every_command_takes_log_level_and_format():
    lacking = [" ".join(path) for path, command in COMMANDS
               if not {"--log-level", "--log-format"} <= {f for o in _options(command) for f in o.opts}]
    assert not lacking, lacking


def _modules_after(*argv: str) -> set[str]:
    code = ("import sys\nfrom ioc.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('\\n'.join(sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
    return {line.split(".")[0] for line in done.stderr.splitlines()}


HEAVY = {"faust", "aiokafka", "cv2", "matplotlib", "pyarrow", "psycopg", "kafka", "numpy", "fastapi", "uvicorn",
         "httpx", "grafana_foundation_sdk", "grafana_client"}


@pytest.mark.parametrize("argv", [
    ("--help",),  # the root lists stages without importing them
    ("agent", "--help"),  # an edge box asks its agent for help
    ("agent", "run", "--help"),
    ("processors", "run", "--help"),
    ("ingest", "run", "--help"),
    ("report", "volume", "--help"),
    ("db", "sync-cameras", "--help"),
    ("stack", "status", "--help"),
    ("bus", "tail", "--help"),
    ("desk", "serve", "--help"),
    ("notify", "run", "--help"),
    ("dashboards", "build", "--help"),
])
def test_help_imports_no_heavy_library(argv):
    assert not (_modules_after(*argv) & HEAVY)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ioc", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args, env, status, said", [
    # a flag value that is not a log level is bad input
    (("schema", "export", "--log-level", "LOUD"), {}, 2, "'LOUD' is not a log level"),
    # a variable with a bad value is named, once, before any work
    (("bus", "topics"), {"IOC_NAMESPACE": "no spaces allowed"}, 2, "IOC_NAMESPACE"),
    (("db", "maintain"), {"IOC_RETENTION": "crossings=soon"}, 2, "'soon' is not a duration"),
    # a flag's bad value is named by the flag as typed, not by the setting behind it
    (("processors", "run", "--grace", "-1"), {}, 2, "--grace: Input should be greater than or equal to 0"),
    (("ingest", "run", "--group", ""), {}, 2, "--group: String should have at least 1 character"),
    # a DSN libpq cannot read is bad input, said without echoing it (it may hold a password)
    (("db", "status", "--dsn", "ioc:hunter2@db.example/ioc"), {}, 2, "--dsn: not a PostgreSQL address such as postgresql://"),
    # a flag's value that is not a date is named as the flag, before the database is asked
    (("db", "backfill", "--camera-count", "2", "--days", "2", "--end", "2026-13-01", "--dsn", "postgresql://ioc@127.0.0.1:1/none"), {}, 2,
     "--end '2026-13-01' is not a date such as 2026-03-01: month must be in 1..12"),
    (("desk", "token", "create", "a b", "--dsn", "postgresql://ioc@127.0.0.1:1/none"), {}, 2, "user name 'a b' may hold letters"),
    # a config file that does not exist
    (("agent", "check", "--config", "/nonexistent.yaml"), {}, 2, "/nonexistent.yaml"),
    # a service that cannot be reached: status 3, one line, no traceback
    (("db", "status", "--dsn", "postgresql://ioc@127.0.0.1:1/none"), {}, 3, "cannot connect to the database"),
    (("bus", "topics", "--bootstrap", "127.0.0.1:1"), {}, 3, "cannot reach the Kafka broker"),
    (("processors", "run", "--bootstrap", "127.0.0.1:1"), {}, 3, "cannot reach the Kafka broker at 127.0.0.1:1"),
    (("notify", "run", "--routes", str(ROOT / "deploy" / "compose" / "routes.yaml"), "--bootstrap", "127.0.0.1:1",
      "--dsn", "postgresql://ioc@127.0.0.1:1/none"), {"IOC_NOTIFY_WEBHOOK_SECRET": "s"}, 3,
     "cannot reach the Kafka broker at 127.0.0.1:1"),
    (("agent", "snapshot", "--source", "rtsp://127.0.0.1:1/cam", "--out", "/tmp/ioc-never.png"), {}, 3, "no RTSP server answers at 127.0.0.1:1"),
    # usage errors keep the parser's own status
    (("report", "volume", "--no-such-flag"), {}, 2, "No such option"),
    # a file or folder to write that cannot be written is named with the reason
    (("schema", "export", "--out", "/proc/ioc-none/schema.json"), {}, 2, "cannot write /proc/ioc-none/schema.json: No such file or directory"),
    (("dashboards", "build", "--out", "/proc/ioc-none"), {}, 2, "cannot write /proc/ioc-none: No such file or directory"),
    (("agent", "run", "--config", VTEST, "--sink", "jsonl:/proc/ioc-none/events.jsonl"), {}, 2,
     "cannot write events to /proc/ioc-none/events.jsonl: No such file or directory"),
    # a full disk (/dev/full refuses every write with ENOSPC)
    (("schema", "export", "--out", "/dev/full"), {}, 2, "cannot write /dev/full: No space left on device"),
    (("agent", "snapshot", "--config", VTEST, "--out", "/proc/ioc-none/view.png"), {}, 2, "cannot write /proc/ioc-none/view.png: No such file or directory"),
    # a report folder that cannot be written is found before the camera is watched (here one nothing answers for)
    (("agent", "tune", "--config", VTEST, "--source", "rtsp://127.0.0.1:1/cam", "--out", "/proc/ioc-none/report"), {}, 2,
     "cannot write /proc/ioc-none: No such file or directory"),
    # a picture named for a format it cannot be written in, refused before the camera is opened
    (("agent", "snapshot", "--config", VTEST, "--out", "view.txt"), {}, 2, "end the name in .png, .jpg or .jpeg"),
    # a frame past the end of a recording
    (("agent", "snapshot", "--config", VTEST, "--frame", "100000", "--out", "/tmp/ioc-never.png"), {}, 2, "vtest.avi ended before frame 100000"),
])
def test_errors_are_one_line_with_a_documented_status(args, env, status, said):
    done = _run(*args, env=env)
    assert done.returncode == status, done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert "Unclosed" not in done.stderr  # a client half made is closed, not left to the garbage collector
    assert "hunter2" not in done.stderr and "Value error" not in done.stderr
    assert "[ WARN" not in done.stderr and " @ 0x" not in done.stderr  # no OpenCV or FFmpeg lines past logging


@pytest.mark.parametrize("args, said", [
    # the desk's own address
    (("desk", "serve", "--host", "127.0.0.1", "--port", "{port}"), "cannot serve the desk on 127.0.0.1:{port}: Address already in use"),
    # each stage's /metrics, said alike
    (("agent", "run", "--config", VTEST, "--sink", "jsonl:{tmp}/events.jsonl", "--metrics-port", "{port}"),
     "cannot serve /metrics on 127.0.0.1:{port}: Address already in use"),
    (("processors", "run", "--bootstrap", "{bootstrap}", "--metrics-port", "{port}"), "cannot serve /metrics on 127.0.0.1:{port}: Address already in use"),
    (("ingest", "run", "--bootstrap", "{bootstrap}", "--dsn", "{dsn}", "--metrics-port", "{port}"),
     "cannot serve /metrics on 127.0.0.1:{port}: Address already in use"),
])
def test_a_port_another_program_holds_is_named_once(args, said, stack, tmp_path):
    import socket

    with socket.socket() as taken:  # another program holds the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        values = {"port": port, "tmp": tmp_path, "bootstrap": stack.bootstrap, "dsn": stack.dsn}
        done = _run(*(arg.format(**values) for arg in args), env={"IOC_STATE_DIR": str(tmp_path / "state")})
    assert done.returncode == 2, done.stderr
    assert said.format(port=port) in done.stderr
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr and "alert desk on" not in done.stderr


def test_the_desk_names_a_host_it_cannot_serve_on():
    done = _run("desk", "serve", "--host", "desk.invalid", "--port", "8088")  # a name that resolves to nothing
    assert done.returncode == 2 and "cannot serve the desk on desk.invalid:8088: " in done.stderr, done.stderr


def test_a_traceback_only_at_debug_and_json_logs_for_shippers():
    done = _run("db", "status", "--dsn", "postgresql://ioc@127.0.0.1:1/none", "--log-level", "debug", "--log-format", "json")
    assert done.returncode == 3
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    failure = [r for r in records if r["level"] == "ERROR" and "cannot connect" in r["message"]]
    assert failure and "Traceback" in failure[0]["exception"]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_logs_follow_stderr_after_a_command_run_in_process(log_format, monkeypatch):
    """A command run in-process (a test's runner, a program embedding ``ioc``) configures logging
    while stderr is the runner's buffer, closed when the command returns; a thread that logs
    afterwards writes to stderr as it is then, and no record is lost to a closed file."""
    import io
    import logging
    import threading

    from ingest.options import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        during = io.StringIO()
        monkeypatch.setattr(sys, "stderr", during)
        configure_logging("INFO", log_format)
        logging.getLogger("ioc.test").info("while the command runs")
        during.close()
        after = io.StringIO()
        monkeypatch.setattr(sys, "stderr", after)
        worker = threading.Thread(target=logging.getLogger("ioc.test").warning, args=("after it returned",))
        worker.start()
        worker.join()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "after it returned" in after.getvalue()
    assert "Logging error" not in after.getvalue()


def test_flags_and_variables_set_the_same_setting(stack):
    by_flag = _run("stack", "status", "--json", "--state-dir", str(stack.state_dir))
    by_variable = _run("stack", "status", "--json", env={"IOC_STATE_DIR": str(stack.state_dir)})
    assert by_flag.returncode == by_variable.returncode == 0, by_flag.stderr + by_variable.stderr
    assert json.loads(by_flag.stdout) == json.loads(by_variable.stdout)
    assert json.loads(by_flag.stdout)["state_dir"] == str(stack.state_dir)


def test_old_flag_names_still_work_for_one_release_with_a_warning(db):
    done = _run("db", "maintain", "--dsn", db.conninfo, "--every", "0.01", "--count", "1")
    assert done.returncode == 0, done.stderr
    assert "--count is deprecated" in done.stderr and "use --runs" in done.stderr


def test_a_command_whose_reader_stops_reading_ends_quietly(tmp_path):
    # `ioc agent check --config-dir cameras/ | head -1`: the reader goes away before the lines are
    # written; the command says nothing more and ends as a shell reports a broken pipe.
    example = (ROOT / "camera_agents" / "examples" / "synthetic_traffic.yaml").read_text(encoding="utf-8")
    for n in range(200):
        (tmp_path / f"cam{n}.yaml").write_text(example.replace("camera_id: synthetic-traffic-1", f"camera_id: cam-{n}"), encoding="utf-8")
    command = subprocess.Popen([sys.executable, "-m", "ioc", "agent", "check", "--config-dir", str(tmp_path)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    command.stdout.close()  # before the configs are read and the first line written
    said = command.stderr.read().decode()
    assert command.wait(timeout=120) == 141, said
    assert said == ""


def test_cli_reference_is_current(tmp_path):
    out = tmp_path / "cli.md"
    subprocess.run([sys.executable, "-m", "typer", "ioc.cli", "utils", "docs", "--name", "ioc", "--output", str(out)],
                   cwd=ROOT, check=True, capture_output=True, timeout=120, env={**os.environ, "TYPER_USE_RICH": "0"})
    assert out.read_text() == (ROOT / "docs" / "cli.md").read_text(), \
        "docs/cli.md is stale: TYPER_USE_RICH=0 python -m typer ioc.cli utils docs --name ioc --output docs/cli.md"


# Each stage may import the contract's package (ingest) and itself, never another stage.
ALLOWED = {
    "ingest": {"ingest"},
    "camera_agents": {"camera_agents", "ingest"},
    "processors": {"processors", "ingest"},
    "dashboards": {"dashboards", "ingest"},
}
PROJECT = {"ingest", "camera_agents", "processors", "dashboards", "deploy", "ioc", "bench", "tests"}


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_no_stage_imports_another(stage):
    crossing = []
    for path in sorted((ROOT / stage).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                top = name.split(".")[0]
                if top in PROJECT and top not in ALLOWED[stage]:
                    crossing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not crossing, crossing
