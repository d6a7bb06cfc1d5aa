"""Real video through OpenCV (FFmpeg): files, network streams and capture devices.

A file is read as fast as it is asked for, or paced to its frame rate (``realtime``); its frames
are stamped ``start_time + index / fps``. A live source (``rtsp://``, ``http(s)://``, a device)
is read by a thread of its own that always keeps only the newest frame, so a slow consumer drops
frames instead of falling minutes behind the camera, and that reconnects with exponential backoff
when the stream breaks. Meanwhile ``read`` returns a ``SourceOutage`` about once a second, so the
agent can report the outage and stay responsive. Live frames are stamped with the wall clock at
capture. The thread decodes every frame (later ones depend on it), but converts to a picture only
the frames the reader said it will look at (``want_pictures``). An ``http(s)://`` URL is taken for
a camera's stream: a plain video file served over HTTP would be replayed from the start after each
end, so download it and give the file instead.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from camera_agents.sources import Diagnosis, Frame, SourceError, SourceInfo, SourceOutage, SourceUnavailable

log = logging.getLogger(__name__)

DEFAULT_FPS = 25.0
_LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://")


def open_video_source(spec: str, *, realtime: bool = False, start_time: datetime | None = None) -> VideoFileSource | LiveSource:
    lowered = spec.lower()
    if lowered.startswith(_LIVE_SCHEMES):
        return LiveSource.for_url(spec)
    if lowered.startswith("device:") or spec.isdigit():
        return LiveSource.for_device(spec)
    if lowered.startswith("file://"):
        spec = spec[len("file://") :]
    return VideoFileSource(Path(spec).expanduser(), realtime=realtime, start_time=start_time)


def _sane_fps(value: float) -> float:
    # Containers and streams often report 0, NaN or a 90 kHz clock; none of those is a frame rate.
    return float(value) if 1.0 <= value <= 240.0 else DEFAULT_FPS


def redact(url: str) -> str:
    """A URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# --------------------------------------------------------------------------- files


class VideoFileSource:
    """A finite video file; ``frame_count`` is what the container announces (None if it does not)."""

    def __init__(self, path: Path, *, realtime: bool = False, start_time: datetime | None = None) -> None:
        self.path = path
        if not path.exists():
            raise SourceError(f"video file {path} does not exist")
        if not path.is_file():
            raise SourceError(f"video file {path} is not a file")
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as exc:
            raise SourceError(f"video file {path} cannot be read: {exc.strerror or exc}") from None
        self._capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(f"video file {path} cannot be decoded: not a video format FFmpeg reads, or truncated or corrupt")
        ok, first = self._capture.read()
        if not ok or first is None:
            self._capture.release()
            raise SourceError(f"video file {path} has no decodable frame: truncated or corrupt")
        fps = _sane_fps(self._capture.get(cv2.CAP_PROP_FPS))
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count: int | None = count if count > 0 else None
        self.info = SourceInfo(fps=fps, width=int(first.shape[1]), height=int(first.shape[0]), live=False)
        self.start_time = (start_time or datetime.now(UTC)).astimezone(UTC)
        self._pending: np.ndarray | None = _bgr(first)
        self._next = 0
        self._realtime = realtime
        self._t0: float | None = None

    def want_pictures(self, of: Callable[[int], bool]) -> None:
        """Nothing to do: ``read(picture=False)`` skips the conversion itself."""

    def read(self, *, picture: bool = True) -> Frame | None:
        if self._capture is None:
            return None
        if self._pending is not None:
            image, self._pending = self._pending, None
        elif not picture:
            # grab() decodes (later frames depend on this one) but skips the conversion to BGR
            # and the copy out: about half the cost of a full read.
            image = None
            if not self._capture.grab():
                if self.frame_count is not None and self._next < self.frame_count - 1:
                    log.warning("video file %s ended after %d of %d announced frames (truncated?)", self.path, self._next, self.frame_count)
                self.close()
                return None
        else:
            ok, raw = self._capture.read()
            if not ok or raw is None:
                if self.frame_count is not None and self._next < self.frame_count - 1:
                    log.warning("video file %s ended after %d of %d announced frames (truncated?)", self.path, self._next, self.frame_count)
                self.close()
                return None
            image = _bgr(raw)
        index = self._next
        self._next += 1
        if self._realtime:
            if self._t0 is None:
                self._t0 = time.monotonic()
            delay = self._t0 + index / self.info.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return Frame(index=index, ts=self.start_time + timedelta(seconds=index / self.info.fps), image=image)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None  # type: ignore[assignment]


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


# --------------------------------------------------------------------------- live sources


@dataclass(frozen=True, kw_only=True)
class LiveSettings:
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    poll_s: float = 1.0  # the longest ``read`` waits before answering with an outage


class LiveSource:
    """A stream or device, read by its own thread; see the module's doc."""

    def __init__(
        self,
        name: str,
        open_capture: Callable[[LiveSettings], cv2.VideoCapture],
        settings: LiveSettings = LiveSettings(),
        *,
        diagnose: Callable[[], Diagnosis] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._open_capture = open_capture
        self._diagnose = diagnose  # why a stream does not open, asked of the camera itself
        self._lock = threading.Condition()
        self._latest: tuple[datetime, np.ndarray | None] | None = None  # the newest frame, its picture if converted
        self._wanted: Callable[[int], bool] | None = None  # ``want_pictures``: by index, the frames whose picture is read
        self._asked = False  # the reader waits in ``read`` for a frame with its picture
        self._outage: SourceOutage | None = None
        self._last_frame_at = datetime.now(UTC)
        self._stop = threading.Event()
        self._next = 0
        self.dropped = 0  # frames the consumer was too slow for
        self._resized = False
        self.reconnects = 0
        capture, first = self._connect()
        if capture is None or first is None:
            # To fix: what it says is the only way on. Otherwise the camera may be back later.
            error = SourceError if self._outage is not None and self._outage.to_fix else SourceUnavailable
            raise error(f"cannot read from {name}: {self._outage.reason if self._outage else 'no frame'}")
        fps = _sane_fps(capture.get(cv2.CAP_PROP_FPS))
        self.info = SourceInfo(fps=fps, width=int(first.shape[1]), height=int(first.shape[0]), live=True)
        self._latest = (datetime.now(UTC), first)
        self._thread = threading.Thread(target=self._run, args=(capture,), name=f"source {name}", daemon=True)
        self._thread.start()

    @classmethod
    def for_url(cls, url: str, settings: LiveSettings = LiveSettings()) -> LiveSource:
        if url.lower().startswith(("rtsp://", "rtsps://")):
            # RTSP over UDP loses packets on busy city networks and smears frames; TCP does not.
            # OpenCV takes FFmpeg options only from this variable; a value the operator set wins.
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

        def open_capture(s: LiveSettings) -> cv2.VideoCapture:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(s.open_timeout_s * 1000), cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(s.read_timeout_s * 1000)]
            return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)

        diagnose = None
        if url.lower().startswith("rtsp://"):
            from camera_agents.sources.rtsp import diagnose_rtsp

            diagnose = lambda: diagnose_rtsp(url, timeout_s=settings.open_timeout_s)  # noqa: E731
        return cls(redact(url), open_capture, settings, diagnose=diagnose)

    @classmethod
    def for_device(cls, spec: str, settings: LiveSettings = LiveSettings()) -> LiveSource:
        text = spec.lower().removeprefix("device:")
        if not text.isdigit():
            raise SourceError(f"source {spec!r}: a device is a number, like 0 or device:0")
        index = int(text)

        def diagnose() -> Diagnosis:
            node = Path(f"/dev/video{index}")
            if not node.exists():
                return Diagnosis(f"there is no capture device {node}", to_fix=True)
            return Diagnosis(f"{node} is there but does not open (another program may hold it)", to_fix=False)

        return cls(f"device {index}", lambda s: cv2.VideoCapture(index), settings, diagnose=diagnose)

    # ----------------------------------------------------------------- consumer side

    def want_pictures(self, of: Callable[[int], bool]) -> None:
        """Convert to a picture only the frames whose index ``of`` says the reader will look at
        (an agent analysing every k-th frame); the others are decoded and come without one. The
        conversion to BGR and its copy out of the decoder are a tenth of a live camera's CPU in the
        agent. Without it, every frame comes with its picture."""
        with self._lock:
            self._wanted = of

    def read(self, *, picture: bool = True) -> Frame | SourceOutage | None:
        deadline = time.monotonic() + self.settings.poll_s
        with self._lock:
            self._asked = picture
            while not self._stop.is_set():
                if self._latest is not None:
                    if self._latest[1] is not None or not picture:
                        break
                    # Decoded without its picture (one ``want_pictures`` did not announce): the
                    # next frame brings it, as it would have replaced this one anyway had it come
                    # before the reader.
                    self._latest = None
                    self.dropped += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            self._asked = False
            if self._stop.is_set():
                return None
            if self._latest is None:
                if self._outage is not None:
                    return self._outage
                return SourceOutage(since=self._last_frame_at, reason=f"no frame for {self.settings.poll_s:.1f} s")
            ts, image = self._latest
            self._latest = None
            index = self._next
            self._next += 1
        return Frame(index=index, ts=ts, image=image)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(timeout=self.settings.open_timeout_s + self.settings.read_timeout_s + 1)

    # ----------------------------------------------------------------- reader thread

    def _connect(self) -> tuple[cv2.VideoCapture | None, np.ndarray | None]:
        try:
            capture = self._open_capture(self.settings)
        except cv2.error as exc:  # a URL OpenCV rejects
            self._down(f"cannot open: {exc}", to_fix=True)
            return None, None
        if not capture.isOpened():
            capture.release()
            diagnosis = self._diagnose() if self._diagnose else None
            if diagnosis is None:
                self._down("cannot connect or open the stream")
            else:
                self._down(f"cannot open the stream: {diagnosis.reason}", to_fix=diagnosis.to_fix)
            return None, None
        ok, image = capture.read()
        if not ok or image is None:
            capture.release()
            self._down("connected, but no frame arrived")
            return None, None
        return capture, _bgr(image)

    def _down(self, reason: str, *, to_fix: bool = False) -> None:
        with self._lock:
            if self._outage is None:
                # Down since the last frame that arrived: that is when the picture stopped.
                self._outage = SourceOutage(since=self._last_frame_at, reason=reason, to_fix=to_fix)
                log.warning("%s is down: %s", self.name, reason)
            elif self._outage.reason != reason:
                self._outage = SourceOutage(since=self._outage.since, reason=reason, to_fix=to_fix)

    def _run(self, capture: cv2.VideoCapture | None) -> None:
        backoff = self.settings.backoff_min_s
        while not self._stop.is_set():
            if capture is None:
                if self._stop.wait(backoff):
                    break
                backoff = min(backoff * 2, self.settings.backoff_max_s)
                capture, image = self._connect()
                if capture is None or image is None:
                    continue
                self.reconnects += 1
                log.info("%s is back after %d reconnects", self.name, self.reconnects)
                backoff = self.settings.backoff_min_s
                self._deliver(image)
                continue
            if not capture.grab() or not self._hand_over(capture):
                capture.release()
                capture = None
                self._down("the stream broke or stalled")
        if capture is not None:
            capture.release()

    def _hand_over(self, capture: cv2.VideoCapture) -> bool:
        """The frame ``capture`` has just decoded made the newest, with its picture if the reader
        will look at it (``want_pictures``); False if the picture could not be had."""
        with self._lock:
            # Judged and handed over under one lock: the reader cannot take a frame meanwhile, so
            # this one gets the index it was judged by, even when frames come in a burst.
            image = None
            if self._wanted is None or self._asked or self._wanted(self._next):
                ok, raw = capture.retrieve()
                if not ok or raw is None:
                    return False
                image = self._sized(_bgr(raw))
            self._keep(image)
        return True

    def _deliver(self, image: np.ndarray) -> None:
        image = self._sized(image)
        with self._lock:
            self._keep(image)

    def _sized(self, image: np.ndarray) -> np.ndarray:
        info = getattr(self, "info", None)
        if info is not None and image.shape[:2] != (info.height, info.width):
            # The camera was reconfigured: lines and zones are drawn for the size it had.
            if not self._resized:
                log.warning("%s now sends %dx%d frames; scaling them to %dx%d", self.name, image.shape[1], image.shape[0], info.width, info.height)
                self._resized = True
            image = cv2.resize(image, (info.width, info.height), interpolation=cv2.INTER_AREA)
        return image

    def _keep(self, image: np.ndarray | None) -> None:
        """Called with the lock held."""
        now = datetime.now(UTC)
        if self._latest is not None:
            self.dropped += 1
        self._latest = (now, image)
        self._last_frame_at = now
        self._outage = None
        self._lock.notify_all()


__all__ = ["LiveSettings", "LiveSource", "VideoFileSource", "open_video_source", "redact"]
