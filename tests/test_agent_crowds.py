"""People in one blob: one person's size learned from what a security camera sees, and a group's
blob cut into the people it holds."""

from __future__ import annotations

import numpy as np
import pytest

from camera_agents.crowds import MAX_PEOPLE, PersonSize, cut_into_people
from camera_agents.scales import RowScale


def _plaza_blobs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled areas, scaled heights and ground widths of blobs as a plaza shows them: mostly
    single walkers (0.35 m², 0.8 m), a third pairs one behind the other (as wide as one, twice
    the area, taller), and pieces of people (a head above a planter) too narrow to teach anything."""
    kind = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
    spread = rng.lognormal(0.0, 0.1, size=n)
    area = np.choose(kind, [0.35, 0.68, 0.05]) * spread
    height = np.choose(kind, [0.8, 1.3, 0.2]) * spread
    wide = np.choose(kind, [0.55, 0.6, 0.2]) * rng.lognormal(0.0, 0.08, size=n)
    return area, height, wide


def test_one_persons_size_is_that_of_the_most_common_blob_one_person_wide():
    person = PersonSize()
    area, height, wide = _plaza_blobs(np.random.default_rng(3), 2000)
    for start in range(0, 2000, 10):  # ten blobs a frame
        person.observe(area[start : start + 10], height[start : start + 10], wide[start : start + 10])
    # The pairs pull the median of the areas one person wide up to 0.39 m² and their mean to
    # 0.49, and the median height to 0.88 m: beyond what this allows.
    assert person.area == pytest.approx(0.35, rel=0.05)
    assert person.height == pytest.approx(0.8, rel=0.05)


def test_nothing_is_counted_by_its_area_before_one_persons_size_is_learnt():
    person = PersonSize()
    area, height, wide = _plaza_blobs(np.random.default_rng(4), 200)  # fewer blobs than it learns from
    person.observe(area, height, wide)
    assert not person.learned and person.area is None
    person.observe(*_plaza_blobs(np.random.default_rng(5), 200))
    assert person.learned


@pytest.mark.parametrize(
    ("scaled", "expected"),
    [
        (0.35, 1),  # one person
        (0.2, 1),  # part of one, hidden behind another or a planter
        (0.5, 1),  # one, with a bag or swinging arms: rounded down below one and a half
        (0.7, 2),  # two
        (1.05, 3),  # three
        (1.4, 4),  # four, one partly hiding another
        (0.35 * MAX_PEOPLE, MAX_PEOPLE),  # the largest group counted
        (0.05, 0),  # a piece of someone (a leg apart from its body) or something small: nobody
        (0.35 * (MAX_PEOPLE + 2), 0),  # beyond the largest group: light or a vehicle, nobody
    ],
)
def test_a_blob_holds_as_many_people_as_one_persons_areas(scaled, expected):
    person = PersonSize()
    area, height, wide = _plaza_blobs(np.random.default_rng(5), 600)
    person.observe(area, height, wide)
    assert person.people(np.array([scaled])).tolist() == [expected]


@pytest.mark.parametrize(
    ("box", "people", "person_height", "expected"),
    [
        # One person: the box as it was.
        ((10, 20, 30, 70), 1, 50, [(10, 20, 30, 70)]),
        # Three side by side, each as tall as the box: three columns standing on its bottom.
        ((0, 50, 90, 100), 3, 50, [(0, 50, 30, 100), (30, 50, 60, 100), (60, 50, 90, 100)]),
        # Two one behind the other: the front one at the bottom, the other one person tall from the top.
        ((0, 0, 40, 100), 2, 50, [(0, 50, 20, 100), (20, 0, 40, 50)]),
        # Three in depth: their feet spread evenly from the bottom up to one person below the top.
        ((0, 0, 60, 100), 3, 40, [(0, 60, 20, 100), (20, 30, 40, 70), (40, 0, 60, 40)]),
        # A person taller than the box (its top cut by the picture's edge): the box's height.
        ((0, 0, 40, 30), 2, 50, [(0, 0, 20, 30), (20, 0, 40, 30)]),
    ],
)
def test_a_group_is_cut_into_its_people_where_they_stand(box, people, person_height, expected):
    cut, source = cut_into_people(np.array([box], np.float32), np.array([people]), np.array([float(person_height)]))
    assert cut.tolist() == [list(map(float, b)) for b in expected]
    assert source.tolist() == [0] * people


def test_each_piece_says_which_blob_it_came_from():
    boxes = np.array([(0, 0, 10, 40), (100, 0, 160, 40), (200, 0, 210, 40)], np.float32)
    cut, source = cut_into_people(boxes, np.array([1, 3, 1]), np.full(3, 40.0))
    assert source.tolist() == [0, 1, 1, 1, 2]
    assert cut[:, 0].tolist() == [0.0, 100.0, 120.0, 140.0, 200.0]


def _walkers(rng: np.random.Generator, n: int, *, slope: float, offset: float) -> np.ndarray:
    """Boxes (x1, y1, x2, y2) on a 540-row picture as an uncalibrated plaza camera shows them:
    single walkers ``slope * row + offset`` tall and 0.4 of that wide, pairs side by side
    (twice as wide), pairs one behind the other (half as tall again), and specks."""
    feet = rng.uniform(60, 540, size=n)
    tall = (slope * feet + offset) * rng.lognormal(0.0, 0.08, size=n)
    kind = rng.choice(4, size=n, p=[0.55, 0.15, 0.15, 0.15])
    wide = np.choose(kind, [0.4, 0.8, 0.45, 0.1]) * tall
    tall = np.choose(kind, [1.0, 1.0, 1.5, 0.1]) * tall
    x1 = rng.uniform(0, 800, size=n)
    return np.column_stack([x1, feet - tall, x1 + wide, feet])


@pytest.mark.parametrize(
    ("slope", "offset"),
    [
        (0.1, 10.0),  # a pole camera: people at the bottom row six times as tall as at the top
        (0.02, 40.0),  # a long lens far away: nearly the same size everywhere
    ],
)
def test_one_persons_height_at_each_row_is_learnt_without_a_calibration(slope, offset):
    rows = RowScale()
    boxes = _walkers(np.random.default_rng(7), 3000, slope=slope, offset=offset)
    for start in range(0, 3000, 10):
        rows.observe(boxes[start : start + 10], 540)
    assert rows.learned
    at = np.array([120.0, 300.0, 500.0])
    assert rows.size_px(at) == pytest.approx(slope * at + offset, rel=0.1)


def test_the_rows_scale_waits_for_enough_walkers_and_never_shrinks_people_towards_the_camera():
    rows = RowScale()
    rows.observe(_walkers(np.random.default_rng(8), 50, slope=0.1, offset=10), 540)
    assert not rows.learned
    # Seen from straight above, everyone is about as tall wherever they stand (noise may tilt
    # the line either way): never a scale that grows with distance.
    flat = RowScale()
    flat.observe(_walkers(np.random.default_rng(9), 3000, slope=0.0, offset=30), 540)
    heights = flat.size_px(np.array([60.0, 540.0]))
    assert heights[0] <= heights[1] and heights == pytest.approx(30, rel=0.1)
