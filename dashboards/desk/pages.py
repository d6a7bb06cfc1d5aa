"""The desk's pages, rendered on the server: login and logout, the language switch, the alert list
(and its rows for live updates), an alert's page and panel, and the forms that act on alerts.
Forms carry the session's CSRF token; a missing session sends the browser to the login page."""

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from dashboards.desk import i18n, security, store
from dashboards.desk.access import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    DeskError,
    Principal,
    anonymous_lang,
    check_csrf,
    client_address,
    local_path,
    page_user,
    require,
    set_cookie,
)
from dashboards.desk.actions import act, silence
from dashboards.desk.alerts import alert_out, history_items, load_alert
from dashboards.desk.chart import count_chart
from dashboards.desk.context import Desk, desk_of
from dashboards.desk.models import AlertId, DeskState, FilterId, FilterText, Resolution, Severity, SilenceBody
from dashboards.desk.store import AlertFilter
from dashboards.desk.validation import ID_PATTERN, MAX_NOTE_CHARS, NoteError, clean_note

router = APIRouter(include_in_schema=False)


LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")  # the operations center's clock, whatever the server's
NoteForm = Annotated[str, Form(max_length=MAX_NOTE_CHARS * 2)]
CsrfForm = Annotated[str, Form(max_length=200)]


def words(lang: str) -> dict[str, Any]:
    """What every template needs to speak the reader's language."""
    return {"lang": lang, "t": i18n.translator(lang), "v": lambda text: i18n.value(text, lang),
            "dl": lambda key: i18n.detail_label(key, lang),
            "compare": lambda details: i18n.comparison(details, lang),
            "dir_name": lambda lines, line_id, direction: i18n.direction_name(lines, line_id, direction, lang)}


def page(request: Request, name: str, principal: Principal | None, context: dict, status: int = 200) -> Response:
    desk = desk_of(request)
    lang = principal.lang if principal else anonymous_lang(request)
    return desk.templates.TemplateResponse(request, name, {**words(lang), "user": principal,
                                                      "csrf": principal.csrf if principal else None, **context},
                                      status_code=status)


@router.get("/")


async def home() -> Response:
    return RedirectResponse("/alerts", status_code=303)


@router.get("/healthz")


async def healthz(request: Request) -> dict:
    return {"live": desk_of(request).hub.listening.is_set()}


@router.get("/login")


async def login_page(request: Request, next: str = "/alerts") -> Response:
    token = security.new_token()
    response = page(request, "login.html", None, {"login_csrf": token, "next": local_path(next), "error": None})
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/login")


async def login(request: Request, username: Annotated[str, Form(max_length=64)] = "",
                password: Annotated[str, Form(max_length=1024)] = "", csrf: Annotated[str, Form(max_length=200)] = "",
                next: Annotated[str, Form(max_length=2000)] = "/alerts") -> Response:
    desk = desk_of(request)
    if not security.same_token(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise DeskError(403, "missing or wrong CSRF token; reload the login page")
    lang = anonymous_lang(request)
    where = client_address(request)
    name = username.strip()
    async with desk.pool.connection() as conn:
        by_user, by_address, since = await store.recent_failures(conn, name, where, desk.settings.failure_window_s)
        wait = max(security.login_wait_s(by_user, desk.settings.free_failures_per_user),
                   security.login_wait_s(by_address, desk.settings.free_failures_per_address))
        if since is not None and since < wait:
            retry = int(wait - since) + 1
            refused = page(request, "login.html", None, {
                "login_csrf": csrf, "next": local_path(next), "username": name,
                "error": i18n.label("slow_down", lang).format(s=retry)}, status=429)
            refused.headers["Retry-After"] = str(retry)
            return refused
        ok = security.verify_password(await store.user_password_hash(conn, name), password)
        if not ok:
            await store.record_failure(conn, name, where)
            await store.audit(conn, actor=name[:64] or "-", address=where, action="login_failed")
            return page(request, "login.html", None, {"login_csrf": csrf, "next": local_path(next), "username": name,
                                                      "error": i18n.label("wrong_login", lang)}, status=401)
        token, csrf_token = security.new_token(), security.new_token()
        await store.clear_failures(conn, name)
        await store.create_session(conn, security.token_hash(token), name, csrf_token, where, desk.settings.session_ttl_s)
        await store.audit(conn, actor=name, address=where, action="login")
    response = RedirectResponse(local_path(next), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=int(desk.settings.session_ttl_s))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")


async def logout(request: Request, principal: Annotated[Principal, Depends(page_user)],
                 csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    desk = desk_of(request)
    check_csrf(request, principal, csrf)
    async with desk.pool.connection() as conn:
        await store.end_session(conn, security.token_hash(request.cookies.get(SESSION_COOKIE, "")))
        await store.audit(conn, actor=principal.name, address=client_address(request), action="logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/lang")


async def switch_language(request: Request, principal: Annotated[Principal, Depends(page_user)],
                          lang: Annotated[Literal["vi", "en"], Form()], csrf: Annotated[str, Form(max_length=200)] = "",
                          back: Annotated[str, Form(max_length=2000)] = "/alerts") -> Response:
    desk = desk_of(request)
    check_csrf(request, principal, csrf)
    async with desk.pool.connection() as conn:
        await store.set_language(conn, principal.name, lang)
    return RedirectResponse(local_path(back), status_code=303)


@router.get("/alerts")


async def alerts_page(request: Request, principal: Annotated[Principal, Depends(page_user)], camera: FilterText = None,
                      rule: FilterId = None, severity: Severity | None = None, state: DeskState | None = None,
                      district: FilterText = None) -> Response:
    desk = desk_of(request)
    flt = AlertFilter(camera=camera, rule=rule, severity=severity, state=state, district=district)
    async with desk.pool.connection() as conn:
        rows = await store.list_alerts(conn, principal.scope, flt, resolved_shown_s=desk.settings.resolved_shown_s)
        choices = await store.filter_choices(conn, principal.scope)
    return page(request, "alerts.html", principal, {
        "alerts": [alert_out(r, principal.lang) for r in rows], "flt": flt, "choices": choices,
        "query": request.url.query})


@router.get("/alerts/{alert_id}/row")


async def alert_row(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                    camera: FilterText = None, rule: FilterId = None, severity: Severity | None = None,
                    state: DeskState | None = None, district: FilterText = None) -> Response:
    """One row of the list, for live updates; 204 when the alert is outside the page's filters."""
    desk = desk_of(request)
    flt = AlertFilter(camera=camera, rule=rule, severity=severity, state=state, district=district, alert_id=alert_id,
                      limit=1)
    async with desk.pool.connection() as conn:
        rows = await store.list_alerts(conn, principal.scope, flt, resolved_shown_s=desk.settings.resolved_shown_s)
    if not rows:
        return Response(status_code=204)
    return page(request, "_row.html", principal, {"a": alert_out(rows[0], principal.lang)})


async def alert_context(desk: Desk, principal: Principal, alert_id: str) -> dict:
    row, hist = await load_alert(desk, principal, alert_id)
    async with desk.pool.connection() as conn:
        counts = await store.recent_counts(conn, row["camera_id"], desk.settings.chart_minutes)
        silenced = await store.active_silence(conn, row["camera_id"], row["rule"])
        newer = await store.newer_episode_exists(conn, row)
    return {"a": alert_out(row, principal.lang), "row": row, "history": history_items(hist), "silenced": silenced,
            "chart": count_chart(counts, lambda ts: ts.astimezone(LOCAL_TZ).strftime("%H:%M")),
            "can_reopen": not newer, "lines": row["camera_lines"] or [],
            "resolutions": ("handled", "false_alarm", "duplicate", "other")}


@router.get("/alerts/{alert_id}")


async def alert_page(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)]) -> Response:
    return page(request, "alert.html", principal, await alert_context(desk_of(request), principal, alert_id))


@router.get("/alerts/{alert_id}/panel")


async def alert_panel(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)]) -> Response:
    return page(request, "_panel.html", principal, await alert_context(desk_of(request), principal, alert_id))


async def form_action(request: Request, principal: Principal, alert_id: str, kind: str, note: str, csrf: str,
                      resolution: str | None = None) -> Response:
    check_csrf(request, principal, csrf)
    try:
        cleaned = clean_note(note, required=kind == "note")
    except NoteError as exc:
        raise DeskError(422, str(exc)) from None
    await act(request, principal, alert_id, kind, cleaned, resolution)
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.post("/alerts/{alert_id}/ack")


async def ack_form(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                   note: NoteForm = "", csrf: CsrfForm = "") -> Response:
    return await form_action(request, principal, alert_id, "ack", note, csrf)


@router.post("/alerts/{alert_id}/note")


async def note_form(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                    note: NoteForm = "", csrf: CsrfForm = "") -> Response:
    return await form_action(request, principal, alert_id, "note", note, csrf)


@router.post("/alerts/{alert_id}/resolve")


async def resolve_form(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                       resolution: Annotated[Resolution, Form()], note: NoteForm = "", csrf: CsrfForm = "") -> Response:
    return await form_action(request, principal, alert_id, "resolve", note, csrf, resolution)


@router.post("/alerts/{alert_id}/reopen")


async def reopen_form(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                      note: NoteForm = "", csrf: CsrfForm = "") -> Response:
    return await form_action(request, principal, alert_id, "reopen", note, csrf)


@router.post("/alerts/{alert_id}/silence")


async def silence_form(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                       minutes: Annotated[int, Form(ge=1, le=7 * 24 * 60)], note: NoteForm = "",
                       csrf: CsrfForm = "") -> Response:
    check_csrf(request, principal, csrf)
    row, _ = await load_alert(desk_of(request), principal, alert_id)
    try:
        body = SilenceBody(camera_id=row["camera_id"], rule=row["rule"], minutes=minutes, alert_id=alert_id, note=note)
    except ValueError as exc:
        raise DeskError(422, str(exc).splitlines()[-1].strip()) from None
    await silence(request, principal, body)
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.post("/alerts/ack")


async def bulk_ack(request: Request, principal: Annotated[Principal, Depends(page_user)],
                   alert_id: Annotated[list[str], Form(max_length=500)] = [],  # noqa: B006 - FastAPI form default
                   note: NoteForm = "", csrf: CsrfForm = "", back: Annotated[str, Form(max_length=2000)] = "/alerts") -> Response:
    """Acknowledge every selected alert that is still open; the others are left as they are."""
    check_csrf(request, principal, csrf)
    require(principal, "operator")
    try:
        cleaned = clean_note(note)
    except NoteError as exc:
        raise DeskError(422, str(exc)) from None
    if not alert_id:
        raise DeskError(422, i18n.label("selected_none", principal.lang))
    for one in alert_id:
        if not re.fullmatch(ID_PATTERN, one):
            raise DeskError(422, f"malformed alert id {one[:40]!r}")
    for one in dict.fromkeys(alert_id):
        try:
            await act(request, principal, one, "ack", cleaned)
        except DeskError as exc:
            if exc.status not in (404, 409):
                raise
    return RedirectResponse(local_path(back), status_code=303)
