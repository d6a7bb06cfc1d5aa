"""Valid contract events of every type, for tests that need realistic traffic on the bus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest import contract as c
from ingest.db import DbSettings

# Recent, so that events pass the sink's screening for the far past (a year) whenever the tests run.
BASE_TIME = (datetime.now(UTC) - timedelta(days=30)).replace(hour=7, minute=30, second=0, microsecond=0)


def _tiny_jpeg() -> bytes:
    """A real 64x36 JPEG (bytes through every codec: base64 on the wire, bytea in the database)."""
    import cv2
    import numpy as np

    ok, data = cv2.imencode(".jpg", np.full((36, 64, 3), 128, np.uint8))
    assert ok
    return data.tobytes()


_TINY_JPEG = _tiny_jpeg()


def events_of_every_type(n: int, *, camera_id: str = "cam-01", start: datetime = BASE_TIME) -> dict[type[c.Event], list[c.Event]]:
    """``n`` distinct events of each contract type; window and registry events get distinct natural keys."""
    out: dict[type[c.Event], list[c.Event]] = {t: [] for t in c.EVENT_TYPES}
    for i in range(n):
        ts = start + timedelta(seconds=i)
        cam = f"{camera_id}-{i % 3}"
        obj = c.TrackedObject(track_id=i, cls="motorbike", confidence=0.9, bbox=(10.0, 20.0, 40.0, 60.0), speed_kmh=31.5)
        out[c.FrameEvent].append(c.FrameEvent(camera_id=cam, ts=ts, frame_no=i, width=960, height=540, objects=(obj,)))
        out[c.LineCrossing].append(c.LineCrossing(camera_id=cam, ts=ts, frame_no=i, line_id="stop-line", direction="in" if i % 2 else "out", cls="car", track_id=i, speed_kmh=42.0))
        out[c.ZoneOccupancy].append(c.ZoneOccupancy(camera_id=cam, ts=ts, frame_no=i, zone_id="plaza", count=i % 7, by_class={"person": i % 7}))
        out[c.TrackIncident].append(c.TrackIncident(camera_id=cam, ts=ts, frame_no=i, kind="stopped", track_id=i, cls="car", line_id="stop-line", duration_s=35.0))
        out[c.CameraHealth].append(c.CameraHealth(camera_id=cam, ts=ts, condition="blur", state="raised", detail="laplacian variance 3.1"))
        out[c.Heartbeat].append(c.Heartbeat(camera_id=cam, ts=ts, fps=24.8, frames=1000 + i, uptime_s=float(i)))
        out[c.CameraInfo].append(c.CameraInfo(camera_id=f"{camera_id}-registry-{i}", ts=ts, name=f"Đường Thùy Vân {i}", kind="traffic", lat=10.34, lon=107.08))
        out[c.CountWindow].append(c.CountWindow(camera_id=cam, ts=start + timedelta(minutes=i), line_id="stop-line", direction="in", cls="motorbike", count=i, speed_mean_kmh=30.0, speed_p85_kmh=41.0))
        out[c.OccupancyWindow].append(c.OccupancyWindow(camera_id=cam, ts=start + timedelta(minutes=i), zone_id="plaza", peak=i, mean=i / 2))
        out[c.Alert].append(c.Alert(camera_id=cam, ts=ts, alert_id=f"alert-{camera_id}-{i}", group_key=f"{cam}:crowd", rule="crowd", severity="warning", state="open", opened_at=ts, title="Crowd over capacity", details={"count": 41, "limit": 30}))
        out[c.AlertAction].append(c.AlertAction(camera_id=cam, ts=ts, alert_id=f"alert-{camera_id}-{i}", action="ack", actor="op.lan", note="Đã cử tuần tra"))
        out[c.Snapshot].append(c.Snapshot(camera_id=cam, ts=ts, kind="incident", trigger_event_id=f"trigger-{camera_id}-{i}", subject=f"track:{i}", width=64, height=36, jpeg=_TINY_JPEG, boxes=((4.0, 4.0, 20.0, 30.0),), blurred=1))
    return out


def backfilled(db: DbSettings, plan) -> DbSettings:
    """``db`` with a synthetic history written through the sink's writer and rolled up."""
    from ingest.warehouse.backfill import backfill
    from ingest.warehouse.rollups import refresh_rollups

    backfill(db, plan, workers=1)
    refresh_rollups(db)
    return db
