"""The read-only database role Grafana queries as (created by migration 0030_wall_reader)."""

from __future__ import annotations

import psycopg
from psycopg import sql
from pydantic import SecretStr

from ingest.db import DbSettings, connect
from ingest.errors import IocError

READER_ROLE = "ioc_grafana"


class ReaderRoleError(IocError):
    """The reader role is missing (the schema is not migrated) or cannot be altered by this user."""


def set_reader_password(settings: DbSettings, password: SecretStr) -> None:
    """Give the role a password (roles are cluster-wide: once per PostgreSQL cluster)."""
    with connect(settings, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(READER_ROLE),
                                                                     sql.Literal(password.get_secret_value())))
        except psycopg.errors.UndefinedObject as exc:
            raise ReaderRoleError(f"role {READER_ROLE} does not exist: run `ioc db migrate` first") from exc
        except psycopg.Error as exc:
            raise ReaderRoleError(f"cannot set the password of {READER_ROLE}: {str(exc).strip().splitlines()[0]}") from exc
