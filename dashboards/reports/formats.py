"""Report tables out: terminal (rich), CSV, CSV for Excel, Excel workbooks, Parquet, JSON, GeoJSON
of cameras, FIWARE NGSI-LD.

Data files carry the table's stable keys and ISO 8601 times with the local offset; CSV and Parquet
read back (``read_csv``, ``read_parquet``) to the same rows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table as RichTable

from dashboards.reports import labels
from dashboards.reports.queries import Camera
from dashboards.reports.request import Grain, ReportError
from dashboards.reports.table import Column, Table

FORMATS = ("table", "csv", "csv-excel", "xlsx", "parquet", "json", "geojson", "ngsi-ld")
NGSI_LD_CONTEXT = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
]
# Smart Data Models' vehicleType vocabulary; pedestrians are not vehicle flow and are left out of
# TrafficFlowObserved (they stay in every other format).
_VEHICLE_TYPE = {"motorbike": "motorcycle", "car": "car", "bus_truck": "lorry", "bicycle": "bicycle", "unknown": "motorVehicle"}
_GRAIN_LENGTH = {Grain.QUARTER: timedelta(minutes=15), Grain.HOUR: timedelta(hours=1), Grain.DAY: timedelta(days=1)}


def render_terminal(table: Table, *, lang: str, console: Console, limit: int = 200) -> None:
    """Rows as a table; a summary (15 measures per camera) is turned on its side: one column per
    camera, as many cameras side by side as the terminal is wide."""
    if table.name == "summary":
        _render_sideways(table, lang=lang, console=console)
        return
    title = f"{labels.label('title.' + table.name, lang)} · {table.meta.get('period', '')}"
    if "grain" in table.meta:
        title += f" · {table.meta['grain']}"
    view = RichTable(title=title, caption=f"{len(table.rows)} {labels.label('rows', lang)}"
                     + (f" (first {limit})" if len(table.rows) > limit else ""))
    shown = table.rows[:limit]
    # The screen shows V50 / V85 and where they come from; files carry the mean as well.
    visible = [i for i, column in enumerate(table.columns) if column.key != "speed_mean_kmh"]
    for index in visible:
        column = table.columns[index]
        widest = max((len(_cell(column, row[index], lang)) for row in shown), default=0)
        view.add_column(labels.label(column.key, lang), justify="right" if column.type in ("int", "float") else "left",
                        no_wrap=column.type != "text", min_width=min(widest, 24))
    for row in shown:
        view.add_row(*(_cell(table.columns[i], row[i], lang) for i in visible))
    console.print(view)


def _render_sideways(table: Table, *, lang: str, console: Console) -> None:
    title = f"{labels.label('title.summary', lang)} · {table.meta.get('period', '')}"
    per_view = max(1, (console.width - 28) // 18)
    for first in range(0, len(table.rows), per_view):
        rows = table.rows[first:first + per_view]
        view = RichTable(title=title if first == 0 else None)
        view.add_column("")
        for row in rows:
            view.add_column(str(row[0]), justify="right")
        for index, column in enumerate(table.columns[1:], start=1):
            view.add_row(labels.label(column.key, lang), *(_cell(column, row[index], lang) for row in rows))
        console.print(view)


def _cell(column: Column, v: Any, lang: str) -> str:
    if v is None:
        return "–"
    if column.type == "timestamp":
        return v.strftime("%Y-%m-%d %H:%M")
    if column.key == "peak_hour":
        return f"{v:02d}:00–{(v + 1) % 24:02d}:00"
    if column.key == "peak_hour_share":
        return _number(100 * v, 1, lang) + " %"
    if column.type in ("int", "float"):
        return _number(v, 0 if column.type == "int" else 1, lang)
    return labels.value(str(v), lang)


def _number(v: float, decimals: int, lang: str) -> str:
    """1,234.5 in English, 1.234,5 in Vietnamese."""
    text = f"{v:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "vi" else text


# --- CSV -------------------------------------------------------------------------------------

def write_csv(table: Table, path: Path, *, excel: bool = False) -> None:
    """UTF-8 (Vietnamese names). ``excel``: with a byte-order mark, without which Excel reads the
    file as the local code page and garbles the names, and times as local ``YYYY-MM-DD HH:MM:SS``,
    which Excel recognises as dates (it does not parse ISO 8601 offsets)."""
    with open(path, "w", newline="", encoding="utf-8-sig" if excel else "utf-8") as f:
        write_csv_stream(table, f, excel=excel)


def write_csv_stream(table: Table, stream: TextIO, *, excel: bool = False) -> None:
    writer = csv.writer(stream)
    writer.writerow(table.keys)
    for row in table.rows:
        writer.writerow(_csv_text(column, v, excel=excel) for column, v in zip(table.columns, row, strict=True))


def _csv_text(column: Column, v: Any, *, excel: bool = False) -> str:
    if v is None:
        return ""
    if column.type == "timestamp":
        return v.strftime("%Y-%m-%d %H:%M:%S") if excel else v.isoformat()
    if column.type == "date":
        return v.isoformat()
    return repr(v) if column.type == "float" else str(v)


def read_csv(path: Path, columns: tuple[Column, ...]) -> list[tuple[Any, ...]]:
    """CSV back to typed rows (empty cells are None)."""
    parse = {"timestamp": datetime.fromisoformat, "date": date.fromisoformat, "text": str, "int": int, "float": float}
    with open(path, newline="", encoding="utf-8-sig") as f:  # reads plain and Excel CSV alike
        reader = csv.reader(f)
        header = next(reader)
        if tuple(header) != tuple(c.key for c in columns):
            raise ReportError(f"{path}: columns {header} are not the report's {[c.key for c in columns]}")
        return [
            tuple(None if cell == "" and c.type != "text" else parse[c.type](cell) for c, cell in zip(columns, record, strict=True))
            for record in reader
        ]


# --- Excel -----------------------------------------------------------------------------------

_XLSX_FORMATS = {"timestamp": "yyyy-mm-dd hh:mm", "date": "yyyy-mm-dd", "int": "#,##0", "float": "#,##0.0"}


def write_xlsx(sections: list[Table], path: Path, *, lang: str) -> None:
    """One sheet per report section, then an "About" sheet (period, time zone, what each column
    is). Header row in the chosen language, frozen; cells typed (numbers are numbers, times are
    Excel date-times in the report's local time zone, which the About sheet names)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    bold = Font(bold=True)
    titles = []
    for table in sections:
        title = _sheet_title(labels.label(f"title.{table.name}", lang), titles)
        titles.append(title)
        sheet = book.create_sheet(title)
        sheet.freeze_panes = "A2"
        for index, column in enumerate(table.columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = 18 if column.type in ("timestamp", "text") else 12
        header = []
        for column in table.columns:
            cell = WriteOnlyCell(sheet, value=labels.label(column.key, lang))
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in table.rows:
            cells = []
            for column, v in zip(table.columns, row, strict=True):
                if column.type == "timestamp" and v is not None:
                    v = v.replace(tzinfo=None)  # Excel has no time zones: local wall time
                cell = WriteOnlyCell(sheet, value=v)
                if column.type in _XLSX_FORMATS:
                    cell.number_format = _XLSX_FORMATS[column.type]
                cells.append(cell)
            sheet.append(cells)
    about = book.create_sheet(_sheet_title(labels.label("title.about", lang), titles))
    about.freeze_panes = "A2"
    about.append([labels.label("about.item", lang), labels.label("about.value", lang)])
    meta = sections[0].meta if sections else {}
    for key, value in meta.items():
        about.append([key, ", ".join(map(str, value)) if isinstance(value, list) else str(value)])
    about.append([])
    about.append([labels.label("about.sheet", lang), labels.label("about.column", lang), labels.label("about.key", lang),
                  labels.label("about.type", lang)])
    for title, table in zip(titles, sections, strict=True):
        for column in table.columns:
            about.append([title, labels.label(column.key, lang), column.key, column.type])
    book.save(path)


def _sheet_title(text: str, taken: list[str]) -> str:
    r"""Excel's rules: at most 31 characters, none of []:*?/\, unique in the workbook."""
    title = "".join("-" if ch in "[]:*?/\\" else ch for ch in text)[:31]
    base, n = title, 2
    while title in taken:
        title = f"{base[:28]} {n}"
        n += 1
    return title


# --- Parquet ---------------------------------------------------------------------------------

def _arrow_schema(table: Table):
    import pyarrow as pa

    tz = table.meta.get("timezone", "UTC")
    types = {"timestamp": pa.timestamp("us", tz=tz), "date": pa.date32(), "text": pa.string(), "int": pa.int64(),
             "float": pa.float64()}
    metadata = {b"ioc": json.dumps(table.meta, ensure_ascii=False, default=str).encode()}
    return pa.schema([pa.field(c.key, types[c.type]) for c in table.columns], metadata=metadata)


def write_parquet(table: Table, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema(table)
    arrays = [pa.array(table.column(c.key), type=schema.field(c.key).type) for c in table.columns]
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path, compression="zstd")


def read_parquet(path: Path) -> list[tuple[Any, ...]]:
    import pyarrow.parquet as pq

    data = pq.read_table(path).to_pylist()
    return [tuple(record.values()) for record in data]


# --- JSON ------------------------------------------------------------------------------------

def to_json(table: Table) -> dict[str, Any]:
    return {
        "meta": table.meta,
        "columns": [{"key": c.key, "type": c.type} for c in table.columns],
        "rows": [{c.key: (v.isoformat() if c.type == "timestamp" and v else v) for c, v in zip(table.columns, row, strict=True)}
                 for row in table.rows],
    }


# --- GeoJSON ---------------------------------------------------------------------------------

def to_geojson(summary: Table, cameras: Iterable[Camera]) -> dict[str, Any]:
    """Cameras as points with their period totals; cameras without a position are listed in the
    collection's ``unlocated`` member rather than silently dropped."""
    if "camera_id" not in summary.keys:
        raise ReportError("GeoJSON needs totals per camera: use `ioc report summary --format geojson`")
    where = {camera.camera_id: camera for camera in cameras}
    features, unlocated = [], []
    for record in summary.dicts():
        camera = where.get(record["camera_id"])
        if camera is None or camera.lat is None or camera.lon is None:
            unlocated.append(record["camera_id"])
            continue
        features.append({
            "type": "Feature",
            "id": record["camera_id"],
            "geometry": {"type": "Point", "coordinates": [camera.lon, camera.lat]},
            "properties": record,
        })
    return {"type": "FeatureCollection", "features": features, "unlocated": unlocated, "ioc": summary.meta}


# --- FIWARE NGSI-LD --------------------------------------------------------------------------

def to_ngsi_ld(volume: Table, cameras: Iterable[Camera]) -> list[dict[str, Any]]:
    """One ``TrafficFlowObserved`` entity (normalized NGSI-LD) per bucket x camera x line x
    direction x vehicle class, as the Smart Data Models Transportation subject defines it."""
    grain = Grain(volume.meta["grain"])
    needed = {"camera_id", "line_id", "direction", "cls"}
    if not needed <= set(volume.keys) or grain not in _GRAIN_LENGTH:
        raise ReportError("NGSI-LD TrafficFlowObserved needs --by camera,line,direction,cls at 15min, hour or day grain")
    where = {camera.camera_id: camera for camera in cameras}
    entities = []
    for record in volume.dicts():
        vehicle = _VEHICLE_TYPE.get(record["cls"])
        if vehicle is None:
            continue  # pedestrians: not vehicle flow (see _VEHICLE_TYPE)
        start: datetime = record["period_start"]
        end = start + _GRAIN_LENGTH[grain]
        entity: dict[str, Any] = {
            "id": f"urn:ngsi-ld:TrafficFlowObserved:{record['camera_id']}:{record['line_id']}:{record['direction']}:"
                  f"{record['cls']}:{start.strftime('%Y%m%dT%H%M%z')}",
            "type": "TrafficFlowObserved",
            "dateObserved": _prop(f"{start.isoformat()}/{end.isoformat()}"),
            "dateObservedFrom": _prop(start.isoformat()),
            "dateObservedTo": _prop(end.isoformat()),
            "intensity": _prop(record["volume"]),
            "vehicleType": _prop(vehicle),
            # laneId is an integer lane number in the model; a counting line is named in the description.
            "description": _prop(f"counting line {record['line_id']}, direction {record['direction']}"),
            "laneDirection": _prop("forward" if record["direction"] == "in" else "backward"),
            "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:{record['camera_id']}"},
            "dataProvider": _prop("ioc"),
            "@context": NGSI_LD_CONTEXT,
        }
        if record["speed_mean_kmh"] is not None:
            entity["averageVehicleSpeed"] = _prop(record["speed_mean_kmh"], unit="KMH")
        camera = where.get(record["camera_id"])
        if camera is not None and camera.lat is not None and camera.lon is not None:
            entity["location"] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [camera.lon, camera.lat]}}
        if camera is not None:
            entity["name"] = _prop(camera.name)
        entities.append(entity)
    return entities


def _prop(value: Any, *, unit: str | None = None) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": "Property", "value": value}
    if unit:
        prop["unitCode"] = unit
    return prop


def write_json_file(document: Any, path: Path) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
