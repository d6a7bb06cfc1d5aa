"""A typed query for Grafana's PostgreSQL datasource (``grafana-postgresql-datasource``).

grafana-foundation-sdk has typed queries for Prometheus, Loki and others but none for SQL
datasources, so this is the one missing piece, written the SDK's way: a model with
``to_json``/``from_json`` (registered with the SDK's runtime, so ``Dashboard.from_json`` reads our
panels back into it) and a builder with chained setters.
"""

from __future__ import annotations

import enum
import typing

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

POSTGRES_TYPE = "grafana-postgresql-datasource"


class SqlFormat(enum.StrEnum):
    """How Grafana shapes the rows: ``time_series`` turns (time, metric, value) rows into one
    series per metric; ``table`` keeps the rows as they are."""

    TIME_SERIES = "time_series"
    TABLE = "table"


class SqlQuery(cogvariants.Dataquery):
    ref_id: str
    raw_sql: str
    format_val: SqlFormat
    datasource: DataSourceRef | None
    hide: bool | None

    def __init__(self, ref_id: str = "", raw_sql: str = "", format_val: SqlFormat = SqlFormat.TABLE,
                 datasource: DataSourceRef | None = None, hide: bool | None = None) -> None:
        self.ref_id = ref_id
        self.raw_sql = raw_sql
        self.format_val = SqlFormat(format_val)
        self.datasource = datasource
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "rawSql": self.raw_sql,
            "format": str(self.format_val),
            # Code mode: Grafana shows and runs rawSql as written instead of its visual builder.
            "rawQuery": True,
            "editorMode": "code",
        }
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        if self.hide is not None:
            payload["hide"] = self.hide
        return payload

    @classmethod
    def from_json(cls, data: dict[str, typing.Any]) -> typing.Self:
        datasource = data.get("datasource")
        return cls(
            ref_id=data.get("refId", ""),
            raw_sql=data.get("rawSql", ""),
            format_val=SqlFormat(data.get("format", SqlFormat.TABLE)),
            datasource=DataSourceRef.from_json(datasource) if isinstance(datasource, dict) else None,
            hide=data.get("hide"),
        )


class SqlQueryBuilder(cogbuilder.Builder[SqlQuery]):
    """``SqlQueryBuilder().ref_id("A").raw_sql("SELECT ...").format(SqlFormat.TIME_SERIES)``"""

    def __init__(self) -> None:
        self._internal = SqlQuery()

    def build(self) -> SqlQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> typing.Self:
        self._internal.ref_id = ref_id
        return self

    def raw_sql(self, raw_sql: str) -> typing.Self:
        self._internal.raw_sql = raw_sql
        return self

    def format(self, format_val: SqlFormat) -> typing.Self:
        self._internal.format_val = SqlFormat(format_val)
        return self

    def datasource(self, datasource: DataSourceRef) -> typing.Self:
        self._internal.datasource = datasource
        return self

    def hide(self, hide: bool) -> typing.Self:
        self._internal.hide = hide
        return self


def register() -> None:
    """Let the SDK decode PostgreSQL targets into SqlQuery (idempotent)."""
    cogruntime.register_dataquery_variant(cogruntime.DataqueryConfig(identifier=POSTGRES_TYPE, from_json_hook=SqlQuery.from_json))
