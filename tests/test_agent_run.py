"""The agent end to end: the CLI on synthetic scenes and the real vtest.avi, to JSON lines and to
the real broker; many cameras with one broken, dealt among worker processes, and stopped as a
container is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from camera_agents.cli import app
from camera_agents.config import AnalyticsConfig, load_camera
from camera_agents.evaluation import score_crossings
from camera_agents.people_counts import people_in_view_errors
from camera_agents.sources import open_source
from ingest.bus import BusSettings
from ingest.contract import CameraHealth, CameraInfo, FrameEvent, LineCrossing, ZoneOccupancy, decode
from tests.busutil import read_topic
from tests.media import vtest_path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "camera_agents" / "examples"
runner = CliRunner()


def events_of(path: Path) -> list:
    return [decode(line) for line in path.read_bytes().splitlines()]


def run_example(example: str | Path, spec: str, folder: Path) -> list:
    """The events ``ioc agent run`` sends for an example camera (or a camera file) on the scene
    ``spec``, through a JSON-lines sink."""
    out = folder / "events.jsonl"
    result = runner.invoke(app, ["run", "--config", str(EXAMPLES / example), "--source", spec, "--sink", f"jsonl:{out}", "--no-progress"])
    assert result.exit_code == 0, result.output
    return events_of(out)


def test_run_synthetic_scene_to_jsonl_counts_like_the_ground_truth(tmp_path):
    spec = "synthetic:traffic?seed=4&frames=500&start=2026-03-01T07:00:00Z"
    events = run_example("synthetic_traffic.yaml", spec, tmp_path)
    kinds = {type(e) for e in events}
    assert {CameraInfo, FrameEvent, LineCrossing, ZoneOccupancy} <= kinds
    crossing = next(e for e in events if isinstance(e, LineCrossing))
    assert crossing.camera_id == "synthetic-traffic-1" and crossing.direction in ("in", "out") and crossing.track_id > 0
    assert crossing.ts.isoformat().startswith("2026-03-01T07:0") and crossing.frame_no >= 0
    frames = [e for e in events if isinstance(e, FrameEvent)]
    stride = AnalyticsConfig().stride_at(25.0)  # the synthetic scene runs at 25 fps
    assert all(f.frame_no % stride == 0 for f in frames) and frames[0].frame_no == 0  # analysed frames only
    # A sample: every change of the tracks, else the first frame of each second (never a longer gap
    # than a second plus one analysis).
    assert len(frames) < len(range(0, 500, stride))
    gaps = [(b.ts - a.ts).total_seconds() for a, b in zip(frames, frames[1:])]
    assert max(gaps) <= 1.0 + stride / 25 + 1e-6
    changed = [{o.track_id for o in a.objects} != {o.track_id for o in b.objects} for a, b in zip(frames, frames[1:])]
    new_second = [int(b.ts.timestamp()) != int(a.ts.timestamp()) for a, b in zip(frames, frames[1:])]
    assert all(ch or second for ch, second in zip(changed, new_second))
    assert sum(new_second) >= 500 / 25 - 1  # one in each second at least
    truth = open_source(spec).truth.crossings
    score = score_crossings(truth, [e for e in events if isinstance(e, LineCrossing)])
    assert score.repeated_tracks == 0
    assert sum(score.matched.values()) >= 0.85 * len(truth), score  # the accuracy bar is tested over whole scenes


def entrance_counts(events: list, truth, limit: int) -> tuple[float, list[bool]]:
    """The entrance zone's occupancy as sent (on change, and every few seconds) held from frame
    to frame, against the people there, once the background is learnt (frame 150 on): its mean
    absolute error, and per frame with more people than ``limit`` whether it was seen crowded."""
    held = {e.frame_no: e.count for e in events if isinstance(e, ZoneOccupancy) and e.zone_id == "entrance"}
    count, errors, crowded = 0, [], []
    for frame, true in enumerate(truth.occupancy["entrance"]):
        count = held.get(frame, count)
        if frame >= 150:
            errors.append(abs(count - true))
            if true > limit:
                crowded.append(count > limit)
    return sum(errors) / len(errors), crowded


@pytest.mark.parametrize(
    ("calibrated", "occupancy_mae", "frames_scored"),
    [
        # Measured 0.67 people off a frame, seen crowded on 0.96 of the frames it was, the people
        # in view 1.06 off. When a group was one person: 2.3 and 0.06; when people seen from this
        # pole, squatter than tall, were named unknown, the people in view 10.7 off; 0.84 when a
        # group's people were laid out anew each frame.
        (True, 1.2, 100),
        # Without its calibration, one person's height at each row learned first: 1.02 off, seen
        # crowded on 0.95, the people in view 1.76 off; 2.80, 0.02 and 3.96 when a group was one
        # person. Its frame events change less often (fewer pieces), so fewer are scored.
        (False, 1.5, 60),
    ],
)
def test_the_example_crowd_camera_counts_the_people_in_groups(tmp_path, calibrated, occupancy_mae, frames_scored):
    spec = "synthetic:crowd?seed=1&frames=750"
    camera = yaml.safe_load((EXAMPLES / "synthetic_crowd.yaml").read_text(encoding="utf-8"))
    if not calibrated:
        del camera["calibration"]
    path = tmp_path / "camera.yaml"
    path.write_text(yaml.safe_dump(camera, allow_unicode=True), encoding="utf-8")
    events = run_example(path, spec, tmp_path)
    truth = open_source(spec).truth
    error, crowded = entrance_counts(events, truth, camera["zones"][0]["max_occupancy"])
    assert error <= occupancy_mae
    assert len(crowded) >= 100 and sum(crowded) >= 0.7 * len(crowded)
    # The people in view, as the frame events name them, against those the scene shows (more
    # than a sliver: 150 px² of them).
    in_view = people_in_view_errors(events, truth.boxes, from_frame=150)
    assert len(in_view) >= frames_scored and sum(map(abs, in_view.values())) / len(in_view) <= 2.5


def test_a_crowd_standing_at_the_entrance_for_minutes_stays_counted(tmp_path):
    # A group of five gathers in the entrance zone 36-90 s in and stands there to the end of the
    # three minutes, with people loitering around it. Measured in the last 30 s: 14.0 people
    # counted of 15.6 there, crowded all along; with a traffic camera's background history (the
    # standing people melting into the background in 36 s) 3.5, crowded on a quarter of it.
    spec = "synthetic:crowd?variant=waiting&seed=1&frames=4500"
    events = run_example("synthetic_crowd.yaml", spec, tmp_path)
    truth = open_source(spec).truth.occupancy["entrance"]
    held = {e.frame_no: e.count for e in events if isinstance(e, ZoneOccupancy) and e.zone_id == "entrance"}
    count, counted = 0, []
    for frame in range(len(truth)):
        count = held.get(frame, count)
        counted.append(count)
    last = slice(len(truth) - 750, None)
    assert sum(counted[last]) >= 0.75 * sum(truth[last])
    assert all(c > 4 for c, t in zip(counted[last], truth[last]) if t > 4)


def test_people_walking_through_the_plaza_gate_in_groups_are_counted_once_each(tmp_path):
    spec = "synthetic:crowd?seed=2&frames=1500"
    events = run_example("synthetic_crowd.yaml", spec, tmp_path)
    truth = open_source(spec).truth.crossings
    wrong = 0
    for direction in ("in", "out"):
        counted = sum(isinstance(e, LineCrossing) and e.direction == direction for e in events)
        wrong += abs(counted - sum(c.direction == direction for c in truth))
    # 17 people cross the gate, some of them side by side or one behind the other. Measured 1
    # wrong; 4 too many out when a group was laid out anew each frame, and a person's feet jumped
    # back across the line as the count its blob's area read changed.
    assert len(truth) >= 15 and wrong <= 2


def test_a_clouds_edge_sweeping_the_plaza_is_not_counted_as_people(tmp_path):
    spec = "synthetic:crowd?seed=307&frames=1500"  # a cloud's shadow crosses the plaza 35-43 s in
    events = run_example("synthetic_crowd.yaml", spec, tmp_path)
    too_many = people_in_view_errors(events, open_source(spec).truth.boxes, from_frame=150)
    # At most 2 people too many on any frame; 13 when its edge, through which the paving shows,
    # was cut into people by its area.
    assert len(too_many) >= 150 and max(too_many.values()) <= 2


def test_run_to_kafka_and_read_the_crossings_back(bus: BusSettings, tmp_path):
    spec = "synthetic:traffic?seed=5&frames=300"
    jsonl = tmp_path / "same.jsonl"
    common = ["run", "--config", str(EXAMPLES / "synthetic_traffic.yaml"), "--source", spec, "--no-progress"]
    result = runner.invoke(
        app, [*common, "--sink", "kafka", "--bootstrap", bus.bootstrap, "--namespace", bus.namespace, "--spool-dir", str(tmp_path / "spool")]
    )
    assert result.exit_code == 0, result.output
    assert "0 spooled" in result.output
    runner.invoke(app, [*common, "--sink", f"jsonl:{jsonl}"])
    expected = [e for e in events_of(jsonl) if isinstance(e, LineCrossing)]
    assert len(expected) >= 5
    records = read_topic(bus, bus.topics.crossings, expect=len(expected))
    got = [decode(r.value) for r in records]
    assert {r.key for r in records} == {b"synthetic-traffic-1"}
    # The same analysis, so the same crossings (ids and timestamps differ between the two runs).
    strip = lambda c: (c.frame_no, c.line_id, c.direction, c.cls, c.track_id)  # noqa: E731
    assert sorted(map(strip, got)) == sorted(map(strip, expected))
    infos = [decode(r.value) for r in read_topic(bus, bus.topics.health, expect=1)]
    assert any(isinstance(e, CameraInfo) and e.name.startswith("Ngã tư") for e in infos)


def test_run_on_vtest_finds_pedestrians(tmp_path):
    video = vtest_path()
    out = tmp_path / "vtest.jsonl"
    result = runner.invoke(
        app, ["run", "--config", str(EXAMPLES / "vtest.yaml"), "--source", str(video), "--sink", f"jsonl:{out}", "--frames", "150", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    events = events_of(out)
    frames = [e for e in events if isinstance(e, FrameEvent)]
    assert frames and all(f.width == 768 and f.height == 576 for f in frames)
    people = [o for f in frames[10:] for o in f.objects]
    # The campus path always has a few people walking: most analysed frames show some, as people.
    assert sum(1 for f in frames[10:] if f.objects) >= 0.8 * len(frames[10:])
    assert sum(o.cls == "person" for o in people) >= 0.6 * len(people)
    heights = sorted(o.bbox[3] - o.bbox[1] for o in people)
    assert 40 <= heights[len(heights) // 2] <= 160  # boxes the size of a person, not of the scene
    assert any(isinstance(e, (LineCrossing, ZoneOccupancy)) for e in events)


def test_hog_detector_finds_people_in_vtest():
    import cv2

    from camera_agents.config import HogDetectorConfig
    from camera_agents.learned import HogDetector

    capture = cv2.VideoCapture(str(vtest_path()))
    detector = HogDetector(HogDetectorConfig(scale=1.6))
    found = []
    for index in range(60):
        ok, image = capture.read()
        assert ok
        if index % 20 == 0:
            found.append(detector.detect(image))
    capture.release()
    assert all(len(d) >= 1 for d in found)
    assert all(set(d.class_names) == {"person"} for d in found)


def test_many_cameras_one_broken_does_not_stop_the_others(tmp_path):
    folder = tmp_path / "cameras"
    folder.mkdir()
    good = yaml.safe_load((EXAMPLES / "synthetic_traffic.yaml").read_text(encoding="utf-8"))
    good["source"] = "synthetic:traffic?seed=6&frames=120"
    (folder / "good.yaml").write_text(yaml.safe_dump(good, allow_unicode=True), encoding="utf-8")
    broken = dict(good, camera_id="broken-cam", source=str(tmp_path / "missing.mp4"))
    (folder / "broken.yaml").write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "events.jsonl"
    result = runner.invoke(app, ["run", "--config-dir", str(folder), "--sink", f"jsonl:{out}", "--no-progress", "--timeout", "60"])
    assert result.exit_code == 1  # one camera failed ...
    assert "synthetic-traffic-1: 120 frames" in result.output and "broken-cam: 0 frames" in result.output
    events = events_of(out)
    analysed = len(range(0, 120, AnalyticsConfig().stride_at(25.0)))
    sent = sum(isinstance(e, FrameEvent) and e.camera_id == "synthetic-traffic-1" for e in events)
    assert 120 // 25 <= sent <= analysed  # ... the other ran its 4.8 s: at least a frame a second
    lost = [e for e in events if isinstance(e, CameraHealth) and e.camera_id == "broken-cam"]
    assert lost and lost[0].condition == "source_lost" and "missing.mp4" in lost[0].detail


def camera_folder(folder: Path, seeds: tuple[int, ...], frames: int) -> Path:
    """A folder of the example traffic camera's copies, one per synthetic scene seed."""
    folder.mkdir()
    example = yaml.safe_load((EXAMPLES / "synthetic_traffic.yaml").read_text(encoding="utf-8"))
    for seed in seeds:
        camera = dict(example, camera_id=f"cam-{seed}", source=f"synthetic:traffic?seed={seed}&frames={frames}&start=2026-03-01T07:00:00Z")
        (folder / f"cam-{seed}.yaml").write_text(yaml.safe_dump(camera, allow_unicode=True), encoding="utf-8")
    return folder


def test_cameras_dealt_among_worker_processes_count_as_in_one(tmp_path):
    folder = camera_folder(tmp_path / "cameras", (6, 7, 8), 150)
    alone, shared = tmp_path / "alone.jsonl", tmp_path / "shared.jsonl"
    assert runner.invoke(app, ["run", "--config-dir", str(folder), "--sink", f"jsonl:{alone}", "--no-progress"]).exit_code == 0
    command = [sys.executable, "-m", "ioc", "agent", "run", "--config-dir", str(folder), "--workers", "2", "--sink", f"jsonl:{shared}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    # Two processes, the cameras dealt by turns; each camera's result reported once.
    assert "worker 1 of 2: cameras cam-6, cam-8" in result.stderr and "worker 2 of 2: cameras cam-7" in result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["cam-6", "cam-7", "cam-8"]
    assert all(line.endswith(" ok") and " 150 frames " in line for line in result.stdout.splitlines())
    # The same analysis, so the same crossings and frames per camera (ids differ between runs).
    same = lambda e: (e.camera_id, e.frame_no, e.line_id, e.direction, e.cls, e.track_id)  # noqa: E731
    crossed = {path: sorted(same(e) for e in events_of(path) if isinstance(e, LineCrossing)) for path in (alone, shared)}
    assert len({c[0] for c in crossed[alone]}) == 3 and crossed[shared] == crossed[alone]
    frames = {path: sorted((e.camera_id, e.frame_no) for e in events_of(path) if isinstance(e, FrameEvent)) for path in (alone, shared)}
    assert frames[shared] == frames[alone]


def test_a_stopped_agent_ends_its_workers_cameras_in_order(tmp_path):
    folder = camera_folder(tmp_path / "cameras", (6, 7), 2000)  # 80 s each at their own pace
    out, state = tmp_path / "events.jsonl", tmp_path / "state"
    command = [sys.executable, "-m", "ioc", "agent", "run", "--config-dir", str(folder), "--workers", "2", "--realtime",
               "--sink", f"jsonl:{out}"]  # fmt: skip
    env = {**os.environ, "IOC_STATE_DIR": str(state)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # both cameras past the 10 s their view takes to learn
            seen = [e for e in events_of(out) if isinstance(e, FrameEvent)] if out.exists() else []
            if {e.camera_id for e in seen if e.frame_no >= 300} == {"cam-6", "cam-7"}:
                break
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)  # as a container is stopped
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    # Each worker stopped its camera as Ctrl-C does: results reported, each view and road kept.
    assert [line.split(":")[0] for line in stdout.splitlines() if line.endswith(" ok")] == ["cam-6", "cam-7"], (stdout, stderr)
    for camera in ("cam-6", "cam-7"):
        with np.load(state / "views" / f"{camera}.npz") as kept:
            assert "road" in kept.files and kept["road"].ndim == 3


def test_events_a_run_with_more_workers_left_waiting_are_sent_by_the_next(bus: BusSettings, tmp_path):
    from camera_agents.publish import DiskSpool
    from ingest.contract import encode

    folder = camera_folder(tmp_path / "cameras", (6, 7), 60)
    left = [LineCrossing(camera_id="cam-7", ts=datetime(2026, 3, 1, 7, 0, i, tzinfo=UTC), frame_no=i, line_id="stop_line",
                         direction="in", cls="car", track_id=900 + i) for i in range(4)]  # fmt: skip
    spool = DiskSpool(tmp_path / "spool" / "cameras-worker2")  # the second worker's, a run with two of them
    spool.append([encode(e) for e in left])
    spool.close()
    result = runner.invoke(app, ["run", "--config-dir", str(folder), "--sink", "kafka", "--bootstrap", bus.bootstrap,
                                 "--namespace", bus.namespace, "--spool-dir", str(tmp_path / "spool"), "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 replayed" in result.output and not (tmp_path / "spool" / "cameras-worker2").exists()
    sent = [decode(r.value) for r in read_topic(bus, bus.topics.crossings, expect=5)]
    assert {e.event_id for e in left} <= {e.event_id for e in sent}


def test_bad_config_exits_with_the_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "vtest.yaml").read_text(encoding="utf-8").replace("kind: security", "kind: parking"), encoding="utf-8")
    result = runner.invoke(app, ["run", "--config", str(bad), "--sink", f"jsonl:{tmp_path / 'x.jsonl'}"])
    assert result.exit_code == 2
    assert f"{bad}:" in result.output and "kind" in result.output and "'parking'" in result.output
    checked = runner.invoke(app, ["check", "--config-dir", str(EXAMPLES)])
    assert checked.exit_code == 0 and "vtest-campus: ok" in checked.output


def test_a_substream_counts_on_lines_drawn_on_the_main_stream_and_another_shape_is_refused(tmp_path):
    # The example camera's lines are drawn on 960x540; a source sending 640x360 pictures (a substream) gets them scaled.
    config = EXAMPLES / "synthetic_traffic.yaml"
    out = tmp_path / "sub.jsonl"
    sub = "synthetic:traffic?seed=1&frames=200&width=640&height=360"
    result = runner.invoke(app, ["run", "--config", str(config), "--source", sub, "--sink", f"jsonl:{out}", "--no-progress"])
    assert result.exit_code == 0, result.output
    events = events_of(out)
    frames = [e for e in events if isinstance(e, FrameEvent)]
    assert frames and {(f.width, f.height) for f in frames} == {(640, 360)}
    announced = [e for e in events if isinstance(e, CameraInfo)]
    # announced again on the first frame in the pictures' pixels, so the wall draws the lines where the boxes are
    assert max(x for line in announced[-1].lines for x, _ in line.points) <= 640
    # 640x480 is another shape: the lines cannot be placed on it
    other = "synthetic:traffic?seed=1&frames=50&width=640&height=480"
    result = runner.invoke(app, ["run", "--config", str(config), "--source", other, "--sink", f"jsonl:{tmp_path / 'x.jsonl'}", "--no-progress"])
    assert result.exit_code == 1  # the camera failed, saying why
    assert "resolution: lines, zones and calibration are drawn on a 960x540 picture but the source sends 640x480, another shape" in result.output


def test_run_vtest_to_kafka(bus: BusSettings, tmp_path):
    # Full-rate frames (a camera whose live view needs every analysed frame's positions).
    config = yaml.safe_load((EXAMPLES / "vtest.yaml").read_text(encoding="utf-8"))
    config.setdefault("analytics", {})["frame_every_s"] = 0
    full_rate = tmp_path / "vtest.yaml"
    full_rate.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(
        app,
        ["run", "--config", str(full_rate), "--source", str(vtest_path()), "--frames", "60", "--sink", "kafka",
         "--bootstrap", bus.bootstrap, "--namespace", bus.namespace, "--spool-dir", str(tmp_path / "spool"), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    analysed = len(range(0, 60, load_camera(EXAMPLES / "vtest.yaml").analytics.stride_at(10.0)))
    frames = [decode(r.value) for r in read_topic(bus, bus.topics.frames, expect=analysed)]
    assert len(frames) == analysed and {f.camera_id for f in frames} == {"vtest-campus"}
    assert sum(len(f.objects) for f in frames) > analysed  # people on the path, a few per frame
