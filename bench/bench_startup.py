"""How fast `ioc` answers: the wall time from starting the process to its exit, for `--help` at
every level and for a command that does a little work. Target: every one <= 0.25 s.

Each figure is the best of several runs (the machine's other work only ever adds time), in a
fresh interpreter each time, as a user at a terminal meets it. The figure held against the target
is the process's CPU time (user + system), which other work on a shared machine does not inflate;
the wall time beside it equals it on an idle machine.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.common import figure

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.25
RUNS = 7
COMMANDS = [
    ("--help",),
    ("agent", "--help"),
    ("agent", "run", "--help"),
    ("processors", "run", "--help"),
    ("ingest", "run", "--help"),
    ("db", "--help"),
    ("report", "volume", "--help"),
    ("bus", "tail", "--help"),
    ("stack", "status", "--help"),
    ("schema", "export", "--out", "/dev/null"),
]


def best_times(argv: tuple[str, ...]) -> tuple[float, float]:
    """Best CPU seconds and best wall seconds of one command over ``RUNS`` runs."""
    best_cpu = best_wall = float("inf")
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ioc", *argv], cwd=ROOT, capture_output=True, check=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
    return best_cpu, best_wall


def main() -> None:
    worst = 0.0
    for argv in COMMANDS:
        cpu, wall = best_times(argv)
        worst = max(worst, cpu)
        figure(f"start-up `ioc {' '.join(argv)}` (CPU; wall {wall:.2f} s)", cpu, "s", f"<= {TARGET_S}")
    figure("start-up, slowest command (CPU)", worst, "s", f"<= {TARGET_S}")
