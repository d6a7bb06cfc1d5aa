"""The macro expander against Grafana's documented expansions (the PostgreSQL datasource's macro
engine, its SQL-wide substitutions, and the browser's variable formatting for SQL datasources)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest

from dashboards.grafana.macros import (
    MacroError,
    TimeRange,
    Variable,
    expand,
    expand_macros,
    format_interval,
    interpolate_globals,
    interpolate_variables,
    panel_interval,
    parse_interval,
    rate_interval,
)

FROM = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
FIVE_MINUTES = TimeRange(start=FROM, end=FROM + timedelta(minutes=5))
SIXTIES = TimeRange(start=datetime(1960, 2, 1, 7, tzinfo=UTC), end=datetime(1965, 2, 3, 8, tzinfo=UTC))
HALF_SECONDS = TimeRange(start=datetime(1960, 2, 1, 7, 0, 0, 500000, tzinfo=UTC),
                         end=datetime(1980, 2, 3, 8, 0, 0, 500000, tzinfo=UTC))


@pytest.mark.parametrize("sql, timescaledb, expected", [
    # $__time and $__timeEpoch name the column "time"
    ("select $__time(time_column)", False, 'select time_column AS "time"'),
    ("select min($__time(time_column))", False, 'select min(time_column AS "time")'),
    ("select $__timeEpoch(ts)", False, 'select extract(epoch from ts) as "time"'),
    # the range in RFC 3339, UTC
    ("WHERE $__timeFilter(time_column)", False, "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"),
    ("select $__timeFrom()", False, "select '2018-04-12T18:00:00Z'"),
    ("select $__timeTo()", False, "select '2018-04-12T18:05:00Z'"),
    # a $__timeGroup followed by a comma is aliased (queries written before Grafana 5.3)
    ("SELECT $__timeGroup(time_column,'5m'), value", False, 'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value'),
    ("SELECT $__timeGroup(time_column,'5m') as time, value", False, "SELECT floor(extract(epoch from time_column)/300)*300 as time, value"),
    ("SELECT $__timeGroup(time_column,'5m')", False, "SELECT floor(extract(epoch from time_column)/300)*300"),
    ("SELECT $__timeGroupAlias(time_column,'5m')", False, 'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"'),
    ("$__timeGroup(time_column , '5m')", False, "floor(extract(epoch from time_column)/300)*300"),
    # TimescaleDB on (our datasource): time_bucket with seconds to three decimals
    ("GROUP BY $__timeGroup(time_column,'5m')", True, "GROUP BY time_bucket('300.000s',time_column)"),
    ("GROUP BY $__timeGroup(time_column , '5m')", True, "GROUP BY time_bucket('300.000s',time_column)"),
    ("GROUP BY $__timeGroup(time_column , '12d')", True, "GROUP BY time_bucket('1036800.000s',time_column)"),
    ("GROUP BY $__timeGroup(time_column , '20ms')", True, "GROUP BY time_bucket('0.020s',time_column)"),
    ("SELECT $__timeGroupAlias(ts, '1h', 0)", True, "SELECT time_bucket('3600.000s',ts) AS \"time\""),
    # unix epoch family
    ("select $__unixEpochFilter(time)", False, "select time >= 1523556000 AND time <= 1523556300"),
    ("select $__unixEpochNanoFilter(time)", False, "select time >= 1523556000000000000 AND time <= 1523556300000000000"),
    ("select $__unixEpochNanoFrom()", False, "select 1523556000000000000"),
    ("select $__unixEpochNanoTo()", False, "select 1523556300000000000"),
    ("SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')", False, "SELECT floor((time_column+time_adjustment)/300)*300"),
    ("SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')", False, 'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"'),
])
def test_macros_expand_as_grafana_documents(sql, timescaledb, expected):
    assert expand_macros(sql, FIVE_MINUTES, timescaledb=timescaledb) == expected


@pytest.mark.parametrize("time_range, expected", [
    # before 1970: negative epochs, still RFC 3339
    (SIXTIES, "WHERE time_column BETWEEN '1960-02-01T07:00:00Z' AND '1965-02-03T08:00:00Z'"),
    # fractional seconds keep only their significant digits
    (HALF_SECONDS, "WHERE time_column BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'"),
])
def test_time_filter_formats_any_range(time_range, expected):
    assert expand_macros("WHERE $__timeFilter(time_column)", time_range) == expected


def test_unix_epoch_before_1970_is_negative():
    start, end = (calendar.timegm(t.utctimetuple()) for t in (SIXTIES.start, SIXTIES.end))
    assert start < end < 0
    assert expand_macros("select $__unixEpochFilter(time)", SIXTIES) == f"select time >= {start} AND time <= {end}"


@pytest.mark.parametrize("sql, problem", [
    ("select $__nope(ts)", 'unknown macro "__nope"'),  # a typo fails like in Grafana
    ("select $__timeFilter()", "missing time column argument"),
    ("select $__timeGroup(ts)", "needs time column and interval"),
    ("select $__timeGroup(ts, 'five minutes')", "error parsing interval"),
])
def test_bad_macros_are_refused(sql, problem):
    with pytest.raises(MacroError, match=problem):
        expand_macros(sql, FIVE_MINUTES)


@pytest.mark.parametrize("interval, text", [
    (timedelta(minutes=10), "10m"),  # Grafana's own example: SELECT $__interval -> 10m
    (timedelta(seconds=90), "1m"),  # the largest whole unit, truncated
    (timedelta(hours=1), "1h"),
    (timedelta(days=8), "8d"),
    (timedelta(milliseconds=20), "20ms"),
    (timedelta(0), "1ms"),
])
def test_interval_is_formatted_in_its_largest_unit(interval, text):
    assert format_interval(interval) == text


@pytest.mark.parametrize("text, interval", [
    ("5m", timedelta(minutes=5)), ("1h30m", timedelta(minutes=90)), ("20ms", timedelta(milliseconds=20)),
    ("12d", timedelta(days=12)), ("2w", timedelta(days=14)), ("1.5h", timedelta(minutes=90)),
])
def test_intervals_parse_like_grafana(text, interval):
    assert parse_interval(text) == interval


def test_server_substitutions_replace_interval_ms_before_interval():
    sql = "SELECT $__interval_ms, $__interval, $__unixEpochFrom(), $__unixEpochTo()"
    assert interpolate_globals(sql, FIVE_MINUTES, timedelta(minutes=10)) == "SELECT 600000, 10m, 1523556000, 1523556300"


def test_interval_inside_time_group_becomes_a_bucket():
    sql = "SELECT $__timeGroupAlias(ts, $__interval), sum(n) / ($__interval_ms / 60000.0) FROM t WHERE $__timeFilter(ts)"
    assert expand(sql, FIVE_MINUTES, interval=timedelta(minutes=1)) == (
        "SELECT time_bucket('60.000s',ts) AS \"time\", sum(n) / (60000 / 60000.0) FROM t "
        "WHERE ts BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'")


CAMERA = Variable(name="camera", selected=("a", "b"), multi=True, include_all=True, options=("a", "b", "o'k"))
ALL_CAMERAS = Variable(name="camera", multi=True, include_all=True, all_selected=True, options=("a", "b", "o'k"))
CUSTOM_ALL = Variable(name="camera", multi=True, include_all=True, all_selected=True, options=("a",), all_value="'__all'")
GRAIN = Variable(name="grain", selected=("1 day",))
QUOTED = Variable(name="who", selected=("o'k",))


@pytest.mark.parametrize("sql, variable, expected", [
    # multi-value: each value quoted, comma-separated
    ("camera_id IN ($camera)", CAMERA, "camera_id IN ('a','b')"),
    ("camera_id IN (${camera})", CAMERA, "camera_id IN ('a','b')"),
    ("camera_id IN ([[camera]])", CAMERA, "camera_id IN ('a','b')"),
    # "All" without a custom all value: every option, quotes doubled
    ("camera_id IN ($camera)", ALL_CAMERAS, "camera_id IN ('a','b','o''k')"),
    # "All" with a custom all value: inserted as written
    ("$camera IN ($camera)", CUSTOM_ALL, "'__all' IN ('__all')"),
    # single value, not multi: inserted bare, quotes doubled (the query quotes it)
    ("'$grain'::interval", GRAIN, "'1 day'::interval"),
    ("'$who'", QUOTED, "'o''k'"),
    # explicit formats
    ("${camera:csv}", CAMERA, "a,b"),
    ("${camera:sqlstring}", CAMERA, "'a','b'"),
    ("${camera:raw}", CAMERA, "a,b"),
    # macros are not variables: left for the server
    ("WHERE $__timeFilter(ts) AND $unknown", CAMERA, "WHERE $__timeFilter(ts) AND $unknown"),
])
def test_variables_are_formatted_as_sql_datasources_do(sql, variable, expected):
    assert interpolate_variables(sql, {variable.name: variable}, {}) == expected


def test_unsupported_variable_format_is_refused():
    with pytest.raises(MacroError, match="format 'glob'"):
        interpolate_variables("${camera:glob}", {"camera": CAMERA}, {})


@pytest.mark.parametrize("span, minimum, expected", [
    (timedelta(hours=1), timedelta(minutes=1), timedelta(minutes=1)),  # 3.6 s rounds to 5 s, below the 1 min floor
    (timedelta(hours=24), timedelta(seconds=1), timedelta(minutes=1)),  # 86.4 s rounds to 1 min
    (timedelta(days=30), timedelta(minutes=1), timedelta(minutes=30)),  # 43.2 min rounds to 30 min
    (timedelta(days=365), timedelta(minutes=1), timedelta(hours=6)),  # 8.76 h rounds to 6 h
])
def test_panel_interval_rounds_like_the_browser(span, minimum, expected):
    time_range = TimeRange(start=FROM, end=FROM + span)
    assert panel_interval(time_range, max_data_points=1000, min_interval=minimum) == expected


def test_rate_interval_covers_four_scrapes():
    assert rate_interval(timedelta(seconds=15), timedelta(seconds=1)) == timedelta(seconds=16)
    assert rate_interval(timedelta(seconds=1), timedelta(seconds=15)) == timedelta(seconds=60)
