"""The cameras registry from the camera configs directly, for when no agent is running yet.

Needs the database driver, not OpenCV: the registry entry is built by ``config.camera_info``,
the one place both the agent and this command use.

Agents keep the registry current by sending ``CameraInfo`` (the sink writes it); this writes the
same events from a folder of camera YAML files, through the same write path, so reports can name
and place cameras before (or without) their agents.

``announce_cameras`` also publishes them on the health topic as ``CameraInfo`` of origin
``registry``: the processors then expect every registered camera, and one whose agent never
started (or whose stream never connected) raises ``camera_offline`` like a camera that went quiet.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import psycopg
from msgspec.structs import replace

from camera_agents.config import camera_info, load_cameras
from ingest.db import DatabaseError, DbSettings, connect
from ingest.writer import EventWriter


def registry_infos(folder: Path) -> list:
    """``CameraInfo`` of origin registry for every camera config in ``folder`` (raises ConfigError)."""
    now = datetime.now(timezone.utc)
    return [replace(camera_info(config, now), origin="registry") for config in load_cameras(folder)]


def announce_cameras(bus, folder: Path) -> list[str]:
    """Publish the registry's cameras to the bus (``bus``: ``ingest.bus.BusSettings``); returns their ids."""
    from ingest.bus import BusError, make_producer, publish

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


def sync_cameras(settings: DbSettings, folder: Path) -> list[str]:
    """Upsert every camera of ``folder`` into the registry; returns their ids. Invalid configs raise
    ``camera_agents.config.ConfigError`` listing every problem, and nothing is written."""
    now = datetime.now(timezone.utc)
    infos = [camera_info(config, now) for config in load_cameras(folder)]
    try:
        with connect(settings) as conn, conn.transaction():
            EventWriter(conn).write(infos)
    except psycopg.Error as exc:
        raise DatabaseError(f"writing the cameras registry failed: {exc}") from exc
    return [info.camera_id for info in infos]
