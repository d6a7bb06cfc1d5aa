"""A real RTSP camera for the tests and the benchmarks: ``tests/rtsp_server.py`` (GStreamer's
gst-rtsp-server) run by Debian's system Python, serving a video file at rtsp://127.0.0.1:<port>/cam."""

from __future__ import annotations

import select
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"  # has Debian's python3-gi; the venv does not
SERVER = ROOT / "tests" / "rtsp_server.py"


class RtspServer:
    """One gst-rtsp-server process serving ``video`` at rtsp://127.0.0.1:<port>/cam; with ``user``
    and ``password``, only to them (basic authentication)."""

    def __init__(
        self, video: Path, port: int, *, user: str | None = None, password: str | None = None, report_fps: int | None = None,
        codec: str = "h264",
    ) -> None:  # fmt: skip
        self.video, self.port, self.user, self.password, self.report_fps, self.codec = video, port, user, password, report_fps, codec
        self.process: subprocess.Popen | None = None

    def url(self, credentials: str = "") -> str:
        return f"rtsp://{credentials}127.0.0.1:{self.port}/cam"

    def start(self) -> RtspServer:
        command = [SYSTEM_PYTHON, str(SERVER), "--port", str(self.port), "--file", str(self.video)]
        if self.user:
            command += ["--user", self.user, "--password", self.password or ""]
        if self.report_fps:
            command += ["--report-fps", str(self.report_fps)]
        command += ["--codec", self.codec]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], 15)
        line = self.process.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the RTSP server did not start: {line!r} {self.process.stderr.read()[-2000:]}")
        return self

    def kill(self) -> None:
        """Gone at once, the way a camera loses power: no RTSP teardown."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
