"""The desk's settings: where its database and broker are, and its security and display limits.

Variables: ``IOC_DSN``, ``IOC_BOOTSTRAP``, ``IOC_NAMESPACE`` and ``IOC_DESK_*`` for the rest
(``IOC_DESK_SESSION_TTL_S``...).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ingest.settings import BusSettings, DbSettings, IocSettings


class DeskSettings(IocSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_DESK_")

    db: DbSettings = Field(default_factory=DbSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    session_ttl_s: float = Field(8 * 3600, gt=0, description="A session ends this long after login (seconds).")
    secure_cookies: bool | None = Field(None, description="Cookies marked Secure: true/false, or unset to follow the "
                                                          "request's scheme (behind TLS).")
    free_failures_per_user: int = Field(3, ge=0, description="Failed logins per user name before each next attempt must wait.")
    free_failures_per_address: int = Field(10, ge=0, description="Failed logins per address before each next attempt must wait.")
    failure_window_s: float = Field(900.0, gt=0, description="How long a failed login counts (seconds).")
    resolved_shown_s: float = Field(24 * 3600, ge=0, description="Resolved alerts stay on the list this long (seconds).")
    outbox_retry_s: float = Field(2.0, gt=0, description="How often undelivered actions are retried (seconds).")
    publish_timeout_s: float = Field(3.0, gt=0, description="How long one delivery to the broker may take (seconds).")
    chart_minutes: int = Field(60, gt=0, le=1440, description="Minutes of 1-minute counts in an alert page's chart.")
