"""`ioc report`: planners' traffic reports from the warehouse, on the terminal or as files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from dashboards.reports.request import Grain, ReportError, VolumeQuery, parse_dimensions, parse_period
from ingest.errors import writing
from ingest.options import Shared, shared

app = typer.Typer(help="Traffic reports for planners: volumes, peaks, speeds, exports and charts.", no_args_is_help=True)

_PERIOD = typer.Option(None, "--period", "-p", help="2026, 2026-03, 2026-W10 or 2026-03-09.")
_FROM = typer.Option(None, "--from", help="Start date (2026-03-01) or date-time.")
_TO = typer.Option(None, "--to", help="End date, inclusive (2026-03-31), or date-time, exclusive.")
_CAMERA = typer.Option(None, "--camera", help="Camera id; repeat for several (default: all).")
_LANG = typer.Option("vi", "--lang", help="Label language: vi or en.")
_OUT = typer.Option(None, "--out", "-o", help="Output file (default: standard output for text formats).")


@contextmanager
def _warehouse(shared: Shared) -> Iterator:
    """A connection to the warehouse; the database's own errors become one-line ioc errors."""
    import psycopg

    from ingest.db import DatabaseError, connect

    try:
        with connect(shared.db) as conn:
            yield conn
    except psycopg.errors.UndefinedTable as exc:  # a database nobody migrated: say what to run
        raise DatabaseError(f"database: {str(exc).splitlines()[0]}; run `ioc db migrate` against {shared.db.shown}") from exc
    except psycopg.Error as exc:
        raise DatabaseError(f"database: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}") from exc


def _check_request(*, lang: str, period: str | None, start: str | None, end: str | None,
                   fmt: str | None = None, out: Path | None = None) -> None:
    """What the planner can be told is wrong before the warehouse is asked (or when it is down):
    the language, the period as written, the format and whether it needs --out. The warehouse's
    time zone moves the period's bounds, not whether it reads, so it is read here in UTC."""
    from dashboards.reports.formats import FORMATS

    if lang not in ("vi", "en"):
        raise ReportError(f"--lang {lang!r}: choose vi or en")
    parse_period(period=period, start=start, end=end, tz="UTC")
    if fmt is None:
        return
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}: choose from {', '.join(FORMATS)}")
    if out is None and fmt == "xlsx":
        raise ReportError("an Excel workbook is binary: give --out FILE.xlsx")
    if out is None and fmt == "parquet":
        raise ReportError("Parquet is binary: give --out FILE.parquet")


def _emit_text(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        with writing(out):
            out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


def _write(table, fmt: str, out: Path | None, lang: str, cameras: Callable[[], list],
           sections: Callable[[], list] = list) -> None:
    """``sections``: further report sections, for the formats that hold several (xlsx)."""
    from dashboards.reports import formats

    if fmt == "table":
        from rich.console import Console

        formats.render_terminal(table, lang=lang, console=Console())
    elif fmt in ("csv", "csv-excel"):
        excel = fmt == "csv-excel"
        if out is None:
            if excel:
                sys.stdout.write("\ufeff")
            formats.write_csv_stream(table, sys.stdout, excel=excel)
        else:
            with writing(out):
                formats.write_csv(table, out, excel=excel)
            typer.echo(f"wrote {out} ({len(table.rows)} rows)", err=True)
    elif fmt == "xlsx":
        assert out is not None  # _check_request
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            raise ReportError("Excel output needs openpyxl: pip install 'ioc[reports]'") from None
        with writing(out):
            formats.write_xlsx([table, *sections()], out, lang=lang)
        typer.echo(f"wrote {out} ({len(table.rows)} rows)", err=True)
    elif fmt == "parquet":
        assert out is not None  # _check_request
        with writing(out):
            formats.write_parquet(table, out)
        typer.echo(f"wrote {out} ({len(table.rows)} rows)", err=True)
    elif fmt == "json":
        _emit_text(json.dumps(formats.to_json(table), ensure_ascii=False, indent=1, default=str), out)
    elif fmt == "geojson":
        _emit_text(json.dumps(formats.to_geojson(table, cameras()), ensure_ascii=False, indent=1, default=str), out)
    elif fmt == "ngsi-ld":
        _emit_text(json.dumps(formats.to_ngsi_ld(table, cameras()), ensure_ascii=False, indent=1, default=str), out)
    else:
        raise AssertionError(f"format {fmt!r} passed _check_request")


@app.command("volume")
@shared("db")
def volume_command(
    shared: Shared,
    period: Optional[str] = _PERIOD,
    start: Optional[str] = _FROM,
    end: Optional[str] = _TO,
    grain: Grain = typer.Option(Grain.HOUR, "--grain", "-g", help="15min, hour, day, week or month."),
    camera: Optional[list[str]] = _CAMERA,
    by: str = typer.Option("camera", "--by", help="Break down by: any of camera,line,direction,cls, or none."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, csv-excel, xlsx, parquet, json or ngsi-ld."),
    out: Optional[Path] = _OUT,
    lang: str = _LANG,
) -> None:
    """Traffic volume and speeds (mean, p50, p85) per period bucket."""
    from dashboards.reports import queries

    _check_request(lang=lang, period=period, start=start, end=end, fmt=fmt, out=out)
    if fmt == "geojson":
        raise ReportError("GeoJSON shows cameras with their totals: use `ioc report summary --format geojson`")
    dimensions = parse_dimensions(by)
    with _warehouse(shared) as conn:
        tz = queries.warehouse_timezone(conn)
        cams = tuple(camera or ())
        query = VolumeQuery(period=parse_period(period=period, start=start, end=end, tz=tz), grain=grain,
                            cameras=cams, by=dimensions)
        queries.check_cameras(conn, cams)
        table = queries.ensure_rows(queries.volume(conn, query, tz=tz), query.period, cams, grain)
        _write(table, fmt, out, lang, lambda: queries.known_cameras(conn))


@app.command("summary")
@shared("db")
def summary_command(
    shared: Shared,
    period: Optional[str] = _PERIOD,
    start: Optional[str] = _FROM,
    end: Optional[str] = _TO,
    camera: Optional[list[str]] = _CAMERA,
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, csv-excel, xlsx, parquet, json or geojson."),
    out: Optional[Path] = _OUT,
    lang: str = _LANG,
) -> None:
    """Per camera: volume, average daily traffic, peak hour and its share, weekday vs weekend,
    speed p50/p85, and the change against the previous period."""
    from dashboards.reports import queries

    _check_request(lang=lang, period=period, start=start, end=end, fmt=fmt, out=out)
    if fmt == "ngsi-ld":
        raise ReportError("NGSI-LD entities are per period bucket: use `ioc report volume --by camera,line,direction,cls --format ngsi-ld`")
    with _warehouse(shared) as conn:
        tz = queries.warehouse_timezone(conn)
        cams = tuple(camera or ())
        chosen = parse_period(period=period, start=start, end=end, tz=tz)
        queries.check_cameras(conn, cams)
        table = queries.ensure_rows(queries.summary(conn, chosen, cams, tz=tz), chosen, cams)
        _write(table, fmt, out, lang, lambda: queries.known_cameras(conn),
               lambda: queries.profile_tables(queries.profiles(conn, chosen, cams, tz=tz), table.meta))


@app.command("charts")
@shared("db")
def charts_command(
    shared: Shared,
    out_dir: Path = typer.Option(..., "--out-dir", "-o", help="Directory for the PNG files."),
    period: Optional[str] = _PERIOD,
    start: Optional[str] = _FROM,
    end: Optional[str] = _TO,
    camera: Optional[list[str]] = _CAMERA,
    lang: str = _LANG,
) -> None:
    """PNG charts: average hourly profile (weekday vs weekend), weekday x hour heat map, daily trend."""
    from dashboards.reports import charts, labels, queries

    _check_request(lang=lang, period=period, start=start, end=end)
    with _warehouse(shared) as conn:
        tz = queries.warehouse_timezone(conn)
        cams = tuple(camera or ())
        chosen = parse_period(period=period, start=start, end=end, tz=tz)
        queries.check_cameras(conn, cams)
        data = queries.profiles(conn, chosen, cams, tz=tz)
        if not data.daily:
            raise queries.no_traffic(chosen, cams)
        subtitle = f"{', '.join(cams) if cams else labels.label('all_cameras', lang)} · {chosen.label}"
        with writing(out_dir):
            for path in charts.write_all(data, out_dir, lang=lang, subtitle=subtitle):
                typer.echo(f"wrote {path}", err=True)


@app.command("cameras")
@shared("db")
def cameras_command(shared: Shared) -> None:
    """The cameras reports know: the registry and any camera with history in the rollups."""
    from dashboards.reports import queries

    with _warehouse(shared) as conn:
        for cam in queries.known_cameras(conn):
            position = f"{cam.lat:.5f},{cam.lon:.5f}" if cam.lat is not None and cam.lon is not None else "-"
            typer.echo(f"{cam.camera_id}\t{cam.name}\t{position}")
