"""Alerts on the real broker, driven by produced events: every alert type opens and
auto-resolves, a silence holds until it expires, and the flow baseline survives a restart."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.bus import BusSettings, ensure_topics
from ingest.contract import (
    Alert,
    AlertAction,
    CameraHealth,
    CameraInfo,
    CountWindow,
    Heartbeat,
    TrackIncident,
    ZoneInfo,
    ZoneOccupancy,
)
from processors.harness import produce, read_events, start_worker

pytestmark = pytest.mark.timeout(150)

RULES = """
defaults:
  cooldown_s: 0
  offline: {enabled: false}
  loitering: {fallback_limit_s: 60, clear_after_s: 20}
  stopped: {min_duration_s: 20, clear_after_s: 20}
  wrong_way: {clear_after_s: 20}
  flow: {min_samples: 8, slot_minutes: 1440}
cameras:
  # Zone samples and the camera's own CameraInfo travel on different topics (no order between
  # them), so the limit is set here; the CameraInfo path is covered in test_processors_rules.
  cam-crowd:
    crowd: {max_occupancy: 10}
  cam-offline:
    offline: {enabled: true, after_s: 4}
"""
ALL_RULES = ["crowd", "loitering", "stopped_vehicle", "wrong_way", "camera_frozen", "camera_blackout", "camera_blur",
             "camera_source_lost", "flow_high", "flow_low", "incident_signature", "camera_offline"]
# Event time an hour or two ago, so the operators' silence (event time) and the cameras agree with
# now; at the start of an hour, so the 17 minutes of cam-flow's windows fall in one slot of its
# baseline (a day in the city's time, whose midnight is on a whole UTC hour): straddling two, the
# spike has too few minutes before it to stand out against, and the run failed whenever it
# started in the quarter hour before the city's midnight.
T = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


def at(s: float) -> datetime:
    return T + timedelta(seconds=s)


def window(cam: str, minute: int, count: int) -> CountWindow:
    return CountWindow(camera_id=cam, ts=at(minute * 60), line_id="main", direction="in", cls="car", count=count)


def heartbeat(cam: str, s: float) -> Heartbeat:
    return Heartbeat(camera_id=cam, ts=at(s), fps=10.0, frames=100, uptime_s=s)


def incident(cam: str, s: float, kind: str, duration: float) -> TrackIncident:
    return TrackIncident(camera_id=cam, ts=at(s), frame_no=1, kind=kind, track_id=1, cls="car", duration_s=duration)


def scenario() -> list:
    events: list = []
    events += [CameraInfo(camera_id="cam-crowd", ts=at(0), name="plaza", kind="security",
                          zones=(ZoneInfo(zone_id="plaza", polygon=((0, 0), (1, 0), (1, 1)), max_occupancy=10),)),
               *(ZoneOccupancy(camera_id="cam-crowd", ts=at(s), frame_no=s, zone_id="plaza", count=n)
                 for s, n in ((1, 5), (2, 14), (3, 6)))]
    for cam, kind, duration in (("cam-loiter", "loitering", 90), ("cam-stop", "stopped", 30), ("cam-wrong", "wrong_way", 1)):
        events += [incident(cam, 10, kind, duration), heartbeat(cam, 40)]
    for i, condition in enumerate(("frozen", "blackout", "blur", "source_lost")):
        events.append(CameraHealth(camera_id="cam-health", ts=at(5 + i), condition=condition, state="raised"))
        events.append(CameraHealth(camera_id="cam-health", ts=at(20 + i), condition=condition, state="cleared"))
    events += [window("cam-flow", m, 30 + (m % 3) - 1) for m in range(12)]
    events += [window("cam-flow", 12, 120), window("cam-flow", 13, 30), incident("cam-flow", 14 * 60 + 50, "stopped", 40)]
    # Silence: wrong-way on cam-quiet is silenced until T+100 (the reports follow later, see below).
    events.append(AlertAction(camera_id="cam-quiet", ts=at(0), alert_id="-", action="silence", actor="op-1",
                              rule="wrong_way", silence_until=at(100)))
    events.append(heartbeat("cam-offline", 0))
    return events


def later_events() -> list:
    """Sent once the first ones are processed, as in real time: the stopped vehicle is reported
    long before the window it falls in closes (incidents and counts are different topics, with
    no order between them), and an operator silences before the next report, not after."""
    return [window("cam-flow", 14, 2), window("cam-flow", 15, 30), window("cam-flow", 16, 30),
            *reports_around_the_silence()]


def reports_around_the_silence() -> list:
    """The report at T+10 must stay quiet (silenced), the one at T+150 (after expiry) must alert."""
    return [incident("cam-quiet", 10, "wrong_way", 1), heartbeat("cam-quiet", 50), incident("cam-quiet", 150, "wrong_way", 1)]


@pytest.fixture(scope="module")
def alert_run(stack, tmp_path_factory):
    bus = BusSettings(bootstrap=stack.bootstrap, namespace=f"t{uuid.uuid4().hex[:10]}")
    ensure_topics(bus)
    tmp = tmp_path_factory.mktemp("alerts")
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    produce(bus, scenario())
    worker = start_worker(bus, log_path=tmp / "worker.log", state_dir=tmp / "state", rules=rules)
    try:
        def opened_offline(alerts):
            return any(a.rule == "camera_offline" and a.state == "open" for a in alerts)

        read_events(bus, bus.topics.alerts, until=opened_offline, timeout_s=60)
        produce(bus, [heartbeat("cam-offline", 60)])  # back online
        produce(bus, later_events())

        def all_done(alerts):
            seen = {(a.rule, a.state) for a in alerts}
            return all((r, s) in seen for r in ALL_RULES for s in ("open", "resolved")) and \
                any(a.camera_id == "cam-quiet" and a.rule == "wrong_way" for a in alerts)

        alerts = read_events(bus, bus.topics.alerts, until=all_done, timeout_s=60)
    finally:
        worker.stop()
    return [a for a in alerts if isinstance(a, Alert)], worker.log()


RULE_CAMERA = {"crowd": "cam-crowd", "loitering": "cam-loiter", "stopped_vehicle": "cam-stop", "wrong_way": "cam-wrong",
               "camera_frozen": "cam-health", "camera_blackout": "cam-health", "camera_blur": "cam-health",
               "camera_source_lost": "cam-health", "flow_high": "cam-flow", "flow_low": "cam-flow",
               "incident_signature": "cam-flow", "camera_offline": "cam-offline"}


@pytest.mark.parametrize("rule", ALL_RULES)
def test_each_alert_type_opens_and_auto_resolves(alert_run, rule):
    alerts, log = alert_run
    camera = RULE_CAMERA[rule]
    mine = [a for a in alerts if a.rule == rule and a.camera_id == camera]
    opened = next((a for a in mine if a.state == "open"), None)
    assert opened is not None, (rule, [(a.camera_id, a.state) for a in alerts if a.rule == rule], log[-3000:])
    episode = [a for a in mine if a.alert_id == opened.alert_id]
    assert [a.state for a in episode][0] == "open" and episode[-1].state == "resolved", [a.state for a in episode]
    assert {a.group_key for a in mine} == {f"{camera}:{rule}"}
    assert opened.details, "an alert carries the numbers that tripped it"


def test_alert_details_carry_the_numbers(alert_run):
    alerts, _ = alert_run
    crowd = next(a for a in alerts if a.rule == "crowd" and a.state == "open")
    assert (crowd.details["count"], crowd.details["limit"]) == (14, 10)
    high = next(a for a in alerts if a.rule == "flow_high" and a.state == "open")
    assert high.details["count"] == 120 and 29 <= float(high.details["baseline_mean"]) <= 31 and high.details["baseline_n"] >= 8
    signature = next(a for a in alerts if a.rule == "incident_signature" and a.state == "open")
    assert signature.severity == "critical" and signature.details["count"] == 2
    offline = next(a for a in alerts if a.rule == "camera_offline" and a.state == "open")
    assert float(offline.details["silent_s"]) > 4


def test_silence_is_honoured_until_it_expires(alert_run):
    alerts, _ = alert_run
    quiet = [a for a in alerts if a.camera_id == "cam-quiet"]
    assert [(a.rule, a.state) for a in quiet][:1] == [("wrong_way", "open")]
    assert quiet[0].ts == at(150), "the report inside the silence stayed quiet; the one after expiry alerted"


def test_baseline_survives_a_restart(bus, tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    state = tmp_path / "state"
    env = {"IOC_PROCESSORS_SNAPSHOT_INTERVAL_S": "1"}
    produce(bus, [window("cam-base", m, 40 + (m % 3) - 1) for m in range(12)])
    first = start_worker(bus, log_path=tmp_path / "first.log", state_dir=state, rules=rules, extra_env=env)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not list(state.glob("*/alerts-p*.json")):
        time.sleep(0.5)
    time.sleep(2.5)  # a snapshot after all twelve windows, and its offsets committed
    first.kill()
    produce(bus, [window("cam-base", 12, 150), window("cam-base", 13, 40)])
    second = start_worker(bus, log_path=tmp_path / "second.log", state_dir=state, rules=rules, extra_env=env)
    try:
        alerts = read_events(bus, bus.topics.alerts, until=lambda a: any(x.rule == "flow_high" for x in a), timeout_s=50)
    finally:
        second.stop()
    assert re.search(r"restored [1-9]\d* baseline slot", second.log()), second.log()[-2000:]
    (high,) = [a for a in alerts if a.rule == "flow_high"]
    assert high.details["count"] == 150 and 39 <= float(high.details["baseline_mean"]) <= 41
    assert high.details["baseline_n"] >= 11, "the baseline learned before the restart was kept"
