"""The desk's JSON API under /api (schema at /api/openapi.json): alerts the caller may see and the
actions on them, authenticated by a Bearer token or a desk session (which then needs its CSRF
token in ``X-CSRF-Token``)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from dashboards.desk import store
from dashboards.desk.access import Principal, api_user, check_csrf
from dashboards.desk.actions import act, silence
from dashboards.desk.alerts import alert_out, history_items, load_alert
from dashboards.desk.context import desk_of
from dashboards.desk.models import (
    AckBody,
    ActionOut,
    AlertDetailOut,
    AlertId,
    AlertOut,
    DeskState,
    ErrorOut,
    FilterId,
    FilterText,
    NoteBody,
    ReopenBody,
    ResolveBody,
    Severity,
    SilenceBody,
)
from dashboards.desk.store import AlertFilter

router = APIRouter(prefix="/api")


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut},
    503: {"model": ErrorOut}}


@router.get("/alerts", response_model=list[AlertOut], tags=["alerts"], responses=RESPONSES)


async def api_alerts(request: Request, principal: Annotated[Principal, Depends(api_user)], camera: FilterText = None,
                     rule: FilterId = None, severity: Severity | None = None, state: DeskState | None = None,
                     district: FilterText = None, limit: Annotated[int, Query(ge=1, le=1000)] = 300) -> list[dict]:
    """Open, acknowledged and recently resolved alerts the caller may see, most pressing first."""
    desk = desk_of(request)
    async with desk.pool.connection() as conn:
        rows = await store.list_alerts(conn, principal.scope, AlertFilter(camera=camera, rule=rule, severity=severity,
                                       state=state, district=district, limit=limit),
                                       resolved_shown_s=desk.settings.resolved_shown_s)
    return [alert_out(r, principal.lang) for r in rows]


@router.get("/alerts/{alert_id}", response_model=AlertDetailOut, tags=["alerts"], responses=RESPONSES)


async def api_alert(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(api_user)]) -> dict:
    """One alert with its full history: its steps, what operators did, and actions not yet delivered."""
    row, hist = await load_alert(desk_of(request), principal, alert_id)
    return {**alert_out(row, principal.lang), "history": history_items(hist)}


ACTION_RESPONSES = {**RESPONSES, 409: {"model": ErrorOut}}


@router.post("/alerts/{alert_id}/ack", response_model=ActionOut, status_code=202, tags=["actions"], responses=ACTION_RESPONSES)


async def api_ack(alert_id: AlertId, body: AckBody, request: Request,
                  principal: Annotated[Principal, Depends(api_user)]) -> ActionOut:
    """Acknowledge an open alert (operator)."""
    check_csrf(request, principal)
    return await act(request, principal, alert_id, "ack", body.note)


@router.post("/alerts/{alert_id}/note", response_model=ActionOut, status_code=202, tags=["actions"], responses=ACTION_RESPONSES)


async def api_note(alert_id: AlertId, body: NoteBody, request: Request,
                   principal: Annotated[Principal, Depends(api_user)]) -> ActionOut:
    """Add a note to an alert (operator)."""
    check_csrf(request, principal)
    return await act(request, principal, alert_id, "note", body.note)


@router.post("/alerts/{alert_id}/resolve", response_model=ActionOut, status_code=202, tags=["actions"],
             responses=ACTION_RESPONSES)


async def api_resolve(alert_id: AlertId, body: ResolveBody, request: Request,
                      principal: Annotated[Principal, Depends(api_user)]) -> ActionOut:
    """Resolve an alert with a resolution code and a note (operator)."""
    check_csrf(request, principal)
    return await act(request, principal, alert_id, "resolve", body.note, body.resolution)


@router.post("/alerts/{alert_id}/reopen", response_model=ActionOut, status_code=202, tags=["actions"], responses=ACTION_RESPONSES)


async def api_reopen(alert_id: AlertId, body: ReopenBody, request: Request,
                     principal: Annotated[Principal, Depends(api_user)]) -> ActionOut:
    """Reopen a resolved alert (operator); it then stays open until an operator resolves it."""
    check_csrf(request, principal)
    return await act(request, principal, alert_id, "reopen", body.note)


@router.post("/silences", response_model=ActionOut, status_code=202, tags=["actions"], responses=RESPONSES)


async def api_silence(body: SilenceBody, request: Request,
                      principal: Annotated[Principal, Depends(api_user)]) -> ActionOut:
    """Silence a rule on a camera for a while, saying why (admin)."""
    check_csrf(request, principal)
    return await silence(request, principal, body)
