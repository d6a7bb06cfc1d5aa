"""The cameras registry from the camera configs directly, for when no agent is running yet.

Needs the database driver, not OpenCV: the registry entry is built by ``config.camera_info``,
the one place both the agent and this command use.

Agents keep the registry current by sending ``CameraInfo`` (the sink writes it); this writes the
same events from a folder of camera YAML files, through the same write path, so reports can name
and place cameras before (or without) their agents.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg

from camera_agents.config import camera_info, load_cameras
from ingest.db import DatabaseError, DbSettings, connect
from ingest.writer import EventWriter


def sync_cameras(settings: DbSettings, folder: Path) -> list[str]:
    """Upsert every camera of ``folder`` into the registry; returns their ids. Invalid configs raise
    ``camera_agents.config.ConfigError`` listing every problem, and nothing is written."""
    now = datetime.now(UTC)
    infos = [camera_info(config, now) for config in load_cameras(folder)]
    try:
        with connect(settings) as conn, conn.transaction():
            EventWriter(conn).write(infos)
    except psycopg.Error as exc:
        raise DatabaseError(f"writing the cameras registry failed: {exc}") from exc
    return [info.camera_id for info in infos]
