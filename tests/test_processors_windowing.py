"""Pure window logic: exact numbers, late events, and exact replay after a crash."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from ingest.contract import CountWindow, LineCrossing
from processors.percentile import percentile
from processors.windowing import Admission, PartitionWindows, WindowSpec, occupancy_stats
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


def _run(lane, *, windows=None, start=0, stop=None, checkpoint_every=None):
    windows = windows or PartitionWindows(SPEC)
    emitted = []
    checkpoint = (0, None)
    for i, (offset, event) in enumerate(lane[start:stop]):
        windows.add(offset, event)
        emitted.extend(windows.close_due())
        if checkpoint_every and i % checkpoint_every == checkpoint_every - 1:
            checkpoint = (windows.commit_offset(), windows.stream_time)
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


def test_windows_equal_ground_truth_with_late_events():
    workload = make_workload(cameras=12, minutes=5, crossings_per_s=15, late_within_grace=40, late_beyond_grace=12)
    lanes, produced = _lanes(workload.events)
    emitted, late = [], 0
    for lane in lanes.values():
        windows, out, _ = _run(lane)
        emitted += out
        late += windows.late
    # Only windows the stream has closed everywhere are comparable.
    before = workload.end - timedelta(seconds=SPEC.window_s + SPEC.grace_s + 60)
    truth, truth_late = ground_truth(produced, before=before)
    got = {k: v for k, v in _by_key(emitted).items() if k[-1] < before}
    assert compare(truth, got) == []
    assert late == truth_late and late >= 10  # the beyond-grace events were counted as late


def test_replay_after_crash_rebuilds_every_window_exactly():
    workload = make_workload(cameras=8, minutes=6, crossings_per_s=10, late_within_grace=30, late_beyond_grace=8, seed=11)
    lanes, _ = _lanes(workload.events)
    rnd = random.Random(5)
    for lane in lanes.values():
        _, reference, _ = _run(lane)
        for crash_at in sorted(rnd.sample(range(len(lane)), 6)):
            every = rnd.choice((1, 7, 50))
            first, emitted, (offset, horizon) = _run(lane, stop=crash_at, checkpoint_every=every)
            # A new owner: state lost, resumes at the committed offset with the committed horizon.
            resumed = PartitionWindows(SPEC, horizon=horizon)
            _, more, _ = _run(lane, windows=resumed, start=offset)
            # Every window emitted twice must carry the same numbers as the first time ...
            seen = {}
            for window in emitted + more:
                key = window_key(window)
                assert seen.setdefault(key, as_facts(window)) == as_facts(window), (crash_at, every, key)
            # ... and the union equals an uninterrupted run.
            assert seen == _by_key(reference), (crash_at, every)


def test_duplicate_offsets_are_not_counted_twice():
    windows = PartitionWindows(SPEC)
    crossing = LineCrossing(camera_id="c", ts=datetime(2026, 1, 1, tzinfo=timezone.utc), frame_no=1, line_id="l",
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
