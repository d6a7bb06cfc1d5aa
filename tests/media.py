"""Media for tests: the real recording vtest.avi (Debian's opencv-doc, installed on demand),
synthetic scenes rendered to video files, cached between runs, and an IP camera on localhost
serving MJPEG over HTTP.

Nothing here skips: if the media cannot be had, the helper raises and the test fails with why.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VTEST_PACKAGE = "opencv-doc"
_KNOWN_VTEST = (
    "/usr/share/doc/opencv-doc/examples/data/vtest.avi",
    "/usr/share/doc/opencv-doc/examples/data/vtest.avi.gz",
)


def cache_dir() -> Path:
    path = Path(os.environ.get("IOC_TEST_MEDIA", Path(tempfile.gettempdir()) / "ioc-test-media"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _locked(name: str):
    """One process at a time prepares a given medium (tests may run in parallel)."""
    with open(cache_dir() / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def vtest_path() -> Path:
    """The path of vtest.avi (768x576, 10 fps, 795 frames of a campus walkway), installing
    Debian's opencv-doc with apt if it is missing and decompressing the file if it is gzipped."""
    with _locked("vtest"):
        found = _find_vtest()
        if found is None:
            _apt_install(VTEST_PACKAGE)
            found = _find_vtest()
        if found is None:
            raise RuntimeError(f"{VTEST_PACKAGE} is installed but contains no vtest.avi (looked in `dpkg -L {VTEST_PACKAGE}`)")
        if found.suffix != ".gz":
            return found
        target = cache_dir() / "vtest.avi"
        if not target.exists() or target.stat().st_mtime < found.stat().st_mtime:
            partial = target.with_suffix(".partial")
            with gzip.open(found, "rb") as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.replace(target)
        return target


def _find_vtest() -> Path | None:
    for candidate in _KNOWN_VTEST:
        if Path(candidate).is_file():
            return Path(candidate)
    listed = subprocess.run(["dpkg", "-L", VTEST_PACKAGE], capture_output=True, text=True)
    if listed.returncode == 0:
        for line in listed.stdout.splitlines():
            if line.endswith(("/vtest.avi", "/vtest.avi.gz")) and Path(line).is_file():
                return Path(line)
    return None


def _apt_install(package: str) -> None:
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{package} is needed for vtest.avi, and this system has no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = [*prefix, "apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", package]
    result = subprocess.run(install, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        # A fresh system may not know the package yet.
        subprocess.run([*prefix, "apt-get", "-o", "DPkg::Lock::Timeout=300", "update"], capture_output=True, text=True, env=env)
        result = subprocess.run(install, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"could not install {package} for vtest.avi: {result.stderr.strip()[-800:]}")


def synthetic_video(spec: str, codec: str = "mp4v") -> Path:
    """A synthetic scene rendered to a video file (truth and camera config next to it), cached."""
    from camera_agents.sources.synthetic import write_video

    name = spec.replace("synthetic:", "").replace("?", "_").replace("&", "_").replace("=", "-").replace(":", "-")
    path = cache_dir() / f"{name}.{codec}.mp4"
    with _locked(path.name):
        if not (path.exists() and Path(f"{path}.truth.json").exists()):
            partial = path.with_name(f"partial-{path.name}")
            write_video(spec, partial, codec=codec)
            Path(f"{partial}.truth.json").replace(f"{path}.truth.json")
            config = json.loads(Path(f"{partial}.camera.json").read_text(encoding="utf-8"))
            config["source"] = str(path)
            Path(f"{path}.camera.json").write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
            Path(f"{partial}.camera.json").unlink()
            partial.replace(path)
    return path


def copied_video(video: Path, *, size: tuple[int, int] | None = None, grey: bool = False, switch: str | None = None) -> Path:
    """``video`` (from ``synthetic_video`` or the benchmark's renders) as another camera of the same
    view sends it: its pictures resized to ``size`` (a substream, full HD), or in grey (a camera in
    night or infrared mode), or switching ``"to grey"`` or ``"to colour"`` 40 % into the clip; its
    truth and camera config (lines still drawn on the original's pictures, ``resolution`` saying
    so) next to it. Cached."""
    import cv2

    if switch not in (None, "to grey", "to colour"):
        raise ValueError(f"switch {switch!r}: 'to grey' or 'to colour'")
    tag = (f".{size[0]}x{size[1]}" if size else "") + (".grey" if grey else "") + (f".{switch.replace(' ', '-')}" if switch else "")
    path = video.with_suffix(f"{tag}{video.suffix}")
    with _locked(path.name):
        if not (path.exists() and Path(f"{path}.camera.json").exists()):
            partial = path.with_name(f"partial-{path.name}")
            capture = cv2.VideoCapture(str(video))
            fps = capture.get(cv2.CAP_PROP_FPS)
            width, height = size or (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            switch_at = 0.4 * capture.get(cv2.CAP_PROP_FRAME_COUNT)
            index = 0
            try:
                while (read := capture.read())[0]:
                    picture = read[1]
                    in_grey = (index >= switch_at) == (switch == "to grey") if switch else grey
                    index += 1
                    if size:
                        shrink = width < picture.shape[1]
                        picture = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
                    if in_grey:
                        picture = cv2.cvtColor(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
                    writer.write(picture)
            finally:
                capture.release()
                writer.release()
            shutil.copyfile(f"{video}.truth.json", f"{path}.truth.json")
            config = json.loads(Path(f"{video}.camera.json").read_text(encoding="utf-8"))
            config["source"] = str(path)
            Path(f"{path}.camera.json").write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
            partial.replace(path)
    return path


class MjpegCamera:
    """An IP camera on localhost serving MJPEG over HTTP, that can be switched off and on."""

    def __init__(self) -> None:
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        import cv2
        import numpy as np

        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while camera.server is self.server:
                        image = np.full((120, 160, 3), (i * 7) % 255, np.uint8)
                        cv2.putText(image, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 255), 2)
                        jpg = cv2.imencode(".jpg", image)[1].tobytes()
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg) + jpg + b"\r\n")
                        i += 1
                        time.sleep(0.04)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"
