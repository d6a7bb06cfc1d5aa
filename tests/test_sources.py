"""Frame sources on real media: video files (a rendered synthetic scene and the real vtest.avi),
broken files, realtime pacing, and live streams that break and come back."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera_agents.health import HealthMonitor, HealthSettings
from camera_agents.sources import Frame, FrameSource, SourceError, SourceOutage, SourceUnavailable, open_source
from camera_agents.sources.synthetic import load_truth
from camera_agents.sources.video import LiveSettings, LiveSource
from ingest.contract import CameraHealth
from tests.media import MjpegCamera, synthetic_video, vtest_path

START = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
SHORT_TRAFFIC = "synthetic:traffic?seed=11&frames=60"


def _read_all(source: FrameSource) -> list[Frame]:
    frames = []
    while (item := source.read()) is not None:
        assert isinstance(item, Frame)
        frames.append(item)
    return frames


@pytest.fixture(scope="module")
def traffic_video() -> Path:
    return synthetic_video(SHORT_TRAFFIC)


def test_a_rendered_synthetic_video_reads_back_frame_for_frame(traffic_video: Path) -> None:
    source = open_source(str(traffic_video), start_time=START)
    assert isinstance(source, FrameSource)
    assert (source.info.width, source.info.height, source.info.fps, source.info.live) == (960, 540, 25.0, False)
    assert source.frame_count == 60
    frames = _read_all(source)
    assert [f.index for f in frames] == list(range(60))
    assert [f.ts for f in frames] == [START + timedelta(seconds=i / 25) for i in range(60)]
    assert source.read() is None  # stays ended
    # The decoded pictures are the rendered ones, up to compression.
    rendered = open_source(SHORT_TRAFFIC)
    for frame in frames[::15]:
        original = rendered.scene.render(frame.index)
        assert frame.image.shape == original.shape and frame.image.dtype == np.uint8
        assert cv2.PSNR(frame.image, original) > 26
    # The truth travels with the video.
    assert load_truth(traffic_video) == rendered.truth.__class__.from_json(rendered.truth.to_json(with_boxes=True))


def test_vtest_avi_the_real_recording() -> None:
    source = open_source(str(vtest_path()), start_time=START)
    assert (source.info.width, source.info.height, source.info.fps) == (768, 576, 10.0)
    stamps, kept = [], {}
    while (frame := source.read()) is not None:
        stamps.append((frame.index, frame.ts))
        if frame.index in (100, 101, 794):
            kept[frame.index] = frame.image
    assert len(stamps) == 795 == source.frame_count
    assert [i for i, _ in stamps] == list(range(795))
    assert stamps[-1][1] - stamps[0][1] == timedelta(seconds=79.4)
    assert all(image.shape == (576, 768, 3) for image in kept.values())
    # A real camera: consecutive frames differ (people walk, the sensor is noisy).
    assert np.abs(kept[100].astype(int) - kept[101]).mean() > 0.5
    source.close()


def test_realtime_paces_files_and_synthetic_scenes_to_their_frame_rate(traffic_video: Path) -> None:
    for spec in (str(traffic_video), SHORT_TRAFFIC):
        started = time.monotonic()
        source = open_source(spec, realtime=True)
        opened = time.monotonic()
        frames = [source.read() for _ in range(16)]
        paced = time.monotonic() - opened
        assert all(isinstance(f, Frame) for f in frames)
        assert 0.55 <= paced < 2.5, (spec, paced)  # 15 frame intervals at 25 fps = 0.6 s
        source.close()
        assert started <= opened
    fast = open_source(str(traffic_video))
    started = time.monotonic()
    assert len(_read_all(fast)) == 60
    assert time.monotonic() - started < 2.4  # far quicker than the 2.4 s the clip lasts


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.mp4", "does not exist"),
        (lambda d: d, "is not a file"),
        (lambda d: _write(d / "empty.mp4", b""), "cannot be decoded"),
        (lambda d: _write(d / "garbage.mp4", np.random.default_rng(1).bytes(200_000)), "cannot be decoded"),
        (lambda d: _write(d / "text.avi", b"this is not a video\n" * 500), "cannot be decoded"),
    ],
)
def test_broken_files_are_clear_errors(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(SourceError, match=message) as caught:
        open_source(str(path))
    assert str(path) in str(caught.value)


def test_a_truncated_mp4_is_a_clear_error(tmp_path: Path, traffic_video: Path) -> None:
    data = traffic_video.read_bytes()
    truncated = _write(tmp_path / "cut.mp4", data[: len(data) // 2])  # its index (moov) is at the end
    with pytest.raises(SourceError, match="cannot be decoded|no decodable frame"):
        open_source(str(truncated))


def test_a_truncated_avi_yields_what_it_has_and_ends_cleanly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = vtest_path().read_bytes()
    truncated = _write(tmp_path / "cut.avi", data[: len(data) * 2 // 5])
    source = open_source(str(truncated))
    with caplog.at_level(logging.WARNING, logger="camera_agents.sources.video"):
        count = sum(1 for _ in iter(source.read, None))
    assert 200 < count < 795
    assert source.frame_count in (None, 795)
    if source.frame_count == 795:
        assert "truncated" in caplog.text


# --------------------------------------------------------------------------- live streams


def _closed_port() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return port


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_a_stream_that_cannot_be_reached_at_start_is_a_clear_error(scheme: str) -> None:
    url = f"{scheme}://admin:secret@127.0.0.1:{_closed_port()}/stream"
    started = time.monotonic()
    # A camera nothing answers for may come back: a service to try again (exit 3), not input to fix.
    with pytest.raises(SourceUnavailable, match="cannot read from") as caught:
        open_source(url)
    assert time.monotonic() - started < 10
    assert "127.0.0.1" in str(caught.value) and "secret" not in str(caught.value)


def test_a_live_stream_that_breaks_reports_outages_retries_and_comes_back() -> None:
    camera = MjpegCamera()
    settings = LiveSettings(open_timeout_s=2, read_timeout_s=2, backoff_min_s=0.1, backoff_max_s=0.4, poll_s=0.5)
    source = LiveSource.for_url(camera.url, settings)
    monitor = HealthMonitor("ipcam-1", settings=HealthSettings(source_lost_after_s=1.0, clear_after_s=0.3))
    events = []
    try:
        assert source.info.live and (source.info.width, source.info.height) == (160, 120)
        frames = []
        while len(frames) < 10:
            item = source.read()
            events += monitor.observe(item)
            if isinstance(item, Frame):
                frames.append(item)
        assert [f.index for f in frames] == list(range(10))
        assert all(abs((datetime.now(UTC) - f.ts).total_seconds()) < 5 for f in frames)  # wall clock stamps

        camera.stop()  # the camera goes away: the port is closed now
        outages, calls = [], []
        down_until = time.monotonic() + 3.0
        while time.monotonic() < down_until:
            started = time.monotonic()
            item = source.read()
            calls.append(time.monotonic() - started)
            events += monitor.observe(item)
            if isinstance(item, SourceOutage):
                outages.append(item)
        assert len(outages) >= 3 and max(calls) < 1.5  # answers about every poll_s, never hangs
        assert len({o.since for o in outages}) == 1  # one outage, not many
        assert [c.condition for c in events if isinstance(c, CameraHealth)] == ["source_lost"]

        camera.start()  # back on the same port
        back = []
        back_until = time.monotonic() + 8.0
        while len(back) < 20 and time.monotonic() < back_until:
            item = source.read()
            events += monitor.observe(item)
            if isinstance(item, Frame):
                back.append(item)
        assert len(back) == 20, "frames did not come back after the camera returned"
        assert back[0].index == 10  # numbering continues
        assert source.reconnects >= 1
        assert [(c.condition, c.state) for c in events if isinstance(c, CameraHealth)] == [("source_lost", "raised"), ("source_lost", "cleared")]
    finally:
        camera.stop()
        started = time.monotonic()
        source.close()
        assert time.monotonic() - started < 6
    assert source.read() is None


class _ReconfiguredDevice:
    """A capture device whose resolution is changed after a few frames (OpenCV's FFmpeg backend
    rescales streams itself; devices and other backends hand the new size through)."""

    def __init__(self) -> None:
        self.frames = 0

    def isOpened(self) -> bool:
        return True

    def grab(self) -> bool:
        self.frames += 1
        time.sleep(0.01)
        return True

    def retrieve(self):
        size = (120, 160, 3) if self.frames <= 5 else (240, 320, 3)
        return True, np.full(size, self.frames % 255, np.uint8)

    def read(self):
        return self.grab() and self.retrieve()

    def get(self, prop: int) -> float:
        return 30.0

    def release(self) -> None:
        pass


def test_a_reconfigured_camera_keeps_its_frame_size(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="camera_agents.sources.video")
    device = _ReconfiguredDevice()
    source = LiveSource("device 5", lambda settings: device)
    try:
        assert (source.info.width, source.info.height, source.info.fps) == (160, 120, 30.0)
        frames = []
        while len(frames) < 10:
            item = source.read()
            if isinstance(item, Frame):
                frames.append(item)
        assert device.frames > 5 and {f.image.shape for f in frames} == {(120, 160, 3)}
        assert "now sends 320x240 frames" in caplog.text
    finally:
        source.close()


@pytest.mark.parametrize("spec, says", [
    ("device:97", "there is no capture device /dev/video97"),  # a device that is not there: to fix
    ("97", "there is no capture device /dev/video97"),
    ("device:front", "a device is a number"),
])
def test_a_missing_capture_device_is_a_clear_error(spec: str, says: str) -> None:
    with pytest.raises(SourceError, match=says):
        open_source(spec)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_vtest_example_camera_reads_the_installed_recording() -> None:
    from camera_agents.config import load_camera

    config = load_camera(Path(__file__).parent.parent / "camera_agents" / "examples" / "vtest.yaml")
    assert Path(config.source) == vtest_path()
    source = open_source(config.source)
    assert (source.info.width, source.info.height) == (config.resolution.width, config.resolution.height)
    source.close()


def test_reading_without_the_picture_advances_time_and_index_but_skips_the_pixels(tmp_path):
    from camera_agents.sources import Frame, open_source
    from camera_agents.sources.synthetic import write_video

    path = tmp_path / "scene.mp4"
    write_video("synthetic:traffic?seed=2&frames=30", path)
    for spec in (str(path), "synthetic:traffic?seed=2&frames=30"):
        source = open_source(spec)
        frames = []
        while (item := source.read(picture=len(frames) % 3 == 0)) is not None:
            assert isinstance(item, Frame)
            frames.append(item)
        source.close()
        assert [f.index for f in frames] == list(range(30))
        assert [f.image is not None for f in frames[1:]] == [i % 3 == 0 for i in range(1, 30)]
        assert all(f.image.shape == (540, 960, 3) for f in frames if f.image is not None)
        assert frames[3].ts > frames[2].ts
