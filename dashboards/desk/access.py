"""Who is asking: a session cookie or a Bearer token turned into a ``Principal`` (name, role,
districts, language), the role and CSRF checks every endpoint makes, and the desk's cookies."""

from dataclasses import dataclass
from typing import Literal

from fastapi import Request, Response

from dashboards.desk import i18n, security, store
from dashboards.desk.context import desk_of
from dashboards.desk.store import Scope

SESSION_COOKIE = "ioc_desk_session"


LOGIN_CSRF_COOKIE = "ioc_desk_login_csrf"


LANG_COOKIE = "ioc_desk_lang"


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


async def principal_of(request: Request) -> Principal | None:
    desk = desk_of(request)
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        async with desk.pool.connection() as conn:
            row = await store.user_by_api_token(conn, security.token_hash(token.strip()))
        return principal_from(row, csrf=None, via="token") if row else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > 200:
        return None
    async with desk.pool.connection() as conn:
        row = await store.user_by_session(conn, security.token_hash(cookie))
    return principal_from(row, csrf=row["csrf_token"], via="session") if row else None


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


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def principal_from(row: dict, *, csrf: str | None, via: Literal["session", "token"]) -> Principal:
    return Principal(name=row["name"], role=row["role"], scope=Scope(districts=tuple(row["districts"] or ())),
                     lang=row["lang"], csrf=csrf, via=via)


def anonymous_lang(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return lang if lang in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE


def local_path(target: str) -> str:
    """Only paths on this site: an open redirect would make the login page a phishing tool."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return "/alerts"
    return target


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    settings = desk_of(request).settings
    secure = settings.secure_cookies if settings.secure_cookies is not None else request.url.scheme == "https"
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/")
