"""The desk's web app: server-rendered pages, a JSON API with Bearer tokens, and a live event stream.

Every request is authenticated (session cookie or Bearer token) and its role checked here, on the
server, by the dependency of its endpoint; every query carries the user's districts, so another
district's alert is simply not found (404). State-changing requests with a session carry its CSRF
token (a form field or the ``X-CSRF-Token`` header); Bearer requests carry no cookie, so need none.
Each action is an AlertAction: audited, written to the outbox and published to the bus; the
processors apply it and its effect comes back through the alerts topic, the sink and NOTIFY.
"""


import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import psycopg
from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from dashboards.desk import i18n, security, store
from dashboards.desk.chart import count_chart
from dashboards.desk.live import LiveHub
from dashboards.desk.outbox import Outbox, Publisher, enqueue
from dashboards.desk.settings import DeskSettings
from dashboards.desk.store import AlertFilter, Scope, desk_state
from dashboards.desk.validation import (
    FILTER_PATTERN,
    ID_PATTERN,
    MAX_NOTE_CHARS,
    NoteError,
    clean_note,
)
from ingest.contract import AlertAction, decode

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SESSION_COOKIE = "ioc_desk_session"
LOGIN_CSRF_COOKIE = "ioc_desk_login_csrf"
LANG_COOKIE = "ioc_desk_lang"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

Resolution = Literal["handled", "false_alarm", "duplicate", "other"]
Severity = Literal["info", "warning", "critical"]
DeskState = Literal["open", "acknowledged", "resolved", "escalated"]
AlertId = Annotated[str, PathParam(pattern=ID_PATTERN, description="The alert episode's id.")]
FilterText = Annotated[str | None, Query(pattern=FILTER_PATTERN)]
FilterId = Annotated[str | None, Query(pattern=ID_PATTERN)]


class DeskError(Exception):
    """A request the desk refuses, with its HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoginRequired(Exception):
    pass


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    scope: Scope
    lang: str
    csrf: str | None  # None when authenticated by a Bearer token
    via: Literal["session", "token"]

    def can(self, role: str) -> bool:
        return security.role_at_least(self.role, role)


# --- API models -------------------------------------------------------------------------------

def _note_field(required: bool = False) -> Any:
    # The hard cap is generous so an oversized note gets clean_note's clearer message.
    return Field("" if not required else ..., max_length=MAX_NOTE_CHARS * 2,
                 description=f"Plain text, at most {MAX_NOTE_CHARS} characters, no markup or control characters.")


class _NoteBody(BaseModel):
    """A request body with a ``note``: trimmed and checked by ``clean_note`` (required when the
    field has no default)."""

    model_config = {"extra": "forbid"}

    @field_validator("note", check_fields=False)
    @classmethod
    def _clean(cls, v: str) -> str:
        try:
            return clean_note(v, required=cls.model_fields["note"].is_required())
        except NoteError as exc:
            raise ValueError(str(exc)) from None


class AckBody(_NoteBody):
    note: str = _note_field()


class NoteBody(_NoteBody):
    note: str = _note_field(required=True)


class ResolveBody(_NoteBody):
    resolution: Resolution
    note: str = _note_field()


class ReopenBody(_NoteBody):
    note: str = _note_field()


class SilenceBody(_NoteBody):
    camera_id: str = Field(pattern=ID_PATTERN)
    rule: str = Field(pattern=ID_PATTERN)
    minutes: int = Field(ge=1, le=7 * 24 * 60, description="How long the rule stays silent on the camera.")
    alert_id: str | None = Field(default=None, pattern=ID_PATTERN, description="The alert that prompted it, if any.")
    note: str = _note_field(required=True)


class ActionOut(BaseModel):
    event_id: str
    alert_id: str
    action: str
    delivered: bool = Field(description="False: the broker did not take it yet; it is kept and retried.")
    error: str | None = None


class AlertOut(BaseModel):
    alert_id: str
    camera_id: str
    camera_name: str | None
    district: str | None
    rule: str
    severity: str
    state: str = Field(description="open, acknowledged or resolved")
    escalated: bool
    title: str
    opened_at: datetime
    updated_at: datetime
    updates: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    undelivered_actions: int
    details: dict[str, Any]
    url: str


class HistoryItem(BaseModel):
    at: datetime
    kind: Literal["step", "action", "undelivered"]
    what: str
    actor: str | None = None
    note: str = ""
    resolution: str | None = None
    error: str | None = None


class AlertDetailOut(AlertOut):
    history: list[HistoryItem]


class ErrorOut(BaseModel):
    detail: str


# --- the app ----------------------------------------------------------------------------------

def create_app(settings: DeskSettings) -> FastAPI:
    pool = AsyncConnectionPool(settings.db.conninfo, min_size=1, max_size=8, open=False, timeout=settings.db.connect_timeout_s,
                               kwargs={"autocommit": True, "connect_timeout": int(settings.db.connect_timeout_s)})
    publisher = Publisher(settings.bus, timeout_s=settings.publish_timeout_s)
    outbox = Outbox(pool, publisher, retry_s=settings.outbox_retry_s)
    hub = LiveHub(settings.db.conninfo)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await pool.open(wait=False)
        tasks = [asyncio.create_task(hub.run(), name="desk-live"),
                 asyncio.create_task(outbox.retry_forever(), name="desk-outbox")]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await pool.close()
            await asyncio.to_thread(publisher.close)

    app = FastAPI(
        title="ioc alert desk", version="1",
        description="Alerts of the operations center: read them, acknowledge, annotate, resolve, reopen, silence. "
                    "Authenticate with `Authorization: Bearer <token>` (`ioc desk token create NAME`).",
        lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
    )
    app.state.settings, app.state.pool, app.state.outbox, app.state.hub = settings, pool, outbox, hub
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["local"] = lambda ts, fmt="%H:%M:%S %d/%m": ts.astimezone(LOCAL_TZ).strftime(fmt) if ts else ""
    templates.env.globals["desk_state"] = desk_state
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    # -- plumbing --------------------------------------------------------------------------

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")

    def error_page(request: Request, status: int, message: str, lang: str | None = None) -> Response:
        lang = lang or _anonymous_lang(request)
        return templates.TemplateResponse(request, "error.html", {**_words(lang), "status": status, "message": message},
                                          status_code=status)

    @app.exception_handler(DeskError)
    async def on_desk_error(request: Request, exc: DeskError) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": exc.message}, status_code=exc.status,
                                headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)
        return error_page(request, exc.status, exc.message)

    @app.exception_handler(LoginRequired)
    async def on_login_required(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in exc.errors())
        if wants_json(request):
            return JSONResponse({"detail": problems or "invalid request"}, status_code=422)
        return error_page(request, 422, problems)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_json(request) or exc.status_code == 405:
            return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
        return error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def on_database_down(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", exc)
        message = "the database is not reachable; try again shortly"
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": "5"})
        return error_page(request, 503, message)

    @app.exception_handler(psycopg.DataError)
    async def on_bad_value(request: Request, exc: Exception) -> Response:
        message = f"a value in the request is not acceptable: {str(exc).splitlines()[0]}"
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=400)
        return error_page(request, 400, message)

    # -- who is asking ---------------------------------------------------------------------

    async def principal_of(request: Request) -> Principal | None:
        auth = request.headers.get("authorization", "")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            async with pool.connection() as conn:
                row = await store.user_by_api_token(conn, security.token_hash(token.strip()))
            return _principal(row, csrf=None, via="token") if row else None
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie or len(cookie) > 200:
            return None
        async with pool.connection() as conn:
            row = await store.user_by_session(conn, security.token_hash(cookie))
        return _principal(row, csrf=row["csrf_token"], via="session") if row else None

    async def page_user(request: Request) -> Principal:
        principal = await principal_of(request)
        if principal is None:
            raise LoginRequired()
        return principal

    async def api_user(request: Request) -> Principal:
        principal = await principal_of(request)
        if principal is None:
            raise DeskError(401, "authentication required: a Bearer token or a desk session")
        return principal

    def require(principal: Principal, role: str) -> None:
        if not principal.can(role):
            raise DeskError(403, f"this needs the {role} role; {principal.name} is {principal.role}")

    def check_csrf(request: Request, principal: Principal, form_token: str | None = None) -> None:
        if principal.via == "token":
            return
        sent = form_token or request.headers.get("x-csrf-token")
        if not security.same_token(sent, principal.csrf):
            raise DeskError(403, "missing or wrong CSRF token; reload the page and try again")

    def address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    # -- actions ---------------------------------------------------------------------------

    async def act(request: Request, principal: Principal, alert_id: str, kind: str, note: str,
                  resolution: str | None = None) -> ActionOut:
        require(principal, "operator")
        async with pool.connection() as conn:
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
            action = AlertAction(camera_id=alert["camera_id"], ts=datetime.now(timezone.utc), alert_id=alert_id,
                                 action=kind, actor=principal.name, note=note, resolution=resolution)  # type: ignore[arg-type]
            async with conn.transaction():
                await store.audit(conn, actor=principal.name, address=address(request), action=kind, alert_id=alert_id,
                                  camera_id=alert["camera_id"], note=note,
                                  detail={"resolution": resolution, "event_id": action.event_id, "via": principal.via})
                await enqueue(conn, action)
        return await _deliver(action)

    async def _deliver(action: AlertAction) -> ActionOut:
        error = (await outbox.deliver([action.event_id]))[action.event_id]
        return ActionOut(event_id=action.event_id, alert_id=action.alert_id, action=action.action,
                         delivered=error is None, error=error)

    async def silence(request: Request, principal: Principal, body: SilenceBody) -> ActionOut:
        require(principal, "admin")
        async with pool.connection() as conn:
            known, district = await store.camera_district(conn, body.camera_id)
            if body.alert_id is not None:
                alert = await store.get_alert(conn, principal.scope, body.alert_id)
                if alert is None or alert["camera_id"] != body.camera_id:
                    raise DeskError(404, f"no alert {body.alert_id} on camera {body.camera_id}")
            elif not known or not principal.scope.sees(district):
                raise DeskError(404, f"no camera {body.camera_id}")
            now = datetime.now(timezone.utc)
            action = AlertAction(camera_id=body.camera_id, ts=now, alert_id=body.alert_id or "-", action="silence",
                                 actor=principal.name, note=body.note, rule=body.rule,
                                 silence_until=now + timedelta(minutes=body.minutes))
            async with conn.transaction():
                await store.audit(conn, actor=principal.name, address=address(request), action="silence",
                                  alert_id=body.alert_id, camera_id=body.camera_id, note=body.note,
                                  detail={"rule": body.rule, "minutes": body.minutes, "event_id": action.event_id,
                                          "via": principal.via})
                await enqueue(conn, action)
        return await _deliver(action)

    # -- reading ---------------------------------------------------------------------------

    def alert_out(row: dict, lang: str) -> dict:
        lines = row["camera_lines"] or []
        return {
            "alert_id": row["alert_id"], "camera_id": row["camera_id"], "camera_name": row["camera_name"],
            "district": row["district"], "rule": row["rule"], "severity": row["severity"], "state": desk_state(row),
            "escalated": row["escalated_at"] is not None and desk_state(row) == "open",
            "title": i18n.alert_title(row["rule"], row["details"], row["title"], lang, lines),
            "opened_at": row["opened_at"], "updated_at": row["updated_at"], "updates": row["steps"],
            "acknowledged_by": row["acknowledged_by"], "acknowledged_at": row["acknowledged_at"],
            "resolved_by": row["resolved_by"], "resolution": row["resolution"],
            "undelivered_actions": row["undelivered"], "details": row["details"], "url": f"/alerts/{row['alert_id']}",
        }

    def history_items(hist: dict[str, list[dict]]) -> list[dict]:
        items: list[dict] = []
        previous: dict | None = None
        for step in hist["steps"]:
            if previous is None or step["state"] == "open" and previous["state"] == "resolved":
                what = "step_open"
            elif step["state"] == "resolved":
                what = "step_resolved"
            elif step["escalated_at"] and not (previous and previous["escalated_at"]):
                what = "step_escalated"
            elif step["acknowledged_by"] and not (previous and previous["acknowledged_by"]):
                what = "step_ack"
            else:
                what = "step_update"
            items.append({"at": step["ts"], "kind": "step", "what": what,
                          "actor": step["acknowledged_by"] if what == "step_ack" else step["resolved_by"] if what == "step_resolved" else None,
                          "note": "", "resolution": step["resolution"] if what == "step_resolved" else None,
                          "severity": step["severity"]})
            previous = step
        for action in hist["actions"]:
            items.append({"at": action["ts"], "kind": "action", "what": action["action"], "actor": action["actor"],
                          "note": action["note"], "resolution": action["resolution"], "silence_until": action["silence_until"]})
        for pending in hist["pending"]:
            try:
                note = decode(bytes(pending["payload"])).note  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - an unreadable payload still shows as undelivered
                note = ""
            items.append({"at": pending["created_at"], "kind": "undelivered", "what": pending["action"],
                          "actor": pending["actor"], "note": note, "error": pending["last_error"],
                          "attempts": pending["attempts"]})
        return sorted(items, key=lambda i: i["at"], reverse=True)

    async def load_alert(principal: Principal, alert_id: str) -> tuple[dict, dict[str, list[dict]]]:
        async with pool.connection() as conn:
            row = await store.get_alert(conn, principal.scope, alert_id)
            if row is None:
                raise DeskError(404, f"no alert {alert_id}")
            return row, await store.history(conn, alert_id)

    # -- JSON API --------------------------------------------------------------------------

    responses: dict[int | str, dict[str, Any]] = {
        401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut},
        503: {"model": ErrorOut}}

    @app.get("/api/alerts", response_model=list[AlertOut], tags=["alerts"], responses=responses)
    async def api_alerts(principal: Annotated[Principal, Depends(api_user)], camera: FilterText = None,
                         rule: FilterId = None, severity: Severity | None = None, state: DeskState | None = None,
                         district: FilterText = None, limit: Annotated[int, Query(ge=1, le=1000)] = 300) -> list[dict]:
        """Open, acknowledged and recently resolved alerts the caller may see, most pressing first."""
        async with pool.connection() as conn:
            rows = await store.list_alerts(conn, principal.scope, AlertFilter(camera=camera, rule=rule, severity=severity,
                                           state=state, district=district, limit=limit),
                                           resolved_shown_s=settings.resolved_shown_s)
        return [alert_out(r, principal.lang) for r in rows]

    @app.get("/api/alerts/{alert_id}", response_model=AlertDetailOut, tags=["alerts"], responses=responses)
    async def api_alert(alert_id: AlertId, principal: Annotated[Principal, Depends(api_user)]) -> dict:
        """One alert with its full history: its steps, what operators did, and actions not yet delivered."""
        row, hist = await load_alert(principal, alert_id)
        return {**alert_out(row, principal.lang), "history": history_items(hist)}

    action_responses = {**responses, 409: {"model": ErrorOut}}

    @app.post("/api/alerts/{alert_id}/ack", response_model=ActionOut, status_code=202, tags=["actions"], responses=action_responses)
    async def api_ack(alert_id: AlertId, body: AckBody, request: Request,
                      principal: Annotated[Principal, Depends(api_user)]) -> ActionOut:
        """Acknowledge an open alert (operator)."""
        check_csrf(request, principal)
        return await act(request, principal, alert_id, "ack", body.note)

    @app.post("/api/alerts/{alert_id}/note", response_model=ActionOut, status_code=202, tags=["actions"], responses=action_responses)
    async def api_note(alert_id: AlertId, body: NoteBody, request: Request,
                       principal: Annotated[Principal, Depends(api_user)]) -> ActionOut:
        """Add a note to an alert (operator)."""
        check_csrf(request, principal)
        return await act(request, principal, alert_id, "note", body.note)

    @app.post("/api/alerts/{alert_id}/resolve", response_model=ActionOut, status_code=202, tags=["actions"], responses=action_responses)
    async def api_resolve(alert_id: AlertId, body: ResolveBody, request: Request,
                          principal: Annotated[Principal, Depends(api_user)]) -> ActionOut:
        """Resolve an alert with a resolution code and a note (operator)."""
        check_csrf(request, principal)
        return await act(request, principal, alert_id, "resolve", body.note, body.resolution)

    @app.post("/api/alerts/{alert_id}/reopen", response_model=ActionOut, status_code=202, tags=["actions"], responses=action_responses)
    async def api_reopen(alert_id: AlertId, body: ReopenBody, request: Request,
                         principal: Annotated[Principal, Depends(api_user)]) -> ActionOut:
        """Reopen a resolved alert (operator); it then stays open until an operator resolves it."""
        check_csrf(request, principal)
        return await act(request, principal, alert_id, "reopen", body.note)

    @app.post("/api/silences", response_model=ActionOut, status_code=202, tags=["actions"], responses=responses)
    async def api_silence(body: SilenceBody, request: Request,
                          principal: Annotated[Principal, Depends(api_user)]) -> ActionOut:
        """Silence a rule on a camera for a while, saying why (admin)."""
        check_csrf(request, principal)
        return await silence(request, principal, body)

    # -- pages -----------------------------------------------------------------------------

    def page(request: Request, name: str, principal: Principal | None, context: dict, status: int = 200) -> Response:
        lang = principal.lang if principal else _anonymous_lang(request)
        return templates.TemplateResponse(request, name, {**_words(lang), "user": principal,
                                                          "csrf": principal.csrf if principal else None, **context},
                                          status_code=status)

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/alerts", status_code=303)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"live": hub.listening.is_set()}

    @app.get("/login", include_in_schema=False)
    async def login_page(request: Request, next: str = "/alerts") -> Response:
        token = security.new_token()
        response = page(request, "login.html", None, {"login_csrf": token, "next": _local_path(next), "error": None})
        _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
        return response

    @app.post("/login", include_in_schema=False)
    async def login(request: Request, username: Annotated[str, Form(max_length=64)] = "",
                    password: Annotated[str, Form(max_length=1024)] = "", csrf: Annotated[str, Form(max_length=200)] = "",
                    next: Annotated[str, Form(max_length=2000)] = "/alerts") -> Response:
        if not security.same_token(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
            raise DeskError(403, "missing or wrong CSRF token; reload the login page")
        lang = _anonymous_lang(request)
        where = address(request)
        name = username.strip()
        async with pool.connection() as conn:
            by_user, by_address, since = await store.recent_failures(conn, name, where, settings.failure_window_s)
            wait = max(security.login_wait_s(by_user, settings.free_failures_per_user),
                       security.login_wait_s(by_address, settings.free_failures_per_address))
            if since is not None and since < wait:
                retry = int(wait - since) + 1
                refused = page(request, "login.html", None, {
                    "login_csrf": csrf, "next": _local_path(next), "username": name,
                    "error": i18n.label("slow_down", lang).format(s=retry)}, status=429)
                refused.headers["Retry-After"] = str(retry)
                return refused
            ok = security.verify_password(await store.user_password_hash(conn, name), password)
            if not ok:
                await store.record_failure(conn, name, where)
                await store.audit(conn, actor=name[:64] or "-", address=where, action="login_failed")
                return page(request, "login.html", None, {"login_csrf": csrf, "next": _local_path(next), "username": name,
                                                          "error": i18n.label("wrong_login", lang)}, status=401)
            token, csrf_token = security.new_token(), security.new_token()
            await store.clear_failures(conn, name)
            await store.create_session(conn, security.token_hash(token), name, csrf_token, where, settings.session_ttl_s)
            await store.audit(conn, actor=name, address=where, action="login")
        response = RedirectResponse(_local_path(next), status_code=303)
        _set_cookie(request, response, SESSION_COOKIE, token, max_age=int(settings.session_ttl_s))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request, principal: Annotated[Principal, Depends(page_user)],
                     csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        check_csrf(request, principal, csrf)
        async with pool.connection() as conn:
            await store.end_session(conn, security.token_hash(request.cookies.get(SESSION_COOKIE, "")))
            await store.audit(conn, actor=principal.name, address=address(request), action="logout")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.post("/lang", include_in_schema=False)
    async def switch_language(request: Request, principal: Annotated[Principal, Depends(page_user)],
                              lang: Annotated[Literal["vi", "en"], Form()], csrf: Annotated[str, Form(max_length=200)] = "",
                              back: Annotated[str, Form(max_length=2000)] = "/alerts") -> Response:
        check_csrf(request, principal, csrf)
        async with pool.connection() as conn:
            await store.set_language(conn, principal.name, lang)
        return RedirectResponse(_local_path(back), status_code=303)

    @app.get("/alerts", include_in_schema=False)
    async def alerts_page(request: Request, principal: Annotated[Principal, Depends(page_user)], camera: FilterText = None,
                          rule: FilterId = None, severity: Severity | None = None, state: DeskState | None = None,
                          district: FilterText = None) -> Response:
        flt = AlertFilter(camera=camera, rule=rule, severity=severity, state=state, district=district)
        async with pool.connection() as conn:
            rows = await store.list_alerts(conn, principal.scope, flt, resolved_shown_s=settings.resolved_shown_s)
            choices = await store.filter_choices(conn, principal.scope)
        return page(request, "alerts.html", principal, {
            "alerts": [alert_out(r, principal.lang) for r in rows], "flt": flt, "choices": choices,
            "query": request.url.query})

    @app.get("/alerts/{alert_id}/row", include_in_schema=False)
    async def alert_row(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                        camera: FilterText = None, rule: FilterId = None, severity: Severity | None = None,
                        state: DeskState | None = None, district: FilterText = None) -> Response:
        """One row of the list, for live updates; 204 when the alert is outside the page's filters."""
        flt = AlertFilter(camera=camera, rule=rule, severity=severity, state=state, district=district, alert_id=alert_id,
                          limit=1)
        async with pool.connection() as conn:
            rows = await store.list_alerts(conn, principal.scope, flt, resolved_shown_s=settings.resolved_shown_s)
        if not rows:
            return Response(status_code=204)
        return page(request, "_row.html", principal, {"a": alert_out(rows[0], principal.lang)})

    async def alert_context(principal: Principal, alert_id: str) -> dict:
        row, hist = await load_alert(principal, alert_id)
        async with pool.connection() as conn:
            counts = await store.recent_counts(conn, row["camera_id"], settings.chart_minutes)
            silenced = await store.active_silence(conn, row["camera_id"], row["rule"])
            newer = await store.newer_episode_exists(conn, row)
        return {"a": alert_out(row, principal.lang), "row": row, "history": history_items(hist), "silenced": silenced,
                "chart": count_chart(counts, lambda ts: ts.astimezone(LOCAL_TZ).strftime("%H:%M")),
                "can_reopen": not newer, "lines": row["camera_lines"] or [],
                "resolutions": ("handled", "false_alarm", "duplicate", "other")}

    @app.get("/alerts/{alert_id}", include_in_schema=False)
    async def alert_page(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)]) -> Response:
        return page(request, "alert.html", principal, await alert_context(principal, alert_id))

    @app.get("/alerts/{alert_id}/panel", include_in_schema=False)
    async def alert_panel(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)]) -> Response:
        return page(request, "_panel.html", principal, await alert_context(principal, alert_id))

    async def form_action(request: Request, principal: Principal, alert_id: str, kind: str, note: str, csrf: str,
                          resolution: str | None = None) -> Response:
        check_csrf(request, principal, csrf)
        try:
            cleaned = clean_note(note, required=kind == "note")
        except NoteError as exc:
            raise DeskError(422, str(exc)) from None
        await act(request, principal, alert_id, kind, cleaned, resolution)
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    NoteForm = Annotated[str, Form(max_length=MAX_NOTE_CHARS * 2)]
    CsrfForm = Annotated[str, Form(max_length=200)]

    @app.post("/alerts/{alert_id}/ack", include_in_schema=False)
    async def ack_form(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                       note: NoteForm = "", csrf: CsrfForm = "") -> Response:
        return await form_action(request, principal, alert_id, "ack", note, csrf)

    @app.post("/alerts/{alert_id}/note", include_in_schema=False)
    async def note_form(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                        note: NoteForm = "", csrf: CsrfForm = "") -> Response:
        return await form_action(request, principal, alert_id, "note", note, csrf)

    @app.post("/alerts/{alert_id}/resolve", include_in_schema=False)
    async def resolve_form(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                           resolution: Annotated[Resolution, Form()], note: NoteForm = "", csrf: CsrfForm = "") -> Response:
        return await form_action(request, principal, alert_id, "resolve", note, csrf, resolution)

    @app.post("/alerts/{alert_id}/reopen", include_in_schema=False)
    async def reopen_form(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                          note: NoteForm = "", csrf: CsrfForm = "") -> Response:
        return await form_action(request, principal, alert_id, "reopen", note, csrf)

    @app.post("/alerts/{alert_id}/silence", include_in_schema=False)
    async def silence_form(request: Request, alert_id: AlertId, principal: Annotated[Principal, Depends(page_user)],
                           minutes: Annotated[int, Form(ge=1, le=7 * 24 * 60)], note: NoteForm = "",
                           csrf: CsrfForm = "") -> Response:
        check_csrf(request, principal, csrf)
        row, _ = await load_alert(principal, alert_id)
        try:
            body = SilenceBody(camera_id=row["camera_id"], rule=row["rule"], minutes=minutes, alert_id=alert_id, note=note)
        except ValueError as exc:
            raise DeskError(422, str(exc).splitlines()[-1].strip()) from None
        await silence(request, principal, body)
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    @app.post("/alerts/ack", include_in_schema=False)
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
        return RedirectResponse(_local_path(back), status_code=303)

    @app.get("/events", include_in_schema=False)
    async def events(request: Request, principal: Annotated[Principal, Depends(api_user)]) -> StreamingResponse:
        """Server-sent events: one ``alert`` event per change of an alert the user may see."""
        subscriber = hub.subscribe(principal.scope)

        async def stream():
            try:
                yield "retry: 1000\n\n"
                until = asyncio.get_running_loop().time() + 600  # reconnect now and then: re-authenticated
                while asyncio.get_running_loop().time() < until:
                    try:
                        change = await asyncio.wait_for(subscriber.queue.get(), timeout=15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    change.pop("district", None)
                    yield f"event: alert\ndata: {json.dumps(change)}\n\n"
            finally:
                hub.unsubscribe(subscriber)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store",
                                                                                    "X-Accel-Buffering": "no"})

    return app


# --- helpers ----------------------------------------------------------------------------------

def _principal(row: dict, *, csrf: str | None, via: Literal["session", "token"]) -> Principal:
    return Principal(name=row["name"], role=row["role"], scope=Scope(districts=tuple(row["districts"] or ())),
                     lang=row["lang"], csrf=csrf, via=via)


def _words(lang: str) -> dict[str, Any]:
    return {"lang": lang, "t": i18n.translator(lang), "v": lambda text: i18n.value(text, lang),
            "dl": lambda key: i18n.detail_label(key, lang),
            "compare": lambda details: i18n.comparison(details, lang),
            "dir_name": lambda lines, line_id, direction: i18n.direction_name(lines, line_id, direction, lang)}


def _anonymous_lang(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return lang if lang in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE


def _local_path(target: str) -> str:
    """Only paths on this site: an open redirect would make the login page a phishing tool."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return "/alerts"
    return target


def _set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    settings: DeskSettings = request.app.state.settings
    secure = settings.secure_cookies if settings.secure_cookies is not None else request.url.scheme == "https"
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/")
