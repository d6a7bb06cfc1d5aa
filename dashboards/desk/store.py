"""Every query the desk makes, with parameters only. Reads of alerts always carry the reader's
districts, so a scoped user's query cannot return another district's rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from ingest.contract import district_name

SEVERITY_RANK = "CASE a.severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 ELSE 1 END"
DESK_STATES = ("open", "acknowledged", "resolved", "escalated")


@dataclass(frozen=True, kw_only=True)
class Scope:
    """The districts a user answers for; empty: the whole province."""

    districts: tuple[str, ...] = ()

    @property
    def provincial(self) -> bool:
        return not self.districts

    def sees(self, district: str | None) -> bool:
        return self.provincial or district in self.districts

    def params(self) -> dict[str, Any]:
        return {"provincial": self.provincial, "districts": list(self.districts)}


_SCOPED = "(%(provincial)s OR c.district = ANY(%(districts)s))"

_ALERT_SELECT = f"""
SELECT a.alert_id, a.camera_id, a.group_key, a.rule, a.severity, a.state, a.opened_at, a.updated_at, a.title,
       a.details, a.acknowledged_by, a.acknowledged_at, a.resolved_by, a.resolution, a.escalated_at,
       c.name AS camera_name, c.kind AS camera_kind, c.district, c.lat, c.lon, c.lines AS camera_lines,
       (SELECT count(*) FROM alert_events e WHERE e.alert_id = a.alert_id) AS steps,
       (SELECT count(*) FROM desk_outbox o WHERE o.alert_id = a.alert_id AND o.status = 'pending') AS undelivered
FROM alerts a LEFT JOIN cameras c ON c.camera_id = a.camera_id
WHERE {_SCOPED}
"""


@dataclass(frozen=True, kw_only=True)
class AlertFilter:
    camera: str | None = None
    rule: str | None = None
    severity: str | None = None
    state: str | None = None
    district: str | None = None
    alert_id: str | None = None
    limit: int = 300


def desk_state(row: dict[str, Any]) -> str:
    if row["state"] == "resolved":
        return "resolved"
    return "acknowledged" if row["acknowledged_by"] else "open"


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_alerts(conn: AsyncConnection, scope: Scope, flt: AlertFilter, *, resolved_shown_s: float) -> list[dict]:
    clauses = ["(a.state <> 'resolved' OR a.updated_at > now() - %(resolved_window)s)"]
    params: dict[str, Any] = {**scope.params(), "resolved_window": timedelta(seconds=resolved_shown_s), "limit": flt.limit}
    if flt.camera:
        clauses.append("(a.camera_id = %(camera)s OR c.name ILIKE %(camera_like)s)")
        params.update(camera=flt.camera, camera_like=_like(flt.camera))
    if flt.rule:
        clauses.append("a.rule = %(rule)s")
        params["rule"] = flt.rule
    if flt.severity:
        clauses.append("a.severity = %(severity)s")
        params["severity"] = flt.severity
    if flt.district:
        clauses.append("c.district = %(district)s")
        params["district"] = district_name(flt.district)  # as the registry spells it, however the link or the form did
    if flt.alert_id:
        clauses.append("a.alert_id = %(alert_id)s")
        params["alert_id"] = flt.alert_id
    if flt.state == "open":
        clauses.append("a.state <> 'resolved' AND a.acknowledged_by IS NULL")
    elif flt.state == "acknowledged":
        clauses.append("a.state <> 'resolved' AND a.acknowledged_by IS NOT NULL")
    elif flt.state == "resolved":
        clauses.append("a.state = 'resolved'")
    elif flt.state == "escalated":
        clauses.append("a.state <> 'resolved' AND a.escalated_at IS NOT NULL")
    query = (_ALERT_SELECT + " AND " + " AND ".join(clauses) +
             f" ORDER BY (a.state = 'resolved'), (a.acknowledged_by IS NOT NULL), {SEVERITY_RANK} DESC,"
             " a.updated_at DESC LIMIT %(limit)s")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def get_alert(conn: AsyncConnection, scope: Scope, alert_id: str) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_ALERT_SELECT + " AND a.alert_id = %(alert_id)s", {**scope.params(), "alert_id": alert_id})
        return await cur.fetchone()


async def newer_episode_exists(conn: AsyncConnection, alert: dict) -> bool:
    cur = await conn.execute("SELECT 1 FROM alerts WHERE group_key = %s AND opened_at > %s LIMIT 1",
                             (alert["group_key"], alert["opened_at"]))
    return await cur.fetchone() is not None


async def filter_choices(conn: AsyncConnection, scope: Scope) -> dict[str, list[str]]:
    async with conn.cursor() as cur:
        await cur.execute(f"SELECT DISTINCT a.rule FROM alerts a LEFT JOIN cameras c ON c.camera_id = a.camera_id "
                          f"WHERE {_SCOPED} ORDER BY 1", scope.params())
        rules = [r[0] for r in await cur.fetchall()]
        await cur.execute(f"SELECT DISTINCT c.district FROM cameras c WHERE c.district IS NOT NULL AND {_SCOPED} ORDER BY 1",
                          scope.params())
        districts = [r[0] for r in await cur.fetchall()]
    return {"rules": rules, "districts": districts}


async def history(conn: AsyncConnection, alert_id: str) -> dict[str, list[dict]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT ts, state, severity, acknowledged_by, resolved_by, resolution, escalated_at "
                          "FROM alert_events WHERE alert_id = %s ORDER BY ts, event_id", (alert_id,))
        steps = await cur.fetchall()
        await cur.execute("SELECT ts, event_id, action, actor, note, resolution, rule, silence_until "
                          "FROM alert_actions WHERE alert_id = %s ORDER BY ts", (alert_id,))
        actions = await cur.fetchall()
        await cur.execute("SELECT created_at, event_id, action, actor, payload, status, attempts, last_error "
                          "FROM desk_outbox WHERE alert_id = %s AND status = 'pending' ORDER BY created_at", (alert_id,))
        pending = await cur.fetchall()
    return {"steps": steps, "actions": actions, "pending": pending}


async def recent_counts(conn: AsyncConnection, camera_id: str, minutes: int) -> list[tuple[datetime, int]]:
    cur = await conn.execute(
        "SELECT ts, sum(count)::int FROM count_windows WHERE camera_id = %s AND window_s = 60 "
        "AND ts > (SELECT max(ts) FROM count_windows WHERE camera_id = %s AND window_s = 60) - %s "
        "GROUP BY ts ORDER BY ts",
        (camera_id, camera_id, timedelta(minutes=minutes)))
    return [(ts, n) for ts, n in await cur.fetchall()]


async def active_silence(conn: AsyncConnection, camera_id: str, rule: str) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT action, actor, note, silence_until, ts, silence_until > now() AS active FROM alert_actions WHERE camera_id = %s "
            "AND action IN ('silence', 'unsilence') AND rule = %s ORDER BY ts DESC LIMIT 1", (camera_id, rule))
        row = await cur.fetchone()
    return row if row and row["action"] == "silence" and row["active"] else None


async def camera_district(conn: AsyncConnection, camera_id: str) -> tuple[bool, str | None]:
    cur = await conn.execute("SELECT district FROM cameras WHERE camera_id = %s", (camera_id,))
    row = await cur.fetchone()
    return (row is not None, row[0] if row else None)


# --- people ---------------------------------------------------------------------------------

async def user_by_session(conn: AsyncConnection, token_hash: bytes) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT u.name, u.role, u.districts, u.lang, s.csrf_token FROM desk_sessions s "
            "JOIN desk_users u ON u.name = s.user_name WHERE s.token_hash = %s AND s.expires_at > now()", (token_hash,))
        return await cur.fetchone()


async def user_by_api_token(conn: AsyncConnection, token_hash: bytes) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE desk_api_tokens t SET last_used = now() FROM desk_users u WHERE t.token_hash = %s "
            "AND u.name = t.user_name RETURNING u.name, u.role, u.districts, u.lang", (token_hash,))
        return await cur.fetchone()


async def user_password_hash(conn: AsyncConnection, name: str) -> str | None:
    cur = await conn.execute("SELECT password_hash FROM desk_users WHERE name = %s", (name,))
    row = await cur.fetchone()
    return row[0] if row else None


async def recent_failures(conn: AsyncConnection, name: str, address: str, window_s: float) -> tuple[int, int, float | None]:
    """Failed logins in the window for this name and for this address, and seconds since the last one."""
    cur = await conn.execute(
        "SELECT count(*) FILTER (WHERE user_name = %(n)s), count(*) FILTER (WHERE address = %(a)s), "
        "extract(epoch FROM now() - max(at)) FROM desk_login_failures "
        "WHERE at > now() - %(w)s AND (user_name = %(n)s OR address = %(a)s)",
        {"n": name, "a": address, "w": timedelta(seconds=window_s)})
    by_user, by_address, since = await cur.fetchone()  # type: ignore[misc]
    return by_user, by_address, (float(since) if since is not None else None)


async def record_failure(conn: AsyncConnection, name: str, address: str) -> None:
    await conn.execute("DELETE FROM desk_login_failures WHERE at < now() - interval '1 day'")
    await conn.execute("INSERT INTO desk_login_failures (user_name, address) VALUES (%s, %s)", (name[:64], address))


async def clear_failures(conn: AsyncConnection, name: str) -> None:
    await conn.execute("DELETE FROM desk_login_failures WHERE user_name = %s", (name,))


async def create_session(conn: AsyncConnection, token_hash: bytes, name: str, csrf: str, address: str, ttl_s: float) -> None:
    await conn.execute("DELETE FROM desk_sessions WHERE expires_at < now()")
    await conn.execute(
        "INSERT INTO desk_sessions (token_hash, user_name, csrf_token, address, expires_at) "
        "VALUES (%s, %s, %s, %s, now() + %s)", (token_hash, name, csrf, address, timedelta(seconds=ttl_s)))


async def end_session(conn: AsyncConnection, token_hash: bytes) -> None:
    await conn.execute("DELETE FROM desk_sessions WHERE token_hash = %s", (token_hash,))


async def set_language(conn: AsyncConnection, name: str, lang: str) -> None:
    await conn.execute("UPDATE desk_users SET lang = %s WHERE name = %s", (lang, name))


async def audit(conn: AsyncConnection, *, actor: str, address: str | None, action: str, alert_id: str | None = None,
                camera_id: str | None = None, note: str = "", detail: dict | None = None) -> None:
    from psycopg.types.json import Jsonb

    await conn.execute(
        "INSERT INTO desk_audit (actor, address, action, alert_id, camera_id, note, detail) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (actor, address, action, alert_id, camera_id, note, Jsonb(detail or {})))
