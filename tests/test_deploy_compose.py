"""The compose deployment cannot run here (no Docker engine), so check what can drift: every ioc
stage it starts is a real command with real options, start order, healthchecks, where each stage
writes, secrets from the environment, and that Prometheus scrapes every stage."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ioc.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# ioc's own services are those built from this repository, whatever their image tag.
IOC_SERVICES = {name: s for name, s in SERVICES.items() if "build" in s or str(s.get("image", "")).startswith("ioc")}
PROMETHEUS = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
# One-shot jobs: they exit, and what needs them waits for a successful exit.
JOBS = {"migrate", "grafana-reader", "registry", "frames-topic"}
# Everything that writes to Kafka or the database.
WRITERS = {"sink", "processors", "agents", "maintenance", "desk", "notify", "registry"}


def _option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def _mounts(service: dict) -> dict[str, str]:
    """container path -> source (named volume or host path)."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        out[target] = source
    return out


def test_the_stack_has_every_stage():
    # Guards the tables below against silently shrinking (a renamed image would empty IOC_SERVICES).
    assert set(IOC_SERVICES) == {"migrate", "grafana-reader", "registry", "sink", "processors", "maintenance", "agents",
                                 "desk", "notify"}
    assert {"kafka", "timescaledb", "prometheus", "grafana"} <= set(SERVICES)


def test_the_frame_stream_is_kept_hours_not_days_on_the_bus():
    job = SERVICES["frames-topic"]
    script = " ".join(job["command"])
    assert "--topic ioc.frames.v1" in script and "--entity-name ioc.frames.v1" in script
    assert script.count("retention.ms=${FRAMES_RETENTION_MS:-21600000}") == 2  # created with it, and re-applied
    assert job["restart"] == "no" and job["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    for writer in WRITERS:
        assert SERVICES[writer]["depends_on"]["frames-topic"] == {"condition": "service_completed_successfully"}


def test_kafka_runs_in_kraft_mode_without_zookeeper():
    kafka = SERVICES["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "broker" in kafka["KAFKA_PROCESS_ROLES"]
    assert not any("zookeeper" in name for name in SERVICES)


@pytest.mark.parametrize("service", sorted(IOC_SERVICES))
def test_each_ioc_stage_is_a_real_command_with_real_options(service):
    command = IOC_SERVICES[service]["command"]
    words = [w for w in command if not w.startswith("-")][:2]
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in (w for w in command if w.startswith("--")):
        assert option in result.output, f"{service}: `ioc {' '.join(words)}` has no option {option}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_has_a_healthcheck(service):
    check = SERVICES[service].get("healthcheck")
    assert check and not check.get("disable") and check.get("test"), f"{service} has no healthcheck"
    test = check["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    if test[1] == "ioc":  # an ioc command: it must exist
        result = CliRunner().invoke(app, [*test[2:], "--help"])
        assert result.exit_code == 0, f"{service}: healthcheck runs `{' '.join(test[1:])}`, which does not exist"
    port = _option(SERVICES[service].get("command", []), "--metrics-port")
    if port is not None:  # a stage with /metrics is healthy when that endpoint answers
        assert f"127.0.0.1:{port}/metrics" in " ".join(test)


@pytest.mark.parametrize("service", sorted(WRITERS))
def test_writers_start_after_the_schema_is_migrated(service):
    depends = SERVICES[service]["depends_on"]
    assert depends["migrate"] == {"condition": "service_completed_successfully"}
    assert depends["kafka"] == {"condition": "service_healthy"}
    assert depends["timescaledb"] == {"condition": "service_healthy"}


def test_migrate_is_a_job_after_the_database():
    migrate = SERVICES["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"timescaledb": {"condition": "service_healthy"}}
    assert SERVICES["grafana"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    # every dependency on a job waits for its successful exit, on a service for its health
    for name, service in SERVICES.items():
        for target, condition in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if target in JOBS else "service_healthy"
            assert condition == {"condition": expected}, (name, target)


@pytest.mark.parametrize(
    ("service", "path"),
    [
        # Kafka's log directory, not the image's default under /tmp
        ("kafka", SERVICES["kafka"]["environment"]["KAFKA_LOG_DIRS"]),
        # processors' faust data and alert snapshots
        ("processors", _option(SERVICES["processors"]["command"], "--state-dir")),
        # the agents' spool while Kafka is away
        ("agents", _option(SERVICES["agents"]["command"], "--spool-dir")),
        # the agents' cameras' kept views (STATE_DIR/views), so a camera turned while they were down is told
        ("agents", SERVICES["agents"]["environment"]["IOC_STATE_DIR"] + "/views"),
        ("timescaledb", "/var/lib/postgresql/data"),
        ("prometheus", "/prometheus"),
        ("grafana", "/var/lib/grafana"),
    ],
)
def test_each_stage_writes_to_a_named_volume(service, path):
    assert path, f"{service}: no data path configured"
    source = _mounts(SERVICES[service]).get(path)
    assert source in COMPOSE["volumes"], f"{service} writes {path}, which is not on a named volume"


def test_grafana_and_the_desk_take_passwords_from_the_environment_and_stay_local():
    grafana = SERVICES["grafana"]
    password = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", password), "no default password: required from the environment"
    public = ("grafana", "prometheus", "desk")  # what people open in a browser
    for published in (port for name in public for port in SERVICES[name]["ports"]):
        assert published.startswith("${") and ":-127.0.0.1}:" in published, f"{published} is published beyond this host by default"
    assert not any("ports" in SERVICES[name] for name in SERVICES if name not in public)
    example = (COMPOSE_DIR / "env.example").read_text()
    assert "GRAFANA_ADMIN_PASSWORD=\n" in example and "IOC_DB_PASSWORD=\n" in example  # placeholders, no values


def test_prometheus_scrapes_every_worker_of_every_stage_on_its_metrics_port():
    scraped: dict[str, set[int]] = {}
    for job in PROMETHEUS["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for name in sd["names"]:
                scraped.setdefault(name, set()).add(int(sd["port"]))
    # Worker i of a stage run with --workers N serves /metrics on the port after worker i - 1's.
    stages = {name: set(range(int(port), int(port) + int(_option(s["command"], "--workers") or 1)))
              for name, s in IOC_SERVICES.items() if (port := _option(s["command"], "--metrics-port"))}
    assert set(stages) == {"sink", "processors", "agents"}
    assert scraped == stages


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".ioc", "deploy/compose/.env"} <= ignored
    copied = re.findall(r"^COPY (\S+)", (COMPOSE_DIR / "Dockerfile").read_text(), flags=re.M)
    assert copied and not set(copied) & ignored, "the Dockerfile copies something .dockerignore leaves out"


def test_the_database_healthcheck_tells_up_from_down(db):
    """The check `migrate` and `maintenance` run, executed here against a real database and a dead one."""
    import os
    import subprocess
    import sys

    check = SERVICES["maintenance"]["healthcheck"]["test"]
    assert check == SERVICES["migrate"]["healthcheck"]["test"] and check[:3] == ["CMD", "python", "-c"]
    for dsn, healthy in ((db.conninfo, True), ("postgresql://ioc@127.0.0.1:1/ioc", False)):
        done = subprocess.run([sys.executable, "-c", check[3]], env={**os.environ, "IOC_DSN": dsn}, capture_output=True, timeout=30)
        assert (done.returncode == 0) is healthy, done.stderr.decode()[-300:]


def test_prometheus_accepts_its_configuration(tmp_path):
    """Debian's promtool reads the scrape configuration exactly as the Prometheus service will."""
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: deploy/bootstrap.sh installs Debian's prometheus package for the tests"
    done = subprocess.run([promtool, "check", "config", str(COMPOSE_DIR / "prometheus.yml")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
