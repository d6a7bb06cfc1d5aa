"""What operators do with an alert, as the processors apply it (pure logic): acknowledge, resolve
with a code, reopen, escalate when nobody acknowledges in time; every step carries the handling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.contract import AlertAction, CameraHealth, Heartbeat, TrackIncident
from processors.config import parse_rules
from processors.rules import AlertEngine

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CAM = "cam-7"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def engine(**defaults) -> AlertEngine:
    return AlertEngine(parse_rules({"defaults": {"stopped": {"min_duration_s": 10, "clear_after_s": 30}, **defaults}}))


def stopped(s: float, duration: float = 20) -> TrackIncident:
    return TrackIncident(camera_id=CAM, ts=at(s), frame_no=1, kind="stopped", track_id=3, cls="car", duration_s=duration)


def action(s: float, alert_id: str, kind: str, **kw) -> AlertAction:
    return AlertAction(camera_id=CAM, ts=at(s), alert_id=alert_id, action=kind, actor="op.lan", **kw)


def test_ack_is_sent_once_and_carried_on_later_steps():
    eng = engine()
    (opened,) = eng.on_event(stopped(0), now=0)
    (acked,) = eng.on_event(action(5, opened.alert_id, "ack"), now=0)
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == ("update", "op.lan", at(5))
    assert eng.on_event(action(6, opened.alert_id, "ack"), now=0) == []  # already acknowledged
    (severity_up,) = eng.on_event(stopped(200, duration=200), now=0)  # critical now
    assert severity_up.severity == "critical" and severity_up.acknowledged_by == "op.lan"


def test_resolve_carries_who_and_the_code_and_a_reopen_waits_for_an_operator():
    eng = engine()
    (opened,) = eng.on_event(stopped(0), now=0)
    (resolved,) = eng.on_event(action(5, opened.alert_id, "resolve", resolution="false_alarm"), now=0)
    assert (resolved.state, resolved.resolved_by, resolved.resolution) == ("resolved", "op.lan", "false_alarm")
    (reopened,) = eng.on_event(action(8, opened.alert_id, "reopen"), now=0)
    assert reopened.state == "open" and reopened.alert_id == opened.alert_id
    assert reopened.resolved_by is None and reopened.acknowledged_by is None
    # The condition ends; an operator reopened it, so only an operator closes it.
    assert [a.state for a in eng.on_event(Heartbeat(camera_id=CAM, ts=at(100), fps=1, frames=1, uptime_s=1), now=0)] == []
    (closed,) = eng.on_event(action(110, opened.alert_id, "resolve", resolution="handled"), now=0)
    assert (closed.state, closed.resolution) == ("resolved", "handled")


def test_steps_of_an_episode_never_go_back_in_time():
    eng = engine()
    (opened,) = eng.on_event(CameraHealth(camera_id=CAM, ts=at(0), condition="blur", state="raised"), now=0)
    (acked,) = eng.on_event(action(50, opened.alert_id, "ack"), now=0)
    # The camera's clock lags the operator's: its clear is stamped 40.
    (resolved,) = eng.on_event(CameraHealth(camera_id=CAM, ts=at(40), condition="blur", state="cleared"), now=0)
    assert resolved.state == "resolved" and resolved.ts >= acked.ts


@pytest.mark.parametrize("severity_deadlines, acked, escalates", [
    ({"warning_s": 60}, False, True),            # unacknowledged past the deadline: escalates
    ({"warning_s": 60}, True, False),            # acknowledged in time: never escalates
    ({"warning_s": None}, False, False),         # no deadline for the severity
    ({"enabled": False}, False, False),          # escalation off
])
def test_escalation_after_the_severitys_deadline(severity_deadlines, acked, escalates):
    eng = engine(escalation=severity_deadlines)
    (opened,) = eng.on_event(stopped(0), now=1000)
    assert opened.severity == "warning"
    if acked:
        eng.on_event(action(1, opened.alert_id, "ack"), now=1000)
    assert eng.on_tick(1000) == []  # the clock starts
    assert eng.on_tick(1059) == []
    out = eng.on_tick(1061)
    assert bool(out) == escalates
    if escalates:
        (escalated,) = out
        assert escalated.state == "update" and escalated.escalated_at is not None
        assert eng.on_tick(2000) == []  # once


def test_handling_survives_a_snapshot_round_trip():
    eng = engine()
    (opened,) = eng.on_event(stopped(0), now=0)
    eng.on_event(action(5, opened.alert_id, "ack"), now=0)
    again = engine()
    again.restore(eng.to_data(), now=0)
    (resolved,) = again.on_event(action(9, opened.alert_id, "resolve", resolution="duplicate"), now=0)
    assert resolved.acknowledged_by == "op.lan" and resolved.resolution == "duplicate"
