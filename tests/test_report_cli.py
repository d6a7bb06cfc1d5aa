"""`ioc report` end to end: files written, and clear errors for what a planner can get wrong."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dashboards.reports import formats
from dashboards.reports.cli import app
from ingest.db import DbSettings, connect
from ingest.warehouse.backfill import BackfillPlan, backfill
from ingest.warehouse.rollups import refresh_rollups

PLAN = BackfillPlan(cameras=2, days=3, end=date(2026, 10, 4), seed=8)  # 2026-10-01 .. 2026-10-03


@pytest.fixture(scope="module")
def dsn(module_db: DbSettings) -> str:
    backfill(module_db, PLAN, workers=1)
    refresh_rollups(module_db)
    return module_db.conninfo


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_volume_csv_file(dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "volume.csv"
    result, text = _run("volume", "--dsn", dsn, "--period", "2026-10-02", "--grain", "15min", "--by", "camera,cls",
                        "-f", "csv", "-o", str(out))
    assert result.exit_code == 0, text
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "period_start,camera_id,cls,volume,speed_mean_kmh,speed_p50_kmh,speed_p85_kmh,speed_basis"
    assert lines[1].startswith("2026-10-02T00:00:00+07:00,bf-001,")
    assert {line.split(",")[0][11:16] for line in lines[1:]} >= {"07:15", "17:45"}


def test_summary_geojson_and_parquet(dsn: str, tmp_path: Path) -> None:
    result, text = _run("summary", "--dsn", dsn, "--from", "2026-10-01", "--to", "2026-10-03", "-f", "geojson",
                        "-o", str(tmp_path / "cameras.geojson"), "--lang", "en")
    assert result.exit_code == 0, text
    collection = json.loads((tmp_path / "cameras.geojson").read_text(encoding="utf-8"))
    assert [f["id"] for f in collection["features"]] == ["bf-001", "bf-002"]
    assert all(f["properties"]["days"] == 3 for f in collection["features"])
    result, text = _run("summary", "--dsn", dsn, "--period", "2026-10", "-f", "parquet", "-o", str(tmp_path / "s.parquet"))
    assert result.exit_code == 0, text
    rows = formats.read_parquet(tmp_path / "s.parquet")
    assert [row[0] for row in rows] == ["bf-001", "bf-002"]


def test_terminal_table_and_charts(dsn: str, tmp_path: Path) -> None:
    result, text = _run("volume", "--dsn", dsn, "--period", "2026-10-01", "--camera", "bf-002", "--grain", "hour")
    assert result.exit_code == 0, text
    assert "Lưu lượng" in text and "bf-002" in text
    result, text = _run("charts", "--dsn", dsn, "--period", "2026-10", "-o", str(tmp_path / "charts"), "--lang", "en")
    assert result.exit_code == 0, text
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == ["daily_trend_en.png", "hourly_profile_en.png", "weekday_hour_en.png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("volume", "--from", "2026-10-03", "--to", "2026-10-01"), "ends (2026-10-01) before it starts (2026-10-03)"),
        (("volume", "--period", "Oct 2026"), "cannot read period 'Oct 2026'"),
        (("summary", "--from", "2026-02-30"), "--from '2026-02-30' is not a date"),
        (("volume", "--period", "2026-10", "--camera", "cam-x"), "unknown camera cam-x; known cameras: bf-001, bf-002"),
        (("charts", "--period", "2026-10", "--camera", "cam-x", "-o", "/tmp/never"), "unknown camera cam-x"),
        (("volume", "--period", "2025-10"), "no traffic recorded for any camera in 2025-10"),
        (("summary", "--period", "2026-09", "--camera", "bf-001"), "no traffic recorded for cameras bf-001 in 2026-09"),
        (("volume", "--period", "2026-10", "--by", "camera,lane"), "cannot break down by lane"),
        (("volume", "--period", "2026-10", "-f", "parquet"), "Parquet is binary: give --out"),
        (("volume", "--period", "2026-10", "-f", "xlsx"), "an Excel workbook is binary: give --out FILE.xlsx"),
        (("volume", "--period", "2026-10", "-f", "xls"), "unknown format 'xls'"),
        (("volume", "--period", "2026-10", "--lang", "fr"), "--lang 'fr': choose vi or en"),
        # a file or folder the planner named that cannot be written, in every way a report is written
        (("volume", "--period", "2026-10", "-f", "csv", "-o", "/proc/ioc-none/v.csv"), "cannot write /proc/ioc-none/v.csv: No such file or directory"),
        (("summary", "--period", "2026-10", "-f", "parquet", "-o", "/proc/ioc-none/s.parquet"), "cannot write /proc/ioc-none/s.parquet"),
        (("summary", "--period", "2026-10", "-f", "geojson", "-o", "/proc/ioc-none/c.geojson"), "cannot write /proc/ioc-none/c.geojson"),
        (("charts", "--period", "2026-10", "-o", "/proc/ioc-none/charts"), "cannot write /proc/ioc-none"),
        # a full disk (/dev/full refuses every write with ENOSPC)
        (("volume", "--period", "2026-10", "-f", "json", "-o", "/dev/full"), "cannot write /dev/full: No space left on device"),
    ],
)
def test_clear_errors(dsn: str, args: tuple[str, ...], message: str) -> None:
    result, text = _run(*args, "--dsn", dsn)
    assert result.exit_code == 2, text
    assert message in " ".join(text.split()), text
    assert "Traceback" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # each told as bad input though no warehouse answers: the planner fixes the request first
        (("volume", "--period", "Oct 2026"), "cannot read period 'Oct 2026'"),
        (("summary", "--period", "2026-10", "--from", "2026-10-01"), "either --period or --from/--to, not both"),
        (("charts", "-o", "/tmp/never"), "no period: give --period"),
        (("volume", "--period", "2026-10", "-f", "xls"), "unknown format 'xls'"),
        (("summary", "--period", "2026-10", "-f", "xlsx"), "an Excel workbook is binary"),
        (("volume", "--period", "2026-10", "-f", "geojson"), "use `ioc report summary --format geojson`"),
        (("summary", "--period", "2026-10", "-f", "ngsi-ld"), "NGSI-LD entities are per period bucket"),
        (("volume", "--period", "2026-10", "--by", "lane"), "cannot break down by lane"),
        (("charts", "--period", "2026-10", "-o", "/tmp/never", "--lang", "fr"), "--lang 'fr': choose vi or en"),
    ],
)
def test_a_request_is_checked_before_the_warehouse_is_asked(args: tuple[str, ...], message: str) -> None:
    result, text = _run(*args, "--dsn", "postgresql://ioc@127.0.0.1:1/none")
    assert result.exit_code == 2, text
    assert message in " ".join(text.split()), text


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result, text = _run("cameras", "--dsn", "postgresql://ioc@127.0.0.1:1/none")
    assert result.exit_code == 3  # a service that cannot be reached
    assert "cannot connect to the database" in text and "Traceback" not in text


def test_a_database_nobody_migrated_says_what_to_run(stack) -> None:
    admin = DbSettings(dsn=stack.dsn)
    name = f"ioc_bare_{uuid.uuid4().hex[:10]}"
    with connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        result, text = _run("cameras", "--dsn", admin.for_database(name).conninfo)
        assert result.exit_code == 1, text  # a deployment to fix, not the planner's input
        assert "does not exist; run `ioc db migrate` against" in " ".join(text.split()) and "Traceback" not in text
    finally:
        with connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
