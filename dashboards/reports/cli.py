"""`ioc report`: planners' traffic reports from the warehouse, on the terminal or as files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import psycopg
import typer
from rich.console import Console

from dashboards.reports import formats, queries
from dashboards.reports.request import Grain, ReportError, VolumeQuery, parse_dimensions, parse_period
from ingest.db import DatabaseError, DbSettings, connect

app = typer.Typer(help="Traffic reports for planners: volumes, peaks, speeds, exports and charts.", no_args_is_help=True)

_DSN = typer.Option(None, "--dsn", help="PostgreSQL DSN (default: $IOC_DSN or the local stack).")
_PERIOD = typer.Option(None, "--period", "-p", help="2026, 2026-03, 2026-W10 or 2026-03-09.")
_FROM = typer.Option(None, "--from", help="Start date (2026-03-01) or date-time.")
_TO = typer.Option(None, "--to", help="End date, inclusive (2026-03-31), or date-time, exclusive.")
_CAMERA = typer.Option(None, "--camera", "-c", help="Camera id; repeat for several (default: all).")
_LANG = typer.Option("vi", "--lang", help="Label language: vi or en.")
_OUT = typer.Option(None, "--out", "-o", help="Output file (default: standard output for text formats).")


def _settings(dsn: str | None) -> DbSettings:
    return DbSettings(dsn=dsn) if dsn else DbSettings.from_env()


@contextmanager
def _report_errors() -> Iterator[None]:
    """Bad requests and database trouble become one red line and exit status 2 / 1."""
    err = Console(stderr=True)
    try:
        yield
    except ReportError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except DatabaseError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except psycopg.Error as exc:
        err.print(f"[red]error:[/red] database: {exc}")
        raise typer.Exit(1) from None


def _check_lang(lang: str) -> str:
    if lang not in ("vi", "en"):
        raise ReportError(f"--lang {lang!r}: choose vi or en")
    return lang


def _emit_text(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
        Console(stderr=True).print(f"wrote {out}")


def _write(table, fmt: str, out: Path | None, lang: str, cameras: Callable[[], list[queries.Camera]],
           sections: Callable[[], list] = list) -> None:
    """``sections``: further report sections, for the formats that hold several (xlsx)."""
    if fmt == "table":
        formats.render_terminal(table, lang=lang, console=Console())
    elif fmt in ("csv", "csv-excel"):
        excel = fmt == "csv-excel"
        if out is None:
            if excel:
                sys.stdout.write("\ufeff")
            formats.write_csv_stream(table, sys.stdout, excel=excel)
        else:
            formats.write_csv(table, out, excel=excel)
            Console(stderr=True).print(f"wrote {out} ({len(table.rows)} rows)")
    elif fmt == "xlsx":
        if out is None:
            raise ReportError("an Excel workbook is binary: give --out FILE.xlsx")
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            raise ReportError("Excel output needs openpyxl: pip install 'ioc[reports]'") from None
        formats.write_xlsx([table, *sections()], out, lang=lang)
        Console(stderr=True).print(f"wrote {out} ({len(table.rows)} rows)")
    elif fmt == "parquet":
        if out is None:
            raise ReportError("Parquet is binary: give --out FILE.parquet")
        formats.write_parquet(table, out)
        Console(stderr=True).print(f"wrote {out} ({len(table.rows)} rows)")
    elif fmt == "json":
        _emit_text(json.dumps(formats.to_json(table), ensure_ascii=False, indent=1, default=str), out)
    elif fmt == "geojson":
        _emit_text(json.dumps(formats.to_geojson(table, cameras()), ensure_ascii=False, indent=1, default=str), out)
    elif fmt == "ngsi-ld":
        _emit_text(json.dumps(formats.to_ngsi_ld(table, cameras()), ensure_ascii=False, indent=1, default=str), out)
    else:
        raise ReportError(f"unknown format {fmt!r}: choose from {', '.join(formats.FORMATS)}")


@app.command("volume")
def volume_command(
    period: Optional[str] = _PERIOD,
    start: Optional[str] = _FROM,
    end: Optional[str] = _TO,
    grain: Grain = typer.Option(Grain.HOUR, "--grain", "-g", help="15min, hour, day, week or month."),
    camera: Optional[list[str]] = _CAMERA,
    by: str = typer.Option("camera", "--by", help="Break down by: any of camera,line,direction,cls, or none."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, csv-excel, xlsx, parquet, json or ngsi-ld."),
    out: Optional[Path] = _OUT,
    lang: str = _LANG,
    dsn: Optional[str] = _DSN,
) -> None:
    """Traffic volume and speeds (mean, p50, p85) per period bucket."""
    with _report_errors(), connect(_settings(dsn)) as conn:
        _check_lang(lang)
        if fmt == "geojson":
            raise ReportError("GeoJSON shows cameras with their totals: use `ioc report summary --format geojson`")
        tz = queries.warehouse_timezone(conn)
        cams = tuple(camera or ())
        query = VolumeQuery(period=parse_period(period=period, start=start, end=end, tz=tz), grain=grain,
                            cameras=cams, by=parse_dimensions(by))
        queries.check_cameras(conn, cams)
        table = queries.ensure_rows(queries.volume(conn, query, tz=tz), query.period, cams, grain)
        _write(table, fmt, out, lang, lambda: queries.known_cameras(conn))


@app.command("summary")
def summary_command(
    period: Optional[str] = _PERIOD,
    start: Optional[str] = _FROM,
    end: Optional[str] = _TO,
    camera: Optional[list[str]] = _CAMERA,
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, csv-excel, xlsx, parquet, json or geojson."),
    out: Optional[Path] = _OUT,
    lang: str = _LANG,
    dsn: Optional[str] = _DSN,
) -> None:
    """Per camera: volume, average daily traffic, peak hour and its share, weekday vs weekend,
    speed p50/p85, and the change against the previous period."""
    with _report_errors(), connect(_settings(dsn)) as conn:
        _check_lang(lang)
        if fmt == "ngsi-ld":
            raise ReportError("NGSI-LD entities are per period bucket: use `ioc report volume --by camera,line,direction,cls --format ngsi-ld`")
        tz = queries.warehouse_timezone(conn)
        cams = tuple(camera or ())
        chosen = parse_period(period=period, start=start, end=end, tz=tz)
        queries.check_cameras(conn, cams)
        table = queries.ensure_rows(queries.summary(conn, chosen, cams, tz=tz), chosen, cams)
        _write(table, fmt, out, lang, lambda: queries.known_cameras(conn),
               lambda: queries.profile_tables(queries.profiles(conn, chosen, cams, tz=tz), table.meta))


@app.command("charts")
def charts_command(
    out_dir: Path = typer.Option(..., "--out-dir", "-o", help="Directory for the PNG files."),
    period: Optional[str] = _PERIOD,
    start: Optional[str] = _FROM,
    end: Optional[str] = _TO,
    camera: Optional[list[str]] = _CAMERA,
    lang: str = _LANG,
    dsn: Optional[str] = _DSN,
) -> None:
    """PNG charts: average hourly profile (weekday vs weekend), weekday x hour heat map, daily trend."""
    from dashboards.reports import charts, labels

    with _report_errors(), connect(_settings(dsn)) as conn:
        _check_lang(lang)
        tz = queries.warehouse_timezone(conn)
        cams = tuple(camera or ())
        chosen = parse_period(period=period, start=start, end=end, tz=tz)
        queries.check_cameras(conn, cams)
        data = queries.profiles(conn, chosen, cams, tz=tz)
        if not data.daily:
            raise queries.no_traffic(chosen, cams)
        subtitle = f"{', '.join(cams) if cams else labels.label('all_cameras', lang)} · {chosen.label}"
        for path in charts.write_all(data, out_dir, lang=lang, subtitle=subtitle):
            Console(stderr=True).print(f"wrote {path}")


@app.command("cameras")
def cameras_command(dsn: Optional[str] = _DSN) -> None:
    """The cameras reports know: the registry and any camera with history in the rollups."""
    with _report_errors(), connect(_settings(dsn)) as conn:
        for cam in queries.known_cameras(conn):
            position = f"{cam.lat:.5f},{cam.lon:.5f}" if cam.lat is not None and cam.lon is not None else "-"
            typer.echo(f"{cam.camera_id}\t{cam.name}\t{position}")
