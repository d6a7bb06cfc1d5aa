"""A report's result as plain values: typed columns and rows, ready for any output format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ColumnType = Literal["timestamp", "date", "text", "int", "float"]


@dataclass(frozen=True)
class Column:
    key: str  # stable machine name: CSV header, Parquet field, JSON key
    type: ColumnType


@dataclass(frozen=True)
class Table:
    name: str  # "volume" or "summary": names the terminal title and chart
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    meta: dict[str, Any] = field(default_factory=dict)  # period, grain, time zone: echoed in JSON

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(column.key for column in self.columns)

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.keys, row, strict=True)) for row in self.rows]

    def column(self, key: str) -> list[Any]:
        index = self.keys.index(key)
        return [row[index] for row in self.rows]
