"""The compose deployment cannot run here (no Docker engine), so check what can drift: every
ioc stage it starts must be a real command with real options, and Kafka must run in KRaft mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ioc.cli import app

COMPOSE = Path(__file__).resolve().parents[1] / "deploy" / "compose" / "docker-compose.yml"
SERVICES = yaml.safe_load(COMPOSE.read_text())["services"]
# ioc's own services are those built from this repository, whatever their image tag.
IOC_SERVICES = {name: s for name, s in SERVICES.items() if "build" in s or str(s.get("image", "")).startswith("ioc")}
STAGE_COMMANDS = {("db", "migrate"), ("ingest", "run"), ("processors", "run"), ("db", "maintain"), ("agent", "run")}


def test_compose_runs_every_ioc_stage():
    commands = {tuple(w for w in s.get("command", []) if not w.startswith("-"))[:2] for s in IOC_SERVICES.values()}
    assert STAGE_COMMANDS <= commands, f"compose does not run {STAGE_COMMANDS - commands}"


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
