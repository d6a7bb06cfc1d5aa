"""The live path against a real RTSP server (GStreamer's gst-rtsp-server, tests/rtsp_server.py run
by Debian's system Python): counting from an H.264 stream of a synthetic scene, the server killed
mid-stream and started again, and credentials the server refuses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import yaml

from camera_agents.sources import Frame, SourceError, SourceUnavailable
from camera_agents.sources.video import LiveSettings, LiveSource
from dashboards.desk.server import free_port
from ingest.contract import CameraHealth, FrameEvent, LineCrossing, decode
from tests.media import synthetic_video
from tests.rtsp_camera import ROOT, RtspServer

SCENE = "synthetic:traffic?seed=4&frames=400"  # 16 s at 25 fps
PASSWORD = "s3cret-Pw9"


@pytest.fixture
def servers():
    started: list[RtspServer] = []

    def start(
        video: Path, port: int | None = None, *, user: str | None = None, report_fps: int | None = None, codec: str = "h264"
    ) -> RtspServer:
        server = RtspServer(video, port or free_port(), user=user, password=PASSWORD, report_fps=report_fps, codec=codec).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def scene_video() -> Path:
    return synthetic_video(SCENE, codec="MJPG")


def agent(camera: Path, out: Path, *, timeout_s: float) -> subprocess.Popen:
    """``ioc agent run`` in its own process, events to a JSON-lines file."""
    code = "from camera_agents.cli import app; app()"
    command = [sys.executable, "-c", code, "run", "--config", str(camera), "--sink", f"jsonl:{out}", "--timeout", str(timeout_s), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def camera_file(tmp_path: Path, video: Path, source: str) -> Path:
    config = json.loads(Path(f"{video}.camera.json").read_text(encoding="utf-8"))
    config["source"] = source
    # Every analysed frame published: the tests follow frame numbers across an outage.
    config.setdefault("analytics", {})["frame_every_s"] = 0
    path = tmp_path / "camera.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def events_in(path: Path) -> list:
    return [decode(line) for line in path.read_bytes().splitlines()] if path.exists() else []


@pytest.mark.parametrize(
    "codec",
    [
        # what most cameras still send by default
        "h264",
        # what many newer ones send to halve the bandwidth
        "h265",
    ],
)
def test_opencv_reads_the_rtsp_stream(servers, scene_video, codec):
    server = servers(scene_video, codec=codec)
    source = LiveSource.for_url(server.url())
    try:
        frames = []
        deadline = time.monotonic() + 10
        while len(frames) < 10 and time.monotonic() < deadline:
            item = source.read()
            if isinstance(item, Frame):
                frames.append(item)
        assert (source.info.width, source.info.height) == (960, 540)
        assert len(frames) == 10 and [f.index for f in frames] == list(range(10))
        assert frames[-1].image.shape == (540, 960, 3) and frames[-1].image.std() > 5  # a picture, not a grey error frame
    finally:
        source.close()


def test_a_live_camera_converts_only_the_pictures_its_reader_will_look_at(servers, scene_video):
    server = servers(scene_video)
    source = LiveSource.for_url(server.url())
    try:
        source.want_pictures(lambda index: index % 3 == 0)  # an agent analysing every third frame
        frames = []
        deadline = time.monotonic() + 15
        while len(frames) < 30 and time.monotonic() < deadline:
            item = source.read(picture=len(frames) % 3 == 0)
            if isinstance(item, Frame):
                frames.append(item)
        assert [f.index for f in frames] == list(range(30))
        assert all(f.image is not None and f.image.shape == (540, 960, 3) for f in frames if f.index % 3 == 0)
        # The source's thread may have read a frame or two with its picture before it was told.
        assert all(f.image is None for f in frames if f.index % 3 and f.index > 3), [f.index for f in frames if f.image is not None]
        # A picture asked for that was not announced still comes.
        for index in (30, 31):
            item = source.read(picture=True)
            while not isinstance(item, Frame) and time.monotonic() < deadline:
                item = source.read(picture=True)
            assert isinstance(item, Frame) and item.index == index and item.image is not None and item.image.std() > 5
    finally:
        source.close()


def test_agent_counts_from_rtsp_and_carries_on_after_the_server_restarts(servers, scene_video, tmp_path):
    from camera_agents.sources.synthetic import load_truth

    server = servers(scene_video)
    out = tmp_path / "events.jsonl"
    process = agent(camera_file(tmp_path, scene_video, server.url()), out, timeout_s=30)
    try:
        deadline = time.monotonic() + 20
        while not any(isinstance(e, FrameEvent) and e.frame_no >= 200 for e in events_in(out)) and time.monotonic() < deadline:
            time.sleep(0.3)  # 8 s of stream
        server.kill()
        time.sleep(4)  # longer than the agent's 2 s before a source is lost
        server.start()  # same port: the camera is back, its stream starts again from the beginning
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    events = events_in(out)
    health = [e for e in events if isinstance(e, CameraHealth) and e.condition == "source_lost"]
    assert [e.state for e in health] == ["raised", "cleared"], (health, output)
    lost, back = health[0].ts, health[1].ts
    frames = [e for e in events if isinstance(e, FrameEvent)]
    numbers = [f.frame_no for f in frames]
    assert numbers == sorted(set(numbers)), "frame numbers went back or repeated after the reconnect"
    before = [f for f in frames if f.ts < lost]
    after = [f for f in frames if f.ts > back]
    assert len(before) >= 50 and len(after) >= 50, output  # analysed frames on both sides of the outage
    assert after[0].frame_no > before[-1].frame_no
    # Counting goes on after the outage, and before it matches the scene's ground truth for the
    # stretch of video that was played. Each session plays the scene from its start, in real time;
    # the first frames reach the agent after FFmpeg has probed the stream (a second or two), and a
    # busy agent drops frames, so the stretch is known from the frames' clock to within a few seconds.
    crossings = [e for e in events if isinstance(e, LineCrossing)]
    assert any(c.ts > back for c in crossings), output
    truth = load_truth(scene_video)
    played_s = (before[-1].ts - before[0].ts).total_seconds()
    counted = sum(1 for c in crossings if c.ts < lost)
    surely = sum(1 for c in truth.crossings if c.frame_index / truth.fps < played_s - 1.0)
    at_most = sum(1 for c in truth.crossings if c.frame_index / truth.fps < played_s + 3.0)
    assert surely >= 5 and 0.9 * surely <= counted <= at_most + 1, (counted, surely, at_most, played_s)


def test_agent_follows_the_rate_a_stream_sends_not_the_one_it_reports(servers, tmp_path):
    video = synthetic_video("synthetic:traffic?seed=4&frames=200&fps=10", codec="MJPG")  # 20 s at 10 fps
    server = servers(video, report_fps=25)
    source = LiveSource.for_url(server.url())
    source.close()
    assert source.info.fps == 25.0  # what the stream says of itself
    out = tmp_path / "events.jsonl"
    process = agent(camera_file(tmp_path, video, server.url()), out, timeout_s=14)
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    said = re.search(r"sends ([\d.]+) frames a second, not 25\.0: every 1 frame\(s\) analysed", output)
    assert said and 9.0 <= float(said.group(1)) <= 11.0, output
    # Every third frame analysed at first, as for 25 fps; every frame once the rate is measured.
    numbers = [e.frame_no for e in events_in(out) if isinstance(e, FrameEvent)]
    steps = [b - a for a, b in zip(numbers, numbers[1:])]
    assert steps[:5] == [3] * 5 and len(steps) > 60 and set(steps[-40:]) == {1}, numbers


def test_tune_says_what_rate_a_stream_sends_and_what_it_reports(servers, tmp_path):
    video = synthetic_video("synthetic:traffic?seed=4&frames=200&fps=10", codec="MJPG")
    server = servers(video, report_fps=25)
    out = tmp_path / "report"
    code = "from camera_agents.cli import app; app()"
    command = [sys.executable, "-c", code, "tune", "--config", str(camera_file(tmp_path, video, server.url())), "--seconds", "8", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["reported_fps"] == 25.0 and 9.0 <= report["source_fps"] <= 11.0 and report["stride"] == 1, report
    assert "reported_rate" in [w["kind"] for w in report["warnings"]], report["warnings"]
    assert "(it reports 25.0)" in (out / "report.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "credentials, said",
    [
        # the wrong password: the camera's refusal, the user name, never the password
        (f"cam:not-{PASSWORD}@", "refused the user name 'cam' or its password"),
        # no credentials at all for a camera that wants them
        ("", "wants a user name and password"),
    ],
)
def test_rtsp_credentials_refused_is_a_clear_error(servers, scene_video, credentials, said):
    server = servers(scene_video, user="cam")
    with pytest.raises(SourceError) as error:
        LiveSource.for_url(server.url(credentials), LiveSettings(open_timeout_s=3, read_timeout_s=3))
    assert said in str(error.value) and PASSWORD not in str(error.value)
    # The right ones open it: the server really checks.
    source = LiveSource.for_url(server.url(f"cam:{PASSWORD}@"))
    source.close()


def test_agent_with_a_wrong_password_fails_clearly_without_leaking_it(servers, scene_video, tmp_path):
    server = servers(scene_video, user="cam")
    wrong = f"wrong-{PASSWORD}"
    out = tmp_path / "events.jsonl"
    process = agent(camera_file(tmp_path, scene_video, server.url(f"cam:{wrong}@")), out, timeout_s=5)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert "refused the user name 'cam' or its password" in output and "cam:***@127.0.0.1" in output
    assert wrong not in output and PASSWORD not in output
    lost = [e for e in events_in(out) if isinstance(e, CameraHealth) and e.condition == "source_lost"]
    assert lost and all("refused the user name" in e.detail and PASSWORD not in e.detail for e in lost)
    assert PASSWORD not in out.read_text(encoding="utf-8")


def test_a_snapshot_of_a_camera_whose_address_holds_its_password_never_shows_it(servers, scene_video, tmp_path):
    server = servers(scene_video, user="cam")
    out = tmp_path / "view.png"
    code = "from camera_agents.cli import app; app()"
    command = [sys.executable, "-c", code, "snapshot", "--source", server.url(f"cam:{PASSWORD}@"), "--frame", "5", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert cv2.imread(str(out)) is not None
    assert "of rtsp://cam:***@127.0.0.1:" in result.stdout and PASSWORD not in result.stdout + result.stderr


def test_nothing_listening_is_said_so(tmp_path):
    with pytest.raises(SourceUnavailable, match=r"no RTSP server answers at 127\.0\.0\.1:\d+"):
        LiveSource.for_url(f"rtsp://cam:{PASSWORD}@127.0.0.1:{free_port()}/cam", LiveSettings(open_timeout_s=2, read_timeout_s=2))
