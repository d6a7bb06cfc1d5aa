"""Every SQL query of the built dashboards, run on TimescaleDB as Grafana would run it.

The database is seeded with a small city whose numbers are known (below). Each panel target,
variable query and annotation query found in the committed dashboard JSON (both languages) is
expanded by dashboards.grafana.macros exactly as Grafana expands it, run as the read-only role
``ioc_grafana``, and checked: the columns its visualisation needs, and the numbers the seed implies.
A panel without a check here fails, so a new panel cannot slip in unproven.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
import yaml

from dashboards.grafana.build import PROVISIONED, SqlTarget, built_files, sql_targets
from dashboards.grafana.labels import Lang, text
from dashboards.grafana.macros import TimeRange, expand
from dashboards.grafana.run import expanded_sql
from ingest.db import DbSettings
from ingest.warehouse.rollups import refresh_rollups

# The wall's "now": local midnight in Vũng Tàu, so daily rollups (local days) fall whole in ranges.
T = datetime(2026, 11, 19, 17, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
READER = "ioc_grafana"

CAMERAS = [
    # id, name, kind, lat, lon, district, lines, zones
    ("cam-a", "Ngã tư Giếng Nước", "traffic", 10.346, 107.084, "Thắng Tam", '[{"line_id": "main"}]', "[]"),
    ("cam-b", "Đường Thùy Vân", "traffic", 10.337, 107.090, "Phường 2", '[{"line_id": "main"}, {"line_id": "side"}]', "[]"),
    ("cam-c", "Quảng trường Tam Thắng", "security", 10.345, 107.080, "Thắng Tam", "[]",
     '[{"zone_id": "plaza", "max_occupancy": 50}]'),
    ("cam-d", "Cầu Cửa Lấp", "traffic", 10.400, 107.120, "Phường 12", '[{"line_id": "main"}]', "[]"),
    ("cam-e", "Camera chưa định vị", "traffic", None, None, None, "[]", "[]"),  # no position: not on the map
]
NAMES = {c[0]: c[1] for c in CAMERAS}


# Vehicles' own speeds (crossings) on the last days before T, made into hourly and daily speed
# histograms by the real rollup refresh. Each entry: local day (0 = the day ending at T), local
# hour, camera, direction, class, speed in km/h (multiples of 0.5, exact in the crossings' real).
# cam-a's cars are far from normal: a congested majority crawling at ~12 km/h and a free-flowing
# rest at ~52 km/h, more jammed in the rush hours; people walk through the same line and are no
# vehicles; cam-a's motorbikes go out fast.
SPEED_DAYS_A = 5  # cam-a's cars have speeds on the last 5 days; cam-b's on the last 2
JAMMED = {7: 0.9, 8: 0.6, 12: 0.4, 17: 0.9, 18: 0.6}  # local hour -> share of cars in the jam
SPEED_HOURS = tuple(JAMMED)


def _speed_crossings() -> list[tuple[int, int, str, str, str, float]]:
    rng = random.Random(20261119)
    out = []
    for day in range(SPEED_DAYS_A):
        for hour, jammed in JAMMED.items():
            for _ in range(rng.randrange(25, 40)):
                speed = rng.gauss(12, 3) if rng.random() < jammed else rng.lognormvariate(3.95, 0.2)
                out.append((day, hour, "cam-a", "in", "car", speed))
            out += [(day, hour, "cam-a", "in", "person", rng.uniform(3, 6)) for _ in range(30)]
            if day < 2:
                out += [(day, hour, "cam-b", "in", "car", rng.uniform(20, 40)) for _ in range(rng.randrange(10, 20))]
        if day == 0:
            out += [(day, 12, "cam-a", "out", "motorbike", rng.uniform(60, 90)) for _ in range(40)]
    return [(day, hour, cam, d, cls, round(max(speed, 0.5) * 2) / 2) for day, hour, cam, d, cls, speed in out]


SPEEDS = _speed_crossings()


def _seed_speeds(settings: DbSettings) -> None:
    with psycopg.connect(settings.conninfo) as conn:
        conn.cursor().executemany(
            "INSERT INTO crossings (ts, camera_id, event_id, frame_no, line_id, direction, cls, track_id, speed_kmh) "
            "VALUES (%s, %s, %s, 1, 'main', %s, %s, %s, %s)",
            [(T - (day + 1) * timedelta(days=1) + timedelta(hours=hour, seconds=i % 3600), cam, f"s{i}", d, cls, i, speed)
             for i, (day, hour, cam, d, cls, speed) in enumerate(SPEEDS)])
    # Before any count window is written: the refresh would otherwise also rebuild the traffic
    # rollups of those hours from the windows, over the moments seeded below.
    refresh_rollups(settings)


def _seed(conn: psycopg.Connection) -> None:
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO cameras (camera_id, name, kind, lat, lon, district, lines, zones) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", CAMERAS)
        # Heartbeats: cam-d's last beat before T is 10 minutes old (offline); its beat after T must not count.
        beats = [("cam-a", 3), ("cam-b", 4), ("cam-c", 5), ("cam-e", 5), ("cam-d", 600), ("cam-a", 900), ("cam-d", -30)]
        cur.executemany("INSERT INTO heartbeats (ts, camera_id, event_id, fps, frames, uptime_s) VALUES (%s, %s, %s, 25, 100, 60)",
                        [(T - timedelta(seconds=s), cam, f"hb{i}") for i, (cam, s) in enumerate(beats)])
        health = [
            ("cam-b", "frozen", "raised", 20),  # still frozen: degraded
            ("cam-c", "blur", "raised", 50), ("cam-c", "blur", "cleared", 30),  # blurred for 20 minutes
            ("cam-d", "source_lost", "raised", 120),  # lost before the range starts
        ]
        cur.executemany("INSERT INTO camera_health (ts, camera_id, event_id, condition, state) VALUES (%s, %s, %s, %s, %s)",
                        [(T - m * MIN, cam, f"h{i}", cond, state) for i, (cam, cond, state, m) in enumerate(health)])
        alerts = [
            # id, camera, rule, severity, state, opened minutes ago
            ("a1", "cam-a", "stopped_vehicle", "critical", "open", 30),
            ("a2", "cam-c", "crowd", "warning", "update", 120),
            ("a3", "cam-b", "camera_frozen", "info", "resolved", 300),
            ("a4", "cam-d", "camera_offline", "critical", "open", 10),
        ]
        cur.executemany("INSERT INTO alerts (alert_id, camera_id, group_key, rule, severity, state, opened_at, updated_at, title) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        [(a, cam, f"{cam}/{rule}", rule, sev, st, T - m * MIN, T - m * MIN, f"{rule} at {cam}")
                         for a, cam, rule, sev, st, m in alerts])
        cur.executemany("INSERT INTO alert_actions (ts, camera_id, event_id, alert_id, action, actor, note) VALUES (%s, 'cam-c', %s, 'a2', %s, 'op.lan', %s)",
                        [(T - 90 * MIN, "x1", "ack", ""), (T - 80 * MIN, "x2", "note", "police on site")])
        # One-minute windows over the last two hours: cam-a 15 in (5 cars, 10 motorbikes) + 3 out,
        # cam-b 7 in + 1 out on its side line; people are not vehicles.
        cur.execute("""
            INSERT INTO count_windows (ts, camera_id, line_id, direction, cls, window_s, count, event_id)
            SELECT %(t)s - m * interval '1 minute', s.camera_id, s.line_id, s.direction, s.cls, 60, s.n, 'w' || m || s.camera_id || s.cls || s.direction
            FROM generate_series(1, 120) m,
                 (VALUES ('cam-a', 'main', 'in', 'car', 5), ('cam-a', 'main', 'in', 'motorbike', 10),
                         ('cam-a', 'main', 'out', 'car', 3), ('cam-a', 'main', 'in', 'person', 2),
                         ('cam-b', 'main', 'in', 'motorbike', 7), ('cam-b', 'side', 'out', 'bus_truck', 1))
                 AS s(camera_id, line_id, direction, cls, n)""", {"t": T})
        # Crossings around the last minute at cam-a: 4 vehicles inside it; a person, an older and a later one outside.
        crossings = [(10, "car"), (20, "motorbike"), (30, "motorbike"), (59, "bus_truck"), (15, "person"), (90, "car"), (-10, "car")]
        cur.executemany("INSERT INTO crossings (ts, camera_id, event_id, frame_no, line_id, direction, cls, track_id) "
                        "VALUES (%s, 'cam-a', %s, 1, 'main', 'in', %s, %s)",
                        [(T - timedelta(seconds=s), f"c{i}", cls, i) for i, (s, cls) in enumerate(crossings)])
        occupancy = [(5, 60, '{"person": 58, "bicycle": 2}'), (30, 40, '{"person": 40}'), (-5, 999, '{"person": 999}')]
        cur.executemany("INSERT INTO zone_occupancy (ts, camera_id, event_id, frame_no, zone_id, count, by_class) "
                        "VALUES (%s, 'cam-c', %s, 1, 'plaza', %s, %s)",
                        [(T - timedelta(seconds=s), f"z{i}", n, by) for i, (s, n, by) in enumerate(occupancy)])
        # Rollups over the 28 days before T. cam-a: 100 + local hour cars at 40 +- 10 km/h, 50 motorbikes
        # out without speeds; cam-b: 20 cars at exactly 30 km/h, in the last 7 days only.
        cur.execute("""
            INSERT INTO traffic_hourly (bucket, camera_id, line_id, direction, cls, volume, speed_n, speed_sum, speed_sq_sum)
            SELECT b, 'cam-a', 'main', 'in', 'car', v, v, 40.0 * v, 1700.0 * v
            FROM generate_series(%(t)s - interval '28 days', %(t)s - interval '1 hour', interval '1 hour') b,
                 LATERAL (SELECT 100 + extract(hour FROM b AT TIME ZONE 'Asia/Ho_Chi_Minh')::int AS v) h
            UNION ALL
            SELECT b, 'cam-a', 'main', 'out', 'motorbike', 50, 0, 0, 0
            FROM generate_series(%(t)s - interval '28 days', %(t)s - interval '1 hour', interval '1 hour') b
            UNION ALL
            SELECT b, 'cam-b', 'main', 'in', 'car', 20, 20, 600.0, 18000.0
            FROM generate_series(%(t)s - interval '7 days', %(t)s - interval '1 hour', interval '1 hour') b""", {"t": T})
        cur.execute("""
            INSERT INTO traffic_daily
            SELECT time_bucket('1 day', bucket, 'Asia/Ho_Chi_Minh'), camera_id, line_id, direction, cls,
                   sum(volume), sum(speed_n), sum(speed_sum), sum(speed_sq_sum)
            FROM traffic_hourly GROUP BY 1, 2, 3, 4, 5""")
    conn.commit()


@pytest.fixture(scope="module")
def reader(module_db: DbSettings) -> DbSettings:
    """The seeded database, as Grafana's read-only role sees it."""
    _seed_speeds(module_db)
    with psycopg.connect(module_db.conninfo) as conn:
        _seed(conn)
    return DbSettings(dsn=psycopg.conninfo.make_conninfo(module_db.conninfo, user=READER))


# --- what Grafana would run --------------------------------------------------------------------

RANGES = {"city-live": timedelta(hours=1), "alerts": timedelta(hours=24), "planning": timedelta(days=14)}
INTERVAL = MIN  # what the browser picks for the wall's 1 h and 24 h ranges (see test_grafana_macros)


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple]

    def column(self, name: str) -> list:
        assert name in self.columns, f"no column {name!r} in {self.columns}"
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def series(self) -> dict[str, dict[datetime, float]]:
        """Grafana's long-to-wide view of a time_series result: metric -> time -> value."""
        out: dict[str, dict[datetime, float]] = {}
        for row in self.rows:
            record = dict(zip(self.columns, row, strict=True))
            out.setdefault(record["metric"], {})[record["time"]] = float(record["value"])
        return out


def run(target: SqlTarget, conn: psycopg.Connection, selection: dict[str, tuple[str, ...]] | None = None) -> Result:
    path = next(p for p in built_files() if (p.parent.name, p.stem) == (target.lang, target.dashboard))
    sql = expanded_sql(target, path, conn, TimeRange(start=T - RANGES[target.dashboard], end=T), selection)
    cur = conn.execute(sql)
    result = Result([d.name for d in cur.description], cur.fetchall())
    conn.rollback()
    return result


# --- the checks, one per query ----------------------------------------------------------------

def _only_row(result: Result) -> dict:
    assert len(result.rows) == 1, result.rows
    return dict(zip(result.columns, result.rows[0], strict=True))


def _minutes(start: int, end: int) -> set[datetime]:
    return {T - m * MIN for m in range(start, end + 1)}


def check_cameras_online(r: Result, lang: Lang) -> None:
    assert _only_row(r) == {"online": 4, "total": 5}  # cam-d's last beat before T is 10 minutes old


def check_alerts_open(r: Result, lang: Lang) -> None:
    assert _only_row(r) == {"alerts_open": 3}  # a1, a2 (acknowledged, still open), a4


def check_vehicles_last_hour(r: Result, lang: Lang) -> None:
    assert _only_row(r) == {"vehicles": (18 + 8) * 60}


def check_people_in_zones(r: Result, lang: Lang) -> None:
    assert _only_row(r) == {"people": 58}  # the newest reading, people only


def check_camera_map(r: Result, lang: Lang) -> None:
    for column in ("latitude", "longitude", "state", "name", "flow_last_minute"):
        assert column in r.columns
    rows = {row[0]: dict(zip(r.columns, row, strict=True)) for row in r.rows}
    assert set(rows) == {"cam-a", "cam-b", "cam-c", "cam-d"}  # cam-e has no position
    assert {cam: row["state"] for cam, row in rows.items()} == {"cam-a": 2, "cam-b": 1, "cam-c": 2, "cam-d": 3}
    assert {cam: row["flow_last_minute"] for cam, row in rows.items()} == {"cam-a": 4, "cam-b": 0, "cam-c": 0, "cam-d": 0}
    assert rows["cam-a"]["latitude"] == pytest.approx(10.346) and rows["cam-a"]["longitude"] == pytest.approx(107.084)


def _check_time_series(r: Result) -> dict[str, dict[datetime, float]]:
    assert {"time", "metric", "value"} <= set(r.columns), r.columns
    times = r.column("time")
    assert times == sorted(times), "Grafana needs time series sorted by time"
    return r.series()


def vehicles_per_minute_city(minutes: int) -> Callable[[Result, Lang], None]:
    """Windows exist for the 120 minutes before T; the range shows the last ``minutes`` of them."""

    def check(r: Result, lang: Lang) -> None:
        series = _check_time_series(r)
        assert set(series) == {text("city_wide", lang)}
        (points,) = series.values()
        assert set(points) == _minutes(1, minutes)  # $__timeFilter includes both ends; no window starts at T
        assert set(points.values()) == {26.0}

    return check


def check_vehicles_per_minute_district(r: Result, lang: Lang) -> None:
    series = _check_time_series(r)
    assert {k: set(v.values()) for k, v in series.items()} == {"Thắng Tam": {18.0}, "Phường 2": {8.0}}


def check_flow_per_camera(r: Result, lang: Lang) -> None:
    series = _check_time_series(r)
    a, b, i, o = NAMES["cam-a"], NAMES["cam-b"], text("in", lang), text("out", lang)
    assert {k: set(v.values()) for k, v in series.items()} == {
        f"{a} · {i}": {15.0}, f"{a} · {o}": {3.0}, f"{b} · {i}": {7.0}, f"{b} · {o}": {1.0}}
    assert all(len(v) == 60 for v in series.values())


def check_crowded_zones(r: Result, lang: Lang) -> None:
    assert _only_row(r) == {"zone": f"{NAMES['cam-c']} · plaza", "occupancy": 60, "limit": 50, "load": Decimal("120.0")}


def check_open_alerts(r: Result, lang: Lang) -> None:
    assert r.column("alert_id") == ["a1", "a4", "a2"]  # critical first, oldest first
    assert r.column("severity") == ["critical", "critical", "warning"]
    assert [float(a) for a in r.column("age")] == [1800.0, 600.0, 7200.0]
    assert r.column("camera") == [NAMES["cam-a"], NAMES["cam-d"], NAMES["cam-c"]]


def check_camera_health(r: Result, lang: Lang) -> None:
    assert {"time", "metric", "value"} <= set(r.columns)
    assert [(t, m, v) for t, m, v in r.rows] == [
        (T - 60 * MIN, NAMES["cam-d"], 5),  # offline since before the range
        (T - 50 * MIN, NAMES["cam-c"], 2),  # blurred
        (T - 30 * MIN, NAMES["cam-c"], 0),  # clear again
        (T - 20 * MIN, NAMES["cam-b"], 1),  # frozen
    ]


def check_alerts_table(r: Result, lang: Lang) -> None:
    assert "alert_id" in r.columns  # the desk link needs it
    rows = [dict(zip(r.columns, row, strict=True)) for row in r.rows]
    assert [x["alert_id"] for x in rows] == ["a4", "a1", "a2"]
    assert [x["status"] for x in rows] == ["open", "open", "acknowledged"]
    assert rows[2]["acknowledged_by"] == "op.lan" and rows[2]["acknowledged_at"] == T - 90 * MIN
    assert [float(x["age"]) for x in rows] == [600.0, 1800.0, 7200.0]


def check_alerts_per_hour(r: Result, lang: Lang) -> None:
    series = _check_time_series(r)
    name = {rule: text(f"rule_{rule}", lang) for rule in ("stopped_vehicle", "camera_offline", "crowd", "camera_frozen")}
    assert series == {
        name["stopped_vehicle"]: {T - 60 * MIN: 1.0}, name["camera_offline"]: {T - 60 * MIN: 1.0},
        name["crowd"]: {T - 120 * MIN: 1.0}, name["camera_frozen"]: {T - 300 * MIN: 1.0}}


def check_operator_actions(r: Result, lang: Lang) -> None:
    assert r.column("actor") == ["op.lan", "op.lan"]
    assert r.column("action") == ["note", "ack"]  # newest first
    assert r.column("alert_id") == ["a2", "a2"]


def check_operator_annotations(r: Result, lang: Lang) -> None:
    assert r.columns == ["time", "text", "tags"]  # what Grafana reads from an SQL annotation
    assert r.rows == [(T - 90 * MIN, "op.lan · ack", "cam-c,ack"), (T - 80 * MIN, "op.lan · note: police on site", "cam-c,note")]


DAYS = [T - d * timedelta(days=1) for d in range(14, 0, -1)]
CAR_A = sum(100 + h for h in range(24))  # cam-a cars per day


def check_planning_volume(r: Result, lang: Lang) -> None:
    series = _check_time_series(r)
    recent = set(DAYS[-7:])
    assert series == {
        text("car", lang): {d: float(CAR_A + (24 * 20 if d in recent else 0)) for d in DAYS},
        text("motorbike", lang): {d: 24 * 50.0 for d in DAYS}}


def check_period_vs_previous(r: Result, lang: Lang) -> None:
    row = _only_row(r)
    previous = 14 * (CAR_A + 24 * 50)
    this = previous + 7 * 24 * 20
    assert (row["this_period"], row["previous_period"]) == (this, previous)
    assert row["change"] == Decimal(str(round(100 * (this - previous) / previous, 1)))


def check_weekday_hour(r: Result, lang: Lang) -> None:
    assert r.column("weekday") == [1, 2, 3, 4, 5, 6, 7]
    for hour in range(24):
        # each weekday twice in 14 days, once with cam-b's 20 cars: (170 + h + 150 + h) / 2
        assert set(r.column(f"{hour:02d}")) == {Decimal(160 + hour)}


def _exact(speeds: list[float], p: float) -> float:
    """The speed at or below which a share p of the vehicles travelled (inverted CDF)."""
    ranked = sorted(speeds)
    return ranked[max(math.ceil(p * len(ranked)), 1) - 1]


def _measured(day_from: datetime, day_to: datetime, *, cameras=("cam-a", "cam-b"), directions=("in", "out"),
              classes=("car", "motorbike")) -> list[float]:
    """The seeded speeds of vehicles crossing in [day_from, day_to) local time."""
    out = []
    for day, hour, cam, d, cls, speed in SPEEDS:
        at = T - (day + 1) * timedelta(days=1) + timedelta(hours=hour)
        if day_from <= at < day_to and cam in cameras and d in directions and cls in classes:
            out.append(speed)
    return out


BIN_KMH = 2.0


def _assert_measured(row: dict, speeds: list[float]) -> None:
    """V50 / V85 read from the merged histograms, within one 2 km/h bin of the exact percentiles
    (and 0.05 of rounding to 0.1); no model stands in for a measured bucket."""
    assert speeds, "no seeded speeds in this bucket"
    for column, p in (("V50", 0.5), ("V85", 0.85)):
        assert row[column] is not None, (row, column)
        assert abs(float(row[column]) - _exact(speeds, p)) <= BIN_KMH + 0.05, (row["time"], column, row[column], _exact(speeds, p))
    assert row["V50_model"] is None and row["V85_model"] is None, row


def _model(n_a: float, n_b: float) -> tuple[float, float]:
    """V50 / V85 of the seeded moments under the normal model (cam-a 40 +- 10 km/h, cam-b 30 exactly)."""
    mean = (40 * n_a + 30 * n_b) / (n_a + n_b)
    sd = math.sqrt((1700 * n_a + 900 * n_b) / (n_a + n_b) - mean ** 2)
    return round(mean, 1), round(mean + 1.0364 * sd, 1)


def _assert_model(row: dict, expected: tuple[float, float]) -> None:
    assert row["V50"] is None and row["V85"] is None, row  # no histogram: nothing passes for measured
    assert (float(row["V50_model"]), float(row["V85_model"])) == expected, row


def _speed_rows(r: Result) -> dict[datetime, dict]:
    assert r.columns == ["time", "V50", "V85", "V50_model", "V85_model"], r.columns
    times = r.column("time")
    assert times == sorted(times), "Grafana needs time series sorted by time"
    return {row[0]: dict(zip(r.columns, row, strict=True)) for row in r.rows}


def check_speed(r: Result, lang: Lang) -> None:
    rows = _speed_rows(r)
    assert set(rows) == set(DAYS)
    for day, row in rows.items():
        if day >= DAYS[-SPEED_DAYS_A]:  # days with crossings' speeds: measured, people left out
            _assert_measured(row, _measured(day, day + timedelta(days=1)))
        elif day in DAYS[-7:]:  # cam-b's cars count in the model too
            _assert_model(row, _model(CAR_A, 24 * 20))
        else:
            _assert_model(row, (40.0, round(40 + 10.364, 1)))


def check_camera_options(r: Result, lang: Lang) -> None:
    assert r.column("__value") == ["cam-a", "cam-b", "cam-c", "cam-d", "cam-e"]
    assert r.column("__text")[0] == f"{NAMES['cam-a']} (cam-a)"


def check_line_options(r: Result, lang: Lang) -> None:
    assert r.column("__value") == ["main", "side"]


CHECKS: dict[tuple[str, str, str, str], Callable[[Result, Lang], None]] = {
    ("city-live", "panel", "1", "A"): check_cameras_online,
    ("city-live", "panel", "2", "A"): check_alerts_open,
    ("city-live", "panel", "3", "A"): check_vehicles_last_hour,
    ("city-live", "panel", "4", "A"): check_people_in_zones,
    ("city-live", "panel", "5", "A"): check_camera_map,
    ("city-live", "panel", "6", "A"): vehicles_per_minute_city(60),
    ("city-live", "panel", "6", "B"): check_vehicles_per_minute_district,
    ("city-live", "panel", "7", "A"): check_flow_per_camera,
    ("city-live", "panel", "8", "A"): check_crowded_zones,
    ("city-live", "panel", "9", "A"): check_open_alerts,
    ("city-live", "panel", "10", "A"): check_camera_health,
    ("alerts", "panel", "1", "A"): check_alerts_table,
    ("alerts", "panel", "2", "A"): check_alerts_per_hour,
    ("alerts", "panel", "3", "A"): vehicles_per_minute_city(120),
    ("alerts", "panel", "3", "B"): check_vehicles_per_minute_district,
    ("alerts", "panel", "4", "A"): check_operator_actions,
    ("alerts", "annotation", "0", "Anno"): check_operator_annotations,
    ("planning", "panel", "1", "A"): check_planning_volume,
    ("planning", "panel", "2", "A"): check_weekday_hour,
    ("planning", "panel", "3", "A"): check_speed,
    ("planning", "panel", "4", "A"): check_period_vs_previous,
    ("planning", "variable", "camera", "var"): check_camera_options,
    ("planning", "variable", "line", "var"): check_line_options,
}

TARGETS = [t for path in built_files() for t in sql_targets(path)]


def test_every_sql_query_of_the_wall_is_discovered():
    # 23 queries per language: 17 panel targets of city live and alerts, 4 planning panels,
    # 2 variable queries; one annotation query.
    assert len(TARGETS) == 2 * len(CHECKS)
    assert {(t.dashboard, t.kind, t.key, t.ref_id) for t in TARGETS} == set(CHECKS)
    assert {t.lang for t in TARGETS} == {"vi", "en"}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_panel_query_returns_the_expected_numbers(target: SqlTarget, reader: DbSettings):
    check = CHECKS.get((target.dashboard, target.kind, target.key, target.ref_id))
    assert check is not None, f"{target.id} ({target.title}) has no check"
    with psycopg.connect(reader.conninfo) as conn:
        result = run(target, conn)
    assert result.rows, f"{target.id} returned nothing"
    check(result, target.lang)  # type: ignore[arg-type]


# --- variables with a selection ------------------------------------------------------------------

def _target(dashboard: str, key: str, lang: str = "en") -> SqlTarget:
    return next(t for t in TARGETS if (t.dashboard, t.key, t.lang, t.kind) == (dashboard, key, lang, "panel"))


@pytest.mark.parametrize("selection, expected", [
    # one camera, one class: cam-b's 20 cars an hour, only in the last 7 days
    ({"camera": ("cam-b",), "class": ("car",)}, {"car": {d: 480.0 for d in DAYS[-7:]}}),
    # two cameras (multi-value), outbound only: cam-a's motorbikes
    ({"camera": ("cam-a", "cam-b"), "direction": ("out",)}, {"motorbike": {d: 1200.0 for d in DAYS}}),
    # a line that none of the rollups has: nothing
    ({"line": ("side",)}, {}),
])
def test_planning_variables_filter_the_volume(selection, expected, reader: DbSettings):
    with psycopg.connect(reader.conninfo) as conn:
        result = run(_target("planning", "1"), conn, selection)
    assert result.series() == expected


@pytest.mark.parametrize("grain, buckets", [
    ("1 hour", 14 * 24),  # the hourly rollup: every hour of the 14 days (none at T itself)
    ("1 week", 3),  # weeks start on Monday: 14 days from a Friday (local) touch three weeks
])
def test_planning_grain_picks_the_bucket(grain, buckets, reader: DbSettings):
    with psycopg.connect(reader.conninfo) as conn:
        result = run(_target("planning", "1"), conn, {"grain": (grain,)})
    times = set(result.column("time"))
    assert len(times) == buckets
    assert sum(float(v) for v in result.column("value")) == 14 * (CAR_A + 24 * 50) + 7 * 24 * 20


@pytest.mark.parametrize("selection, cameras, directions", [
    # every camera and direction: cam-a's cars and outbound motorbikes and cam-b's cars are merged
    ({}, ("cam-a", "cam-b"), ("in", "out")),
    # inbound only: the fast outbound motorbikes of the last day drop out of its histogram
    ({"direction": ("in",)}, ("cam-a", "cam-b"), ("in",)),
    # cam-b alone: measured on its two days; before them, its moments alone (exactly 30 km/h)
    ({"camera": ("cam-b",)}, ("cam-b",), ("in", "out")),
])
def test_speed_panel_follows_the_variables(selection, cameras, directions, reader: DbSettings):
    with psycopg.connect(reader.conninfo) as conn:
        rows = _speed_rows(run(_target("planning", "3"), conn, selection))
    measured_days = {d for d in DAYS if _measured(d, d + timedelta(days=1), cameras=cameras, directions=directions)}
    assert measured_days and measured_days < set(rows)
    for day, row in rows.items():
        if day in measured_days:
            _assert_measured(row, _measured(day, day + timedelta(days=1), cameras=cameras, directions=directions))
        elif cameras == ("cam-b",):
            _assert_model(row, (30.0, 30.0))
        else:
            assert row["V50"] is None and row["V50_model"] is not None, row
    if cameras == ("cam-b",):
        assert set(rows) == set(DAYS[-7:])  # cam-b has no traffic before


@pytest.mark.parametrize("grain", [
    "1 hour",  # the hourly histograms, one per hour
    "1 week",  # daily histograms merged across days: the last 5 days span two weeks (Mon Nov 16 starts one)
])
def test_speed_panel_merges_the_histograms_of_the_grain(grain, reader: DbSettings):
    step = {"1 hour": timedelta(hours=1), "1 week": timedelta(weeks=1)}[grain]
    with psycopg.connect(reader.conninfo) as conn:
        rows = _speed_rows(run(_target("planning", "3"), conn, {"grain": (grain,)}))
    assert len(rows) == {"1 hour": 14 * 24, "1 week": 3}[grain]
    measured = 0
    for start, row in rows.items():
        speeds = _measured(start, start + step)
        if speeds:
            _assert_measured(row, speeds)
            measured += 1
        else:
            assert row["V50"] is None and row["V85"] is None and row["V50_model"] is not None, row
    assert measured == {"1 hour": SPEED_DAYS_A * len(SPEED_HOURS), "1 week": 2}[grain]


def test_measured_speeds_are_not_the_normal_model(reader: DbSettings):
    # The seeded cars are skewed: the exact V85 of a congested day is far from mean + 1.0364 sd of
    # the same speeds, so a panel reading the model instead of the histogram would be caught.
    day = DAYS[-1]
    speeds = _measured(day, day + timedelta(days=1), classes=("car",), directions=("in",), cameras=("cam-a",))
    mean = sum(speeds) / len(speeds)
    sd = math.sqrt(sum((s - mean) ** 2 for s in speeds) / len(speeds))
    assert abs(_exact(speeds, 0.85) - (mean + 1.0364 * sd)) > 2 * BIN_KMH
    assert abs(_exact(speeds, 0.5) - mean) > 2 * BIN_KMH
    with psycopg.connect(reader.conninfo) as conn:
        rows = _speed_rows(run(_target("planning", "3"), conn, {"camera": ("cam-a",), "class": ("car",)}))
    _assert_measured(rows[day], speeds)


def test_alerts_severity_selection(reader: DbSettings):
    with psycopg.connect(reader.conninfo) as conn:
        result = run(_target("alerts", "1"), conn, {"severity": ("warning",)})
    assert result.column("alert_id") == ["a2"]


def test_reader_role_cannot_write_or_read_other_tables(reader: DbSettings):
    with psycopg.connect(reader.conninfo) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("UPDATE alerts SET state = 'resolved'")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM warehouse_config")


# --- Grafana alert rules ---------------------------------------------------------------------------

RULES = yaml.safe_load((PROVISIONED.parent / "alerting" / "rules.yaml").read_text(encoding="utf-8"))["groups"][0]["rules"]


def _rule_sql(rule: dict) -> str:
    (query,) = [d for d in rule["data"] if d["datasourceUid"] == "ioc-timescaledb"]
    # Grafana expands environment variables in provisioning files; a literal $ is written $$.
    return query["model"]["rawSql"].replace("$$", "$")


@pytest.mark.parametrize("uid, label, expected", [
    # cameras silent longer than the rule's threshold (60 s): only cam-d, 10 minutes
    ("ioc-camera-offline", "camera_id", {"cam-d": 600.0}),
    # open critical alerts and how long they have been open: a1 (30 min) and a4 (10 min)
    ("ioc-critical-alert-open", "alert_id", {"a1": 1800.0, "a4": 600.0}),
])
def test_alert_rule_query_finds_what_it_alerts_on(uid, label, expected, reader: DbSettings):
    rule = next(r for r in RULES if r["uid"] == uid)
    threshold = next(d for d in rule["data"] if d["refId"] == rule["condition"])["model"]["conditions"][0]["evaluator"]
    assert threshold["type"] == "gt"
    with psycopg.connect(reader.conninfo) as conn:
        cur = conn.execute(expand(_rule_sql(rule), TimeRange(start=T - 10 * MIN, end=T), interval=INTERVAL))
        columns = [d.name for d in cur.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    value = columns[-1]  # the one numeric column; the others become the instance's labels
    firing = {row[label]: float(row[value]) for row in rows if float(row[value]) > threshold["params"][0]}
    assert firing == expected
