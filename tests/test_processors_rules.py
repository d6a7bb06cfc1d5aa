"""Alert rules as pure logic: each rule raises and auto-resolves, with cooldown, throttled
updates, silences, operator resolve, the flow baseline and snapshots."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.contract import (
    AlertAction,
    CameraHealth,
    CameraInfo,
    CountWindow,
    Heartbeat,
    OccupancyWindow,
    TrackIncident,
    ZoneInfo,
    ZoneOccupancy,
)
from processors.baseline import read_snapshot, week_slot, write_atomically
from processors.config import ConfigError, load_rules, parse_rules
from processors.rules import AlertEngine

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
CAM = "cam-7"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def engine(**defaults) -> AlertEngine:
    return AlertEngine(parse_rules({"defaults": defaults}))


def feed(eng: AlertEngine, *events, now: float = 0.0):
    out = []
    for event in events:
        out += eng.on_event(event, now=now)
    return [(a.rule, a.state) for a in out], out


def heartbeat(s: float, cam: str = CAM) -> Heartbeat:
    return Heartbeat(camera_id=cam, ts=at(s), fps=10, frames=1, uptime_s=s)


def incident(s: float, kind: str, duration: float, **kw) -> TrackIncident:
    return TrackIncident(camera_id=CAM, ts=at(s), frame_no=1, kind=kind, track_id=3, cls="car", duration_s=duration, **kw)


def test_crowd_raises_over_the_zone_limit_from_camera_info_and_resolves():
    eng = engine()
    info = CameraInfo(camera_id=CAM, ts=at(0), name="x", kind="security",
                      zones=(ZoneInfo(zone_id="gate", polygon=((0, 0), (1, 0), (1, 1))), ZoneInfo(zone_id="plaza", polygon=((0, 0), (1, 0), (1, 1)), max_occupancy=10)))
    zone = lambda s, n: ZoneOccupancy(camera_id=CAM, ts=at(s), frame_no=1, zone_id="plaza", count=n)
    states, alerts = feed(eng, info, zone(1, 8), zone(2, 12), zone(3, 16), zone(4, 10), zone(5, 9))
    assert states == [("crowd", "open"), ("crowd", "update"), ("crowd", "resolved")]
    assert alerts[0].details["count"] == 12 and alerts[0].details["limit"] == 10 and alerts[0].severity == "warning"
    assert alerts[1].severity == "critical"  # 16 >= 1.5 x 10: severity change is sent at once
    assert len({a.alert_id for a in alerts}) == 1 and alerts[0].group_key == f"{CAM}:crowd"


def test_loitering_stopped_and_wrong_way_raise_and_clear_after_quiet_time():
    eng = engine(loitering={"fallback_limit_s": 100, "clear_after_s": 30}, stopped={"min_duration_s": 20, "clear_after_s": 30},
                 wrong_way={"clear_after_s": 30})
    states, alerts = feed(eng, incident(0, "loitering", 50), incident(1, "loitering", 130, zone_id="z"),
                          incident(2, "stopped", 25), incident(3, "wrong_way", 2, line_id="l1"))
    assert states == [("loitering", "open"), ("stopped_vehicle", "open"), ("wrong_way", "open")]
    assert alerts[0].details["limit_s"] == 100 and alerts[0].details["duration_s"] == 130
    states, _ = feed(eng, heartbeat(20))
    assert states == []  # not quiet long enough
    states, _ = feed(eng, heartbeat(40))
    assert sorted(states) == [("loitering", "resolved"), ("stopped_vehicle", "resolved"), ("wrong_way", "resolved")]


def test_camera_health_conditions_open_and_resolve():
    eng = engine()
    health = lambda s, cond, state: CameraHealth(camera_id=CAM, ts=at(s), condition=cond, state=state)
    states, alerts = feed(eng, health(0, "frozen", "raised"), health(1, "blackout", "raised"), health(2, "blur", "raised"),
                          health(5, "frozen", "cleared"), health(6, "blackout", "cleared"), health(7, "blur", "cleared"))
    assert states == [("camera_frozen", "open"), ("camera_blackout", "open"), ("camera_blur", "open"),
                      ("camera_frozen", "resolved"), ("camera_blackout", "resolved"), ("camera_blur", "resolved")]
    assert alerts[1].severity == "critical"


def test_camera_offline_runs_on_processing_time():
    eng = engine(offline={"after_s": 30})
    feed(eng, heartbeat(0), now=1000.0)
    assert eng.on_tick(1020.0) == []
    (alert,) = eng.on_tick(1031.0)
    assert (alert.rule, alert.state, alert.details["silent_s"]) == ("camera_offline", "open", 31.0)
    assert eng.on_tick(1040.0) == []  # still open; updates throttled
    states, _ = feed(eng, heartbeat(50), now=1045.0)
    assert states == [("camera_offline", "resolved")]


def test_cooldown_reopens_the_same_alert_and_later_trouble_is_a_new_one():
    eng = engine(cooldown_s=300, wrong_way={"clear_after_s": 10})
    _, first = feed(eng, incident(0, "wrong_way", 1), heartbeat(20))
    _, again = feed(eng, incident(100, "wrong_way", 1), heartbeat(120))
    _, later = feed(eng, incident(1000, "wrong_way", 1))
    assert [a.state for a in first + again] == ["open", "resolved", "open", "resolved"]
    assert first[0].alert_id == again[0].alert_id and again[0].details["reopened"] == 1
    assert later[0].alert_id != first[0].alert_id


def test_silence_holds_until_it_expires_and_unsilence_ends_it():
    eng = engine(stopped={"min_duration_s": 10, "clear_after_s": 1000})
    silence = AlertAction(camera_id=CAM, ts=at(0), alert_id="-", action="silence", actor="op", rule="stopped_vehicle",
                          silence_until=at(100))
    states, _ = feed(eng, silence, incident(10, "stopped", 20), incident(99, "stopped", 100))
    assert states == []
    states, _ = feed(eng, incident(101, "stopped", 110))
    assert states == [("stopped_vehicle", "open")]
    # A silence on another camera or rule does not hide this one
    other = AlertAction(camera_id="cam-9", ts=at(0), alert_id="-", action="silence", actor="op", rule="wrong_way",
                        silence_until=at(10_000))
    states, _ = feed(eng, other, incident(102, "wrong_way", 1))
    assert states == [("wrong_way", "open")]
    eng2 = engine()
    feed(eng2, AlertAction(camera_id=CAM, ts=at(0), alert_id="-", action="silence", actor="op", rule="wrong_way",
                           silence_until=at(10_000)))
    assert feed(eng2, incident(5, "wrong_way", 1))[0] == []
    feed(eng2, AlertAction(camera_id=CAM, ts=at(6), alert_id="-", action="unsilence", actor="op", rule="wrong_way"))
    assert feed(eng2, incident(7, "wrong_way", 1))[0] == [("wrong_way", "open")]


def test_operator_resolve_keeps_it_quiet_until_the_condition_clears():
    eng = engine(stopped={"min_duration_s": 10, "clear_after_s": 30})
    _, (opened,) = feed(eng, incident(0, "stopped", 20))
    resolve = AlertAction(camera_id=CAM, ts=at(5), alert_id=opened.alert_id, action="resolve", actor="op")
    states, alerts = feed(eng, resolve, incident(10, "stopped", 30))
    assert states == [("stopped_vehicle", "resolved")] and alerts[0].details["resolved_by"] == "op"
    feed(eng, heartbeat(60))  # cleared
    assert feed(eng, incident(1000, "stopped", 20))[0] == [("stopped_vehicle", "open")]


def _window(start_min: int, count: int, line: str = "l1") -> CountWindow:
    return CountWindow(camera_id=CAM, ts=at(start_min * 60), line_id=line, direction="in", cls="car", count=count)


def test_flow_baseline_raises_high_low_and_incident_signature_and_resolves():
    eng = engine(flow={"min_samples": 10, "z_high": 4, "z_low": 3, "min_sd": 2})
    learn = [_window(m, 30 + (m % 3) - 1) for m in range(12)]
    states, _ = feed(eng, *learn)
    assert states == []
    stats = eng.baseline.get(CAM, "l1", "in", week_slot(at(0).timestamp(), 60))
    assert stats is not None and stats.n == 11 and abs(stats.mean - 30) < 1  # window 11 awaits a later one
    states, alerts = feed(eng, _window(12, 90), _window(13, 30))
    assert states == [("flow_high", "open")]
    assert alerts[0].details["count"] == 90 and alerts[0].details["z"] >= 4
    # A drop plus a stopped vehicle: incident signature (and flow_low); then normal flow resolves all.
    states, alerts = feed(eng, incident(13 * 60 + 50, "stopped", 40), _window(14, 2), _window(15, 30))
    assert ("flow_high", "resolved") in states and ("flow_low", "open") in states and ("incident_signature", "open") in states
    sig = next(a for a in alerts if a.rule == "incident_signature")
    assert sig.severity == "critical" and sig.details["count"] == 2 and sig.details["stopped_vehicle_s_ago"] is not None
    states, _ = feed(eng, _window(16, 30))
    assert sorted(states) == [("flow_low", "resolved"), ("incident_signature", "resolved")]


def test_a_line_with_no_crossings_counts_as_zero_and_reemitted_windows_do_not_double():
    eng = engine(flow={"min_samples": 5})
    for m in range(8):
        feed(eng, _window(m, 20, "l1"), _window(m, 20, "l2"))
    feed(eng, _window(8, 20, "l1"))  # l2 silent in window 8
    states, alerts = feed(eng, _window(9, 20, "l1"), _window(3, 999, "l1"))
    assert ("flow_low", "open") in states and alerts[0].details["line_id"] == "l2" and alerts[0].details["count"] == 0
    assert eng.baseline.get(CAM, "l1", "in", week_slot(at(0).timestamp(), 60)).mean == pytest.approx(20)


def test_occupancy_window_feeds_the_incident_signature():
    eng = engine(flow={"min_samples": 5}, crowd={"max_occupancy": 10})
    for m in range(7):
        feed(eng, _window(m, 30))
    occupancy = OccupancyWindow(camera_id=CAM, ts=at(7 * 60), zone_id="lane", peak=9, mean=7.5)
    states, alerts = feed(eng, occupancy, _window(7, 1), _window(8, 30))
    assert ("incident_signature", "open") in states
    assert next(a for a in alerts if a.rule == "incident_signature").details["zone_peak"] == 9


def test_snapshot_round_trip_keeps_baseline_open_alerts_and_silences(tmp_path: Path):
    eng = engine(flow={"min_samples": 5})
    for m in range(7):
        feed(eng, _window(m, 30))
    feed(eng, incident(7 * 60, "wrong_way", 1), AlertAction(camera_id=CAM, ts=at(0), alert_id="-", action="silence",
                                                        actor="op", rule="crowd", silence_until=at(10_000)))
    path = tmp_path / "snap.json"
    write_atomically(path, eng.to_data())
    restored = engine(flow={"min_samples": 5})
    restored.restore(read_snapshot(path), now=0.0)
    assert restored.to_data() == json.loads(json.dumps(eng.to_data()))
    assert restored.book.is_open(CAM, "wrong_way")
    # Its pending auto-resolve survived too: quiet time after the restore clears it.
    assert ("wrong_way", "resolved") in feed(restored, heartbeat(7 * 60 + 61))[0]
    # The restored baseline judges at once
    assert ("flow_high", "open") in feed(restored, _window(7, 200), _window(8, 30))[0]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        read_snapshot(tmp_path / "bad.json")


@pytest.mark.parametrize(
    "text, issues",
    [
        (  # a camera's override with a typo, on its line
            "defaults:\n  crowd:\n    max_occupancy: 40\ncameras:\n  cam-1:\n    flow:\n      z_hihg: 3\n",
            [r"rules\.yaml:7: cameras\.cam-1\.flow\.z_hihg: unknown key"],
        ),
        ("defaults:\n  offline:\n    after_s: -1\n", [r"rules\.yaml:3: defaults\.offline\.after_s: Input should be greater than 0 \(got -1\)"]),
        (  # every problem at once, down the file: the defaults' and each camera's overrides'
            "defaults:\n  crowd: {max_occupancy: lots}\ncameras:\n  cam-1: {stopped: {seconds: 5}}\n  cam-2:\n    crowd: {clear_ratio: 2}\n",
            [r"rules\.yaml:2: defaults\.crowd\.max_occupancy: Input should be a valid integer.* \(got 'lots'\)"],
        ),
        (
            "cameras:\n  cam-1: {stopped: {seconds: 5}}\n  cam-2:\n    crowd: {clear_ratio: 2}\n",
            [r"rules\.yaml:2: cameras\.cam-1\.stopped\.seconds: unknown key", r"rules\.yaml:4: cameras\.cam-2\.crowd\.clear_ratio: Input should be less"],
        ),
        (  # a camera given twice: YAML would keep the second block and drop the first silently
            "cameras:\n  cam-1: {crowd: {max_occupancy: 5}}\n  cam-1: {flow: {z_high: 5}}\n",
            [r"rules\.yaml:3: cameras\.cam-1: key given twice"],
        ),
        ("defaults: [\n", [r"rules\.yaml:2: not valid YAML: "]),  # broken YAML, where it breaks
        ("- crowd\n", [r"rules\.yaml:1: expected a mapping with 'defaults' and 'cameras', got list"]),
    ],
)
def test_a_bad_rules_file_names_each_problem_by_line_and_key_path(tmp_path: Path, text: str, issues: list[str]):
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    found = [str(issue) for issue in caught.value.issues]
    assert len(found) == len(issues) and all(re.search(want, got) for want, got in zip(issues, found)), found


def test_a_rules_file_that_cannot_be_read_is_named(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read the file: No such file"):
        load_rules(tmp_path / "missing.yaml")
    (tmp_path / "latin.yaml").write_bytes(b"defaults: {}\n# V\xf9ng T\xe0u\n")  # saved by an editor in Latin-1
    with pytest.raises(ConfigError, match=r"latin\.yaml:2: cannot read the file: not UTF-8 text"):
        load_rules(tmp_path / "latin.yaml")


def test_a_camera_override_is_merged_over_the_defaults_key_by_key(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text("defaults:\n  crowd: {max_occupancy: 40}\ncameras:\n  cam-1: {crowd: {max_occupancy: 5}}\n")
    rules = load_rules(path)
    assert rules.for_camera("cam-1").crowd.max_occupancy == 5 and rules.for_camera("cam-2").crowd.max_occupancy == 40
    assert rules.for_camera("cam-1").crowd.clear_ratio == 0.9


def test_a_corrupt_snapshot_is_moved_aside_and_the_partition_starts_fresh(tmp_path: Path, caplog):
    import types

    from processors.alerting import AlertRouter
    from processors.settings import ProcessorSettings

    settings = ProcessorSettings(state_dir=tmp_path, app_id="unit")
    router = AlertRouter(app=types.SimpleNamespace(consumer_generation_id=0), settings=settings)
    path = tmp_path / "unit" / "alerts-p2.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"engine": {"version": 99}}')
    held = router._engine(2, 0)
    assert len(held.engine.baseline) == 0 and not path.exists()
    assert len(list(path.parent.glob("alerts-p2.json.corrupt-*"))) == 1
    assert "moved it to" in caplog.text
