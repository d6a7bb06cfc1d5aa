"""Run one stage's work in N worker processes: the meaning of ``--workers`` in every command.

Each worker is a fresh interpreter (spawn: no forked Kafka or database sockets) given its settings
object as it is, so no flag has to be rebuilt for it and none is lost on the way. SIGTERM to the
parent reaches every worker (a container stop, the demo's supervisor); Ctrl-C reaches them from
the terminal. A worker that fails makes the whole run fail, with its reason, at once: the others
are stopped, so that a stage never runs on with part of its work gone (a camera agent whose
worker crashed would leave its cameras unwatched while the container looks healthy), and its
supervisor starts it again whole.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any, TypeVar

from ingest.errors import IocError

T = TypeVar("T")
R = TypeVar("R")


class WorkerFailed(IocError):
    """One or more worker processes ended with an error."""


def worker_port(port: int | None, index: int) -> int | None:
    """The port worker ``index`` (from 0) serves /metrics on: the one after worker ``index - 1``'s,
    each worker keeping its own counters for Prometheus to sum; none (0 or None) stays none."""
    return port + index if port else port


def run_workers(target: Callable[[T], R], per_worker: Sequence[T]) -> list[R]:
    """``target(item)`` in one process per item; returns their results in order."""
    context = multiprocessing.get_context("spawn")
    running = []
    for item in per_worker:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(target, item, send), name=f"ioc-worker-{len(running) + 1}")
        process.start()
        send.close()
        running.append((process, receive))

    def forward(signum: int, _frame: Any) -> None:
        for process, _ in running:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signum)

    previous = signal.signal(signal.SIGTERM, forward)
    # Ctrl-C reaches the workers from the terminal; the parent only waits for them.
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        outcomes, stopped = _await(running)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    failed = [f"worker {i + 1}: {reason}" for i, (ok, reason) in enumerate(outcomes) if not ok and i not in stopped]
    if failed:
        also = f" (stopped with it: worker {', '.join(str(i + 1) for i in sorted(stopped))})" if stopped else ""
        raise WorkerFailed(f"{len(failed)} of {len(running)} workers failed: " + "; ".join(failed) + also)
    return [value for _, value in outcomes]


def _await(running: list) -> tuple[list[tuple[bool, Any]], set[int]]:
    """Every worker's outcome as each ends, and which were stopped because another had failed."""
    outcomes: dict[int, tuple[bool, Any]] = {}
    waiting = {receive: i for i, (_, receive) in enumerate(running)}
    stopped: set[int] = set()
    while waiting:
        for receive in wait(list(waiting)):  # a result, or the end of the pipe of a worker that died
            i = waiting.pop(receive)
            outcomes[i] = _outcome(*running[i])
            if not outcomes[i][0] and not stopped:
                stopped = set(waiting.values())
                for j in stopped:
                    process = running[j][0]
                    if process.is_alive() and process.pid is not None:
                        os.kill(process.pid, signal.SIGTERM)
    return [outcomes[i] for i in range(len(running))], stopped


def _outcome(process, receive) -> tuple[bool, Any]:
    try:
        message = receive.recv()  # waits for the result; EOFError if the worker died without one
    except EOFError:
        message = (False, None)
    process.join()
    ok, value = message
    if not ok:
        return False, value or f"exited with status {process.exitcode}"
    return True, value


def _child(target: Callable[[T], R], item: T, send) -> None:
    try:
        result = target(item)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        send.send((code == 0, None if code == 0 else f"exited with status {code}"))
        raise
    except BaseException as exc:
        send.send((False, (str(exc).strip().splitlines() or [type(exc).__name__])[0]))
        raise
    send.send((True, result))
