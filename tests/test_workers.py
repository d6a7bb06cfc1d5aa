"""``--workers N`` underneath every stage: N processes, their results in order, and a worker that
fails stopping the others at once, so that a stage never runs on with part of its work gone."""

from __future__ import annotations

import os
import signal
import time

import pytest

from ingest.workers import WorkerFailed, run_workers


def _work(item: tuple[str, float]) -> str:
    """What a worker does with its share: ``("ok", s)`` works ``s`` seconds and answers;
    ``("fail", s)`` fails after ``s`` seconds with a reason; ``("die", s)`` dies without a word (as
    a crash in a native library); ``("run", s)`` works up to ``s`` seconds unless stopped."""
    what, seconds = item
    time.sleep(seconds)
    if what == "fail":
        raise RuntimeError("the camera's stream library gave up")
    if what == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return f"{what} in {os.getpid()}"


def test_each_worker_runs_in_its_own_process_and_answers_in_order():
    answers = run_workers(_work, [("ok", 0.5), ("ok", 0.0), ("ok", 0.2)])
    assert [a.split()[0] for a in answers] == ["ok", "ok", "ok"]
    assert len({a.split()[-1] for a in answers} | {str(os.getpid())}) == 4  # three processes, none of them this one


@pytest.mark.parametrize(
    ("failing", "said"),
    [
        # an error in the worker: its reason, in one line
        (("fail", 0.5), "worker 2: the camera's stream library gave up"),
        # killed outright: its exit status is all there is to say
        (("die", 0.5), "worker 2: exited with status -9"),
    ],
)
def test_a_failing_worker_stops_the_others_at_once(failing, said):
    started = time.monotonic()
    with pytest.raises(WorkerFailed) as failed:
        run_workers(_work, [("run", 60.0), failing, ("run", 60.0)])
    assert time.monotonic() - started < 20  # not the minute the others would have run
    assert said in str(failed.value)
    assert str(failed.value).startswith("1 of 3 workers failed") and "(stopped with it: worker 1, 3)" in str(failed.value)
