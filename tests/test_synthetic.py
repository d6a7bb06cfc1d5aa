"""The synthetic scenes: deterministic, hard where a real city is hard, and their truth agrees with the
pixels (the anchor a counter sees is where the truth says a crossing happens)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import yaml

from camera_agents.sources import Frame, SourceError, open_source
from camera_agents.sources.synthetic import SceneSpec, SyntheticSource

OBJECT_CLASSES = {"person", "bicycle", "motorbike", "car", "bus_truck"}


@pytest.fixture(scope="module")
def traffic() -> SyntheticSource:
    source = open_source("synthetic:traffic?seed=3")
    assert isinstance(source, SyntheticSource)
    return source


@pytest.fixture(scope="module")
def crowd() -> SyntheticSource:
    source = open_source("synthetic:crowd?seed=3")
    assert isinstance(source, SyntheticSource)
    return source


def _empty_frame(source: SyntheticSource, index: int) -> np.ndarray:
    """The same frame (light, cloud, shake, noise) with no objects and no shadows."""
    return source.scene.render(index, only=set())


def test_same_seed_same_scene_other_seed_other_scene(traffic: SyntheticSource) -> None:
    again = open_source("synthetic:traffic?seed=3")
    other = open_source("synthetic:traffic?seed=4")
    assert again.truth == traffic.truth
    assert other.truth.crossings != traffic.truth.crossings
    for index in (0, 200, 401):
        assert np.array_equal(traffic.scene.render(index), again.scene.render(index))
    assert not np.array_equal(traffic.scene.render(300), other.scene.render(300))


def test_frames_carry_index_timestamps_and_bgr_images() -> None:
    start = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
    source = open_source("synthetic:traffic?seed=1&frames=12&fps=20&width=480&height=270", start_time=start)
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    assert len(frames) == 12 and source.read() is None
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.index for f in frames] == list(range(12))
    assert [f.ts for f in frames] == [start + timedelta(seconds=i / 20) for i in range(12)]
    assert frames[0].image.shape == (270, 480, 3) and frames[0].image.dtype == np.uint8
    assert source.info.fps == 20 and (source.info.width, source.info.height) == (480, 270) and not source.info.live


def test_traffic_truth_has_tens_of_crossings_each_way_mostly_motorbikes(traffic: SyntheticSource) -> None:
    truth = traffic.truth
    counts = truth.counts()
    for line in ("stop_line", "near_edge"):
        for direction in ("in", "out"):
            assert counts[(line, direction)] >= 12, counts
    classes = [c.cls for c in truth.crossings]
    assert set(classes) <= OBJECT_CLASSES
    assert classes.count("motorbike") > len(classes) / 2
    assert {"car", "bus_truck"} <= set(classes)
    # Each object counts at most once per line.
    keys = [(c.object_id, c.line_id) for c in truth.crossings]
    assert len(keys) == len(set(keys))
    assert all(c.cls == truth.objects[c.object_id] for c in truth.crossings)


def test_direction_follows_the_in_arrow(traffic: SyntheticSource) -> None:
    # The arrow of both lines points down the image, towards the camera.
    for line in traffic.camera_config()["lines"]:
        (_, tail_y), (_, head_y) = line["in_direction"]
        assert head_y > tail_y
    for crossing in traffic.truth.crossings:
        placed = next(p for p in traffic.scene._placed if p.track.object_id == crossing.object_id)
        local = crossing.frame_index - placed.track.first_frame
        before, after = placed.anchor[max(local - 3, 0), 1], placed.anchor[min(local + 3, len(placed.anchor) - 1), 1]
        assert (after > before) == (crossing.direction == "in"), crossing


def test_the_drawn_silhouette_is_the_truth_box(traffic: SyntheticSource) -> None:
    """Drawn alone, without its shadow, each crossing object's pixels fill exactly its truth box:
    the anchor a detector sees is the anchor the truth used."""
    scene = traffic.scene
    checked = 0
    for crossing in traffic.truth.crossings[::2]:
        index = crossing.frame_index
        drawn = scene.render(index, only={crossing.object_id}, shadows=False)
        changed = np.abs(drawn.astype(np.int16) - _empty_frame(traffic, index)).max(axis=2) > 0
        ys, xs = np.nonzero(changed)
        truth_box = next(b.bbox for b in traffic.truth.boxes[index] if b.object_id == crossing.object_id)
        # Pixel centres sit at integer coordinates: pixel i spans i - 0.5 .. i + 0.5; OpenCV fills a
        # polygon edge pixel inclusively, so a drawn box may reach up to a pixel further.
        drawn_box = (xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5)
        assert np.allclose(drawn_box, truth_box, atol=1.5), (crossing, drawn_box, truth_box)  # rasterisation
        checked += 1
    assert checked >= 10


def test_objects_do_not_hide_each_other_while_they_cross(traffic: SyntheticSource) -> None:
    for crossing in traffic.truth.crossings:
        boxes = {b.object_id: np.array(b.bbox) for b in traffic.truth.boxes[crossing.frame_index]}
        me = boxes.pop(crossing.object_id)
        area = (me[2] - me[0]) * (me[3] - me[1])
        for other in boxes.values():
            ix = max(0.0, min(me[2], other[2]) - max(me[0], other[0]))
            iy = max(0.0, min(me[3], other[3]) - max(me[1], other[1]))
            assert ix * iy / area < 0.5, crossing


def test_traffic_scene_is_hard_in_the_ways_the_issue_asks(traffic: SyntheticSource) -> None:
    truth, scene = traffic.truth, traffic.scene
    # Vehicles stop before the line at red and go on: stopped southbound vehicles later cross it.
    stop_line = next(line for line in traffic.camera_config()["lines"] if line["id"] == "stop_line")
    line_y = (stop_line["points"][0][1] + stop_line["points"][1][1]) / 2
    crossed_after_stop = [
        s for s in truth.stops for c in truth.crossings if c.object_id == s.object_id and c.line_id == "stop_line" and c.frame_index > s.last_frame
    ]
    assert crossed_after_stop, truth.stops
    waits = [line_y - next(b.bbox[3] for b in truth.boxes[s.first_frame] if b.object_id == s.object_id) for s in crossed_after_stop]
    assert all(w > 4 for w in waits)  # nobody waits on the line itself
    assert any(w < 40 for w in waits)  # the first in the queue waits just before it
    # A one-pixel camera shake, some of the time.
    shakes = scene._shakes
    assert all(abs(dx) <= 1 and abs(dy) <= 1 for dx, dy in shakes)
    assert 0.05 < sum(s != (0, 0) for s in shakes) / len(shakes) < 0.5
    # A lighting drift and a passing cloud: the empty road's brightness changes over the clip.
    weather = scene.renderer.weather
    mid_cloud = weather.cloud_start + weather.cloud_frames // 2
    clear = [i for i in (mid_cloud - weather.cloud_frames, mid_cloud + weather.cloud_frames) if 0 <= i < truth.n_frames][0]
    darkened = _empty_frame(traffic, mid_cloud).astype(np.float32) / np.maximum(_empty_frame(traffic, clear).astype(np.float32), 1)
    assert (darkened.mean(axis=2) < 0.85).mean() > 0.1
    # Sensor noise: two renders of the empty scene in consecutive frames differ pixel by pixel.
    a, b = _empty_frame(traffic, 10).astype(np.int16), _empty_frame(traffic, 11).astype(np.int16)
    assert 1.5 < np.abs(a - b).mean() < 8
    # Some vehicles are painted within a few levels of the asphalt.
    bodies = [p.track.shape.body for p in scene._placed if p.track.cls in ("car", "motorbike")]
    assert any(max(abs(c - 92) for c in body) <= 14 for body in bodies)


def test_crowd_truth_has_loiterers_and_an_overcrowded_zone(crowd: SyntheticSource) -> None:
    config = crowd.camera_config()
    zone = config["zones"][0]
    occupancy = np.array(crowd.truth.occupancy[zone["id"]])
    assert len(occupancy) == crowd.truth.n_frames
    assert occupancy.max() > zone["max_occupancy"]
    assert crowd.truth.loiterers
    for dwell in crowd.truth.loiterers:
        assert dwell.seconds >= zone["dwell_seconds"] and dwell.cls == "person"
        assert all(occupancy[dwell.first_frame : dwell.last_frame + 1] >= 1)
    assert {c.cls for c in crowd.truth.crossings} <= {"person"}
    assert config["kind"] == "security"


def test_camera_configs_validate_and_match_the_examples(traffic: SyntheticSource) -> None:
    from pathlib import Path

    from camera_agents.config import parse_camera

    examples = Path(__file__).parent.parent / "camera_agents" / "examples"
    for spec, name in (("synthetic:traffic?seed=1", "synthetic_traffic.yaml"), ("synthetic:crowd?seed=1", "synthetic_crowd.yaml")):
        generated = open_source(spec).camera_config()
        text = (examples / name).read_text(encoding="utf-8")
        assert yaml.safe_load(text) == generated
        parsed = parse_camera(text, source_name=name)
        assert parsed.camera_id == generated["camera_id"]
    config = traffic.camera_config()
    assert set(config) >= {"camera_id", "name", "kind", "location", "source", "detector", "lines", "zones", "calibration"}
    assert open_source(config["source"]).truth == traffic.truth


@pytest.mark.parametrize(
    "spec, message",
    [
        ("synthetic:rain?seed=1", "unknown synthetic scene"),
        ("synthetic:traffic?seed=1&colour=red", "unknown option"),
        ("synthetic:traffic?seed=one", "bad option value"),
        ("synthetic:traffic?frames=0", "frames must be"),
        ("synthetic:traffic?frames=1000000", "frames must be"),
    ],
)
def test_bad_synthetic_specs_are_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        open_source(spec)


def test_spec_round_trips() -> None:
    spec = SceneSpec.parse("synthetic:crowd?seed=9&frames=100&fps=12.5&start=2026-01-02T03:04:05Z")
    assert SceneSpec.parse(spec.canonical()) == spec
    assert spec.start == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
