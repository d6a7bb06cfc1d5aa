"""Pure analytics and geometry: lines, zones, dwell, stopped, speed, with hand-made tracks."""

from __future__ import annotations

import numpy as np
import pytest

from camera_agents.analytics import (
    CountingLine,
    DwellMonitor,
    LineCounter,
    SpeedEstimator,
    StoppedMonitor,
    TrackMemory,
    ZoneCounter,
)
from camera_agents.detections import CLASS_ID, Detections
from camera_agents.geometry import (
    GroundPlane,
    across_traffic,
    bottom_centre,
    points_in_polygon,
    segment_share_in_boxes,
    side_of_arrow,
    signed_distance,
    travel_across,
)


def tracked(boxes, ids, *, cls="car", confirmed=True) -> Detections:
    n = len(ids)
    return Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
        confidence=np.ones(n),
        class_id=np.full(n, CLASS_ID[cls]),
        tracker_id=np.asarray(ids),
        data={"confirmed": np.full(n, confirmed) if np.isscalar(confirmed) else np.asarray(confirmed)},
    )


def box_at(x, y, w=20, h=20):
    """A box whose bottom-centre anchor is (x, y)."""
    return [x - w / 2, y - h, x + w / 2, y]


HORIZONTAL = CountingLine.from_points("stop", [[100, 300], [500, 300]], [[300, 250], [300, 350]])  # in = downwards


@pytest.mark.parametrize(
    "lines, travel",
    [
        ([((100, 300), (860, 310))], "updown"),  # a level line across a road seen along it
        ([((100, 300), (860, 406))], "updown"),  # 8 degrees off level: a road seen along it, a little askew
        ([((100, 300), (860, 504))], None),  # 15 degrees off level: a road seen diagonally, as oblique cameras see it
        ([((100, 300), (860, 300)), ((480, 50), (500, 500))], None),  # one level line, one upright: no single way
        ([((480, 50), (500, 500)), ((300, 60), (290, 480))], "leftright"),  # upright lines: traffic across the picture
        ([((100, 100), (500, 400))], None),  # a diagonal line: a road seen diagonally
        ([], None),  # no lines: nothing to read the way from
    ],
)
def test_the_way_traffic_moves_is_read_from_the_counting_lines(lines, travel):
    assert travel_across(lines) == travel


# A camera looking straight down at 20 pixels a metre, its ground turned 30 degrees from the
# picture's: a road along the ground's y axis runs 30 degrees off upright in the picture.
_TURNED = np.deg2rad(30)
_TURNED_GROUND = GroundPlane.from_points(
    [[0, 0], [400, 0], [400, 400], [0, 400]],
    [[(x * np.cos(_TURNED) + y * np.sin(_TURNED)) / 20, (-x * np.sin(_TURNED) + y * np.cos(_TURNED)) / 20] for x, y in [[0, 0], [400, 0], [400, 400], [0, 400]]],
)


@pytest.mark.parametrize(
    "lines, ground, expected",
    [
        # a road seen diagonally, its lines square to it on the ground: across it is along them
        ([((100, 100), (100 + 200 * np.cos(_TURNED), 100 + 200 * np.sin(_TURNED)))], _TURNED_GROUND, (np.cos(_TURNED), np.sin(_TURNED))),
        # the same line drawn from its other end: the direction still points right
        ([((100 + 200 * np.cos(_TURNED), 100 + 200 * np.sin(_TURNED)), (100, 100))], _TURNED_GROUND, (np.cos(_TURNED), np.sin(_TURNED))),
        # no calibration: nothing says which way the road runs on the ground
        ([((100, 100), (273, 200))], None, None),
        # a level line: traffic up and down the picture, cut by its columns
        ([((100, 300), (860, 310))], _TURNED_GROUND, None),
        # an upright line: traffic across the picture, cut by its rows
        ([((480, 50), (500, 500))], _TURNED_GROUND, None),
    ],
)
def test_the_direction_across_a_road_seen_diagonally_is_read_from_its_lines_and_calibration(lines, ground, expected):
    across = across_traffic(lines, ground)
    if expected is None:
        assert across is None
    else:
        assert across == pytest.approx(expected, abs=1e-6)


def test_a_ground_plane_maps_its_ground_back_to_the_picture():
    points = np.array([[10.0, 20.0], [300.0, 50.0], [120.0, 380.0]])
    assert _TURNED_GROUND.to_image(_TURNED_GROUND.to_ground(points)) == pytest.approx(points, abs=1e-6)


def test_geometry_basics():
    assert bottom_centre([[0, 0, 10, 20]]).tolist() == [[5, 20]]
    d = signed_distance(np.array([[0, 10], [0, -10]]), (0, 0), (10, 0))
    assert d[0] > 0 > d[1]
    assert side_of_arrow((0, 0), (10, 0), ((5, -5), (5, 5))) == 1
    with pytest.raises(ValueError):
        side_of_arrow((0, 0), (10, 0), ((0, 0), (5, 0)))
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    assert points_in_polygon(np.array([[5, 5], [15, 5], [9.9, 5], [-1, -1]]), square).tolist() == [True, False, True, False]


@pytest.mark.parametrize(
    ("box", "a", "b", "share"),
    [
        ([0, 0, 10, 10], (-10, 5), (10, 5), 0.5),  # a level line entering the box halfway along it
        ([0, 0, 10, 10], (2, 5), (8, 5), 1.0),  # wholly inside
        ([0, 0, 10, 10], (20, 5), (30, 5), 0.0),  # beside it
        ([0, 0, 10, 10], (-10, 20), (20, 20), 0.0),  # below it, along its width
        ([0, 0, 10, 10], (5, -10), (5, 30), 0.25),  # an upright line through it: 10 of its 40 pixels
        ([0, 0, 10, 10], (-5, 0), (5, 10), 0.5),  # slantwise, in through its left side
        ([0, 0, 10, 10], (0, 0), (20, 20), 0.5),  # along the diagonal from a corner
        ([0, 0, 10, 10], (10, -5), (10, 5), 0.5),  # along its edge, half of it
    ],
)
def test_the_share_of_a_line_a_box_covers(box, a, b, share):
    assert segment_share_in_boxes(np.array([box], float), a, b) == pytest.approx([share])


def test_line_counts_each_direction_and_class_once():
    counter = LineCounter(HORIZONTAL, hysteresis_px=4)
    crossings = []
    for step, y in enumerate(range(250, 360, 10)):  # track 1 goes down (in), track 2 goes up (out)
        dets = tracked([box_at(200, y), box_at(400, 610 - y)], [1, 2])
        dets = Detections(xyxy=dets.xyxy, confidence=dets.confidence, class_id=[CLASS_ID["car"], CLASS_ID["motorbike"]],
                          tracker_id=dets.tracker_id, data=dets.data)
        crossings += counter.trigger(dets, frame_no=step, now=step / 25)
    assert [(c.track_id, c.direction, c.cls) for c in crossings] == [(1, "in", "car"), (2, "out", "motorbike")]
    assert counter.counts == {("in", "car"): 1, ("out", "motorbike"): 1}
    assert (counter.in_count, counter.out_count) == (1, 1)
    with pytest.raises(TypeError):
        counter.counts[("in", "car")] = 5  # read-only


def test_an_id_handed_on_to_an_object_coming_back_counts_again_but_an_idler_on_the_line_does_not():
    counter = LineCounter(HORIZONTAL, hysteresis_px=4)
    crossings = []
    # track 1: a car goes down over the line and far past it, out of the picture; the tracker then
    # hands its id to a car entering there, which comes back up over the line
    path = list(range(250, 450, 10)) + list(range(450, 250, -10))
    # track 2: a car stopped on the line creeps to and fro across it
    idle = [290, 306, 294, 308, 292, 310, 290] * 6
    for step, (y, y2) in enumerate(zip(path, idle)):
        crossings += counter.trigger(tracked([box_at(200, y), box_at(400, y2)], [1, 2]), frame_no=step, now=step / 25)
    assert [(c.track_id, c.direction) for c in crossings] == [(2, "in"), (1, "in"), (1, "out")]


def test_stop_line_jitter_counts_once():
    counter = LineCounter(HORIZONTAL, hysteresis_px=4)
    ys = [280, 290, 296, 299, 301, 298, 302, 299, 301, 303, 297, 301, 299, 302] * 5 + [306, 320, 280, 320, 280, 320]
    total = []
    for i, y in enumerate(ys):
        total += counter.trigger(tracked([box_at(250, y)], [7]), frame_no=i, now=i / 25)
    # Inside the ±4 px band nothing counts; the later real crossing counts once; going back and
    # forth afterwards never counts again for the same track.
    assert len(total) == 1 and total[0].direction == "in" and total[0].frame_no == len(ys) - 6


def test_unconfirmed_tracks_never_count_but_edge_crossings_count_on_confirmation():
    counter = LineCounter(HORIZONTAL)
    out = []
    out += counter.trigger(tracked([box_at(200, 290)], [3], confirmed=False), frame_no=0, now=0.0)
    out += counter.trigger(tracked([box_at(200, 310)], [3], confirmed=False), frame_no=1, now=0.04)
    assert out == []  # crossed while tentative
    out += counter.trigger(tracked([box_at(200, 320)], [3], confirmed=True), frame_no=2, now=0.08)
    assert len(out) == 1 and out[0].frame_no == 1  # the crossing frame, not the confirmation frame
    # a track that is never confirmed is never counted
    for i, y in enumerate(range(280, 330, 5)):
        out += counter.trigger(tracked([box_at(300, y)], [4], confirmed=False), frame_no=10 + i, now=1 + i / 25)
    assert len(out) == 1


def test_line_at_frame_edge_counts():
    edge = CountingLine.from_points("edge", [[0, 538], [960, 538]], [[480, 500], [480, 540]])
    counter = LineCounter(edge, hysteresis_px=4, frame_size=(960, 540))
    out = []
    for i, y in enumerate([520, 530, 536, 540, 540]):  # the box is clipped at the bottom edge
        out += counter.trigger(tracked([box_at(480, y)], [9]), frame_no=i, now=i / 25)
    assert [c.direction for c in out] == ["in"]


def test_crossing_outside_the_segment_does_not_count_and_wrong_way_is_flagged():
    one_way = CountingLine.from_points("oneway", [[100, 300], [500, 300]], [[300, 250], [300, 350]], allowed_direction="in")
    counter = LineCounter(one_way)
    out = []
    for i, y in enumerate(range(260, 350, 10)):
        out += counter.trigger(tracked([box_at(700, y), box_at(300, 600 - y)], [1, 2]), frame_no=i, now=i / 25)
    assert [(c.track_id, c.direction, c.wrong_way) for c in out] == [(2, "out", True)]


UPRIGHT = CountingLine.from_points("across", [[300, 100], [300, 400]], [[250, 250], [350, 250]])  # in = rightwards
DIAGONAL = CountingLine.from_points("diagonal", [[100, 100], [400, 400]], [[300, 200], [200, 300]])


@pytest.mark.parametrize(
    ("line", "crossing", "box_height", "counts"),
    [
        # traffic across the picture, the nearest lane: the anchor crosses 10 px below the line's
        # lower end, the box is 60 px tall, so its lower half covers the end
        (UPRIGHT, (300, 410), 60, True),
        # the same vehicle crossing within the line: counts as it always did
        (UPRIGHT, (300, 390), 60, True),
        # 40 px below the end: the box's lower half (30 px) does not reach the line
        (UPRIGHT, (300, 440), 60, False),
        # 10 px above the upper end: the body reaches further up, away from the line
        (UPRIGHT, (300, 90), 60, False),
        # a line across the road, crossed 10 px past its right end: reaching up is not along it
        (HORIZONTAL, (510, 300), 60, False),
        # a diagonal line, crossed 10 px past its lower end: its lower half would meet the line,
        # but on a line that is not upright that says nothing about the vehicle's lane
        (DIAGONAL, (407, 407), 60, False),
    ],
)
def test_a_vehicle_in_the_nearest_lane_counts_on_an_upright_line_its_body_covers(line, crossing, box_height, counts):
    counter = LineCounter(line, hysteresis_px=4)
    (ax, ay), (bx, by) = line.a, line.b
    # the anchor moves square to the line, through the crossing point
    length = float(np.hypot(bx - ax, by - ay))
    nx, ny = -(by - ay) / length, (bx - ax) / length
    out = []
    for i, step in enumerate(range(-40, 41, 10)):
        x, y = crossing[0] + nx * step, crossing[1] + ny * step
        out += counter.trigger(tracked([box_at(x, y, h=box_height)], [5]), frame_no=i, now=i / 25)
    assert len(out) == (1 if counts else 0)


def test_state_is_pruned_so_memory_stays_flat():
    counter = LineCounter(HORIZONTAL, forget_after_s=2.0)
    zone = ZoneCounter("z", [[0, 0], [600, 0], [600, 600], [0, 600]])
    dwell = DwellMonitor(zone, dwell_s=1.0)
    stopped = StoppedMonitor(stopped_s=1.0, max_px=3, forget_after_s=2.0)
    ground = GroundPlane.from_points([[0, 0], [100, 0], [100, 100], [0, 100]], [[0, 0], [10, 0], [10, 10], [0, 10]])
    speed = SpeedEstimator(ground, forget_after_s=2.0)
    peak = 0
    fps = 25
    for frame in range(6_000):  # 4 minutes of a stream with a new object every 4 frames
        now = frame / fps
        ids = [frame // 4 - k for k in range(10) if frame // 4 - k > 0]
        boxes = [box_at(200 + (i % 7) * 30, 250 + (frame - i * 4) * 1.5) for i in ids]
        dets = tracked(boxes, ids)
        counter.trigger(dets, frame_no=frame, now=now)
        inside = zone.trigger(dets)
        dwell.trigger(dets, inside, frame_no=frame, now=now)
        stopped.trigger(dets, frame_no=frame, now=now)
        speed.trigger(dets, now=now)
        peak = max(peak, counter.tracks_held, dwell.tracks_held, stopped.tracks_held, speed.tracks_held)
    assert counter.in_count > 1000  # thousands of tracks went through ...
    assert peak < 120  # ... but only the recent ones are held


def test_track_memory_forgets():
    memory: TrackMemory[int] = TrackMemory(forget_after_s=1.0)
    memory.put(1, 10, now=0.0)
    memory.put(2, 20, now=0.9)
    memory.prune(1.5)
    assert memory.get(1) is None and memory.get(2) == 20


def test_zone_occupancy_by_class_counts_confirmed_only():
    zone = ZoneCounter("plaza", [[0, 0], [100, 0], [100, 100], [0, 100]])
    dets = tracked([box_at(50, 50), box_at(60, 60), box_at(150, 50)], [1, 2, 3], cls="person", confirmed=[True, False, True])
    inside = zone.trigger(dets)
    assert inside.tolist() == [True, True, False]
    assert zone.count == 1 and dict(zone.by_class) == {"person": 1}


def drive_and_stop(track_id, *, frames, stop_at, y=200):
    """A car driving right 5 px a frame from x=0 and standing at x=``stop_at`` once there: per frame, its box or None."""
    return [box_at(min(5 * f, stop_at), y, 40, 20) for f in range(frames)], [track_id] * frames


def appear_in_place(track_id, *, frames, x=100):
    """What an advertising screen's changing picture gives: a box that never leaves its spot, its edges jittering."""
    return [box_at(x + (f % 3), 60 + (f % 2) * 2, 60, 30) for f in range(frames)], [track_id] * frames


def hidden_and_back(*, frames, hidden, new_id, stop_at=150):
    """A car that drives in and stops; from frame ``hidden[0]`` to ``hidden[1]`` something hides it, and
    it comes back where it stood as track ``new_id`` (the tracker lost it)."""
    boxes, ids = drive_and_stop(1, frames=frames, stop_at=stop_at)
    return [None if hidden[0] <= f < hidden[1] else b for f, b in enumerate(boxes)], [1 if f < hidden[0] else new_id for f in range(frames)]


def lost_then_in_place(*, frames):
    """A car driving right, lost at x=150 (frame 30); from frame 33, a box jittering in place there."""
    boxes, ids = drive_and_stop(1, frames=30, stop_at=10_000)
    screen, _ = appear_in_place(5, frames=frames - 30)
    return boxes + [None] * 3 + [box_at(150 + b[0] - 70, 200, 40, 20) for b in screen[3:]], ids + [5] * (frames - 30)  # x 150-152


def moves_on_and_stops_again(*, frames):
    """A car that stops at x=150 for 3 s, drives on and stops again at x=300."""
    boxes = []
    for f in range(frames):
        x = 5 * f if f < 30 else 150 if f < 105 else min(150 + 5 * (f - 105), 300)
        boxes.append(box_at(x, 200, 40, 20))
    return boxes, [1] * frames


@pytest.mark.parametrize(
    ("scene", "expected"),
    [
        # a car that drove in and stands for 2 s: reported once, 2 s after it stopped (frame 30 + 50)
        (drive_and_stop(1, frames=150, stop_at=150), [(1, 2.0, 80)]),
        # a car that drives through without stopping: nothing
        (drive_and_stop(1, frames=150, stop_at=10_000), []),
        # an advertising screen beside the road, one track for minutes, its box jittering: never a stopped vehicle
        (appear_in_place(7, frames=400), []),
        # a car stopped 1.2 s, hidden for 1.5 s (a bus passing) and found again under a new id: its stop
        # counts from when it stopped, reported when it is seen again
        (hidden_and_back(frames=150, hidden=(60, 98), new_id=9), [(9, 2.7, 98)]),
        # a car hidden a quarter of a second after it stopped (the bus behind it pulling out past it)
        # and found again under a new id 1.5 s later: its stop still counts from when it stopped
        (hidden_and_back(frames=150, hidden=(38, 75), new_id=9), [(9, 2.0, 80)]),
        # hidden after it was reported: not reported again under its new id
        (hidden_and_back(frames=250, hidden=(100, 138), new_id=9), [(1, 2.0, 80)]),
        # a car lost while it drove on, and a screen's picture appearing where it was lost: nothing
        (lost_then_in_place(frames=250), []),
        # a car that moves on and stops again further on: each stop reported
        (moves_on_and_stops_again(frames=250), [(1, 2.0, 80), (1, 2.0, 185)]),
    ],
)
def test_stopped_vehicles(scene, expected):
    monitor = StoppedMonitor(stopped_s=2.0, max_px=4, forget_after_s=3.0)
    found = []
    for frame, (box, track_id) in enumerate(zip(*scene)):
        dets = tracked([box], [track_id]) if box is not None else tracked([], [])
        found += monitor.trigger(dets, frame_no=frame, now=frame / 25)
    assert [(d.track_id, round(d.duration_s, 1), d.frame_no) for d in found] == expected


@pytest.mark.parametrize(
    ("scene", "expected"),
    [
        # stood 3 s (frames 30 to 106) and drove on, as at a red light, then stopped again for good
        (moves_on_and_stops_again(frames=250), 3.0),
        # stood until the end of the clip: a stop, not yet a wait
        (drive_and_stop(1, frames=150, stop_at=150), 0.0),
        # drove through: no wait
        (drive_and_stop(1, frames=150, stop_at=10_000), 0.0),
        # an advertising screen, never arrived from anywhere: no vehicle's wait
        (appear_in_place(7, frames=400), 0.0),
    ],
)
def test_the_longest_wait_is_a_stand_that_ended_in_driving_on(scene, expected):
    monitor = StoppedMonitor(stopped_s=2.0, max_px=4, forget_after_s=3.0)
    for frame, (box, track_id) in enumerate(zip(*scene)):
        monitor.trigger(tracked([box], [track_id]) if box is not None else tracked([], []), frame_no=frame, now=frame / 25)
    assert round(monitor.longest_wait_s, 1) == expected


def walk_in_and_stay(track_id, *, frames, stay_at=50, step=4):
    """A person walking right ``step`` px a frame from x=-100 (outside the door's zone, 0-100) and
    standing at x=``stay_at`` once there: per frame, their box (40 px tall) and track id."""
    return [box_at(min(-100 + step * f, stay_at), 60, 16, 40) for f in range(frames)], [track_id] * frames


def walk_in_leave_and_return(*, frames, away):
    """A person who walks in (at x=50 from frame 38), steps out of the zone to x=130 for frames
    ``away[0]`` to ``away[1]``, and comes back to stand at x=50."""
    boxes, ids = walk_in_and_stay(11, frames=frames)
    return [box_at(130, 60, 16, 40) if away[0] <= f < away[1] else b for f, b in enumerate(boxes)], ids


def hidden_in_the_zone(*, frames, hidden, new_id):
    """A person who walks in and stands; from frame ``hidden[0]`` to ``hidden[1]`` someone passing
    in front hides them, and they are found again where they stood as track ``new_id``."""
    boxes, _ = walk_in_and_stay(11, frames=frames)
    return [None if hidden[0] <= f < hidden[1] else b for f, b in enumerate(boxes)], [11 if f < hidden[0] else new_id for f in range(frames)]


@pytest.mark.parametrize(
    ("scene", "must_arrive", "expected"),
    [
        # walks in (inside from frame 25, standing from frame 38) and stays: reported once, 3 s after it came in
        (walk_in_and_stay(11, frames=200), False, [(11, 3.0, 100)]),
        # a screen or a tree in a traffic zone, one track that never came from anywhere: never a stopped vehicle
        (appear_in_place(7, frames=400, x=50), True, []),
        # on a security camera people standing together are born in place as they part: what never moves
        # is reported too (and masked by the installer)
        (appear_in_place(7, frames=400, x=50), False, [(7, 3.0, 75)]),
        # steps out for a second (under the 2 s grace) and back: the same stay, reported once
        (walk_in_leave_and_return(frames=200, away=(50, 75)), False, [(11, 3.0, 100)]),
        # reported, out for 3 s, back: another stay, reported again 3 s after it came back
        (walk_in_leave_and_return(frames=400, away=(110, 185)), False, [(11, 3.0, 100), (11, 3.0, 260)]),
        # hidden for 1.5 s by someone passing in front and found again under a new id: its stay goes
        # on from when it came in, whether or not tracks must have come from somewhere
        (hidden_in_the_zone(frames=200, hidden=(45, 83), new_id=12), False, [(12, 3.0, 100)]),
        (hidden_in_the_zone(frames=200, hidden=(45, 83), new_id=12), True, [(12, 3.0, 100)]),
        # walks through the zone without stopping: nothing
        (walk_in_and_stay(11, frames=200, stay_at=1_000), False, []),
    ],
)
def test_dwell_reports_once_per_stay(scene, must_arrive, expected):
    zone = ZoneCounter("door", [[0, 0], [100, 0], [100, 100], [0, 100]])
    dwell = DwellMonitor(zone, dwell_s=3.0, must_arrive=must_arrive)
    found = []
    for frame, (box, track_id) in enumerate(zip(*scene)):
        dets = tracked([box], [track_id], cls="person") if box is not None else tracked([], [], cls="person")
        found += dwell.trigger(dets, zone.trigger(dets), frame_no=frame, now=frame / 25)
    assert [(d.track_id, round(d.duration_s, 1), d.frame_no) for d in found] == expected


@pytest.mark.parametrize(
    ("reported_before_split", "expected"),
    [
        # two people who walked in together as one blob and stand: the blob splits at frame 60 and the
        # one found beside it (born in place) stays from when they came in, so both are reported at frame 100
        (False, [(11, 3.0, 100), (12, 3.0, 100)]),
        # the blob was reported before it split: the piece born in place is not reported again
        (True, [(11, 3.0, 100)]),
    ],
)
def test_a_group_that_splits_keeps_its_stay(reported_before_split, expected):
    zone = ZoneCounter("door", [[0, 0], [100, 0], [100, 100], [0, 100]])
    dwell = DwellMonitor(zone, dwell_s=3.0, must_arrive=False)
    split_at = 110 if reported_before_split else 60
    found = []
    for frame in range(200):
        if frame < split_at:
            boxes, ids = [box_at(min(-100 + 4 * frame, 50), 60, 32, 40)], [11]
        else:
            boxes, ids = [box_at(42, 60, 16, 40), box_at(58, 60, 16, 40)], [11, 12]
        dets = tracked(boxes, ids, cls="person")
        found += dwell.trigger(dets, zone.trigger(dets), frame_no=frame, now=frame / 25)
    assert [(d.track_id, round(d.duration_s, 1), d.frame_no) for d in found] == expected


def test_speed_from_homography():
    # 10 px per metre; the object moves 5 px per frame at 25 fps = 12.5 m/s = 45 km/h
    ground = GroundPlane.from_points([[0, 0], [100, 0], [100, 100], [0, 100]], [[0, 0], [10, 0], [10, 10], [0, 10]])
    speed = SpeedEstimator(ground, window_s=1.0)
    last = None
    for frame in range(40):
        last = speed.trigger(tracked([box_at(50, 10 + frame * 5)], [1]), now=frame / 25)
    assert last[0] == pytest.approx(45.0, rel=0.01)
    with pytest.raises(ValueError):
        GroundPlane.from_points([[0, 0], [1, 1], [2, 2], [3, 3]], [[0, 0], [1, 0], [1, 1], [0, 1]])


# A road seen in perspective: its near edge 400 px wide at the bottom row, its far edge 100 px
# wide 300 px up the picture, for a stretch 10 m wide and 40 m long.
_ROAD = GroundPlane.from_points([[0, 400], [400, 400], [250, 100], [150, 100]], [[0, 0], [10, 0], [10, 40], [0, 40]])


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([[0, 400], [400, 400]], [[0, 0], [10, 0]]),  # the calibration's own near corners
        ([[250, 100], [150, 100]], [[10, 40], [0, 40]]),  # and its far ones
        ([[200, 400]], [[5, 0]]),  # half way along the near edge is half way across the road
        ([[200, 160]], [[5, 20]]),  # four fifths of the way up the picture is half way along: far off, a pixel covers more road
        (np.zeros((0, 2)), np.zeros((0, 2))),  # a frame with nothing on it
    ],
)
def test_image_points_go_to_the_ground_in_metres(points, expected):
    assert _ROAD.to_ground(np.asarray(points, float)) == pytest.approx(np.asarray(expected, float).reshape(-1, 2), abs=1e-6)


def test_how_large_a_metre_of_ground_looks_where_it_is():
    # straight down at 10 px a metre: 10 everywhere
    flat = GroundPlane.from_points([[0, 0], [100, 0], [100, 100], [0, 100]], [[0, 0], [10, 0], [10, 10], [0, 10]])
    assert flat.pixels_per_metre([[5, 5], [90, 40]]) == pytest.approx([10, 10], rel=1e-6)
    # in perspective a metre looks smaller further up the road, and is foreshortened along it: at
    # the near edge 40 px across and fewer along, so under 40 as a square's side; far off, a few
    near, middle, far = _ROAD.pixels_per_metre([[200, 399], [200, 250], [200, 101]])
    assert 30 < near < 40 and near > middle > far and far < 6
    assert flat.pixels_per_metre(np.zeros((0, 2))).shape == (0,)


def test_an_id_change_at_the_line_still_counts_once():
    counter = LineCounter(HORIZONTAL, hysteresis_px=4)
    out = []
    for i, y in enumerate([240, 255, 270, 285]):  # track 5 drives down to the line, then its id is lost
        out += counter.trigger(tracked([box_at(300, y, h=30)], [5]), frame_no=i * 3, now=i * 0.12)
    # the next frame it is track 6, just past the line, where track 5 was heading
    out += counter.trigger(tracked([box_at(302, 305, h=30)], [6], confirmed=False), frame_no=12, now=0.48)
    assert out == []  # not confirmed yet
    out += counter.trigger(tracked([box_at(303, 320, h=30)], [6], confirmed=True), frame_no=15, now=0.60)
    assert [(c.track_id, c.direction, c.frame_no) for c in out] == [(6, "in", 12)]
    for i, y in enumerate([335, 350, 365]):
        out += counter.trigger(tracked([box_at(304, y, h=30)], [6]), frame_no=18 + 3 * i, now=0.72 + 0.12 * i)
    assert len(out) == 1 and counter.in_count == 1


def _lost_at_the_line(counter: LineCounter) -> list:
    """Track 5 drives down to the line and is missing the next frame, when track 6 is born just
    past the line where it was heading: 6 is handed its crossing, to count once confirmed."""
    out = []
    for i, y in enumerate([240, 255, 270, 285]):
        out += counter.trigger(tracked([box_at(300, y, h=30)], [5]), frame_no=i * 3, now=i * 0.12)
    out += counter.trigger(tracked([box_at(302, 305, h=30)], [6], confirmed=False), frame_no=12, now=0.48)
    return out


def test_a_piece_that_never_confirms_leaves_the_crossing_to_the_vehicle():
    # Track 6 was a piece of the vehicle, born as it blurred past the line: it is gone the next
    # frame, and track 5 is back, past the line. The vehicle counts, once.
    counter = LineCounter(HORIZONTAL, hysteresis_px=4)
    out = _lost_at_the_line(counter)
    for i, y in enumerate([320, 335]):
        out += counter.trigger(tracked([box_at(303, y, h=30)], [5]), frame_no=15 + 3 * i, now=0.60 + 0.12 * i)
    assert [(c.track_id, c.direction) for c in out] == [(5, "in")]
    # the piece seen again and confirmed after all takes nothing more
    out += counter.trigger(tracked([box_at(303, 350, h=30), box_at(360, 340, h=30)], [5, 6]), frame_no=21, now=0.84)
    assert len(out) == 1 and counter.in_count == 1


def test_an_heir_that_confirms_counts_and_the_old_id_back_past_the_line_does_not():
    counter = LineCounter(HORIZONTAL, hysteresis_px=4)
    out = _lost_at_the_line(counter)
    out += counter.trigger(tracked([box_at(303, 320, h=30)], [6]), frame_no=15, now=0.60)
    assert [(c.track_id, c.direction) for c in out] == [(6, "in")]
    # the old id turns up again beside it, past the line (the tracker picked it up on a piece)
    out += counter.trigger(tracked([box_at(303, 335, h=30), box_at(330, 330, h=30)], [6, 5]), frame_no=18, now=0.72)
    assert len(out) == 1 and counter.in_count == 1


@pytest.mark.parametrize(
    ("allowed", "counted"),
    [
        (None, [(6, "in", False)]),  # a two-way road: the crossing read from the id change counts
        ("in", [(6, "in", False)]),  # the way the road allows: counts
        # against it: a wrong way is an incident the police are called to, and an id that changed
        # at the line (a vehicle broken into pieces, handing its side to a piece) is no evidence of one
        ("out", []),
    ],
)
def test_a_wrong_way_is_never_read_from_an_id_changed_at_the_line(allowed, counted):
    line = CountingLine.from_points("stop", [[100, 300], [500, 300]], [[300, 250], [300, 350]], allowed_direction=allowed)
    counter = LineCounter(line, hysteresis_px=4)
    out = _lost_at_the_line(counter)
    out += counter.trigger(tracked([box_at(303, 320, h=30)], [6]), frame_no=15, now=0.60)
    assert [(c.track_id, c.direction, c.wrong_way) for c in out] == counted


@pytest.mark.parametrize(
    ("allowed", "lost", "counted"),
    [
        ("out", False, [(5, "in", True)]),  # seen on every analysed frame driving against the traffic: a wrong way
        ("out", True, []),  # lost before the line and found again past it: no wrong way, and no count
        ("in", True, [(5, "in", False)]),  # found again past the line the way the road allows: counts
        (None, True, [(5, "in", False)]),  # a two-way road: counts
    ],
)
def test_a_wrong_way_is_never_read_from_a_track_found_again_past_the_line(allowed, lost, counted):
    line = CountingLine.from_points("stop", [[100, 300], [500, 300]], [[300, 250], [300, 350]], allowed_direction=allowed)
    counter = LineCounter(line, hysteresis_px=4)
    out = []
    for i, y in enumerate([250, 265, 280, 295, 310, 325]):
        seen = [box_at(300, y, h=30)] if not (lost and y in (295, 310)) else []  # unseen on the line
        others = [box_at(450, 100, h=30)]  # something else in the picture all along
        out += counter.trigger(tracked(seen + others, [5] * len(seen) + [9]), frame_no=i * 3, now=i * 0.12)
    assert [(c.track_id, c.direction, c.wrong_way) for c in out] == counted


def test_a_new_track_far_from_a_vanished_one_inherits_nothing():
    counter = LineCounter(HORIZONTAL, hysteresis_px=4)
    out = []
    for i, y in enumerate([240, 255, 270, 285]):
        out += counter.trigger(tracked([box_at(150, y, h=30)], [5]), frame_no=i * 3, now=i * 0.12)
    for i, y in enumerate([305, 320, 335]):  # someone else, 300 px away, appears past the line
        out += counter.trigger(tracked([box_at(450, y, h=30)], [6]), frame_no=12 + 3 * i, now=0.48 + 0.12 * i)
    assert out == [] and counter.in_count == 0
