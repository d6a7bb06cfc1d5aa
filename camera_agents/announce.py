"""Announce the registry's cameras to the processors, so a camera that never comes up is missed.

The processors learn a camera from what it sends; a camera whose agent never started sends
nothing. ``announce_cameras`` publishes every camera config of a folder on the health topic as
``CameraInfo`` with ``origin: registry``: the processors then expect each of them, and one that
never sends a heartbeat raises ``camera_offline`` like a camera that went quiet. The sink writes
them to the ``cameras`` registry as well. Used by ``ioc db sync-cameras --announce``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from msgspec.structs import replace

from ingest.bus import BusError, BusSettings, make_producer, publish
from ingest.contract import CameraInfo


def registry_infos(folder: Path) -> list[CameraInfo]:
    """``CameraInfo`` of origin registry for every camera config in ``folder`` (raises ConfigError)."""
    from camera_agents.config import camera_info, load_cameras

    now = datetime.now(UTC)
    return [replace(camera_info(config, now), origin="registry") for config in load_cameras(folder)]


def announce_cameras(bus: BusSettings, folder: Path) -> list[str]:
    """Publish the registry's cameras on the bus; returns their ids."""
    infos = registry_infos(folder)
    producer = make_producer(bus)
    try:
        futures = [publish(producer, bus, info) for info in infos]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)
    except Exception as exc:  # kafka-python raises its own errors; one line for the command
        raise BusError(f"announcing the cameras on {bus.bootstrap} failed: {exc}") from exc
    finally:
        producer.close()
    return [info.camera_id for info in infos]
