"""Run a built dashboard's SQL the way Grafana does: resolve its variables, expand the macros,
execute on a connection (tests and the benchmark use it; Grafana itself needs none of this)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from dashboards.grafana.build import SqlTarget
from dashboards.grafana.macros import TimeRange, Variable, expand, panel_interval

#: the datasource's minimum interval (provisioning: jsonData.timeInterval)
MIN_INTERVAL = timedelta(minutes=1)
#: about a wall panel's width in pixels: Grafana asks for at most this many points
MAX_DATA_POINTS = 1000


def interval_for(time_range: TimeRange) -> timedelta:
    return panel_interval(time_range, max_data_points=MAX_DATA_POINTS, min_interval=MIN_INTERVAL)


def resolve_variables(dashboard_file: Path, conn: Any, time_range: TimeRange,
                      selection: dict[str, tuple[str, ...]] | None = None) -> dict[str, Variable]:
    """The dashboard's variables as the browser resolves them: query variables run their query (in
    order, so a later one sees an earlier one), custom ones parse their "text : value" list; each
    keeps its saved selection ("All" included) unless ``selection`` names other values."""
    selection = selection or {}
    resolved: dict[str, Variable] = {}
    data = json.loads(dashboard_file.read_text(encoding="utf-8"))
    for v in data.get("templating", {}).get("list", []):
        name = v["name"]
        if v["type"] == "textbox":
            resolved[name] = Variable(name=name, selected=(v["query"],))
            continue
        if v["type"] == "query":
            cur = conn.execute(expand(v["query"], time_range, interval=interval_for(time_range), variables=resolved))
            columns = [d.name for d in cur.description]
            at = columns.index("__value") if "__value" in columns else 0
            options = tuple(str(row[at]) for row in cur.fetchall())
        else:
            options = tuple(part.split(" : ")[-1].strip() for part in v["query"].split(","))
        chosen = selection.get(name)
        current = v.get("current", {}).get("value")
        all_selected = chosen is None and bool(v.get("includeAll")) and current == ["$__all"]
        if chosen is None and not all_selected:
            chosen = (current,) if isinstance(current, str) else tuple(current)
        resolved[name] = Variable(name=name, selected=chosen or (), multi=bool(v.get("multi")),
                                  include_all=bool(v.get("includeAll")), all_selected=all_selected,
                                  options=options, all_value=v.get("allValue") or None)
    return resolved


def panel_range(target: SqlTarget, dashboard_range: TimeRange) -> TimeRange:
    """A panel with its own relative range ("1h") ends with the dashboard's range but starts later."""
    if not target.time_from:
        return dashboard_range
    amount, unit = int(target.time_from[:-1]), target.time_from[-1]
    span = timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
    return TimeRange(start=dashboard_range.end - span, end=dashboard_range.end)


def expanded_sql(target: SqlTarget, dashboard_file: Path, conn: Any, dashboard_range: TimeRange,
                 selection: dict[str, tuple[str, ...]] | None = None) -> str:
    """The SQL Grafana would send for ``target`` with the dashboard showing ``dashboard_range``."""
    time_range = panel_range(target, dashboard_range)
    variables = resolve_variables(dashboard_file, conn, time_range, selection)
    return expand(target.raw_sql, time_range, interval=interval_for(time_range), variables=variables)
