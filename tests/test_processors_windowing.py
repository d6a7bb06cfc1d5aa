"""Pure window logic: exact numbers, late events, and exact replay after a crash."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ingest.contract import CountWindow, FrameEvent, LineCrossing
from ingest.windowstats import percentile
from processors.windowing import Admission, Horizon, PartitionWindows, WindowSpec, occupancy_stats
from processors.workload import as_facts, compare, ground_truth, make_workload, window_key

SPEC = WindowSpec(window_s=60, grace_s=10.0)
PARTITIONS = 4


def _lanes(events):
    """(topic-lane, partition) -> [(offset, event)] like the broker would hold them."""
    lanes: dict[tuple[str, int], list] = {}
    produced = []
    for event in events:
        partition = sum(event.camera_id.encode()) % PARTITIONS
        lane = lanes.setdefault((type(event).__name__, partition), [])
        lane.append((len(lane), event))
        produced.append((partition, event))
    return lanes, produced


def _run(lane, *, windows=None, start=0, stop=None, checkpoint_every=None, spec=SPEC):
    windows = windows or PartitionWindows(spec)
    emitted = []
    checkpoint = (0, None)
    for i, (offset, event) in enumerate(lane[start:stop]):
        windows.add(offset, event)
        emitted.extend(windows.close_due())
        if checkpoint_every and i % checkpoint_every == checkpoint_every - 1:
            # Horizon first, then the offset (the order the app stores them in).
            horizon = windows.horizon()
            checkpoint = (windows.commit_offset(), horizon)
    return windows, emitted, checkpoint


def _by_key(windows):
    return {window_key(w): as_facts(w) for w in windows}


@pytest.mark.parametrize("values", [[1.0], [3.0, 1.0], list(range(17)), [random.Random(3).uniform(0, 90) for _ in range(101)]])
def test_percentile_matches_numpy(values):
    assert percentile(values, 85) == pytest.approx(float(np.percentile(values, 85)))
    assert percentile([], 85) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_occupancy_is_time_weighted_from_the_first_sample():
    start = 600.0
    peak, mean = occupancy_stats([(start + 30, 4), (start + 10, 2)], start + 60)
    # 2 for 20 s then 4 for 30 s, over the 50 s from the first sample
    assert peak == 4 and mean == pytest.approx((2 * 20 + 4 * 30) / 50)


SKEWED = WindowSpec(window_s=60, grace_s=10.0, idle_s=40.0)


@pytest.mark.parametrize("spec, skew_s", [(SPEC, 0.0), (SPEC, 90.0), (SKEWED, 90.0)], ids=["aligned", "skewed", "skewed-idle-40s"])
def test_windows_equal_ground_truth_with_late_events(spec, skew_s):
    workload = make_workload(cameras=12, minutes=5, crossings_per_s=15, late_within_grace=40, late_beyond_grace=12,
                             clock_skew_s=skew_s)
    lanes, produced = _lanes(workload.events)
    emitted, late = [], 0
    for lane in lanes.values():
        windows, out, _ = _run(lane, spec=spec)
        emitted += out
        late += windows.late
    # Only windows the stream has closed everywhere are comparable.
    before = workload.end - timedelta(seconds=spec.window_s + spec.grace_s + 60 + skew_s)
    truth, truth_late = ground_truth(produced, before=before, idle_s=spec.idle_s)
    got = {k: v for k, v in _by_key(emitted).items() if k[-1] < before}
    assert compare(truth, got) == []
    assert late == truth_late and late >= 10  # the beyond-grace events were counted as late


@pytest.mark.parametrize("spec, skew_s", [(SPEC, 0.0), (SPEC, 90.0), (SKEWED, 90.0)], ids=["aligned", "skewed", "skewed-idle-40s"])
def test_replay_after_crash_rebuilds_every_window_exactly(spec, skew_s):
    workload = make_workload(cameras=8, minutes=6, crossings_per_s=10, late_within_grace=30, late_beyond_grace=8, seed=11,
                             clock_skew_s=skew_s)
    lanes, _ = _lanes(workload.events)
    rnd = random.Random(5)
    for lane in lanes.values():
        _, reference, _ = _run(lane, spec=spec)
        for crash_at in sorted(rnd.sample(range(len(lane)), 6)):
            every = rnd.choice((1, 7, 50))
            first, emitted, (offset, horizon) = _run(lane, stop=crash_at, checkpoint_every=every, spec=spec)
            # A new owner: state lost, resumes at the committed offset with the committed horizon.
            resumed = PartitionWindows(spec, horizon=horizon)
            _, more, _ = _run(lane, windows=resumed, start=offset, spec=spec)
            # Every window emitted twice must carry the same numbers as the first time ...
            seen = {}
            for window in emitted + more:
                key = window_key(window)
                assert seen.setdefault(key, as_facts(window)) == as_facts(window), (crash_at, every, key)
            # ... and the union equals an uninterrupted run.
            assert seen == _by_key(reference), (crash_at, every)


def test_duplicate_offsets_are_not_counted_twice():
    windows = PartitionWindows(SPEC)
    crossing = LineCrossing(camera_id="c", ts=datetime(2026, 1, 1, tzinfo=UTC), frame_no=1, line_id="l",
                            direction="in", cls="car", track_id=1, speed_kmh=10.0)
    assert windows.add(5, crossing) is Admission.COUNTED
    assert windows.add(5, crossing) is Admission.DUPLICATE
    windows.add(6, LineCrossing(camera_id="c", ts=crossing.ts + timedelta(minutes=5), frame_no=2, line_id="l",
                                direction="in", cls="car", track_id=2))
    (closed,) = windows.close_due()
    assert isinstance(closed, CountWindow) and closed.count == 1
    assert windows.commit_offset() == 6  # the open window's first offset


def test_window_spec_rejects_nonsense():
    with pytest.raises(ValueError):
        WindowSpec(window_s=0)
    with pytest.raises(ValueError):
        WindowSpec(grace_s=-1)
    with pytest.raises(ValueError):
        WindowSpec(lone_lead_s=-1)


def _crossing(camera: str, t: float, n: int, *, base=datetime(2026, 11, 2, 8, 0, tzinfo=UTC)) -> LineCrossing:
    return LineCrossing(camera_id=camera, ts=base + timedelta(seconds=t), frame_no=n, line_id="l", direction="in",
                        cls="car", track_id=n, speed_kmh=float(10 + n % 50))


def test_a_camera_lagging_beyond_grace_is_counted_not_late():
    # Two cameras on one partition; "slow" sends what happened 45 s earlier than "fast" (grace 10 s).
    lane = []
    for n in range(600):  # 5 minutes, one crossing per camera every 0.5 s
        lane.append(_crossing("fast", n * 0.5, n))
        lane.append(_crossing("slow", n * 0.5 - 45, n))
    lane.append(_crossing("fast", 3600, 10_000))
    lane.append(_crossing("slow", 3600, 10_000))
    offsets = list(enumerate(lane))
    windows, emitted, _ = _run(offsets)
    assert windows.late == 0
    truth, truth_late = ground_truth([(0, e) for e in lane], before=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    assert truth_late == 0 and compare(truth, _by_key(emitted)) == []
    counted = {cam: sum(w.count for w in emitted if w.camera_id == cam) for cam in ("fast", "slow")}
    assert counted == {"fast": 600, "slow": 600}
    # The same stream judged by the partition's clock alone (idle 0 s) loses the slow camera's
    # crossings at every window's end: what the per-camera clocks are for.
    partition_clock, _, _ = _run(offsets, spec=WindowSpec(window_s=60, grace_s=10.0, idle_s=0.0, lone_lead_s=0.0))
    assert partition_clock.late > 100


def test_a_silent_camera_window_closes_after_idle_and_releases_the_commit_offset():
    spec = WindowSpec(window_s=60, grace_s=10.0, idle_s=120.0)
    windows = PartitionWindows(spec)
    for n in range(5):  # "quiet" sends five crossings in minute 0, then nothing
        assert windows.add(n, _crossing("quiet", 10 + n, n)) is Admission.COUNTED
    offset = 5
    closed = []
    t = 0.0
    while t < 189.5:  # two busy cameras carry on; the partition's stream time reaches 189.5 s
        for busy in ("busy", "also-busy"):
            windows.add(offset, _crossing(busy, t, offset))
            closed += windows.close_due()
            offset += 1
        t += 0.5
    # quiet's window [0, 60) waits for end + grace + idle = 190 s of partition time ...
    assert not [w for w in closed if w.camera_id == "quiet"]
    assert windows.commit_offset() == 0
    windows.add(offset, _crossing("busy", 190.0, offset))
    windows.add(offset + 1, _crossing("also-busy", 190.0, offset + 1))
    offset += 2
    closed = windows.close_due()
    # ... and then closes, with all its crossings, and no longer holds the commit offset back.
    (quiet,) = [w for w in closed if w.camera_id == "quiet"]
    assert quiet.count == 5 and quiet.ts == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert windows.commit_offset() > 5
    assert "quiet" not in windows.horizon().cameras  # idle beyond idle_s: forgotten
    # Back after the silence: new windows count, an event for the closed window is late.
    assert windows.add(offset, _crossing("quiet", 191.0, offset)) is Admission.COUNTED
    assert windows.add(offset + 1, _crossing("quiet", 50.0, offset + 1)) is Admission.LATE
    assert windows.late == 1


def test_replay_is_exact_when_the_horizon_is_ahead_of_the_committed_offset():
    # A crash after the horizon was stored but before the offset was committed: the new owner
    # gets the newer horizon with the previous checkpoint's offset. Skewed clocks, idle 40 s.
    workload = make_workload(cameras=10, minutes=6, crossings_per_s=10, late_within_grace=30, late_beyond_grace=8,
                             seed=12, clock_skew_s=90.0)
    lanes, _ = _lanes(workload.events)
    rnd = random.Random(9)
    for lane in lanes.values():
        _, reference, _ = _run(lane, spec=SKEWED)
        for _ in range(4):
            windows = PartitionWindows(SKEWED)
            emitted, checkpoints = [], []
            crash_at = rnd.randrange(len(lane))
            for offset, event in lane[:crash_at]:
                windows.add(offset, event)
                emitted += windows.close_due()
                if rnd.random() < 0.05:
                    checkpoints.append((windows.commit_offset(), windows.horizon()))
            if len(checkpoints) < 2:
                continue
            (older_offset, older_horizon), (_, newer_horizon) = checkpoints[-2:]
            resumed = PartitionWindows(SKEWED, horizon=newer_horizon.merged(older_horizon, SKEWED.idle_s))
            _, more, _ = _run(lane, windows=resumed, start=older_offset, spec=SKEWED)
            seen = {}
            for window in emitted + more:
                key = window_key(window)
                assert seen.setdefault(key, as_facts(window)) == as_facts(window), (crash_at, key)
            assert seen == _by_key(reference), crash_at


def test_horizons_merge_upwards_and_forget_idle_cameras():
    older = Horizon(stream_time=1000.0, cameras={"a": 990.0, "b": 700.0, "c": 950.0})
    newer = Horizon(stream_time=1100.0, cameras={"a": 1100.0, "d": 1050.0})
    merged = newer.merged(older, 300.0)
    assert merged == Horizon(stream_time=1100.0, cameras={"a": 1100.0, "c": 950.0, "d": 1050.0})
    assert older.merged(newer, 300.0) == merged  # order does not matter: a stale writer cannot go back
    assert newer.merged(None, 300.0) == newer


AHEAD_S = 600.0  # the bad camera's clock is ten minutes ahead


def _neighbours_and_one_camera_ahead(*, minutes: int = 5, neighbours: int = 11) -> list[LineCrossing]:
    """One partition: ``neighbours`` cameras on time and one ten minutes ahead, each a crossing
    every 0.5 s, then one far-future crossing per camera that closes every window."""
    lane, n = [], 0
    cameras = [f"on-time-{i:02d}" for i in range(neighbours)]
    for step in range(minutes * 120):
        t = step * 0.5
        for camera in cameras:
            lane.append(_crossing(camera, t + (n % 7) * 0.01, n))
            n += 1
        lane.append(_crossing("ahead", t + AHEAD_S, n))
        n += 1
    for camera in cameras + ["ahead"]:
        lane.append(_crossing(camera, 7200.0, n))
        n += 1
    return lane


def test_a_camera_ten_minutes_ahead_does_not_make_its_neighbours_late():
    lane = _neighbours_and_one_camera_ahead()
    windows, emitted, _ = _run(list(enumerate(lane)))
    sent = {}
    for event in lane:
        if event.ts.hour < 10:  # not the closing crossings
            sent[event.camera_id] = sent.get(event.camera_id, 0) + 1
    counted = {}
    for window in emitted:
        counted[window.camera_id] = counted.get(window.camera_id, 0) + window.count
    # Every neighbour counted in full, and the camera ahead too, in its own (future) windows.
    assert windows.late == 0 and windows.before_horizon == 0
    assert counted == sent and len(sent) == 12 and sum(sent.values()) == 12 * 600
    assert {w.ts.minute for w in emitted if w.camera_id == "ahead"} == {10, 11, 12, 13, 14}
    # The same stream with the partition clock following its latest camera: the neighbours' events
    # arrive after the camera ahead has closed their windows.
    naive, naive_emitted, _ = _run(list(enumerate(lane)), spec=WindowSpec(lone_lead_s=0.0))
    assert naive.late >= 11 * 500
    truth, truth_late = ground_truth([(0, e) for e in lane], before=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    assert truth_late == 0 and compare(truth, _by_key(emitted)) == []


@pytest.mark.parametrize("ahead_s, late_expected", [
    (SPEC.lone_lead_s + SPEC.idle_s + SPEC.grace_s, False),  # the furthest ahead that harms no neighbour
    (SPEC.lone_lead_s + SPEC.idle_s + SPEC.window_s + SPEC.grace_s + 1, True),  # beyond: neighbours' windows close early
])
def test_how_far_ahead_one_camera_may_run(ahead_s, late_expected):
    windows = PartitionWindows(SPEC)
    n = 0
    for step in range(240):
        t = step * 0.5
        windows.add(n, _crossing("ahead", t + ahead_s, n))
        windows.add(n + 1, _crossing("on-time", t, n + 1))
        n += 2
        windows.close_due()
    assert (windows.late > 0) is late_expected


def test_the_partition_clock_resumed_from_a_horizon_is_not_moved_by_the_camera_ahead():
    lane = _neighbours_and_one_camera_ahead(minutes=3, neighbours=4)
    _, reference, _ = _run(list(enumerate(lane)))
    cut = len(lane) // 2
    first, emitted, (offset, horizon) = _run(list(enumerate(lane)), stop=cut, checkpoint_every=50)
    assert horizon.cameras["ahead"] - horizon.stream_time >= AHEAD_S - SPEC.lone_lead_s
    resumed = PartitionWindows(SPEC, horizon=horizon)
    _, more, _ = _run(list(enumerate(lane)), windows=resumed, start=offset)
    assert resumed.late == 0
    seen = {}
    for window in emitted + more:
        assert seen.setdefault(window_key(window), as_facts(window)) == as_facts(window)
    assert seen == _by_key(reference)


# -- closing a camera's windows from its other streams ------------------------------------------

STREET = "quiet"  # two crossings in minute 0 (at 5 s and 20 s), the next one at 200 s
QUIET_CROSSINGS = (5.0, 20.0, 200.0)


def _frame(camera: str, t: float, n: int, *, base=datetime(2026, 11, 2, 8, 0, tzinfo=UTC)) -> FrameEvent:
    return FrameEvent(camera_id=camera, ts=base + timedelta(seconds=t), frame_no=n, width=1280, height=720)


def _street(*, lag_s: float = 0.0, seconds: int = 300) -> list[tuple[float, str, object]]:
    """What reaches the bus, as (arrival, topic, event): two busy cameras (a crossing every 0.5 s),
    the quiet camera, and a camera ``lag_s`` behind (its agent replays a spool), each with a
    frame event a second, crossings of an instant before its frame."""
    arrivals: list[tuple[float, int, str, object]] = []
    n = 0
    for step in range(seconds * 2):
        t = step * 0.5
        for camera in ("busy-1", "busy-2", "slow"):
            if camera == "slow" and not lag_s:
                continue
            shift = lag_s if camera == "slow" else 0.0
            arrivals.append((t, 0, "crossings", _crossing(camera, t - shift, n)))
            n += 1
            if step % 2 == 0:
                arrivals.append((t, 1, "frames", _frame(camera, t - shift, n)))
    for t in QUIET_CROSSINGS:
        arrivals.append((t, 0, "crossings", _crossing(STREET, t, n)))
        n += 1
    for second in range(seconds):
        arrivals.append((float(second), 1, "frames", _frame(STREET, float(second), n)))
    arrivals.sort(key=lambda a: (a[0], a[1]))
    return [(t, topic, event) for t, _, topic, event in arrivals]


class _Worker:
    """A worker holding the crossing and the frame partition of these cameras: each read is
    followed by ``close_due`` on both, with each camera's bound from both (as processors.counting)."""

    def __init__(self, *, crossings: Horizon | None = None, use_bounds: bool = True) -> None:
        self.lanes = {"crossings": PartitionWindows(SPEC, horizon=crossings), "frames": PartitionWindows(SPEC)}
        self.use_bounds = use_bounds
        self.read_to = {"crossings": -math.inf, "frames": -math.inf}  # latest event time read per lane
        self.counts: list[tuple[dict[str, float], CountWindow]] = []  # (lanes read to, window) as emitted

    def bound(self, camera: str) -> float:
        return max(lane.camera_clock(camera) for lane in self.lanes.values())

    def read(self, topic: str, offset: int, event) -> None:
        self.lanes[topic].add(offset, event)
        self.read_to[topic] = max(self.read_to[topic], event.ts.timestamp() - BASE_TS)
        for lane in self.lanes.values():
            for window in lane.close_due(self.bound if self.use_bounds else None):
                if isinstance(window, CountWindow):
                    self.counts.append((dict(self.read_to), window))


BASE_TS = datetime(2026, 11, 2, 8, 0, tzinfo=UTC).timestamp()


def _with_offsets(arrivals):
    """(topic, offset, event) in arrival order, offsets numbered per topic like the broker's."""
    next_offset = {"crossings": 0, "frames": 0}
    out = []
    for _, topic, event in arrivals:
        out.append((topic, next_offset[topic], event))
        next_offset[topic] += 1
    return out


def _counted(worker: _Worker) -> dict[str, int]:
    counted: dict[str, int] = {}
    for _, window in worker.counts:
        counted[window.camera_id] = counted.get(window.camera_id, 0) + window.count
    return counted


@pytest.mark.parametrize("use_bounds, closed_by", [
    (True, SPEC.window_s + SPEC.grace_s + 1.0),  # its frames pass end + grace: closed within a frame's second
    (False, 200.0),  # its own clock alone: the window waits for the next crossing
])
def test_a_quiet_camera_window_closes_when_its_frames_pass_end_plus_grace(use_bounds, closed_by):
    worker = _Worker(use_bounds=use_bounds)
    for topic, offset, event in _with_offsets(_street()):
        worker.read(topic, offset, event)
    (read_to, window), = [(r, w) for r, w in worker.counts if w.camera_id == STREET and w.ts.minute == 0]
    assert window.count == 2
    assert read_to["crossings"] == pytest.approx(closed_by, abs=1.0)
    assert worker.lanes["crossings"].late == 0


def test_a_lagging_camera_is_not_cut_short_by_its_neighbours_or_its_frames():
    # "slow" sends what happened 45 s earlier, on both topics (a spool replayed after an outage).
    arrivals = _street(lag_s=45.0)
    worker = _Worker()
    for topic, offset, event in _with_offsets(arrivals):
        worker.read(topic, offset, event)
    assert worker.lanes["crossings"].late == 0
    # Every full minute of every camera is counted in full (the last ones are still open).
    sent: dict[str, int] = {}
    for _, topic, event in arrivals:
        if topic == "crossings" and event.ts.timestamp() - BASE_TS < 180:
            sent[event.camera_id] = sent.get(event.camera_id, 0) + 1
    counted: dict[str, int] = {}
    for _, window in worker.counts:
        if window.ts.timestamp() - BASE_TS < 180:
            counted[window.camera_id] = counted.get(window.camera_id, 0) + window.count
    assert counted == sent and sent["slow"] == (180 + 45) * 2


def test_frames_read_far_ahead_of_the_crossings_close_nothing_early():
    # The worker reads the whole frame partition before the crossing partition (a backlog, one
    # partition fetched first): the bound is capped by how far the crossings were read.
    arrivals = _with_offsets(_street(lag_s=45.0))
    worker = _Worker()
    for topic, offset, event in [a for a in arrivals if a[0] == "frames"] + [a for a in arrivals if a[0] == "crossings"]:
        worker.read(topic, offset, event)
    assert worker.lanes["crossings"].late == 0
    reference = _Worker()
    for topic, offset, event in arrivals:
        reference.read(topic, offset, event)
    assert _by_key(w for _, w in worker.counts) == _by_key(w for _, w in reference.counts)
    # Still closed promptly by the crossing partition's own reading, not by its next crossing.
    (read_to, _), = [(r, w) for r, w in worker.counts if w.camera_id == STREET and w.ts.minute == 0]
    assert read_to["crossings"] == pytest.approx(SPEC.window_s + SPEC.grace_s, abs=1.0)


@pytest.mark.parametrize("crash_at_s", [40.0, 72.0, 75.0, 110.0, 150.0])  # before, at and after minute 0 closes
def test_replay_with_frames_read_ahead_rebuilds_every_window_exactly(crash_at_s):
    # The first owner reads the frames 30 s behind the crossings, so at the crash the quiet
    # camera's minute may be past the partition's clock but still open. The new owner has read
    # every frame already when it replays the crossings from the committed offset: its bound is
    # far ahead, and the replay must still rebuild that minute whole, not close it after its
    # first crossing.
    arrivals = [(t + (30.0 if topic == "frames" else 0.0), topic, event) for t, topic, event in _street(lag_s=45.0)]
    arrivals.sort(key=lambda a: a[0])
    ordered = _with_offsets(arrivals)
    reference = _Worker()
    for topic, offset, event in ordered:
        reference.read(topic, offset, event)
    first = _Worker()
    checkpoint = (0, None)
    for topic, offset, event in ordered:
        if event.ts.timestamp() - BASE_TS >= crash_at_s and topic == "crossings":
            break
        first.read(topic, offset, event)
        if topic == "crossings" and offset % 7 == 6:
            crossings = first.lanes["crossings"]
            checkpoint = (crossings.commit_offset(), crossings.horizon())
    offset_committed, horizon = checkpoint
    resumed = _Worker(crossings=horizon)
    for topic, offset, event in [a for a in ordered if a[0] == "frames"]:
        resumed.read(topic, offset, event)
    for topic, offset, event in ordered:
        if topic == "crossings" and offset >= offset_committed:
            resumed.read(topic, offset, event)
    assert resumed.lanes["crossings"].late == 0
    seen: dict[tuple, dict] = {}
    for _, window in first.counts + resumed.counts:
        assert seen.setdefault(window_key(window), as_facts(window)) == as_facts(window), window_key(window)
    assert seen == _by_key(w for _, w in reference.counts)
