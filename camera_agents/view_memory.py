"""Where the agent keeps each camera's view between runs: one file a camera in a folder (by default
STATE_DIR/views), so that an agent restarted judges whether the camera was moved meanwhile (a PTZ
camera sent back to its home position by the power cut that restarted the agent) instead of taking
whatever it shows for its view. With the view, the road as the motion detector learnt it: an agent
restarted with traffic on the road starts from it rather than learning every vehicle in view as
road (``CameraPipeline.start_from``). A view is kept with the camera's configuration it was judged
under: once the configuration changes (its lines redrawn for a camera aimed anew on purpose), the
view is learnt afresh.

A file that cannot be read is logged and the view learnt afresh; one that cannot be written is
logged and the camera runs on: the view is a convenience of the health check, never a reason to
stop counting.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from camera_agents.config import CameraConfig
from camera_agents.health import HealthMonitor, RememberedView

log = logging.getLogger(__name__)

_MODES = ((False, "colour"), (True, "grey"))


class ViewKeeper:
    """Keeps one camera's view in ``folder`` (None: nowhere, every run learns it afresh) while it
    runs, every ``every_s`` seconds (a crash loses no more), and when it stops."""

    def __init__(
        self, folder: Path | None, config: CameraConfig, *, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._folder, self._camera_id, self._every_s, self._clock = folder, config.camera_id, every_s, clock
        self._config = hashlib.sha256(config.model_dump_json().encode()).hexdigest()
        self._kept_at = clock()

    def load(self) -> RememberedView | None:
        """The view the last run kept under the same configuration, if any."""
        return None if self._folder is None else _load(self._folder, self._camera_id, self._config)

    def tick(self, health: HealthMonitor, road: Callable[[], np.ndarray | None] = lambda: None) -> None:
        """Keeps the camera's view if it was last kept ``every_s`` ago or more."""
        if self._folder is not None and self._clock() - self._kept_at >= self._every_s:
            self.keep(health, road)

    def keep(self, health: HealthMonitor, road: Callable[[], np.ndarray | None] = lambda: None) -> None:
        """Keeps the camera's view now, if it has one yet (it takes the first seconds to learn),
        with the road ``road`` gives (``CameraPipeline.learnt_road``; asked only when kept)."""
        view = health.remembered_view()
        if self._folder is not None and view is not None:
            _save(self._folder, self._camera_id, self._config, view, road())
            self._kept_at = self._clock()


def _load(folder: Path, camera_id: str, config: str) -> RememberedView | None:
    """The view an earlier run kept for ``camera_id`` under the configuration whose digest is
    ``config``; None if there is none, it was kept under another or it cannot be read."""
    path = folder / f"{camera_id}.npz"
    if not path.exists():
        return None
    try:
        if not zipfile.is_zipfile(path):  # else np.load may take it for one bare array
            raise ValueError("not an archive of arrays")
        with np.load(path, allow_pickle=False) as data:
            references = {grey: data[key].astype(np.float32) for grey, key in _MODES if key in data}
            seen_at = datetime.fromisoformat(str(data["seen_at"]))
            kept_under = str(data["config"])
            sharpness = float(data["sharpness"]) if "sharpness" in data else None
            road = data["road"] if "road" in data else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("camera %s: its kept view %s cannot be read (%s); the view is learnt afresh", camera_id, path, exc)
        return None
    if kept_under != config:
        log.info("camera %s: its configuration changed since its view was kept; the view is learnt afresh", camera_id)
        return None
    if seen_at.tzinfo is None:
        log.warning("camera %s: its kept view %s has no time zone; the view is learnt afresh", camera_id, path)
        return None
    if road is not None and (road.dtype != np.uint8 or road.ndim != 3 or road.shape[2] != 3):
        log.warning("camera %s: the road kept in %s is not a colour picture; it is learnt afresh", camera_id, path)
        road = None
    return RememberedView(references, sharpness, seen_at, road)


def _save(folder: Path, camera_id: str, config: str, view: RememberedView, road: np.ndarray | None) -> None:
    """Keeps ``view`` and ``road`` for the next run (replacing the file whole: a run stopped
    mid-write leaves the previous one)."""
    path = folder / f"{camera_id}.npz"
    partial = path.with_name(path.name + ".partial")
    arrays = {key: view.references[grey] for grey, key in _MODES if grey in view.references}
    if view.sharpness is not None:
        arrays["sharpness"] = np.array(view.sharpness)
    if road is not None:
        arrays["road"] = road
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as file:
            np.savez(file, seen_at=np.array(view.seen_at.isoformat()), config=np.array(config), **arrays)
        os.replace(partial, path)
    except OSError as exc:
        log.warning("camera %s: its view cannot be kept in %s (%s)", camera_id, folder, exc)
