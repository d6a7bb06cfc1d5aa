"""The desk's web app: server-rendered pages, a JSON API with Bearer tokens, and a live event stream.

Every request is authenticated (session cookie or Bearer token) and its role checked on the
server, by the dependency of its endpoint (access.py); every query carries the user's districts,
so another district's alert is simply not found (404). State-changing requests with a session
carry its CSRF token (a form field or the ``X-CSRF-Token`` header); Bearer requests carry no
cookie, so need none. Each action is an AlertAction (actions.py): audited, written to the outbox
and published to the bus; the processors apply it and its effect comes back through the alerts
topic, the sink and NOTIFY.

This module builds the app: the process's resources (context.py), the routers (api.py, pages.py,
stream.py), the security headers on every response, and one error shape per kind of failure (JSON
for the API, a page for browsers; never a 500 for a refused request or a database gone).
"""

import asyncio
import contextlib
import logging
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from dashboards.desk import api, pages, stream
from dashboards.desk.access import DeskError, LoginRequired, anonymous_lang
from dashboards.desk.context import Desk, desk_of
from dashboards.desk.live import LiveHub
from dashboards.desk.outbox import Outbox, Publisher
from dashboards.desk.settings import DeskSettings
from dashboards.desk.store import desk_state
from ingest.errors import validation_message

log = logging.getLogger(__name__)


HERE = Path(__file__).resolve().parent


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def create_app(settings: DeskSettings) -> FastAPI:
    pool = AsyncConnectionPool(settings.db.conninfo, min_size=1, max_size=8, open=False, timeout=settings.db.connect_timeout_s,
                               kwargs={"autocommit": True, "connect_timeout": int(settings.db.connect_timeout_s)})
    publisher = Publisher(settings.bus, timeout_s=settings.publish_timeout_s)
    desk = Desk(settings=settings, pool=pool, outbox=Outbox(pool, publisher, retry_s=settings.outbox_retry_s),
                hub=LiveHub(settings.db.conninfo), templates=_templates())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await pool.open(wait=False)
        tasks = [asyncio.create_task(desk.hub.run(), name="desk-live"),
                 asyncio.create_task(desk.outbox.retry_forever(), name="desk-outbox")]
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
    app.state.desk = desk
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.middleware("http")(_security_headers)
    app.add_exception_handler(DeskError, _on_desk_error)
    app.add_exception_handler(LoginRequired, _on_login_required)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(PoolTimeout, _on_database_down)
    app.add_exception_handler(psycopg.OperationalError, _on_database_down)
    app.add_exception_handler(psycopg.DataError, _on_bad_value)
    for module in (api, pages, stream):
        app.include_router(module.router)
    return app


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["local"] = lambda ts, fmt="%H:%M:%S %d/%m": ts.astimezone(pages.LOCAL_TZ).strftime(fmt) if ts else ""
    templates.env.globals["desk_state"] = desk_state
    return templates


async def _security_headers(request: Request, call_next):
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


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _error_page(request: Request, status: int, message: str, lang: str | None = None) -> Response:
    desk = desk_of(request)
    lang = lang or anonymous_lang(request)
    return desk.templates.TemplateResponse(request, "error.html", {**pages.words(lang), "status": status, "message": message},
                                      status_code=status)


async def _on_desk_error(request: Request, exc: DeskError) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": exc.message}, status_code=exc.status,
                            headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)
    return _error_page(request, exc.status, exc.message)


async def _on_login_required(request: Request, exc: LoginRequired) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


async def _on_invalid(request: Request, exc: RequestValidationError) -> Response:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {validation_message(e)}" for e in exc.errors())
    if _wants_json(request):
        return JSONResponse({"detail": problems or "invalid request"}, status_code=422)
    return _error_page(request, 422, problems)


async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
    if _wants_json(request) or exc.status_code == 405:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
    return _error_page(request, exc.status_code, str(exc.detail))


async def _on_database_down(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable: %s", exc)
    message = "the database is not reachable; try again shortly"
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": "5"})
    return _error_page(request, 503, message)


async def _on_bad_value(request: Request, exc: Exception) -> Response:
    message = f"a value in the request is not acceptable: {str(exc).splitlines()[0]}"
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=400)
    return _error_page(request, 400, message)
