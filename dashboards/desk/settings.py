"""The desk's settings: where its database and broker are, and its security and display limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.bus import BusSettings
from ingest.db import DbSettings


@dataclass(frozen=True, kw_only=True)
class DeskSettings:
    db: DbSettings = field(default_factory=DbSettings)
    bus: BusSettings = field(default_factory=BusSettings)
    #: a session ends this long after login
    session_ttl_s: float = 8 * 3600
    #: cookies marked Secure: True/False, or None to follow the request's scheme (behind TLS)
    secure_cookies: bool | None = None
    #: failed logins per user name allowed before each next attempt must wait, and per address
    free_failures_per_user: int = 3
    free_failures_per_address: int = 10
    failure_window_s: float = 900.0
    #: resolved alerts stay on the list this long
    resolved_shown_s: float = 24 * 3600
    #: how often undelivered actions are retried, and how long one delivery may take
    outbox_retry_s: float = 2.0
    publish_timeout_s: float = 3.0
    #: minutes of 1-minute counts in an alert page's chart
    chart_minutes: int = 60
