"""Camera health: each condition raised once when it lasts, cleared once when it ends, never for a
one-frame glitch; heartbeats with the measured frame rate. Pure logic, frames made in memory."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from camera_agents.health import HealthMonitor, HealthSettings
from camera_agents.sources import Frame, SourceOutage, open_source
from ingest.contract import CameraHealth, Heartbeat, decode, encode

FPS = 25.0
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _scene(seed: int = 1, soft: float = 0.0) -> np.ndarray:
    """A street-like picture: blocks, lines and texture; ``soft`` blurs it (a soft lens)."""
    rng = np.random.default_rng(seed)
    img = np.full((270, 480, 3), 110, np.uint8)
    for _ in range(40):
        x, y = int(rng.integers(0, 460)), int(rng.integers(0, 250))
        colour = tuple(int(c) for c in rng.integers(30, 230, size=3))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(5, 80)), y + int(rng.integers(5, 60))), colour, -1)
    for _ in range(15):
        cv2.line(img, (int(rng.integers(0, 480)), int(rng.integers(0, 270))), (int(rng.integers(0, 480)), int(rng.integers(0, 270))), (230, 230, 230), 2)
    if soft:
        img = cv2.GaussianBlur(img, (0, 0), soft)
    return img


class Camera:
    """Frames at 25 fps with live sensor noise, and a fake wall clock that keeps pace."""

    def __init__(self, picture: np.ndarray) -> None:
        self.picture = picture
        rng = np.random.default_rng(7)
        self._noise = [rng.normal(0, 2.5, size=picture.shape) for _ in range(7)]
        self.index = 0
        self.wall = 1000.0

    def clock(self) -> float:
        return self.wall

    def utc_now(self) -> datetime:
        return T0 + timedelta(seconds=self.index / FPS)

    def frames(self, seconds: float, picture: np.ndarray | None = None, *, noise: bool = True) -> Iterator[Frame]:
        base = self.picture if picture is None else picture
        grey = bool((base[..., :1] == base).all())  # a camera's infrared mode sends no colour, not even in its noise
        noisy = [np.clip(base + (n[..., :1] if grey else n), 0, 255).astype(np.uint8) for n in self._noise] if noise else [base]
        for _ in range(int(round(seconds * FPS))):
            image = noisy[self.index % len(noisy)]
            yield Frame(index=self.index, ts=T0 + timedelta(seconds=self.index / FPS), image=image)
            self.index += 1
            self.wall += 1 / FPS

    def outage(self, seconds: float, since: datetime) -> Iterator[SourceOutage]:
        # A live source reports its outage about once a second while it keeps reconnecting.
        for _ in range(int(seconds)):
            self.index += int(FPS)
            self.wall += 1.0
            yield SourceOutage(since=since, reason="connection refused")


def _run(monitor: HealthMonitor, items) -> list:
    events = []
    for item in items:
        events.extend(monitor.observe(item))
    return events


def _health(events) -> list[tuple[str, str]]:
    return [(e.condition, e.state) for e in events if isinstance(e, CameraHealth)]


def _monitor(camera: Camera, **settings) -> HealthMonitor:
    return HealthMonitor("cam-1", expected_fps=FPS, settings=HealthSettings(**settings), clock=camera.clock, utc_now=camera.utc_now)


def test_a_normal_camera_raises_nothing_and_beats_with_its_frame_rate() -> None:
    camera = Camera(_scene())
    monitor = _monitor(camera)
    events = _run(monitor, camera.frames(16))
    assert _health(events) == []
    beats = [e for e in events if isinstance(e, Heartbeat)]
    assert len(beats) == 3  # every 5 s of 16
    assert all(b.fps == pytest.approx(FPS, rel=0.02) and b.camera_id == "cam-1" for b in beats)
    assert [b.frames for b in beats] == sorted(b.frames for b in beats) and beats[-1].frames <= 400
    assert beats[0].uptime_s == pytest.approx(5.0, abs=0.05)
    last = monitor.finish()  # the second after the third beat
    assert len(last) == 1 and isinstance(last[0], Heartbeat)
    assert last[0].frames == 400 and last[0].fps == pytest.approx(FPS, rel=0.06) and last[0].uptime_s == pytest.approx(16.0, abs=0.05)
    assert monitor.finish() == []  # nothing new since
    assert monitor.normal_sharpness is not None
    assert all(decode(encode(e)) == e for e in events)


@pytest.mark.parametrize("condition", ["frozen", "blackout", "blur"])
def test_a_lasting_condition_raises_once_and_clears_once(condition: str) -> None:
    camera = Camera(_scene())
    monitor = _monitor(camera)
    events = _run(monitor, camera.frames(10))  # learn this camera's normal
    if condition == "frozen":
        stuck = next(camera.frames(0.04))
        bad = camera.frames(6, stuck.image, noise=False)
    elif condition == "blackout":
        bad = camera.frames(6, np.full_like(camera.picture, 6), noise=False)  # a covered lens: dark, flat, still
    else:
        bad = camera.frames(6, cv2.GaussianBlur(camera.picture, (0, 0), 4.0))  # fogged lens; the sensor's noise stays
    during = _run(monitor, bad)
    assert _health(during) == [(condition, "raised")]
    raised = next(e for e in during if isinstance(e, CameraHealth))
    assert raised.detail and raised.camera_id == "cam-1"
    assert monitor.raised == {condition}
    after = _run(monitor, camera.frames(5))
    assert _health(events) == [] and _health(after) == [(condition, "cleared")]
    assert monitor.raised == set()


def _moved(picture: np.ndarray, *, dx: float = 0.0, zoom: float = 1.0) -> np.ndarray:
    """The picture of the camera turned by ``dx`` of its width, or zoomed by ``zoom``."""
    h, w = picture.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, zoom)
    matrix[0, 2] -= dx * w
    return cv2.warpAffine(picture, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize(
    ("view", "said"),
    [
        # turned a little: the whole picture shifted by 3 % of its width
        (dict(dx=0.03), r"shifted by -1[3-6] px across and [+-][0-2] px down"),
        # zoomed in by a fifth: another view
        (dict(zoom=1.2), "not the one it showed before"),
    ],
)
def test_a_camera_whose_view_moved_is_said_so_until_it_is_back(view: dict, said: str) -> None:
    camera = Camera(_scene())
    monitor = _monitor(camera)
    events = _run(monitor, camera.frames(15))  # its view learnt
    moved = _run(monitor, camera.frames(22, _moved(camera.picture, **view)))
    assert _health(events) == [] and _health(moved) == [("moved", "raised")]
    raised = next(e for e in moved if isinstance(e, CameraHealth))
    assert re.search(said, raised.detail), raised.detail
    assert _health(_run(monitor, camera.frames(12))) == [("moved", "cleared")]


def test_light_is_not_a_moved_view() -> None:
    camera = Camera(_scene())
    monitor = _monitor(camera)
    events = _run(monitor, camera.frames(15))
    # the sun behind a cloud for 15 s, then the light falling by 40 % within 20 s: the same view in less light
    events += _run(monitor, camera.frames(15, cv2.convertScaleAbs(camera.picture, alpha=0.6)))
    for gain in np.linspace(0.9, 0.6, 20):
        events += _run(monitor, camera.frames(1, cv2.convertScaleAbs(camera.picture, alpha=float(gain))))
    assert _health(events) == []


def _infrared(picture: np.ndarray) -> np.ndarray:
    """The picture as the camera sends it in its infrared mode: grey, each surface as bright as
    it reflects infrared, not as its colour looks (here: as blue as it is), the near road (the
    picture's bottom middle) lit by the camera's own illuminator and the rest darker."""
    h, w = picture.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    lit = 0.5 * (1 + 6.0 * np.exp(-(((x - w / 2) / (0.3 * w)) ** 2 + ((y - h) / (0.3 * h)) ** 2) / 2))
    grey = picture[:, :, 0].astype(np.float32) * lit
    return cv2.cvtColor(np.clip(grey, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def test_a_camera_switching_to_infrared_at_night_has_not_moved() -> None:
    camera = Camera(_scene())
    monitor = _monitor(camera)
    events = _run(monitor, camera.frames(15))
    # night: the camera sends its infrared picture for a minute, then colour again in the morning
    events += _run(monitor, camera.frames(60, _infrared(camera.picture)))
    events += _run(monitor, camera.frames(30))
    assert _health(events) == []
    # without telling the modes apart, the infrared picture is another view
    blind = _monitor(Camera(camera.picture), mode_switch_after_s=1e9)
    _run(blind, camera.frames(15))
    assert ("moved", "raised") in _health(_run(blind, camera.frames(30, _infrared(camera.picture))))


def test_a_camera_moved_in_either_mode_is_said_so() -> None:
    camera = Camera(_scene())
    monitor = _monitor(camera)
    events = _run(monitor, camera.frames(15))  # its view in colour learnt
    events += _run(monitor, camera.frames(20, _infrared(camera.picture)))  # and in infrared
    turned = _moved(camera.picture, dx=0.03)
    at_night = _run(monitor, camera.frames(22, _infrared(turned)))
    back = _run(monitor, camera.frames(12, _infrared(camera.picture)))  # turned back to its preset
    # in colour again in the morning, and then turned
    by_day = _run(monitor, camera.frames(15)) + _run(monitor, camera.frames(25, turned))
    assert _health(events) == []
    assert _health(at_night) == [("moved", "raised")] and _health(back) == [("moved", "cleared")]
    assert _health(by_day) == [("moved", "raised")]


@pytest.mark.parametrize(
    ("meanwhile", "kept", "raised"),
    [
        # restarted within minutes, judged against what the last run kept: the view turned by
        # 3 % of its width is a moved one, a lens fogged meanwhile is blur
        ("turned", True, {"moved"}),
        ("fogged", True, {"blur"}),
        # a first start takes whatever the camera shows for its view and its normal sharpness
        ("turned", False, set()),
        ("fogged", False, set()),
    ],
)
def test_a_camera_changed_while_the_agent_was_down_is_said_so(meanwhile: str, kept: bool, raised: set[str]) -> None:
    camera = Camera(_scene())
    first = _monitor(camera)
    _run(first, camera.frames(15))
    camera.index += int(120 * FPS)  # the agent is down for two minutes
    monitor = HealthMonitor("cam-1", settings=HealthSettings(), clock=camera.clock, utc_now=camera.utc_now,
                            remembered=first.remembered_view() if kept else None)  # fmt: skip
    picture = _moved(camera.picture, dx=0.03) if meanwhile == "turned" else cv2.GaussianBlur(camera.picture, (0, 0), 4.0)
    _run(monitor, camera.frames(25, picture))
    assert monitor.raised == raised


def test_one_frame_glitches_raise_nothing() -> None:
    camera = Camera(_scene())
    monitor = _monitor(camera, measure_every_s=0.04)  # measure every frame: the glitch is seen
    events = _run(monitor, camera.frames(10))
    for glitch in (np.zeros_like(camera.picture), cv2.GaussianBlur(camera.picture, (0, 0), 5.0)):
        events += _run(monitor, camera.frames(0.04, glitch, noise=False))
        events += _run(monitor, camera.frames(1))
    repeated = next(camera.frames(0.04))
    events += _run(monitor, iter([repeated, Frame(repeated.index + 1, repeated.ts + timedelta(seconds=0.04), repeated.image)]))
    camera.index += 1
    events += _run(monitor, camera.frames(3))
    assert _health(events) == []


def test_a_naturally_soft_camera_is_not_blur() -> None:
    camera = Camera(_scene(seed=3, soft=2.2))
    monitor = _monitor(camera)
    assert _health(_run(monitor, camera.frames(25))) == []


def test_source_lost_after_a_while_and_back_when_frames_flow() -> None:
    camera = Camera(_scene())
    monitor = _monitor(camera)
    events = _run(monitor, camera.frames(3))
    down_since = camera.utc_now()
    lost = _run(monitor, camera.outage(8, down_since))
    assert _health(lost) == [("source_lost", "raised")]
    raised = next(e for e in lost if isinstance(e, CameraHealth))
    assert "connection refused" in raised.detail
    assert any(isinstance(e, Heartbeat) for e in lost)  # the agent still says it is alive, at 0 fps
    assert [e.fps for e in lost if isinstance(e, Heartbeat)][-1] == 0
    back = _run(monitor, camera.frames(4))
    assert _health(events) == [] and _health(back) == [("source_lost", "cleared")]
    # An outage shorter than the debounce is no alert.
    blip = _run(monitor, camera.outage(1, camera.utc_now()))
    blip += _run(monitor, camera.frames(3))
    assert _health(blip) == []


def test_health_is_quiet_on_the_synthetic_traffic_scene() -> None:
    source = open_source("synthetic:traffic?seed=5&frames=300", start_time=T0)
    monitor = HealthMonitor("synthetic-traffic-5", expected_fps=FPS)
    events = []
    while (frame := source.read()) is not None:
        events += monitor.observe(frame)
    # Cloud, lighting drift, shake and noise are a healthy camera.
    assert _health(events) == []


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="blur_ratio"):
        HealthSettings(blur_ratio=1.5)
    with pytest.raises(ValueError, match="heartbeat_every_s"):
        HealthSettings(heartbeat_every_s=0)


def test_conditions_in_a_compressed_video_file(tmp_path) -> None:
    """Through a real encoder and decoder: a healthy scene, then the picture freezes, comes back,
    goes black, comes back; each condition is raised and cleared exactly once."""
    scene = open_source("synthetic:traffic?seed=6&frames=475")
    path = tmp_path / "episodes.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (960, 540))
    held = None
    while (frame := scene.read()) is not None:
        second = frame.index / FPS
        if 4 <= second < 10:  # the camera hangs on one picture, its encoder goes on
            held = frame.image if held is None else held
            writer.write(held)
        elif 13 <= second < 16:  # the lens is covered
            writer.write(np.full_like(frame.image, 4))
        else:
            writer.write(frame.image)
    writer.release()
    source = open_source(str(path), start_time=T0)
    monitor = HealthMonitor("file-cam", expected_fps=FPS)
    timeline = []
    while (frame := source.read()) is not None:
        for event in monitor.observe(frame):
            if isinstance(event, CameraHealth):
                timeline.append((event.condition, event.state, round((event.ts - T0).total_seconds())))
    assert [(c, s) for c, s, _ in timeline] == [("frozen", "raised"), ("frozen", "cleared"), ("blackout", "raised"), ("blackout", "cleared")]
    raised_frozen, cleared_frozen, raised_black, cleared_black = (t for _, _, t in timeline)
    assert 7 <= raised_frozen <= 10 and 10 <= cleared_frozen <= 13
    assert 15 <= raised_black <= 16 and 16 <= cleared_black <= 19


def test_health_is_quiet_on_the_real_vtest_recording() -> None:
    from tests.media import vtest_path

    source = open_source(str(vtest_path()), start_time=T0)
    monitor = HealthMonitor("vtest-campus", expected_fps=source.info.fps)
    events = []
    while (frame := source.read()) is not None:
        events += monitor.observe(frame)
    assert _health(events) == []
    assert monitor.normal_sharpness is not None and monitor.normal_sharpness > 0
