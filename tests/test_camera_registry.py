"""Cameras that never came up: a registered camera that never sends a heartbeat goes offline and
alerts like any other, whether its agent never started or its stream never connected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from camera_agents.agent import RunSettings, run_camera
from camera_agents.announce import announce_cameras
from camera_agents.config import parse_camera
from camera_agents.publish import JsonlSink
from ingest.bus import BusSettings
from ingest.contract import Alert, CameraInfo, Heartbeat, decode
from processors.config import parse_rules
from processors.harness import read_events, start_worker
from processors.rules import AlertEngine

NOW = 1_800_000_000.0
RULES = parse_rules({"defaults": {"offline": {"after_s": 30}}})
NEVER_UP = """
camera_id: {camera_id}
name: Ngã ba Bà Rịa (chưa kết nối)
kind: traffic
source: rtsp://127.0.0.1:9/stream
"""


def registry(camera_id: str) -> CameraInfo:
    return CameraInfo(camera_id=camera_id, ts=datetime.fromtimestamp(NOW, UTC), name=camera_id, kind="traffic", origin="registry")


def heartbeat(camera_id: str, at: float) -> Heartbeat:
    return Heartbeat(camera_id=camera_id, ts=datetime.fromtimestamp(at, UTC), fps=10, frames=1, uptime_s=1)


@pytest.mark.parametrize(
    "story, expected",
    [
        # registered, never heard from: offline once the limit passes, saying it never came up
        ([("registry", 0), ("tick", 29)], []),  # within the limit (30 s): not yet
        ([("registry", 0), ("tick", 31)], [("open", 1)]),
        # registered, then its agent's heartbeat: a camera that came up is not offline
        ([("registry", 0), ("heartbeat", 10), ("tick", 35)], []),
        # came up, went quiet, then re-announced by the registry: still offline (no sign of life)
        ([("heartbeat", 0), ("registry", 25), ("tick", 35)], [("open", 0)]),
        # a registered camera that was offline comes up: the alert resolves
        ([("registry", 0), ("tick", 40), ("heartbeat", 50)], [("open", 1), ("resolved", 1)]),
    ],
)
def test_registered_cameras_that_never_come_up_go_offline(story: list[tuple[str, float]], expected: list[tuple[str, int]]) -> None:
    engine = AlertEngine(RULES)
    alerts: list[Alert] = []
    for what, s in story:
        if what == "registry":
            alerts += engine.on_event(registry("cam-1"), now=NOW + s)
        elif what == "heartbeat":
            alerts += engine.on_event(heartbeat("cam-1", NOW + s), now=NOW + s)
        else:
            alerts += engine.on_tick(NOW + s)
    assert [(a.state, a.details.get("never_seen")) for a in alerts if a.rule == "camera_offline"] == expected


def test_a_registered_camera_survives_a_restart_of_the_processors() -> None:
    engine = AlertEngine(RULES)
    engine.on_event(registry("cam-1"), now=NOW)
    restored = AlertEngine(RULES)
    restored.restore(engine.to_data(), now=NOW + 100)  # the offline clock restarts at the restart
    assert restored.on_tick(NOW + 120) == []
    (alert,) = restored.on_tick(NOW + 131)
    assert alert.rule == "camera_offline" and alert.details["never_seen"] == 1


def test_an_agent_announces_its_camera_before_its_stream_connects(tmp_path: Path) -> None:
    config = parse_camera(NEVER_UP.format(camera_id="never-up"))
    sink = JsonlSink(tmp_path / "events.jsonl")
    from camera_agents.sources import SourceUnavailable

    with pytest.raises(SourceUnavailable, match="no RTSP server answers"):
        run_camera(config, sink, RunSettings(timeout_s=5))
    sink.close()
    events = [decode(line) for line in (tmp_path / "events.jsonl").read_bytes().splitlines()]
    assert isinstance(events[0], CameraInfo) and events[0].origin == "agent" and events[0].name == config.name


@pytest.mark.timeout(120)
def test_the_processors_alert_on_a_registered_camera_whose_agent_never_started(bus: BusSettings, tmp_path: Path) -> None:
    cameras = tmp_path / "cameras"
    cameras.mkdir()
    (cameras / "never-up.yaml").write_text(NEVER_UP.format(camera_id="cam-never"), encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text("defaults:\n  offline: {after_s: 3}\n")
    assert announce_cameras(bus, cameras) == ["cam-never"]  # what `ioc db sync-cameras --announce` does
    worker = start_worker(bus, log_path=tmp_path / "worker.log", state_dir=tmp_path / "state", rules=rules)
    try:
        def offline(alerts: list) -> bool:
            return any(isinstance(a, Alert) and a.rule == "camera_offline" for a in alerts)

        alerts = read_events(bus, bus.topics.alerts, until=offline, timeout_s=90)
    finally:
        worker.stop()
    opened = [a for a in alerts if a.rule == "camera_offline" and a.camera_id == "cam-never"]
    assert opened and opened[0].state == "open" and opened[0].details["never_seen"] == 1, worker.log()[-3000:]
    assert abs(opened[0].ts - datetime.now(UTC)) < timedelta(seconds=60), "raised on processing time, just now"


def test_sync_cameras_announces_the_registry_when_asked(bus: BusSettings, db, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ioc.cli import app
    from tests.busutil import read_topic

    cameras = tmp_path / "cameras"
    cameras.mkdir()
    for camera_id in ("cam-a", "cam-b"):
        (cameras / f"{camera_id}.yaml").write_text(NEVER_UP.format(camera_id=camera_id), encoding="utf-8")
    result = CliRunner().invoke(app, ["db", "sync-cameras", "--config-dir", str(cameras), "--dsn", db.conninfo, "--announce",
                                      "--bootstrap", bus.bootstrap, "--namespace", bus.namespace])
    assert result.exit_code == 0, result.output
    assert f"announced 2 cameras on {bus.topics.health}" in result.output
    announced = [decode(r.value) for r in read_topic(bus, bus.topics.health, expect=2)]
    assert sorted((e.camera_id, e.origin) for e in announced) == [("cam-a", "registry"), ("cam-b", "registry")]
