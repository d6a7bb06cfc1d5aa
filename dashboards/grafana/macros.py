"""Grafana's expansion of a PostgreSQL panel query, as a pure function, so tests and benchmarks run
exactly the SQL that Grafana would send to TimescaleDB.

Grafana expands a query in three steps, reproduced here in order:

1. the browser interpolates template variables (``$camera``, ``${camera}``, ``${camera:csv}``,
   ``[[camera]]``) and the panel's ``$__interval`` / ``$__interval_ms``, formatting values the way
   the SQL datasources do: a multi-value or include-All variable becomes a list of quoted literals,
   a single-value one is inserted with its quotes doubled, "All" becomes every option quoted, or
   the variable's custom all value as written;
2. the server replaces ``$__interval_ms``, ``$__interval``, ``$__unixEpochFrom()`` and
   ``$__unixEpochTo()`` (pkg/tsdb/sqleng: ``Interpolate``);
3. the PostgreSQL macro engine replaces ``$__name(args)`` macros
   (pkg/tsdb/grafana-postgresql-datasource/macros.go): ``$__timeFilter``, ``$__timeFrom``,
   ``$__timeTo``, ``$__timeGroup`` (``time_bucket`` when the datasource has TimescaleDB on, as ours
   does), ``$__timeGroupAlias``, ``$__time``, ``$__timeEpoch`` and the ``$__unixEpoch*`` family.

Not reproduced: the fill value of ``$__timeGroup`` (Grafana fills missing buckets after the query;
the SQL is the same) and the removal of SQL comments by recent Grafana versions (the wall's
queries have none).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ingest.errors import InvalidInput


class MacroError(InvalidInput):
    """A query Grafana would refuse: unknown macro, missing argument, bad interval or format."""


@dataclass(frozen=True, kw_only=True)
class TimeRange:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise MacroError("a time range needs time-zone-aware datetimes")


@dataclass(frozen=True, kw_only=True)
class Variable:
    """A dashboard variable as the browser holds it when the panel runs."""

    name: str
    #: the selected values (one for a single-value variable)
    selected: tuple[str, ...] = ()
    multi: bool = False
    include_all: bool = False
    #: True when "All" is the selection
    all_selected: bool = False
    #: every option's value, what "All" stands for without a custom all value
    options: tuple[str, ...] = field(default=())
    #: the variable's custom all value, inserted as written when "All" is selected
    all_value: str | None = None


# --- intervals ----------------------------------------------------------------------------------

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DATE_UNITS = {"d": 86400.0, "w": 7 * 86400.0}


def parse_interval(text: str) -> timedelta:
    """Grafana's gtime.ParseInterval: ``5m``, ``1h30m``, ``20ms``, ``12d``, ``2w``."""
    text = text.strip()
    if match := re.fullmatch(r"(\d+)([dw])", text):
        return timedelta(seconds=int(match[1]) * _DATE_UNITS[match[2]])
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise MacroError(f"error parsing interval {text}")
    return timedelta(seconds=sum(float(n) * _GO_UNITS[u] for n, u in parts))


def format_interval(interval: timedelta) -> str:
    """Grafana's gtime.FormatInterval: the largest whole unit (``90s`` -> ``1m``)."""
    ms = round(interval.total_seconds() * 1000)
    for unit, size in (("y", 365 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


_ROUNDING_MS = (  # (below this many ms, use this interval): Grafana's rangeutil roundInterval
    (15, 10), (35, 20), (75, 50), (150, 100), (250, 200), (350, 300), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
    (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
    (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
    (16200000, 10800000), (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
    (1814400000, 604800000), (3628800000, 2592000000),
)


def panel_interval(time_range: TimeRange, *, max_data_points: int, min_interval: timedelta) -> timedelta:
    """The browser's ``$__interval``: the range over the panel's points, rounded to a round
    interval, and never below the panel's (or datasource's) minimum interval."""
    raw_ms = (time_range.end - time_range.start).total_seconds() * 1000 / max_data_points
    rounded = next((ms for below, ms in _ROUNDING_MS if raw_ms < below), 31_536_000_000)
    return max(min_interval, timedelta(milliseconds=rounded))


def rate_interval(interval: timedelta, scrape_interval: timedelta) -> timedelta:
    """Prometheus' ``$__rate_interval``: max(interval + scrape interval, 4 x scrape interval)."""
    return max(interval + scrape_interval, 4 * scrape_interval)


def _rfc3339nano(moment: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros, 'Z'."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += ("." + f"{utc.microsecond:06d}").rstrip("0")
    return text + "Z"


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64 (strconv's shortest ``%g``): exponent form below 1e-4 and from 1e6 on."""
    if value == 0:
        return "0"
    digits = Decimal(repr(float(value)))
    exponent = digits.adjusted()
    if exponent < -4 or exponent >= 6:
        mantissa = format(digits.scaleb(-exponent).normalize(), "f")
        return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return format(digits.normalize(), "f")


def _unix(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def _unix_nano(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


# --- step 1: template variables (the browser) ---------------------------------------------------

_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _format(values: list[str] | str, variable: Variable | None, fmt: str | None) -> str:
    items = values if isinstance(values, list) else [values]
    if fmt is None:  # the SQL datasources' own formatting
        if isinstance(values, list):
            return ",".join(_quote(v) for v in values)
        if variable is not None and (variable.multi or variable.include_all):
            return _quote(values)
        return values.replace("'", "''")
    if fmt == "raw":
        return ",".join(items)
    if fmt == "csv":
        return ",".join(items)
    if fmt == "sqlstring":
        return ",".join(_quote(v) for v in items)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in items)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in items)
    raise MacroError(f"variable format {fmt!r} is not supported here (raw, csv, sqlstring, singlequote, doublequote)")


def interpolate_variables(sql: str, variables: Mapping[str, Variable], builtins: Mapping[str, str]) -> str:
    """Step 1. Unknown names (Grafana's ``$__macros``) are left for the server, as the browser does."""

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[2] or match[4]
        fmt = match[3] or match[6]
        if name in builtins:
            return _format(builtins[name], None, fmt)
        variable = variables.get(name)
        if variable is None:
            return match[0]
        if variable.all_selected:
            if variable.all_value is not None and fmt not in ("text", "percentencode"):
                return variable.all_value
            return _format(list(variable.options), variable, fmt)
        if variable.multi:
            return _format(list(variable.selected), variable, fmt)
        if len(variable.selected) != 1:
            raise MacroError(f"variable {name} takes one value, not {len(variable.selected)}")
        return _format(variable.selected[0], variable, fmt)

    return _VARIABLE.sub(replace, sql)


# --- step 2: the server's global substitutions --------------------------------------------------

def interpolate_globals(sql: str, time_range: TimeRange, interval: timedelta) -> str:
    sql = sql.replace("$__interval_ms", str(round(interval.total_seconds() * 1000)))
    sql = sql.replace("$__interval", format_interval(interval))
    sql = sql.replace("$__unixEpochFrom()", str(_unix(time_range.start)))
    return sql.replace("$__unixEpochTo()", str(_unix(time_range.end)))


# --- step 3: the PostgreSQL macro engine --------------------------------------------------------

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")
_FILL = re.compile(r"(?i:null|previous)|[-+]?\d+(\.\d+)?([eE][-+]?\d+)?")


def _time_group(args: list[str], name: str, timescaledb: bool) -> str:
    if len(args) < 2:
        raise MacroError(f"macro {name} needs time column and interval and optional fill value")
    try:
        interval = parse_interval(args[1].strip("'"))
    except MacroError:
        raise MacroError(f"error parsing interval {args[1]}") from None
    if len(args) == 3 and not _FILL.fullmatch(args[2]):
        raise MacroError(f"error parsing fill value {args[2]}")
    seconds = interval.total_seconds()
    if timescaledb:
        return f"time_bucket('{seconds:.3f}s',{args[0]})"
    return f"floor(extract(epoch from {args[0]})/{_go_float(seconds)})*{_go_float(seconds)}"


def _evaluate(name: str, args: list[str], time_range: TimeRange, timescaledb: bool) -> str:
    start, end = time_range.start, time_range.end
    needs_column = {"__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter", "__unixEpochNanoFilter"}
    if name in needs_column and not args[0]:
        raise MacroError(f"missing time column argument for macro {name}")
    match name:
        case "__time":
            return f'{args[0]} AS "time"'
        case "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        case "__timeFilter":
            return f"{args[0]} BETWEEN '{_rfc3339nano(start)}' AND '{_rfc3339nano(end)}'"
        case "__timeFrom":
            return f"'{_rfc3339nano(start)}'"
        case "__timeTo":
            return f"'{_rfc3339nano(end)}'"
        case "__timeGroup":
            return _time_group(args, name, timescaledb)
        case "__timeGroupAlias":
            return _time_group(args, "__timeGroup", timescaledb) + ' AS "time"'
        case "__unixEpochFilter":
            return f"{args[0]} >= {_unix(start)} AND {args[0]} <= {_unix(end)}"
        case "__unixEpochNanoFilter":
            return f"{args[0]} >= {_unix_nano(start)} AND {args[0]} <= {_unix_nano(end)}"
        case "__unixEpochNanoFrom":
            return str(_unix_nano(start))
        case "__unixEpochNanoTo":
            return str(_unix_nano(end))
        case "__unixEpochGroup" | "__unixEpochGroupAlias":
            if len(args) < 2:
                raise MacroError(f"macro {name} needs time column and interval and optional fill value")
            seconds = _go_float(parse_interval(args[1].strip("'")).total_seconds())
            group = f"floor(({args[0]})/{seconds})*{seconds}"
            return group + (' AS "time"' if name == "__unixEpochGroupAlias" else "")
    raise MacroError(f'unknown macro "{name}"')


def expand_macros(sql: str, time_range: TimeRange, *, timescaledb: bool = True) -> str:
    """Step 3. ``$__timeGroup(...)`` directly followed by a comma gets ``AS "time"`` (Grafana's
    compatibility with queries written before 5.3)."""

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name == "__timeGroup":
            at = sql.find(match[0])
            if at >= 0 and sql[at + len(match[0]):at + len(match[0]) + 1] == ",":
                name = "__timeGroupAlias"
        args = [a.strip(" ") for a in match[2].split(",")]
        return _evaluate(name, args, time_range, timescaledb)

    return _MACRO.sub(replace, sql)


def expand(sql: str, time_range: TimeRange, *, interval: timedelta, variables: Mapping[str, Variable] = {},
           timescaledb: bool = True) -> str:
    """All three steps: the SQL Grafana sends to the database for this panel, range and selection."""
    builtins = {"__interval": format_interval(interval), "__interval_ms": str(round(interval.total_seconds() * 1000))}
    sql = interpolate_variables(sql, variables, builtins)
    sql = interpolate_globals(sql, time_range, interval)
    return expand_macros(sql, time_range, timescaledb=timescaledb)
