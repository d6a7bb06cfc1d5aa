"""The record of what was sent (table ``notifications_sent``): the notifier's idempotence.

A notification is claimed before its first attempt and marked sent or failed after. Claiming a
key that is already 'sent' or 'failed' returns False: it is never sent twice. A key left
'sending' means a notifier stopped in the middle of that delivery; it is tried again (the
receiver may have it already: the webhook's ``X-IOC-Delivery`` and the e-mail's Message-ID are
stable so it can tell).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg


@dataclass(frozen=True, kw_only=True)
class Claim:
    route: str
    key: str
    alert_id: str
    camera_id: str
    rule: str
    transition: str
    severity: str
    channel: str


def claim(conn: psycopg.Connection, c: Claim) -> bool:
    """True when this notification is to be sent now (new, or left half-done by a crash)."""
    row = conn.execute(
        """INSERT INTO notifications_sent (route, notification_key, alert_id, camera_id, rule, transition, severity, channel, status)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'sending')
           ON CONFLICT (route, notification_key) DO UPDATE SET status = notifications_sent.status
           RETURNING status, (xmax = 0) AS inserted""",
        (c.route, c.key, c.alert_id, c.camera_id, c.rule, c.transition, c.severity, c.channel),
    ).fetchone()
    conn.commit()
    status, inserted = row
    return bool(inserted) or status == "sending"


def finish(conn: psycopg.Connection, c: Claim, *, sent: bool, attempts: int, error: str | None = None) -> None:
    conn.execute(
        """UPDATE notifications_sent SET status = %s, attempts = attempts + %s, error = %s,
                  sent_at = CASE WHEN %s THEN now() END
           WHERE route = %s AND notification_key = %s""",
        ("sent" if sent else "failed", attempts, error, sent, c.route, c.key),
    )
    conn.commit()


def last_severity(conn: psycopg.Connection, route: str, alert_id: str) -> str | None:
    """The severity of the last notification this route sent (or is sending) about ``alert_id``."""
    row = conn.execute(
        """SELECT severity FROM notifications_sent WHERE route = %s AND alert_id = %s AND status <> 'failed'
           ORDER BY created_at DESC LIMIT 1""",
        (route, alert_id),
    ).fetchone()
    return row[0] if row else None


def prune(conn: psycopg.Connection, keep: timedelta) -> int:
    """Forget notifications older than ``keep`` (the alerts they were about are long over)."""
    deleted = conn.execute("DELETE FROM notifications_sent WHERE created_at < now() - %s", (keep,)).rowcount
    conn.commit()
    return deleted
