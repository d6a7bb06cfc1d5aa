"""Exports planners open in Excel: workbooks read back with openpyxl, CSV with a byte-order mark."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from dashboards.reports import queries
from dashboards.reports.cli import app
from dashboards.reports.request import Grain, VolumeQuery, parse_period
from ingest.db import DbSettings, connect
from ingest.warehouse.backfill import BackfillPlan
from tests.factories import backfilled

TZ = "Asia/Ho_Chi_Minh"
PLAN = BackfillPlan(cameras=2, days=3, end=date(2026, 10, 4), seed=8)  # 2026-10-01 .. 2026-10-03; "Thùy Vân #1", "Hạ Long #1"
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def dsn(module_db: DbSettings) -> str:
    return backfilled(module_db, PLAN).conninfo


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result, result.output + (result.stderr if result.stderr_bytes is not None else "")


@pytest.mark.parametrize(
    ("lang", "sheets", "header"),
    [
        # Vietnamese, the default: sheet titles and headers as planners read them
        ("vi", ["Tổng hợp giao thông", "Lưu lượng theo giờ", "Theo thứ và giờ", "Lưu lượng theo ngày", "Thông tin"],
         ["Camera", "Tên", "Số ngày", "Lưu lượng"]),
        # English
        ("en", ["Traffic summary", "Hourly profile", "Weekday x hour", "Daily traffic", "About"],
         ["Camera", "Name", "Days", "Volume"]),
    ],
)
def test_summary_workbook_has_a_sheet_per_section(dsn: str, tmp_path: Path, lang: str, sheets: list[str], header: list[str]) -> None:
    out = tmp_path / "summary.xlsx"
    result, text = _run("summary", "--dsn", dsn, "--from", "2026-10-01", "--to", "2026-10-03", "-f", "xlsx", "-o", str(out),
                        "--lang", lang)
    assert result.exit_code == 0, text
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == sheets
    assert all(book[name].freeze_panes == "A2" for name in sheets)
    summary = book[sheets[0]]
    assert [cell.value for cell in summary[1]][:4] == header
    with connect(DbSettings(dsn=dsn)) as conn:
        expected = queries.summary(conn, parse_period(start="2026-10-01", end="2026-10-03", tz=TZ), (), tz=TZ)
    rows = [tuple(cell.value for cell in row) for row in summary.iter_rows(min_row=2)]
    assert rows == expected.rows  # every value, with its type: ints, floats, None as empty
    assert {row[1] for row in rows} == {"Thùy Vân #1", "Hạ Long #1"}
    assert isinstance(rows[0][3], int) and isinstance(rows[0][4], float)
    daily = list(book[sheets[3]].iter_rows(min_row=2, values_only=True))
    assert [d.date() for d, _ in daily] == [date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)]
    assert sum(v for _, v in daily) == sum(row[3] for row in rows)
    matrix = list(book[sheets[2]].iter_rows(values_only=True))
    assert len(matrix) == 8 and len(matrix[0]) == 25  # header + Monday..Sunday; weekday + 24 hours
    about = {row[0]: row[1] for row in book[sheets[4]].iter_rows(min_row=2, values_only=True) if row and row[0]}
    assert about["timezone"] == TZ


def test_volume_workbook_has_local_times_and_typed_cells(dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "volume.xlsx"
    result, text = _run("volume", "--dsn", dsn, "--period", "2026-10-02", "--grain", "hour", "--by", "camera,cls",
                        "-f", "xlsx", "-o", str(out))
    assert result.exit_code == 0, text
    sheet = openpyxl.load_workbook(out)["Lưu lượng giao thông"]
    header = [cell.value for cell in sheet[1]]
    assert header[:4] == ["Bắt đầu", "Camera", "Loại xe", "Lưu lượng"]
    first = [cell for cell in sheet[2]]
    assert first[0].value == datetime(2026, 10, 2, 0, 0) and first[0].number_format == "yyyy-mm-dd hh:mm"
    assert first[1].value == "bf-001" and isinstance(first[3].value, int)
    with connect(DbSettings(dsn=dsn)) as conn:
        expected = queries.volume(conn, VolumeQuery(period=parse_period(period="2026-10-02", tz=TZ), grain=Grain.HOUR,
                                                    by=("camera", "cls")), tz=TZ)
    assert sheet.max_row == len(expected.rows) + 1
    assert sum(row[3] for row in sheet.iter_rows(min_row=2, values_only=True)) == sum(expected.column("volume"))


@pytest.mark.parametrize(
    ("fmt", "bom"),
    [
        ("csv-excel", True),  # for Excel: byte-order mark, local times Excel parses
        ("csv", False),  # plain CSV unchanged: no mark, ISO 8601 with offset
    ],
)
def test_csv_for_excel_carries_a_byte_order_mark(dsn: str, tmp_path: Path, fmt: str, bom: bool) -> None:
    out = tmp_path / "summary.csv"
    result, text = _run("summary", "--dsn", dsn, "--period", "2026-10-02", "-f", fmt, "-o", str(out))
    assert result.exit_code == 0, text
    data = out.read_bytes()
    assert data.startswith(BOM) is bom
    assert "Thùy Vân #1" in data.decode("utf-8-sig")
    result, text = _run("volume", "--dsn", dsn, "--period", "2026-10-02", "-f", fmt, "-o", str(out))
    first_time = out.read_bytes().decode("utf-8-sig").splitlines()[1].split(",")[0]
    assert first_time == ("2026-10-02 00:00:00" if bom else "2026-10-02T00:00:00+07:00")
