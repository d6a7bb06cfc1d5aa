"""What operators do to an alert: each action is checked against the alert's state, audited,
written to the outbox and delivered to the bus in one go; the processors apply it and its effect
comes back through the alerts topic, the sink and NOTIFY."""

from datetime import UTC, datetime, timedelta

from fastapi import Request

from dashboards.desk import store
from dashboards.desk.access import DeskError, Principal, client_address, require
from dashboards.desk.context import Desk, desk_of
from dashboards.desk.models import ActionOut, SilenceBody
from dashboards.desk.outbox import enqueue
from dashboards.desk.store import desk_state
from ingest.contract import AlertAction


async def act(request: Request, principal: Principal, alert_id: str, kind: str, note: str,
              resolution: str | None = None) -> ActionOut:
    desk = desk_of(request)
    require(principal, "operator")
    async with desk.pool.connection() as conn:
        alert = await store.get_alert(conn, principal.scope, alert_id)
        if alert is None:
            raise DeskError(404, f"no alert {alert_id}")
        state = desk_state(alert)
        if kind == "ack" and state != "open":
            raise DeskError(409, f"alert {alert_id} is {state} already")
        if kind == "resolve" and state == "resolved":
            raise DeskError(409, f"alert {alert_id} is resolved already")
        if kind == "reopen":
            if state != "resolved":
                raise DeskError(409, f"alert {alert_id} is not resolved")
            if await store.newer_episode_exists(conn, alert):
                raise DeskError(409, "a newer alert of this camera and rule exists; act on that one")
        action = AlertAction(camera_id=alert["camera_id"], ts=datetime.now(UTC), alert_id=alert_id,
                             action=kind, actor=principal.name, note=note, resolution=resolution)  # type: ignore[arg-type]
        async with conn.transaction():
            await store.audit(conn, actor=principal.name, address=client_address(request), action=kind, alert_id=alert_id,
                              camera_id=alert["camera_id"], note=note,
                              detail={"resolution": resolution, "event_id": action.event_id, "via": principal.via})
            await enqueue(conn, action)
    return await _deliver(desk, action)


async def _deliver(desk: Desk, action: AlertAction) -> ActionOut:
    error = (await desk.outbox.deliver([action.event_id]))[action.event_id]
    return ActionOut(event_id=action.event_id, alert_id=action.alert_id, action=action.action,
                     delivered=error is None, error=error)


async def silence(request: Request, principal: Principal, body: SilenceBody) -> ActionOut:
    desk = desk_of(request)
    require(principal, "admin")
    async with desk.pool.connection() as conn:
        known, district = await store.camera_district(conn, body.camera_id)
        if body.alert_id is not None:
            alert = await store.get_alert(conn, principal.scope, body.alert_id)
            if alert is None or alert["camera_id"] != body.camera_id:
                raise DeskError(404, f"no alert {body.alert_id} on camera {body.camera_id}")
        elif not known or not principal.scope.sees(district):
            raise DeskError(404, f"no camera {body.camera_id}")
        now = datetime.now(UTC)
        action = AlertAction(camera_id=body.camera_id, ts=now, alert_id=body.alert_id or "-", action="silence",
                             actor=principal.name, note=body.note, rule=body.rule,
                             silence_until=now + timedelta(minutes=body.minutes))
        async with conn.transaction():
            await store.audit(conn, actor=principal.name, address=client_address(request), action="silence",
                              alert_id=body.alert_id, camera_id=body.camera_id, note=body.note,
                              detail={"rule": body.rule, "minutes": body.minutes, "event_id": action.event_id,
                                      "via": principal.via})
            await enqueue(conn, action)
    return await _deliver(desk, action)
