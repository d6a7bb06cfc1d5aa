"""What one desk process holds while it serves: its settings, the database pool, the outbox, the
live hub and the page templates. ``create_app`` builds it once; endpoints reach it through
``desk_of(request)``, so nothing is global."""

from dataclasses import dataclass

from fastapi import Request
from fastapi.templating import Jinja2Templates
from psycopg_pool import AsyncConnectionPool

from dashboards.desk.live import LiveHub
from dashboards.desk.outbox import Outbox
from dashboards.desk.settings import DeskSettings


@dataclass(frozen=True)
class Desk:
    settings: DeskSettings
    pool: AsyncConnectionPool
    outbox: Outbox
    hub: LiveHub
    templates: Jinja2Templates


def desk_of(request: Request) -> Desk:
    return request.app.state.desk
