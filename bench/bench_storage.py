"""Bytes each table costs per camera-day on TimescaleDB, from a simulated day of real-shaped events.

One day of a typical camera (25,000 objects) and of the busiest (70,000), as their agents send it
(bench/citysim.py: sampled frame events, crossings, zone samples, heartbeats, registry, incidents
with evidence pictures, health), plus the one-minute windows processors make of it, written with
the sink's own writer (ingest/writer.py) into a scratch database. Sizes are hypertable_size /
pg_total_relation_size deltas (heap, indexes, TOAST), measured after each camera's day.

For comparison, the layout before: every analysed frame (8.3 a second) with its objects as JSON.
Measured on two hours of the typical camera's rush and scaled to a day of 720,000 frames.

The city figure takes the mean daily volume of the city's cameras (lognormal around 25,000, mean
~27,600) between the typical and busiest camera measured. Uncompressed (Apache build); on the
official image compression policies (migrations 0036/0046) shrink closed chunks further, which
this machine cannot measure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.citysim import CameraSim, daily_volumes, windows_of
from bench.common import figure, local_stack, scratch_database
from ingest.db import connect
from ingest.warehouse.settings import DEFAULT_RETENTION
from ingest.writer import TABLES, EventWriter

DAY_START = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)  # 00:00 in Vũng Tàu
CITY_CAMERAS = 1_100
VOLUMES = {"typical": 25_000.0, "busiest": 70_000.0}
# One row per camera or per alert, overwritten: they do not grow by the day.
STATE_TABLES = {"cameras", "alerts"}
# Under this many rows of a camera-day, a size delta is mostly the new chunk's empty pages: the
# table's cost is estimated from its rows instead (average row, tuple header and line pointer, an
# index entry of ~40 bytes per index).
FEW_ROWS = 5_000
_OLD_FRAMES = """CREATE TABLE frame_events_json (
    ts timestamptz NOT NULL, camera_id text NOT NULL, event_id text NOT NULL, frame_no bigint NOT NULL,
    width integer NOT NULL, height integer NOT NULL, object_count integer NOT NULL, objects jsonb NOT NULL,
    UNIQUE (event_id, ts));
SELECT create_hypertable('frame_events_json', 'ts', chunk_time_interval => interval '6 hours');
CREATE INDEX ON frame_events_json (camera_id, ts DESC);"""


def _tables() -> list[str]:
    return sorted({spec.table for specs in TABLES.values() for spec in specs})


def _sizes(conn) -> dict[str, int]:
    hypertables = {r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}
    out = {}
    for table in _tables():
        query = "SELECT hypertable_size(%s::regclass)" if table in hypertables else "SELECT pg_total_relation_size(%s::regclass)"
        out[table] = conn.execute(query, (table,)).fetchone()[0] or 0
    return out


def _rows(conn, table: str, camera_id: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table} WHERE camera_id = %s", (camera_id,)).fetchone()[0]


def _row_estimate(conn, table: str) -> float:
    average = conn.execute(f"SELECT avg(pg_column_size(t.*)) FROM {table} AS t").fetchone()[0] or 0
    indexes = conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", (table,)).fetchone()[0]
    return float(average) + 28 + 40 * indexes


def _write(conn, events, *, batch: int = 20_000) -> None:
    writer = EventWriter(conn)
    for i in range(0, len(events), batch):
        with conn.transaction():
            writer.write(events[i : i + batch])


def _camera_day(camera_id: str, volume: float) -> list:
    sim = CameraSim(camera_id, DAY_START, daily_volume=volume)
    events = []
    for hour in range(24):
        events += sim.advance(DAY_START + timedelta(hours=hour + 1))
    return events + windows_of(events)


def _old_frames_per_row(conn) -> float:
    """Bytes a row of the JSON layout took, every analysed frame, the typical camera's evening rush."""
    import msgspec

    conn.execute(_OLD_FRAMES)
    rush = DAY_START + timedelta(hours=17)
    sim = CameraSim("cam-json", rush, daily_volume=VOLUMES["typical"], frame_every_s=0)
    frames = [e for e in sim.advance(rush + timedelta(hours=2)) if type(e).__name__ == "FrameEvent"]
    encode = msgspec.json.Encoder().encode
    with conn.transaction():
        with conn.cursor().copy("COPY frame_events_json FROM STDIN") as copy:
            for f in frames:
                copy.write_row((f.ts, f.camera_id, f.event_id, f.frame_no, f.width, f.height, len(f.objects), encode(f.objects).decode()))
    size = conn.execute("SELECT hypertable_size('frame_events_json')").fetchone()[0]
    return size / len(frames)


def main() -> None:
    stack = local_stack()
    per_day: dict[str, dict[str, float]] = {}
    with scratch_database(stack) as db, connect(db) as conn:
        conn.autocommit = True
        for label, volume in VOLUMES.items():
            before = _sizes(conn)
            camera = f"cam-{label}"
            _write(conn, _camera_day(camera, volume))
            conn.execute("VACUUM ANALYZE")
            after = _sizes(conn)
            per_day[label] = {}
            for table in after:
                if table in STATE_TABLES:
                    continue
                rows = _rows(conn, table, camera)
                per_day[label][table] = after[table] - before[table] if rows >= FEW_ROWS else rows * _row_estimate(conn, table)
        old_row = _old_frames_per_row(conn)
        rows = conn.execute("SELECT count(*) FROM frame_events WHERE camera_id = 'cam-typical'").fetchone()[0]
    new_row = per_day["typical"]["frame_events"] / rows
    mean_volume = sum(daily_volumes(10_000)) / 10_000
    share = (mean_volume - VOLUMES["typical"]) / (VOLUMES["busiest"] - VOLUMES["typical"])
    city_camera_day = {t: per_day["typical"][t] + share * (per_day["busiest"][t] - per_day["typical"][t]) for t in per_day["typical"]}
    for table in sorted(per_day["typical"]):
        if per_day["busiest"][table] or per_day["typical"][table]:
            figure(f"storage.{table}.typical_camera_day", per_day["typical"][table] / 1e6, "MB")
            figure(f"storage.{table}.busiest_camera_day", per_day["busiest"][table] / 1e6, "MB")
    figure("storage.frame_events.bytes_per_row", new_row, "B")
    figure("storage.frame_events.rows_per_typical_camera_day", rows, "rows")
    figure("storage.frame_events_json_every_frame.bytes_per_row", old_row, "B")
    analysed_per_day = 86_400 * 25 / 3
    figure("storage.frame_events_json_every_frame.city_day", old_row * analysed_per_day * CITY_CAMERAS / 1e9, "GB")
    figure("storage.city_mean_daily_volume", mean_volume, "objects")
    total_day = sum(city_camera_day.values()) * CITY_CAMERAS
    figure("storage.city_day_all_tables", total_day / 1e9, "GB", f"<= 100 GB for {CITY_CAMERAS:,} cameras")
    retained = 0.0
    for table, size in city_camera_day.items():
        keep = DEFAULT_RETENTION.get(table)
        days = keep.days if keep is not None else 5 * 365  # kept forever: 5 years shown
        retained += size * CITY_CAMERAS * days
        if size:
            figure(f"storage.city_retained.{table}", size * CITY_CAMERAS * days / 1e9, "GB")
    figure("storage.city_retained_all_tables", retained / 1e12, "TB")
    figure("storage.city_month_all_tables", total_day * 30 / 1e12, "TB")


if __name__ == "__main__":
    main()
