"""The evidence snapshot of an alert, for the alert desk and anyone reading the database.

How an alert finds its picture: the agent that saw the trouble sends a ``Snapshot`` whose
``trigger_event_id`` is the ``event_id`` of the event it shows (a ``TrackIncident``, a
``ZoneOccupancy`` over the limit, a ``CameraHealth`` raised). The processors copy the id of the
event that opened (or reopened) the alert into its details as ``evidence_id``. So the exact
match is ``snapshots.trigger_event_id = alert_events.details->>'evidence_id'``.

The agent and the processors judge with their own thresholds (a rules file may tighten a zone's
limit, a loitering alert may open on a later report of the same track than the one pictured), so
when no snapshot carries one of the alert's evidence ids, the nearest snapshot of the same
camera, kind of evidence and subject (track, zone or condition) around the opening is taken, and
the result says it was matched that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

#: which kind of evidence illustrates which rule
EVIDENCE_KIND_OF_RULE: dict[str, str] = {
    "crowd": "crowd",
    "loitering": "incident",
    "stopped_vehicle": "incident",
    "wrong_way": "incident",
    "camera_frozen": "health",
    "camera_blackout": "health",
    "camera_blur": "health",
    "camera_source_lost": "health",
    "camera_moved": "health",
}
#: how far from the alert's opening a snapshot may be to illustrate it without an exact id
NEARBY = timedelta(minutes=10)


@dataclass(frozen=True, kw_only=True)
class EvidenceSnapshot:
    alert_id: str
    camera_id: str
    ts: datetime
    kind: str
    subject: str
    width: int
    height: int
    jpeg: bytes
    blurred: int
    #: "exact" (the alert's evidence id) or "nearby" (same camera, kind and subject near the opening)
    match: str


_EXACT = """
    SELECT s.camera_id, s.ts, s.kind, s.subject, s.width, s.height, s.jpeg, s.blurred
    FROM snapshots s
    JOIN (SELECT DISTINCT details->>'evidence_id' AS evidence_id FROM alert_events WHERE alert_id = %(alert_id)s
          UNION SELECT details->>'evidence_id' FROM alerts WHERE alert_id = %(alert_id)s) e
      ON s.trigger_event_id = e.evidence_id
    ORDER BY s.ts
    LIMIT 1
"""

_ALERT = "SELECT camera_id, rule, opened_at, updated_at, details FROM alerts WHERE alert_id = %(alert_id)s"

_NEARBY = """
    SELECT camera_id, ts, kind, subject, width, height, jpeg, blurred
    FROM snapshots
    WHERE camera_id = %(camera_id)s AND kind = %(kind)s
      AND ts BETWEEN %(opened_at)s - %(nearby)s AND greatest(%(updated_at)s, %(opened_at)s + %(nearby)s)
      AND (%(subject)s::text IS NULL OR subject = %(subject)s)
    ORDER BY abs(extract(epoch FROM ts - %(opened_at)s))
    LIMIT 1
"""


def snapshot_for_alert(conn: psycopg.Connection, alert_id: str) -> EvidenceSnapshot | None:
    """The picture that shows why ``alert_id`` opened, or None (no such alert, a rule with no
    picture such as flow or offline, or the snapshot is past its retention)."""
    row = conn.execute(_EXACT, {"alert_id": alert_id}).fetchone()
    if row is not None:
        return _snapshot(alert_id, row, "exact")
    alert = conn.execute(_ALERT, {"alert_id": alert_id}).fetchone()
    if alert is None:
        return None
    camera_id, rule, opened_at, updated_at, details = alert
    kind = EVIDENCE_KIND_OF_RULE.get(rule)
    if kind is None:
        return None
    params = {"camera_id": camera_id, "kind": kind, "opened_at": opened_at, "updated_at": updated_at,
              "nearby": NEARBY, "subject": _subject(kind, details or {})}
    row = conn.execute(_NEARBY, params).fetchone()
    return _snapshot(alert_id, row, "nearby") if row is not None else None


def _subject(kind: str, details: dict) -> str | None:
    """The snapshot subject an alert's details point at (see ``camera_agents.evidence``)."""
    if kind == "incident" and details.get("track_id") is not None:
        return f"track:{details['track_id']}"
    if kind == "crowd" and details.get("zone_id"):
        return f"zone:{details['zone_id']}"
    if kind == "health" and details.get("condition"):
        return f"health:{details['condition']}"
    return None


def _snapshot(alert_id: str, row: tuple, match: str) -> EvidenceSnapshot:
    camera_id, ts, kind, subject, width, height, jpeg, blurred = row
    return EvidenceSnapshot(alert_id=alert_id, camera_id=camera_id, ts=ts, kind=kind, subject=subject, width=width,
                            height=height, jpeg=bytes(jpeg), blurred=blurred, match=match)
