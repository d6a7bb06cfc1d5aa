"""The SQL behind every wall panel, with Grafana's macros, as Grafana's PostgreSQL datasource runs it.

"Now" is ``$__timeTo()`` everywhere, never ``now()``: the wall's time range ends at now, and the
same query is then exact for any range (tests pin the range; a planner can look back at an
incident). The relations read here are exactly those granted to the read-only role
``ioc_grafana`` (ingest/migrations/0030_wall_reader.sql, 0037_wall_reader_speeds.sql).

State codes (mapped to words and colours by the dashboards):
  camera on the map: 0 ok, 1 degraded health, 2 alert open, 3 offline (worst wins);
  camera health timeline: 0 ok, 1 frozen, 2 blurred, 3 moved, 4 covered, 5 offline.
"""

from __future__ import annotations

from dashboards.grafana.labels import DIRECTIONS, RULES, VEHICLE_CLASSES, Lang, sql_case, sql_literal, text

NOW = "$__timeTo()::timestamptz"
#: a camera without a heartbeat for this long is offline (agents beat every 5 s)
OFFLINE_AFTER = "interval '60 seconds'"
VEHICLES = "(" + ", ".join(sql_literal(c) for c in VEHICLE_CLASSES) + ")"
#: health conditions of the contract -> timeline code (frozen, blur, moved, blackout = covered, source_lost = offline)
HEALTH_CODES = {"frozen": 1, "blur": 2, "moved": 3, "blackout": 4, "source_lost": 5}
SEVERITY_RANK = "CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"

# Cameras that beat in the last minute: one range scan of the newest heartbeats for the whole
# city (a per-camera lookup would be 1,100 index probes every 10 s).
_BEATING = f"""(SELECT DISTINCT camera_id FROM heartbeats
     WHERE ts > {NOW} - {OFFLINE_AFTER} AND ts <= {NOW})"""

# Latest state of each health condition of each camera, looking back a week (conditions are raised
# and cleared within minutes to hours; a week bounds the scan on a long history).
_HEALTH = f"""(SELECT camera_id, count(*) FILTER (WHERE state = 'raised') AS raised,
            bool_or(condition = 'source_lost' AND state = 'raised') AS lost
     FROM (SELECT DISTINCT ON (camera_id, condition) camera_id, condition, state FROM camera_health
           WHERE ts <= {NOW} AND ts > {NOW} - interval '7 days'
           ORDER BY camera_id, condition, ts DESC) latest
     GROUP BY camera_id)"""


# --- City live --------------------------------------------------------------------------------

def cameras_online() -> str:
    return f"""SELECT count(beating.camera_id) AS online, count(*) AS total
FROM cameras c LEFT JOIN {_BEATING} beating USING (camera_id)"""


def alerts_open() -> str:
    return "SELECT count(*) AS alerts_open FROM alerts WHERE state <> 'resolved'"


def vehicles_last_hour() -> str:
    return f"""SELECT coalesce(sum(count), 0) AS vehicles
FROM count_windows
WHERE ts >= {NOW} - interval '1 hour' AND ts < {NOW} AND cls IN {VEHICLES}"""


def people_in_zones() -> str:
    # The newest reading of each zone in the last minute; people only where the agent counted by class.
    return f"""SELECT coalesce(sum(people), 0) AS people
FROM (SELECT DISTINCT ON (camera_id, zone_id)
             CASE WHEN by_class = '{{}}'::jsonb THEN count ELSE coalesce((by_class ->> 'person')::int, 0) END AS people
      FROM zone_occupancy
      WHERE ts > {NOW} - {OFFLINE_AFTER} AND ts <= {NOW}
      ORDER BY camera_id, zone_id, ts DESC) latest"""


def camera_map() -> str:
    return f"""SELECT c.camera_id, c.name, coalesce(c.district, '') AS district,
       c.lat AS latitude, c.lon AS longitude,
       CASE WHEN beating.camera_id IS NULL OR health.lost THEN 3
            WHEN open_alerts.n > 0 THEN 2
            WHEN health.raised > 0 THEN 1
            ELSE 0 END AS state,
       coalesce(flow.n, 0) AS flow_last_minute
FROM cameras c
LEFT JOIN {_BEATING} beating USING (camera_id)
LEFT JOIN {_HEALTH} health USING (camera_id)
LEFT JOIN (SELECT camera_id, count(*) AS n FROM alerts WHERE state <> 'resolved' GROUP BY camera_id) open_alerts USING (camera_id)
LEFT JOIN (SELECT camera_id, count(*) AS n FROM crossings
           WHERE ts > {NOW} - interval '1 minute' AND ts <= {NOW} AND cls IN {VEHICLES}
           GROUP BY camera_id) flow USING (camera_id)
WHERE c.lat IS NOT NULL AND c.lon IS NOT NULL
ORDER BY c.camera_id"""


def vehicles_per_minute_city(lang: Lang) -> str:
    return f"""SELECT $__timeGroupAlias(ts, $__interval), {sql_literal(text("city_wide", lang))} AS metric,
       sum(count) / ($__interval_ms / 60000.0) AS value
FROM count_windows
WHERE $__timeFilter(ts) AND cls IN {VEHICLES}
GROUP BY 1, 2
ORDER BY 1"""


def vehicles_per_minute_district() -> str:
    return f"""SELECT $__timeGroupAlias(w.ts, $__interval), coalesce(c.district, '?') AS metric,
       sum(w.count) / ($__interval_ms / 60000.0) AS value
FROM count_windows w JOIN cameras c USING (camera_id)
WHERE $__timeFilter(w.ts) AND w.cls IN {VEHICLES}
GROUP BY 1, 2
ORDER BY 1"""


def flow_per_camera(lang: Lang) -> str:
    # The ten busiest cameras of the range: a wall read across a room cannot show a thousand lines.
    return f"""WITH busiest AS (
    SELECT camera_id FROM count_windows
    WHERE $__timeFilter(ts) AND cls IN {VEHICLES}
    GROUP BY camera_id ORDER BY sum(count) DESC LIMIT 10)
SELECT $__timeGroupAlias(w.ts, $__interval),
       c.name || ' · ' || {sql_case("w.direction", DIRECTIONS, lang)} AS metric,
       sum(w.count) AS value
FROM count_windows w JOIN busiest USING (camera_id) JOIN cameras c USING (camera_id)
WHERE $__timeFilter(w.ts) AND w.cls IN {VEHICLES}
GROUP BY 1, 2
ORDER BY 1"""


def crowded_zones() -> str:
    return f"""WITH zones AS (
    SELECT c.camera_id, c.name, z ->> 'zone_id' AS zone_id, (z ->> 'max_occupancy')::int AS zone_limit
    FROM cameras c, jsonb_array_elements(c.zones) z
    WHERE z ->> 'max_occupancy' IS NOT NULL),
now_in AS (
    SELECT DISTINCT ON (camera_id, zone_id) camera_id, zone_id, count FROM zone_occupancy
    WHERE ts <= {NOW} AND ts > {NOW} - {OFFLINE_AFTER}
    ORDER BY camera_id, zone_id, ts DESC)
SELECT zones.name || ' · ' || zones.zone_id AS zone,
       coalesce(now_in.count, 0) AS occupancy,
       zones.zone_limit AS "limit",
       round(100.0 * coalesce(now_in.count, 0) / nullif(zones.zone_limit, 0), 1) AS load
FROM zones LEFT JOIN now_in USING (camera_id, zone_id)
ORDER BY load DESC NULLS LAST, zone
LIMIT 15"""


def open_alerts() -> str:
    return f"""SELECT a.alert_id, a.severity, a.title, coalesce(c.name, a.camera_id) AS camera, a.opened_at,
       extract(epoch FROM {NOW} - a.opened_at) AS age
FROM alerts a LEFT JOIN cameras c USING (camera_id)
WHERE a.state <> 'resolved'
ORDER BY {SEVERITY_RANK}, a.opened_at
LIMIT 50"""


def camera_health_timeline() -> str:
    # One step per health event, plus each camera's state as the range starts; the value at a step
    # is the worst condition raised at that moment. Cameras without any health event stay off the
    # chart (they are fine, and a thousand green rows would hide the few that are not).
    codes = " ".join(f"WHEN {sql_literal(k)} THEN {v}" for k, v in HEALTH_CODES.items())
    return f"""WITH events AS (
    SELECT camera_id, condition, ts, state FROM camera_health WHERE $__timeFilter(ts)
    UNION ALL
    SELECT DISTINCT ON (camera_id, condition) camera_id, condition, $__timeFrom()::timestamptz, state
    FROM camera_health
    WHERE ts < $__timeFrom()::timestamptz AND ts > $__timeFrom()::timestamptz - interval '7 days'
    ORDER BY camera_id, condition, ts DESC),
steps AS (SELECT DISTINCT camera_id, ts FROM events)
SELECT s.ts AS "time", coalesce(c.name, s.camera_id) AS metric,
       coalesce((SELECT max(CASE latest.condition {codes} ELSE 0 END)
                 FROM (SELECT DISTINCT ON (e.condition) e.condition, e.state FROM events e
                       WHERE e.camera_id = s.camera_id AND e.ts <= s.ts
                       ORDER BY e.condition, e.ts DESC) latest
                 WHERE latest.state = 'raised'), 0) AS value
FROM steps s LEFT JOIN cameras c USING (camera_id)
ORDER BY 1, 2"""


# --- Alerts -----------------------------------------------------------------------------------

def alerts_table() -> str:
    # Who acknowledged: the newest 'ack' action of the alert (alert_actions, the audit trail).
    return f"""SELECT a.alert_id, a.severity, a.rule, a.title, coalesce(c.name, a.camera_id) AS camera,
       coalesce(c.district, '') AS district,
       CASE WHEN ack.actor IS NULL THEN 'open' ELSE 'acknowledged' END AS status,
       a.opened_at, extract(epoch FROM {NOW} - a.opened_at) AS age,
       ack.actor AS acknowledged_by, ack.ts AS acknowledged_at
FROM alerts a
LEFT JOIN cameras c USING (camera_id)
LEFT JOIN LATERAL (SELECT x.actor, x.ts FROM alert_actions x
                   WHERE x.alert_id = a.alert_id AND x.action = 'ack'
                   ORDER BY x.ts DESC LIMIT 1) ack ON true
WHERE a.state <> 'resolved' AND a.severity IN ($severity)
ORDER BY {SEVERITY_RANK}, a.opened_at DESC
LIMIT 200"""


def alerts_per_hour(lang: Lang) -> str:
    return f"""SELECT $__timeGroupAlias(opened_at, '1h'), {sql_case("rule", RULES, lang, prefix="rule_")} AS metric, count(*) AS value
FROM alerts
WHERE $__timeFilter(opened_at) AND severity IN ($severity)
GROUP BY 1, 2
ORDER BY 1"""


def operator_actions() -> str:
    return """SELECT x.ts AS "time", x.actor, x.action, x.note, x.alert_id, coalesce(a.title, '') AS title
FROM alert_actions x LEFT JOIN alerts a USING (alert_id)
WHERE $__timeFilter(x.ts)
ORDER BY x.ts DESC
LIMIT 200"""


def operator_actions_annotations() -> str:
    return """SELECT x.ts AS "time", x.actor || ' · ' || x.action || CASE WHEN x.note <> '' THEN ': ' || x.note ELSE '' END AS text,
       x.camera_id || ',' || x.action AS tags
FROM alert_actions x
WHERE $__timeFilter(x.ts)
ORDER BY 1"""


# --- Planning ---------------------------------------------------------------------------------

def camera_options() -> str:
    return "SELECT camera_id AS __value, name || ' (' || camera_id || ')' AS __text FROM cameras ORDER BY camera_id"


def line_options() -> str:
    return """SELECT DISTINCT l ->> 'line_id' AS __value
FROM cameras c, jsonb_array_elements(c.lines) l
WHERE '__all' IN ($camera) OR c.camera_id IN ($camera)
ORDER BY 1"""


# The rollup for the grain: hourly rows for an hourly view, daily rows (local days) otherwise.
# The grain is a constant of the query, so PostgreSQL runs only one branch (a one-time filter).
_ROLLUP = """(SELECT bucket, camera_id, line_id, direction, cls, volume, speed_n, speed_sum, speed_sq_sum
      FROM traffic_hourly WHERE '$grain' = '1 hour'
      UNION ALL
      SELECT bucket, camera_id, line_id, direction, cls, volume, speed_n, speed_sum, speed_sq_sum
      FROM traffic_daily WHERE '$grain' <> '1 hour') r"""
# The speed histograms for the grain, picked the same way (migration 0035; both tables share the
# rollups' buckets and keys).
_SPEED_ROLLUP = """(SELECT bucket, camera_id, line_id, direction, cls, speed_hist
      FROM speed_hourly WHERE '$grain' = '1 hour'
      UNION ALL
      SELECT bucket, camera_id, line_id, direction, cls, speed_hist
      FROM speed_daily WHERE '$grain' <> '1 hour') s"""
#: "All" of a camera or line list is the custom all value '__all' (ALL_VALUE): then the first test
#: is a constant true and PostgreSQL drops the filter, instead of comparing every row with every
#: camera of the city.
ALL_VALUE = "'__all'"
_PLANNING_FILTER = ("('__all' IN ($camera) OR camera_id IN ($camera)) AND ('__all' IN ($line) OR line_id IN ($line))"
                    " AND direction IN ($direction) AND cls IN ($class)")


# Planning queries add up the rollup rows of each rollup bucket first, and bucket by the grain
# (time_bucket in a time zone, a costly call) only those few sums.
#
# The grain is the finest bucket a planner asks for; over a range too long for the panel to show
# every bucket (a year by the hour is 8,760 points on a panel a few hundred pixels wide), the
# bucket grows to the panel's interval, as Grafana does for every time series. That also keeps
# the speed panel's percentile reads to one per point shown.
_GRAIN_BUCKET = ("time_bucket(greatest('$grain'::interval, make_interval(secs => $__interval_ms / 1000.0)), "
                 "bucket, 'Asia/Ho_Chi_Minh')")

def planning_volume(lang: Lang) -> str:
    return f"""SELECT {_GRAIN_BUCKET} AS "time",
       {sql_case("cls", VEHICLE_CLASSES, lang)} AS metric, sum(volume) AS value
FROM (SELECT bucket, cls, sum(volume) AS volume
      FROM {_ROLLUP}
      WHERE $__timeFilter(bucket) AND {_PLANNING_FILTER}
      GROUP BY bucket, cls) per_bucket
GROUP BY 1, 2
ORDER BY 1"""


def weekday_hour() -> str:
    hours = ",\n       ".join(
        f'round(avg(volume) FILTER (WHERE extract(hour FROM local) = {h})) AS "{h:02d}"' for h in range(24)
    )
    return f"""WITH per_hour AS (
    SELECT bucket AT TIME ZONE 'Asia/Ho_Chi_Minh' AS local, sum(volume) AS volume
    FROM traffic_hourly
    WHERE $__timeFilter(bucket) AND {_PLANNING_FILTER}
    GROUP BY bucket)
SELECT extract(isodow FROM local)::int AS weekday,
       {hours}
FROM per_hour
GROUP BY 1
ORDER BY 1"""


def planning_speed() -> str:
    # V50 and V85 measured: percentiles of the merged speed histograms of each grain bucket (exact
    # to one 2 km/h bin). Where a bucket has no histogram (history older than the crossings kept, or
    # windows without crossings), the rollups' speed moments under a normal model stand in: mean and
    # mean + 1.0364 sd, as separate series, so the wall draws them apart and never passes a model
    # off as a measurement. A bucket has one or the other: where a histogram exists the model
    # columns are NULL (Grafana draws nothing there), and the other way round.
    mean = "sum(speed_sum) / sum(speed_n)"
    spread = f"sqrt(greatest(sum(speed_sq_sum) / sum(speed_n) - ({mean}) ^ 2, 0))"
    grain_bucket = _GRAIN_BUCKET
    return f"""WITH measured AS (
    SELECT {grain_bucket} AS "time", sum(speed_hist) AS hist
    FROM (SELECT bucket, sum(speed_hist) AS speed_hist
          FROM {_SPEED_ROLLUP}
          WHERE $__timeFilter(bucket) AND {_PLANNING_FILTER}
          GROUP BY bucket) per_bucket
    GROUP BY 1),
modelled AS (
    SELECT {grain_bucket} AS "time", {mean} AS v50, {mean} + 1.0364 * {spread} AS v85
    FROM (SELECT bucket, sum(speed_n) AS speed_n, sum(speed_sum) AS speed_sum, sum(speed_sq_sum) AS speed_sq_sum
          FROM {_ROLLUP}
          WHERE $__timeFilter(bucket) AND {_PLANNING_FILTER}
          GROUP BY bucket) per_bucket
    GROUP BY 1
    HAVING sum(speed_n) > 0)
SELECT "time",
       round(speed_percentile(measured.hist, 0.5)::numeric, 1) AS "V50",
       round(speed_percentile(measured.hist, 0.85)::numeric, 1) AS "V85",
       CASE WHEN measured.hist IS NULL THEN round(modelled.v50::numeric, 1) END AS "V50_model",
       CASE WHEN measured.hist IS NULL THEN round(modelled.v85::numeric, 1) END AS "V85_model"
FROM measured FULL JOIN modelled USING ("time")
ORDER BY 1"""


def period_vs_previous() -> str:
    start, end = "$__timeFrom()::timestamptz", NOW
    return f"""SELECT coalesce(sum(volume) FILTER (WHERE bucket >= {start}), 0) AS this_period,
       coalesce(sum(volume) FILTER (WHERE bucket < {start}), 0) AS previous_period,
       round(100.0 * (sum(volume) FILTER (WHERE bucket >= {start}) - sum(volume) FILTER (WHERE bucket < {start}))
             / nullif(sum(volume) FILTER (WHERE bucket < {start}), 0), 1) AS change
FROM {_ROLLUP}
WHERE bucket >= {start} - ({end} - {start}) AND bucket < {end} AND {_PLANNING_FILTER}"""
