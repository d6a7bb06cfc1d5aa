"""The agent keeps each camera's view between runs: a camera turned while the agent was stopped is
said to have moved when it starts again; a view kept under another configuration, or unreadable,
is learnt afresh."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera_agents.agent import RunSettings, run_camera
from camera_agents.config import CameraConfig, load_camera
from camera_agents.health import HealthMonitor
from camera_agents.publish import MemorySink
from camera_agents.sources import Frame, open_source
from camera_agents.view_memory import ViewKeeper
from ingest.contract import CameraHealth

EXAMPLES = Path(__file__).resolve().parents[1] / "camera_agents" / "examples"
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
SECONDS = 26  # a restarted agent judges the kept view after 10 s, and raises what lasts 10 s more


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """The synthetic avenue as its camera sends it, and the same camera turned by 3 % of its width."""
    folder = tmp_path_factory.mktemp("views")
    paths = {"as_installed": folder / "as_installed.mp4", "turned": folder / "turned.mp4"}
    writers = {name: cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (960, 540)) for name, path in paths.items()}
    turn = np.float32([[1, 0, -0.03 * 960], [0, 1, 0]])
    scene = open_source(f"synthetic:traffic?seed=3&frames={SECONDS * 25}")
    while (frame := scene.read()) is not None:
        writers["as_installed"].write(frame.image)
        writers["turned"].write(cv2.warpAffine(frame.image, turn, (960, 540), borderMode=cv2.BORDER_REFLECT))
    for writer in writers.values():
        writer.release()
    return paths


def _camera(video: Path, folder: Path) -> CameraConfig:
    """The avenue's camera, its source the file at one path (``camera.mp4`` in ``folder``) whatever
    that file shows now, as a camera's stream address stays while the camera turns."""
    source = folder / "camera.mp4"
    shutil.copyfile(video, source)
    return load_camera(EXAMPLES / "synthetic_traffic.yaml").model_copy(update={"source": str(source)})


def _moved_events(config: CameraConfig, views: Path | None, start: datetime) -> list[tuple[str, str]]:
    sink = MemorySink()
    run_camera(config, sink, RunSettings(views_dir=views, start_time=start, evidence=False))
    return [(e.condition, e.state) for e in sink.events if isinstance(e, CameraHealth) and e.condition == "moved"]


@pytest.mark.parametrize(
    ("second_run", "kept", "away_s", "said"),
    [
        # turned while the agent was stopped for a minute: said so once it runs again
        ("turned", True, 60, [("moved", "raised")]),
        # restarted on the camera as installed: nothing to say
        ("as_installed", True, 60, []),
        # no folder to keep views in: the turned view is taken for the camera's view
        ("turned", False, 60, []),
        # stopped for an hour: the light may have changed as much as a view, so it is learnt afresh
        ("turned", True, 3600, []),
    ],
)
def test_an_agent_restarted_on_a_camera_turned_meanwhile(videos, tmp_path, second_run, kept, away_s, said):
    views = tmp_path / "views" if kept else None
    assert _moved_events(_camera(videos["as_installed"], tmp_path), views, T0) == []
    restart = T0 + timedelta(seconds=SECONDS + away_s)
    assert _moved_events(_camera(videos[second_run], tmp_path), views, restart) == said


def test_a_view_kept_under_another_configuration_is_learnt_afresh(videos, tmp_path):
    views = tmp_path / "views"
    _moved_events(_camera(videos["as_installed"], tmp_path), views, T0)
    # the camera aimed anew on purpose, its lines redrawn for the new view
    redrawn = _camera(videos["turned"], tmp_path)
    redrawn = redrawn.model_copy(update={"lines": [line.model_copy(update={"id": f"{line.id}_new"}) for line in redrawn.lines]})
    assert _moved_events(redrawn, views, T0 + timedelta(seconds=SECONDS + 60)) == []


@pytest.mark.parametrize(
    "damage",
    [
        b"",  # an empty file (the disk filled up)
        b"PK\x03\x04 not a whole archive",  # cut short
        b"\x00" * 64,  # anything else
    ],
)
def test_an_unreadable_kept_view_is_logged_and_learnt_afresh(videos, tmp_path, caplog, damage):
    config = _camera(videos["as_installed"], tmp_path)
    views = tmp_path / "views"
    views.mkdir()
    (views / f"{config.camera_id}.npz").write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="camera_agents.view_memory"):
        keeper = ViewKeeper(views, config)
        assert keeper.load() is None
    assert "cannot be read" in caplog.text and "learnt afresh" in caplog.text


def test_the_view_is_kept_while_the_camera_runs_and_replaced_whole(videos, tmp_path):
    config = _camera(videos["as_installed"], tmp_path)
    views = tmp_path / "views"
    clock = iter(np.arange(0.0, 1000.0, 1.0))  # a second passes between two looks at the clock
    keeper = ViewKeeper(views, config, every_s=5.0, clock=lambda: float(next(clock)))
    monitor = HealthMonitor(config.camera_id)
    source = open_source(config.source, start_time=T0)
    kept = []
    while (item := source.read()) is not None:
        if isinstance(item, Frame):
            monitor.observe(item)
            keeper.tick(monitor)
            kept.append((views / f"{config.camera_id}.npz").exists())
    source.close()
    # kept from the first look after the view was learnt (its first 10 s, 250 frames) on
    first = kept.index(True)
    assert 250 <= first <= 260 and all(kept[first:])
    assert sorted(p.name for p in views.iterdir()) == [f"{config.camera_id}.npz"]  # no partial file left
    again = keeper.load()
    assert again is not None and set(again.references) == {False}  # in colour only
    assert again.references[False].shape == (90, 160) and again.seen_at > T0


@pytest.mark.parametrize(
    ("away_s", "starts_from_it"),
    [
        # restarted after a minute: the road it learnt is the road now
        (60, True),
        # restarted after an hour: the sun has moved the shadows; the road is learnt afresh
        (3600, False),
    ],
)
def test_the_road_learnt_is_kept_with_the_view_and_a_restarted_agent_starts_from_it(
    videos, tmp_path, caplog, away_s, starts_from_it
):
    config = _camera(videos["as_installed"], tmp_path)
    views = tmp_path / "views"
    run_camera(config, MemorySink(), RunSettings(views_dir=views, start_time=T0, evidence=False))
    kept = ViewKeeper(views, config).load()
    assert kept is not None and kept.road is not None
    assert kept.road.dtype == np.uint8 and kept.road.shape == (135, 240, 3)  # the motion detector's picture
    with caplog.at_level(logging.INFO, logger="camera_agents.pipeline"):
        run_camera(
            config,
            MemorySink(),
            RunSettings(views_dir=views, start_time=T0 + timedelta(seconds=SECONDS + away_s), evidence=False, max_frames=30),
        )
    assert ("starts from the road its last run learnt" in caplog.text) is starts_from_it


def test_a_kept_road_that_is_not_a_colour_picture_is_logged_and_learnt_afresh(videos, tmp_path, caplog):
    config = _camera(videos["as_installed"], tmp_path)
    views = tmp_path / "views"
    run_camera(config, MemorySink(), RunSettings(views_dir=views, start_time=T0, evidence=False))
    path = views / f"{config.camera_id}.npz"
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["road"] = np.zeros((135, 240), np.float32)  # written by something else
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    with caplog.at_level(logging.WARNING, logger="camera_agents.view_memory"):
        kept = ViewKeeper(views, config).load()
    assert kept is not None and kept.road is None and kept.references  # the view itself still serves
    assert "not a colour picture" in caplog.text


@pytest.mark.parametrize(
    ("variables", "views", "spool"),
    [
        # a deployment's state folder (compose and Kubernetes set it, and mount it on a volume)
        ({"IOC_STATE_DIR": "{tmp}/state"}, "{tmp}/state/views", "{tmp}/state/spool"),
        # a folder of their own wins over it
        ({"IOC_STATE_DIR": "{tmp}/state", "IOC_AGENT_VIEWS_DIR": "{tmp}/views", "IOC_AGENT_SPOOL_DIR": "{tmp}/spool"}, "{tmp}/views", "{tmp}/spool"),
    ],
)
def test_an_agent_keeps_its_views_and_spool_where_its_variables_say(monkeypatch, tmp_path, variables, views, spool):
    from camera_agents.settings import AgentSettings

    for name in ("IOC_STATE_DIR", "IOC_AGENT_VIEWS_DIR", "IOC_AGENT_SPOOL_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    settings = AgentSettings.load()
    assert (settings.views_dir, settings.spool_dir) == (Path(views.format(tmp=tmp_path)), Path(spool.format(tmp=tmp_path)))
