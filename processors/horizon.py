"""Where each input partition's horizon (its clocks at the last checkpoint) is kept.

One small JSON file per topic partition, ``<state dir>/<app id>/horizon-<topic>-p<N>.json``,
next to the alert snapshots: ``{"stream_time": ..., "cameras": {"cam-0001": ..., ...}}``. Not on
the broker: the horizon is a per-camera map now, and Tansu drops offset-commit metadata (the
old single number rode as the committed offset of a companion group; a map cannot).

A horizon is stored before the matching offset is committed, and only ever merged upwards:
``put`` reads the stored horizon under an exclusive lock, takes the componentwise maximum with
the new one and replaces the file atomically (temp file, fsync, rename, fsync of the directory).
``processors.windowing`` explains why that order and that merge keep the replay exact, also
when a worker that lost its partition stores a stale horizon late. Workers on several hosts
need the state directory on a shared volume, as for the alert snapshots.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import math
import os
from pathlib import Path

from ingest.errors import IocError
from processors.windowing import Horizon


class HorizonError(IocError):
    """A stored horizon cannot be read or written."""


class HorizonStore:
    def __init__(self, *, directory: Path, idle_s: float) -> None:
        self._dir = Path(directory)
        self._idle_s = idle_s

    def path(self, topic: str, partition: int) -> Path:
        return self._dir / f"horizon-{topic}-p{partition}.json"

    async def get(self, topic: str, partition: int) -> Horizon | None:
        return await asyncio.to_thread(self.read, topic, partition)

    async def put(self, topic: str, partition: int, horizon: Horizon) -> None:
        if not math.isfinite(horizon.stream_time):
            return  # nothing seen yet: nothing to remember
        await asyncio.to_thread(self.merge, topic, partition, horizon)

    async def stop(self) -> None:
        """Nothing to release (kept so the app's shutdown hook reads the same for any store)."""

    # -- blocking I/O (run in a thread) ----------------------------------------------------

    def read(self, topic: str, partition: int) -> Horizon | None:
        path = self.path(topic, partition)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise HorizonError(f"cannot read the horizon of {topic}[{partition}] from {path}: {exc}") from exc
        try:
            data = json.loads(text)
            horizon = Horizon(stream_time=float(data["stream_time"]),
                              cameras={str(cam): float(ts) for cam, ts in data["cameras"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # No safe fallback: without it the replay would re-emit closed windows partially.
            raise HorizonError(
                f"the horizon of {topic}[{partition}] in {path} is unreadable ({exc!r}); it is written atomically, "
                "so the file was changed by hand or the disk failed. Restore it from a backup; deleting it makes the "
                "worker recount from the committed offset, which may overwrite windows before it with partial counts"
            ) from exc
        return horizon

    def merge(self, topic: str, partition: int, horizon: Horizon) -> None:
        path = self.path(topic, partition)
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            with open(path.with_name(path.name + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
                merged = horizon.merged(self.read(topic, partition), self._idle_s)
                tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
                with open(tmp, "w") as out:
                    json.dump({"stream_time": merged.stream_time, "cameras": merged.cameras}, out, separators=(",", ":"))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, path)
                directory = os.open(self._dir, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        except OSError as exc:
            raise HorizonError(f"cannot store the horizon of {topic}[{partition}] in {path}: {exc}") from exc
