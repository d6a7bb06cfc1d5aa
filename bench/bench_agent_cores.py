"""How the agent uses a machine's cores: many cameras in one process, or dealt among processes.

``ioc agent run --config-dir`` runs every camera of the folder in one process, one thread each;
the threads share one Python interpreter, and the agent's work is half Python. ``--workers N``
deals the cameras among N processes. Measured on the agent benchmark's speed clip (960x540,
25 fps, as fast as it decodes), ``CAMERAS`` copies of its camera, through the real command: one
process, then one worker per core, alternately, ``ROUNDS`` times each; and one camera alone on one
core for reference. The figure is the frames analysed a second over the whole run, from each
camera's own frames and time (the command's start-up left out), the best of its rounds.

No target: the figures say how to run the agent (one worker per core), and what a machine's cores
give (the cameras of one worker still share its interpreter, so N workers give less than N times
one camera alone on one core).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_agent import SPEED_SEED, _video
from bench.common import figure

CAMERAS = 4
ROUNDS = 2
ROOT = Path(__file__).resolve().parents[1]
_RESULT = re.compile(r"^(?P<camera>\S+): (?P<frames>\d+) frames at (?P<fps>[\d.]+) fps")


def _frames_per_second(folder: Path, state: Path, *, workers: int, cores: set[int]) -> float:
    """Frames a second over every camera of ``folder`` run by ``ioc agent run`` on ``cores``."""
    command = [sys.executable, "-m", "ioc", "agent", "run", "--config-dir", str(folder), "--workers", str(workers),
               "--sink", f"jsonl:{state / 'events.jsonl'}", "--no-progress"]  # fmt: skip
    env = {**os.environ, "IOC_STATE_DIR": str(state)}
    done = subprocess.run(["taskset", "-c", ",".join(map(str, sorted(cores))), *command], capture_output=True, text=True,
                          cwd=ROOT, env=env, check=True)  # fmt: skip
    results = [m for m in map(_RESULT.match, done.stdout.splitlines()) if m]
    if len(results) != len(list(folder.glob("*.yaml"))):
        raise RuntimeError(f"ioc agent run reported {len(results)} cameras: {done.stdout}{done.stderr[-2000:]}")
    frames = sum(int(m["frames"]) for m in results)
    return frames / max(int(m["frames"]) / float(m["fps"]) for m in results)  # the slowest camera's time


def main() -> None:
    cores = os.sched_getaffinity(0)
    video = _video(SPEED_SEED)
    camera = json.loads(Path(f"{video}.camera.json").read_text(encoding="utf-8"))
    runs = {"alone": (1, 1, {min(cores)}), "one process": (CAMERAS, 1, cores), "workers": (CAMERAS, len(cores), cores)}
    best = dict.fromkeys(runs, 0.0)
    with tempfile.TemporaryDirectory(prefix="ioc-bench-cores-") as scratch:
        root = Path(scratch)
        for copies in {copies for copies, _, _ in runs.values()}:
            folder = root / f"cameras-{copies}"
            folder.mkdir()
            for i in range(copies):  # JSON is YAML
                (folder / f"camera-{i}.yaml").write_text(json.dumps({**camera, "camera_id": f"speed-{i}", "source": str(video)}), encoding="utf-8")
        for round_ in range(ROUNDS):
            for label, (copies, workers, on) in runs.items():
                state = root / f"state-{round_}-{label}"  # no view kept from an earlier round
                state.mkdir()
                best[label] = max(best[label], _frames_per_second(root / f"cameras-{copies}", state, workers=workers, cores=on))
    n = len(cores)
    figure("agent, one camera alone on one core", best["alone"], "frames/s")
    figure(f"agent, {CAMERAS} cameras in one process on {n} cores", best["one process"], "frames/s")
    figure(f"agent, {CAMERAS} cameras dealt among {n} worker processes (--workers {n}) on {n} cores", best["workers"], "frames/s")
    figure(f"agent, {n} worker processes against one process, {CAMERAS} cameras", best["workers"] / best["one process"], "ratio")
    figure(f"agent, {n} worker processes against {n} times one camera alone on one core", best["workers"] / (n * best["alone"]), "ratio")


if __name__ == "__main__":
    main()
