"""Frame sources: where an agent's frames come from.

One call, ``open_source(spec)``, turns a source string from a camera config into something that
yields frames: a video file, an RTSP/HTTP stream (reconnected with backoff, outages reported as
``SourceOutage`` values), a local capture device, or a synthetic scene with exact ground truth
(``synthetic:traffic?seed=3``). Every source returns the same ``Frame`` values, so nothing
downstream knows or cares where the pixels came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from ingest.errors import InvalidInput, ServiceUnavailable


@dataclass(frozen=True, slots=True)
class Frame:
    index: int  # 0-based frame number within this source run
    ts: datetime  # capture time, UTC: wall clock for live sources; start_time + index/fps otherwise
    # BGR uint8, H x W x 3; None when the reader asked for no picture (``read(picture=False)``):
    # the frame was decoded, so time and index advance, but not converted nor rendered.
    image: np.ndarray | None


@dataclass(frozen=True)
class SourceInfo:
    fps: float
    width: int
    height: int
    live: bool


@dataclass(frozen=True)
class SourceOutage:
    """A live source is down since ``since``; ``read`` keeps reconnecting and returns this meanwhile."""

    since: datetime
    reason: str
    to_fix: bool = False  # the reason names something to fix (``Diagnosis.to_fix``); else the camera may come back


class SourceError(InvalidInput):
    """A source that cannot be used at all (missing file, undecodable video, bad spec, a camera
    that refuses the credentials or has no stream at that path): what the message names must be
    fixed."""


class Diagnosis(NamedTuple):
    """Why a live source does not open: one sentence (never with a password), and whether it names
    something to fix (credentials, a path, a device that is not there) or a camera that may come
    back by itself (nothing answers, the camera is busy)."""

    reason: str
    to_fix: bool


class SourceUnavailable(ServiceUnavailable):
    """A live source that nothing answers for (no server at its address, a time-out, no frame):
    worth trying again; an agent keeps trying it."""


@runtime_checkable
class FrameSource(Protocol):
    """What every source offers. Finite sources (files, synthetic scenes) also have
    ``frame_count`` (int, or None when a container does not say)."""

    info: SourceInfo

    def read(self, *, picture: bool = True) -> Frame | SourceOutage | None:
        """The next frame; a ``SourceOutage`` while a live source is down; ``None`` at the end.

        ``picture=False`` says the caller will not look at this frame's pixels (an agent analysing
        every k-th frame): files and synthetic scenes then skip the colour conversion or the
        rendering. Live sources may return the picture anyway."""
        ...

    def want_pictures(self, of: Callable[[int], bool]) -> None:
        """Say ahead, by frame index, which frames' pictures the caller will ask for: a live
        source, whose thread reads frames before they are asked for, then converts only those.
        Files and synthetic scenes make a picture only when ``read`` asks for it, and need not."""
        ...

    def close(self) -> None: ...


def open_source(spec: str, *, realtime: bool = False, start_time: datetime | None = None) -> FrameSource:
    """Open the source named by ``spec``.

    ``spec`` is a video file path, an ``rtsp://`` / ``http(s)://`` URL, a device index (``0`` or
    ``device:0``) or a synthetic scene (``synthetic:traffic?seed=3&frames=750``). Files and
    synthetic scenes run as fast as they are read, or at their own frame rate with
    ``realtime=True``; their timestamps are ``start_time + index / fps`` (``start_time`` defaults
    to the wall clock at opening). Raises ``SourceError`` when the source cannot be used.
    """
    spec = spec.strip()
    if not spec:
        raise SourceError("empty source: give a video file, an rtsp:// or http(s):// URL, a device index or synthetic:<scene>")
    if spec.startswith("synthetic:"):
        from camera_agents.sources.synthetic import open_synthetic

        return open_synthetic(spec, realtime=realtime, start_time=start_time)
    from camera_agents.sources import video

    return video.open_video_source(spec, realtime=realtime, start_time=start_time)


__all__ = ["Frame", "FrameSource", "Diagnosis", "SourceError", "SourceInfo", "SourceOutage", "SourceUnavailable", "open_source"]
