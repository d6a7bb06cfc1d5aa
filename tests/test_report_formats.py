"""Every output format of `ioc report`: files read back to the same rows; charts are real PNGs."""

from __future__ import annotations

import json
import struct
from datetime import date
from pathlib import Path

import pytest

from dashboards.reports import charts, formats, labels, queries
from dashboards.reports.request import Grain, VolumeQuery, parse_period
from dashboards.reports.table import Table
from ingest.db import DbSettings, connect
from ingest.warehouse.backfill import BackfillPlan
from tests.factories import backfilled

TZ = "Asia/Ho_Chi_Minh"
PLAN = BackfillPlan(cameras=2, days=8, end=date(2026, 10, 29), seed=5)  # 2026-10-21 .. 2026-10-28


@pytest.fixture(scope="module")
def history(module_db: DbSettings) -> DbSettings:
    return backfilled(module_db, PLAN)


@pytest.fixture(scope="module")
def volume(history: DbSettings) -> Table:
    period = parse_period(start="2026-10-21", end="2026-10-22", tz=TZ)
    with connect(history) as conn:
        table = queries.volume(conn, VolumeQuery(period=period, grain=Grain.HOUR, by=("camera", "line", "direction", "cls")), tz=TZ)
    assert len(table.rows) > 500
    return table


@pytest.fixture(scope="module")
def summary(history: DbSettings) -> Table:
    with connect(history) as conn:
        return queries.summary(conn, parse_period(start="2026-10-21", end="2026-10-28", tz=TZ), (), tz=TZ)


@pytest.fixture(scope="module")
def cameras(history: DbSettings) -> list[queries.Camera]:
    with connect(history) as conn:
        return queries.known_cameras(conn)


@pytest.mark.parametrize("table_name", ["volume", "summary"])
def test_csv_round_trips(table_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    table: Table = request.getfixturevalue(table_name)
    path = tmp_path / "report.csv"
    formats.write_csv(table, path)
    assert formats.read_csv(path, table.columns) == table.rows
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(table.keys)


@pytest.mark.parametrize("table_name", ["volume", "summary"])
def test_parquet_round_trips_with_types_and_metadata(table_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table: Table = request.getfixturevalue(table_name)
    path = tmp_path / "report.parquet"
    formats.write_parquet(table, path)
    assert formats.read_parquet(path) == table.rows
    schema = pq.read_schema(path)
    assert schema.names == list(table.keys)
    assert json.loads(schema.metadata[b"ioc"])["timezone"] == TZ


def test_json_round_trips(volume: Table) -> None:
    document = json.loads(json.dumps(formats.to_json(volume), default=str))
    assert document["meta"]["grain"] == "hour"
    assert [c["key"] for c in document["columns"]] == list(volume.keys)
    assert len(document["rows"]) == len(volume.rows)
    first = volume.dicts()[0]
    assert document["rows"][0] == {**first, "period_start": first["period_start"].isoformat()}


def test_geojson_places_every_camera_with_its_totals(summary: Table, cameras: list[queries.Camera]) -> None:
    collection = json.loads(json.dumps(formats.to_geojson(summary, cameras), default=str))
    assert collection["type"] == "FeatureCollection" and collection["unlocated"] == []
    where = {c.camera_id: c for c in cameras}
    totals = {r["camera_id"]: r["volume"] for r in summary.dicts()}
    assert {f["id"] for f in collection["features"]} == set(totals) == {"bf-001", "bf-002"}
    for feature in collection["features"]:
        camera = where[feature["id"]]
        assert feature["geometry"] == {"type": "Point", "coordinates": [camera.lon, camera.lat]}
        assert feature["properties"]["volume"] == totals[feature["id"]]
        assert 10.2 < camera.lat < 10.5 and 106.9 < camera.lon < 107.2  # Vũng Tàu


def test_ngsi_ld_traffic_flow_observed(volume: Table, cameras: list[queries.Camera]) -> None:
    entities = formats.to_ngsi_ld(volume, cameras)
    vehicle_rows = [r for r in volume.dicts() if r["cls"] != "person"]
    assert len(entities) == len(vehicle_rows) and len(entities) < len(volume.rows)
    assert len({e["id"] for e in entities}) == len(entities)
    by_id = {e["id"]: e for e in entities}
    for record in vehicle_rows[:50]:
        start = record["period_start"]
        entity = by_id[f"urn:ngsi-ld:TrafficFlowObserved:{record['camera_id']}:main:{record['direction']}:"
                       f"{record['cls']}:{start.strftime('%Y%m%dT%H%M%z')}"]
        assert entity["type"] == "TrafficFlowObserved"
        assert entity["intensity"] == {"type": "Property", "value": record["volume"]}
        assert entity["dateObservedFrom"]["value"] == start.isoformat()
        assert entity["location"]["type"] == "GeoProperty"
        assert entity["averageVehicleSpeed"]["unitCode"] == "KMH"
        assert entity["@context"][-1].endswith("ngsi-ld-core-context.jsonld")
    assert {e["vehicleType"]["value"] for e in entities} == {"motorcycle", "car", "lorry", "bicycle"}


def test_ngsi_ld_needs_the_full_breakdown(history: DbSettings, cameras: list[queries.Camera]) -> None:
    with connect(history) as conn:
        table = queries.volume(conn, VolumeQuery(period=parse_period(period="2026-10-21", tz=TZ), grain=Grain.HOUR), tz=TZ)
    with pytest.raises(formats.ReportError, match="needs --by camera,line,direction,cls"):
        formats.to_ngsi_ld(table, cameras)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_charts_are_pngs_of_the_expected_size(history: DbSettings, tmp_path: Path, lang: str) -> None:
    with connect(history) as conn:
        data = queries.profiles(conn, parse_period(start="2026-10-21", end="2026-10-28", tz=TZ), (), tz=TZ)
    paths = charts.write_all(data, tmp_path, lang=lang, subtitle="Thùy Vân · 2026-10")
    assert [p.name for p in paths] == [f"hourly_profile_{lang}.png", f"weekday_hour_{lang}.png", f"daily_trend_{lang}.png"]
    for path in paths:
        assert _png_size(path) == charts.SIZE_PX
        assert path.stat().st_size > 20_000  # drawn, not blank


def test_chart_font_has_every_vietnamese_glyph() -> None:
    assert "ư" in labels.label("axis.volume_per_hour", "vi")
    assert charts.missing_glyphs(labels.all_text("vi") + "Lưu lượng Thùy Vân ắằẳẵặ ếềểễệ ốồổỗộ ớờởỡợ ứừửữự") == set()
    assert charts.missing_glyphs("漢") == {"漢"}  # the check can fail


def test_terminal_table_in_both_languages(volume: Table, summary: Table) -> None:
    from rich.console import Console

    for lang, header, value in [("vi", "Lưu lượng", "xe máy"), ("en", "Volume", "motorbike")]:
        console = Console(record=True, width=250)
        formats.render_terminal(volume, lang=lang, console=console, limit=20)
        text = console.export_text()
        assert header in text and value in text
    console = Console(record=True, width=250)
    formats.render_terminal(summary, lang="vi", console=console)
    assert "Giờ cao điểm" in console.export_text()
