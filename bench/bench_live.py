"""The agent on a live camera: its CPU per second of a 960x540 25 fps H.264 stream over RTSP.

A real RTSP camera (GStreamer's server, ``tests/rtsp_camera.py``) serves the scene the agent
benchmark times (``bench_agent.SPEED_SEED``) in real time. The agent's source and pipeline read it
for ``SECONDS`` as ``ioc agent run`` does, on one core (the server runs on another: its CPU is the
camera's, not the agent's). A live source's thread decodes every frame as it comes; measured two
ways, alternately, ``ROUNDS`` times each:

- as the agent runs: the source told which frames the pipeline analyses (``want_pictures``),
  converting only those to a picture;
- as a reader that does not say: every frame converted.

Figures: each way's CPU per second of video (the lowest of its runs: the machine's other work only
ever adds), counted as the process's CPU time, the source's thread included; frames per CPU second
as the agent runs, against the agent's speed bar (250 frames/s per core: ten 25 fps cameras); the
frames the agent dropped, which would say it did not keep up.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.bench_agent import SPEED_SEED
from bench.common import figure, one_core

SECONDS = 20.0
ROUNDS = 2


def _run(url: str, config_path: Path, *, announced: bool) -> tuple[float, int, int, int]:
    """CPU seconds, frames read, frames with a picture and frames dropped over ``SECONDS`` of the stream."""
    from camera_agents.config import CameraConfig
    from camera_agents.pipeline import CameraPipeline
    from camera_agents.sources import Frame
    from camera_agents.sources.video import LiveSource

    data = json.loads(config_path.read_text(encoding="utf-8"))
    config = CameraConfig.model_validate({**data, "source": url})
    source = LiveSource.for_url(url)
    try:
        pipeline = CameraPipeline(config, width=source.info.width, height=source.info.height, fps=source.info.fps)
        if announced:
            source.want_pictures(pipeline.wants_picture)
        frames = pictures = next_index = 0
        started, cpu = time.monotonic(), time.process_time()
        while time.monotonic() - started < SECONDS:
            item = source.read(picture=pipeline.wants_picture(next_index))
            if isinstance(item, Frame):
                next_index = item.index + 1
                frames += 1
                pictures += item.image is not None
                pipeline.process(item.index, item.ts, item.image)
        return time.process_time() - cpu, frames, pictures, source.dropped
    finally:
        source.close()


def main() -> None:
    from dashboards.desk.server import free_port
    from tests.media import synthetic_video
    from tests.rtsp_camera import RtspServer

    video = synthetic_video(f"synthetic:traffic?seed={SPEED_SEED}&frames=750", codec="MJPG")  # 30 s, more than SECONDS
    server = RtspServer(video, free_port()).start()  # before the pinning: the server's CPU is the camera's
    runs: dict[bool, list[tuple[float, int, int, int]]] = {True: [], False: []}
    try:
        with one_core():
            for _ in range(ROUNDS):
                for announced in (True, False):
                    runs[announced].append(_run(server.url(), Path(f"{video}.camera.json"), announced=announced))
    finally:
        server.stop()
    for announced, label in ((True, "pictures of analysed frames only, as the agent runs"), (False, "every frame's picture")):
        cpu, frames, pictures, dropped = min(runs[announced])
        figure(f"live camera (RTSP, H.264 960x540 25 fps), agent CPU per second of video, {label}", 1000 * cpu / SECONDS, "ms")
        figure(f"live camera, share of the frames read that came with a picture, {label}", pictures / frames, "ratio")
    cpu, frames, _, dropped = min(runs[True])
    figure("live camera, agent frames per CPU second (1 core)", frames / cpu, "frames/s", ">= 250")
    figure("live camera, frames the agent dropped (in the burst while the stream starts)", dropped, "frames")


if __name__ == "__main__":
    main()
